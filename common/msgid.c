/*
 * msgid.c - the offset msgId: store host IPv4 + port + CommitLog offset,
 * printed as 32 hex digits, so a msgId names its broker and its record
 * without any lookup (RocketMQ's MessageDecoder.createMessageId).
 */
#include "common/msgid.h"

#include "common/errors.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Hex digits of v, most significant first, into out[0..n). */
static void hex_fill(char *out, int n, uint64_t v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int i = n - 1; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 0xF];
}

/* By hand, not snprintf: every pulled message and every batch reply encodes one. */
void msgid_encode(char out[MSGID_HEX_LEN + 1], uint32_t ip, uint16_t port, uint64_t phys)
{
    hex_fill(out, 8, ip);
    hex_fill(out + 8, 8, port);
    hex_fill(out + 16, 16, phys);
    out[MSGID_HEX_LEN] = '\0';
}

int msgid_decode(const char *str, uint32_t *ip, uint16_t *port, uint64_t *phys)
{
    if (str == NULL || strlen(str) != MSGID_HEX_LEN)
        return RILL_EINVAL;
    uint64_t parts[3] = {0, 0, 0};
    const int widths[3] = {8, 8, 16};
    const char *p = str;
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < widths[i]; j++, p++) {
            int c = *p, d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                return RILL_EINVAL;
            parts[i] = parts[i] << 4 | (uint64_t)d;
        }
    }
    if (parts[1] > UINT16_MAX)
        return RILL_EINVAL;
    *ip = (uint32_t)parts[0];
    *port = (uint16_t)parts[1];
    *phys = parts[2];
    return 0;
}

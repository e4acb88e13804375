/*
 * test_msgid.c - msgIds: store IPv4 + port + commitlog offset as 32 uppercase
 * hex digits (msgid_encode/decode in broker/store/store.h).
 */
#include "common/msgid.h"
#include "common/errors.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>

static void assert_upper_hex(const char *s)
{
    cr_assert_eq(strlen(s), MSGID_HEX_LEN, "'%s'", s);
    for (size_t i = 0; i < MSGID_HEX_LEN; i++)
        cr_assert(isdigit((unsigned char)s[i]) || (s[i] >= 'A' && s[i] <= 'F'), "'%s' at %zu", s,
                  i);
}

Test(msgid, encode_layout)
{
    char id[MSGID_HEX_LEN + 1];
    memset(id, '#', sizeof(id));
    msgid_encode(id, 0x0A000001u, 10911, 0x1234ABCDull);
    cr_assert_str_eq(id, "0A00000100002A9F000000001234ABCD");
    assert_upper_hex(id);

    msgid_encode(id, 0, 0, 0);
    cr_assert_str_eq(id, "00000000000000000000000000000000");

    msgid_encode(id, UINT32_MAX, UINT16_MAX, UINT64_MAX);
    cr_assert_str_eq(id, "FFFFFFFF0000FFFFFFFFFFFFFFFFFFFF");
    assert_upper_hex(id);
}

Test(msgid, round_trip)
{
    struct {
        uint32_t ip;
        uint16_t port;
        uint64_t phys;
    } cases[] = {
        {0, 0, 0},
        {0x7F000001u, 10911, 0},
        {0xC0A80164u, 8080, 1},
        {0x0A000001u, 1, 65536},
        {0xFFFFFFFFu, 65535, UINT64_MAX},
        {0x01020304u, 0xABCD, 0x0123456789ABCDEFull},
        {0xDEADBEEFu, 443, UINT64_MAX - 1},
        {0x80000000u, 0x8000, 0x8000000000000000ull},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char id[MSGID_HEX_LEN + 1];
        msgid_encode(id, cases[i].ip, cases[i].port, cases[i].phys);
        assert_upper_hex(id);
        uint32_t ip = 1;
        uint16_t port = 1;
        uint64_t phys = 1;
        cr_assert_eq(msgid_decode(id, &ip, &port, &phys), 0, "%s", id);
        cr_assert_eq(ip, cases[i].ip, "%s", id);
        cr_assert_eq(port, cases[i].port, "%s", id);
        cr_assert_eq(phys, cases[i].phys, "%s", id);
    }
}

Test(msgid, lowercase_and_mixed_case_accepted)
{
    uint32_t ip;
    uint16_t port;
    uint64_t phys;
    cr_assert_eq(msgid_decode("0a00000100002a9f000000001234abcd", &ip, &port, &phys), 0);
    cr_assert_eq(ip, 0x0A000001u);
    cr_assert_eq(port, 10911);
    cr_assert_eq(phys, 0x1234ABCDull);
    cr_assert_eq(msgid_decode("dEaDbEeF0000fFfF00000000000000aB", &ip, &port, &phys), 0);
    cr_assert_eq(ip, 0xDEADBEEFu);
    cr_assert_eq(port, 0xFFFF);
    cr_assert_eq(phys, 0xABull);
}

static void assert_rejected(const char *s)
{
    uint32_t ip = 7;
    uint16_t port = 7;
    uint64_t phys = 7;
    cr_assert_eq(msgid_decode(s, &ip, &port, &phys), RILL_EINVAL, "'%s'", s ? s : "(null)");
    /* Outputs are written only on success. */
    cr_assert_eq(ip, 7);
    cr_assert_eq(port, 7);
    cr_assert_eq(phys, 7);
}

Test(msgid, decode_rejects_bad_length)
{
    assert_rejected(NULL);
    assert_rejected("");
    assert_rejected("0A00000100002A9F000000001234ABC");   /* 31 */
    assert_rejected("0A00000100002A9F000000001234ABCD0"); /* 33 */
    assert_rejected("0A00000100002A9F000000001234ABCD\n");
    assert_rejected(" 0A00000100002A9F000000001234ABCD");
}

Test(msgid, decode_rejects_non_hex)
{
    const char *good = "0A00000100002A9F000000001234ABCD";
    const char bad[] = {'G', 'g', 'Z', 'x', ' ', '-', '+', '.', ':', '@', '`', '/', '\x7f', '\xff'};
    char s[MSGID_HEX_LEN + 1];
    /* Every position of every field (ip, port, offset) is checked. */
    for (size_t pos = 0; pos < MSGID_HEX_LEN; pos++) {
        for (size_t b = 0; b < sizeof(bad); b++) {
            memcpy(s, good, sizeof(s));
            s[pos] = bad[b];
            assert_rejected(s);
        }
    }
    assert_rejected("0x00000100002A9F000000001234ABCD");
}

Test(msgid, decode_rejects_port_above_16_bits)
{
    /* The port field is 8 digits wide but a port has 16 bits. */
    assert_rejected("0A00000100010000000000001234ABCD");
    assert_rejected("0A000001FFFFFFFF000000001234ABCD");
    uint32_t ip;
    uint16_t port;
    uint64_t phys;
    cr_assert_eq(msgid_decode("0A0000010000FFFF000000001234ABCD", &ip, &port, &phys), 0);
    cr_assert_eq(port, 0xFFFF);
}

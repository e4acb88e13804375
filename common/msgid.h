/*
 * msgid.h - encode and decode the offset msgId (DESIGN.md §2): 16 bytes,
 * store IPv4 (4) + store port (4) + CommitLog offset (8), as 32 uppercase
 * hex digits. Shared by the broker (it hands them out) and the client (it
 * finds the broker of a msgId from the id alone).
 */
#ifndef RILL_COMMON_MSGID_H
#define RILL_COMMON_MSGID_H

#include <stdint.h>

#define MSGID_HEX_LEN 32

/** Write the 32 hex digits and a NUL. ip in host byte order. */
void msgid_encode(char out[MSGID_HEX_LEN + 1], uint32_t ip, uint16_t port, uint64_t phys);

/**
 * Decode a msgId.
 * @return 0 with every output written; RILL_EINVAL unless s is exactly 32
 *         hex digits with a port that fits 16 bits.
 */
int msgid_decode(const char *s, uint32_t *ip, uint16_t *port, uint64_t *phys);

#endif

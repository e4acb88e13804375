/*
 * checksum.h - the one non-cryptographic hash Rill uses.
 *
 * XXH3-64 (xxHash 0.8) everywhere a fast 64-bit hash is needed: record and
 * file checksums, tag codes in the ConsumeQueue, hash tables. Its output is
 * stable across platforms and xxHash versions, so values may be stored on
 * disk and sent over the wire.
 */
#ifndef RILL_COMMON_CHECKSUM_H
#define RILL_COMMON_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/**
 * Hash a byte range.
 *
 * @param[in] data  bytes to hash; may be NULL when len is 0.
 * @param[in] len   number of bytes.
 * @param[in] seed  seed; 0 unless a format says otherwise.
 * @return XXH3_64bits_withSeed(data, len, seed).
 * @remark Thread-safe, no allocation.
 */
uint64_t rill_hash64(const void *data, size_t len, uint64_t seed);

#endif

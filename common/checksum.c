/*
 * checksum.c - rill_hash64 over xxHash's XXH3, so no other file includes
 * xxhash.h and the algorithm can be swapped (with a format version) in one place.
 */
#include "common/checksum.h"

#include <xxhash.h>

uint64_t rill_hash64(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}

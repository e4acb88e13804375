/*
 * arena.h - a bump allocator for building one reply: handlers copy route
 * data into protobuf-c structs allocated here while they hold the route
 * table's read lock, reply after releasing it, and free everything at once.
 */
#ifndef RILL_NAMESRV_ARENA_H
#define RILL_NAMESRV_ARENA_H

#include <stddef.h>

/** Bytes of one arena chunk; larger allocations get a chunk of their own. */
#define NS_ARENA_CHUNK_BYTES (64u * 1024)

typedef struct ns_arena_chunk ns_arena_chunk_t;

/** An arena; zero-initialise it ({0}) before use. */
typedef struct {
    ns_arena_chunk_t *head; /**< newest chunk; each links to the previous one */
    size_t used;            /**< bytes used in head */
    size_t cap;             /**< usable bytes of head */
} ns_arena_t;

/**
 * Allocate zeroed memory, aligned for any type, that lives until
 * ns_arena_free().
 *
 * @param[in] a     the arena.
 * @param[in] size  bytes; 0 returns a valid unique pointer.
 * @return the memory, or NULL when out of memory.
 * @remark Not thread-safe: one arena per request.
 */
void *ns_arena_alloc(ns_arena_t *a, size_t size);

/**
 * Copy a NUL-terminated string into the arena.
 *
 * @return the copy, or NULL when out of memory.
 */
char *ns_arena_strdup(ns_arena_t *a, const char *s);

/** Free every allocation of the arena; it can be used again afterwards. */
void ns_arena_free(ns_arena_t *a);

#endif

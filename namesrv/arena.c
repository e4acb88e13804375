/*
 * arena.c - chunked bump allocation, freed all at once (see arena.h).
 */
#include "namesrv/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ns_arena_chunk {
    ns_arena_chunk_t *prev;
    alignas(max_align_t) unsigned char data[];
};

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

void *ns_arena_alloc(ns_arena_t *a, size_t size)
{
    size_t need = ALIGN_UP(size == 0 ? 1 : size);
    if (need < size)
        return NULL; /* overflow */
    if (a->head == NULL || a->cap - a->used < need) {
        size_t cap = need > NS_ARENA_CHUNK_BYTES ? need : NS_ARENA_CHUNK_BYTES;
        if (cap > SIZE_MAX - sizeof(ns_arena_chunk_t))
            return NULL;
        ns_arena_chunk_t *c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->prev = a->head;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += need;
    memset(p, 0, need);
    return p;
}

char *ns_arena_strdup(ns_arena_t *a, const char *s)
{
    size_t len = strlen(s);
    char *p = ns_arena_alloc(a, len + 1);
    if (p != NULL)
        memcpy(p, s, len + 1);
    return p;
}

void ns_arena_free(ns_arena_t *a)
{
    ns_arena_chunk_t *c = a->head;
    while (c != NULL) {
        ns_arena_chunk_t *prev = c->prev;
        free(c);
        c = prev;
    }
    a->head = NULL;
    a->used = 0;
    a->cap = 0;
}

/*
 * offset_file.h - the local offset store of a BROADCASTING consumer: one
 * JSON file per group and client, rewritten atomically (RocketMQ's
 * LocalFileOffsetStore, offsets.json). Internal, not installed.
 *
 *   {"version": 1, "group": "G", "client_id": "host@1234@0",
 *    "offsets": [{"topic": "T", "broker": "broker-a", "queue": 0, "offset": 42}, ...]}
 *
 * Each member of a broadcasting group reads every queue, so the position is
 * the member's own, not the group's: the file is named after both. A member
 * finds its file again after a restart only with the same client.id.
 */
#ifndef RILL_CLIENT_OFFSET_FILE_H
#define RILL_CLIENT_OFFSET_FILE_H

#include "rill.h"

#include <stddef.h>
#include <stdint.h>

/** Largest offset file read, in bytes (8192 queues of ~100 bytes, with room). */
#define OF_FILE_BYTES_MAX (4u * 1024 * 1024)
/** Most entries one file holds. */
#define OF_ENTRIES_MAX 65536

typedef struct of_entry {
    rill_queue_t queue;
    int64_t offset;
} of_entry_t;

/**
 * The file's path: <dir>/<group>/<client_id>.json, with '/' and other bytes
 * outside [A-Za-z0-9._@%-] in group and client id written as '_'.
 * @return 0; RILL_ENOSPACE (cap too small).
 */
int of_path(char *out, size_t cap, const char *dir, const char *group, const char *client_id);

/**
 * Read a file. A missing file is an empty store.
 * @param[out] out  malloc'd array of *n entries (free()); NULL when *n is 0.
 * @return 0; RILL_ECORRUPT (not the format above, or too big); errno of
 *         open/read; ENOMEM.
 */
int of_load(const char *path, of_entry_t **out, size_t *n);

/**
 * Write a file atomically: create the directory, write <path>.tmp, fsync,
 * rename over path, fsync the directory.
 * @return 0; RILL_ETOOBIG (more than OF_ENTRIES_MAX); errno; ENOMEM.
 */
int of_save(const char *path, const char *group, const char *client_id, const of_entry_t *e,
            size_t n);

#endif

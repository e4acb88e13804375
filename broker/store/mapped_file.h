/*
 * mapped_file.h - one CommitLog segment: a preallocated file of fixed size,
 * named by its start offset (20 zero-padded digits), mapped MAP_SHARED.
 *
 * Preallocation (fallocate) reserves every block up front, so writing through
 * the mapping can never hit ENOSPC (which would be a SIGBUS): a full disk shows
 * up as a clean error when a segment is created, before any byte is written.
 */
#ifndef RILL_STORE_MAPPED_FILE_H
#define RILL_STORE_MAPPED_FILE_H

#include <stdatomic.h>
#include <stdint.h>

#define MAPPED_FILE_NAME_LEN 20

typedef struct mapped_file {
    uint64_t start; /* commitlog offset of byte 0 */
    uint64_t size;  /* bytes in the segment */
    int fd;
    uint8_t *base;    /* mapping of [0, size) */
    _Atomic int refs; /* the segment table's reference + one per holder (commitlog.c) */
    int doomed;       /* unlink the file when the last reference goes */
    char path[4096];
} mapped_file_t;

/**
 * Create a new segment file dir/<start> of `size` bytes, preallocated and mapped.
 * @return 0; EEXIST if the file exists; RILL_EDISKFULL when the blocks cannot
 *         be reserved (ENOSPC, EFBIG, EDQUOT); other errno. On failure no file is left.
 */
int mapped_file_create(mapped_file_t **out, const char *dir, uint64_t start, uint64_t size);

/**
 * Map an existing segment. A file shorter than `size` (a crash during
 * creation) is extended and preallocated; a longer one is RILL_ECORRUPT.
 */
int mapped_file_open(mapped_file_t **out, const char *dir, uint64_t start, uint64_t size);

/** Write back and wait for bytes [from, to) (segment-relative) to be durable. 0 or errno. */
int mapped_file_flush(mapped_file_t *mf, uint64_t from, uint64_t to);

/** Zero bytes [from, size) (segment-relative): used to cut a torn tail. */
void mapped_file_zero_tail(mapped_file_t *mf, uint64_t from);

/** Unmap and close; with `unlink_file` also remove the file. NULL is ok. */
void mapped_file_close(mapped_file_t *mf, int unlink_file);

/** Format a segment file name for `start` into buf (>= 21 bytes). */
void mapped_file_name(char *buf, uint64_t start);

/** Parse a segment file name; 0 and *start on success, RILL_EINVAL otherwise. */
int mapped_file_parse_name(const char *name, uint64_t *start);

#endif

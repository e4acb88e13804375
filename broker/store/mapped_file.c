/*
 * mapped_file.c - create, map, flush and remove CommitLog segment files.
 */
#include "broker/store/mapped_file.h"

#include "common/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void mapped_file_name(char *buf, uint64_t start)
{
    snprintf(buf, MAPPED_FILE_NAME_LEN + 1, "%020" PRIu64, start);
}

int mapped_file_parse_name(const char *name, uint64_t *start)
{
    if (strlen(name) != MAPPED_FILE_NAME_LEN)
        return RILL_EINVAL;
    uint64_t v = 0;
    for (int i = 0; i < MAPPED_FILE_NAME_LEN; i++) {
        if (name[i] < '0' || name[i] > '9')
            return RILL_EINVAL;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return RILL_EINVAL;
        v = v * 10 + d;
    }
    *start = v;
    return 0;
}

static int disk_error(int err)
{
    return (err == ENOSPC || err == EFBIG || err == EDQUOT) ? RILL_EDISKFULL : err;
}

static int preallocate(int fd, uint64_t from, uint64_t size)
{
    if (fallocate(fd, 0, (off_t)from, (off_t)(size - from)) == 0)
        return 0;
    if (errno != EOPNOTSUPP)
        return disk_error(errno);
    int rc = posix_fallocate(fd, (off_t)from, (off_t)(size - from));
    return rc == 0 ? 0 : disk_error(rc);
}

static int map_fd(mapped_file_t **out, int fd, const char *path, uint64_t start, uint64_t size)
{
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return errno;
    mapped_file_t *mf = calloc(1, sizeof(*mf));
    if (mf == NULL) {
        munmap(base, size);
        return ENOMEM;
    }
    mf->start = start;
    mf->size = size;
    mf->fd = fd;
    mf->base = base;
    atomic_init(&mf->refs, 1);
    snprintf(mf->path, sizeof(mf->path), "%s", path);
    *out = mf;
    return 0;
}

static void sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static int segment_path(char *buf, size_t cap, const char *dir, uint64_t start)
{
    char name[MAPPED_FILE_NAME_LEN + 1];
    mapped_file_name(name, start);
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= cap) ? ENAMETOOLONG : 0;
}

int mapped_file_create(mapped_file_t **out, const char *dir, uint64_t start, uint64_t size)
{
    char path[4096];
    int rc = segment_path(path, sizeof(path), dir, start);
    if (rc)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return disk_error(errno);
    rc = preallocate(fd, 0, size);
    if (rc)
        goto fail;
    rc = map_fd(out, fd, path, start, size);
    if (rc)
        goto fail;
    sync_dir(dir); /* the new name must survive a power loss with the data in it */
    return 0;
fail:
    close(fd);
    unlink(path);
    return rc;
}

int mapped_file_open(mapped_file_t **out, const char *dir, uint64_t start, uint64_t size)
{
    char path[4096];
    int rc = segment_path(path, sizeof(path), dir, start);
    if (rc)
        return rc;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = errno;
        goto fail;
    }
    if ((uint64_t)st.st_size > size) {
        rc = RILL_ECORRUPT;
        goto fail;
    }
    if ((uint64_t)st.st_size < size) {
        rc = preallocate(fd, (uint64_t)st.st_size, size);
        if (rc)
            goto fail;
    }
    rc = map_fd(out, fd, path, start, size);
    if (rc)
        goto fail;
    return 0;
fail:
    close(fd);
    return rc;
}

int mapped_file_flush(mapped_file_t *mf, uint64_t from, uint64_t to)
{
    if (to > mf->size)
        to = mf->size;
    if (from >= to)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t aligned = from - (from % (uint64_t)page);
    if (msync(mf->base + aligned, to - aligned, MS_SYNC) != 0)
        return errno;
    return 0;
}

void mapped_file_zero_tail(mapped_file_t *mf, uint64_t from)
{
    if (from >= mf->size)
        return;
    /* Zero the partial page by hand, the rest by asking the filesystem, which
     * avoids faulting in up to a whole segment of pages just to clear them. */
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t aligned = (from + page - 1) / page * page;
    if (aligned > mf->size)
        aligned = mf->size;
    memset(mf->base + from, 0, aligned - from);
    if (aligned < mf->size &&
        fallocate(mf->fd, FALLOC_FL_ZERO_RANGE, (off_t)aligned, (off_t)(mf->size - aligned)) != 0)
        memset(mf->base + aligned, 0, mf->size - aligned);
    /* A cut must be durable before new records are acked over it, or a power
     * loss could bring back old records behind the new ones. */
    msync(mf->base, mf->size, MS_SYNC);
    fdatasync(mf->fd);
}

void mapped_file_close(mapped_file_t *mf, int unlink_file)
{
    if (mf == NULL)
        return;
    munmap(mf->base, mf->size);
    close(mf->fd);
    if (unlink_file)
        unlink(mf->path);
    free(mf);
}

/*
 * test_support.c - temp directories and small file helpers for tests.
 */
#include "support/test_support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ts_mkdtemp(char *buf, size_t cap, const char *tag)
{
    const char *root = getenv("RILL_TEST_TMP");
    if (root == NULL || root[0] == '\0')
        root = "/tmp";
    mkdir(root, 0755);
    int n = snprintf(buf, cap, "%s/rill-%s-XXXXXX", root, tag ? tag : "t");
    if (n < 0 || (size_t)n >= cap || mkdtemp(buf) == NULL) {
        fprintf(stderr, "ts_mkdtemp(%s): %s\n", buf, strerror(errno));
        abort();
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void ts_rmtree(const char *path)
{
    if (path && path[0])
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int ts_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return errno;
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            int e = errno;
            close(fd);
            return e;
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
    return 0;
}

long long ts_file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

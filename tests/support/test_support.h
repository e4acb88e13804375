/*
 * test_support.h - helpers shared by every Criterion suite: private temp
 * directories under $RILL_TEST_TMP (or /tmp) that a test removes when done.
 */
#ifndef RILL_TEST_SUPPORT_H
#define RILL_TEST_SUPPORT_H

#include <stddef.h>

/** Create a fresh empty directory and write its path to buf. Aborts the test on failure. */
void ts_mkdtemp(char *buf, size_t cap, const char *tag);

/** Remove a directory tree (rm -rf). Ignores missing paths. */
void ts_rmtree(const char *path);

/** Write len bytes to path (create/truncate). Returns 0 or errno. */
int ts_write_file(const char *path, const void *data, size_t len);

/** Size of a file in bytes, or -1. */
long long ts_file_size(const char *path);

#endif

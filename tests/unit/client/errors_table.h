/*
 * errors_table.h - the error codes of one header as a table, so
 * test_errors_match.c can compare rill.h's enum (its own TU) with
 * common/errors.h's (errors_table_common.c). X-macro over every name.
 */
#ifndef RILL_TEST_ERRORS_TABLE_H
#define RILL_TEST_ERRORS_TABLE_H

#include <stddef.h>

/* clang-format off */
#define RILL_TEST_ERROR_NAMES(X)                                                                   \
    X(RILL_EINVAL) X(RILL_ENOTFOUND) X(RILL_ETOOBIG) X(RILL_ECORRUPT) X(RILL_EDISKFULL)            \
    X(RILL_EFLUSHTIMEOUT) X(RILL_EBUSY) X(RILL_ECONFIG) X(RILL_ECLOSED) X(RILL_ETOPIC)             \
    X(RILL_EKV) X(RILL_ERANGE) X(RILL_ENOSPACE) X(RILL_ETIMEDOUT) X(RILL_ECONNREFUSED)             \
    X(RILL_ENET) X(RILL_ENOPERM) X(RILL_EBROKER) X(RILL_EILLEGAL) X(RILL_EUNAVAIL)                 \
    X(RILL_ENOROUTE)
/* clang-format on */

typedef struct errors_entry {
    const char *name;
    int value;
} errors_entry_t;

typedef struct errors_table {
    const errors_entry_t *entries;
    size_t n;
    int ok, first, last;
} errors_table_t;

/** common/errors.h's values (errors_table_common.c, which includes only that header). */
extern const errors_table_t errors_table_common;

#endif

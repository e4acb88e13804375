/*
 * errors_table_common.c - common/errors.h's error codes as a table, built in
 * a translation unit that sees only that header (see test_errors_match.c).
 */
#include "common/errors.h"

#include "errors_table.h"

#define ENTRY(n) {#n, n},
static const errors_entry_t entries[] = {RILL_TEST_ERROR_NAMES(ENTRY)};

const errors_table_t errors_table_common = {
    entries, sizeof(entries) / sizeof(entries[0]), RILL_OK, RILL_ERROR_FIRST, RILL_ERROR_LAST,
};

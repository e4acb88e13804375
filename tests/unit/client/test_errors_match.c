/*
 * test_errors_match.c - rill.h and common/errors.h declare the same error
 * enum under one guard; whichever a file includes first wins, so the two
 * copies must be identical. This TU sees only rill.h, the other
 * (errors_table_common.c) only common/errors.h. Also: every code has its
 * own text starting with its name, and codes are dense between FIRST and
 * LAST.
 */
#include "rill.h"

#include "errors_table.h"

#include <criterion/criterion.h>
#include <string.h>

#define ENTRY(n) {#n, n},
static const errors_entry_t rill_h_entries[] = {RILL_TEST_ERROR_NAMES(ENTRY)};
#define N_RILL_H (sizeof(rill_h_entries) / sizeof(rill_h_entries[0]))

Test(errors_match, same_values_in_both_headers)
{
    const errors_table_t *c = &errors_table_common;
    cr_assert_eq(c->n, N_RILL_H);
    cr_assert_eq(c->ok, RILL_OK);
    cr_assert_eq(c->first, RILL_ERROR_FIRST);
    cr_assert_eq(c->last, RILL_ERROR_LAST);
    for (size_t i = 0; i < N_RILL_H; i++) {
        cr_assert_str_eq(c->entries[i].name, rill_h_entries[i].name);
        cr_assert_eq(c->entries[i].value, rill_h_entries[i].value, "%s: common %d, rill.h %d",
                     rill_h_entries[i].name, c->entries[i].value, rill_h_entries[i].value);
    }
}

Test(errors_match, dense_range_every_code_listed_once)
{
    cr_assert_eq((size_t)(RILL_ERROR_LAST - RILL_ERROR_FIRST + 1), N_RILL_H);
    for (int rc = RILL_ERROR_FIRST; rc <= RILL_ERROR_LAST; rc++) {
        int seen = 0;
        for (size_t i = 0; i < N_RILL_H; i++)
            seen += rill_h_entries[i].value == rc;
        cr_assert_eq(seen, 1, "code %d listed %d times", rc, seen);
    }
}

Test(errors_match, every_code_has_its_own_text)
{
    for (size_t i = 0; i < N_RILL_H; i++) {
        const char *t = rill_strerror(rill_h_entries[i].value);
        size_t nl = strlen(rill_h_entries[i].name);
        cr_assert(strncmp(t, rill_h_entries[i].name, nl) == 0 && t[nl] == ':', "%s -> \"%s\"",
                  rill_h_entries[i].name, t);
        cr_assert_gt(strlen(t), nl + 3);
    }
    cr_assert_str_eq(rill_strerror(0), "OK: success");
    cr_assert_not_null(rill_strerror(-1));
    cr_assert_not_null(rill_strerror(12345678));
}

Test(errors_match, version_and_last_error)
{
    cr_assert_str_eq(rill_version(), RILL_VERSION_STR);
    cr_assert_str_eq(rill_last_error(), "");
    cr_assert_null(rill_msg_new(""));
    cr_assert_str_eq(rill_last_error(), "rill_msg_new: the topic is empty");
}

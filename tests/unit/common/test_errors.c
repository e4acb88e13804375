/*
 * test_errors.c - every Rill code has a name and a text that starts with it;
 * errno values read as strerror() does.
 */
#include "common/errors.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

Test(errors, every_code_text_starts_with_its_name)
{
    for (int rc = RILL_ERROR_FIRST; rc <= RILL_ERROR_LAST; rc++) {
        const char *name = rill_errname(rc);
        const char *text = rill_strerror(rc);
        cr_assert_not_null(name);
        cr_assert_not_null(text);
        cr_assert_eq(strncmp(name, "RILL_E", 6), 0, "code %d name %s", rc, name);
        cr_assert_eq(strncmp(text, name, strlen(name)), 0, "code %d: '%s' vs '%s'", rc, text, name);
        cr_assert_eq(text[strlen(name)], ':', "code %d: '%s'", rc, text);
    }
}

Test(errors, names_are_the_enum_names)
{
    cr_assert_str_eq(rill_errname(RILL_EINVAL), "RILL_EINVAL");
    cr_assert_str_eq(rill_errname(RILL_ENOTFOUND), "RILL_ENOTFOUND");
    cr_assert_str_eq(rill_errname(RILL_ETOOBIG), "RILL_ETOOBIG");
    cr_assert_str_eq(rill_errname(RILL_ECORRUPT), "RILL_ECORRUPT");
    cr_assert_str_eq(rill_errname(RILL_EDISKFULL), "RILL_EDISKFULL");
    cr_assert_str_eq(rill_errname(RILL_EFLUSHTIMEOUT), "RILL_EFLUSHTIMEOUT");
    cr_assert_str_eq(rill_errname(RILL_EBUSY), "RILL_EBUSY");
    cr_assert_str_eq(rill_errname(RILL_ECONFIG), "RILL_ECONFIG");
    cr_assert_str_eq(rill_errname(RILL_ECLOSED), "RILL_ECLOSED");
    cr_assert_str_eq(rill_errname(RILL_ETOPIC), "RILL_ETOPIC");
    cr_assert_str_eq(rill_errname(RILL_EKV), "RILL_EKV");
    cr_assert_str_eq(rill_errname(RILL_ERANGE), "RILL_ERANGE");
    cr_assert_str_eq(rill_errname(RILL_ENOSPACE), "RILL_ENOSPACE");
}

Test(errors, success)
{
    cr_assert_str_eq(rill_errname(0), "OK");
    cr_assert_eq(strncmp(rill_strerror(0), "OK", 2), 0);
}

Test(errors, positive_errno_reads_as_strerror)
{
    int codes[] = {ENOENT, ENOSPC, EIO, ENOMEM, EACCES};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        cr_assert_str_eq(rill_strerror(codes[i]), strerror(codes[i]));
    }
    cr_assert_str_eq(rill_errname(ENOSPC), "ENOSPC");
    cr_assert_str_eq(rill_errname(ENOENT), "ENOENT");
}

Test(errors, unknown_codes_are_never_null)
{
    int codes[] = {-1, -20000, RILL_ERROR_FIRST - 1, -99999};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        cr_assert_str_eq(rill_errname(codes[i]), "RILL_EUNKNOWN");
        cr_assert_eq(strncmp(rill_strerror(codes[i]), "RILL_EUNKNOWN:", 14), 0);
    }
    cr_assert_not_null(rill_errname(100000));
    cr_assert_not_null(rill_strerror(100000));
}

/*
 * test_tags.c - tag codes and "TagA || TagB" subscription expressions:
 * valid and invalid syntax, limits, and matching by hash and by string.
 */
#include "common/checksum.h"
#include "common/errors.h"
#include "common/tags.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void tag_at(const rill_tag_filter_t *f, size_t i, char *out)
{
    memcpy(out, f->text + f->tag_off[i], f->tag_len[i]);
    out[f->tag_len[i]] = '\0';
}

Test(tags, hash_of_no_tag_is_zero)
{
    cr_assert_eq(rill_tag_hash(NULL, 0), 0);
    cr_assert_eq(rill_tag_hash("", 0), 0);
    cr_assert_eq(rill_tag_hash("TagA", 0), 0);
}

Test(tags, hash_is_xxh3_of_the_tag)
{
    cr_assert_eq(rill_tag_hash("TagA", 4), rill_hash64("TagA", 4, 0));
    cr_assert_neq(rill_tag_hash("TagA", 4), rill_tag_hash("TagB", 4));
    cr_assert_eq(rill_tag_hash("TagAxyz", 4), rill_tag_hash("TagA", 4), "only len bytes count");
    for (int i = 0; i < 10000; i++) {
        char t[16];
        int n = snprintf(t, sizeof(t), "t%d", i);
        cr_assert_neq(rill_tag_hash(t, (size_t)n), 0);
    }
}

Test(tags, match_all_expressions)
{
    const char *all[] = {"*", "", "  ", " * ", "\t*\n", NULL};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        rill_tag_filter_t f;
        cr_assert_eq(rill_tag_filter_parse(&f, all[i]), 0, "expr %zu", i);
        cr_assert_eq(f.match_all, 1);
        cr_assert_eq(f.count, 0);
        cr_assert_eq(rill_tag_filter_match_hash(&f, 0), 1, "untagged messages match '*'");
        cr_assert_eq(rill_tag_filter_match_hash(&f, rill_tag_hash("X", 1)), 1);
        cr_assert_eq(rill_tag_filter_match(&f, NULL, 0), 1);
        cr_assert_eq(rill_tag_filter_match(&f, "X", 1), 1);
    }
}

Test(tags, single_tag)
{
    rill_tag_filter_t f;
    cr_assert_eq(rill_tag_filter_parse(&f, "TagA"), 0);
    cr_assert_eq(f.match_all, 0);
    cr_assert_eq(f.count, 1);
    char t[64];
    tag_at(&f, 0, t);
    cr_assert_str_eq(t, "TagA");
    cr_assert_eq(f.hashes[0], rill_tag_hash("TagA", 4));
}

Test(tags, list_with_and_without_whitespace)
{
    const char *exprs[] = {"TagA || TagB || TagC", "TagA||TagB||TagC", "  TagA ||TagB||  TagC  ",
                           "\tTagA\t||\tTagB ||TagC\n"};
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        rill_tag_filter_t f;
        cr_assert_eq(rill_tag_filter_parse(&f, exprs[i]), 0, "'%s'", exprs[i]);
        cr_assert_eq(f.match_all, 0);
        cr_assert_eq(f.count, 3);
        char t[64];
        tag_at(&f, 0, t);
        cr_assert_str_eq(t, "TagA");
        tag_at(&f, 1, t);
        cr_assert_str_eq(t, "TagB");
        tag_at(&f, 2, t);
        cr_assert_str_eq(t, "TagC");
        cr_assert_eq(f.hashes[2], rill_tag_hash("TagC", 4));
    }
}

Test(tags, duplicates_are_kept)
{
    rill_tag_filter_t f;
    cr_assert_eq(rill_tag_filter_parse(&f, "A || A"), 0);
    cr_assert_eq(f.count, 2);
    cr_assert_eq(rill_tag_filter_match(&f, "A", 1), 1);
}

Test(tags, syntax_errors)
{
    const char *bad[] = {"A ||",      "|| B",   "A | B",  "A||||B",     "A|||B",
                         "A B",       "||",     "|",      "A |",        "A||",
                         "A || || B", "A || *", "* || A", "**A || B |", "A ||\t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rill_tag_filter_t f;
        memset(&f, 0x5a, sizeof(f));
        cr_assert_eq(rill_tag_filter_parse(&f, bad[i]), RILL_EINVAL, "'%s'", bad[i]);
        cr_assert_eq(f.count, (size_t)0x5a5a5a5a5a5a5a5aULL, "out written on error");
    }
}

Test(tags, star_inside_a_tag_is_a_tag)
{
    rill_tag_filter_t f;
    cr_assert_eq(rill_tag_filter_parse(&f, "A* || **"), 0);
    cr_assert_eq(f.count, 2);
    cr_assert_eq(rill_tag_filter_match(&f, "A*", 2), 1);
    cr_assert_eq(rill_tag_filter_match(&f, "Ab", 2), 0);
}

Test(tags, at_most_32_tags)
{
    char expr[RILL_TAG_EXPR_BYTES_MAX + 1];
    size_t len = 0;
    for (int i = 0; i < RILL_TAG_FILTER_MAX; i++)
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, "%sT%d", i ? " || " : "", i);
    rill_tag_filter_t f;
    cr_assert_eq(rill_tag_filter_parse(&f, expr), 0);
    cr_assert_eq(f.count, RILL_TAG_FILTER_MAX);
    cr_assert_eq(rill_tag_filter_match(&f, "T31", 3), 1);
    cr_assert_eq(rill_tag_filter_match_hash(&f, rill_tag_hash("T0", 2)), 1);

    snprintf(expr + len, sizeof(expr) - len, " || T32");
    cr_assert_eq(rill_tag_filter_parse(&f, expr), RILL_ETOOBIG);
}

Test(tags, expression_length_limit)
{
    static char expr[RILL_TAG_EXPR_BYTES_MAX + 2];
    rill_tag_filter_t f;

    memset(expr, 'x', RILL_TAG_EXPR_BYTES_MAX);
    expr[RILL_TAG_EXPR_BYTES_MAX] = '\0';
    cr_assert_eq(rill_tag_filter_parse(&f, expr), 0, "exactly the limit is fine");
    cr_assert_eq(f.count, 1);
    cr_assert_eq(f.tag_len[0], RILL_TAG_EXPR_BYTES_MAX);
    cr_assert_eq(rill_tag_filter_match(&f, expr, RILL_TAG_EXPR_BYTES_MAX), 1);

    expr[RILL_TAG_EXPR_BYTES_MAX] = 'x';
    expr[RILL_TAG_EXPR_BYTES_MAX + 1] = '\0';
    cr_assert_eq(rill_tag_filter_parse(&f, expr), RILL_ETOOBIG);

    memset(expr, ' ', RILL_TAG_EXPR_BYTES_MAX + 1);
    expr[0] = '*';
    cr_assert_eq(rill_tag_filter_parse(&f, expr), RILL_ETOOBIG, "whitespace counts too");
}

Test(tags, match_by_hash)
{
    rill_tag_filter_t f;
    cr_assert_eq(rill_tag_filter_parse(&f, "TagA || TagB"), 0);
    cr_assert_eq(rill_tag_filter_match_hash(&f, rill_tag_hash("TagA", 4)), 1);
    cr_assert_eq(rill_tag_filter_match_hash(&f, rill_tag_hash("TagB", 4)), 1);
    cr_assert_eq(rill_tag_filter_match_hash(&f, rill_tag_hash("TagC", 4)), 0);
    cr_assert_eq(rill_tag_filter_match_hash(&f, rill_tag_hash("taga", 4)), 0);
    cr_assert_eq(rill_tag_filter_match_hash(&f, 0), 0, "untagged messages never match a list");
}

Test(tags, match_by_string)
{
    rill_tag_filter_t f;
    cr_assert_eq(rill_tag_filter_parse(&f, "TagA || TagB"), 0);
    cr_assert_eq(rill_tag_filter_match(&f, "TagA", 4), 1);
    cr_assert_eq(rill_tag_filter_match(&f, "TagB", 4), 1);
    cr_assert_eq(rill_tag_filter_match(&f, "TagAB", 5), 0);
    cr_assert_eq(rill_tag_filter_match(&f, "Tag", 3), 0);
    cr_assert_eq(rill_tag_filter_match(&f, "taga", 4), 0, "case-sensitive");
    cr_assert_eq(rill_tag_filter_match(&f, NULL, 0), 0);
    cr_assert_eq(rill_tag_filter_match(&f, "TagAxx", 4), 1, "only len bytes count");
}

Test(tags, filter_is_plain_data)
{
    rill_tag_filter_t a, b;
    cr_assert_eq(rill_tag_filter_parse(&a, "X || Y"), 0);
    b = a;
    cr_assert_eq(rill_tag_filter_match(&b, "Y", 1), 1);
    cr_assert_eq(rill_tag_filter_match_hash(&b, rill_tag_hash("X", 1)), 1);
}

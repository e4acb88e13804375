/*
 * test_props.c - RocketMQ "name\001value\002" properties: building, lookup,
 * iteration, and rejection of every kind of malformed input.
 */
#include "common/errors.h"
#include "common/props.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define LIT(s) (s), (sizeof(s) - 1)

static int get_str(const char *props, size_t len, const char *name, char *out, size_t cap)
{
    const char *v;
    size_t vlen;
    int rc = rill_props_get(props, len, name, &v, &vlen);
    if (rc == 0) {
        cr_assert_lt(vlen, cap);
        memcpy(out, v, vlen);
        out[vlen] = '\0';
    }
    return rc;
}

Test(props, append_encodes_like_rocketmq)
{
    char buf[128];
    size_t len = 0;
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, RILL_PROP_TAGS, "TagA", 4), 0);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, RILL_PROP_KEYS, "k1 k2", 5), 0);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "EMPTY", NULL, 0), 0);
    const char want[] = "TAGS\001TagA\002KEYS\001k1 k2\002EMPTY\001\002";
    cr_assert_eq(len, sizeof(want) - 1);
    cr_assert_eq(memcmp(buf, want, len), 0);
    cr_assert_eq(rill_props_validate(buf, len), 0);
}

Test(props, get_finds_each_value)
{
    char buf[256];
    size_t len = 0;
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, RILL_PROP_TAGS, "TagA", 4), 0);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, RILL_PROP_KEYS, "order-1", 7), 0);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, RILL_PROP_DELAY_LEVEL, "3", 1), 0);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "E", "", 0), 0);

    char v[64];
    cr_assert_eq(get_str(buf, len, RILL_PROP_TAGS, v, sizeof(v)), 0);
    cr_assert_str_eq(v, "TagA");
    cr_assert_eq(get_str(buf, len, RILL_PROP_KEYS, v, sizeof(v)), 0);
    cr_assert_str_eq(v, "order-1");
    cr_assert_eq(get_str(buf, len, RILL_PROP_DELAY_LEVEL, v, sizeof(v)), 0);
    cr_assert_str_eq(v, "3");
    cr_assert_eq(get_str(buf, len, "E", v, sizeof(v)), 0);
    cr_assert_str_eq(v, "");

    const char *val;
    size_t vlen;
    cr_assert_eq(rill_props_get(buf, len, RILL_PROP_KEYS, &val, &vlen), 0);
    cr_assert(val > buf && val + vlen <= buf + len, "value points into props");
}

Test(props, get_missing_and_partial_names)
{
    const char p[] = "TAGS\001TagA\002KEYS\001k\002";
    const char *val = (const char *)0x1;
    size_t vlen = 77;
    cr_assert_eq(rill_props_get(LIT(p), "UNIQ_KEY", &val, &vlen), RILL_ENOTFOUND);
    cr_assert_eq(rill_props_get(LIT(p), "TAG", &val, &vlen), RILL_ENOTFOUND);
    cr_assert_eq(rill_props_get(LIT(p), "TAGSX", &val, &vlen), RILL_ENOTFOUND);
    cr_assert_eq(rill_props_get(LIT(p), "tags", &val, &vlen), RILL_ENOTFOUND);
    cr_assert_eq(rill_props_get(LIT(p), "TagA", &val, &vlen), RILL_ENOTFOUND,
                 "values are not names");
    cr_assert_eq(rill_props_get(LIT(p), "", &val, &vlen), RILL_ENOTFOUND);
    cr_assert_eq(rill_props_get(NULL, 0, "TAGS", &val, &vlen), RILL_ENOTFOUND);
    cr_assert_eq(val, (const char *)0x1, "outputs written on error");
    cr_assert_eq(vlen, 77);
}

Test(props, get_first_duplicate_wins)
{
    const char p[] = "K\001first\002K\001second\002";
    const char *val;
    size_t vlen;
    cr_assert_eq(rill_props_get(LIT(p), "K", &val, &vlen), 0);
    cr_assert_eq(vlen, 5);
    cr_assert_eq(memcmp(val, "first", 5), 0);
}

Test(props, get_stops_at_malformed_pair)
{
    const char p[] = "A\0011\002broken\002B\0012\002";
    const char *val;
    size_t vlen;
    cr_assert_eq(rill_props_get(LIT(p), "A", &val, &vlen), 0);
    cr_assert_eq(rill_props_get(LIT(p), "B", &val, &vlen), RILL_ENOTFOUND);
    cr_assert_eq(rill_props_validate(LIT(p)), RILL_ECORRUPT);
}

Test(props, append_rejects_separators_and_empty_name)
{
    char buf[64];
    memset(buf, 'z', sizeof(buf));
    size_t len = 0;
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "", "v", 1), RILL_EINVAL);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "a\001b", "v", 1), RILL_EINVAL);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "a\002b", "v", 1), RILL_EINVAL);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "n", "v\001", 2), RILL_EINVAL);
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "n", "\002v", 2), RILL_EINVAL);
    cr_assert_eq(len, 0);
    cr_assert_eq(buf[0], 'z');
}

Test(props, append_enospace_leaves_buffer_unchanged)
{
    char buf[16];
    memset(buf, 'z', sizeof(buf));
    size_t len = 0;
    /* "TAGS\001TagA\002" is 10 bytes. */
    cr_assert_eq(rill_props_append(buf, 10, &len, "TAGS", "TagA", 4), 0);
    cr_assert_eq(len, 10);
    cr_assert_eq(rill_props_append(buf, 10, &len, "K", "", 0), RILL_ENOSPACE);
    cr_assert_eq(len, 10);
    cr_assert_eq(buf[10], 'z');

    /* exactly fits / one byte short */
    char small[7];
    size_t slen = 0;
    cr_assert_eq(rill_props_append(small, 6, &slen, "ab", "cd", 2), 0);
    cr_assert_eq(slen, 6);
    slen = 0;
    memset(small, 'z', sizeof(small));
    cr_assert_eq(rill_props_append(small, 5, &slen, "ab", "cd", 2), RILL_ENOSPACE);
    cr_assert_eq(slen, 0);
    cr_assert_eq(small[0], 'z');
    cr_assert_eq(rill_props_append(small, 0, &slen, "a", "", 0), RILL_ENOSPACE);

    /* a huge vlen must not wrap the size arithmetic */
    slen = 0;
    cr_assert_eq(rill_props_append(small, 6, &slen, "ab", "cd", (size_t)-1), RILL_ENOSPACE);
}

Test(props, append_name_error_wins_over_enospace)
{
    char buf[2];
    size_t len = 0;
    cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, "", "long value", 10), RILL_EINVAL);
}

struct collected {
    int n;
    char names[8][16];
    char vals[8][16];
};

static int collect(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    struct collected *c = arg;
    memcpy(c->names[c->n], name, nlen);
    c->names[c->n][nlen] = '\0';
    memcpy(c->vals[c->n], val, vlen);
    c->vals[c->n][vlen] = '\0';
    c->n++;
    return 0;
}

static int stop_at_second(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
    int *seen = arg;
    return ++*seen == 2 ? 42 : 0;
}

Test(props, foreach_visits_in_order)
{
    const char p[] = "TAGS\001TagA\002KEYS\001\002UNIQ_KEY\001abc\002";
    struct collected c = {0};
    cr_assert_eq(rill_props_foreach(LIT(p), collect, &c), 0);
    cr_assert_eq(c.n, 3);
    cr_assert_str_eq(c.names[0], "TAGS");
    cr_assert_str_eq(c.vals[0], "TagA");
    cr_assert_str_eq(c.names[1], "KEYS");
    cr_assert_str_eq(c.vals[1], "");
    cr_assert_str_eq(c.names[2], "UNIQ_KEY");
    cr_assert_str_eq(c.vals[2], "abc");

    struct collected none = {0};
    cr_assert_eq(rill_props_foreach(NULL, 0, collect, &none), 0);
    cr_assert_eq(none.n, 0);
}

Test(props, foreach_stop_value_is_returned)
{
    const char p[] = "A\0011\002B\0012\002C\0013\002";
    int seen = 0;
    cr_assert_eq(rill_props_foreach(LIT(p), stop_at_second, &seen), 42);
    cr_assert_eq(seen, 2);
}

Test(props, foreach_reports_corruption_after_good_pairs)
{
    const char p[] = "A\0011\002B\0012";
    struct collected c = {0};
    cr_assert_eq(rill_props_foreach(LIT(p), collect, &c), RILL_ECORRUPT);
    cr_assert_eq(c.n, 1);
}

Test(props, validate_accepts_well_formed)
{
    cr_assert_eq(rill_props_validate(NULL, 0), 0);
    cr_assert_eq(rill_props_validate("", 0), 0);
    const char one[] = "A\001\002";
    cr_assert_eq(rill_props_validate(LIT(one)), 0);
    const char utf8[] = "K\001\xe4\xb8\xad\xe6\x96\x87\002";
    cr_assert_eq(rill_props_validate(LIT(utf8)), 0);
}

Test(props, validate_rejects_malformed)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        {LIT("A"), "name without separator"},
        {LIT("A\001"), "value without pair separator"},
        {LIT("A\0011"), "value without pair separator"},
        {LIT("\0011\002"), "empty name"},
        {LIT("A\0011\002\002"), "empty pair"},
        {LIT("A\0011\002B"), "trailing bytes"},
        {LIT("A\0011\0012\002"), "value contains name separator"},
        {LIT("A\002B\0011\002"), "name contains pair separator"},
        {LIT("\002"), "lone pair separator"},
        {LIT("\001"), "lone name separator"},
        {LIT("A\0011\002\001x\002"), "empty second name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(rill_props_validate(bad[i].bytes, bad[i].len), RILL_ECORRUPT, "%s",
                     bad[i].why);
        struct collected c = {0};
        cr_assert_eq(rill_props_foreach(bad[i].bytes, bad[i].len, collect, &c), RILL_ECORRUPT, "%s",
                     bad[i].why);
    }
}

Test(props, validate_respects_len_not_nul)
{
    /* A NUL inside a value is just a byte; bytes after len are not looked at. */
    const char p[] = "A\001x\0y\002garbage";
    cr_assert_eq(rill_props_validate(p, 6), 0);
    cr_assert_eq(rill_props_validate(p, 7), RILL_ECORRUPT);
}

Test(props, round_trip_many)
{
    char buf[4096];
    size_t len = 0;
    char name[16], val[16];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(name, sizeof(name), "k%d", i);
        int v = snprintf(val, sizeof(val), "v%d", i * 7);
        (void)n;
        cr_assert_eq(rill_props_append(buf, sizeof(buf), &len, name, val, (size_t)v), 0);
    }
    cr_assert_eq(rill_props_validate(buf, len), 0);
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i * 7);
        char got[16];
        cr_assert_eq(get_str(buf, len, name, got, sizeof(got)), 0);
        cr_assert_str_eq(got, val);
    }
}

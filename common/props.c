/*
 * props.c - walks and writes "name\001value\002" property lists in place.
 *
 * Everything is built on props_next(), the one parser of the format, so
 * lookup, iteration and validation agree on what is malformed.
 */
#include "common/props.h"

#include "common/errors.h"

#include <assert.h>
#include <string.h>

/* One parsed pair; name and val point into the encoded bytes. */
typedef struct props_pair {
    const char *name;
    size_t nlen;
    const char *val;
    size_t vlen;
} props_pair_t;

/*
 * Parse the pair starting at *pos and advance *pos past it.
 * Returns 1 with *pair filled, 0 at the end, RILL_ECORRUPT if malformed.
 */
static int props_next(const char *props, size_t len, size_t *pos, props_pair_t *pair)
{
    size_t p = *pos;
    if (p == len)
        return 0;

    const char *name = props + p;
    const char *name_end = memchr(name, RILL_PROP_NAME_SEP, len - p);
    if (name_end == NULL || name_end == name)
        return RILL_ECORRUPT;
    size_t nlen = (size_t)(name_end - name);
    if (memchr(name, RILL_PROP_PAIR_SEP, nlen) != NULL)
        return RILL_ECORRUPT;

    p += nlen + 1;
    const char *val = props + p;
    const char *val_end = memchr(val, RILL_PROP_PAIR_SEP, len - p);
    if (val_end == NULL)
        return RILL_ECORRUPT;
    size_t vlen = (size_t)(val_end - val);
    if (memchr(val, RILL_PROP_NAME_SEP, vlen) != NULL)
        return RILL_ECORRUPT;

    pair->name = name;
    pair->nlen = nlen;
    pair->val = val;
    pair->vlen = vlen;
    *pos = p + vlen + 1;
    return 1;
}

int rill_props_get(const char *props, size_t len, const char *name, const char **val, size_t *vlen)
{
    size_t want = strlen(name);
    size_t pos = 0;
    props_pair_t pair;
    while (props_next(props, len, &pos, &pair) == 1) {
        if (pair.nlen == want && memcmp(pair.name, name, want) == 0) {
            *val = pair.val;
            *vlen = pair.vlen;
            return 0;
        }
    }
    return RILL_ENOTFOUND;
}

static int has_separator(const char *s, size_t n)
{
    return memchr(s, RILL_PROP_NAME_SEP, n) != NULL || memchr(s, RILL_PROP_PAIR_SEP, n) != NULL;
}

int rill_props_append(char *buf, size_t cap, size_t *len, const char *name, const char *val,
                      size_t vlen)
{
    assert(*len <= cap);
    size_t nlen = strlen(name);
    if (nlen == 0 || has_separator(name, nlen))
        return RILL_EINVAL;
    /* Size before the value's bytes: a bogus vlen is never read. */
    size_t free_bytes = cap - *len;
    if (nlen > free_bytes || vlen > free_bytes - nlen || free_bytes - nlen - vlen < 2)
        return RILL_ENOSPACE;
    if (vlen > 0 && has_separator(val, vlen))
        return RILL_EINVAL;

    char *p = buf + *len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = RILL_PROP_NAME_SEP;
    if (vlen > 0)
        memcpy(p, val, vlen);
    p += vlen;
    *p++ = RILL_PROP_PAIR_SEP;
    *len += nlen + vlen + 2;
    return 0;
}

int rill_props_foreach(const char *props, size_t len, rill_props_visit_fn fn, void *arg)
{
    size_t pos = 0;
    props_pair_t pair;
    int rc;
    while ((rc = props_next(props, len, &pos, &pair)) == 1) {
        int stop = fn(arg, pair.name, pair.nlen, pair.val, pair.vlen);
        if (stop != 0)
            return stop;
    }
    return rc;
}

int rill_props_validate(const char *props, size_t len)
{
    size_t pos = 0;
    props_pair_t pair;
    int rc;
    while ((rc = props_next(props, len, &pos, &pair)) == 1)
        ;
    return rc;
}

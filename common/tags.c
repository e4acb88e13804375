/*
 * tags.c - tag codes and the "TagA || TagB" subscription parser.
 *
 * The parser is strict where RocketMQ is lenient (RocketMQ silently drops
 * empty pieces of "A ||"): a typo in a subscription should fail loudly when
 * the consumer subscribes, not deliver the wrong messages.
 */
#include "common/tags.h"

#include "common/checksum.h"
#include "common/errors.h"

#include <string.h>

uint64_t rill_tag_hash(const char *tag, size_t len)
{
    if (len == 0)
        return 0;
    uint64_t h = rill_hash64(tag, len, 0);
    return h == 0 ? 1 : h;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

int rill_tag_filter_parse(rill_tag_filter_t *out, const char *expr)
{
    rill_tag_filter_t f;
    memset(&f, 0, sizeof(f));

    if (expr == NULL)
        expr = "*";
    size_t len = strnlen(expr, RILL_TAG_EXPR_BYTES_MAX + 1);
    if (len > RILL_TAG_EXPR_BYTES_MAX)
        return RILL_ETOOBIG;

    const char *p = expr;
    const char *end = expr + len;
    p = skip_blanks(p, end);
    const char *last = end;
    while (last > p && is_blank(last[-1]))
        last--;
    if (p == last || (last - p == 1 && *p == '*')) {
        f.match_all = 1;
        goto done;
    }

    size_t text_len = 0;
    for (;;) {
        const char *tag = p;
        while (p < end && !is_blank(*p) && *p != '|')
            p++;
        size_t tlen = (size_t)(p - tag);
        if (tlen == 0)
            return RILL_EINVAL; /* "|| B", "A ||", "A||||B" */
        if (tlen == 1 && *tag == '*')
            return RILL_EINVAL; /* "*" only means "all" on its own */
        if (f.count == RILL_TAG_FILTER_MAX)
            return RILL_ETOOBIG;
        /* Tags are a subset of expr's bytes, so text (as big as expr may be) has room. */
        memcpy(f.text + text_len, tag, tlen);
        f.tag_off[f.count] = (uint16_t)text_len;
        f.tag_len[f.count] = (uint16_t)tlen;
        f.hashes[f.count] = rill_tag_hash(tag, tlen);
        f.count++;
        text_len += tlen;

        p = skip_blanks(p, end);
        if (p == end)
            break;
        if (end - p < 2 || p[0] != '|' || p[1] != '|')
            return RILL_EINVAL; /* "A | B", "A B" */
        p = skip_blanks(p + 2, end);
    }

done:
    *out = f;
    return 0;
}

int rill_tag_filter_match_hash(const rill_tag_filter_t *f, uint64_t tag_hash)
{
    if (f->match_all)
        return 1;
    if (tag_hash == 0)
        return 0;
    for (size_t i = 0; i < f->count; i++) {
        if (f->hashes[i] == tag_hash)
            return 1;
    }
    return 0;
}

int rill_tag_filter_match(const rill_tag_filter_t *f, const char *tag, size_t len)
{
    if (f->match_all)
        return 1;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < f->count; i++) {
        if (f->tag_len[i] == len && memcmp(f->text + f->tag_off[i], tag, len) == 0)
            return 1;
    }
    return 0;
}

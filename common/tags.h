/*
 * tags.h - message tags and consumer subscription expressions.
 *
 * A message carries at most one tag (its TAGS property). The ConsumeQueue
 * stores rill_tag_hash() of it, so a pull can drop messages by comparing
 * hashes without reading the CommitLog; because hashes can collide, the
 * consumer side re-checks the tag string with rill_tag_filter_match(), as
 * RocketMQ's broker (hash codes) and client (tag strings) do.
 *
 * A subscription expression is "*" or "" for every message, or tags joined
 * by "||": "TagA || TagB || TagC". Whitespace around tags and "||" is
 * ignored; a tag is a run of bytes other than whitespace and '|'.
 */
#ifndef RILL_COMMON_TAGS_H
#define RILL_COMMON_TAGS_H

#include <stddef.h>
#include <stdint.h>

#define RILL_TAG_FILTER_MAX     32   /**< tags in one expression */
#define RILL_TAG_EXPR_BYTES_MAX 1024 /**< longest expression, in bytes, without the NUL */

/**
 * The code stored in the ConsumeQueue for a tag.
 *
 * @param[in] tag  the tag's bytes; may be NULL when len is 0.
 * @param[in] len  its length; 0 means the message has no tag.
 * @return 0 for no tag; otherwise rill_hash64(tag, len, 0), with 0 mapped to
 *         1 so a tagged message never looks untagged.
 * @remark Thread-safe. Stored on disk: never change the function.
 */
uint64_t rill_tag_hash(const char *tag, size_t len);

/**
 * A parsed subscription expression. Plain data: copy it, keep it in a
 * subscription table, no cleanup needed.
 */
typedef struct rill_tag_filter {
    int match_all;                         /**< 1 for "*" or "": every message, tagged or not */
    size_t count;                          /**< tags in hashes/tag_off/tag_len; 0 when match_all */
    uint64_t hashes[RILL_TAG_FILTER_MAX];  /**< rill_tag_hash() of each tag, in expression order */
    uint16_t tag_off[RILL_TAG_FILTER_MAX]; /**< each tag's first byte in text */
    uint16_t tag_len[RILL_TAG_FILTER_MAX]; /**< each tag's length in bytes */
    char text[RILL_TAG_EXPR_BYTES_MAX];    /**< the tags' bytes, back to back, not NUL-terminated */
} rill_tag_filter_t;

/**
 * Parse a subscription expression.
 *
 * @param[out] out   the filter; written only on success.
 * @param[in]  expr  NUL-terminated expression; NULL means "*", as in RocketMQ.
 * @return 0; RILL_EINVAL on a syntax error (an empty tag as in "A ||",
 *         "|| B" or "A||||B", a single '|' as in "A | B", two tags without
 *         "||" between them as in "A B", or "*" used as one tag of a list);
 *         RILL_ETOOBIG if expr is longer than RILL_TAG_EXPR_BYTES_MAX bytes
 *         or lists more than RILL_TAG_FILTER_MAX tags. Duplicate tags are
 *         allowed and kept.
 * @remark Thread-safe, no allocation.
 */
int rill_tag_filter_parse(rill_tag_filter_t *out, const char *expr);

/**
 * Does a ConsumeQueue tag code pass the filter?
 *
 * @param[in] f         a parsed filter.
 * @param[in] tag_hash  rill_tag_hash() of the message's tag; 0 for no tag.
 * @return 1 if it matches (it may still be a hash collision), 0 if not.
 *         A match_all filter matches everything, untagged messages included;
 *         any other filter never matches an untagged message.
 * @remark Thread-safe.
 */
int rill_tag_filter_match_hash(const rill_tag_filter_t *f, uint64_t tag_hash);

/**
 * Does a tag string pass the filter, exactly?
 *
 * @param[in] f    a parsed filter.
 * @param[in] tag  the message's tag bytes; may be NULL when len is 0.
 * @param[in] len  their length; 0 for no tag.
 * @return 1 if match_all or the tag equals one of the filter's tags
 *         (case-sensitive), 0 otherwise.
 * @remark Thread-safe.
 */
int rill_tag_filter_match(const rill_tag_filter_t *f, const char *tag, size_t len);

#endif

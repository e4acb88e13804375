/*
 * props.h - a message's user properties in RocketMQ's text encoding.
 *
 * Properties are stored and sent exactly as RocketMQ's
 * MessageDecoder.messageProperties2String() writes them: each pair is the
 * name, byte 0x01, the value, byte 0x02 - the 0x02 ends every pair, the last
 * one included:
 *
 *     +------+----+-------+----+------+----+-------+----+
 *     | TAGS | 01 | TagA  | 02 | KEYS | 01 | k1 k2 | 02 |
 *     +------+----+-------+----+------+----+-------+----+
 *
 * Names are non-empty; neither names nor values contain 0x01 or 0x02; values
 * may be empty. Nothing here allocates: lookups return pointers into the
 * caller's bytes and appends write into a caller's buffer, so the put and
 * pull paths can use them per message.
 */
#ifndef RILL_COMMON_PROPS_H
#define RILL_COMMON_PROPS_H

#include <stddef.h>

#define RILL_PROP_NAME_SEP '\001' /**< ends a name, starts its value */
#define RILL_PROP_PAIR_SEP '\002' /**< ends a value, and so the pair */

/* Property names Rill itself reads, spelled as RocketMQ's MessageConst does. */
#define RILL_PROP_TAGS         "TAGS"         /**< the message's one tag */
#define RILL_PROP_KEYS         "KEYS"         /**< space-separated keys for the key index */
#define RILL_PROP_UNIQ_KEY     "UNIQ_KEY"     /**< client-generated message id */
#define RILL_PROP_DELAY_LEVEL  "DELAY"        /**< delay level, 1-based, as decimal text */
#define RILL_PROP_DELIVER_TIME "DELIVER_TIME" /**< absolute delivery time, epoch ms as text */
#define RILL_PROP_REAL_TOPIC   "REAL_TOPIC"   /**< original topic of a delayed/retried message */
#define RILL_PROP_REAL_QID     "REAL_QID"     /**< original queue id of a delayed/retried message */

/**
 * Find a property's value.
 *
 * @param[in]  props  encoded properties; may be NULL when len is 0.
 * @param[in]  len    their length in bytes.
 * @param[in]  name   NUL-terminated name to look for (case-sensitive).
 * @param[out] val    the value's first byte, pointing into props (not
 *                    NUL-terminated); valid as long as props is. Written only
 *                    on success.
 * @param[out] vlen   the value's length; written only on success.
 * @return 0 if found (the first pair with that name wins), RILL_ENOTFOUND
 *         otherwise. The scan stops at the first malformed pair, so a name
 *         that appears only after one is RILL_ENOTFOUND; use
 *         rill_props_validate() to tell corrupt input apart.
 * @remark Thread-safe, no allocation.
 */
int rill_props_get(const char *props, size_t len, const char *name, const char **val, size_t *vlen);

/**
 * Append one pair.
 *
 * @param[in,out] buf   encoded properties; the pair is written at buf + *len.
 * @param[in]     cap   size of buf in bytes.
 * @param[in,out] len   bytes of buf in use; advanced past the pair on success.
 * @param[in]     name  NUL-terminated, non-empty name.
 * @param[in]     val   the value's bytes; may be NULL when vlen is 0.
 * @param[in]     vlen  the value's length.
 * @return 0; RILL_EINVAL if name is empty or name or value contains
 *         RILL_PROP_NAME_SEP or RILL_PROP_PAIR_SEP; RILL_ENOSPACE if the pair
 *         (strlen(name) + vlen + 2 bytes) does not fit in cap - *len (checked
 *         after the name and before the value's bytes are read). On error
 *         neither buf nor *len changes.
 * @remark Does not look for an existing pair with the same name; a reader
 *         sees the first one.
 */
int rill_props_append(char *buf, size_t cap, size_t *len, const char *name, const char *val,
                      size_t vlen);

/**
 * Visitor for rill_props_foreach(): name and value point into the encoded
 * properties and are not NUL-terminated.
 *
 * @return 0 to continue, anything else to stop the walk and have
 *         rill_props_foreach() return that value.
 */
typedef int (*rill_props_visit_fn)(void *arg, const char *name, size_t nlen, const char *val,
                                   size_t vlen);

/**
 * Call fn on each pair in order.
 *
 * @param[in] props  encoded properties; may be NULL when len is 0.
 * @param[in] len    their length in bytes.
 * @param[in] fn     visitor.
 * @param[in] arg    passed to fn.
 * @return 0 after the last pair; fn's nonzero return if it stopped the walk;
 *         RILL_ECORRUPT at the first malformed pair (a name without 0x01, a
 *         value without 0x02, an empty name, bytes after the last 0x02) -
 *         fn has already seen the pairs before it. Validate first when that
 *         matters.
 * @remark Thread-safe as long as fn is; no allocation.
 */
int rill_props_foreach(const char *props, size_t len, rill_props_visit_fn fn, void *arg);

/**
 * Check that props is a well-formed encoding.
 *
 * @param[in] props  encoded properties; may be NULL when len is 0.
 * @param[in] len    their length in bytes; 0 (no properties) is valid.
 * @return 0 or RILL_ECORRUPT.
 * @remark Thread-safe, no allocation. Call it where properties enter Rill
 *         (a producer's request) so later readers can trust them.
 */
int rill_props_validate(const char *props, size_t len);

#endif

/*
 * log.h - leveled, timestamped logging for every Rill module.
 *
 * One line per record, written with a single write(2) so lines from many
 * threads never interleave:
 *
 *     2026-11-27T15:49:20.123+0000 INFO  [store] commitlog recovered to 4096
 *
 * The timestamp is local time with milliseconds and the UTC offset. A record
 * longer than RILL_LOG_LINE_BYTES_MAX is cut and ends in "...". Records go to
 * stderr until rill_log_set_file() names a file. The LOG_* macros test the
 * level before evaluating their arguments, so a filtered DEBUG line costs one
 * function call and a compare.
 */
#ifndef RILL_COMMON_LOG_H
#define RILL_COMMON_LOG_H

/** Longest line written, in bytes, including the trailing newline. */
#define RILL_LOG_LINE_BYTES_MAX 4096

/** Severity of a record; a record is written when its level >= the current level. */
typedef enum {
    RILL_LOG_DEBUG = 0, /**< detail for developers */
    RILL_LOG_INFO,      /**< normal lifecycle events (the default threshold) */
    RILL_LOG_WARN,      /**< something odd that Rill handled */
    RILL_LOG_ERROR,     /**< an operation failed */
} rill_log_level_t;

/**
 * Set the threshold below which records are dropped.
 *
 * @param[in] level  new threshold; RILL_LOG_INFO until first set.
 * @remark Thread-safe; other threads see the new level on their next record.
 */
void rill_log_set_level(rill_log_level_t level);

/**
 * Current threshold.
 *
 * @return the level set by rill_log_set_level(), RILL_LOG_INFO by default.
 * @remark Thread-safe.
 */
rill_log_level_t rill_log_get_level(void);

/**
 * Send records to a file instead of stderr, or back to stderr.
 *
 * @param[in] path  file to append to (created with mode 0644 if missing), or
 *                  NULL for stderr, the default.
 * @return 0, or the errno of open(2) (the previous destination stays in use).
 * @remark Thread-safe: records being written concurrently finish on the old
 *         destination, which is closed once they have (stderr is never closed).
 */
int rill_log_set_file(const char *path);

/**
 * Parse a level name.
 *
 * @param[in]  s    "debug", "info", "warn" or "error", any case.
 * @param[out] out  the level; written only on success.
 * @return 0, or RILL_EINVAL if s is NULL or no level's name.
 * @remark Thread-safe.
 */
int rill_log_parse_level(const char *s, rill_log_level_t *out);

/**
 * Name of a level as written in log lines ("DEBUG", "INFO", "WARN", "ERROR").
 *
 * @param[in] level  a level.
 * @return a static string; "?" for a value outside the enum.
 * @remark Thread-safe.
 */
const char *rill_log_level_name(rill_log_level_t level);

/**
 * Write one record if level passes the threshold.
 *
 * @param[in] level   severity.
 * @param[in] module  short subsystem name shown in brackets ("store", "kv");
 *                    NULL shows "-".
 * @param[in] fmt     printf format of the text; no trailing newline needed.
 * @remark Thread-safe. Never fails visibly: a record that cannot be written
 *         is dropped. errno is preserved, so callers may log before they
 *         return errno.
 */
void rill_log(rill_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Log at a level; arguments are not evaluated when the level is filtered out. */
#define RILL_LOG_AT(level, module, ...)                                                            \
    do {                                                                                           \
        if ((level) >= rill_log_get_level())                                                       \
            rill_log((level), (module), __VA_ARGS__);                                              \
    } while (0)

#define LOG_DEBUG(module, ...) RILL_LOG_AT(RILL_LOG_DEBUG, module, __VA_ARGS__)
#define LOG_INFO(module, ...)  RILL_LOG_AT(RILL_LOG_INFO, module, __VA_ARGS__)
#define LOG_WARN(module, ...)  RILL_LOG_AT(RILL_LOG_WARN, module, __VA_ARGS__)
#define LOG_ERROR(module, ...) RILL_LOG_AT(RILL_LOG_ERROR, module, __VA_ARGS__)

#endif

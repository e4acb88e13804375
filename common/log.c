/*
 * log.c - formats a record into one stack buffer and writes it with one
 * write(2).
 *
 * Design notes: two pieces of shared state. The threshold is an atomic read
 * on every LOG_* call and written rarely. The destination fd is guarded by
 * log_fd_lock: writers hold it shared while they write, rill_log_set_file()
 * holds it exclusive to swap the fd, so an fd is never closed while a write
 * on it is in flight. No allocation, no lock other than that one, and errno
 * is restored, so logging is safe on every error path.
 */
#include "common/log.h"

#include "common/clock.h"
#include "common/errors.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static atomic_int log_level = RILL_LOG_INFO;
static pthread_rwlock_t log_fd_lock = PTHREAD_RWLOCK_INITIALIZER;
static int log_fd = STDERR_FILENO; /* guarded by log_fd_lock */

/* Padded to five columns so the module lines up after every level. */
static const char *const level_column[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
static const char *const level_name[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void rill_log_set_level(rill_log_level_t level)
{
    assert(level >= RILL_LOG_DEBUG && level <= RILL_LOG_ERROR);
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

rill_log_level_t rill_log_get_level(void)
{
    return (rill_log_level_t)atomic_load_explicit(&log_level, memory_order_relaxed);
}

const char *rill_log_level_name(rill_log_level_t level)
{
    if (level < RILL_LOG_DEBUG || level > RILL_LOG_ERROR)
        return "?";
    return level_name[level];
}

int rill_log_parse_level(const char *s, rill_log_level_t *out)
{
    if (s == NULL)
        return RILL_EINVAL;
    for (int i = RILL_LOG_DEBUG; i <= RILL_LOG_ERROR; i++) {
        if (strcasecmp(s, level_name[i]) == 0) {
            *out = (rill_log_level_t)i;
            return 0;
        }
    }
    return RILL_EINVAL;
}

int rill_log_set_file(const char *path)
{
    int fd = STDERR_FILENO;
    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return errno;
    }
    pthread_rwlock_wrlock(&log_fd_lock);
    int old = log_fd;
    log_fd = fd;
    pthread_rwlock_unlock(&log_fd_lock);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

/* Write the whole line; only a signal or a pipe can make write(2) short. */
static void write_line(int fd, const char *line, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, line, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        line += w;
        len -= (size_t)w;
    }
}

void rill_log(rill_log_level_t level, const char *module, const char *fmt, ...)
{
    assert(level >= RILL_LOG_DEBUG && level <= RILL_LOG_ERROR);
    if (level < rill_log_get_level())
        return;

    int saved_errno = errno;
    char line[RILL_LOG_LINE_BYTES_MAX];
    char stamp[RILL_TIME_TZ_TEXT_BYTES];
    uint64_t now_ms = rill_now_ms();
    if (rill_format_time_ms_tz(now_ms, stamp, sizeof(stamp)) != 0)
        snprintf(stamp, sizeof(stamp), "%" PRIu64, now_ms); /* a clock beyond year 9999 */

    /* Text fills at most sizeof(line) - 1 bytes; the byte after it, where
     * vsnprintf puts its NUL, becomes the newline. */
    const size_t room = sizeof(line);
    int cut = 0;
    int n = snprintf(line, room, "%s %s [%s] ", stamp, level_column[level], module ? module : "-");
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len > room - 1) {
        len = room - 1;
        cut = 1;
    }

    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(line + len, room - len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n > room - 1 - len) {
        len = room - 1;
        cut = 1;
    } else if (n > 0) {
        len += (size_t)n;
    }
    if (cut) /* mark the cut so a reader knows the record is incomplete */
        memcpy(line + len - 3, "...", 3);
    line[len++] = '\n';

    pthread_rwlock_rdlock(&log_fd_lock);
    write_line(log_fd, line, len);
    pthread_rwlock_unlock(&log_fd_lock);
    errno = saved_errno;
}

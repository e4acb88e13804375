/*
 * timeparse.h - the times the CLI accepts and prints.
 *
 * Accepted (cli_parse_time):
 *   1763805600000            epoch milliseconds (digits only)
 *   2026-11-22T10:00:00      local time; also "2026-11-22 10:00:00",
 *   2026-11-22T10:00         "...:00.250" (milliseconds) and a bare
 *   2026-11-22               date (midnight)
 *   -15m  -2h  -1d  -30s     relative to now (past); "+10m" is in the future,
 *   -500ms                   "now" is now
 * Printed (cli_format_time): local ISO time with milliseconds,
 * "2026-11-22T10:00:00.250".
 */
#ifndef RILL_CLI_TIMEPARSE_H
#define RILL_CLI_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/** Room for cli_format_time()'s output, NUL included. */
#define CLI_TIME_BYTES 32

/**
 * Parse a time.
 * @param[in]  s       the text.
 * @param[in]  now_ms  "now" for relative times (epoch ms).
 * @param[out] out_ms  epoch ms, written on success.
 * @return 0 or RILL_EINVAL.
 */
int cli_parse_time(const char *s, int64_t now_ms, int64_t *out_ms);

/** Format epoch ms as local ISO time into buf (CLI_TIME_BYTES); returns buf. */
char *cli_format_time(int64_t ms, char *buf, size_t cap);

/** Wall clock, epoch ms. */
int64_t cli_now_ms(void);

#endif

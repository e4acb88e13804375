/*
 * output.h - how the CLI prints: one table type that renders either as
 * aligned text for people (numeric columns right-aligned, "-" for missing
 * values) or as a JSON array of objects for scripts (--json), so every
 * listing command gets both from one piece of code; plus safe printing of
 * message bodies, which may be binary.
 */
#ifndef RILL_CLI_OUTPUT_H
#define RILL_CLI_OUTPUT_H

#include <cJSON.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Columns of one table, and rows (grown as added; a CLI prints a bounded listing). */
#define OUT_COLS_MAX 16

/** A column: the title shown to people and the key used in JSON. */
typedef struct out_col {
    const char *title;
    const char *key;
} out_col_t;

typedef struct out_table out_table_t;

/** A table with n columns (<= OUT_COLS_MAX); aborts when out of memory (a CLI). */
out_table_t *out_table_new(const out_col_t *cols, size_t n);
void out_table_free(out_table_t *t);
/** Start a new row; cells are then added left to right. */
void out_row(out_table_t *t);
/** A text cell; NULL is shown as "-" and is null in JSON. */
void out_str(out_table_t *t, const char *s);
/** An integer cell. */
void out_int(out_table_t *t, int64_t v);
/** A number with `decimals` digits after the point in text. */
void out_num(out_table_t *t, double v, int decimals);
/** A time (epoch ms): local ISO text for people, the number in JSON; 0 shows "-" / null. */
void out_time(out_table_t *t, int64_t ms);
/** A boolean cell. */
void out_bool(out_table_t *t, bool v);
/** Rows added so far. */
size_t out_rows(const out_table_t *t);

/** Print aligned text with a header line. */
void out_table_print(const out_table_t *t, FILE *out);
/** The table as a JSON array of objects (caller owns it). */
cJSON *out_table_json(const out_table_t *t);

/** Print a JSON value on one line with a newline, and free it. */
void out_json_print(cJSON *v, FILE *out);

/** Report a deletion on stdout: `{"<kind>": name, "deleted": true}` or "<kind> <name> deleted". */
void out_deleted(bool json, const char *kind, const char *name);

/**
 * Escape a body for a terminal: printable ASCII as is, \n \t \r \\ as
 * escapes, any other byte as \xNN; at most max_out bytes of output (then
 * "..."). Returns a malloc'd string (aborts when out of memory).
 */
char *out_escape(const void *data, size_t len, size_t max_out);

/**
 * Whether a body is text a JSON string can hold as is: valid UTF-8 with no
 * control characters other than \n, \r, \t.
 */
bool out_is_text(const void *data, size_t len);

/** Base64 of data (malloc'd, aborts when out of memory). */
char *out_base64(const void *data, size_t len);

/** Aborting allocation helpers for the CLI. */
void *out_xmalloc(size_t n);
char *out_xstrdup(const char *s);

#endif

/*
 * output.c - tables that print as aligned text or as JSON, and safe body
 * printing (see output.h).
 *
 * A cell keeps both renderings: its text (what people see) and a JSON value
 * (what scripts get), made when the cell is added. A column is right-aligned
 * in text when every non-empty cell in it is numeric.
 */
#include "cli/output.h"

#include "cli/timeparse.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_cell {
    char *text;
    cJSON *json;
    bool numeric;
} out_cell_t;

struct out_table {
    size_t n_cols;
    out_col_t cols[OUT_COLS_MAX];
    size_t n_rows, cap_rows;
    out_cell_t *cells; /* n_rows * n_cols */
    size_t cur_col;    /* next cell of the last row */
};

void *out_xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL) {
        fputs("rill: out of memory\n", stderr);
        abort();
    }
    return p;
}

char *out_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = out_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

out_table_t *out_table_new(const out_col_t *cols, size_t n)
{
    if (n > OUT_COLS_MAX)
        abort(); /* a programmer error: tables are declared statically */
    out_table_t *t = out_xmalloc(sizeof(*t));
    t->n_cols = n;
    memcpy(t->cols, cols, n * sizeof(*cols));
    return t;
}

void out_table_free(out_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
        free(t->cells[i].text);
        cJSON_Delete(t->cells[i].json);
    }
    free(t->cells);
    free(t);
}

void out_row(out_table_t *t)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        out_cell_t *c = realloc(t->cells, cap * t->n_cols * sizeof(*c));
        if (c == NULL) {
            fputs("rill: out of memory\n", stderr);
            abort();
        }
        t->cells = c;
        t->cap_rows = cap;
    }
    memset(&t->cells[t->n_rows * t->n_cols], 0, t->n_cols * sizeof(*t->cells));
    t->n_rows++;
    t->cur_col = 0;
}

size_t out_rows(const out_table_t *t)
{
    return t->n_rows;
}

static void add_cell(out_table_t *t, char *text, cJSON *json, bool numeric)
{
    if (t->n_rows == 0 || t->cur_col >= t->n_cols)
        abort(); /* more cells than columns: a programmer error */
    out_cell_t *c = &t->cells[(t->n_rows - 1) * t->n_cols + t->cur_col++];
    c->text = text;
    c->json = json;
    c->numeric = numeric;
}

void out_str(out_table_t *t, const char *s)
{
    if (s == NULL)
        add_cell(t, out_xstrdup("-"), cJSON_CreateNull(), false);
    else
        add_cell(t, out_xstrdup(s), cJSON_CreateString(s), false);
}

void out_int(out_table_t *t, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    add_cell(t, out_xstrdup(buf), cJSON_CreateNumber((double)v), true);
}

void out_num(out_table_t *t, double v, int decimals)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    add_cell(t, out_xstrdup(buf), cJSON_CreateNumber(v), true);
}

void out_time(out_table_t *t, int64_t ms)
{
    if (ms <= 0) {
        add_cell(t, out_xstrdup("-"), cJSON_CreateNull(), false);
        return;
    }
    char buf[CLI_TIME_BYTES];
    cli_format_time(ms, buf, sizeof(buf));
    add_cell(t, out_xstrdup(buf), cJSON_CreateNumber((double)ms), false);
}

void out_bool(out_table_t *t, bool v)
{
    add_cell(t, out_xstrdup(v ? "true" : "false"), cJSON_CreateBool(v), false);
}

void out_table_print(const out_table_t *t, FILE *out)
{
    size_t width[OUT_COLS_MAX];
    bool right[OUT_COLS_MAX];
    for (size_t c = 0; c < t->n_cols; c++) {
        width[c] = strlen(t->cols[c].title);
        right[c] = t->n_rows > 0;
        for (size_t r = 0; r < t->n_rows; r++) {
            const out_cell_t *cell = &t->cells[r * t->n_cols + c];
            const char *s = cell->text ? cell->text : "";
            if (strlen(s) > width[c])
                width[c] = strlen(s);
            if (!cell->numeric && strcmp(s, "-") != 0)
                right[c] = false;
        }
    }
    for (size_t c = 0; c < t->n_cols; c++) {
        bool last = c + 1 == t->n_cols;
        if (right[c])
            fprintf(out, "%*s", (int)width[c], t->cols[c].title);
        else
            fprintf(out, "%-*s", last ? 0 : (int)width[c], t->cols[c].title);
        fputs(last ? "\n" : "  ", out);
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const out_cell_t *cell = &t->cells[r * t->n_cols + c];
            const char *s = cell->text ? cell->text : "";
            bool last = c + 1 == t->n_cols;
            if (right[c])
                fprintf(out, "%*s", (int)width[c], s);
            else
                fprintf(out, "%-*s", last ? 0 : (int)width[c], s);
            fputs(last ? "\n" : "  ", out);
        }
    }
}

cJSON *out_table_json(const out_table_t *t)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t r = 0; r < t->n_rows; r++) {
        cJSON *obj = cJSON_CreateObject();
        for (size_t c = 0; c < t->n_cols; c++) {
            const out_cell_t *cell = &t->cells[r * t->n_cols + c];
            cJSON_AddItemToObject(obj, t->cols[c].key,
                                  cell->json ? cJSON_Duplicate(cell->json, 1) : cJSON_CreateNull());
        }
        cJSON_AddItemToArray(arr, obj);
    }
    return arr;
}

void out_json_print(cJSON *v, FILE *out)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s != NULL) {
        fputs(s, out);
        fputc('\n', out);
        cJSON_free(s);
    }
    cJSON_Delete(v);
}

char *out_escape(const void *data, size_t len, size_t max_out)
{
    const unsigned char *p = data;
    /* an escape is at most 4 bytes per input byte */
    if (len < (SIZE_MAX - 8) / 4 && max_out > len * 4)
        max_out = len * 4;
    size_t cap = max_out + 8;
    char *out = out_xmalloc(cap);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char esc[8];
        unsigned char ch = p[i];
        if (ch == '\n')
            strcpy(esc, "\\n");
        else if (ch == '\t')
            strcpy(esc, "\\t");
        else if (ch == '\r')
            strcpy(esc, "\\r");
        else if (ch == '\\')
            strcpy(esc, "\\\\");
        else if (ch >= 0x20 && ch < 0x7f)
            esc[0] = (char)ch, esc[1] = '\0';
        else
            snprintf(esc, sizeof(esc), "\\x%02x", ch);
        size_t n = strlen(esc);
        if (o + n > max_out) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, esc, n);
        o += n;
    }
    out[o] = '\0';
    return out;
}

bool out_is_text(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
                return false;
            if (c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0)
            n = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            n = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            n = 4, cp = c & 0x07;
        else
            return false;
        if (i + n > len)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += n;
    }
    return true;
}

char *out_base64(const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = out_xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

void out_deleted(bool json, const char *kind, const char *name)
{
    if (!json) {
        printf("%s %s deleted\n", kind, name);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, kind, name);
    cJSON_AddBoolToObject(o, "deleted", 1);
    out_json_print(o, stdout);
}

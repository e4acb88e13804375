/*
 * config.c - parses, validates and stores settings described by a schema.
 *
 * Everything funnels into cfg_apply(), which parses one value for one key
 * and writes its field, so a value means the same from a default, a file
 * line or a command-line override. Calls that apply many values work on a
 * scratch copy of the schema's fields and copy it back only when all of
 * them succeeded (cfg_scratch_*), which makes them all-or-nothing.
 *
 * Files are read by libinih through our own line reader. The reader counts
 * lines (so error messages carry the line the handler is working on),
 * rejects [sections], overlong lines and NUL bytes itself, and strips
 * leading whitespace so inih never treats an indented line as a
 * continuation of the previous value.
 */
#include "common/config.h"

#include "common/errors.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

/* Longest rill_cfg_set() message kept when a file or argv prefix is added. */
#define CFG_MSG_BYTES_MAX 1024

__attribute__((format(printf, 3, 4))) static int cfg_fail(char *err, size_t errcap, const char *fmt,
                                                          ...)
{
    if (err != NULL && errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return RILL_ECONFIG;
}

/* Bytes of the field a key describes; asserts the key is well-formed. */
static size_t cfg_field_size(const rill_cfg_key_t *k)
{
    switch (k->type) {
    case RILL_CFG_INT:
        assert(k->min <= k->max);
        return sizeof(int64_t);
    case RILL_CFG_BOOL:
        return sizeof(bool);
    case RILL_CFG_STRING:
        assert(k->size > 0);
        return k->size;
    case RILL_CFG_ENUM:
        assert(k->choices != NULL && k->choices[0] != NULL);
        return sizeof(int);
    }
    assert(!"unknown rill_cfg_type_t");
    return 0;
}

static const rill_cfg_key_t *cfg_find_n(const rill_cfg_schema_t *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->count; i++) {
        const rill_cfg_key_t *k = &s->keys[i];
        if (strncmp(k->name, name, len) == 0 && k->name[len] == '\0')
            return k;
    }
    return NULL;
}

const rill_cfg_key_t *rill_cfg_find(const rill_cfg_schema_t *s, const char *key)
{
    return cfg_find_n(s, key, strlen(key));
}

/* Decimal with an optional sign and nothing else: no spaces, no hex, no overflow. */
static bool cfg_parse_int(const char *v, long long *out)
{
    const char *digits = (v[0] == '+' || v[0] == '-') ? v + 1 : v;
    if (!isdigit((unsigned char)digits[0]))
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return false;
    *out = x;
    return true;
}

static int cfg_enum_error(const rill_cfg_key_t *k, const char *value, char *err, size_t errcap)
{
    char list[512];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; k->choices[i] != NULL && used < sizeof(list); i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", k->choices[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return cfg_fail(err, errcap, "bad value '%s' for key '%s': expected one of %s", value, k->name,
                    list);
}

/* Parse value for k and, only if it is valid, store it in target's field. */
static int cfg_apply(const rill_cfg_key_t *k, void *target, const char *value, char *err,
                     size_t errcap)
{
    char *field = (char *)target + k->offset;
    (void)cfg_field_size(k); /* for its asserts on the schema entry */

    switch (k->type) {
    case RILL_CFG_INT: {
        long long x;
        if (!cfg_parse_int(value, &x) || x < k->min || x > k->max)
            return cfg_fail(err, errcap,
                            "bad value '%s' for key '%s': expected an integer in [%lld, %lld]",
                            value, k->name, k->min, k->max);
        *(int64_t *)field = (int64_t)x;
        return 0;
    }
    case RILL_CFG_BOOL:
        if (strcasecmp(value, "true") == 0)
            *(bool *)field = true;
        else if (strcasecmp(value, "false") == 0)
            *(bool *)field = false;
        else
            return cfg_fail(err, errcap, "bad value '%s' for key '%s': expected true or false",
                            value, k->name);
        return 0;
    case RILL_CFG_STRING: {
        size_t len = strlen(value);
        if (len >= k->size)
            return cfg_fail(err, errcap, "value for key '%s' is too long: %zu bytes, at most %zu",
                            k->name, len, k->size - 1);
        /* rill_cfg_print() writes one line per key; a line break would split it. */
        if (strpbrk(value, "\r\n") != NULL)
            return cfg_fail(err, errcap, "bad value for key '%s': line breaks are not allowed",
                            k->name);
        memcpy(field, value, len + 1);
        return 0;
    }
    case RILL_CFG_ENUM:
        for (int i = 0; k->choices[i] != NULL; i++) {
            if (strcmp(value, k->choices[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        return cfg_enum_error(k, value, err, errcap);
    }
    assert(!"unknown rill_cfg_type_t");
    return RILL_EINVAL;
}

int rill_cfg_set(const rill_cfg_schema_t *s, void *target, const char *key, const char *value,
                 char *err, size_t errcap)
{
    const rill_cfg_key_t *k = rill_cfg_find(s, key);
    if (k == NULL)
        return cfg_fail(err, errcap, "unknown key '%s'", key);
    if (value == NULL)
        return cfg_fail(err, errcap, "missing value for key '%s'", key);
    if (s->check) {
        int rc = s->check(k, value, err, errcap);
        if (rc != 0)
            return rc;
    }
    return cfg_apply(k, target, value, err, errcap);
}

/*
 * Scratch copy of the bytes spanned by the schema's fields. Settings are
 * applied to the copy, then each field is copied back, so other fields of
 * the target struct (and padding) are never touched.
 */
typedef struct cfg_scratch {
    char *bytes;
    size_t extent;
} cfg_scratch_t;

static int cfg_scratch_begin(cfg_scratch_t *sc, const rill_cfg_schema_t *s, const void *target,
                             char *err, size_t errcap)
{
    size_t extent = 0;
    for (size_t i = 0; i < s->count; i++) {
        size_t end = s->keys[i].offset + cfg_field_size(&s->keys[i]);
        if (end > extent)
            extent = end;
    }
    sc->extent = extent;
    sc->bytes = malloc(extent > 0 ? extent : 1);
    if (sc->bytes == NULL) {
        cfg_fail(err, errcap, "out of memory");
        return ENOMEM;
    }
    memcpy(sc->bytes, target, extent);
    return 0;
}

static void cfg_scratch_commit(const cfg_scratch_t *sc, const rill_cfg_schema_t *s, void *target)
{
    for (size_t i = 0; i < s->count; i++) {
        const rill_cfg_key_t *k = &s->keys[i];
        memcpy((char *)target + k->offset, sc->bytes + k->offset, cfg_field_size(k));
    }
}

int rill_cfg_defaults(const rill_cfg_schema_t *s, void *target, char *err, size_t errcap)
{
    cfg_scratch_t sc;
    char msg[CFG_MSG_BYTES_MAX];
    int rc = cfg_scratch_begin(&sc, s, target, err, errcap);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < s->count; i++) {
        const rill_cfg_key_t *k = &s->keys[i];
        rc = cfg_apply(k, sc.bytes, k->def ? k->def : "", msg, sizeof(msg));
        if (rc != 0) {
            cfg_fail(err, errcap, "schema '%s': bad default: %s", s->name, msg);
            goto fail;
        }
    }
    cfg_scratch_commit(&sc, s, target);
    free(sc.bytes);
    return 0;

fail:
    free(sc.bytes);
    return rc;
}

/* ---- files ---------------------------------------------------------------- */

/* State shared by the line reader and the key handler while inih parses a file. */
typedef struct cfg_file {
    const rill_cfg_schema_t *schema;
    void *target; /* the scratch copy */
    const char *path;
    FILE *f;
    int lineno;  /* line most recently handed to inih */
    bool failed; /* err holds the first error; stop reading */
    int rc;      /* error code to return when failed */
    char *err;
    size_t errcap;
} cfg_file_t;

__attribute__((format(printf, 2, 3))) static void cfg_file_fail(cfg_file_t *cf, const char *fmt,
                                                                ...)
{
    char msg[CFG_MSG_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!cf->failed)
        cfg_fail(cf->err, cf->errcap, "%s:%d: %s", cf->path, cf->lineno, msg);
    cf->failed = true;
    cf->rc = RILL_ECONFIG;
}

/*
 * inih's ini_reader: hands inih one whole line per call, so cf->lineno is
 * the line inih is parsing. Returning NULL ends the parse (at EOF, or after
 * an error this reader found itself).
 */
static char *cfg_read_line(char *line, int cap, void *stream)
{
    cfg_file_t *cf = stream;
    if (cf->failed)
        return NULL;
    assert(cap >= 3);
    /* Room for the content, a newline and the NUL. */
    size_t content_max = (size_t)cap - 2;
    size_t n = 0;
    int c;
    while ((c = getc(cf->f)) != EOF) {
        if (n == 0)
            cf->lineno++;
        if (c != '\n' && n == content_max) {
            cfg_file_fail(cf, "line is longer than %zu bytes", content_max);
            return NULL;
        }
        line[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (n == 0) {
        if (ferror(cf->f)) {
            if (!cf->failed)
                cfg_fail(cf->err, cf->errcap, "%s: read error: %s", cf->path, strerror(errno));
            cf->failed = true;
            cf->rc = RILL_ECONFIG;
        }
        return NULL;
    }
    line[n] = '\0';
    if (strlen(line) != n) {
        cfg_file_fail(cf, "NUL byte in line");
        return NULL;
    }

    size_t lead = 0;
    while (lead < n && line[lead] != '\n' && isspace((unsigned char)line[lead]))
        lead++;
    if (line[lead] == '[') {
        cfg_file_fail(cf, "sections are not supported");
        return NULL;
    }
    memmove(line, line + lead, n - lead + 1);
    return line;
}

/* inih's handler: one call per "key = value" line; returns 0 to report an error. */
static int cfg_on_pair(void *user, const char *section, const char *name, const char *value)
{
    cfg_file_t *cf = user;
    assert(section[0] == '\0'); /* cfg_read_line() stops at any '[' line */
    if (cf->failed)
        return 0;
    char msg[CFG_MSG_BYTES_MAX];
    if (rill_cfg_set(cf->schema, cf->target, name, value, msg, sizeof(msg)) != 0) {
        cfg_file_fail(cf, "%s", msg);
        return 0;
    }
    return 1;
}

/*
 * Debian's libinih exposes its compile-time options as process-wide
 * variables. Rill's dialect: no continuation lines, no inline comments
 * (values are taken verbatim, as in .properties files), long lines, stop at
 * the first error. Set once; Rill is the only user of inih in the process.
 */
static pthread_once_t cfg_inih_once = PTHREAD_ONCE_INIT;

static void cfg_configure_inih(void)
{
    ini_allow_multiline = false;
    ini_allow_inline_comments = false;
    ini_allow_no_value = false;
    ini_stop_on_first_error = true;
    ini_use_stack = true;
    ini_max_line = RILL_CFG_LINE_BYTES_MAX + 2;
}

/* Parse path into an already-begun scratch copy. */
static int cfg_load_into(const rill_cfg_schema_t *s, void *scratch, const char *path, char *err,
                         size_t errcap)
{
    pthread_once(&cfg_inih_once, cfg_configure_inih);

    cfg_file_t cf = {
        .schema = s,
        .target = scratch,
        .path = path,
        .err = err,
        .errcap = errcap,
    };
    cf.f = fopen(path, "re");
    if (cf.f == NULL)
        return cfg_fail(err, errcap, "%s: cannot open: %s", path, strerror(errno));

    int rc = ini_parse_stream(cfg_read_line, &cf, cfg_on_pair, &cf);
    if (cf.failed) {
        rc = cf.rc;
        goto fail;
    }
    if (rc == -2) {
        cfg_fail(err, errcap, "%s: out of memory", path);
        rc = ENOMEM;
        goto fail;
    }
    if (rc != 0) {
        /* The only error inih finds by itself: a line without '=' or ':'. */
        cfg_fail(err, errcap, "%s:%d: expected 'key = value'", path, rc);
        rc = RILL_ECONFIG;
        goto fail;
    }
    fclose(cf.f);
    return 0;

fail:
    fclose(cf.f);
    return rc;
}

int rill_cfg_load_file(const rill_cfg_schema_t *s, void *target, const char *path, char *err,
                       size_t errcap)
{
    cfg_scratch_t sc;
    int rc = cfg_scratch_begin(&sc, s, target, err, errcap);
    if (rc != 0)
        return rc;
    rc = cfg_load_into(s, sc.bytes, path, err, errcap);
    if (rc != 0)
        goto fail;
    cfg_scratch_commit(&sc, s, target);
    free(sc.bytes);
    return 0;

fail:
    free(sc.bytes);
    return rc;
}

/* ---- printing --------------------------------------------------------------- */

static void cfg_print_value(const rill_cfg_key_t *k, const void *target, FILE *out)
{
    const char *field = (const char *)target + k->offset;
    switch (k->type) {
    case RILL_CFG_INT:
        fprintf(out, "%" PRId64, *(const int64_t *)field);
        break;
    case RILL_CFG_BOOL:
        fputs(*(const bool *)field ? "true" : "false", out);
        break;
    case RILL_CFG_STRING:
        fprintf(out, "%.*s", (int)strnlen(field, k->size), field);
        break;
    case RILL_CFG_ENUM: {
        int idx = *(const int *)field;
        int n = 0;
        while (k->choices[n] != NULL)
            n++;
        if (idx >= 0 && idx < n)
            fputs(k->choices[idx], out);
        else
            fprintf(out, "%d", idx); /* not a choice: loading it back will say so */
        break;
    }
    }
}

int rill_cfg_print(const rill_cfg_schema_t *s, const void *target, FILE *out)
{
    for (size_t i = 0; i < s->count; i++) {
        const rill_cfg_key_t *k = &s->keys[i];
        fprintf(out, "%s=", k->name);
        cfg_print_value(k, target, out);
        fputc('\n', out);
    }
    return ferror(out) ? EIO : 0;
}

int rill_cfg_print_help(const rill_cfg_schema_t *s, FILE *out)
{
    static const char *const type_name[] = {"int", "bool", "string", "enum"};
    for (size_t i = 0; i < s->count; i++) {
        const rill_cfg_key_t *k = &s->keys[i];
        fprintf(out, "  --%s=<%s>", k->name, type_name[k->type]);
        if (k->type == RILL_CFG_INT)
            fprintf(out, " [%lld, %lld]", k->min, k->max);
        if (k->type == RILL_CFG_ENUM) {
            for (size_t j = 0; k->choices[j] != NULL; j++)
                fprintf(out, "%s%s", j ? "|" : " ", k->choices[j]);
        }
        fprintf(out, " (default: %s)\n      %s\n", k->def ? k->def : "", k->help ? k->help : "");
    }
    return ferror(out) ? EIO : 0;
}

/* ---- command line ----------------------------------------------------------- */

static bool cfg_arg_is_left_alone(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "--print-config") == 0;
}

/*
 * One walk over argv. Pass 0 checks every option and loads the files;
 * pass 1 applies the --key=value overrides, so they win over any file.
 * Returns 0 with *walked set to the number of arguments consumed.
 */
static int cfg_walk_args(const rill_cfg_schema_t *s, void *scratch, int argc, char **argv, int pass,
                         int *walked, char *err, size_t errcap)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (cfg_arg_is_left_alone(a))
            continue;

        if (strcmp(a, "-c") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0')
                return cfg_fail(err, errcap, "option '-c' needs a file name");
            i++;
            if (pass == 0) {
                int rc = cfg_load_into(s, scratch, argv[i], err, errcap);
                if (rc != 0)
                    return rc;
            }
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0 || strcmp(a, "--config") == 0) {
            if (a[8] != '=' || a[9] == '\0')
                return cfg_fail(err, errcap,
                                "option '--config' needs a file name: use --config=FILE");
            if (pass == 0) {
                int rc = cfg_load_into(s, scratch, a + 9, err, errcap);
                if (rc != 0)
                    return rc;
            }
            continue;
        }
        if (a[1] != '-')
            return cfg_fail(err, errcap, "unknown option '%s'", a);

        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const rill_cfg_key_t *k = cfg_find_n(s, name, nlen);
        if (k == NULL)
            return cfg_fail(err, errcap, "unknown option '%.*s'", (int)(nlen + 2), a);
        if (eq == NULL)
            return cfg_fail(err, errcap, "option '%s' needs a value: use %s=VALUE", a, a);
        if (pass == 1) {
            int rc = s->check ? s->check(k, eq + 1, err, errcap) : 0;
            if (rc == 0)
                rc = cfg_apply(k, scratch, eq + 1, err, errcap);
            if (rc != 0)
                return rc;
        }
    }
    *walked = i - 1;
    return 0;
}

int rill_cfg_parse_args(const rill_cfg_schema_t *s, void *target, int argc, char **argv,
                        int *consumed_out, char *err, size_t errcap)
{
    cfg_scratch_t sc;
    int walked = 0;
    int rc = cfg_scratch_begin(&sc, s, target, err, errcap);
    if (rc != 0)
        return rc;
    for (int pass = 0; pass < 2; pass++) {
        rc = cfg_walk_args(s, sc.bytes, argc, argv, pass, &walked, err, errcap);
        if (rc != 0)
            goto fail;
    }
    cfg_scratch_commit(&sc, s, target);
    if (consumed_out != NULL)
        *consumed_out = walked;
    free(sc.bytes);
    return 0;

fail:
    free(sc.bytes);
    return rc;
}

/*
 * config.h - schema-driven configuration in RocketMQ's broker.conf style.
 *
 * A module describes its settings once, as a table of rill_cfg_key_t (name,
 * type, offsetof() the field in its config struct, default, range, help),
 * and gets defaults, validation, file loading, command-line overrides and
 * printing from this one implementation, the way librdkafka's
 * rd_kafka_conf_set(conf, name, value, errstr, size) works. Key names are
 * RocketMQ's own ("listenPort", "flushDiskType"), matched case-sensitively.
 *
 * File format: one "key = value" per line (':' works as '=' too), blank
 * lines, and whole-line comments starting with '#' or ';'. Whitespace
 * around keys and values is trimmed; everything else after '=' is the
 * value, so "a = x # y" sets a to "x # y" as a Java .properties file would.
 * No [sections], no continuation lines, no line longer than
 * RILL_CFG_LINE_BYTES_MAX bytes. A key given twice keeps its last value.
 *
 * Every call that takes err writes a one-line, NUL-terminated message there
 * on error only (truncated to errcap); err may be NULL when errcap is 0.
 * Calls that apply several settings are all-or-nothing: on any error the
 * target struct is left exactly as it was.
 */
#ifndef RILL_COMMON_CONFIG_H
#define RILL_COMMON_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/** Longest line in a config file, in bytes, without its newline. */
#define RILL_CFG_LINE_BYTES_MAX 4096

/** How a value is parsed and which C type its field has. */
typedef enum {
    RILL_CFG_INT,    /**< int64_t field; decimal with optional sign, within [min, max] */
    RILL_CFG_BOOL,   /**< bool field; "true" or "false", any case */
    RILL_CFG_STRING, /**< char[size] field; the value plus its NUL must fit */
    RILL_CFG_ENUM,   /**< int field holding the index of the value in choices */
} rill_cfg_type_t;

/** One setting. Tables of these are static const data owned by their module. */
typedef struct rill_cfg_key {
    const char *name;           /**< RocketMQ key name, e.g. "flushDiskType" */
    rill_cfg_type_t type;       /**< value syntax and field type */
    size_t offset;              /**< offsetof() the field in the target struct */
    size_t size;                /**< STRING: capacity of the char[] field incl. NUL; else 0 */
    const char *def;            /**< default, as text, parsed like a value; NULL means "" */
    long long min, max;         /**< INT: inclusive range */
    const char *const *choices; /**< ENUM: NULL-terminated names (case-sensitive) */
    const char *help;           /**< one line for --help */
} rill_cfg_key_t;

/** A named table of keys, e.g. { "broker", broker_keys, N }. */
typedef struct rill_cfg_schema {
    const char *name;           /**< shown in messages about the schema itself */
    const rill_cfg_key_t *keys; /**< count keys, names unique */
    size_t count;               /**< number of keys */
    /**
     * Optional (NULL: none): a further check of a value set by rill_cfg_set(),
     * a file or an argument, before it is parsed into its field; 0 accepts,
     * RILL_ECONFIG with err set refuses (the field stays unchanged, and file
     * errors get their "PATH:LINE: " prefix). Defaults are not checked.
     */
    int (*check)(const rill_cfg_key_t *k, const char *value, char *err, size_t errcap);
} rill_cfg_schema_t;

/**
 * Set every key of the schema to its default.
 *
 * @param[in]  s       the schema.
 * @param[out] target  the config struct; only the schema's fields are written.
 * @param[out] err     message on error, e.g. "schema 'broker': bad default ...".
 * @param[in]  errcap  size of err.
 * @return 0; RILL_ECONFIG if a default does not parse (a bug in the schema;
 *         target unchanged); ENOMEM.
 * @remark Not thread-safe for the same target.
 */
int rill_cfg_defaults(const rill_cfg_schema_t *s, void *target, char *err, size_t errcap);

/**
 * Parse one value and store it in its field.
 *
 * @param[in]  s       the schema.
 * @param[out] target  the config struct; the key's field changes only on success.
 * @param[in]  key     key name, case-sensitive.
 * @param[in]  value   the value as text (not trimmed here).
 * @param[out] err     message on error:
 *                     "unknown key 'foo'",
 *                     "bad value 'abc' for key 'listenPort': expected an integer in [1, 65535]",
 *                     "bad value 'x' for key 'autoCreateTopicEnable': expected true or false",
 *                     "bad value 'x' for key 'flushDiskType': expected one of ASYNC_FLUSH,
 * SYNC_FLUSH", "value for key 'brokerName' is too long: 80 bytes, at most 63", "bad value for key
 * 'brokerName': line breaks are not allowed".
 * @param[in]  errcap  size of err.
 * @return 0 or RILL_ECONFIG.
 * @remark Not thread-safe for the same target. No allocation.
 */
int rill_cfg_set(const rill_cfg_schema_t *s, void *target, const char *key, const char *value,
                 char *err, size_t errcap);

/**
 * Apply every "key = value" line of a file, in order.
 *
 * @param[in]  s       the schema.
 * @param[out] target  the config struct; keys not in the file keep their
 *                     values; unchanged on error.
 * @param[in]  path    file to read.
 * @param[out] err     message on error, the first error only:
 *                     "PATH:LINE: <rill_cfg_set message>" (e.g.
 *                     "broker.conf:3: unknown key 'flushDisk'"),
 *                     "PATH:LINE: sections are not supported",
 *                     "PATH:LINE: expected 'key = value'",
 *                     "PATH:LINE: line is longer than 4096 bytes",
 *                     "PATH:LINE: NUL byte in line",
 *                     "PATH: cannot open: No such file or directory",
 *                     "PATH: read error: <strerror>".
 * @param[in]  errcap  size of err.
 * @return 0, RILL_ECONFIG, or ENOMEM.
 * @remark Not thread-safe: libinih's options are process-wide, so load
 *         configuration from one thread at a time (normally at startup).
 */
int rill_cfg_load_file(const rill_cfg_schema_t *s, void *target, const char *path, char *err,
                       size_t errcap);

/**
 * Write every key as a "name=value" line, in schema order. The output is a
 * valid config file that loads back to the same values (string values with
 * leading or trailing whitespace excepted, as loading trims them).
 *
 * @param[in] s       the schema.
 * @param[in] target  the config struct.
 * @param[in] out     stream to write to.
 * @return 0, or EIO if the stream reports an error.
 */
int rill_cfg_print(const rill_cfg_schema_t *s, const void *target, FILE *out);

/**
 * Write a usage table: one line per key with its type, default and help.
 *
 * @param[in] s    the schema.
 * @param[in] out  stream to write to.
 * @return 0, or EIO if the stream reports an error.
 */
int rill_cfg_print_help(const rill_cfg_schema_t *s, FILE *out);

/**
 * Look a key up by name.
 *
 * @param[in] s    the schema.
 * @param[in] key  key name, case-sensitive.
 * @return the key's entry in the schema's table, or NULL.
 */
const rill_cfg_key_t *rill_cfg_find(const rill_cfg_schema_t *s, const char *key);

/**
 * Apply command-line options.
 *
 * Walks argv from index 1 and understands:
 *   - "-c FILE" and "--config=FILE": load FILE as rill_cfg_load_file() does;
 *   - "--key=value": rill_cfg_set(key, value); the value may be empty;
 *   - "-h", "--help", "--print-config": skipped and left for the program,
 *     which looks for them in argv itself;
 *   - "--": ends the options (it is consumed);
 *   - an argument not starting with '-' (or "-" alone): ends the options
 *     (it is not consumed).
 * Anything else starting with '-' is an error. All files are loaded first,
 * in the order given, and then all --key=value overrides in order, so the
 * command line wins over every file whatever the order of the arguments
 * (RocketMQ's broker behaves the same way).
 *
 * @param[in]  s             the schema.
 * @param[out] target        the config struct; unchanged on error.
 * @param[in]  argc          as given to main().
 * @param[in]  argv          as given to main(); not modified.
 * @param[out] consumed_out  if not NULL, receives how many arguments after
 *                           argv[0] were walked (skipped ones and "--"
 *                           included): argv[1 + *consumed_out] is the first
 *                           positional argument. Written only on success.
 * @param[out] err           message on error: "unknown option '-x'",
 *                           "option '-c' needs a file name",
 *                           "option '--listenPort' needs a value: use --listenPort=VALUE",
 *                           or a message from rill_cfg_set()/rill_cfg_load_file().
 * @param[in]  errcap        size of err.
 * @return 0, RILL_ECONFIG, or ENOMEM.
 * @remark Not thread-safe (see rill_cfg_load_file()).
 */
int rill_cfg_parse_args(const rill_cfg_schema_t *s, void *target, int argc, char **argv,
                        int *consumed_out, char *err, size_t errcap);

#endif

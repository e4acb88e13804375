/*
 * cli.h - what the `rill` command's files share: the command table entry,
 * the per-run context (namesrv, --json, -X conf overrides), option parsing
 * helpers common to every command, and the error/exit conventions:
 *
 *   exit 0  success
 *   exit 1  an operation failed: one line on stderr, `rill: <reason>`,
 *           the reason being rill_last_error() of the failing librill call
 *   exit 2  a usage error: `rill: <what>` and a hint to run --help
 *
 * The CLI uses librill's public API (rill.h) only: no protocol code here.
 * One file per noun (topic.c, cluster.c, broker.c, msg.c, group.c, bench.c)
 * registers its verbs in main.c's table.
 */
#ifndef RILL_CLI_H
#define RILL_CLI_H

#include "rill.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_EXIT_OK    0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2

/** -X key=value overrides one run accepts. */
#define CLI_CONF_OVERRIDES_MAX 32
/** Default namesrv when neither -n, $RILL_NAMESRV nor $NAMESRV_ADDR is set. */
#define CLI_NAMESRV_DEFAULT "127.0.0.1:9876"

/* Long-only option ids shared by every command (getopt_long values). */
enum {
    CLI_OPT_NAMESRV = 1000,
    CLI_OPT_JSON,
    CLI_OPT_HELP,
    CLI_OPT_CONF,
    CLI_OPT_FIRST_PRIVATE = 1100, /* commands number their own long options from here */
};

/* The options every command accepts; append to a command's option table. */
#define CLI_COMMON_LONGOPTS                                                                        \
    {"namesrv", required_argument, NULL, CLI_OPT_NAMESRV},                                         \
        {"json", no_argument, NULL, CLI_OPT_JSON}, {"help", no_argument, NULL, CLI_OPT_HELP},      \
        {"conf", required_argument, NULL, CLI_OPT_CONF}, {NULL, 0, NULL, 0}

struct cli_cmd;

/** Per-run state, filled by main.c and the common options. */
typedef struct cli_ctx {
    const struct cli_cmd *cmd; /**< the command being run */
    char **argv;               /**< its arguments, argv[0] = the verb (for option errors) */
    const char *namesrv;       /**< -n/--namesrv, else from the environment, else default */
    bool json;                 /**< --json */
    size_t n_conf;
    const char *conf[CLI_CONF_OVERRIDES_MAX]; /**< -X/--conf "key=value" */
} cli_ctx_t;

typedef int (*cli_cmd_fn)(cli_ctx_t *ctx, int argc, char **argv);

/** One command: `rill NOUN VERB`, optionally reachable by an mqadmin name. */
typedef struct cli_cmd {
    const char *noun, *verb;
    const char *alias; /**< mqadmin name, or NULL */
    cli_cmd_fn fn;
    const char *synopsis; /**< one line: "topic create NAME [-c CLUSTER | -b ADDR] ..." */
    const char *summary;  /**< one line for `rill help` */
    const char *help;     /**< option list and an example, for --help */
} cli_cmd_t;

/** Every command, NULL-terminated (main.c). */
extern const cli_cmd_t cli_commands[];

/* ---- option handling (main.c) ---- */

/**
 * Handle an option every command shares. Call from a command's getopt
 * switch for values it does not know.
 * @return -1 when c was consumed (keep parsing); else the exit code to
 *         return at once (CLI_EXIT_USAGE after an unknown option or a
 *         missing argument). --help prints the command's help and exits 0.
 */
int cli_common_opt(cli_ctx_t *ctx, int c, const char *arg);

/** Print `rill: <fmt...>` and the --help hint on stderr; returns CLI_EXIT_USAGE. */
int cli_usage(const cli_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Print `rill: <reason>` for a failed librill call: rill_last_error() when it
 * says something, else rill_strerror(rc). Returns CLI_EXIT_ERROR.
 */
int cli_fail(int rc);

/** Print `rill: <fmt...>` on stderr; returns CLI_EXIT_ERROR. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print the command's help (synopsis, summary, options, example) to out. */
void cli_print_help(const cli_cmd_t *cmd, FILE *out);

/**
 * A new configuration with namesrv, group (when not NULL) and every -X
 * override set. On error prints the reason and returns NULL.
 */
rill_conf_t *cli_conf(const cli_ctx_t *ctx, const char *group);

/**
 * Apply the -X overrides (again) to conf, so that they win over keys a
 * command sets itself after cli_conf(). 0 or RILL_ECONFIG (printed).
 */
int cli_conf_overrides(const cli_ctx_t *ctx, rill_conf_t *conf);

/** Set one key, printing the reason on error. 0 or RILL_ECONFIG. */
int cli_conf_set(rill_conf_t *conf, const char *key, const char *value);

/** An admin handle for ctx (prints the reason and returns NULL on failure). */
rill_admin_t *cli_admin(const cli_ctx_t *ctx);

/**
 * The name of the only cluster the NameServers know, for create commands
 * given neither -c nor -b.
 * @return 0; else an exit code after printing why (no cluster, several).
 */
int cli_only_cluster(const cli_ctx_t *ctx, rill_admin_t *a, char *out, size_t cap);

/** Parse a decimal integer in [lo, hi]. 0 or RILL_EINVAL. */
int cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);

/** Set by SIGINT / SIGTERM once cli_catch_signals() ran (msg consume, bench). */
extern volatile int cli_stop_requested;
/** Install SIGINT and SIGTERM handlers that set cli_stop_requested. */
void cli_catch_signals(void);

/* ---- commands (one file per noun) ---- */

int cmd_topic_create(cli_ctx_t *ctx, int argc, char **argv);
int cmd_topic_delete(cli_ctx_t *ctx, int argc, char **argv);
int cmd_topic_list(cli_ctx_t *ctx, int argc, char **argv);
int cmd_topic_route(cli_ctx_t *ctx, int argc, char **argv);
int cmd_topic_status(cli_ctx_t *ctx, int argc, char **argv);
int cmd_cluster_list(cli_ctx_t *ctx, int argc, char **argv);
int cmd_broker_status(cli_ctx_t *ctx, int argc, char **argv);
int cmd_broker_config(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_send(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_query_key(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_resend(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_query_time(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_query_id(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_query_offset(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_print(cli_ctx_t *ctx, int argc, char **argv);
int cmd_msg_consume(cli_ctx_t *ctx, int argc, char **argv);
int cmd_group_create(cli_ctx_t *ctx, int argc, char **argv);
int cmd_group_delete(cli_ctx_t *ctx, int argc, char **argv);
int cmd_group_list(cli_ctx_t *ctx, int argc, char **argv);
int cmd_group_progress(cli_ctx_t *ctx, int argc, char **argv);
int cmd_group_reset_offset(cli_ctx_t *ctx, int argc, char **argv);
int cmd_bench_produce(cli_ctx_t *ctx, int argc, char **argv);
int cmd_bench_consume(cli_ctx_t *ctx, int argc, char **argv);

#endif

/*
 * main.c - `rill <noun> <verb> [options]`: the command table, dispatch
 * (mqadmin names as aliases), `rill help`, and the pieces every command
 * shares: the common options, configuration, error and usage printing.
 *
 * Dispatch: argv[1] is a noun ("topic") and argv[2] its verb ("create"), or
 * argv[1] is an mqadmin name ("updateTopic") standing for both. The command
 * then parses its own options with getopt_long, starting at its verb, so
 * options may come before or after positional arguments.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMON_HELP                                                                                \
    "Common options:\n"                                                                            \
    "  -n, --namesrv ADDRS   NameServers, \"host:port;host:port\" (default: $RILL_NAMESRV,\n"        \
    "                        then $NAMESRV_ADDR, then " CLI_NAMESRV_DEFAULT ")\n"                     \
    "  -X, --conf KEY=VALUE  set a librill configuration key (repeatable), e.g.\n"               \
    "                        -X request.timeout.ms=1000\n"                                         \
    "      --json            machine-readable output (one JSON value)\n"                          \
    "  -h, --help            this help\n"

const cli_cmd_t cli_commands[] = {
    {"topic", "create", "updateTopic", cmd_topic_create,
     "topic create NAME [-c CLUSTER | -b ADDR] [-r READ] [-w WRITE] [-p PERM] [--order]",
     "create a topic, or update its queue counts and permission",
     "  -c, --cluster NAME    create on every master of this cluster (default: the only\n"
     "                        cluster, when there is one)\n"
     "  -b, --broker ADDR     create on this broker only\n"
     "  -r, --read N          read queues (default 4)\n"
     "  -w, --write N         write queues (default 4)\n"
     "  -p, --perm N          2 write, 4 read, 6 read+write (default 6)\n"
     "      --order           mark the topic ordered\n"
     "  -t, --topic NAME      the topic (instead of NAME; mqadmin style)\n"
     "Example:\n  rill topic create Orders -c DefaultCluster -r 8 -w 8\n"},
    {"topic", "update", NULL, cmd_topic_create,
     "topic update NAME [-c CLUSTER | -b ADDR] [-r READ] [-w WRITE] [-p PERM] [--order]",
     "same as topic create", "  (options as for topic create)\nExample:\n  rill topic update Orders -c DefaultCluster -p 4\n"},
    {"topic", "delete", "deleteTopic", cmd_topic_delete, "topic delete NAME [-c CLUSTER]",
     "delete a topic from its brokers and the NameServers",
     "  -c, --cluster NAME    only from this cluster's brokers (default: every one serving it)\n"
     "  -t, --topic NAME      the topic (instead of NAME)\n"
     "Example:\n  rill topic delete Orders\n"},
    {"topic", "list", "topicList", cmd_topic_list, "topic list [--cluster]",
     "list every topic the NameServers know",
     "      --cluster         also show the clusters and brokers serving each topic\n"
     "Example:\n  rill topic list --cluster\n"},
    {"topic", "route", "topicRoute", cmd_topic_route, "topic route NAME",
     "show the brokers and queues serving a topic",
     "  -t, --topic NAME      the topic (instead of NAME)\n"
     "Example:\n  rill topic route Orders\n"},
    {"topic", "status", "topicStatus", cmd_topic_status, "topic status NAME",
     "per queue: min offset, max offset, last update time",
     "  -t, --topic NAME      the topic (instead of NAME)\n"
     "Example:\n  rill topic status Orders\n"},
    {"cluster", "list", "clusterList", cmd_cluster_list, "cluster list",
     "clusters, broker names, ids, addresses, roles, versions, in/out TPS",
     "Example:\n  rill cluster list\n"},
    {"broker", "status", "brokerStatus", cmd_broker_status, "broker status ADDR",
     "runtime statistics of a broker",
     "  -b, --broker ADDR     the broker (instead of ADDR)\n"
     "Example:\n  rill broker status 127.0.0.1:10911\n"},
    {"broker", "config", "getBrokerConfig", cmd_broker_config, "broker config ADDR",
     "every configuration key of a broker with its current value",
     "  -b, --broker ADDR     the broker (instead of ADDR)\n"
     "Example:\n  rill broker config 127.0.0.1:10911\n"},
    {"msg", "send", "sendMessage", cmd_msg_send,
     "msg send -t TOPIC [-k KEYS] [--tags TAG] [-p NAME=VALUE] [--delay LEVEL | --at TIME] "
     "[BODY | -f FILE]",
     "send a message (BODY), a file's bytes (-f) or each line of stdin as one message",
     "  -t, --topic TOPIC     the topic (required)\n"
     "  -k, --keys KEYS       business keys, space-separated (indexed for query-key)\n"
     "      --tags TAG        the tag consumers filter on\n"
     "  -p, --property N=V    a user property (repeatable)\n"
     "      --delay LEVEL     delay level 1..18\n"
     "      --at TIME         deliver at TIME (see TIMES below)\n"
     "  -f, --file FILE       send the file's bytes as one message ('-' = stdin as a whole)\n"
     "Example:\n  rill msg send -t Orders -k order-42 --tags paid '{\"id\":42}'\n"
     "  seq 3 | rill msg send -t Orders\n"},
    {"msg", "query-key", "queryMsgByKey", cmd_msg_query_key,
     "msg query-key -t TOPIC -k KEY [--begin TIME --end TIME] [--max N] [--body]",
     "messages of a topic with a key (a KEYS word or the unique key)",
     "  -t, --topic TOPIC     the topic (required)\n"
     "  -k, --key KEY         the key (required)\n"
     "      --begin TIME      stored at or after (default: 0)\n"
     "      --end TIME        stored at or before (default: now)\n"
     "      --max N           at most N messages (default 64)\n"
     "      --body            print whole bodies, not a preview\n"
     "Example:\n  rill msg query-key -t Orders -k order-42 --begin -1h\n"},
    {"msg", "query-time", "queryMsgByTime", cmd_msg_query_time,
     "msg query-time -t TOPIC --begin TIME [--end TIME] [--max N] [--body]",
     "messages of a topic stored in a time range",
     "  -t, --topic TOPIC     the topic (required)\n"
     "      --begin TIME      stored at or after (required)\n"
     "      --end TIME        stored at or before (default: now)\n"
     "      --max N           at most N messages per broker (default 64)\n"
     "      --body            print whole bodies, not a preview\n"
     "Example:\n  rill msg query-time -t Orders --begin -15m\n"},
    {"msg", "query-id", "queryMsgById", cmd_msg_query_id, "msg query-id MSGID [--body]",
     "the message with an offset msgId",
     "  -i, --id MSGID        the msgId (instead of MSGID)\n"
     "      --body            print the whole body\n"
     "Example:\n  rill msg query-id 7F00000100002A9F0000000000000000\n"},
    {"msg", "query-offset", "queryMsgByOffset", cmd_msg_query_offset,
     "msg query-offset -t TOPIC -q QUEUE -o OFFSET [-b BROKER_NAME] [--body]",
     "the message at a queue offset",
     "  -t, --topic TOPIC     the topic (required)\n"
     "  -q, --queue ID        queue id (required)\n"
     "  -o, --offset N        queue offset (required)\n"
     "  -b, --broker NAME     broker name (default: the first broker serving the topic)\n"
     "      --body            print the whole body\n"
     "Example:\n  rill msg query-offset -t Orders -q 0 -o 12\n"},
    {"msg", "print", "printMsg", cmd_msg_print,
     "msg print -t TOPIC [--begin TIME --end TIME] [-q QUEUE] [--max N] [--body]",
     "every message of a topic (or of one queue), optionally within a time range",
     "  -t, --topic TOPIC     the topic (required)\n"
     "      --begin TIME      stored at or after\n"
     "      --end TIME        stored at or before\n"
     "  -q, --queue ID        only this queue id\n"
     "      --max N           at most N messages (default 1000)\n"
     "      --body            print whole bodies, not a preview\n"
     "Example:\n  rill msg print -t Orders -q 0 --begin -1h\n"},
    {"msg", "resend", "resendMessage", cmd_msg_resend, "msg resend MSGID [-t TOPIC]",
     "send a stored message (e.g. from %DLQ%<group>) again to its original topic",
     "  -t, --topic TOPIC     the topic (default: its RETRY_TOPIC / REAL_TOPIC property)\n"
     "Example:\n  rill msg resend 7F00000100002A9F0000000000000000\n"},
    {"msg", "consume", "consumeMessage", cmd_msg_consume,
     "msg consume -t TOPIC [-g GROUP] [-s EXPR] [--from first|last|TIME] [-n COUNT] [--wait SECONDS]",
     "print messages as they arrive; Ctrl-C commits the group's offsets and exits",
     "  -t, --topic TOPIC     the topic (required)\n"
     "  -g, --group GROUP     consumer group (default: rill_cli_consumer)\n"
     "  -s, --subscription E  tag expression, \"TagA || TagB\" (default: *)\n"
     "      --from WHERE      where a group with no committed offset starts: first, last\n"
     "                        or a TIME (default: last)\n"
     "  -n, --count N         exit after N messages (then the NameServer is --namesrv only)\n"
     "      --wait SECONDS    exit after this long even if fewer arrived\n"
     "      --body            print whole bodies, not a preview\n"
     "Example:\n  rill msg consume -t Orders -g audit --from first -n 10\n"},
    {"group", "create", "updateSubGroup", cmd_group_create,
     "group create GROUP [-c CLUSTER | -b ADDR] [--retry-queues N] [--retry-max N] [--disable] "
     "[--no-broadcast]",
     "create or update a consumer group",
     "  -c, --cluster NAME    on every master of this cluster (default: the only cluster)\n"
     "  -b, --broker ADDR     on this broker only\n"
     "      --retry-queues N  retry queues (default 1)\n"
     "      --retry-max N     most redeliveries (default 16)\n"
     "      --disable         refuse consumption by this group\n"
     "      --no-broadcast    refuse broadcast consumption\n"
     "  -g, --group GROUP     the group (instead of GROUP)\n"
     "Example:\n  rill group create audit -c DefaultCluster\n"},
    {"group", "delete", "deleteSubGroup", cmd_group_delete, "group delete GROUP [-c CLUSTER]",
     "delete a consumer group",
     "  -c, --cluster NAME    only from this cluster (default: every one)\n"
     "  -g, --group GROUP     the group (instead of GROUP)\n"
     "Example:\n  rill group delete audit\n"},
    {"group", "list", NULL, cmd_group_list, "group list [-c CLUSTER]", "list consumer groups",
     "  -c, --cluster NAME    only this cluster (default: every one)\n"
     "Example:\n  rill group list\n"},
    {"group", "progress", "consumerProgress", cmd_group_progress,
     "group progress GROUP [-t TOPIC]",
     "per queue: broker offset, consumer offset, lag, last consume time; totals",
     "  -t, --topic TOPIC     only this topic\n"
     "  -g, --group GROUP     the group (instead of GROUP)\n"
     "Example:\n  rill group progress audit\n"},
    {"group", "reset-offset", "resetOffsetByTime", cmd_group_reset_offset,
     "group reset-offset GROUP -t TOPIC --to TIME",
     "move a group's offsets on a topic to the first message stored at or after TIME",
     "  -t, --topic TOPIC     the topic (required)\n"
     "      --to TIME         the time (required; also -s, mqadmin style)\n"
     "  -g, --group GROUP     the group (instead of GROUP)\n"
     "Stop the group's consumers first: running members commit over the reset.\n"
     "Example:\n  rill group reset-offset audit -t Orders --to -1h\n"},
    {"bench", "produce", NULL, cmd_bench_produce,
     "bench produce -t TOPIC [-s SIZE] [-c THREADS] [--batch N] [--sync|--async] "
     "[-n COUNT | -d SECONDS]",
     "load test: send as fast as possible, live rate and latency each second",
     "  -t, --topic TOPIC     the topic (required)\n"
     "  -s, --size BYTES      body size (default 128)\n"
     "  -c, --threads N       sending threads (default 1 async, 8 sync)\n"
     "      --batch N         send batches of N messages (sync, per thread)\n"
     "      --sync            one send in flight per thread, each waits for its answer\n"
     "      --async           many sends in flight (default)\n"
     "      --inflight N      async sends in flight at most (default 8192)\n"
     "  -n, --count N         send N messages (then the NameServer is --namesrv only)\n"
     "  -d, --duration SECS   send for SECS seconds (default 10 when no -n)\n"
     "Example:\n  rill bench produce -t Bench -s 1024 -d 30\n"},
    {"bench", "consume", NULL, cmd_bench_consume,
     "bench consume -t TOPIC [-g GROUP] [-n COUNT | -d SECONDS] [--idle SECONDS]",
     "load test: consume from the first offset, live rate and latency each second",
     "  -t, --topic TOPIC     the topic (required)\n"
     "  -g, --group GROUP     consumer group (default: a fresh one, so from the first offset)\n"
     "  -c, --threads N       listener threads (default 4)\n"
     "  -n, --count N         stop after N messages\n"
     "  -d, --duration SECS   stop after SECS seconds\n"
     "      --idle SECS       stop after SECS seconds without a message (default 5)\n"
     "Latency is store time to delivery, so old messages show large values.\n"
     "Example:\n  rill bench consume -t Bench -n 1000000\n"},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

volatile int cli_stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    cli_stop_requested = 1;
}

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_print_help(const cli_cmd_t *cmd, FILE *out)
{
    fprintf(out, "usage: rill %s\n\n%s.\n", cmd->synopsis, cmd->summary);
    if (cmd->alias != NULL)
        fprintf(out, "mqadmin name: %s\n", cmd->alias);
    fprintf(out, "\nOptions:\n%s\n" COMMON_HELP, cmd->help);
    if (strcmp(cmd->noun, "msg") == 0 || strcmp(cmd->noun, "group") == 0)
        fputs("\nTIMES: epoch ms (1763805600000), local ISO time (2026-11-22T10:00:00,\n"
              "2026-11-22 10:00:00.250, 2026-11-22), or relative to now (-15m, -2h, -1d, -30s,\n"
              "+10m, now).\n",
              out);
}

static void print_overview(FILE *out)
{
    fputs("usage: rill <noun> <verb> [options]    (rill <noun> <verb> --help for details)\n\n",
          out);
    const char *noun = NULL;
    for (const cli_cmd_t *c = cli_commands; c->noun != NULL; c++) {
        if (noun == NULL || strcmp(noun, c->noun) != 0) {
            fprintf(out, "%s%s\n", noun ? "\n" : "", c->noun);
            noun = c->noun;
        }
        char left[64];
        snprintf(left, sizeof(left), "%s %s", c->noun, c->verb);
        fprintf(out, "  %-22s %s", left, c->summary);
        if (c->alias != NULL)
            fprintf(out, " [%s]", c->alias);
        fputc('\n', out);
    }
    fputs("\nmqadmin names in [brackets] work as commands too: rill topicList.\n"
          "Exit status: 0 ok, 1 error (one line on stderr), 2 usage error.\n\n" COMMON_HELP,
          out);
}

int cli_usage(const cli_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    fputs("rill: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (ctx != NULL && ctx->cmd != NULL)
        fprintf(stderr, "\nTry 'rill %s %s --help'.\n", ctx->cmd->noun, ctx->cmd->verb);
    else
        fputs("\nTry 'rill help'.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_failf(const char *fmt, ...)
{
    va_list ap;
    fputs("rill: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

int cli_fail(int rc)
{
    const char *why = rill_last_error();
    if (why == NULL || why[0] == '\0')
        why = rill_strerror(rc);
    fprintf(stderr, "rill: %s\n", why);
    return CLI_EXIT_ERROR;
}

int cli_common_opt(cli_ctx_t *ctx, int c, const char *arg)
{
    switch (c) {
    case 'n':
    case CLI_OPT_NAMESRV:
        ctx->namesrv = arg;
        return -1;
    case CLI_OPT_JSON:
        ctx->json = true;
        return -1;
    case 'X':
    case CLI_OPT_CONF:
        if (ctx->n_conf == CLI_CONF_OVERRIDES_MAX)
            return cli_usage(ctx, "at most %d -X options", CLI_CONF_OVERRIDES_MAX);
        if (strchr(arg, '=') == NULL)
            return cli_usage(ctx, "-X needs KEY=VALUE, got '%s'", arg);
        ctx->conf[ctx->n_conf++] = arg;
        return -1;
    case 'h':
    case CLI_OPT_HELP:
        /* help ends the run wherever it is asked for (a command's helper
         * functions need not tell "stop, success" from "go on") */
        cli_print_help(ctx->cmd, stdout);
        fflush(stdout);
        exit(CLI_EXIT_OK);
    case ':':
        return cli_usage(ctx, "option '%s' needs a value", ctx->argv[optind - 1]);
    default:
        if (optopt != 0 && optopt < 256)
            return cli_usage(ctx, "unknown option '-%c'", optopt);
        return cli_usage(ctx, "unknown option '%s'", ctx->argv[optind - 1]);
    }
}

int cli_conf_set(rill_conf_t *conf, const char *key, const char *value)
{
    char err[256] = "";
    int rc = rill_conf_set(conf, key, value, err, sizeof(err));
    if (rc != 0)
        cli_failf("%s", err[0] ? err : rill_strerror(rc));
    return rc;
}

int cli_conf_overrides(const cli_ctx_t *ctx, rill_conf_t *conf)
{
    for (size_t i = 0; i < ctx->n_conf; i++) {
        char key[128];
        const char *eq = strchr(ctx->conf[i], '=');
        size_t klen = (size_t)(eq - ctx->conf[i]);
        if (klen >= sizeof(key)) {
            cli_failf("configuration key too long in '%s'", ctx->conf[i]);
            return RILL_ECONFIG;
        }
        memcpy(key, ctx->conf[i], klen);
        key[klen] = '\0';
        if (cli_conf_set(conf, key, eq + 1) != 0)
            return RILL_ECONFIG;
    }
    return 0;
}

rill_conf_t *cli_conf(const cli_ctx_t *ctx, const char *group)
{
    rill_conf_t *conf = rill_conf_new();
    if (conf == NULL) {
        cli_failf("out of memory");
        return NULL;
    }
    if (cli_conf_set(conf, "namesrv", ctx->namesrv) != 0)
        goto fail;
    if (group != NULL && cli_conf_set(conf, "group", group) != 0)
        goto fail;
    if (cli_conf_overrides(ctx, conf) != 0)
        goto fail;
    return conf;
fail:
    rill_conf_destroy(conf);
    return NULL;
}

rill_admin_t *cli_admin(const cli_ctx_t *ctx)
{
    rill_conf_t *conf = cli_conf(ctx, NULL);
    if (conf == NULL)
        return NULL;
    rill_admin_t *a = NULL;
    char err[256] = "";
    int rc = rill_admin_new(&a, conf, err, sizeof(err));
    if (rc != 0) {
        cli_failf("%s", err[0] ? err : rill_strerror(rc));
        rill_conf_destroy(conf);
        return NULL;
    }
    return a;
}

int cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return RILL_EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return RILL_EINVAL;
    *out = v;
    return 0;
}

static const char *default_namesrv(void)
{
    const char *e = getenv("RILL_NAMESRV");
    if (e != NULL && e[0] != '\0')
        return e;
    e = getenv("NAMESRV_ADDR");
    if (e != NULL && e[0] != '\0')
        return e;
    return CLI_NAMESRV_DEFAULT;
}

static const cli_cmd_t *find_alias(const char *name)
{
    for (const cli_cmd_t *c = cli_commands; c->noun != NULL; c++)
        if (c->alias != NULL && strcmp(c->alias, name) == 0)
            return c;
    return NULL;
}

static bool noun_exists(const char *noun)
{
    for (const cli_cmd_t *c = cli_commands; c->noun != NULL; c++)
        if (strcmp(c->noun, noun) == 0)
            return true;
    return false;
}

static const cli_cmd_t *find_cmd(const char *noun, const char *verb)
{
    for (const cli_cmd_t *c = cli_commands; c->noun != NULL; c++)
        if (strcmp(c->noun, noun) == 0 && strcmp(c->verb, verb) == 0)
            return c;
    return NULL;
}

static void print_noun(const char *noun, FILE *out)
{
    fprintf(out, "usage: rill %s <verb> [options]\n\n", noun);
    for (const cli_cmd_t *c = cli_commands; c->noun != NULL; c++)
        if (strcmp(c->noun, noun) == 0)
            fprintf(out, "  rill %s\n      %s\n", c->synopsis, c->summary);
}

static int help_command(int argc, char **argv)
{
    if (argc <= 2) {
        print_overview(stdout);
        return CLI_EXIT_OK;
    }
    const cli_cmd_t *c = find_alias(argv[2]);
    if (c == NULL && argc > 3)
        c = find_cmd(argv[2], argv[3]);
    if (c != NULL) {
        cli_print_help(c, stdout);
        return CLI_EXIT_OK;
    }
    if (noun_exists(argv[2])) {
        print_noun(argv[2], stdout);
        return CLI_EXIT_OK;
    }
    return cli_usage(NULL, "no command '%s'", argv[2]);
}

int main(int argc, char **argv)
{
    /* Output goes to pipes as often as to terminals: keep lines whole. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return print_overview(stderr), CLI_EXIT_USAGE;
    const char *first = argv[1];
    if (strcmp(first, "help") == 0 || strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0)
        return help_command(argc, argv);
    if (strcmp(first, "version") == 0 || strcmp(first, "--version") == 0) {
        printf("rill %s\n", rill_version());
        return CLI_EXIT_OK;
    }
    cli_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.namesrv = default_namesrv();
    int shift;
    const cli_cmd_t *cmd = find_alias(first);
    if (cmd != NULL) {
        shift = 1;
    } else if (!noun_exists(first)) {
        return cli_usage(NULL, "no command '%s'", first);
    } else if (argc < 3 || argv[2][0] == '-') {
        if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            print_noun(first, stdout);
            return CLI_EXIT_OK;
        }
        print_noun(first, stderr);
        return CLI_EXIT_USAGE;
    } else if ((cmd = find_cmd(first, argv[2])) == NULL) {
        return cli_usage(NULL, "'%s' has no verb '%s'", first, argv[2]);
    } else {
        shift = 2;
    }
    ctx.cmd = cmd;
    ctx.argv = argv + shift;
    /* the command sees argv[0] = its verb, so getopt starts after it; errors
     * are reported by cli_common_opt() (option strings start with ':') */
    optind = 1;
    opterr = 0;
    return cmd->fn(&ctx, argc - shift, argv + shift);
}

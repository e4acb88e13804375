/*
 * group.c - `rill group create|delete|list|progress|reset-offset`.
 */
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/timeparse.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_RETRY_QUEUES = CLI_OPT_FIRST_PRIVATE,
    OPT_RETRY_MAX,
    OPT_DISABLE,
    OPT_NO_BROADCAST,
    OPT_TO,
};

#define COMMON_OPT(ctx, c)                                                                         \
    do {                                                                                           \
        int rc_ = cli_common_opt((ctx), (c), optarg);                                              \
        if (rc_ >= 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

/* The positional GROUP or -g's value. */
static int group_arg(cli_ctx_t *ctx, int argc, char **argv, const char *opt_group,
                     const char **out)
{
    if (optind < argc && opt_group != NULL)
        return cli_usage(ctx, "give the group once: as GROUP or as -g");
    if (optind + 1 < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind + 1]);
    *out = optind < argc ? argv[optind] : opt_group;
    if (*out == NULL)
        return cli_usage(ctx, "missing the group name");
    return 0;
}

int cmd_group_create(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, 'c'},
        {"broker", required_argument, NULL, 'b'},
        {"group", required_argument, NULL, 'g'},
        {"retry-queues", required_argument, NULL, OPT_RETRY_QUEUES},
        {"retry-max", required_argument, NULL, OPT_RETRY_MAX},
        {"disable", no_argument, NULL, OPT_DISABLE},
        {"no-broadcast", no_argument, NULL, OPT_NO_BROADCAST},
        CLI_COMMON_LONGOPTS,
    };
    const char *cluster = NULL, *broker = NULL, *opt_group = NULL;
    int64_t retry_queues = -1, retry_max = -1;
    bool disable = false, no_broadcast = false;
    int c;
    while ((c = getopt_long(argc, argv, ":c:b:g:n:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cluster = optarg;
            break;
        case 'b':
            broker = optarg;
            break;
        case 'g':
            opt_group = optarg;
            break;
        case OPT_RETRY_QUEUES:
            if (cli_parse_int(optarg, 0, 1024, &retry_queues) != 0)
                return cli_usage(ctx, "bad --retry-queues '%s'", optarg);
            break;
        case OPT_RETRY_MAX:
            if (cli_parse_int(optarg, 0, 1024, &retry_max) != 0)
                return cli_usage(ctx, "bad --retry-max '%s'", optarg);
            break;
        case OPT_DISABLE:
            disable = true;
            break;
        case OPT_NO_BROADCAST:
            no_broadcast = true;
            break;
        default:
            COMMON_OPT(ctx, c);
        }
    }
    const char *group;
    int rc = group_arg(ctx, argc, argv, opt_group, &group);
    if (rc != 0)
        return rc;
    if (cluster != NULL && broker != NULL)
        return cli_usage(ctx, "give -c or -b, not both");
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    char only[128];
    if (cluster == NULL && broker == NULL) {
        rc = cli_only_cluster(ctx, a, only, sizeof(only));
        if (rc != 0)
            goto out;
        cluster = only;
    }
    rill_group_config_t gc;
    rill_group_config_init(&gc, group);
    if (retry_queues >= 0)
        gc.retry_queue_nums = (int32_t)retry_queues;
    if (retry_max >= 0)
        gc.retry_max_times = (int32_t)retry_max;
    if (disable)
        gc.consume_enable = false;
    if (no_broadcast)
        gc.consume_broadcast_enable = false;
    int err = rill_admin_group_create(a, cluster, broker, &gc);
    if (err != 0) {
        rc = cli_fail(err);
        goto out;
    }
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "group", group);
        cJSON_AddBoolToObject(o, "consume_enable", gc.consume_enable);
        cJSON_AddBoolToObject(o, "consume_broadcast_enable", gc.consume_broadcast_enable);
        cJSON_AddNumberToObject(o, "retry_queue_nums", gc.retry_queue_nums);
        cJSON_AddNumberToObject(o, "retry_max_times", gc.retry_max_times);
        out_json_print(o, stdout);
    } else {
        printf("group %s on %s %s\n", group, cluster ? "cluster" : "broker",
               cluster ? cluster : broker);
    }
    rc = CLI_EXIT_OK;
out:
    rill_admin_destroy(a);
    return rc;
}

int cmd_group_delete(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, 'c'},
        {"group", required_argument, NULL, 'g'},
        CLI_COMMON_LONGOPTS,
    };
    const char *cluster = NULL, *opt_group = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":c:g:n:X:h", opts, NULL)) != -1) {
        if (c == 'c')
            cluster = optarg;
        else if (c == 'g')
            opt_group = optarg;
        else
            COMMON_OPT(ctx, c);
    }
    const char *group;
    int rc = group_arg(ctx, argc, argv, opt_group, &group);
    if (rc != 0)
        return rc;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    int err = rill_admin_group_delete(a, group, cluster);
    if (err != 0) {
        rc = cli_fail(err);
    } else {
        out_deleted(ctx->json, "group", group);
        rc = CLI_EXIT_OK;
    }
    rill_admin_destroy(a);
    return rc;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp(((const rill_group_config_t *)a)->name, ((const rill_group_config_t *)b)->name);
}

int cmd_group_list(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, 'c'},
        CLI_COMMON_LONGOPTS,
    };
    const char *cluster = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":c:n:X:h", opts, NULL)) != -1) {
        if (c == 'c')
            cluster = optarg;
        else
            COMMON_OPT(ctx, c);
    }
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_group_config_t *g = NULL;
    size_t n = 0;
    int err = rill_admin_group_list(a, cluster, &g, &n);
    if (err != 0) {
        int rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    if (n > 1)
        qsort(g, n, sizeof(*g), cmp_group);
    static const out_col_t cols[] = {{"GROUP", "group"},
                                     {"CONSUME", "consume_enable"},
                                     {"BROADCAST", "consume_broadcast_enable"},
                                     {"RETRY QUEUES", "retry_queue_nums"},
                                     {"RETRY MAX", "retry_max_times"}};
    out_table_t *t = out_table_new(cols, 5);
    for (size_t i = 0; i < n; i++) {
        out_row(t);
        out_str(t, g[i].name);
        out_bool(t, g[i].consume_enable);
        out_bool(t, g[i].consume_broadcast_enable);
        out_int(t, g[i].retry_queue_nums);
        out_int(t, g[i].retry_max_times);
    }
    if (ctx->json)
        out_json_print(out_table_json(t), stdout);
    else
        out_table_print(t, stdout);
    out_table_free(t);
    free(g);
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

int cmd_group_progress(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        CLI_COMMON_LONGOPTS,
    };
    const char *topic = NULL, *opt_group = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":t:g:n:X:h", opts, NULL)) != -1) {
        if (c == 't')
            topic = optarg;
        else if (c == 'g')
            opt_group = optarg;
        else
            COMMON_OPT(ctx, c);
    }
    const char *group;
    int rc = group_arg(ctx, argc, argv, opt_group, &group);
    if (rc != 0)
        return rc;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_consumer_progress_t p;
    memset(&p, 0, sizeof(p));
    int err = rill_admin_consumer_progress(a, group, topic, &p);
    if (err != 0) {
        rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    static const out_col_t cols[] = {{"TOPIC", "topic"},
                                     {"BROKER", "broker_name"},
                                     {"QUEUE", "queue_id"},
                                     {"BROKER OFFSET", "broker_offset"},
                                     {"CONSUMER OFFSET", "consumer_offset"},
                                     {"LAG", "lag"},
                                     {"LAST CONSUMED", "last_timestamp_ms"}};
    out_table_t *t = out_table_new(cols, 7);
    int64_t broker_total = 0, consumer_total = 0;
    for (size_t i = 0; i < p.n; i++) {
        const rill_queue_progress_t *q = &p.queues[i];
        out_row(t);
        out_str(t, q->queue.topic);
        out_str(t, q->queue.broker_name);
        out_int(t, q->queue.queue_id);
        out_int(t, q->broker_offset);
        if (q->consumer_offset < 0)
            out_str(t, NULL);
        else
            out_int(t, q->consumer_offset);
        out_int(t, q->lag);
        out_time(t, q->last_timestamp);
        broker_total += q->broker_offset;
        if (q->consumer_offset > 0)
            consumer_total += q->consumer_offset;
    }
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "group", group);
        cJSON_AddItemToObject(o, "queues", out_table_json(t));
        cJSON_AddNumberToObject(o, "broker_offset_total", (double)broker_total);
        cJSON_AddNumberToObject(o, "consumer_offset_total", (double)consumer_total);
        cJSON_AddNumberToObject(o, "total_lag", (double)p.total_lag);
        out_json_print(o, stdout);
    } else {
        out_table_print(t, stdout);
        printf("\ngroup %s: %zu queues, broker offsets %lld, consumer offsets %lld, total lag "
               "%lld\n",
               group, p.n, (long long)broker_total, (long long)consumer_total,
               (long long)p.total_lag);
    }
    out_table_free(t);
    rill_consumer_progress_free(&p);
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

int cmd_group_reset_offset(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        {"to", required_argument, NULL, OPT_TO},
        CLI_COMMON_LONGOPTS,
    };
    const char *topic = NULL, *opt_group = NULL, *to = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":t:g:s:n:X:h", opts, NULL)) != -1) {
        if (c == 't')
            topic = optarg;
        else if (c == 'g')
            opt_group = optarg;
        else if (c == OPT_TO || c == 's')
            to = optarg;
        else
            COMMON_OPT(ctx, c);
    }
    const char *group;
    int rc = group_arg(ctx, argc, argv, opt_group, &group);
    if (rc != 0)
        return rc;
    if (topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (to == NULL)
        return cli_usage(ctx, "missing --to TIME");
    int64_t ts;
    if (cli_parse_time(to, cli_now_ms(), &ts) != 0)
        return cli_usage(ctx,
                         "bad --to time '%s': expected epoch ms, 2026-11-22T10:00:00 or -15m/-2h/-1d",
                         to);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    size_t n = 0;
    int err = rill_admin_reset_offset(a, group, topic, ts, &n);
    if (err != 0) {
        rc = cli_fail(err);
    } else {
        char buf[CLI_TIME_BYTES];
        if (ctx->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "group", group);
            cJSON_AddStringToObject(o, "topic", topic);
            cJSON_AddNumberToObject(o, "timestamp", (double)ts);
            cJSON_AddNumberToObject(o, "queues", (double)n);
            out_json_print(o, stdout);
        } else {
            printf("group %s, topic %s: %zu queue%s reset to %s\n", group, topic, n,
                   n == 1 ? "" : "s", cli_format_time(ts, buf, sizeof(buf)));
        }
        rc = CLI_EXIT_OK;
    }
    rill_admin_destroy(a);
    return rc;
}

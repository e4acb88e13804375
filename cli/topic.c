/*
 * topic.c - `rill topic create|update|delete|list|route|status`.
 */
#include "cli/cli.h"
#include "cli/output.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_ORDER = CLI_OPT_FIRST_PRIVATE, OPT_CLUSTER_FLAG };

/* The positional NAME, or -t's value; prints a usage error when missing or doubled. */
static int topic_arg(cli_ctx_t *ctx, int argc, char **argv, const char *opt_topic,
                     const char **out)
{
    if (optind < argc && opt_topic != NULL)
        return cli_usage(ctx, "give the topic once: as NAME or as -t");
    if (optind + 1 < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind + 1]);
    *out = optind < argc ? argv[optind] : opt_topic;
    if (*out == NULL)
        return cli_usage(ctx, "missing the topic name");
    return 0;
}

static const char *perm_name(int32_t perm)
{
    switch (perm) {
    case 2:
        return "W";
    case 4:
        return "R";
    case 6:
        return "RW";
    case 0:
        return "-";
    default:
        return "?";
    }
}

int cmd_topic_create(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, 'c'}, {"broker", required_argument, NULL, 'b'},
        {"read", required_argument, NULL, 'r'},    {"write", required_argument, NULL, 'w'},
        {"perm", required_argument, NULL, 'p'},    {"topic", required_argument, NULL, 't'},
        {"order", no_argument, NULL, OPT_ORDER},   CLI_COMMON_LONGOPTS,
    };
    const char *cluster = NULL, *broker = NULL, *opt_topic = NULL;
    int64_t r = 4, w = 4, perm = 6;
    bool order = false, have_r = false, have_w = false;
    int c;
    while ((c = getopt_long(argc, argv, ":c:b:r:w:p:t:n:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cluster = optarg;
            break;
        case 'b':
            broker = optarg;
            break;
        case 'r':
            if (cli_parse_int(optarg, 1, 1024, &r) != 0)
                return cli_usage(ctx, "bad read queue count '%s': expected 1..1024", optarg);
            have_r = true;
            break;
        case 'w':
            if (cli_parse_int(optarg, 1, 1024, &w) != 0)
                return cli_usage(ctx, "bad write queue count '%s': expected 1..1024", optarg);
            have_w = true;
            break;
        case 'p':
            if (cli_parse_int(optarg, 0, 7, &perm) != 0)
                return cli_usage(ctx, "bad perm '%s': expected 2 (W), 4 (R) or 6 (RW)", optarg);
            break;
        case 't':
            opt_topic = optarg;
            break;
        case OPT_ORDER:
            order = true;
            break;
        default: {
            int rc = cli_common_opt(ctx, c, optarg);
            if (rc >= 0)
                return rc;
        }
        }
    }
    const char *topic;
    int rc = topic_arg(ctx, argc, argv, opt_topic, &topic);
    if (rc != 0)
        return rc;
    if (cluster != NULL && broker != NULL)
        return cli_usage(ctx, "give -c or -b, not both");
    /* one count given: RocketMQ keeps read = write unless both are set */
    if (have_r && !have_w)
        w = r;
    if (have_w && !have_r)
        r = w;
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
    rill_topic_config_t tc;
    rill_topic_config_init(&tc, topic);
    tc.read_queue_nums = (int32_t)r;
    tc.write_queue_nums = (int32_t)w;
    tc.perm = (int32_t)perm;
    tc.order = order;
    int err = rill_admin_topic_create(a, cluster, broker, &tc);
    if (err != 0) {
        rc = cli_fail(err);
        goto out;
    }
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "topic", topic);
        if (cluster)
            cJSON_AddStringToObject(o, "cluster", cluster);
        if (broker)
            cJSON_AddStringToObject(o, "broker", broker);
        cJSON_AddNumberToObject(o, "read_queues", (double)r);
        cJSON_AddNumberToObject(o, "write_queues", (double)w);
        cJSON_AddNumberToObject(o, "perm", (double)perm);
        cJSON_AddBoolToObject(o, "order", order);
        out_json_print(o, stdout);
    } else {
        printf("topic %s: %d read / %d write queues, perm %s%s, on %s %s\n", topic, (int)r,
               (int)w, perm_name((int32_t)perm), order ? ", ordered" : "",
               cluster ? "cluster" : "broker", cluster ? cluster : broker);
    }
    rc = CLI_EXIT_OK;
out:
    rill_admin_destroy(a);
    return rc;
}

int cmd_topic_delete(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, NULL, 'c'},
        {"topic", required_argument, NULL, 't'},
        CLI_COMMON_LONGOPTS,
    };
    const char *cluster = NULL, *opt_topic = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":c:t:n:X:h", opts, NULL)) != -1) {
        if (c == 'c') {
            cluster = optarg;
        } else if (c == 't') {
            opt_topic = optarg;
        } else {
            int rc = cli_common_opt(ctx, c, optarg);
            if (rc >= 0)
                return rc;
        }
    }
    const char *topic;
    int rc = topic_arg(ctx, argc, argv, opt_topic, &topic);
    if (rc != 0)
        return rc;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    int err = rill_admin_topic_delete(a, topic, cluster);
    if (err != 0) {
        rc = cli_fail(err);
    } else {
        out_deleted(ctx->json, "topic", topic);
        rc = CLI_EXIT_OK;
    }
    rill_admin_destroy(a);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_topic_list(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", no_argument, NULL, OPT_CLUSTER_FLAG},
        CLI_COMMON_LONGOPTS,
    };
    bool with_cluster = false;
    int c;
    while ((c = getopt_long(argc, argv, ":n:X:h", opts, NULL)) != -1) {
        if (c == OPT_CLUSTER_FLAG) {
            with_cluster = true;
        } else {
            int rc = cli_common_opt(ctx, c, optarg);
            if (rc >= 0)
                return rc;
        }
    }
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_strv_t topics = {0, NULL};
    int err = rill_admin_topic_list(a, &topics);
    if (err != 0) {
        int rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    if (topics.n > 1)
        qsort(topics.v, topics.n, sizeof(*topics.v), cmp_str);
    static const out_col_t cols_plain[] = {{"TOPIC", "topic"}};
    static const out_col_t cols_cluster[] = {
        {"TOPIC", "topic"}, {"CLUSTER", "cluster"}, {"BROKERS", "brokers"}};
    out_table_t *t = with_cluster ? out_table_new(cols_cluster, 3) : out_table_new(cols_plain, 1);
    for (size_t i = 0; i < topics.n; i++) {
        out_row(t);
        out_str(t, topics.v[i]);
        if (!with_cluster)
            continue;
        rill_topic_route_t route;
        memset(&route, 0, sizeof(route));
        if (rill_admin_topic_route(a, topics.v[i], &route) != 0) {
            out_str(t, NULL);
            out_str(t, NULL);
            continue;
        }
        char clusters[256] = "", brokers[512] = "";
        for (size_t b = 0; b < route.n_brokers; b++) {
            const rill_broker_info_t *bi = &route.brokers[b];
            if (strstr(clusters, bi->cluster) == NULL) {
                size_t l = strlen(clusters);
                snprintf(clusters + l, sizeof(clusters) - l, "%s%s", l ? "," : "", bi->cluster);
            }
            size_t l = strlen(brokers);
            snprintf(brokers + l, sizeof(brokers) - l, "%s%s", l ? "," : "", bi->broker_name);
        }
        out_str(t, clusters);
        out_str(t, brokers);
        rill_topic_route_free(&route);
    }
    if (ctx->json)
        out_json_print(out_table_json(t), stdout);
    else
        out_table_print(t, stdout);
    out_table_free(t);
    rill_strv_free(&topics);
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

/* Options of the commands that take one topic: NAME or -t NAME. */
static int one_topic_args(cli_ctx_t *ctx, int argc, char **argv, const char **topic)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        CLI_COMMON_LONGOPTS,
    };
    const char *opt_topic = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":t:n:X:h", opts, NULL)) != -1) {
        if (c == 't') {
            opt_topic = optarg;
        } else {
            int rc = cli_common_opt(ctx, c, optarg);
            if (rc >= 0)
                return rc;
        }
    }
    return topic_arg(ctx, argc, argv, opt_topic, topic);
}

int cmd_topic_route(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *topic;
    int rc = one_topic_args(ctx, argc, argv, &topic);
    if (rc != 0)
        return rc;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_topic_route_t route;
    memset(&route, 0, sizeof(route));
    int err = rill_admin_topic_route(a, topic, &route);
    if (err != 0) {
        rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    static const out_col_t qcols[] = {{"BROKER", "broker_name"},
                                      {"READ", "read_queues"},
                                      {"WRITE", "write_queues"},
                                      {"PERM", "perm"}};
    static const out_col_t bcols[] = {
        {"CLUSTER", "cluster"}, {"BROKER", "broker_name"}, {"ID", "broker_id"}, {"ADDR", "addr"}};
    out_table_t *qt = out_table_new(qcols, 4);
    for (size_t i = 0; i < route.n_queue_datas; i++) {
        out_row(qt);
        out_str(qt, route.queue_datas[i].broker_name);
        out_int(qt, route.queue_datas[i].read_queue_nums);
        out_int(qt, route.queue_datas[i].write_queue_nums);
        if (ctx->json)
            out_int(qt, route.queue_datas[i].perm);
        else
            out_str(qt, perm_name(route.queue_datas[i].perm));
    }
    out_table_t *bt = out_table_new(bcols, 4);
    for (size_t i = 0; i < route.n_brokers; i++) {
        const rill_broker_info_t *b = &route.brokers[i];
        for (size_t k = 0; k < b->n_addrs; k++) {
            out_row(bt);
            out_str(bt, b->cluster);
            out_str(bt, b->broker_name);
            out_int(bt, b->addrs[k].broker_id);
            out_str(bt, b->addrs[k].addr);
        }
    }
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "topic", topic);
        cJSON_AddItemToObject(o, "queues", out_table_json(qt));
        cJSON_AddItemToObject(o, "brokers", out_table_json(bt));
        out_json_print(o, stdout);
    } else {
        printf("topic %s\n\n", topic);
        out_table_print(qt, stdout);
        putchar('\n');
        out_table_print(bt, stdout);
    }
    out_table_free(qt);
    out_table_free(bt);
    rill_topic_route_free(&route);
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

int cmd_topic_status(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *topic;
    int rc = one_topic_args(ctx, argc, argv, &topic);
    if (rc != 0)
        return rc;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_queue_stat_t *st = NULL;
    size_t n = 0;
    int err = rill_admin_topic_status(a, topic, &st, &n);
    if (err != 0) {
        rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    static const out_col_t cols[] = {{"BROKER", "broker_name"},
                                     {"QUEUE", "queue_id"},
                                     {"MIN OFFSET", "min_offset"},
                                     {"MAX OFFSET", "max_offset"},
                                     {"MESSAGES", "messages"},
                                     {"LAST UPDATE", "last_update_ms"}};
    out_table_t *t = out_table_new(cols, 6);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        out_row(t);
        out_str(t, st[i].queue.broker_name);
        out_int(t, st[i].queue.queue_id);
        out_int(t, st[i].min_offset);
        out_int(t, st[i].max_offset);
        out_int(t, st[i].max_offset - st[i].min_offset);
        out_time(t, st[i].last_store_timestamp);
        total += st[i].max_offset - st[i].min_offset;
    }
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "topic", topic);
        cJSON_AddItemToObject(o, "queues", out_table_json(t));
        cJSON_AddNumberToObject(o, "total_messages", (double)total);
        out_json_print(o, stdout);
    } else {
        out_table_print(t, stdout);
        printf("\n%zu queues, %lld messages\n", n, (long long)total);
    }
    out_table_free(t);
    free(st);
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

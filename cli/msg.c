/*
 * msg.c - `rill msg send|query-key|query-time|query-id|query-offset|print|consume`.
 *
 * Every command that shows messages goes through one printer: a table
 * (msgId, queue, offset, store time, tags, keys, body size, body preview),
 * detail blocks with whole bodies (--body), or JSON (--json: every field,
 * text bodies as "body", others as "body_base64"). Bodies are arbitrary
 * bytes: on a terminal anything that is not printable text is escaped
 * (\n, \t, \xNN), so a binary body never reaches the terminal raw.
 *
 * `msg consume` runs a push consumer with one listener thread. After -n
 * COUNT messages it answers RECONSUME_LATER for the rest, so the offsets
 * committed at exit (Ctrl-C, COUNT reached, --wait over) never pass a
 * message that was not printed.
 */
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/timeparse.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/** Characters of a body preview in a table. */
#define MSG_PREVIEW_CHARS 40
/** Largest body `msg send -f` reads. */
#define MSG_FILE_BYTES_MAX (4 * 1024 * 1024)
/** Longest stdin line `msg send` sends as one message. */
#define MSG_LINE_BYTES_MAX (4 * 1024 * 1024)
/** Default --max of msg print. */
#define MSG_PRINT_MAX_DEFAULT 1000

enum {
    OPT_TAGS = CLI_OPT_FIRST_PRIVATE,
    OPT_DELAY,
    OPT_AT,
    OPT_BEGIN,
    OPT_END,
    OPT_MAX,
    OPT_BODY,
    OPT_FROM,
    OPT_WAIT,
};

/* ---- printing ---- */

static cJSON *msg_json(const rill_msg_t *m)
{
    cJSON *o = cJSON_CreateObject();
    const char *id = rill_msg_id(m);
    const char *s;
    if (id != NULL && id[0] != '\0')
        cJSON_AddStringToObject(o, "msg_id", id);
    else
        cJSON_AddNullToObject(o, "msg_id");
    cJSON_AddStringToObject(o, "topic", rill_msg_topic(m));
    if ((s = rill_msg_broker_name(m)) != NULL)
        cJSON_AddStringToObject(o, "broker_name", s);
    cJSON_AddNumberToObject(o, "queue_id", rill_msg_queue_id(m));
    cJSON_AddNumberToObject(o, "queue_offset", (double)rill_msg_queue_offset(m));
    cJSON_AddNumberToObject(o, "commitlog_offset", (double)rill_msg_commitlog_offset(m));
    cJSON_AddNumberToObject(o, "store_timestamp", (double)rill_msg_store_timestamp(m));
    cJSON_AddNumberToObject(o, "born_timestamp", (double)rill_msg_born_timestamp(m));
    cJSON_AddStringToObject(o, "born_host", rill_msg_born_host(m));
    cJSON_AddStringToObject(o, "store_host", rill_msg_store_host(m));
    if ((s = rill_msg_tags(m)) != NULL)
        cJSON_AddStringToObject(o, "tags", s);
    else
        cJSON_AddNullToObject(o, "tags");
    if ((s = rill_msg_keys(m)) != NULL)
        cJSON_AddStringToObject(o, "keys", s);
    else
        cJSON_AddNullToObject(o, "keys");
    if ((s = rill_msg_unique_key(m)) != NULL)
        cJSON_AddStringToObject(o, "unique_key", s);
    cJSON_AddNumberToObject(o, "reconsume_times", rill_msg_reconsume_times(m));
    cJSON *props = cJSON_CreateObject();
    const char *name, *value;
    for (size_t i = 0; rill_msg_property_at(m, i, &name, &value) == 0; i++)
        cJSON_AddStringToObject(props, name, value);
    cJSON_AddItemToObject(o, "properties", props);
    size_t len = 0;
    const void *body = rill_msg_body(m, &len);
    cJSON_AddNumberToObject(o, "body_size", (double)len);
    cJSON_AddNumberToObject(o, "stored_body_size", (double)rill_msg_stored_body_size(m));
    if (out_is_text(body, len)) {
        /* cJSON needs a NUL-terminated string */
        char *text = out_xmalloc(len + 1);
        memcpy(text, body, len);
        cJSON_AddStringToObject(o, "body", text);
        free(text);
    } else {
        char *b64 = out_base64(body, len);
        cJSON_AddStringToObject(o, "body_base64", b64);
        free(b64);
    }
    return o;
}

static void print_time_line(const char *label, int64_t ms)
{
    char buf[CLI_TIME_BYTES];
    printf("%-14s %s\n", label, ms > 0 ? cli_format_time(ms, buf, sizeof(buf)) : "-");
}

/* One message in full, for --body. */
static void msg_print_block(const rill_msg_t *m)
{
    const char *s;
    printf("%-14s %s\n", "msgId:", (s = rill_msg_id(m)) && *s ? s : "-");
    printf("%-14s %s\n", "topic:", rill_msg_topic(m));
    printf("%-14s %s  queue %d  offset %lld\n", "broker:",
           (s = rill_msg_broker_name(m)) ? s : "-", (int)rill_msg_queue_id(m),
           (long long)rill_msg_queue_offset(m));
    print_time_line("store time:", rill_msg_store_timestamp(m));
    print_time_line("born time:", rill_msg_born_timestamp(m));
    printf("%-14s %s / %s\n", "born/store:", rill_msg_born_host(m), rill_msg_store_host(m));
    printf("%-14s %s\n", "tags:", (s = rill_msg_tags(m)) ? s : "-");
    printf("%-14s %s\n", "keys:", (s = rill_msg_keys(m)) ? s : "-");
    printf("%-14s %s\n", "unique key:", (s = rill_msg_unique_key(m)) ? s : "-");
    printf("%-14s %d\n", "reconsumed:", (int)rill_msg_reconsume_times(m));
    const char *name, *value;
    for (size_t i = 0; rill_msg_property_at(m, i, &name, &value) == 0; i++) {
        char *n = out_escape(name, strlen(name), 256), *v = out_escape(value, strlen(value), 4096);
        printf("%-14s %s=%s\n", i == 0 ? "properties:" : "", n, v);
        free(n);
        free(v);
    }
    size_t len = 0;
    const void *body = rill_msg_body(m, &len);
    bool text = out_is_text(body, len);
    printf("%-14s %zu bytes (%zu stored)%s\n", "body:", len, rill_msg_stored_body_size(m),
           text ? "" : ", binary: escaped");
    if (text) {
        fwrite(body, 1, len, stdout);
        if (len == 0 || ((const char *)body)[len - 1] != '\n')
            putchar('\n');
    } else {
        char *e = out_escape(body, len, SIZE_MAX);
        puts(e);
        free(e);
    }
}

static const out_col_t msg_cols[] = {
    {"MSGID", "msg_id"},      {"BROKER", "broker_name"}, {"QUEUE", "queue_id"},
    {"OFFSET", "queue_offset"}, {"STORE TIME", "store_timestamp"}, {"TAGS", "tags"},
    {"KEYS", "keys"},         {"SIZE", "body_size"},      {"BODY", "body_preview"},
};

static void msg_row(out_table_t *t, const rill_msg_t *m)
{
    const char *id = rill_msg_id(m);
    out_row(t);
    out_str(t, id && *id ? id : NULL);
    out_str(t, rill_msg_broker_name(m));
    out_int(t, rill_msg_queue_id(m));
    out_int(t, rill_msg_queue_offset(m));
    out_time(t, rill_msg_store_timestamp(m));
    out_str(t, rill_msg_tags(m));
    out_str(t, rill_msg_keys(m));
    size_t len = 0;
    const void *body = rill_msg_body(m, &len);
    out_int(t, (int64_t)len);
    char *preview = out_escape(body, len, MSG_PREVIEW_CHARS);
    out_str(t, preview);
    free(preview);
}

/* Print a list of messages as the command's whole output. */
static void msgs_print(const cli_ctx_t *ctx, rill_msg_t *const *msgs, size_t n, bool full)
{
    if (ctx->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, msg_json(msgs[i]));
        out_json_print(arr, stdout);
        return;
    }
    if (full) {
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                putchar('\n');
            msg_print_block(msgs[i]);
        }
    } else {
        out_table_t *t = out_table_new(msg_cols, sizeof(msg_cols) / sizeof(msg_cols[0]));
        for (size_t i = 0; i < n; i++)
            msg_row(t, msgs[i]);
        out_table_print(t, stdout);
        out_table_free(t);
    }
    printf("%s%zu message%s\n", full && n ? "\n" : "\n", n, n == 1 ? "" : "s");
}

/* ---- option helpers ---- */

static int parse_time_opt(const cli_ctx_t *ctx, const char *what, const char *arg, int64_t *out)
{
    if (cli_parse_time(arg, cli_now_ms(), out) != 0)
        return cli_usage(ctx,
                         "bad %s time '%s': expected epoch ms, 2026-11-22T10:00:00 or -15m/-2h/-1d",
                         what, arg);
    return 0;
}

#define COMMON_OPT(ctx, c)                                                                         \
    do {                                                                                           \
        int rc_ = cli_common_opt((ctx), (c), optarg);                                              \
        if (rc_ >= 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

/* ---- send ---- */

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return cli_failf("cannot open %s: %s", path, strerror(errno));
    char *buf = out_xmalloc(MSG_FILE_BYTES_MAX + 1);
    size_t n = fread(buf, 1, MSG_FILE_BYTES_MAX + 1, f);
    bool err = ferror(f) != 0;
    if (f != stdin)
        fclose(f);
    if (err) {
        free(buf);
        return cli_failf("cannot read %s", path);
    }
    if (n > MSG_FILE_BYTES_MAX) {
        free(buf);
        return cli_failf("%s is larger than %d bytes, the largest message", path,
                         MSG_FILE_BYTES_MAX);
    }
    *out = buf;
    *len = n;
    return 0;
}

typedef struct send_opts {
    const char *topic, *keys, *tags;
    const char *props[64];
    size_t n_props;
    int64_t delay_level, deliver_ms;
} send_opts_t;

/* Build and send one message; adds its result row. 0 or an exit code. */
static int send_one(rill_producer_t *p, const send_opts_t *so, const void *body, size_t len,
                    out_table_t *t)
{
    rill_msg_t *m = rill_msg_new(so->topic);
    if (m == NULL)
        return cli_fail(RILL_EINVAL);
    int err = rill_msg_set_body(m, body, len);
    if (err == 0 && so->keys != NULL)
        err = rill_msg_set_keys(m, so->keys);
    if (err == 0 && so->tags != NULL)
        err = rill_msg_set_tags(m, so->tags);
    for (size_t i = 0; err == 0 && i < so->n_props; i++) {
        char name[256];
        const char *eq = strchr(so->props[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - so->props[i]), so->props[i]);
        err = rill_msg_set_property(m, name, eq + 1);
    }
    if (err == 0 && so->delay_level > 0)
        err = rill_msg_set_delay_level(m, (int)so->delay_level);
    if (err == 0 && so->deliver_ms > 0)
        err = rill_msg_set_deliver_time(m, so->deliver_ms);
    rill_send_result_t res;
    if (err == 0)
        err = rill_producer_send(p, m, &res);
    rill_msg_destroy(m);
    if (err != 0)
        return cli_fail(err);
    out_row(t);
    out_str(t, res.msg_id);
    out_str(t, rill_send_status_name(res.status));
    out_str(t, res.broker_name);
    out_int(t, res.queue_id);
    out_int(t, res.queue_offset);
    out_str(t, res.unique_key);
    return 0;
}

int cmd_msg_send(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},  {"keys", required_argument, NULL, 'k'},
        {"tags", required_argument, NULL, OPT_TAGS}, {"property", required_argument, NULL, 'p'},
        {"delay", required_argument, NULL, OPT_DELAY}, {"at", required_argument, NULL, OPT_AT},
        {"file", required_argument, NULL, 'f'},   CLI_COMMON_LONGOPTS,
    };
    send_opts_t so;
    memset(&so, 0, sizeof(so));
    const char *file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":t:k:p:f:n:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            so.topic = optarg;
            break;
        case 'k':
            so.keys = optarg;
            break;
        case OPT_TAGS:
            so.tags = optarg;
            break;
        case 'p':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=')
                return cli_usage(ctx, "bad property '%s': expected NAME=VALUE", optarg);
            if (so.n_props == sizeof(so.props) / sizeof(so.props[0]))
                return cli_usage(ctx, "too many properties");
            so.props[so.n_props++] = optarg;
            break;
        case OPT_DELAY:
            if (cli_parse_int(optarg, 1, RILL_DELAY_LEVEL_MAX, &so.delay_level) != 0)
                return cli_usage(ctx, "bad delay level '%s': expected 1..%d", optarg,
                                 RILL_DELAY_LEVEL_MAX);
            break;
        case OPT_AT: {
            int rc = parse_time_opt(ctx, "--at", optarg, &so.deliver_ms);
            if (rc != 0)
                return rc;
            break;
        }
        case 'f':
            file = optarg;
            break;
        default:
            COMMON_OPT(ctx, c);
        }
    }
    if (so.topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (so.delay_level > 0 && so.deliver_ms > 0)
        return cli_usage(ctx, "give --delay or --at, not both");
    if (file != NULL && optind < argc)
        return cli_usage(ctx, "give BODY or -f FILE, not both");
    if (optind + 1 < argc)
        return cli_usage(ctx, "unexpected argument '%s' (quote a body with spaces)",
                         argv[optind + 1]);
    if (optind < argc && argv[optind][0] == '\0')
        return cli_usage(ctx, "empty body: a message needs at least one byte");

    rill_conf_t *conf = cli_conf(ctx, NULL);
    if (conf == NULL)
        return CLI_EXIT_ERROR;
    rill_producer_t *p = NULL;
    char err[256] = "";
    int e = rill_producer_new(&p, conf, err, sizeof(err));
    if (e != 0) {
        rill_conf_destroy(conf);
        return cli_failf("%s", err[0] ? err : rill_strerror(e));
    }
    static const out_col_t cols[] = {{"MSGID", "msg_id"},       {"STATUS", "status"},
                                     {"BROKER", "broker_name"}, {"QUEUE", "queue_id"},
                                     {"OFFSET", "queue_offset"}, {"UNIQ KEY", "unique_key"}};
    out_table_t *t = out_table_new(cols, 6);
    int rc = 0;
    if (optind < argc) {
        rc = send_one(p, &so, argv[optind], strlen(argv[optind]), t);
    } else if (file != NULL) {
        char *buf = NULL;
        size_t len = 0;
        rc = read_file(file, &buf, &len);
        if (rc == 0 && len == 0)
            rc = cli_failf("%s is empty: a message needs at least one byte", file);
        if (rc == 0)
            rc = send_one(p, &so, buf, len, t);
        free(buf);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
            if (n > 0 && line[n - 1] == '\n')
                line[--n] = '\0';
            if (n == 0)
                continue; /* an empty line is not a message */
            if ((size_t)n > MSG_LINE_BYTES_MAX) {
                rc = cli_failf("a line of %zd bytes exceeds %d", n, MSG_LINE_BYTES_MAX);
                break;
            }
            rc = send_one(p, &so, line, (size_t)n, t);
        }
        free(line);
    }
    if (out_rows(t) > 0 || rc == 0) {
        if (ctx->json)
            out_json_print(out_table_json(t), stdout);
        else
            out_table_print(t, stdout);
    }
    out_table_free(t);
    rill_producer_destroy(p);
    return rc;
}

/* ---- queries ---- */

typedef struct query_opts {
    const char *topic, *key;
    int64_t begin, end, max, queue, offset;
    bool have_begin, have_end, body;
    const char *broker;
} query_opts_t;

static int query_args(cli_ctx_t *ctx, int argc, char **argv, query_opts_t *q,
                      const char *shortopts)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'}, {"key", required_argument, NULL, 'k'},
        {"begin", required_argument, NULL, OPT_BEGIN}, {"end", required_argument, NULL, OPT_END},
        {"max", required_argument, NULL, OPT_MAX}, {"body", no_argument, NULL, OPT_BODY},
        {"queue", required_argument, NULL, 'q'},  {"offset", required_argument, NULL, 'o'},
        {"broker", required_argument, NULL, 'b'}, {"id", required_argument, NULL, 'i'},
        CLI_COMMON_LONGOPTS,
    };
    memset(q, 0, sizeof(*q));
    q->queue = -1;
    q->offset = -1;
    int c, rc;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        switch (c) {
        case 't':
            q->topic = optarg;
            break;
        case 'k':
        case 'i':
            q->key = optarg;
            break;
        case OPT_BEGIN:
            if ((rc = parse_time_opt(ctx, "--begin", optarg, &q->begin)) != 0)
                return rc;
            q->have_begin = true;
            break;
        case OPT_END:
            if ((rc = parse_time_opt(ctx, "--end", optarg, &q->end)) != 0)
                return rc;
            q->have_end = true;
            break;
        case OPT_MAX:
            if (cli_parse_int(optarg, 1, 1000000, &q->max) != 0)
                return cli_usage(ctx, "bad --max '%s': expected 1..1000000", optarg);
            break;
        case OPT_BODY:
            q->body = true;
            break;
        case 'q':
            if (cli_parse_int(optarg, 0, 65535, &q->queue) != 0)
                return cli_usage(ctx, "bad queue id '%s'", optarg);
            break;
        case 'o':
            if (cli_parse_int(optarg, 0, INT64_MAX, &q->offset) != 0)
                return cli_usage(ctx, "bad offset '%s'", optarg);
            break;
        case 'b':
            q->broker = optarg;
            break;
        default:
            COMMON_OPT(ctx, c);
        }
    }
    if (q->have_begin && q->have_end && q->end < q->begin)
        return cli_usage(ctx, "--end is before --begin");
    return 0;
}

int cmd_msg_query_key(cli_ctx_t *ctx, int argc, char **argv)
{
    query_opts_t q;
    int rc = query_args(ctx, argc, argv, &q, ":t:k:n:X:h");
    if (rc != 0)
        return rc;
    if (q.topic == NULL || q.key == NULL)
        return cli_usage(ctx, "missing %s", q.topic == NULL ? "-t TOPIC" : "-k KEY");
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_msg_list_t l = {0, NULL};
    int err = rill_admin_query_msg_by_key(a, q.topic, q.key, q.begin, q.end, (int)q.max, &l);
    if (err != 0) {
        rc = cli_fail(err);
    } else {
        msgs_print(ctx, l.msgs, l.n, q.body);
        rill_msg_list_free(&l);
    }
    rill_admin_destroy(a);
    return rc;
}

int cmd_msg_query_time(cli_ctx_t *ctx, int argc, char **argv)
{
    query_opts_t q;
    int rc = query_args(ctx, argc, argv, &q, ":t:n:X:h");
    if (rc != 0)
        return rc;
    if (q.topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (!q.have_begin)
        return cli_usage(ctx, "missing --begin TIME");
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_msg_list_t l = {0, NULL};
    int64_t end = q.have_end ? q.end : cli_now_ms();
    int err = rill_admin_query_msg_by_time(a, q.topic, q.begin, end, (int)q.max, &l);
    if (err != 0) {
        rc = cli_fail(err);
    } else {
        msgs_print(ctx, l.msgs, l.n, q.body);
        rill_msg_list_free(&l);
    }
    rill_admin_destroy(a);
    return rc;
}

static bool msgid_ok(const char *id)
{
    if (strlen(id) != RILL_MSGID_BYTES)
        return false;
    for (const char *p = id; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return false;
    return true;
}

int cmd_msg_query_id(cli_ctx_t *ctx, int argc, char **argv)
{
    query_opts_t q;
    int rc = query_args(ctx, argc, argv, &q, ":i:n:X:h");
    if (rc != 0)
        return rc;
    if (optind < argc && q.key != NULL)
        return cli_usage(ctx, "give the msgId once: as MSGID or as -i");
    if (optind + 1 < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind + 1]);
    const char *id = optind < argc ? argv[optind] : q.key;
    if (id == NULL)
        return cli_usage(ctx, "missing the msgId");
    if (!msgid_ok(id))
        return cli_usage(ctx, "bad msgId '%s': expected %d hex digits", id, RILL_MSGID_BYTES);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_msg_t *m = NULL;
    int err = rill_admin_query_msg_by_id(a, id, &m);
    if (err != 0) {
        rc = cli_fail(err);
    } else {
        if (ctx->json)
            out_json_print(msg_json(m), stdout);
        else
            msg_print_block(m);
        rill_msg_destroy(m);
    }
    rill_admin_destroy(a);
    return rc;
}

/* ---- resend: a message (e.g. from %DLQ%<group>) back to its topic ---- */

/* Properties the broker or the producer set: not copied onto the new message. */
static bool resend_skip(const char *name)
{
    static const char *const skip[] = {"TAGS",      "KEYS",        "UNIQ_KEY",      "DELAY",
                                       "DELIVER_TIME", "REAL_TOPIC", "REAL_QID",    "RETRY_TOPIC",
                                       "ORIGIN_MSG_ID", "DELAY_ORIGIN", "PGROUP",    "TRAN_MSG",
                                       NULL};
    for (size_t i = 0; skip[i]; i++)
        if (strcmp(name, skip[i]) == 0)
            return true;
    return false;
}

int cmd_msg_resend(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        CLI_COMMON_LONGOPTS,
    };
    const char *topic = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":t:n:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            topic = optarg;
            break;
        default:
            COMMON_OPT(ctx, c);
        }
    }
    if (optind >= argc)
        return cli_usage(ctx, "missing the msgId");
    if (optind + 1 < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind + 1]);
    const char *id = argv[optind];
    if (!msgid_ok(id))
        return cli_usage(ctx, "bad msgId '%s': expected %d hex digits", id, RILL_MSGID_BYTES);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_msg_t *m = NULL;
    int err = rill_admin_query_msg_by_id(a, id, &m);
    rill_admin_destroy(a);
    if (err != 0)
        return cli_fail(err);
    if (topic == NULL)
        topic = rill_msg_property(m, "RETRY_TOPIC");
    if (topic == NULL)
        topic = rill_msg_property(m, "REAL_TOPIC");
    if (topic == NULL && strncmp(rill_msg_topic(m), "%DLQ%", 5) != 0 &&
        strncmp(rill_msg_topic(m), "%RETRY%", 7) != 0)
        topic = rill_msg_topic(m);
    if (topic == NULL) {
        rill_msg_destroy(m);
        return cli_failf("message %s names no original topic: give -t TOPIC", id);
    }
    rill_msg_t *out = rill_msg_new(topic);
    size_t len = 0;
    const char *body = rill_msg_body(m, &len);
    int rc = out ? rill_msg_set_body(out, body, len) : ENOMEM;
    if (rc == 0 && rill_msg_tags(m) && rill_msg_tags(m)[0])
        rc = rill_msg_set_tags(out, rill_msg_tags(m));
    if (rc == 0 && rill_msg_keys(m) && rill_msg_keys(m)[0])
        rc = rill_msg_set_keys(out, rill_msg_keys(m));
    const char *pn, *pv;
    for (size_t i = 0; rc == 0 && rill_msg_property_at(m, i, &pn, &pv) == 0; i++)
        if (!resend_skip(pn))
            rc = rill_msg_set_property(out, pn, pv);
    if (rc != 0) {
        rill_msg_destroy(out);
        rill_msg_destroy(m);
        return cli_fail(rc);
    }
    rill_conf_t *conf = cli_conf(ctx, NULL);
    rill_producer_t *p = NULL;
    char errs[256] = "";
    int e = conf ? rill_producer_new(&p, conf, errs, sizeof(errs)) : RILL_ECONFIG;
    if (e != 0) {
        if (conf)
            rill_conf_destroy(conf);
        rill_msg_destroy(out);
        rill_msg_destroy(m);
        return cli_failf("%s", errs[0] ? errs : rill_strerror(e));
    }
    rill_send_result_t res;
    e = rill_producer_send(p, out, &res);
    if (e != 0) {
        rc = cli_fail(e);
    } else if (ctx->json) {
        printf("{\"msg_id\":\"%s\",\"topic\":\"%s\",\"status\":\"%s\",\"origin\":\"%s\"}\n",
               res.msg_id, topic, rill_send_status_name(res.status), id);
    } else {
        printf("resent %s to %s as %s (%s)\n", id, topic, res.msg_id,
               rill_send_status_name(res.status));
    }
    rill_producer_destroy(p);
    rill_msg_destroy(out);
    rill_msg_destroy(m);
    return rc;
}

/* The broker name of a topic's first readable queue with id queue (for -b's default). */
static int first_broker(rill_admin_t *a, const char *topic, char *out, size_t cap)
{
    rill_topic_route_t r;
    memset(&r, 0, sizeof(r));
    int err = rill_admin_topic_route(a, topic, &r);
    if (err != 0)
        return err;
    const char *best = NULL;
    for (size_t i = 0; i < r.n_queue_datas; i++)
        if (best == NULL || strcmp(r.queue_datas[i].broker_name, best) < 0)
            best = r.queue_datas[i].broker_name;
    if (best != NULL)
        snprintf(out, cap, "%s", best);
    rill_topic_route_free(&r);
    return best != NULL ? 0 : RILL_ETOPIC;
}

int cmd_msg_query_offset(cli_ctx_t *ctx, int argc, char **argv)
{
    query_opts_t q;
    int rc = query_args(ctx, argc, argv, &q, ":t:q:o:b:n:X:h");
    if (rc != 0)
        return rc;
    if (q.topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (q.queue < 0)
        return cli_usage(ctx, "missing -q QUEUE");
    if (q.offset < 0)
        return cli_usage(ctx, "missing -o OFFSET");
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_queue_t queue;
    memset(&queue, 0, sizeof(queue));
    snprintf(queue.topic, sizeof(queue.topic), "%s", q.topic);
    queue.queue_id = (int32_t)q.queue;
    int err = 0;
    if (q.broker != NULL)
        snprintf(queue.broker_name, sizeof(queue.broker_name), "%s", q.broker);
    else
        err = first_broker(a, q.topic, queue.broker_name, sizeof(queue.broker_name));
    rill_msg_t *m = NULL;
    if (err == 0)
        err = rill_admin_query_msg_by_offset(a, &queue, q.offset, &m);
    if (err != 0) {
        rc = cli_fail(err);
    } else {
        if (ctx->json)
            out_json_print(msg_json(m), stdout);
        else
            msg_print_block(m);
        rill_msg_destroy(m);
    }
    rill_admin_destroy(a);
    return rc;
}

/*
 * First offset in [lo, hi) whose message was stored at or after ts, by
 * binary search (store times grow with the offset within a queue); hi when
 * none. Offsets that cannot be read count as "before".
 */
static int64_t offset_at_time(rill_admin_t *a, const rill_queue_t *q, int64_t lo, int64_t hi,
                              int64_t ts)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        rill_msg_t *m = NULL;
        int64_t st = -1;
        if (rill_admin_query_msg_by_offset(a, q, mid, &m) == 0) {
            st = rill_msg_store_timestamp(m);
            rill_msg_destroy(m);
        }
        if (st >= ts)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int cmd_msg_print(cli_ctx_t *ctx, int argc, char **argv)
{
    query_opts_t q;
    int rc = query_args(ctx, argc, argv, &q, ":t:q:b:n:X:h");
    if (rc != 0)
        return rc;
    if (q.topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    int64_t max = q.max > 0 ? q.max : MSG_PRINT_MAX_DEFAULT;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_queue_stat_t *st = NULL;
    size_t n_st = 0;
    int err = rill_admin_topic_status(a, q.topic, &st, &n_st);
    if (err != 0) {
        rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    rill_msg_t **msgs = NULL;
    size_t n = 0, cap = 0;
    bool truncated = false, queue_seen = false;
    for (size_t i = 0; i < n_st && !truncated; i++) {
        const rill_queue_t *queue = &st[i].queue;
        if (q.queue >= 0 && queue->queue_id != q.queue)
            continue;
        if (q.broker != NULL && strcmp(queue->broker_name, q.broker) != 0)
            continue;
        queue_seen = true;
        int64_t off = st[i].min_offset;
        if (q.have_begin)
            off = offset_at_time(a, queue, off, st[i].max_offset, q.begin);
        for (; off < st[i].max_offset; off++) {
            rill_msg_t *m = NULL;
            err = rill_admin_query_msg_by_offset(a, queue, off, &m);
            if (err == RILL_ENOTFOUND || err == RILL_ERANGE)
                continue; /* removed by retention meanwhile */
            if (err != 0)
                goto fail;
            if (q.have_end && rill_msg_store_timestamp(m) > q.end) {
                rill_msg_destroy(m);
                break;
            }
            if ((int64_t)n == max) {
                rill_msg_destroy(m);
                truncated = true;
                break;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                rill_msg_t **nm = realloc(msgs, cap * sizeof(*msgs));
                if (nm == NULL)
                    abort();
                msgs = nm;
            }
            msgs[n++] = m;
        }
    }
    if (!queue_seen) {
        rc = cli_failf("topic \"%s\" has no queue %lld%s%s", q.topic, (long long)q.queue,
                       q.broker ? " on " : "", q.broker ? q.broker : "");
    } else {
        msgs_print(ctx, msgs, n, q.body);
        if (truncated)
            fprintf(stderr, "rill: stopped at --max %lld messages\n", (long long)max);
        rc = CLI_EXIT_OK;
    }
    goto out;
fail:
    rc = cli_fail(err);
out:
    for (size_t i = 0; i < n; i++)
        rill_msg_destroy(msgs[i]);
    free(msgs);
    free(st);
    rill_admin_destroy(a);
    return rc;
}

/* ---- consume ---- */

typedef struct consume_state {
    pthread_mutex_t lock;
    const cli_ctx_t *ctx;
    bool body;
    int64_t count; /* stop after this many; 0 = no limit */
    int64_t printed;
} consume_state_t;

static void print_arrival(const consume_state_t *st, const rill_msg_t *m)
{
    if (st->ctx->json) {
        /* JSON lines: one object per message */
        out_json_print(msg_json(m), stdout);
        return;
    }
    if (st->body) {
        msg_print_block(m);
        putchar('\n');
        return;
    }
    char ts[CLI_TIME_BYTES];
    size_t len = 0;
    const void *body = rill_msg_body(m, &len);
    char *preview = out_escape(body, len, 200);
    const char *tags = rill_msg_tags(m), *keys = rill_msg_keys(m), *bn = rill_msg_broker_name(m);
    printf("%s  %s  %s/%d@%lld  tags=%s keys=%s  %zu B  %s\n",
           cli_format_time(rill_msg_store_timestamp(m), ts, sizeof(ts)), rill_msg_id(m),
           bn ? bn : "-", (int)rill_msg_queue_id(m), (long long)rill_msg_queue_offset(m),
           tags ? tags : "-", keys ? keys : "-", len, preview);
    free(preview);
}

static rill_consume_status_t on_messages(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    consume_state_t *st = opaque;
    pthread_mutex_lock(&st->lock);
    /* the whole batch or none of it: a partly printed batch would be committed whole */
    if (st->count > 0 && st->printed + (int64_t)n > st->count) {
        pthread_mutex_unlock(&st->lock);
        return RILL_RECONSUME_LATER;
    }
    for (size_t i = 0; i < n; i++)
        print_arrival(st, msgs[i]);
    fflush(stdout);
    st->printed += (int64_t)n;
    pthread_mutex_unlock(&st->lock);
    return RILL_CONSUME_SUCCESS;
}

int cmd_msg_consume(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},     {"group", required_argument, NULL, 'g'},
        {"subscription", required_argument, NULL, 's'}, {"from", required_argument, NULL, OPT_FROM},
        {"count", required_argument, NULL, 'c'},     {"wait", required_argument, NULL, OPT_WAIT},
        {"body", no_argument, NULL, OPT_BODY},       CLI_COMMON_LONGOPTS,
    };
    const char *topic = NULL, *group = "rill_cli_consumer", *expr = "*", *from = "last";
    int64_t count = 0, wait_s = 0, from_ms = 0;
    bool body = false;
    int c, rc;
    /* -n is the count here, as in the synopsis; the NameServer is --namesrv */
    while ((c = getopt_long(argc, argv, ":t:g:s:n:c:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            topic = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 's':
            expr = optarg;
            break;
        case OPT_FROM:
            from = optarg;
            break;
        case 'n':
        case 'c':
            if (cli_parse_int(optarg, 1, INT64_MAX, &count) != 0)
                return cli_usage(ctx, "bad count '%s'", optarg);
            break;
        case OPT_WAIT:
            if (cli_parse_int(optarg, 1, 86400 * 365, &wait_s) != 0)
                return cli_usage(ctx, "bad --wait '%s': expected seconds", optarg);
            break;
        case OPT_BODY:
            body = true;
            break;
        default:
            COMMON_OPT(ctx, c);
        }
    }
    if (topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    const char *from_key;
    if (strcmp(from, "first") == 0) {
        from_key = "FIRST_OFFSET";
    } else if (strcmp(from, "last") == 0) {
        from_key = "LAST_OFFSET";
    } else {
        if ((rc = parse_time_opt(ctx, "--from", from, &from_ms)) != 0)
            return rc;
        from_key = "TIMESTAMP";
    }
    rill_conf_t *conf = cli_conf(ctx, group);
    if (conf == NULL)
        return CLI_EXIT_ERROR;
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", (long long)from_ms);
    if (cli_conf_set(conf, "consume.from", from_key) != 0 ||
        (from_ms > 0 && cli_conf_set(conf, "consume.timestamp.ms", ts) != 0) ||
        cli_conf_set(conf, "consume.threads", "1") != 0 ||
        cli_conf_set(conf, "retry.send.back", "false") != 0 || /* unprinted: not to %RETRY% */
        cli_conf_overrides(ctx, conf) != 0) {
        rill_conf_destroy(conf);
        return CLI_EXIT_ERROR;
    }
    consume_state_t st = {.ctx = ctx, .body = body, .count = count};
    pthread_mutex_init(&st.lock, NULL);
    rill_push_consumer_t *pc = NULL;
    char err[256] = "";
    int e = rill_push_consumer_new(&pc, conf, err, sizeof(err));
    if (e != 0) {
        rill_conf_destroy(conf);
        return cli_failf("%s", err[0] ? err : rill_strerror(e));
    }
    if ((e = rill_push_consumer_subscribe(pc, topic, expr)) != 0 ||
        (e = rill_push_consumer_set_listener(pc, on_messages, &st)) != 0 ||
        (e = rill_push_consumer_start(pc)) != 0) {
        rc = cli_fail(e);
        rill_push_consumer_destroy(pc);
        return rc;
    }
    cli_catch_signals();
    int64_t deadline = wait_s > 0 ? cli_now_ms() + wait_s * 1000 : INT64_MAX;
    bool done = false;
    while (!cli_stop_requested && cli_now_ms() < deadline && !done) {
        usleep(20 * 1000);
        pthread_mutex_lock(&st.lock);
        done = count > 0 && st.printed >= count;
        pthread_mutex_unlock(&st.lock);
    }
    /* stops pulling, waits for the listener, commits what was printed */
    rill_push_consumer_destroy(pc);
    pthread_mutex_destroy(&st.lock);
    if (count > 0 && st.printed < count && !cli_stop_requested)
        return cli_failf("%lld of %lld messages arrived within %lld s", (long long)st.printed,
                         (long long)count, (long long)wait_s);
    return CLI_EXIT_OK;
}

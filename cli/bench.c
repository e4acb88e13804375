/*
 * bench.c - `rill bench produce` and `rill bench consume`: load through
 * librill's public API, a progress line each second (msg/s, MB/s, latency
 * p50/p99/p999 of that second) and a final summary (--json: one object with
 * msg_s, mb_s, p50_us, p99_us, p999_us, sent or received, errors).
 *
 * Threads: produce runs -c sender threads; async sends complete on library
 * threads (send_done), which only touch atomics and the atomic histograms.
 * The main thread prints progress and watches the stop conditions
 * (count, duration, Ctrl-C); then senders stop, the producer is flushed and
 * the summary printed. consume runs a push consumer whose listener threads
 * count and record; the main thread stops it when the count is reached, the
 * duration is over, nothing arrived for --idle seconds, or on Ctrl-C.
 *
 * MB/s are 10^6 bytes of message body per second, as the NATS peer
 * benchmark counts them, so `make bench-compare` compares like with like.
 */
#include "cli/cli.h"
#include "cli/histogram.h"
#include "cli/output.h"
#include "cli/timeparse.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/** Sender threads at most. */
#define BENCH_THREADS_MAX 256
/** Largest --batch. */
#define BENCH_BATCH_MAX 4096
/** Largest -s. */
#define BENCH_SIZE_MAX (4 * 1024 * 1024)
/** How long the end of a produce run waits for sends in flight. */
#define BENCH_FLUSH_MS 60000

enum {
    OPT_BATCH = CLI_OPT_FIRST_PRIVATE,
    OPT_SYNC,
    OPT_ASYNC,
    OPT_INFLIGHT,
    OPT_IDLE,
};

#define COMMON_OPT(ctx, c)                                                                         \
    do {                                                                                           \
        int rc_ = cli_common_opt((ctx), (c), optarg);                                              \
        if (rc_ >= 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Counters shared by the senders, the completions and the reporter. */
typedef struct bench {
    const cli_ctx_t *ctx;
    /* produce setup */
    rill_producer_t *producer;
    const char *topic;
    char *body;
    size_t size;
    int64_t batch; /* 0: single sends */
    bool sync;
    int64_t count; /* 0: until duration or Ctrl-C */
    atomic_bool stop;
    _Atomic int64_t claimed; /* messages senders took from count */
    /* results */
    _Atomic int64_t done;    /* messages acknowledged (produce) or received (consume) */
    _Atomic int64_t bytes;
    _Atomic int64_t errors;
    _Atomic int first_error; /* first error code seen */
    _Atomic uint64_t first_us, last_us; /* consume: first and last arrival */
    hist_t total, second;
} bench_t;

static void note_error(bench_t *b, int err, int64_t n)
{
    atomic_fetch_add(&b->errors, n);
    int zero = 0;
    atomic_compare_exchange_strong(&b->first_error, &zero, err);
}

static void record(bench_t *b, uint64_t us, int64_t msgs)
{
    hist_record(&b->total, us);
    hist_record(&b->second, us);
    atomic_fetch_add_explicit(&b->done, msgs, memory_order_relaxed);
    atomic_fetch_add_explicit(&b->bytes, msgs * (int64_t)b->size, memory_order_relaxed);
}

static void fmt_us(uint64_t us, char *buf, size_t cap)
{
    if (us >= 10000000)
        snprintf(buf, cap, "%.1fs", (double)us / 1e6);
    else if (us >= 10000)
        snprintf(buf, cap, "%.1fms", (double)us / 1e3);
    else if (us >= 1000)
        snprintf(buf, cap, "%.2fms", (double)us / 1e3);
    else
        snprintf(buf, cap, "%lluus", (unsigned long long)us);
}

/* One progress line for the last second. */
static void progress(bench_t *b, double t_s, int64_t d_msgs, int64_t d_bytes, double dt)
{
    char p50[16], p99[16], p999[16];
    fmt_us(hist_percentile(&b->second, 50), p50, sizeof(p50));
    fmt_us(hist_percentile(&b->second, 99), p99, sizeof(p99));
    fmt_us(hist_percentile(&b->second, 99.9), p999, sizeof(p999));
    hist_reset(&b->second);
    FILE *out = b->ctx->json ? stderr : stdout;
    fprintf(out, "%6.1fs %11.0f msg/s %8.1f MB/s  p50 %8s p99 %8s p999 %8s  total %lld errors %lld\n",
            t_s, (double)d_msgs / dt, (double)d_bytes / dt / 1e6, p50, p99, p999,
            (long long)atomic_load(&b->done), (long long)atomic_load(&b->errors));
    fflush(out);
}

static void summary(bench_t *b, const char *what, const char *mode, int threads, double secs)
{
    int64_t done = atomic_load(&b->done), errors = atomic_load(&b->errors);
    double msg_s = secs > 0 ? (double)done / secs : 0;
    double mb_s = secs > 0 ? (double)atomic_load(&b->bytes) / secs / 1e6 : 0;
    uint64_t p50 = hist_percentile(&b->total, 50), p99 = hist_percentile(&b->total, 99),
             p999 = hist_percentile(&b->total, 99.9), max = hist_percentile(&b->total, 100);
    if (b->ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "bench", what);
        cJSON_AddStringToObject(o, "topic", b->topic);
        cJSON_AddStringToObject(o, "mode", mode);
        cJSON_AddNumberToObject(o, "size", (double)b->size);
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddNumberToObject(o, strcmp(what, "produce") == 0 ? "sent" : "received",
                                (double)done);
        cJSON_AddNumberToObject(o, "errors", (double)errors);
        cJSON_AddNumberToObject(o, "seconds", secs);
        cJSON_AddNumberToObject(o, "msg_s", msg_s);
        cJSON_AddNumberToObject(o, "mb_s", mb_s);
        cJSON_AddNumberToObject(o, "p50_us", (double)p50);
        cJSON_AddNumberToObject(o, "p99_us", (double)p99);
        cJSON_AddNumberToObject(o, "p999_us", (double)p999);
        cJSON_AddNumberToObject(o, "max_us", (double)max);
        out_json_print(o, stdout);
        return;
    }
    char s50[16], s99[16], s999[16], smax[16];
    fmt_us(p50, s50, sizeof(s50));
    fmt_us(p99, s99, sizeof(s99));
    fmt_us(p999, s999, sizeof(s999));
    fmt_us(max, smax, sizeof(smax));
    printf("\n%s %s: %lld messages of %zu B in %.2f s: %.0f msg/s, %.1f MB/s\n"
           "latency p50 %s  p99 %s  p999 %s  max %s   errors %lld\n",
           what, mode, (long long)done, b->size, secs, msg_s, mb_s, s50, s99, s999, smax,
           (long long)errors);
}

/* ---- produce ---- */

static void send_done(int err, const rill_send_result_t *res, void *opaque)
{
    (void)res;
    bench_t *b = *(bench_t **)opaque;
    uint64_t start = ((uint64_t *)opaque)[1];
    free(opaque);
    if (err != 0)
        note_error(b, err, 1);
    else
        record(b, mono_us() - start, 1);
}

/* Claim n messages of the count; false when the count is used up or stop was asked. */
static bool claim(bench_t *b, int64_t n)
{
    if (atomic_load_explicit(&b->stop, memory_order_relaxed))
        return false;
    if (b->count == 0)
        return true;
    return atomic_fetch_add(&b->claimed, n) + n <= b->count;
}

static rill_msg_t *new_msg(bench_t *b)
{
    rill_msg_t *m = rill_msg_new(b->topic);
    if (m != NULL && rill_msg_set_body(m, b->body, b->size) != 0) {
        rill_msg_destroy(m);
        m = NULL;
    }
    return m;
}

static void *sender(void *arg)
{
    bench_t *b = arg;
    pthread_setname_np(pthread_self(), "bench-send");
    if (b->batch > 0) {
        rill_msg_t **msgs = calloc((size_t)b->batch, sizeof(*msgs));
        if (msgs == NULL)
            return NULL;
        while (claim(b, b->batch)) {
            size_t n = 0;
            for (; n < (size_t)b->batch; n++)
                if ((msgs[n] = new_msg(b)) == NULL)
                    break;
            uint64_t t0 = mono_us();
            int err = n == (size_t)b->batch ? rill_producer_send_batch(b->producer, msgs, n, NULL)
                                            : ENOMEM;
            if (err != 0)
                note_error(b, err, b->batch);
            else
                record(b, mono_us() - t0, b->batch);
            for (size_t i = 0; i < n; i++)
                rill_msg_destroy(msgs[i]);
            if (err != 0)
                usleep(1000);
        }
        free(msgs);
        return NULL;
    }
    while (claim(b, 1)) {
        rill_msg_t *m = new_msg(b);
        if (m == NULL) {
            note_error(b, ENOMEM, 1);
            break;
        }
        if (b->sync) {
            uint64_t t0 = mono_us();
            int err = rill_producer_send(b->producer, m, NULL);
            if (err != 0) {
                note_error(b, err, 1);
                usleep(1000); /* a broken broker must not turn this into a spin */
            } else {
                record(b, mono_us() - t0, 1);
            }
        } else {
            /* the opaque carries the bench and the start time */
            uint64_t *op = malloc(2 * sizeof(uint64_t));
            if (op == NULL) {
                rill_msg_destroy(m);
                note_error(b, ENOMEM, 1);
                break;
            }
            *(bench_t **)op = b;
            for (;;) {
                op[1] = mono_us();
                int err = rill_producer_send_async(b->producer, m, send_done, op);
                if (err == 0)
                    break;
                if (err == RILL_EBUSY && !atomic_load(&b->stop)) {
                    usleep(50); /* send.inflight.max reached: wait for completions */
                    continue;
                }
                free(op);
                note_error(b, err, 1);
                usleep(1000);
                break;
            }
        }
        rill_msg_destroy(m);
    }
    return NULL;
}

/* Progress each second until stop; returns when the run should end. */
static void watch(bench_t *b, uint64_t t0, int64_t duration_s, bool consume, int64_t idle_s)
{
    uint64_t last = t0;
    int64_t last_done = 0, last_bytes = 0;
    uint64_t last_activity = t0;
    while (!atomic_load(&b->stop)) {
        uint64_t next = last + 1000000;
        while (!atomic_load(&b->stop) && mono_us() < next) {
            usleep(10000);
            uint64_t now = mono_us();
            int64_t d = atomic_load(&b->done);
            if (cli_stop_requested || (duration_s > 0 && now - t0 >= (uint64_t)duration_s * 1000000))
                atomic_store(&b->stop, true);
            if (b->count > 0 && d + atomic_load(&b->errors) >= b->count)
                atomic_store(&b->stop, true);
            if (consume && d != last_done)
                last_activity = now;
            if (consume && idle_s > 0 && now - last_activity > (uint64_t)idle_s * 1000000)
                atomic_store(&b->stop, true);
        }
        uint64_t now = mono_us();
        int64_t d = atomic_load(&b->done), by = atomic_load(&b->bytes);
        if (now > last)
            progress(b, (double)(now - t0) / 1e6, d - last_done, by - last_bytes,
                     (double)(now - last) / 1e6);
        if (d != last_done)
            last_activity = now;
        last = now;
        last_done = d;
        last_bytes = by;
    }
}

int cmd_bench_produce(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},     {"size", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 'c'},   {"batch", required_argument, NULL, OPT_BATCH},
        {"sync", no_argument, NULL, OPT_SYNC},       {"async", no_argument, NULL, OPT_ASYNC},
        {"inflight", required_argument, NULL, OPT_INFLIGHT},
        {"count", required_argument, NULL, 'n'},     {"duration", required_argument, NULL, 'd'},
        {"group", required_argument, NULL, 'g'},     CLI_COMMON_LONGOPTS,
    };
    static bench_t b; /* large (histograms); one run per process */
    memset(&b, 0, sizeof(b));
    b.ctx = ctx;
    b.size = 128;
    int64_t threads = 0, duration = 0, inflight = 8192, size = 128;
    const char *group = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":t:s:c:n:d:g:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            b.topic = optarg;
            break;
        case 's':
            if (cli_parse_int(optarg, 1, BENCH_SIZE_MAX, &size) != 0)
                return cli_usage(ctx, "bad size '%s': expected 1..%d", optarg, BENCH_SIZE_MAX);
            break;
        case 'c':
            if (cli_parse_int(optarg, 1, BENCH_THREADS_MAX, &threads) != 0)
                return cli_usage(ctx, "bad thread count '%s': expected 1..%d", optarg,
                                 BENCH_THREADS_MAX);
            break;
        case OPT_BATCH:
            if (cli_parse_int(optarg, 1, BENCH_BATCH_MAX, &b.batch) != 0)
                return cli_usage(ctx, "bad batch '%s': expected 1..%d", optarg, BENCH_BATCH_MAX);
            break;
        case OPT_SYNC:
            b.sync = true;
            break;
        case OPT_ASYNC:
            b.sync = false;
            break;
        case OPT_INFLIGHT:
            if (cli_parse_int(optarg, 1, 1000000, &inflight) != 0)
                return cli_usage(ctx, "bad --inflight '%s'", optarg);
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, INT64_MAX / 2, &b.count) != 0)
                return cli_usage(ctx, "bad count '%s'", optarg);
            break;
        case 'd':
            if (cli_parse_int(optarg, 1, 86400, &duration) != 0)
                return cli_usage(ctx, "bad duration '%s': expected seconds", optarg);
            break;
        case 'g':
            group = optarg;
            break;
        default:
            COMMON_OPT(ctx, c);
        }
    }
    if (b.topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    if (b.count == 0 && duration == 0)
        duration = 10;
    if (threads == 0)
        threads = (b.sync || b.batch > 0) ? 8 : 1;
    b.size = (size_t)size;
    if (b.batch > 0 && b.size * (size_t)b.batch > BENCH_SIZE_MAX)
        return cli_usage(ctx, "a batch of %lld x %zu B exceeds %d bytes", (long long)b.batch,
                         b.size, BENCH_SIZE_MAX);
    rill_conf_t *conf = cli_conf(ctx, group);
    if (conf == NULL)
        return CLI_EXIT_ERROR;
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)inflight);
    if (cli_conf_set(conf, "send.inflight.max", buf) != 0 || cli_conf_overrides(ctx, conf) != 0) {
        rill_conf_destroy(conf);
        return CLI_EXIT_ERROR;
    }
    char err[256] = "";
    int e = rill_producer_new(&b.producer, conf, err, sizeof(err));
    if (e != 0) {
        rill_conf_destroy(conf);
        return cli_failf("%s", err[0] ? err : rill_strerror(e));
    }
    b.body = out_xmalloc(b.size);
    for (size_t i = 0; i < b.size; i++)
        b.body[i] = (char)('a' + i % 26);
    const char *mode = b.batch > 0 ? "batch" : b.sync ? "sync" : "async";
    /* one send first: it looks the route up and fails clearly when nothing serves the topic */
    rill_msg_t *probe = new_msg(&b);
    e = probe ? rill_producer_send(b.producer, probe, NULL) : ENOMEM;
    rill_msg_destroy(probe);
    if (e != 0) {
        int rc = cli_fail(e);
        rill_producer_destroy(b.producer);
        free(b.body);
        return rc;
    }
    if (!ctx->json)
        printf("bench produce: topic %s, %zu B, %s, %lld thread%s%s\n", b.topic, b.size, mode,
               (long long)threads, threads == 1 ? "" : "s",
               b.sync || b.batch ? "" : ", many sends in flight");
    cli_catch_signals();
    pthread_t tids[BENCH_THREADS_MAX];
    int started = 0;
    uint64_t t0 = mono_us();
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, sender, &b) != 0)
            break;
    if (started == 0) {
        atomic_store(&b.stop, true);
    } else {
        watch(&b, t0, duration, false, 0);
    }
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    int fe = rill_producer_flush(b.producer, BENCH_FLUSH_MS);
    double secs = (double)(mono_us() - t0) / 1e6;
    summary(&b, "produce", mode, (int)threads, secs);
    int rc = CLI_EXIT_OK;
    if (fe != 0)
        rc = cli_failf("sends still in flight after %d ms", BENCH_FLUSH_MS);
    int first = atomic_load(&b.first_error);
    if (atomic_load(&b.errors) > 0)
        fprintf(stderr, "rill: %lld sends failed; first error: %s\n",
                (long long)atomic_load(&b.errors), rill_strerror(first));
    if (atomic_load(&b.done) == 0 && atomic_load(&b.errors) > 0)
        rc = CLI_EXIT_ERROR;
    rill_producer_destroy(b.producer);
    free(b.body);
    return rc;
}

/* ---- consume ---- */

static rill_consume_status_t bench_listener(rill_msg_t *const *msgs, size_t n, void *opaque)
{
    bench_t *b = opaque;
    int64_t now_ms = cli_now_ms();
    uint64_t now_us = mono_us();
    int64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        rill_msg_body(msgs[i], &len);
        bytes += (int64_t)len;
        int64_t st = rill_msg_store_timestamp(msgs[i]);
        uint64_t lat = st > 0 && now_ms > st ? (uint64_t)(now_ms - st) * 1000u : 0;
        hist_record(&b->total, lat);
        hist_record(&b->second, lat);
    }
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&b->first_us, &zero, now_us);
    atomic_store(&b->last_us, now_us);
    atomic_fetch_add(&b->bytes, bytes);
    atomic_fetch_add(&b->done, (int64_t)n);
    return RILL_CONSUME_SUCCESS;
}

int cmd_bench_consume(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},   {"group", required_argument, NULL, 'g'},
        {"threads", required_argument, NULL, 'c'}, {"count", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'}, {"idle", required_argument, NULL, OPT_IDLE},
        CLI_COMMON_LONGOPTS,
    };
    static bench_t b;
    memset(&b, 0, sizeof(b));
    b.ctx = ctx;
    int64_t threads = 4, duration = 0, idle = 5;
    const char *group = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":t:g:c:n:d:X:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            b.topic = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'c':
            if (cli_parse_int(optarg, 1, BENCH_THREADS_MAX, &threads) != 0)
                return cli_usage(ctx, "bad thread count '%s'", optarg);
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, INT64_MAX / 2, &b.count) != 0)
                return cli_usage(ctx, "bad count '%s'", optarg);
            break;
        case 'd':
            if (cli_parse_int(optarg, 1, 86400, &duration) != 0)
                return cli_usage(ctx, "bad duration '%s': expected seconds", optarg);
            break;
        case OPT_IDLE:
            if (cli_parse_int(optarg, 1, 86400, &idle) != 0)
                return cli_usage(ctx, "bad --idle '%s': expected seconds", optarg);
            break;
        default:
            COMMON_OPT(ctx, c);
        }
    }
    if (b.topic == NULL)
        return cli_usage(ctx, "missing -t TOPIC");
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    char fresh[96];
    if (group == NULL) {
        snprintf(fresh, sizeof(fresh), "rill_bench_%d_%lld", (int)getpid(),
                 (long long)cli_now_ms());
        group = fresh;
    }
    rill_conf_t *conf = cli_conf(ctx, group);
    if (conf == NULL)
        return CLI_EXIT_ERROR;
    char nthreads[16];
    snprintf(nthreads, sizeof(nthreads), "%lld", (long long)threads);
    /* Big pulls: one PULL_MESSAGE per 512 messages instead of 32 (the
     * default) cuts the request/reply hand-offs that bound consume; the
     * per-queue cache must hold a few pulls so fetching never stalls. */
    if (cli_conf_set(conf, "consume.from", "FIRST_OFFSET") != 0 ||
        cli_conf_set(conf, "consume.threads", nthreads) != 0 ||
        cli_conf_set(conf, "consume.batch.size", "64") != 0 ||
        cli_conf_set(conf, "pull.batch.size", "512") != 0 ||
        cli_conf_set(conf, "pull.threshold.queue.msgs", "4096") != 0 ||
        cli_conf_overrides(ctx, conf) != 0) {
        rill_conf_destroy(conf);
        return CLI_EXIT_ERROR;
    }
    rill_push_consumer_t *pc = NULL;
    char err[256] = "";
    int e = rill_push_consumer_new(&pc, conf, err, sizeof(err));
    if (e != 0) {
        rill_conf_destroy(conf);
        return cli_failf("%s", err[0] ? err : rill_strerror(e));
    }
    if ((e = rill_push_consumer_subscribe(pc, b.topic, "*")) != 0 ||
        (e = rill_push_consumer_set_listener(pc, bench_listener, &b)) != 0 ||
        (e = rill_push_consumer_start(pc)) != 0) {
        int rc = cli_fail(e);
        rill_push_consumer_destroy(pc);
        return rc;
    }
    if (!ctx->json)
        printf("bench consume: topic %s, group %s, %lld listener thread%s, from the first "
               "offset\n",
               b.topic, group, (long long)threads, threads == 1 ? "" : "s");
    cli_catch_signals();
    uint64_t t0 = mono_us();
    watch(&b, t0, duration, true, idle);
    rill_push_consumer_destroy(pc);
    /* the rate is over the messages' arrival: from the first to the last one */
    uint64_t first = atomic_load(&b.first_us), last = atomic_load(&b.last_us);
    double secs = first && last > first ? (double)(last - first) / 1e6 : 0;
    int64_t done = atomic_load(&b.done);
    b.size = done > 0 ? (size_t)(atomic_load(&b.bytes) / done) : 0;
    summary(&b, "consume", "push", (int)threads, secs);
    if (done == 0)
        return cli_failf("no message arrived from topic %s within %lld s", b.topic,
                         (long long)(duration > 0 && duration < idle ? duration : idle));
    return CLI_EXIT_OK;
}

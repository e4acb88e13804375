/*
 * store_bench.c - in-process benchmark of the storage engine (no network).
 *
 * For each workload (message size x appending threads x flush mode) it
 * appends for a fixed time into a fresh store, then reports append
 * throughput and latency, how far the dispatcher lagged, and how fast the
 * messages read back through the ConsumeQueue. Every message carries a
 * UNIQ_KEY property, as every message from the client does, so the key
 * index is part of the dispatch cost.
 *
 *   store_bench [-d SECONDS] [--sizes 128,1024] [--threads 1,16]
 *               [--flush async,sync] [--batch N] [--dir DIR] [--json] [--no-uniq-key]
 *               [--rate MSG_PER_S]
 *
 * --rate paces the appenders to a fixed total rate, to see how far the
 * dispatcher lags at a given ingest rate rather than at full speed.
 */
#include "bench/latency.h"
#include "broker/store/store.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/props.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_QUEUES      8
#define BENCH_THREADS_MAX 64
#define BENCH_BATCH_MAX   1024
#define BENCH_LIST_MAX    8

typedef struct workload {
    uint32_t size;
    int threads;
    int sync_flush;
} workload_t;

typedef struct worker {
    pthread_t thread;
    int id;
    store_t *store;
    const workload_t *w;
    int batch;
    uint64_t deadline_ns;
    double rate; /* messages/s for this worker, 0 = as fast as possible */
    uint64_t sent, errors;
    lat_hist_t lat;
} worker_t;

static const char *bench_topic = "BenchTopic";
static int with_uniq_key = 1;

static void *worker_main(void *arg)
{
    worker_t *wk = arg;
    uint8_t *body = malloc(wk->w->size);
    memset(body, 'x', wk->w->size);
    store_msg_t msgs[BENCH_BATCH_MAX];
    store_put_result_t res[BENCH_BATCH_MAX];
    char props[BENCH_BATCH_MAX][64];
    uint64_t seq = 0;
    uint64_t start_ns = rill_mono_ns();
    for (;;) {
        uint64_t t0 = rill_mono_ns();
        if (t0 >= wk->deadline_ns)
            break;
        if (wk->rate > 0) {
            /* paced: wait until this message is due */
            uint64_t due = start_ns + (uint64_t)((double)seq / wk->rate * 1e9);
            if (due > t0) {
                uint64_t wait = due - t0;
                struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
                nanosleep(&ts, NULL);
                t0 = rill_mono_ns();
            }
        }
        for (int i = 0; i < wk->batch; i++) {
            char key[40];
            int klen = snprintf(key, sizeof(key), "%08X%016" PRIX64, (unsigned)wk->id, seq);
            size_t plen = 0;
            if (with_uniq_key)
                rill_props_append(props[i], sizeof(props[i]), &plen, RILL_PROP_UNIQ_KEY, key,
                                  (size_t)klen);
            msgs[i] = (store_msg_t){
                .topic = bench_topic,
                .topic_len = (uint16_t)strlen(bench_topic),
                .queue_id = (uint32_t)(seq % BENCH_QUEUES),
                .body = body,
                .body_len = wk->w->size,
                .props = props[i],
                .props_len = (uint32_t)plen,
                .born_ts = 0,
            };
            seq++;
        }
        int rc = store_put(wk->store, msgs, (size_t)wk->batch, res);
        uint64_t t1 = rill_mono_ns();
        if (rc == 0) {
            wk->sent += (uint64_t)wk->batch;
            lat_record(&wk->lat, t1 - t0);
        } else {
            wk->errors++;
        }
    }
    free(body);
    return NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

typedef struct result {
    double msg_s, mb_s, p50_us, p99_us, dispatch_lag_ms, read_msg_s, rebuild_msg_s;
    uint64_t sent, errors;
} result_t;

static int run_workload(const char *root, const workload_t *w, double seconds, int batch,
                        double rate, result_t *out)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/w-%u-%d-%s", root, w->size, w->threads,
             w->sync_flush ? "sync" : "async");
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    store_config_t cfg;
    store_config_defaults(&cfg);
    snprintf(cfg.store_path_root_dir, sizeof(cfg.store_path_root_dir), "%s", dir);
    cfg.flush_disk_type = w->sync_flush ? STORE_SYNC_FLUSH : STORE_ASYNC_FLUSH;
    store_t *s;
    int rc = store_open(&s, &cfg);
    if (rc) {
        fprintf(stderr, "store_bench: store_open %s: %s\n", dir, rill_strerror(rc));
        return rc;
    }
    worker_t *wk = calloc((size_t)w->threads, sizeof(*wk));
    uint64_t start = rill_mono_ns();
    uint64_t deadline = start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < w->threads; i++) {
        wk[i] = (worker_t){.id = i,
                           .store = s,
                           .w = w,
                           .batch = batch,
                           .deadline_ns = deadline,
                           .rate = rate / w->threads};
        pthread_create(&wk[i].thread, NULL, worker_main, &wk[i]);
    }
    /* sample the dispatch lag while appending */
    uint64_t max_lag_ms = 0;
    while (rill_mono_ns() < deadline) {
        rill_sleep_ms(50);
        store_stats_t st;
        store_get_stats(s, &st);
        if (st.dispatch_lag_ms > max_lag_ms)
            max_lag_ms = st.dispatch_lag_ms;
    }
    lat_hist_t *lat = calloc(1, sizeof(*lat));
    uint64_t sent = 0, errors = 0;
    for (int i = 0; i < w->threads; i++) {
        pthread_join(wk[i].thread, NULL);
        sent += wk[i].sent;
        errors += wk[i].errors;
        lat_merge(lat, &wk[i].lat);
    }
    uint64_t end = rill_mono_ns();
    /* how long after the last append until everything is dispatched */
    uint64_t catch_up_start = rill_mono_ns();
    store_wait_dispatched(s, 60000);
    double catch_up_ms = (double)(rill_mono_ns() - catch_up_start) / 1e6;
    double elapsed = (double)(end - start) / 1e9;

    /* read everything back through the ConsumeQueue */
    size_t cap = 8u << 20;
    uint8_t *buf = malloc(cap);
    uint64_t read = 0, r0 = rill_mono_ns();
    for (uint32_t q = 0; q < BENCH_QUEUES; q++) {
        uint64_t off = 0;
        for (;;) {
            store_get_result_t gr;
            if (store_get_messages(s, bench_topic, q, off, 1024, NULL, buf, cap, &gr) != 0 ||
                gr.status != STORE_FOUND)
                break;
            read += gr.count;
            off = gr.next_offset;
        }
    }
    double read_s = (double)(rill_mono_ns() - r0) / 1e9;
    free(buf);

    out->sent = sent;
    out->errors = errors;
    out->msg_s = (double)sent / elapsed;
    out->mb_s = (double)sent * w->size / elapsed / (1024.0 * 1024.0);
    /* latency is per store_put call (a whole batch when --batch > 1) */
    out->p50_us = (double)lat_quantile(lat, 0.50) / 1e3;
    out->p99_us = (double)lat_quantile(lat, 0.99) / 1e3;
    out->dispatch_lag_ms = (double)max_lag_ms > catch_up_ms ? (double)max_lag_ms : catch_up_ms;
    out->read_msg_s = read_s > 0 ? (double)read / read_s : 0;
    if (read != sent)
        fprintf(stderr, "store_bench: read back %" PRIu64 " of %" PRIu64 " messages\n", read, sent);
    free(lat);
    free(wk);
    store_close(s);
    /* Dispatch speed alone: drop LMDB and time the rebuild from the log. */
    char kvdir[1100];
    snprintf(kvdir, sizeof(kvdir), "%s/kv", dir);
    nftw(kvdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    uint64_t rb0 = rill_mono_ns();
    if (store_open(&s, &cfg) == 0) {
        out->rebuild_msg_s = (double)sent / ((double)(rill_mono_ns() - rb0) / 1e9);
        store_close(s);
    }
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return read == sent ? 0 : RILL_ECORRUPT;
}

static size_t parse_list(const char *arg, long *out, long lo, long hi)
{
    size_t n = 0;
    char *copy = strdup(arg), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && n < BENCH_LIST_MAX;
         tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < lo || v > hi) {
            fprintf(stderr, "store_bench: bad value '%s' (expected %ld..%ld)\n", tok, lo, hi);
            exit(2);
        }
        out[n++] = v;
    }
    free(copy);
    return n;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: store_bench [-d SECONDS] [--sizes 128,1024] [--threads 1,16]\n"
               "                   [--flush async,sync] [--batch N] [--dir DIR] [--json]\n"
               "                   [--no-uniq-key] [--rate MSG_PER_S]\n"
               "Appends into a fresh store per workload and prints msg/s, MB/s, p50/p99\n"
               "append latency, dispatch lag and read-back throughput.\n"
               "example: store_bench -d 3 --sizes 128 --threads 1 --flush async\n");
}

int main(int argc, char **argv)
{
    double seconds = 3.0;
    long sizes[BENCH_LIST_MAX] = {128, 1024}, threads[BENCH_LIST_MAX] = {1, 16};
    size_t nsizes = 2, nthreads = 2;
    int flushes[2] = {0, 1}, nflush = 2, json = 0, batch = 1;
    double rate = 0;
    const char *root = "./data/store-bench";
    static const struct option opts[] = {
        {"duration", required_argument, NULL, 'd'},
        {"sizes", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},
        {"flush", required_argument, NULL, 'f'},
        {"batch", required_argument, NULL, 'b'},
        {"dir", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"no-uniq-key", no_argument, NULL, 'u'},
        {"rate", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            seconds = atof(optarg);
            if (seconds <= 0 || seconds > 3600) {
                fprintf(stderr, "store_bench: bad duration '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            nsizes = parse_list(optarg, sizes, 1, 4 << 20);
            break;
        case 't':
            nthreads = parse_list(optarg, threads, 1, BENCH_THREADS_MAX);
            break;
        case 'f':
            nflush = 0;
            if (strstr(optarg, "async"))
                flushes[nflush++] = 0;
            if (strstr(optarg, "sync") && strcmp(optarg, "async") != 0)
                flushes[nflush++] = 1;
            if (nflush == 0) {
                fprintf(stderr, "store_bench: --flush takes async, sync or async,sync\n");
                return 2;
            }
            break;
        case 'b':
            batch = atoi(optarg);
            if (batch < 1 || batch > BENCH_BATCH_MAX) {
                fprintf(stderr, "store_bench: --batch must be 1..%d\n", BENCH_BATCH_MAX);
                return 2;
            }
            break;
        case 'D':
            root = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'u':
            with_uniq_key = 0;
            break;
        case 'r':
            rate = atof(optarg);
            if (rate <= 0) {
                fprintf(stderr, "store_bench: --rate must be a positive msg/s\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    rill_log_set_level(RILL_LOG_WARN);
    mkdir("./data", 0755);
    mkdir(root, 0755);
    if (!json)
        printf("%-28s %12s %9s %9s %9s %12s %12s %12s\n", "workload", "msg/s", "MB/s", "p50_us",
               "p99_us", "dispatch_ms", "read_msg/s", "rebuild_m/s");
    int failed = 0;
    for (int fi = 0; fi < nflush; fi++) {
        for (size_t si = 0; si < nsizes; si++) {
            for (size_t ti = 0; ti < nthreads; ti++) {
                workload_t w = {(uint32_t)sizes[si], (int)threads[ti], flushes[fi]};
                result_t r;
                char name[64];
                snprintf(name, sizeof(name), "append-%uB-%dt-%s%s", w.size, w.threads,
                         w.sync_flush ? "sync" : "async", batch > 1 ? "-batch" : "");
                if (run_workload(root, &w, seconds, batch, rate, &r) != 0) {
                    failed = 1;
                    continue;
                }
                if (json)
                    printf("{\"workload\":\"%s\",\"size\":%u,\"threads\":%d,\"flush\":\"%s\","
                           "\"batch\":%d,\"msg_s\":%.0f,\"mb_s\":%.1f,\"p50_us\":%.1f,"
                           "\"p99_us\":%.1f,\"dispatch_lag_ms\":%.1f,\"read_msg_s\":%.0f,"
                           "\"rebuild_msg_s\":%.0f,"
                           "\"sent\":%" PRIu64 ",\"errors\":%" PRIu64 "}\n",
                           name, w.size, w.threads, w.sync_flush ? "SYNC_FLUSH" : "ASYNC_FLUSH",
                           batch, r.msg_s, r.mb_s, r.p50_us, r.p99_us, r.dispatch_lag_ms,
                           r.read_msg_s, r.rebuild_msg_s, r.sent, r.errors);
                else
                    printf("%-28s %12.0f %9.1f %9.1f %9.1f %12.1f %12.0f %12.0f\n", name, r.msg_s,
                           r.mb_s, r.p50_us, r.p99_us, r.dispatch_lag_ms, r.read_msg_s,
                           r.rebuild_msg_s);
                fflush(stdout);
            }
        }
    }
    return failed;
}

/*
 * broker.c - `rill broker status ADDR` (runtime stats) and
 * `rill broker config ADDR` (every configuration key and its value).
 */
#include "cli/cli.h"
#include "cli/output.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* ADDR or -b ADDR. */
static int addr_args(cli_ctx_t *ctx, int argc, char **argv, const char **addr)
{
    static const struct option opts[] = {
        {"broker", required_argument, NULL, 'b'},
        CLI_COMMON_LONGOPTS,
    };
    const char *opt_addr = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":b:n:X:h", opts, NULL)) != -1) {
        if (c == 'b') {
            opt_addr = optarg;
        } else {
            int rc = cli_common_opt(ctx, c, optarg);
            if (rc >= 0)
                return rc;
        }
    }
    if (optind < argc && opt_addr != NULL)
        return cli_usage(ctx, "give the broker once: as ADDR or as -b");
    if (optind + 1 < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind + 1]);
    *addr = optind < argc ? argv[optind] : opt_addr;
    if (*addr == NULL)
        return cli_usage(ctx, "missing the broker address (ip:port)");
    if (strchr(*addr, ':') == NULL)
        return cli_usage(ctx, "bad broker address '%s': expected ip:port", *addr);
    return 0;
}

int cmd_broker_status(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *addr;
    int rc = addr_args(ctx, argc, argv, &addr);
    if (rc != 0)
        return rc;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_broker_stats_t st;
    int err = rill_admin_broker_stats(a, addr, &st);
    if (err != 0) {
        rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "addr", addr);
        cJSON_AddStringToObject(o, "version", st.version);
        cJSON_AddNumberToObject(o, "put_tps", st.put_tps);
        cJSON_AddNumberToObject(o, "get_tps", st.get_tps);
        cJSON_AddNumberToObject(o, "put_total", (double)st.put_total);
        cJSON_AddNumberToObject(o, "get_total", (double)st.get_total);
        cJSON_AddNumberToObject(o, "commitlog_min_offset", (double)st.commitlog_min_offset);
        cJSON_AddNumberToObject(o, "commitlog_max_offset", (double)st.commitlog_max_offset);
        cJSON_AddNumberToObject(o, "dispatched_offset", (double)st.dispatched_offset);
        cJSON_AddNumberToObject(o, "dispatch_lag_bytes", (double)st.dispatch_lag_bytes);
        cJSON_AddNumberToObject(o, "disk_used_ratio", st.disk_used_ratio);
        cJSON_AddNumberToObject(o, "uptime_ms", (double)st.uptime_ms);
        cJSON_AddNumberToObject(o, "pending_half_messages", (double)st.pending_half_messages);
        cJSON_AddNumberToObject(o, "delay_pending", (double)st.delay_pending);
        out_json_print(o, stdout);
    } else {
        printf("%-22s %s\n", "addr", addr);
        printf("%-22s %s\n", "version", st.version);
        printf("%-22s %.1f\n", "put_tps", st.put_tps);
        printf("%-22s %.1f\n", "get_tps", st.get_tps);
        printf("%-22s %lld\n", "put_total", (long long)st.put_total);
        printf("%-22s %lld\n", "get_total", (long long)st.get_total);
        printf("%-22s %lld\n", "commitlog_min_offset", (long long)st.commitlog_min_offset);
        printf("%-22s %lld\n", "commitlog_max_offset", (long long)st.commitlog_max_offset);
        printf("%-22s %lld\n", "dispatched_offset", (long long)st.dispatched_offset);
        printf("%-22s %lld\n", "dispatch_lag_bytes", (long long)st.dispatch_lag_bytes);
        printf("%-22s %.1f%%\n", "disk_used", st.disk_used_ratio * 100.0);
        printf("%-22s %.1f s\n", "uptime", (double)st.uptime_ms / 1000.0);
        printf("%-22s %lld\n", "pending_half_messages", (long long)st.pending_half_messages);
        printf("%-22s %lld\n", "delay_pending", (long long)st.delay_pending);
    }
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

int cmd_broker_config(cli_ctx_t *ctx, int argc, char **argv)
{
    const char *addr;
    int rc = addr_args(ctx, argc, argv, &addr);
    if (rc != 0)
        return rc;
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_strv_t cfg = {0, NULL};
    int err = rill_admin_broker_config(a, addr, &cfg);
    if (err != 0) {
        rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    if (ctx->json) {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < cfg.n; i++) {
            char *eq = strchr(cfg.v[i], '=');
            if (eq == NULL)
                continue;
            *eq = '\0';
            cJSON_AddStringToObject(o, cfg.v[i], eq + 1);
        }
        out_json_print(o, stdout);
    } else {
        size_t w = 0;
        for (size_t i = 0; i < cfg.n; i++) {
            const char *eq = strchr(cfg.v[i], '=');
            if (eq != NULL && (size_t)(eq - cfg.v[i]) > w)
                w = (size_t)(eq - cfg.v[i]);
        }
        for (size_t i = 0; i < cfg.n; i++) {
            const char *eq = strchr(cfg.v[i], '=');
            if (eq == NULL)
                continue;
            printf("%-*.*s  %s\n", (int)w, (int)(eq - cfg.v[i]), cfg.v[i], eq + 1);
        }
    }
    rill_strv_free(&cfg);
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

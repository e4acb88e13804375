/*
 * cluster.c - `rill cluster list`: every broker of every cluster with its
 * role, version and in/out TPS. The NameServer gives names, ids and
 * addresses; each broker is then asked for its stats and its brokerRole
 * (GET_BROKER_CONFIG). A broker that does not answer stays in the table,
 * marked DOWN, so the command shows what it can.
 */
#include "cli/cli.h"
#include "cli/output.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cli_only_cluster(const cli_ctx_t *ctx, rill_admin_t *a, char *out, size_t cap)
{
    rill_broker_info_t *bi = NULL;
    size_t n = 0;
    int err = rill_admin_cluster_list(a, &bi, &n);
    if (err != 0)
        return cli_fail(err);
    int rc = 0;
    if (n == 0) {
        rc = cli_failf("no cluster is registered with the NameServers (%s)", ctx->namesrv);
    } else {
        for (size_t i = 1; i < n; i++) {
            if (strcmp(bi[i].cluster, bi[0].cluster) != 0) {
                rc = cli_usage(ctx, "several clusters (%s, %s, ...): choose one with -c or a "
                                    "broker with -b",
                               bi[0].cluster, bi[i].cluster);
                break;
            }
        }
        if (rc == 0)
            snprintf(out, cap, "%s", bi[0].cluster);
    }
    free(bi);
    return rc;
}

/* brokerRole from a broker's config, or NULL. */
static char *broker_role(rill_admin_t *a, const char *addr)
{
    rill_strv_t cfg = {0, NULL};
    if (rill_admin_broker_config(a, addr, &cfg) != 0)
        return NULL;
    char *role = NULL;
    for (size_t i = 0; i < cfg.n && role == NULL; i++)
        if (strncmp(cfg.v[i], "brokerRole=", 11) == 0)
            role = out_xstrdup(cfg.v[i] + 11);
    rill_strv_free(&cfg);
    return role;
}

int cmd_cluster_list(cli_ctx_t *ctx, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":n:X:h", opts, NULL)) != -1) {
        int rc = cli_common_opt(ctx, c, optarg);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return cli_usage(ctx, "unexpected argument '%s'", argv[optind]);
    rill_admin_t *a = cli_admin(ctx);
    if (a == NULL)
        return CLI_EXIT_ERROR;
    rill_broker_info_t *bi = NULL;
    size_t n = 0;
    int err = rill_admin_cluster_list(a, &bi, &n);
    if (err != 0) {
        int rc = cli_fail(err);
        rill_admin_destroy(a);
        return rc;
    }
    static const out_col_t cols[] = {{"CLUSTER", "cluster"},   {"BROKER", "broker_name"},
                                     {"ID", "broker_id"},      {"ADDR", "addr"},
                                     {"ROLE", "role"},         {"VERSION", "version"},
                                     {"IN TPS", "in_tps"},     {"OUT TPS", "out_tps"},
                                     {"UPTIME", "uptime_ms"},  {"HA LAG", "ha_lag_bytes"},
                                     {"HA LAG MS", "ha_lag_ms"}};
    out_table_t *t = out_table_new(cols, 11);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < bi[i].n_addrs; k++) {
            const char *addr = bi[i].addrs[k].addr;
            out_row(t);
            out_str(t, bi[i].cluster);
            out_str(t, bi[i].broker_name);
            out_int(t, bi[i].addrs[k].broker_id);
            out_str(t, addr);
            rill_broker_stats_t st;
            memset(&st, 0, sizeof(st));
            if (rill_admin_broker_stats(a, addr, &st) != 0) {
                out_str(t, "DOWN");
                out_str(t, NULL);
                out_str(t, NULL);
                out_str(t, NULL);
                out_str(t, NULL);
                out_str(t, NULL);
                out_str(t, NULL);
                continue;
            }
            char *role = broker_role(a, addr);
            out_str(t, role ? role : (bi[i].addrs[k].broker_id == 0 ? "MASTER" : "SLAVE"));
            free(role);
            out_str(t, st.version);
            out_num(t, st.put_tps, 1);
            out_num(t, st.get_tps, 1);
            if (ctx->json) {
                out_int(t, st.uptime_ms);
            } else {
                char up[32];
                int64_t s = st.uptime_ms / 1000;
                if (s >= 86400)
                    snprintf(up, sizeof(up), "%lldd%02lldh", (long long)(s / 86400),
                             (long long)(s % 86400 / 3600));
                else if (s >= 3600)
                    snprintf(up, sizeof(up), "%lldh%02lldm", (long long)(s / 3600),
                             (long long)(s % 3600 / 60));
                else
                    snprintf(up, sizeof(up), "%lldm%02llds", (long long)(s / 60),
                             (long long)(s % 60));
                out_str(t, up);
            }
            out_int(t, st.ha_lag_bytes);
            out_int(t, st.ha_lag_ms);
        }
    }
    if (ctx->json)
        out_json_print(out_table_json(t), stdout);
    else
        out_table_print(t, stdout);
    out_table_free(t);
    free(bi);
    rill_admin_destroy(a);
    return CLI_EXIT_OK;
}

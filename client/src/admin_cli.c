/*
 * admin_cli.c - admin calls the `rill` command line needs beyond the core
 * admin API: a broker's configuration (GET_BROKER_CONFIG), shown by
 * `rill broker config ADDR` and used by `rill cluster list` for each
 * broker's role. Same shape as the other admin_*.c files: one checked,
 * synchronous broker call on the caller's thread.
 */
#include "client/src/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rill_admin_broker_config(rill_admin_t *a, const char *addr, rill_strv_t *out)
{
    if (a == NULL || addr == NULL || addr[0] == '\0' || out == NULL)
        return rc_fail(RILL_EINVAL, "broker config needs a broker address");
    Rill__Request req;
    adm_request_init(&req, RILL__REQUEST_CODE__GET_BROKER_CONFIG);
    Rill__GetBrokerConfigRequest body = RILL__GET_BROKER_CONFIG_REQUEST__INIT;
    req.body_case = RILL__REQUEST__BODY_GET_BROKER_CONFIG;
    req.get_broker_config = &body;
    Rill__Response *resp = NULL;
    int rc = adm_broker_call(a, addr, &req, RILL__RESPONSE__BODY_BROKER_CONFIG, &resp);
    if (rc != 0)
        return rc;
    const Rill__BrokerConfigResponse *bc = resp->broker_config;
    rill_strv_t sv = {0, NULL};
    if (bc->n_entries > 0) {
        sv.v = calloc(bc->n_entries, sizeof(*sv.v));
        if (sv.v == NULL)
            goto nomem;
    }
    for (size_t i = 0; i < bc->n_entries; i++) {
        const Rill__BrokerConfigEntry *e = bc->entries[i];
        size_t len = strlen(e->key) + strlen(e->value) + 2;
        sv.v[i] = malloc(len);
        if (sv.v[i] == NULL)
            goto nomem;
        snprintf(sv.v[i], len, "%s=%s", e->key, e->value);
        sv.n++;
    }
    rpc_response_free(resp);
    *out = sv;
    return 0;
nomem:
    rill_strv_free(&sv);
    rpc_response_free(resp);
    return rc_fail(ENOMEM, "out of memory reading the config of %s", addr);
}

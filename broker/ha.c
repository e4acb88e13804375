/*
 * ha.c - the broker's replication glue (replication/ha.h): a master serves
 * its slaves on haListenPort (default listenPort + 1); a slave replicates
 * from haMasterAddress and, when its log diverges from the master's, stops
 * the whole process (SIGTERM to itself) rather than serve a forked log.
 */
#include "broker/broker.h"

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "replication/ha.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_MOD "ha"

static void on_fatal(void *arg, const char *why)
{
    broker_t *b = arg;
    LOG_ERROR(LOG_MOD, "%s (%s, id %d): stopping the broker: %s", b->cfg.broker_name,
              "SLAVE", (int)b->cfg.broker_id, why);
    kill(getpid(), SIGTERM);
}

/* A topic config of the master (metadata sync): create or update it here. */
static void on_topic(void *arg, const char *name, const void *blob, size_t len)
{
    broker_t *b = arg;
    Rill__TopicConfig *tc = rill__topic_config__unpack(NULL, len, blob);
    if (tc == NULL || topics_check_name(tc->topic_name) != 0) {
        LOG_WARN(LOG_MOD, "skipping the master's unreadable topic config '%s'", name);
        rill__topic_config__free_unpacked(tc, NULL);
        return;
    }
    topic_conf_t c, old;
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "%s", tc->topic_name);
    c.read_queue_nums = tc->read_queue_nums;
    c.write_queue_nums = tc->write_queue_nums;
    c.perm = tc->perm;
    c.topic_sys_flag = tc->topic_sys_flag;
    c.order = tc->order;
    rill__topic_config__free_unpacked(tc, NULL);
    if (topics_get(b->topics, c.name, &old) == 0 && old.read_queue_nums == c.read_queue_nums &&
        old.write_queue_nums == c.write_queue_nums && old.perm == c.perm &&
        old.topic_sys_flag == c.topic_sys_flag && old.order == c.order)
        return;
    int rc = topics_put(b->topics, &c);
    if (rc != 0)
        LOG_WARN(LOG_MOD, "cannot copy the master's topic %s: %s", c.name, rill_strerror(rc));
}

static int start_slave(broker_t *b, const char *addr)
{
    char url[320];
    snprintf(url, sizeof(url), "tcp://%s", addr);
    ha_slave_opts_t o = {.master_url = url,
                         .meta_interval_ms = (uint64_t)b->cfg.ha_meta_sync_interval,
                         .on_fatal = on_fatal,
                         .on_topic = on_topic,
                         .arg = b};
    ha_slave_t *sl = NULL;
    int rc = ha_slave_start(&sl, b->store, &o);
    if (rc == 0)
        atomic_store(&b->ha_slave, sl);
    return rc;
}

void ha_glue_master_learned(broker_t *b, const char *ha_addr)
{
    /* only the registration thread calls this, and only ha_glue_stop (after
     * that thread stopped) clears the pointer */
    if (b->cfg.broker_role != BROKER_SLAVE || atomic_load(&b->ha_slave) != NULL ||
        atomic_load(&b->stopping))
        return;
    LOG_INFO(LOG_MOD, "the namesrv names the master's HA address %s", ha_addr);
    start_slave(b, ha_addr);
}

void ha_glue_offset_committed(broker_t *b, const char *group, const char *topic, uint32_t queue_id,
                              uint64_t offset)
{
    ha_slave_offset_committed(atomic_load(&b->ha_slave), group, topic, queue_id, offset);
}

int ha_glue_start(broker_t *b)
{
    char url[320];
    if (b->cfg.broker_role == BROKER_SLAVE) {
        if (b->cfg.ha_master_address[0] == '\0') {
            LOG_INFO(LOG_MOD, "no haMasterAddress: replicating once a namesrv names the master");
            return 0;
        }
        return start_slave(b, b->cfg.ha_master_address);
    }
    int port = b->cfg.ha_listen_port ? (int)b->cfg.ha_listen_port : (int)b->cfg.listen_port + 1;
    snprintf(url, sizeof(url), "tcp://%s:%d", b->cfg.bind_address, port);
    int rc = ha_master_start(&b->ha_master, b->store, url);
    if (rc != 0 && b->cfg.ha_listen_port == 0) {
        /* The default port (listenPort + 1) is taken: serve clients anyway. */
        LOG_ERROR(LOG_MOD, "no slave can replicate from this master: %s is unavailable (%s); "
                           "set haListenPort",
                  url, rill_strerror(rc));
        return 0;
    }
    return rc;
}

void ha_glue_stop(broker_t *b)
{
    ha_slave_stop(atomic_exchange(&b->ha_slave, NULL));
    if (b->ha_master)
        ha_master_stop(b->ha_master); /* kept until ha_glue_free: flusher callbacks may wait */
}

void ha_glue_free(broker_t *b)
{
    ha_master_free(b->ha_master);
    b->ha_master = NULL;
}

typedef struct slave_wait {
    ha_waiter_t w; /* first */
    ha_glue_done_fn done;
    void *arg;
} slave_wait_t;

static void on_slave(ha_waiter_t *w, int result)
{
    slave_wait_t *sw = (slave_wait_t *)w;
    sw->done(sw->arg, result == HA_WAIT_OK ? RILL__RESPONSE_CODE__SUCCESS
                                           : RILL__RESPONSE_CODE__FLUSH_SLAVE_TIMEOUT);
    free(sw);
}

bool ha_glue_wait_slave(broker_t *b, uint64_t target, ha_glue_done_fn done, void *arg)
{
    if (b->cfg.broker_role != BROKER_SYNC_MASTER)
        return false;
    ha_master_stats_t st = {0};
    if (b->ha_master != NULL)
        ha_master_get_stats(b->ha_master, &st);
    uint64_t max = store_max_offset(b->store);
    if (!st.slaves || max - st.slave_ack_offset > (uint64_t)b->cfg.ha_slave_fallbehind_max) {
        done(arg, RILL__RESPONSE_CODE__SLAVE_NOT_AVAILABLE);
        return true;
    }
    slave_wait_t *sw = calloc(1, sizeof(*sw));
    if (sw == NULL) {
        done(arg, RILL__RESPONSE_CODE__SLAVE_NOT_AVAILABLE);
        return true;
    }
    sw->w.target = target;
    sw->w.done = on_slave;
    sw->done = done;
    sw->arg = arg;
    ha_master_wait(b->ha_master, &sw->w, (uint64_t)b->cfg.store.sync_flush_timeout);
    return true;
}

void ha_glue_lag(broker_t *b, int64_t *bytes, int64_t *ms, protobuf_c_boolean *connected)
{
    *bytes = *ms = 0;
    *connected = 0;
    ha_slave_t *sl = atomic_load(&b->ha_slave);
    if (sl != NULL) {
        ha_slave_stats_t st;
        ha_slave_get_stats(sl, &st);
        *bytes = (int64_t)st.lag_bytes;
        *ms = (int64_t)st.lag_ms;
        *connected = st.connected;
    } else if (b->ha_master != NULL) {
        ha_master_stats_t st;
        ha_master_get_stats(b->ha_master, &st);
        *connected = st.slaves > 0;
        if (st.last_request_ms == 0)
            return; /* no slave ever: no lag to speak of */
        uint64_t max = store_max_offset(b->store), ts;
        if (max > st.slave_ack_offset) {
            *bytes = (int64_t)(max - st.slave_ack_offset);
            uint64_t now = rill_now_ms();
            if (store_record_store_ts(b->store, st.slave_ack_offset, &ts) == 0 && now > ts)
                *ms = (int64_t)(now - ts);
        }
    }
}

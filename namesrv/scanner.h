/*
 * scanner.h - the "ns-scan" thread: every scanNotActiveBrokerInterval it
 * drops brokers that have not registered for brokerChannelExpiredTime.
 */
#ifndef RILL_NAMESRV_SCANNER_H
#define RILL_NAMESRV_SCANNER_H

#include "namesrv/route_table.h"

#include <stdint.h>

typedef struct ns_scanner ns_scanner_t;

/**
 * Start the scan thread.
 *
 * @param[out] out          the scanner; written only on success.
 * @param[in]  rt           the table to scan; borrowed, must outlive the scanner.
 * @param[in]  interval_ms  time between scans, >= 1.
 * @param[in]  expiry_ms    how long a silent broker is kept, >= 1.
 * @return 0; RILL_EINVAL (a zero duration); ENOMEM; a positive errno of
 *         pthread_create() or of the condition variable.
 */
int ns_scanner_start(ns_scanner_t **out, ns_route_table_t *rt, uint64_t interval_ms,
                     uint64_t expiry_ms);

/**
 * Stop the thread (it wakes at once), join it and free the scanner.
 * Accepts NULL.
 */
void ns_scanner_stop(ns_scanner_t *sc);

#endif

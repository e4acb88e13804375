/*
 * main.c - the rill-namesrv program: parse the configuration, serve the
 * routing requests until SIGTERM or SIGINT, then stop cleanly.
 *
 * Signals are blocked in every thread (the mask is set before any thread
 * starts, and threads inherit it) and taken synchronously by sigwait() on
 * the main thread, so shutdown runs in ordinary code, not in a handler.
 */
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "namesrv/handlers.h"
#include "namesrv/namesrv_config.h"
#include "namesrv/route_table.h"
#include "namesrv/scanner.h"
#include "rpc/rpc_server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define LOG_MOD "namesrv"

/* Exit codes: 0 clean stop, 1 could not start, 2 bad command line or config. */
enum { EXIT_OK = 0, EXIT_START = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
    fprintf(out, "Usage: rill-namesrv [-c FILE] [--key=value ...] [--print-config] [-h]\n"
                 "\n"
                 "The Rill name server: brokers register their topics here, clients look up\n"
                 "routes. SIGTERM or SIGINT stops it cleanly (exit status 0).\n"
                 "\n"
                 "  -c FILE, --config=FILE  load 'key = value' lines from FILE\n"
                 "  --key=value             set any key below; wins over every file\n"
                 "  --print-config          print the effective configuration and exit\n"
                 "  -h, --help              show this help and exit\n"
                 "\n"
                 "Example:\n"
                 "  rill-namesrv --listenPort=9876 --bindAddress=127.0.0.1 --logLevel=debug\n"
                 "\n"
                 "Keys:\n");
    rill_cfg_print_help(ns_config_schema(), out);
}

static int has_flag(int argc, char **argv, const char *a, const char *b)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], a) == 0 || (b != NULL && strcmp(argv[i], b) == 0))
            return 1;
    }
    return 0;
}

/* Serve until a stop signal; returns the exit status. */
static int serve(const ns_config_t *cfg, const sigset_t *stop_signals)
{
    int status = EXIT_START;
    ns_route_table_t *rt = NULL;
    rpc_server_t *srv = NULL;
    ns_scanner_t *scanner = NULL;
    char url[NS_BIND_ADDRESS_BYTES + 32];
    snprintf(url, sizeof(url), "tcp://%s:%lld", cfg->bind_address, (long long)cfg->listen_port);

    int rc = ns_route_table_create(&rt);
    if (rc != 0)
        goto fail;
    if ((rc = rpc_server_create(&srv, NULL)) != 0)
        goto fail;
    if ((rc = ns_handlers_install(srv, rt)) != 0)
        goto fail;
    if ((rc = rpc_server_start(srv, url)) != 0)
        goto fail;
    if ((rc = ns_scanner_start(&scanner, rt, (uint64_t)cfg->scan_not_active_broker_interval_ms,
                               (uint64_t)cfg->broker_channel_expired_time_ms)) != 0)
        goto fail;
    LOG_INFO(LOG_MOD,
             "rill-namesrv started on %s (scan every %lld ms, brokers expire after %lld ms)", url,
             (long long)cfg->scan_not_active_broker_interval_ms,
             (long long)cfg->broker_channel_expired_time_ms);

    int sig = 0;
    /* sigwait() returns only for a signal in the set; EINTR cannot happen. */
    for (int tries = 0; sig == 0 && tries < 16; tries++)
        if (sigwait(stop_signals, &sig) != 0)
            sig = 0;
    LOG_INFO(LOG_MOD, "stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = EXIT_OK;
    goto out;

fail:
    LOG_ERROR(LOG_MOD, "cannot start on %s: %s", url, rill_strerror(rc));
out:
    ns_scanner_stop(scanner);
    rpc_server_close(srv); /* before the table: handlers and the pipe hook use it */
    ns_route_table_destroy(rt);
    if (status == EXIT_OK)
        LOG_INFO(LOG_MOD, "rill-namesrv stopped");
    return status;
}

int main(int argc, char **argv)
{
    if (has_flag(argc, argv, "-h", "--help")) {
        usage(stdout);
        return EXIT_OK;
    }
    const rill_cfg_schema_t *schema = ns_config_schema();
    ns_config_t cfg;
    char err[512];
    int consumed = 0;
    if (rill_cfg_defaults(schema, &cfg, err, sizeof(err)) != 0 ||
        rill_cfg_parse_args(schema, &cfg, argc, argv, &consumed, err, sizeof(err)) != 0) {
        fprintf(stderr, "rill-namesrv: %s\nTry 'rill-namesrv --help'.\n", err);
        return EXIT_USAGE;
    }
    if (1 + consumed < argc) {
        fprintf(stderr, "rill-namesrv: unexpected argument '%s'\nTry 'rill-namesrv --help'.\n",
                argv[1 + consumed]);
        return EXIT_USAGE;
    }
    if (has_flag(argc, argv, "--print-config", NULL)) {
        return rill_cfg_print(schema, &cfg, stdout) == 0 ? EXIT_OK : EXIT_START;
    }

    rill_log_set_level((rill_log_level_t)cfg.log_level);
    if (cfg.log_file[0] != '\0') {
        int rc = rill_log_set_file(cfg.log_file);
        if (rc != 0) {
            fprintf(stderr, "rill-namesrv: cannot open log file '%s': %s\n", cfg.log_file,
                    rill_strerror(rc));
            return EXIT_START;
        }
    }

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    /* Before any thread exists, so nng's and the scanner's threads inherit it. */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = serve(&cfg, &stop_signals);
    rill_log_set_file(NULL); /* closes the log file, if any */
    return status;
}

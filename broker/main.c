/*
 * main.c - the rill-broker executable: parse the configuration (-c FILE,
 * --key=value, -n ADDR), print it or the help when asked, open the broker
 * and serve until SIGTERM or SIGINT.
 *
 * Signals are blocked in every thread (they inherit the mask from here) and
 * taken synchronously with sigwait() by the main thread, so shutdown runs as
 * ordinary code, not in a handler.
 */
#include "broker/broker.h"

#include "common/errors.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS_MAX 256

static void usage(FILE *out)
{
    fprintf(out, "usage: rill-broker [-c FILE] [-n NAMESRV_ADDR] [--key=value ...] "
                 "[--print-config] [-h]\n\n"
                 "  -c FILE          load a RocketMQ-style 'key = value' file\n"
                 "  -n ADDR          namesrvs to register with ('a:9876;b:9876'), as "
                 "--namesrvAddr=ADDR\n"
                 "  --key=value      set any key below; wins over files\n"
                 "  --print-config   print the effective configuration and exit\n"
                 "  -h, --help       this help\n\nkeys:\n");
    rill_cfg_print_help(broker_config_schema(), out);
}

int main(int argc, char **argv)
{
    /* Rewrite "-n ADDR" as "--namesrvAddr=ADDR" for the shared parser. */
    static char nbuf[ARGS_MAX][1100];
    char *args[ARGS_MAX + 1];
    int nargs = 0, nn = 0;
    bool print_config = false;
    if (argc > ARGS_MAX) {
        fprintf(stderr, "rill-broker: too many arguments\n");
        return 2;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--print-config") == 0)
            print_config = true;
        if (strcmp(argv[i], "-n") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "rill-broker: option '-n' needs an address\n");
                return 2;
            }
            snprintf(nbuf[nn], sizeof(nbuf[nn]), "--namesrvAddr=%s", argv[++i]);
            args[nargs++] = nbuf[nn++];
            continue;
        }
        args[nargs++] = argv[i];
    }
    args[nargs] = NULL;

    broker_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    char err[512];
    const rill_cfg_schema_t *schema = broker_config_schema();
    int consumed = 0;
    if (rill_cfg_defaults(schema, &cfg, err, sizeof(err)) != 0 ||
        rill_cfg_parse_args(schema, &cfg, nargs, args, &consumed, err, sizeof(err)) != 0 ||
        broker_config_finish(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "rill-broker: %s\n", err);
        return 2;
    }
    if (1 + consumed < nargs) {
        fprintf(stderr, "rill-broker: unexpected argument '%s'\n", args[1 + consumed]);
        return 2;
    }
    if (print_config) {
        rill_cfg_print(schema, &cfg, stdout);
        return 0;
    }
    rill_log_set_level((rill_log_level_t)cfg.log_level);
    if (cfg.log_file[0] && rill_log_set_file(cfg.log_file) != 0) {
        fprintf(stderr, "rill-broker: cannot open log file %s\n", cfg.log_file);
        return 2;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    broker_t *b = NULL;
    int rc = broker_open(&b, &cfg);
    if (rc != 0) {
        fprintf(stderr, "rill-broker: cannot start: %s\n", rill_strerror(rc));
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    LOG_INFO("broker", "signal %d received", sig);
    broker_close(b);
    return 0;
}

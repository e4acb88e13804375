/*
 * harness.h - start real Rill binaries from build/bin for integration tests:
 * a free loopback port, a private temp directory, fork/exec with the
 * child's stdout and stderr in files there, a bounded wait until it accepts
 * connections, and a bounded stop (SIGTERM, then SIGKILL) that always reaps.
 *
 * Every process started is also recorded in a small table; hv_stop_all()
 * (call it from a Criterion .fini) stops whatever a failed test left
 * running, and each child gets PR_SET_PDEATHSIG so it dies with the test
 * process even if that one is killed. Only 127.0.0.1 is ever used.
 */
#ifndef RILL_TEST_HARNESS_H
#define RILL_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef RILL_BIN_DIR
#error "RILL_BIN_DIR must name the directory holding the built binaries"
#endif

/** Processes one test may run at once. */
#define HV_PROCS_MAX 8
/** Arguments a started process may get, its name included. */
#define HV_ARGS_MAX 32
/** How long hv_start_*() waits for the port to accept connections. */
#define HV_READY_MS 15000
/** How long hv_stop() waits after SIGTERM before SIGKILL, and after SIGKILL. */
#define HV_STOP_MS 15000
/** Ports hv_start_namesrv() tries when a child dies before it is ready. */
#define HV_PORT_TRIES 3
/** Capacity of hv_proc_t.dir, NUL included. */
#define HV_DIR_BYTES 1024
/** Most bytes of a child's output hv_read_output() returns. */
#define HV_OUTPUT_BYTES_MAX (1024 * 1024)

typedef struct {
    pid_t pid;               /**< running child, or 0 */
    int port;                /**< port it was told to listen on, or 0 */
    char url[64];            /**< "tcp://127.0.0.1:PORT" */
    char dir[HV_DIR_BYTES];  /**< private temp dir (removed by hv_stop()) */
    char out_path[PATH_MAX]; /**< the child's stdout */
    char err_path[PATH_MAX]; /**< the child's stderr */
    int exit_code;           /**< after it ended: exit status, or 128 + signal */
} hv_proc_t;

/** A free TCP port on 127.0.0.1 (bound, read back and released), or -1. */
int hv_free_port(void);

/**
 * Start RILL_BIN_DIR/name with args (NULL-terminated, argv[0] not included)
 * in a fresh temp dir. Does not wait for anything.
 *
 * @return 0 or an errno; p->pid is set on success.
 */
int hv_spawn(hv_proc_t *p, const char *name, const char *const *args);

/**
 * Wait until 127.0.0.1:port accepts a TCP connection while p is alive.
 *
 * @return 0; ECHILD if p exited first (p->exit_code set, p reaped);
 *         ETIMEDOUT after timeout_ms.
 */
int hv_wait_ready(hv_proc_t *p, int port, uint32_t timeout_ms);

/**
 * Start rill-namesrv on a free port of 127.0.0.1 with extra args (may be
 * NULL) and wait until it accepts connections; tries another port if the
 * child dies first (HV_PORT_TRIES at most).
 *
 * @return 0 or an errno; the child is stopped on failure.
 */
int hv_start_namesrv(hv_proc_t *p, const char *const *extra_args);

/**
 * Start rill-broker with its data in data_dir (kept when the broker stops:
 * the caller owns it) on port, or on a free port of 127.0.0.1 when port is 0,
 * with an 8 MiB CommitLog segment, log level warn and extra args (may be
 * NULL); waits until it accepts connections. A free port is tried again
 * (HV_PORT_TRIES) when the child dies first; a given port is retried too.
 *
 * @return 0 (p->port and p->url set) or an errno; the child is stopped on failure.
 */
int hv_start_broker(hv_proc_t *p, const char *data_dir, int port, const char *const *extra_args);

/**
 * Wait for p to exit by itself, reaping it.
 *
 * @return 0 (p->exit_code set) or ETIMEDOUT (still running).
 */
int hv_wait_exit(hv_proc_t *p, uint32_t timeout_ms);

/**
 * Send sig to p (a running child).
 *
 * @return 0 or errno of kill(2).
 */
int hv_signal(hv_proc_t *p, int sig);

/**
 * Stop p: SIGTERM, wait up to timeout_ms, then SIGKILL and wait again;
 * always reaps. Prints the child's stderr when it did not exit 0. Removes
 * the temp dir unless keep_dir. Accepts a proc that is not running.
 *
 * @return p->exit_code (0 = clean exit after SIGTERM), or -1 if nothing ran.
 */
int hv_stop_ex(hv_proc_t *p, uint32_t timeout_ms, bool keep_dir);

/** hv_stop_ex(p, HV_STOP_MS, false). */
int hv_stop(hv_proc_t *p);

/** Stop every process still recorded (for a Criterion .fini). */
void hv_stop_all(void);

/**
 * Read a child's output file.
 *
 * @return a malloc'd NUL-terminated copy of up to HV_OUTPUT_BYTES_MAX
 *         bytes ("" if absent); never NULL (aborts when out of memory).
 */
char *hv_read_output(const char *path);

/**
 * Run RILL_BIN_DIR/name with args to completion (bounded by timeout_ms,
 * then killed) and collect its output.
 *
 * @param[out] out_text  stdout, malloc'd (free it); may be NULL.
 * @param[out] err_text  stderr, malloc'd (free it); may be NULL.
 * @return the exit code (128 + signal if killed), or -1 if it could not run
 *         or did not end in time.
 */
int hv_run(const char *name, const char *const *args, uint32_t timeout_ms, char **out_text,
           char **err_text);

#endif

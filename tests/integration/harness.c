/*
 * harness.c - processes for integration tests (see harness.h).
 *
 * Between fork() and exec() the child only calls async-signal-safe
 * functions (the test process has nng threads), so everything it needs,
 * argv and the opened output files, is prepared before fork().
 */
#include "harness.h"

#include "common/clock.h"
#include "support/test_support.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Poll period of the bounded waits. */
#define HV_POLL_MS 10
/* Highest fd the child closes by hand when close_range() is missing. */
#define HV_CLOSE_FD_MAX 4096

static hv_proc_t *running[HV_PROCS_MAX];

static void track(hv_proc_t *p)
{
    for (int i = 0; i < HV_PROCS_MAX; i++) {
        if (running[i] == NULL) {
            running[i] = p;
            return;
        }
    }
    fprintf(stderr, "harness: more than %d processes at once\n", HV_PROCS_MAX);
    abort();
}

static void untrack(hv_proc_t *p)
{
    for (int i = 0; i < HV_PROCS_MAX; i++)
        if (running[i] == p)
            running[i] = NULL;
}

int hv_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int hv_spawn(hv_proc_t *p, const char *name, const char *const *args)
{
    memset(p, 0, sizeof(*p));
    p->exit_code = -1;
    ts_mkdtemp(p->dir, sizeof(p->dir), name);
    snprintf(p->out_path, sizeof(p->out_path), "%s/stdout.log", p->dir);
    snprintf(p->err_path, sizeof(p->err_path), "%s/stderr.log", p->dir);

    char bin[PATH_MAX];
    snprintf(bin, sizeof(bin), "%s/%s", RILL_BIN_DIR, name);
    char *argv[HV_ARGS_MAX + 1];
    int argc = 0;
    argv[argc++] = bin;
    for (int i = 0; args != NULL && args[i] != NULL; i++) {
        if (argc >= HV_ARGS_MAX)
            return E2BIG;
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;

    int out_fd = open(p->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err_fd = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0 || err_fd < 0) {
        int e = errno;
        if (out_fd >= 0)
            close(out_fd);
        if (err_fd >= 0)
            close(err_fd);
        return e;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(out_fd);
        close(err_fd);
        return e;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
            /* Do not hold the test runner's pipes or sockets open. */
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
            for (int fd = 3; fd < HV_CLOSE_FD_MAX; fd++)
                close(fd);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(bin, argv);
        _exit(127);
    }
    close(out_fd);
    close(err_fd);
    p->pid = pid;
    track(p);
    return 0;
}

/* Reap p if it has exited; true when it has. */
static bool reap_if_done(hv_proc_t *p)
{
    int status = 0;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->exit_code = r == p->pid ? decode_status(status) : -1;
        p->pid = 0;
        untrack(p);
        return true;
    }
    return false;
}

static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int hv_wait_ready(hv_proc_t *p, int port, uint32_t timeout_ms)
{
    uint64_t deadline = rill_mono_ms() + timeout_ms;
    for (uint32_t i = 0; i <= timeout_ms / HV_POLL_MS + 1; i++) {
        if (p->pid == 0 || reap_if_done(p))
            return ECHILD;
        if (port_accepts(port) && !reap_if_done(p))
            return 0;
        if (rill_mono_ms() >= deadline)
            break;
        rill_sleep_ms(HV_POLL_MS);
    }
    return ETIMEDOUT;
}

int hv_start_namesrv(hv_proc_t *p, const char *const *extra_args)
{
    int rc = ETIMEDOUT;
    for (int attempt = 0; attempt < HV_PORT_TRIES; attempt++) {
        int port = hv_free_port();
        if (port <= 0)
            return EADDRNOTAVAIL;
        char port_arg[32];
        snprintf(port_arg, sizeof(port_arg), "--listenPort=%d", port);
        const char *args[HV_ARGS_MAX + 1];
        int n = 0;
        args[n++] = port_arg;
        args[n++] = "--bindAddress=127.0.0.1";
        for (int i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
            if (n >= HV_ARGS_MAX - 1)
                return E2BIG;
            args[n++] = extra_args[i];
        }
        args[n] = NULL;
        if ((rc = hv_spawn(p, "rill-namesrv", args)) != 0)
            return rc;
        p->port = port;
        snprintf(p->url, sizeof(p->url), "tcp://127.0.0.1:%d", port);
        rc = hv_wait_ready(p, port, HV_READY_MS);
        if (rc == 0)
            return 0;
        /* Died (maybe the port was taken meanwhile) or hung: clean up, retry. */
        hv_stop(p);
        if (rc != ECHILD)
            return rc;
    }
    return rc;
}

int hv_start_broker(hv_proc_t *p, const char *data_dir, int port, const char *const *extra_args)
{
    int rc = ETIMEDOUT;
    for (int attempt = 0; attempt < HV_PORT_TRIES; attempt++) {
        int try_port = port > 0 ? port : hv_free_port();
        if (try_port <= 0)
            return EADDRNOTAVAIL;
        char port_arg[32], dir_arg[HV_DIR_BYTES + 32];
        snprintf(port_arg, sizeof(port_arg), "--listenPort=%d", try_port);
        snprintf(dir_arg, sizeof(dir_arg), "--storePathRootDir=%s", data_dir);
        const char *args[HV_ARGS_MAX + 1];
        int n = 0;
        args[n++] = port_arg;
        args[n++] = dir_arg;
        args[n++] = "--mappedFileSizeCommitLog=8388608";
        args[n++] = "--logLevel=warn";
        for (int i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
            if (n >= HV_ARGS_MAX - 1)
                return E2BIG;
            args[n++] = extra_args[i];
        }
        args[n] = NULL;
        if ((rc = hv_spawn(p, "rill-broker", args)) != 0)
            return rc;
        p->port = try_port;
        snprintf(p->url, sizeof(p->url), "tcp://127.0.0.1:%d", try_port);
        rc = hv_wait_ready(p, try_port, HV_READY_MS);
        if (rc == 0)
            return 0;
        char *err = hv_read_output(p->err_path);
        fprintf(stderr, "rill-broker did not start on port %d: %s\n", try_port, err);
        free(err);
        hv_stop(p);
        if (rc != ECHILD)
            return rc;
    }
    return rc;
}

int hv_wait_exit(hv_proc_t *p, uint32_t timeout_ms)
{
    uint64_t deadline = rill_mono_ms() + timeout_ms;
    for (uint32_t i = 0; i <= timeout_ms / HV_POLL_MS + 1; i++) {
        if (p->pid == 0 || reap_if_done(p))
            return 0;
        if (rill_mono_ms() >= deadline)
            break;
        rill_sleep_ms(HV_POLL_MS);
    }
    return ETIMEDOUT;
}

int hv_signal(hv_proc_t *p, int sig)
{
    if (p->pid <= 0)
        return ESRCH;
    return kill(p->pid, sig) == 0 ? 0 : errno;
}

int hv_stop_ex(hv_proc_t *p, uint32_t timeout_ms, bool keep_dir)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        if (hv_wait_exit(p, timeout_ms) != 0) {
            fprintf(stderr, "harness: pid %d ignored SIGTERM for %u ms; SIGKILL\n", (int)p->pid,
                    timeout_ms);
            kill(p->pid, SIGKILL);
            if (hv_wait_exit(p, HV_STOP_MS) != 0) {
                /* SIGKILL cannot be ignored; a blocking reap ends it. */
                int status = 0;
                waitpid(p->pid, &status, 0);
                p->exit_code = decode_status(status);
                p->pid = 0;
                untrack(p);
            }
        }
    }
    if (p->exit_code != 0 && p->err_path[0] != '\0') {
        char *text = hv_read_output(p->err_path);
        fprintf(stderr, "harness: %s exited with %d; its stderr:\n%s\n", p->dir, p->exit_code,
                text);
        free(text);
    }
    if (!keep_dir && p->dir[0] != '\0') {
        ts_rmtree(p->dir);
        p->dir[0] = '\0';
    }
    return p->exit_code;
}

int hv_stop(hv_proc_t *p)
{
    return hv_stop_ex(p, HV_STOP_MS, false);
}

void hv_stop_all(void)
{
    for (int i = 0; i < HV_PROCS_MAX; i++)
        if (running[i] != NULL)
            hv_stop(running[i]);
}

char *hv_read_output(const char *path)
{
    char *buf = malloc(HV_OUTPUT_BYTES_MAX + 1);
    if (buf == NULL)
        abort();
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        len = fread(buf, 1, HV_OUTPUT_BYTES_MAX, f);
        fclose(f);
    }
    buf[len] = '\0';
    return buf;
}

int hv_run(const char *name, const char *const *args, uint32_t timeout_ms, char **out_text,
           char **err_text)
{
    hv_proc_t p;
    if (hv_spawn(&p, name, args) != 0) {
        ts_rmtree(p.dir);
        return -1;
    }
    int code = -1;
    if (hv_wait_exit(&p, timeout_ms) == 0) {
        code = p.exit_code;
    } else {
        kill(p.pid, SIGKILL);
        hv_wait_exit(&p, HV_STOP_MS);
    }
    if (out_text != NULL)
        *out_text = hv_read_output(p.out_path);
    if (err_text != NULL)
        *err_text = hv_read_output(p.err_path);
    ts_rmtree(p.dir);
    return code;
}

/*
 * runner.c - main() of every test executable in the ThreadSanitizer tree,
 * standing in for libcriterion (see criterion/criterion.h for why).
 *
 * Tests register themselves from constructors. main() forks one process per
 * test, at most --jobs at once; each child runs suite init, test init, the
 * body, test fini and suite fini, and exits 0 (pass), 1 (failed assertion
 * or expectation) or 2 (skipped). A failed cr_assert longjmps back to the
 * child's frame so the finis (which stop the brokers a test started) still
 * run. A child that outlives its timeout is killed with its process group.
 * TSan reports end a child with TSan's exitcode (66) and fail the test.
 * The runner itself starts no thread, so forking is safe under TSan.
 *
 * Arguments (Criterion's spelling): --jobs N, --timeout SECONDS (default for
 * tests without .timeout), --filter SUBSTRING (on "suite::name"); others
 * are ignored. Exit status 0 when every test passed or was skipped.
 */
#include "criterion/criterion.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TESTS_MAX         1024
#define SUITES_MAX        256
#define JOBS_MAX          16
#define TIMEOUT_S_DEFAULT 120.0
#define POLL_MS           10
#define EXIT_FAILED       1
#define EXIT_SKIPPED      2

typedef struct {
    const char *suite, *name;
    void (*fn)(void);
    struct rill_cr_opts opts;
} test_t;

typedef struct {
    const char *name;
    struct rill_cr_opts opts;
} suite_t;

static test_t tests[TESTS_MAX];
static size_t n_tests;
static suite_t suites[SUITES_MAX];
static size_t n_suites;

/* In a child: where a failed assertion or a skip jumps to. */
static jmp_buf child_jump;
static bool child_failed, child_skipped;
static const test_t *child_test;

void rill_cr_register_suite(const char *suite, struct rill_cr_opts opts)
{
    if (n_suites == SUITES_MAX) {
        fprintf(stderr, "tsan runner: more than %d suites\n", SUITES_MAX);
        abort();
    }
    suites[n_suites++] = (suite_t){suite, opts};
}

void rill_cr_register_test(const char *suite, const char *name, void (*fn)(void),
                           struct rill_cr_opts opts)
{
    if (n_tests == TESTS_MAX) {
        fprintf(stderr, "tsan runner: more than %d tests\n", TESTS_MAX);
        abort();
    }
    tests[n_tests++] = (test_t){suite, name, fn, opts};
}

static void report(const char *file, int line, const char *expr, const char *fmt, va_list ap)
{
    fprintf(stderr, "[----] %s:%d: %s::%s: assertion failed: %s\n", file, line,
            child_test ? child_test->suite : "?", child_test ? child_test->name : "?", expr);
    if (strcmp(fmt, " ") != 0) { /* the macros prefix " " to the caller's message */
        fputs("[----]  ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
}

void rill_cr_abort(const char *file, int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(file, line, expr, fmt, ap);
    va_end(ap);
    child_failed = true;
    if (child_test == NULL)
        exit(EXIT_FAILED); /* outside a test (a constructor): nothing to unwind to */
    longjmp(child_jump, EXIT_FAILED);
}

void rill_cr_expect(const char *file, int line, const char *expr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(file, line, expr, fmt, ap);
    va_end(ap);
    child_failed = true;
}

void rill_cr_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[SKIP] %s::%s:", child_test ? child_test->suite : "?",
            child_test ? child_test->name : "?");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    child_skipped = true;
    if (child_test == NULL)
        exit(EXIT_SKIPPED);
    longjmp(child_jump, EXIT_SKIPPED);
}

void rill_cr_log(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%s] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const struct rill_cr_opts *suite_opts(const char *name)
{
    for (size_t i = 0; i < n_suites; i++)
        if (strcmp(suites[i].name, name) == 0)
            return &suites[i].opts;
    return NULL;
}

/* The child: never returns. Its state is static so longjmp cannot clobber it. */
static const struct rill_cr_opts *child_suite;
static volatile int child_stage; /* 0 nothing to undo, 1 suite init ran, 2 test init ran */

static void run_child(const test_t *t)
{
    child_test = t;
    child_suite = suite_opts(t->suite);
    if (setjmp(child_jump) == 0) {
        if (child_suite && child_suite->init)
            child_suite->init();
        child_stage = 1;
        if (t->opts.init)
            t->opts.init();
        child_stage = 2;
        t->fn();
    }
    /* finis run once each, even when one of them fails an assertion */
    if (child_stage >= 2) {
        child_stage = 1;
        if (t->opts.fini && setjmp(child_jump) == 0)
            t->opts.fini();
    }
    if (child_stage >= 1) {
        child_stage = 0;
        if (child_suite && child_suite->fini && setjmp(child_jump) == 0)
            child_suite->fini();
    }
    fflush(NULL);
    exit(child_failed ? EXIT_FAILED : child_skipped ? EXIT_SKIPPED : 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    pid_t pid;
    const test_t *t;
    double start, deadline;
    bool killed;
} job_t;

int main(int argc, char **argv)
{
    int jobs = 1;
    double timeout_default = TIMEOUT_S_DEFAULT;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
            jobs = atoi(argv[++i]);
        else if (strncmp(argv[i], "--jobs=", 7) == 0 || strncmp(argv[i], "-j", 2) == 0)
            jobs = atoi(strchr(argv[i], '=') ? strchr(argv[i], '=') + 1 : argv[i] + 2);
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_default = atof(argv[++i]);
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
    }
    if (jobs < 1)
        jobs = 1;
    if (jobs > JOBS_MAX)
        jobs = JOBS_MAX;

    size_t passed = 0, failed = 0, crashed = 0, skipped = 0, tested = 0;
    job_t running[JOBS_MAX] = {0};
    size_t next = 0;
    int active = 0;
    fflush(NULL);
    while (next < n_tests || active > 0) {
        while (active < jobs && next < n_tests) {
            const test_t *t = &tests[next++];
            const struct rill_cr_opts *so = suite_opts(t->suite);
            char full[512];
            snprintf(full, sizeof(full), "%s::%s", t->suite, t->name);
            if (filter && strstr(full, filter) == NULL)
                continue;
            if (t->opts.disabled || (so && so->disabled)) {
                fprintf(stderr, "[SKIP] %s: disabled\n", full);
                skipped++;
                continue;
            }
            double timeout = t->opts.timeout > 0     ? t->opts.timeout
                             : so && so->timeout > 0 ? so->timeout
                                                     : timeout_default;
            pid_t pid = fork();
            if (pid < 0) {
                perror("tsan runner: fork");
                return 1;
            }
            if (pid == 0) {
                setpgid(0, 0);
                run_child(t);
            }
            setpgid(pid, pid);
            int slot = 0;
            while (running[slot].pid != 0)
                slot++;
            double start = now_s();
            running[slot] = (job_t){pid, t, start, start + timeout, false};
            active++;
            tested++;
        }
        if (active == 0)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno != EINTR) {
            perror("tsan runner: waitpid");
            return 1;
        }
        if (pid <= 0) {
            double now = now_s();
            for (int i = 0; i < JOBS_MAX; i++) {
                if (running[i].pid != 0 && !running[i].killed && now > running[i].deadline) {
                    fprintf(stderr, "[----] %s::%s: timed out after %.0f s\n", running[i].t->suite,
                            running[i].t->name, running[i].deadline - running[i].start);
                    kill(-running[i].pid, SIGKILL);
                    running[i].killed = true;
                }
            }
            usleep(POLL_MS * 1000);
            continue;
        }
        int slot = 0;
        while (slot < JOBS_MAX && running[slot].pid != pid)
            slot++;
        if (slot == JOBS_MAX)
            continue; /* not ours (cannot happen: tests reap their own children) */
        job_t *j = &running[slot];
        double took = now_s() - j->start;
        const char *verdict;
        if (j->killed) {
            verdict = "FAIL";
            failed++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            verdict = "PASS";
            passed++;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIPPED) {
            verdict = "SKIP";
            skipped++;
        } else if (WIFEXITED(status)) {
            verdict = "FAIL";
            failed++;
            if (WEXITSTATUS(status) != EXIT_FAILED)
                fprintf(stderr, "[----] %s::%s: exit status %d (66 = ThreadSanitizer report)\n",
                        j->t->suite, j->t->name, WEXITSTATUS(status));
        } else {
            verdict = "CRASH";
            crashed++;
            fprintf(stderr, "[----] %s::%s: killed by signal %d\n", j->t->suite, j->t->name,
                    WTERMSIG(status));
        }
        /* the test's process group may hold processes it failed to stop */
        kill(-pid, SIGKILL);
        fprintf(stderr, "[%s] %s::%s: (%.2fs)\n", verdict, j->t->suite, j->t->name, took);
        *j = (job_t){0};
        active--;
    }
    fprintf(stderr,
            "[====] Synthesis: Tested: %zu | Passing: %zu | Failing: %zu | Crashing: %zu | "
            "Skipped: %zu\n",
            tested, passed, failed, crashed, skipped);
    return failed + crashed == 0 ? 0 : 1;
}

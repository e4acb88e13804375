/*
 * criterion/criterion.h, the ThreadSanitizer tree's stand-in - the part of
 * Criterion's API Rill's tests use, run by tests/tsan/runner.c.
 *
 * Why: Criterion cannot start under TSan (Criterion issue #274). Its
 * runner maps an "inheritable arena" at a random fixed address between
 * 0x2000'0000'0000 and 0x6000'0000'0000 and gives up after a few tries;
 * TSan's shadow and its reserved gaps cover all of that range except the
 * PIE window, so the runner aborts ("Could not initialize inheritable
 * arena") before the first test. In the RILL_TSAN tree this directory comes
 * first on the include path and runner.c replaces libcriterion, so the same
 * test sources build and run unchanged.
 *
 * What is kept: Test() and TestSuite() with .init, .fini, .timeout and
 * .disabled (suite init, test init, body, test fini, suite fini, as
 * Criterion does); every test in its own forked process, --jobs at once;
 * a failed cr_assert* ends the test and still runs the finis; cr_expect*
 * records the failure and goes on; cr_skip_test; cr_log_*. Messages must
 * start with a string literal (they are printf formats). Values are not
 * printed: the expression, the place and the message are.
 */
#ifndef RILL_TSAN_CRITERION_H
#define RILL_TSAN_CRITERION_H

/* What Criterion's own criterion.h brings in, so sources that lean on it
 * (free() without <stdlib.h>) build the same here; math.h for float_eq. */
#include <alloca.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

struct rill_cr_opts {
    void (*init)(void);
    void (*fini)(void);
    double timeout; /* seconds; 0 = the runner's --timeout */
    bool disabled;
    const char *description;
    int exit_code; /* accepted for source compatibility; not checked */
    int signal;    /* accepted for source compatibility; not checked */
};

void rill_cr_register_suite(const char *suite, struct rill_cr_opts opts);
void rill_cr_register_test(const char *suite, const char *name, void (*fn)(void),
                           struct rill_cr_opts opts);
void rill_cr_abort(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
void rill_cr_expect(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rill_cr_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void rill_cr_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define TestSuite(suite, ...)                                                                      \
    __attribute__((constructor)) static void rill_cr_suite_##suite(void)                           \
    {                                                                                              \
        rill_cr_register_suite(#suite, (struct rill_cr_opts){__VA_ARGS__});                        \
    }

#define Test(suite, name, ...)                                                                     \
    static void rill_cr_test_##suite##_##name(void);                                               \
    __attribute__((constructor)) static void rill_cr_reg_##suite##_##name(void)                    \
    {                                                                                              \
        rill_cr_register_test(#suite, #name, rill_cr_test_##suite##_##name,                        \
                              (struct rill_cr_opts){__VA_ARGS__});                                 \
    }                                                                                              \
    static void rill_cr_test_##suite##_##name(void)

/* The message, when given, is " " followed by the caller's format and arguments. */
#define RILL_CR_CHECK_(fatal, cond, expr, ...)                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (fatal)                                                                             \
                rill_cr_abort(__FILE__, __LINE__, expr, " " __VA_ARGS__);                          \
            else                                                                                   \
                rill_cr_expect(__FILE__, __LINE__, expr, " " __VA_ARGS__);                         \
        }                                                                                          \
    } while (0)

/* NULL-safe as Criterion's: NULL equals only NULL, and is printed as (null). */
#define RILL_CR_STR_(fatal, a, b, op, expr, ...)                                                   \
    do {                                                                                           \
        const char *rill_cr_a_ = (a), *rill_cr_b_ = (b);                                           \
        int rill_cr_cmp_ = rill_cr_a_ && rill_cr_b_ ? strcmp(rill_cr_a_, rill_cr_b_)               \
                                                    : (rill_cr_a_ == rill_cr_b_ ? 0 : 1);          \
        if (!(rill_cr_cmp_ op 0))                                                                  \
            rill_cr_log("INFO", "%s:%d: \"%s\" vs \"%s\"", __FILE__, __LINE__,                     \
                        rill_cr_a_ ? rill_cr_a_ : "(null)", rill_cr_b_ ? rill_cr_b_ : "(null)");   \
        RILL_CR_CHECK_(fatal, rill_cr_cmp_ op 0, expr, __VA_ARGS__);                               \
    } while (0)

#define cr_assert(cond, ...)         RILL_CR_CHECK_(1, cond, #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...)     RILL_CR_CHECK_(1, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...)      RILL_CR_CHECK_(1, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...)     RILL_CR_CHECK_(1, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...)      RILL_CR_CHECK_(1, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...)     RILL_CR_CHECK_(1, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...)      RILL_CR_CHECK_(1, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...)     RILL_CR_CHECK_(1, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...)       RILL_CR_CHECK_(1, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...)   RILL_CR_CHECK_(1, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)  RILL_CR_STR_(1, a, b, ==, #a " == " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) RILL_CR_STR_(1, a, b, !=, #a " != " #b, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...)                                                         \
    RILL_CR_CHECK_(1, fabs((double)(a) - (double)(b)) <= (eps), #a " ~= " #b, __VA_ARGS__)
#define cr_assert_fail(...) rill_cr_abort(__FILE__, __LINE__, "cr_assert_fail", " " __VA_ARGS__)

#define cr_expect(cond, ...)         RILL_CR_CHECK_(0, cond, #cond, __VA_ARGS__)
#define cr_expect_not(cond, ...)     RILL_CR_CHECK_(0, !(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_expect_eq(a, b, ...)      RILL_CR_CHECK_(0, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...)     RILL_CR_CHECK_(0, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...)      RILL_CR_CHECK_(0, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...)     RILL_CR_CHECK_(0, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...)      RILL_CR_CHECK_(0, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...)     RILL_CR_CHECK_(0, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_null(p, ...)       RILL_CR_CHECK_(0, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...)   RILL_CR_CHECK_(0, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...)  RILL_CR_STR_(0, a, b, ==, #a " == " #b, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...) RILL_CR_STR_(0, a, b, !=, #a " != " #b, __VA_ARGS__)
#define cr_expect_fail(...)          rill_cr_expect(__FILE__, __LINE__, "cr_expect_fail", " " __VA_ARGS__)

#define cr_skip_test(...) rill_cr_skip(" " __VA_ARGS__)
#define cr_log_info(...)  rill_cr_log("INFO", __VA_ARGS__)
#define cr_log_warn(...)  rill_cr_log("WARN", __VA_ARGS__)
#define cr_log_error(...) rill_cr_log("ERROR", __VA_ARGS__)

#endif

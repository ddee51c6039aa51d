/* check.h — the tiny assertion harness of the C unit tests. Each test is a function run by
 * RUN(); a CHECK that fails prints file:line and the expression and marks the test failed.
 * main() ends with CHECK_SUMMARY(), which prints "N passed, N failed" (one count per test
 * function) and returns non-zero on any failure; tests/run.py adds the counts up.
 *
 * Time: no test fails because the machine is slower. Tests wait on events; a bound on such a
 * wait (never the thing checked) is LB_TEST_LIMIT(s): s seconds, x3 in the ASan build, times
 * LABBOOK_TEST_LOAD from the environment (tests/run.py sets it to the number of suites it runs
 * side by side), as tests/lbtest.py's limit(). */
#ifndef LB_CHECK_H
#define LB_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define LB_TEST_ASAN_FACTOR 3.0
#else
#define LB_TEST_ASAN_FACTOR 1.0
#endif

static inline double lb_test_load_(void)
{
    const char *s = getenv("LABBOOK_TEST_LOAD");
    double f = s && *s ? strtod(s, NULL) : 1.0;
    return f > 0 ? f : 1.0;
}

#define LB_TEST_LIMIT(s) ((double)(s) * LB_TEST_ASAN_FACTOR * lb_test_load_())

static int check_passed_, check_failed_, check_cur_failed_;

#define CHECK(expr)                                                                    \
    do {                                                                               \
        if (!(expr)) {                                                                 \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
            check_cur_failed_ = 1;                                                     \
        }                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", __FILE__, __LINE__, \
                    #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                       \
            check_cur_failed_ = 1;                                                         \
        }                                                                                  \
    } while (0)

#define CHECK_INT(a, b)                                                                       \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, #a, \
                    #b, a_, b_);                                                              \
            check_cur_failed_ = 1;                                                            \
        }                                                                                     \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double a_ = (double)(a), b_ = (double)(b);                                             \
        if (!(fabs(a_ - b_) <= (tol))) {                                                       \
            fprintf(stderr, "  %s:%d: %s ~= %s failed: %.9g vs %.9g\n", __FILE__, __LINE__, #a, \
                    #b, a_, b_);                                                               \
            check_cur_failed_ = 1;                                                             \
        }                                                                                      \
    } while (0)

#define RUN(fn)                                         \
    do {                                                \
        check_cur_failed_ = 0;                          \
        fn();                                           \
        if (check_cur_failed_) {                        \
            check_failed_++;                            \
            fprintf(stderr, "FAIL %s\n", #fn);          \
        } else {                                        \
            check_passed_++;                            \
            printf("ok   %s\n", #fn);                   \
        }                                               \
    } while (0)

#define CHECK_SUMMARY()                                                  \
    (printf("%d passed, %d failed\n", check_passed_, check_failed_), \
     fflush(stdout), check_failed_ ? 1 : 0)

#endif

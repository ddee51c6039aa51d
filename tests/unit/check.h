/* check.h — the tiny assertion harness of the C unit tests. Each test is a function run by
 * RUN(); a CHECK that fails prints file:line and the expression and marks the test failed.
 * main() ends with CHECK_SUMMARY(), which prints "N passed, N failed" (one count per test
 * function) and returns non-zero on any failure; tests/run.py adds the counts up. */
#ifndef LB_CHECK_H
#define LB_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

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

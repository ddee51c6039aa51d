/* fuzz_common.h — what the libFuzzer harnesses of tests/fuzz share (README.md there): the
 * sanitizer settings baked into each binary, a fixed amount of "available memory" for the
 * kernel's own size checks, a private scratch folder that every file written goes to, and
 * FUZZ_ASSERT for the properties each harness checks beyond "no crash". */
#ifndef LB_FUZZ_COMMON_H
#define LB_FUZZ_COMMON_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

/* A broken property is a crash: libFuzzer saves the input and the run fails. */
#define FUZZ_ASSERT(cond, ...)                                                             \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz: %s:%d: %s does not hold: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* malloc returns NULL (as glibc does when memory runs out) instead of ASan stopping the process,
 * and nothing above 1 GB is given: the kernel's out-of-memory paths are exercised, and an input
 * that asks for a huge buffer costs nothing. (libFuzzer's -rss_limit_mb still bounds the total.) */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=1024:detect_leaks=1:"
           "detect_stack_use_after_return=0:strict_string_checks=1";
}

/* The kernel checks models (host/model.c, host/plugin_host.c) and checkpoint bodies against
 * lb_mem_available() before allocating; the harnesses link with -Wl,--wrap=lb_mem_available so
 * that the answer is the same 1 GB on every machine and at every moment (reproducible runs,
 * and the same bound as max_allocation_size_mb above). */
int64_t __wrap_lb_mem_available(void);
int64_t __wrap_lb_mem_available(void) { return (int64_t)1 << 30; }

static char fuzz_dir[512]; /* the scratch folder (absolute, as realpath() gives it) */

static void fuzz_remove_dir(void)
{
    if (!fuzz_dir[0])
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

/* Makes the scratch folder ($TMPDIR or /tmp), removed at exit. (Not the working directory:
 * libFuzzer reads and writes its corpus and artifacts relative to that one.) */
__attribute__((unused)) static void fuzz_make_scratch_dir(const char *name)
{
    const char *tmp = getenv("TMPDIR");
    char real[PATH_MAX];
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/labbook-fuzz-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(fuzz_dir) || !realpath(fuzz_dir, real)) {
        perror("fuzz: scratch folder");
        exit(1);
    }
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s", real);
    atexit(fuzz_remove_dir);
}

int __real_lb_write_file_atomic(const char *path, const void *data, size_t len, lb_error *err);
int __wrap_lb_write_file_atomic(const char *path, const void *data, size_t len, lb_error *err);

/* Every file the kernel writes goes through lb_write_file_atomic (base/fileio.h), which the
 * harnesses wrap (-Wl,--wrap) so that nothing is written outside the scratch folder: a relative
 * path is taken from the scratch folder instead of the working directory; then the file is
 * written when its folder is the scratch folder or inside it, or does not exist (the real
 * function then fails as it would anywhere), and refused with an IOError anywhere else, as a
 * read-only folder would be. */
int __wrap_lb_write_file_atomic(const char *path, const void *data, size_t len, lb_error *err)
{
    if (!path || !fuzz_dir[0])
        return __real_lb_write_file_atomic(path, data, len, err);
    char full[PATH_MAX + 600], dir[PATH_MAX + 600], real[PATH_MAX];
    snprintf(full, sizeof full, "%s%s%s", *path == '/' ? "" : fuzz_dir, *path == '/' ? "" : "/", path);
    const char *slash = strrchr(full, '/');
    snprintf(dir, sizeof dir, "%.*s", slash == full ? 1 : (int)(slash - full), full);
    size_t n = strlen(fuzz_dir);
    if (realpath(dir, real) && (strncmp(real, fuzz_dir, n) != 0 || (real[n] && real[n] != '/')))
        return lb_error_set(err, "IOError", 0, 0, "cannot write %s: outside the fuzz sandbox", path);
    return __real_lb_write_file_atomic(full, data, len, err);
}

#endif

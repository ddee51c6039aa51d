/* blas.c — which OpenBLAS kernel ("core") runs labbook's GEMMs, chosen before anything runs.
 *
 * Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH: when the library loads it reads the CPU
 * and picks one of its cores (Haswell, SkylakeX, Zen, ...). A CPU newer than the library (a
 * recent Xeon with AVX-512) is not recognised and falls back to the generic "Prescott" (SSE3)
 * kernels, about 2x slower for our GEMMs. OpenBLAS reads OPENBLAS_CORETYPE only while it
 * loads, so the choice has to be made before the program proper starts: a constructor (it runs
 * after the libraries' constructors, before main and before any GEMM) compares the core
 * OpenBLAS took with what the CPU's own feature flags support and, when OpenBLAS fell short,
 * executes the same program again (/proc/self/exe, same arguments, same pid) with
 * OPENBLAS_CORETYPE set. Every binary that links ops/ (labbook, the unit tests, the parity
 * drivers, the benches) gets this.
 *
 * Not done when the user set OPENBLAS_CORETYPE (theirs wins), with LABBOOK_BLAS_CORE=off
 * (keep OpenBLAS's own choice), or off x86-64. LABBOOK_BLAS_DETECTED carries OpenBLAS's own
 * choice across the re-execution so that `version` and the run records can say what happened;
 * child processes inherit both variables and so run the same core. */
#include <cblas.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "ops_impl.h"

char *openblas_get_corename(void);
char *openblas_get_config(void);

#define DETECTED_ENV "LABBOOK_BLAS_DETECTED"

static lb_blas_info info_;
static int info_ready_;

/* The instruction-set level of OpenBLAS's x86-64 cores (names as openblas_get_corename gives
 * them): 3 AVX-512, 2 AVX2 + FMA, 1 AVX, 0 older (SSE only; "Prescott" is the fallback). */
int lb_blas_core_level(const char *core) {
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *const avx2[] = {"Haswell", "Zen", "Excavator", NULL};
    static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller", NULL};
    const char *const *lists[] = {avx, avx2, avx512};
    if (!core) return 0;
    for (int lvl = 2; lvl >= 0; lvl--)
        for (const char *const *n = lists[lvl]; *n; n++)
            if (!strcasecmp(core, *n)) return lvl + 1;
    return 0;
}

const char *lb_blas_better_core(const char *current, int cpu_level, int amd) {
    if (lb_blas_core_level(current) >= cpu_level) return NULL;
    switch (cpu_level) {
    case 3: return "SkylakeX";
    case 2: return amd ? "Zen" : "Haswell";
    case 1: return "Sandybridge";
    default: return NULL;
    }
}

/* What the CPU (and the OS: the feature tests include the saved-state checks) supports. */
static int cpu_level(int *amd) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    *amd = __builtin_cpu_is("amd");
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
    if (__builtin_cpu_supports("avx")) return 1;
#else
    *amd = 0;
#endif
    return 0;
}

static void cpu_model(char *buf, size_t n) {
    buf[0] = 0;
#if defined(__x86_64__) || defined(__i386__)
    unsigned r[12];
    /* (the cast: __get_cpuid_max is unsigned with GCC, int with clang) */
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        snprintf(buf, n, "%s", p);
    }
#endif
    if (!buf[0]) { /* other machines: /proc/cpuinfo's "model name" */
        FILE *f = fopen("/proc/cpuinfo", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                snprintf(buf, n, "%s", strchr(line, ':') + 2);
                break;
            }
        if (f) fclose(f);
    }
    size_t l = strlen(buf);
    while (l && (buf[l - 1] == '\n' || buf[l - 1] == ' ')) buf[--l] = 0;
    if (!buf[0]) snprintf(buf, n, "unknown");
}

static void fill_static(lb_blas_info *in) {
    const char *core = openblas_get_corename();
    snprintf(in->core, sizeof in->core, "%s", core ? core : "unknown");
    const char *cfg = openblas_get_config();
    snprintf(in->config, sizeof in->config, "%s", cfg ? cfg : "");
    /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ..." -> "0.3.21" */
    if (!strncmp(in->config, "OpenBLAS ", 9)) sscanf(in->config + 9, "%31s", in->version);
    Dl_info dl;
    void *sym = (void *)cblas_sgemm;
    if (dladdr(sym, &dl) && dl.dli_fname) {
        char *real = realpath(dl.dli_fname, NULL);
        snprintf(in->library, sizeof in->library, "%s", real ? real : dl.dli_fname);
        free(real);
    }
    cpu_model(in->cpu, sizeof in->cpu);
    int amd = 0;
    in->cpu_level = cpu_level(&amd);
}

/* Runs before main (see the top of the file). glibc passes argc, argv and envp to
 * constructors. */
__attribute__((constructor)) static void choose_core(int argc, char **argv, char **envp) {
    (void)argc;
    (void)envp;
    lb_blas_info *in = &info_;
    fill_static(in);
    info_ready_ = 1;
    const char *user = getenv("OPENBLAS_CORETYPE"), *detected = getenv(DETECTED_ENV);
    if (user && *user) {
        if (detected && *detected) { /* set by our own re-execution */
            snprintf(in->detected, sizeof in->detected, "%.31s", detected);
            snprintf(in->chosen_by, sizeof in->chosen_by, "labbook");
            if (strcasecmp(in->core, user))
                snprintf(in->note, sizeof in->note, "asked OpenBLAS for %s, which this library does not have", user);
        } else {
            snprintf(in->detected, sizeof in->detected, "%.31s", in->core);
            snprintf(in->chosen_by, sizeof in->chosen_by, "OPENBLAS_CORETYPE");
        }
        return;
    }
    snprintf(in->detected, sizeof in->detected, "%.31s", in->core);
    snprintf(in->chosen_by, sizeof in->chosen_by, "openblas");
    const char *mode = getenv("LABBOOK_BLAS_CORE");
    if (mode && (!strcmp(mode, "off") || !strcmp(mode, "0") || !strcmp(mode, "openblas"))) return;
    int amd = 0;
    const char *better = lb_blas_better_core(in->core, cpu_level(&amd), amd);
    if (!better || !argv || !argv[0]) return;
    if (setenv("OPENBLAS_CORETYPE", better, 1) == 0 && setenv(DETECTED_ENV, in->core, 1) == 0) {
        fflush(NULL);
        execv("/proc/self/exe", argv);
    }
    /* still here: the re-execution failed; carry on with OpenBLAS's core and say why */
    int e = errno;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(DETECTED_ENV);
    snprintf(in->note, sizeof in->note, "could not restart with OPENBLAS_CORETYPE=%s: %s", better, strerror(e));
}

const lb_blas_info *lb_blas_info_get(void) {
    if (!info_ready_) { /* a program built without running constructors: describe, no choice */
        fill_static(&info_);
        snprintf(info_.detected, sizeof info_.detected, "%s", info_.core);
        snprintf(info_.chosen_by, sizeof info_.chosen_by, "openblas");
        info_ready_ = 1;
    }
    return &info_;
}

const char *lb_blas_summary(char *buf, size_t n) {
    const lb_blas_info *b = lb_blas_info_get();
    int k;
    if (!strcmp(b->chosen_by, "labbook"))
        k = snprintf(buf, n, "core %s (chosen by labbook: OpenBLAS detected %s)", b->core, b->detected);
    else if (!strcmp(b->chosen_by, "OPENBLAS_CORETYPE"))
        k = snprintf(buf, n, "core %s (OPENBLAS_CORETYPE)", b->core);
    else
        k = snprintf(buf, n, "core %s (detected by OpenBLAS)", b->core);
    if (b->note[0] && k >= 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, "; %s", b->note);
    return buf;
}

/* fake_blas_core.c — LD_PRELOAD shim for tests/test_blas.py: makes this machine look like one
 * whose CPU OpenBLAS does not recognise. While OPENBLAS_CORETYPE is unset,
 * openblas_get_corename() answers "Prescott" (the generic core Debian's OpenBLAS 0.3.21 falls
 * back to on recent Xeons); once it is set (by labbook's re-execution, or by the user), the
 * real function answers. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

char *openblas_get_corename(void)
{
    static char *(*real)(void);
    const char *forced = getenv("OPENBLAS_CORETYPE");
    if (!forced || !*forced)
        return "Prescott";
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "openblas_get_corename");
    return real ? real() : "unknown";
}

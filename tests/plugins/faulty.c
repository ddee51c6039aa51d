/* faulty.c — a test plugin whose code crashes on demand, in the kernel's own process, the way
 * buggy plugins do: a real SIGSEGV (a write through NULL), SIGBUS (a read of a mapped page past
 * the end of its file), SIGFPE (an integer division by zero), SIGILL (the trap instruction),
 * abort(), and a stack overflow (endless recursion). tests/test_plugin_faults.py checks that each
 * costs the cell, not the session.
 *
 *   faulty(sig="segv", at="forward", batch=0)   a layer: identity, except that it crashes in
 *       `at` (build, forward or backward) when the batch has `batch` samples (0: any batch)
 *   faulty_run sig=NAME                         a command that crashes */
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("faulty", "1.0.0", "layers and a command that crash on demand (tests)");


static volatile int sink;

static volatile int depth_limit = 1 << 30; /* never reached: the stack ends first */

static int recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    if (n >= depth_limit)
        return 0;
    return recurse(n + 1) + pad[0]; /* not a tail call: the stack grows until it faults */
}

static void crash(int how)
{
    switch (how) {
    case 0: { /* segv */
        volatile int *p = NULL;
        *p = 1;
        break;
    }
    case 1: { /* bus: a page mapped past the end of an empty file */
        char path[] = "/tmp/faulty-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0)
            raise(SIGBUS);
        unlink(path);
        volatile char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            raise(SIGBUS);
        sink = m[0];
        break;
    }
    case 2: { /* fpe */
        volatile int num = 7, zero = 0; /* both read at run time: a real idiv */
        sink = num / zero;
        break;
    }
    case 3: /* ill */
        __builtin_trap();
        break;
    case 4:
        abort();
    default:
        sink = recurse(0);
    }
}

static int sig_code(const char *s)
{
    const char *names[] = {"segv", "bus", "fpe", "ill", "abort", "stack"};
    for (int i = 0; i < 6; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return 0;
}

/* ---- the layer ---------------------------------------------------------------------------- */

static const lbp_param faulty_params[] = {
    {"sig", LBP_T_STR, "\"segv\"", 0, 0, 0, "segv|bus|fpe|ill|abort|stack", "how it crashes"},
    {"at", LBP_T_STR, "\"forward\"", 0, 0, 0, "build|forward|backward", "when it crashes"},
    {"batch", LBP_T_INT, "0", LBP_LO, 0, 0, NULL, "crash only at this batch size (0: any)"},
    {0},
};

/* identity whose backward crashes when asked: attr[0] the signal's code, attr[1] 1 to crash */
static void id_forward(const lbp_opcall *c)
{
    int64_t n = 1;
    for (int d = 0; d < c->in_ndim[0]; d++)
        n *= c->in_shape[0][d];
    memcpy(c->out, c->in[0], (size_t)n * sizeof(float));
}

static void id_backward(const lbp_opcall *c, const float *gout, float *const *gin)
{
    if (c->attr[1] != 0)
        crash((int)c->attr[0]);
    int64_t n = 1;
    for (int d = 0; d < c->in_ndim[0]; d++)
        n *= c->in_shape[0][d];
    for (int64_t i = 0; gin[0] && i < n; i++)
        gin[0][i] += gout[i];
}

static const lbp_op faulty_id = {.size = sizeof(lbp_op), .name = "faulty_id", .doc = "identity", .nin = 1,
                                 .forward = id_forward, .backward = id_backward};

static int faulty_build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    if (strcmp(h->arg_str(a, "at"), "build") == 0)
        crash(sig_code(h->arg_str(a, "sig")));
    /* a parameter, so that a model of it has weights to keep */
    lbp_tensor *w = h->param(L, "weight", 1, (int64_t[]){1}, 1);
    if (!w)
        return -1;
    h->init_const(L, w, 1.0f);
    return 0;
}

static lbp_tensor *faulty_forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    const lbp_args *a = h->args(L);
    int64_t want = h->arg_int(a, "batch");
    bool now = want == 0 || h->dim(x, 0) == want;
    const char *at = h->arg_str(a, "at");
    if (now && strcmp(at, "forward") == 0)
        crash(sig_code(h->arg_str(a, "sig")));
    int nd = h->ndim(x);
    int64_t shape[LBP_MAXDIM];
    for (int d = 0; d < nd; d++)
        shape[d] = h->dim(x, d);
    float attr[2] = {(float)sig_code(h->arg_str(a, "sig")), now && strcmp(at, "backward") == 0 ? 1.0f : 0.0f};
    lbp_tensor *y = h->op(g, &faulty_id, &x, 1, nd, shape, attr, 2);
    return y ? h->mul(g, y, h->get_param(L, "weight")) : NULL;
}

static const lbp_type faulty_type = {.size = sizeof(lbp_type), .name = "faulty", .kind = LBP_KIND_LAYER,
                                     .summary = "Identity that crashes on demand (tests).", .params = faulty_params,
                                     .build = faulty_build, .forward = faulty_forward};

/* ---- the command -------------------------------------------------------------------------- */

static const lbp_param run_params[] = {
    {"sig", LBP_T_STR, "\"segv\"", 0, 0, 0, "segv|bus|fpe|ill|abort|stack", "how it crashes"},
    {0},
};

static int faulty_run(const lbp_host *h, lbp_call *c)
{
    crash(sig_code(h->arg_str(h->call_args(c), "sig")));
    return 0;
}

static const lbp_command faulty_cmd = {.size = sizeof(lbp_command), .name = "faulty_run",
                                       .synopsis = "faulty_run sig=NAME", .doc = "Crashes (tests).",
                                       .params = run_params, .min_args = 0, .max_args = 0, .run = faulty_run};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (h->register_op(p, &faulty_id) < 0 || h->register_type(p, &faulty_type) < 0)
        return -1;
    return h->register_command(p, &faulty_cmd);
}

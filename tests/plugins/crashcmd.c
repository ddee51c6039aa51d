/* crashcmd.c — a test plugin with a layer type whose forward faults (SIGSEGV) in the kernel's own
 * process: `model m = segv_layer() input=[2]` runs forward once while building the model, and
 * nothing checks a `use`d plugin's forward in a child first. What a buggy plugin does; used to
 * show that `labbook run` has written out what was printed before the crash. */
#include <signal.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("crashcmd", "1.0.0", "a layer that crashes (tests)");

static int segv_build(const lbp_host *h, lbp_layer *L)
{
    (void)h;
    (void)L;
    return 0;
}

static lbp_tensor *segv_forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)h;
    (void)L;
    (void)g;
    raise(SIGSEGV);
    return x;
}

static const lbp_type segv_layer = {.size = sizeof(lbp_type), .name = "segv_layer", .kind = LBP_KIND_LAYER,
                                    .summary = "Crashes the process (SIGSEGV) when it runs.", .build = segv_build,
                                    .forward = segv_forward};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return h->register_type(p, &segv_layer);
}

/* crashcmd.c — a test plugin with a layer type whose forward ends the kernel's own process with
 * SIGKILL: `model m = kill_layer() input=[2]` runs forward once while building the model. A fault
 * (SIGSEGV, ...) would only cost the cell (kernel/base/fault.c); SIGKILL is what nothing survives
 * (the OOM killer, kill -9). Used to show that `labbook run` has written out what was printed
 * before the process died. */
#include <signal.h>
#include <unistd.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("crashcmd", "1.0.0", "a layer that crashes (tests)");

static int kill_build(const lbp_host *h, lbp_layer *L)
{
    (void)h;
    (void)L;
    return 0;
}

static lbp_tensor *kill_forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)h;
    (void)L;
    (void)g;
    kill(getpid(), SIGKILL);
    return x;
}

static const lbp_type kill_layer = {.size = sizeof(lbp_type), .name = "kill_layer", .kind = LBP_KIND_LAYER,
                                    .summary = "Kills the process (SIGKILL) when it runs.", .build = kill_build,
                                    .forward = kill_forward};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return h->register_type(p, &kill_layer);
}

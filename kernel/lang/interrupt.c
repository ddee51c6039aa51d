/* interrupt.c — the interrupt flag shared by the SIGINT handler, the control thread and the
 * evaluator. Requesting is async-signal-safe; long work polls lb_safe_point(). */
#include <signal.h>

#include "base/fault.h"
#include "lang/interp.h"
#include "lang/commands.h"

static volatile sig_atomic_t interrupt_flag;

void lb_interrupt_request(void)
{
    interrupt_flag = 1;
}

void lb_interrupt_clear(void)
{
    interrupt_flag = 0;
}

bool lb_interrupt_pending(void)
{
    return interrupt_flag != 0;
}

int lb_interrupt_check(lb_error *err)
{
    if (!interrupt_flag)
        return 0;
    return lb_error_set(err, "Interrupted", 0, 0, "interrupted by the user");
}

int lb_safe_point(lb_interp *in, lb_error *err)
{
    /* The safe point is also where long work lets buffered output out (progress seam). */
    const lb_output *out = lb_interp_output(in);
    if (out && out->flush)
        out->flush(out->ctx);
    char crash[512];
    if (lb_fault_take(crash, sizeof crash)) /* a plugin crashed where it could not say so */
        return lb_error_set(err, "PluginError", 0, 0, "%s", crash);
    if (!interrupt_flag)
        return 0;
    return lb_error_set(err, "Interrupted", 0, 0, "interrupted by the user");
}

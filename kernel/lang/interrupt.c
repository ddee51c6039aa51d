/* interrupt.c — the language's safe point: where long work lets buffered output out and ends
 * with an error when an interrupt (base/interrupt.h) or a plugin's crash (base/fault.h) is
 * pending. */
#include "base/fault.h"
#include "lang/interp.h"
#include "lang/commands.h"

int lb_safe_point(lb_interp *in, lb_error *err)
{
    /* The safe point is also where long work lets buffered output out (progress seam). */
    const lb_output *out = lb_interp_output(in);
    if (out && out->flush)
        out->flush(out->ctx);
    if (lb_fault_pending()) /* a plugin crashed where it could not say so */
        return lb_fault_error(err);
    return lb_interrupt_check(err);
}

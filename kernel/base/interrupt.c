/* interrupt.c — the interrupt flag (interrupt.h). */
#include <signal.h>

#include "base/interrupt.h"

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

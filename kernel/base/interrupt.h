/* interrupt.h — the interrupt flag: set by the SIGINT handler and by the control thread's
 * interrupt_request (async-signal-safe), cleared by the server before each execute_request, and
 * polled by every long loop of every room (the language's safe points, data loading, value
 * walks), which then unwinds with an `Interrupted` error. */
#ifndef LB_INTERRUPT_H
#define LB_INTERRUPT_H

#include <stdbool.h>

#include "base/error.h"

void lb_interrupt_request(void);
void lb_interrupt_clear(void);
bool lb_interrupt_pending(void);
/* The cheap check for loops over user data: -1 with `Interrupted` when an interrupt is pending.
 * Such loops call it every LB_POLL_EVERY items (or every few milliseconds of work). */
int lb_interrupt_check(lb_error *err);
#define LB_POLL_EVERY 4096

#endif

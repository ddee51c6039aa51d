/* fault.h — turning a crash in foreign code (a plugin's function) into an error of the cell.
 *
 * Code that calls into a plugin wraps the call in a guard:
 *
 *     lb_fault_guard fg;
 *     lb_fault_push(&fg, plugin_name, "layer type", "segv_layer", "forward");
 *     lbp_tensor *volatile y = NULL;
 *     if (sigsetjmp(fg.jb, 0) == 0)
 *         y = type->forward(...);
 *     if (lb_fault_pop(&fg)) { ... fg.message says what happened; y is not to be trusted ... }
 *
 * While a guard is pushed on this thread, SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (abort(),
 * a failed assert) jump back to the innermost guard instead of ending the process; the signal
 * handler runs on an alternate stack so that a stack overflow is caught too. A fault with no
 * guard pushed (a bug of labbook itself) keeps the default action: the process ends, as before,
 * so that bugs are not hidden. A caught fault is also left "pending" (lb_fault_pending) so that
 * callers with no error channel (a void callback) can let the next safe point end the cell.
 *
 * What this cannot promise: the jump abandons the plugin's function mid-way, so memory it had
 * allocated leaks, locks it held stay held, and a plugin that corrupted the heap before crashing
 * can make the process fail later anywhere. exit() called by a plugin is not a signal and still
 * ends the process. The child-process checks of plugins (spec/plugin-abi.md) reduce the risk.
 *
 * sigsetjmp is called by the caller itself (it must be, to return into that frame), with
 * savemask 0: the handler is installed with SA_NODEFER, so no signal stays blocked after the
 * jump and no system call is made per guarded call. */
#ifndef LB_FAULT_H
#define LB_FAULT_H

#include <setjmp.h>
#include <stdbool.h>

#include "base/error.h"

typedef struct lb_fault_guard {
    sigjmp_buf jb;
    struct lb_fault_guard *prev;
    const char *plugin, *kind, *item, *phase; /* who is running: for the message */
    void *owner;                       /* the caller's (host/: the plugin record) */
    volatile int sig;                  /* the signal caught, 0 while none */
    void *volatile addr;               /* the faulting address (SIGSEGV, SIGBUS) */
    char message[320];                 /* after a fault: "plugin P crashed with ... in forward of
                                        * layer type T" */
} lb_fault_guard;

/* Pushes g (innermost); installs the handlers and this thread's alternate stack on first use.
 * plugin, item and phase must outlive the guard. */
void lb_fault_push(lb_fault_guard *g, const char *plugin, const char *kind, const char *item, const char *phase);
/* Pops g; the signal number when a fault jumped back to it (g->message written), else 0. */
int lb_fault_pop(lb_fault_guard *g);

/* The innermost guard's owner on this thread, or NULL. */
void *lb_fault_owner(void);
/* In a process that must die of a fault instead (a forked check process): guards catch
 * nothing from now on. */
void lb_fault_disable(void);

/* The message of the last fault caught and not yet taken, or NULL. */
const char *lb_fault_pending(void);
/* Replaces the pending message (a caller that knows more about who crashed). */
void lb_fault_set_pending(const char *message);
/* Takes the pending message into err as a PluginError (every room reports a caught crash the
 * same way); -1. */
int lb_fault_error(lb_error *err);
/* Takes the pending message into buf (empty when none); returns whether there was one. */
bool lb_fault_take(char *buf, int n);

/* "segmentation fault (SIGSEGV)" */
const char *lb_fault_signal_name(int sig);

#endif

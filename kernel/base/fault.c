/* fault.c — guards that turn a crash in a plugin's function into an error (fault.h): the signal
 * handlers, the per-thread guard stack and alternate signal stack, the pending message. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"

static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NSIG_FAULT (int)(sizeof fault_signals / sizeof fault_signals[0])

static struct sigaction previous[NSIG_FAULT]; /* restored for a fault no guard covers */
static volatile sig_atomic_t installed, disabled;
static _Thread_local lb_fault_guard *top;
static _Thread_local bool have_altstack;

static char pending[512];
static bool has_pending;

static int slot_of(int sig)
{
    for (int i = 0; i < NSIG_FAULT; i++)
        if (fault_signals[i] == sig)
            return i;
    return -1;
}

static void on_fault(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    lb_fault_guard *g = disabled ? NULL : top;
    if (g) {
        /* popped here, so that a second fault while the guard's owner recovers is not sent
         * back into a frame that has already been left */
        top = g->prev;
        g->sig = sig;
        g->addr = si ? si->si_addr : NULL;
        siglongjmp(g->jb, 1);
    }
    /* Not in guarded code: labbook's own bug. Whatever handled the signal before (the default
     * action, or a sanitizer's report) handles it now. A fault raised by the hardware repeats
     * when the handler returns; one sent by raise() or kill() is sent again. */
    int k = slot_of(sig);
    if (k >= 0)
        sigaction(sig, &previous[k], NULL);
    else
        signal(sig, SIG_DFL);
    if (!si || si->si_code <= 0)
        raise(sig);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sigemptyset(&sa.sa_mask);
    /* SA_NODEFER: the guard's sigsetjmp does not save the mask (no system call per guarded
     * call), so the caught signal must not be left blocked after the jump */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    for (int i = 0; i < NSIG_FAULT; i++)
        sigaction(fault_signals[i], &sa, &previous[i]);
    installed = 1;
}

/* An alternate stack for this thread (once), unless it has one: a plugin that overflows its
 * stack faults with no stack left for the handler otherwise. Never freed: the thread (the
 * evaluating one) lives as long as the process. */
static void ensure_altstack(void)
{
    have_altstack = true;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return;
    size_t size = 64 * 1024;
    void *mem = malloc(size);
    if (!mem)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        free(mem);
}

void lb_fault_push(lb_fault_guard *g, const char *plugin, const char *kind, const char *item, const char *phase)
{
    if (!installed)
        install();
    if (!have_altstack)
        ensure_altstack();
    g->plugin = plugin;
    g->kind = kind;
    g->item = item;
    g->phase = phase;
    g->owner = NULL;
    g->sig = 0;
    g->addr = NULL;
    g->message[0] = '\0';
    g->prev = top;
    top = g;
}

void *lb_fault_owner(void)
{
    return top ? top->owner : NULL;
}

void lb_fault_disable(void)
{
    installed = 1; /* never install; a handler already installed is reset by the caller */
    disabled = 1;
}

const char *lb_fault_signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "a segmentation fault (SIGSEGV)";
    case SIGBUS: return "a bus error (SIGBUS)";
    case SIGFPE: return "an arithmetic exception (SIGFPE)";
    case SIGILL: return "an illegal instruction (SIGILL)";
    case SIGABRT: return "abort() (SIGABRT)";
    default: return "a signal";
    }
}

int lb_fault_pop(lb_fault_guard *g)
{
    if (!g->sig) {
        top = g->prev;
        return 0;
    }
    /* the handler already popped g */
    char where[160] = "";
    if ((g->sig == SIGSEGV || g->sig == SIGBUS))
        snprintf(where, sizeof where, " at address %p", g->addr);
    snprintf(g->message, sizeof g->message, "plugin %s crashed with %s%s in %s%s%s%s%s",
             g->plugin ? g->plugin : "?", lb_fault_signal_name(g->sig), where, g->phase ? g->phase : "",
             g->phase ? " of " : "", g->kind ? g->kind : "its code", g->item ? " " : "", g->item ? g->item : "");
    snprintf(pending, sizeof pending, "%s", g->message);
    has_pending = true;
    return g->sig;
}

const char *lb_fault_pending(void)
{
    return has_pending ? pending : NULL;
}

void lb_fault_set_pending(const char *message)
{
    snprintf(pending, sizeof pending, "%s", message);
    has_pending = true;
}

int lb_fault_error(lb_error *err)
{
    char msg[sizeof pending];
    if (!lb_fault_take(msg, sizeof msg))
        snprintf(msg, sizeof msg, "a plugin crashed");
    return lb_error_set(err, "PluginError", 0, 0, "%s", msg);
}

bool lb_fault_take(char *buf, int n)
{
    if (!has_pending) {
        if (n > 0)
            buf[0] = '\0';
        return false;
    }
    if (n > 0)
        snprintf(buf, (size_t)n, "%s", pending);
    has_pending = false;
    return true;
}

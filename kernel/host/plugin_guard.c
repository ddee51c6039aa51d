/* plugin_guard.c — what the kernel does when a plugin's code crashes (plugins.h: the fault
 * guards of base/fault.h around every call into a plugin): the plugin is disabled, with the
 * crash as the reason, until `use NAME` enables it again; the error the cell ends with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/plugin_impl.h"

void lb_plugin_guard_push(lb_fault_guard *g, lbp_plugin *p, const char *kind, const char *name,
                          const char *phase)
{
    lb_fault_push(g, p && p->name ? p->name : "?", kind, name, phase);
    g->owner = p;
}

lbp_plugin *lb_plugin_current(void)
{
    return lb_fault_owner();
}

int lb_plugin_guard_pop(lb_fault_guard *g, lbp_plugin *p)
{
    int sig = lb_fault_pop(g);
    if (!sig)
        return 0;
    char msg[512];
    snprintf(msg, sizeof msg, "%s; the plugin is disabled until `use %s` enables it again (your variables are "
             "intact; a model whose step it interrupted keeps its weights from before that step)",
             g->message, p && p->name ? p->name : "NAME");
    lb_fault_set_pending(msg);
    if (p && !p->crashed)
        p->crashed = strdup(g->message);
    return sig;
}

const char *lb_plugin_disabled(const lbp_plugin *p)
{
    return p ? p->crashed : NULL;
}

const char *lb_plugin_disabled_text(const lbp_plugin *p, char *buf, size_t n)
{
    if (!p || !p->crashed)
        return NULL;
    snprintf(buf, n, "plugin %s is disabled: %s earlier in this session; `use %s` enables it again", p->name,
             p->crashed, p->name);
    return buf;
}

int lb_plugin_disabled_error(const lbp_plugin *p, lb_error *err)
{
    char why[600];
    return lb_error_set(err, "PluginError", 0, 0, "%s", lb_plugin_disabled_text(p, why, sizeof why));
}

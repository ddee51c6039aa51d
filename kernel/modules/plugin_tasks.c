/* plugin_tasks.c — a task a plugin registered (labbook_plugin.h: lbp_task, found through
 * host/plugins.h) as the trainer's lb_task (train/task.h): each function passes the run, the
 * graph, tensors and batch on under the plugin ABI's opaque names. */
#include <stdio.h>
#include <stdlib.h>

#include "host/plugins.h"
#include "modules/training.h"
#include "train/task.h"

typedef struct plugin_task {
    lb_task t;          /* first: the trainer sees this */
    const lbp_task *p;
} plugin_task;

typedef struct plugin_acc {
    const lbp_task *p;
    void *inner;
} plugin_acc;

static const lbp_task *P(const lb_task_env *e) { return ((const plugin_task *)e->task)->p; }

static struct lbp_taskrun run_of(const lb_task_env *e) { return (struct lbp_taskrun){.m = e->m, .ds = e->ds}; }

static int metrics(const lb_task_env *e, lb_task_metric *out)
{
    int n = 0;
    for (const lbp_metric *m = P(e)->metrics; m->name && n < LB_TASK_MAXMETRICS; m++, n++) {
        out[n] = (lb_task_metric){.better = m->better > 0 ? LB_BETTER_HIGHER : LB_BETTER_LOWER, .on_train = m->on_train};
        snprintf(out[n].name, sizeof out[n].name, "%s", m->name);
    }
    return n;
}

static int check(const lb_task_env *e, lb_error *err)
{
    if (!P(e)->check)
        return 0;
    char msg[400] = "";
    struct lbp_taskrun r = run_of(e);
    if (P(e)->check(lb_plugin_host_table(), &r, msg, sizeof msg) < 0)
        return lb_error_set(err, "ValueError", 0, 0, "%s", msg[0] ? msg : "the model does not fit the data of this task");
    return 0;
}

static lb_tensor *loss(const lb_task_env *e, lb_graph *g, lb_tensor *out, const lb_batch *b, bool training)
{
    struct lbp_taskrun r = run_of(e);
    return (lb_tensor *)P(e)->loss(lb_plugin_host_table(), &r, (lbp_graph *)g, (lbp_tensor *)out,
                                   (const lbp_batch *)b, training);
}

static void *acc_new(const lb_task_env *e)
{
    plugin_acc *a = malloc(sizeof *a);
    struct lbp_taskrun r = run_of(e);
    if (a) {
        a->p = P(e);
        a->inner = a->p->acc_new(lb_plugin_host_table(), &r);
    }
    if (a && !a->inner) {
        free(a);
        return NULL;
    }
    return a;
}

static void acc_reset(void *acc) { ((plugin_acc *)acc)->p->acc_reset(((plugin_acc *)acc)->inner); }

static void acc_add(void *acc, const lb_tensor *out, const lb_batch *b, double batch_loss)
{
    plugin_acc *a = acc;
    a->p->acc_add(lb_plugin_host_table(), a->inner, (const lbp_tensor *)out, (const lbp_batch *)b, batch_loss);
}

static void acc_values(void *acc, double *v) { ((plugin_acc *)acc)->p->acc_values(((plugin_acc *)acc)->inner, v); }

static void acc_free(void *acc)
{
    plugin_acc *a = acc;
    if (!a)
        return;
    a->p->acc_free(a->inner);
    free(a);
}

lb_task *lb_plugin_task_new(const lbp_task *p)
{
    plugin_task *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->p = p;
    t->t = (lb_task){.size = sizeof(lb_task), .name = p->name, .summary = p->summary, .loss_name = p->loss_name,
                     .monitor = p->monitor ? p->monitor : "valid.loss", .metrics = metrics, .check = check, .loss = loss,
                     .acc_new = acc_new, .acc_reset = acc_reset, .acc_add = acc_add, .acc_values = acc_values,
                     .acc_free = acc_free};
    return &t->t;
}

void lb_plugin_task_free(lb_task *t) { free(t); }

/* plugin_tasks.c — a task a plugin registered (labbook_plugin.h: lbp_task, found through
 * host/plugins.h) as the trainer's lb_task (train/task.h): each function passes the run, the
 * graph, tensors and batch on under the plugin ABI's opaque names, under a fault guard
 * (host/plugins.h: LB_PLUGIN_CALL). A crash in a function with no error channel (acc_add, ...)
 * stays pending; the trainer's next check (after the backward pass, or its poll) ends the cell. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "host/plugins.h"
#include "modules/training.h"
#include "train/task.h"

typedef struct plugin_task {
    lb_task t;          /* first: the trainer sees this */
    const lbp_task *p;
    lbp_plugin *owner;
} plugin_task;

typedef struct plugin_acc {
    const lbp_task *p;
    lbp_plugin *owner;
    void *inner;
} plugin_acc;

static const lbp_task *P(const lb_task_env *e) { return ((const plugin_task *)e->task)->p; }
static lbp_plugin *OWNER(const lb_task_env *e) { return ((const plugin_task *)e->task)->owner; }

/* A crash of the plugin's loss was caught, or the plugin is disabled: g's error says which. */
static lb_tensor *loss_failed(lb_graph *g, lbp_plugin *owner, int sig)
{
    char why[600];
    const char *msg = sig ? lb_fault_pending() : lb_plugin_disabled_text(owner, why, sizeof why);
    lb_status_set(lb_graph_status(g), LB_EVALUE, "%s", msg ? msg : "a plugin crashed");
    return NULL;
}

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
    if (lb_plugin_disabled(OWNER(e)))
        return lb_plugin_disabled_error(OWNER(e), err);
    char msg[400] = "";
    struct lbp_taskrun r = run_of(e);
    volatile int rc = 0;
    int sig;
    LB_PLUGIN_CALL(sig, OWNER(e), "task", P(e)->name, "check", rc = P(e)->check(lb_plugin_host_table(), &r, msg, sizeof msg));
    if (sig)
        return lb_fault_error(err);
    if (rc < 0)
        return lb_error_set(err, "ValueError", 0, 0, "%s", msg[0] ? msg : "the model does not fit the data of this task");
    return 0;
}

static lb_tensor *loss(const lb_task_env *e, lb_graph *g, lb_tensor *out, const lb_batch *b, bool training)
{
    struct lbp_taskrun r = run_of(e);
    if (lb_plugin_disabled(OWNER(e)))
        return loss_failed(g, OWNER(e), 0);
    lbp_tensor *volatile y = NULL;
    int sig;
    LB_PLUGIN_CALL(sig, OWNER(e), "task", P(e)->name, "loss",
                   y = P(e)->loss(lb_plugin_host_table(), &r, (lbp_graph *)g, (lbp_tensor *)out, (const lbp_batch *)b, training));
    return sig ? loss_failed(g, OWNER(e), sig) : (lb_tensor *)y;
}

/* The task's acc_new, guarded: NULL when it crashed. */
static void *task_acc_new(const lbp_task *p, lbp_plugin *owner, const struct lbp_taskrun *r)
{
    void *volatile inner = NULL;
    int sig;
    LB_PLUGIN_CALL(sig, owner, "task", p->name, "acc_new", inner = p->acc_new(lb_plugin_host_table(), r));
    return sig ? NULL : inner;
}

static void *acc_new(const lb_task_env *e)
{
    plugin_acc *a = malloc(sizeof *a);
    struct lbp_taskrun r = run_of(e);
    if (a) {
        a->p = P(e);
        a->owner = OWNER(e);
        a->inner = task_acc_new(a->p, a->owner, &r);
    }
    if (a && !a->inner) {
        free(a);
        return NULL;
    }
    return a;
}

static void acc_reset(void *acc)
{
    plugin_acc *a = acc;
    int sig;
    if (!lb_plugin_disabled(a->owner))
        LB_PLUGIN_CALL(sig, a->owner, "task", a->p->name, "acc_reset", a->p->acc_reset(a->inner));
}

static void acc_add(void *acc, const lb_tensor *out, const lb_batch *b, double batch_loss)
{
    plugin_acc *a = acc;
    int sig;
    if (!lb_plugin_disabled(a->owner))
        LB_PLUGIN_CALL(sig, a->owner, "task", a->p->name, "acc_add",
                       a->p->acc_add(lb_plugin_host_table(), a->inner, (const lbp_tensor *)out, (const lbp_batch *)b, batch_loss));
}

static void acc_values(void *acc, double *v)
{
    plugin_acc *a = acc;
    int sig = 1;
    if (!lb_plugin_disabled(a->owner))
        LB_PLUGIN_CALL(sig, a->owner, "task", a->p->name, "acc_values", a->p->acc_values(a->inner, v));
    if (sig) /* what a crashed or disabled plugin's metrics read */
        for (const lbp_metric *m = a->p->metrics; m->name && m - a->p->metrics < LB_TASK_MAXMETRICS; m++)
            v[m - a->p->metrics] = NAN;
}

static void acc_free(void *acc)
{
    plugin_acc *a = acc;
    if (!a)
        return;
    int sig; /* a crash: what it held leaks */
    if (!lb_plugin_disabled(a->owner))
        LB_PLUGIN_CALL(sig, a->owner, "task", a->p->name, "acc_free", a->p->acc_free(a->inner));
    free(a);
}

lb_task *lb_plugin_task_new(const lbp_task *p, lbp_plugin *owner)
{
    plugin_task *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->p = p;
    t->owner = owner;
    t->t = (lb_task){.size = sizeof(lb_task), .name = p->name, .summary = p->summary,
                     .loss_name = p->loss_name ? p->loss_name : p->name,
                     .monitor = p->monitor ? p->monitor : "valid.loss", .metrics = metrics, .check = check, .loss = loss,
                     .acc_new = acc_new, .acc_reset = acc_reset, .acc_add = acc_add, .acc_values = acc_values,
                     .acc_free = acc_free};
    return &t->t;
}

void lb_plugin_task_free(lb_task *t) { free(t); }

/* ---- a task with a plugin's loss and extra metrics -------------------------------------------- */

typedef struct composite {
    lb_task t;             /* first: the trainer sees this */
    const lb_task *base;
    const lbp_loss *loss;  /* NULL: the base task's */
    lbp_plugin *loss_owner;
    const lbp_metric_def *extra[LB_TASK_MAXMETRICS];
    lbp_plugin *owner[LB_TASK_MAXMETRICS];
    int nextra;
} composite;

typedef struct composite_acc {
    const composite *c;
    lb_task_env be;        /* the run as the base task sees it */
    void *base;
    void *extra[LB_TASK_MAXMETRICS];
    int nbase;
} composite_acc;

static const composite *C(const lb_task_env *e) { return (const composite *)e->task; }

static lb_task_env base_env(const lb_task_env *e)
{
    lb_task_env b = *e;
    b.task = C(e)->base;
    return b;
}

static int c_metrics(const lb_task_env *e, lb_task_metric *out)
{
    lb_task_env be = base_env(e);
    int n = C(e)->base->metrics(&be, out);
    for (int i = 0; i < C(e)->nextra && n < LB_TASK_MAXMETRICS; i++, n++) {
        const lbp_metric_def *m = C(e)->extra[i];
        out[n] = (lb_task_metric){.better = m->better > 0 ? LB_BETTER_HIGHER : LB_BETTER_LOWER, .on_train = m->on_train};
        snprintf(out[n].name, sizeof out[n].name, "%s", m->name);
    }
    return n;
}

static int c_check(const lb_task_env *e, lb_error *err)
{
    lb_task_env be = base_env(e);
    return C(e)->base->check ? C(e)->base->check(&be, err) : 0;
}

static int c_prepare(const lb_task_env *e, lb_graph *g, lb_batch *b, lb_error *err)
{
    lb_task_env be = base_env(e);
    return C(e)->base->prepare ? C(e)->base->prepare(&be, g, b, err) : 0;
}

static lb_tensor *c_loss(const lb_task_env *e, lb_graph *g, lb_tensor *out, const lb_batch *b, bool training)
{
    lb_task_env be = base_env(e);
    if (!C(e)->loss)
        return C(e)->base->loss(&be, g, out, b, training);
    struct lbp_taskrun r = run_of(e);
    lbp_plugin *o = C(e)->loss_owner;
    if (lb_plugin_disabled(o))
        return loss_failed(g, o, 0);
    lbp_tensor *volatile y = NULL;
    int sig;
    LB_PLUGIN_CALL(sig, o, "loss", C(e)->loss->name, "loss",
                   y = C(e)->loss->loss(lb_plugin_host_table(), &r, (lbp_graph *)g, (lbp_tensor *)out, (const lbp_batch *)b, training));
    return sig ? loss_failed(g, o, sig) : (lb_tensor *)y;
}

static void c_acc_free(void *acc)
{
    composite_acc *a = acc;
    if (!a)
        return;
    if (a->base)
        a->c->base->acc_free(a->base);
    for (int i = 0; i < a->c->nextra; i++) {
        int sig;
        if (a->extra[i] && !lb_plugin_disabled(a->c->owner[i]))
            LB_PLUGIN_CALL(sig, a->c->owner[i], "metric", a->c->extra[i]->name, "acc_free", a->c->extra[i]->acc_free(a->extra[i]));
    }
    free(a);
}

/* A plugin metric's acc_new, guarded: NULL when it crashed or its plugin is disabled. */
static void *metric_acc_new(const lbp_metric_def *m, lbp_plugin *owner, const struct lbp_taskrun *r)
{
    if (lb_plugin_disabled(owner))
        return NULL;
    void *volatile x = NULL;
    int sig;
    LB_PLUGIN_CALL(sig, owner, "metric", m->name, "acc_new", x = m->acc_new(lb_plugin_host_table(), r));
    return sig ? NULL : x;
}

static void *c_acc_new(const lb_task_env *e)
{
    composite_acc *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->c = C(e);
    a->be = base_env(e);
    lb_task_metric tmp[LB_TASK_MAXMETRICS];
    a->nbase = a->c->base->metrics(&a->be, tmp);
    a->base = a->c->base->acc_new(&a->be);
    struct lbp_taskrun r = run_of(e);
    bool ok = a->base != NULL;
    for (int i = 0; ok && i < a->c->nextra; i++)
        ok = (a->extra[i] = metric_acc_new(a->c->extra[i], a->c->owner[i], &r)) != NULL;
    if (!ok) {
        c_acc_free(a);
        return NULL;
    }
    return a;
}

static void c_acc_reset(void *acc)
{
    composite_acc *a = acc;
    a->c->base->acc_reset(a->base);
    for (int i = 0; i < a->c->nextra; i++) {
        int sig;
        if (!lb_plugin_disabled(a->c->owner[i]))
            LB_PLUGIN_CALL(sig, a->c->owner[i], "metric", a->c->extra[i]->name, "acc_reset", a->c->extra[i]->acc_reset(a->extra[i]));
    }
}

static void c_acc_add(void *acc, const lb_tensor *out, const lb_batch *b, double batch_loss)
{
    composite_acc *a = acc;
    a->c->base->acc_add(a->base, out, b, batch_loss);
    for (int i = 0; i < a->c->nextra; i++) {
        int sig;
        if (!lb_plugin_disabled(a->c->owner[i]))
            LB_PLUGIN_CALL(sig, a->c->owner[i], "metric", a->c->extra[i]->name, "acc_add",
                           a->c->extra[i]->acc_add(lb_plugin_host_table(), a->extra[i], (const lbp_tensor *)out, (const lbp_batch *)b));
    }
}

static void c_acc_values(void *acc, double *v)
{
    composite_acc *a = acc;
    a->c->base->acc_values(a->base, v);
    for (int i = 0; i < a->c->nextra; i++) {
        volatile double x = NAN;
        int sig;
        if (!lb_plugin_disabled(a->c->owner[i]))
            LB_PLUGIN_CALL(sig, a->c->owner[i], "metric", a->c->extra[i]->name, "acc_value", x = a->c->extra[i]->acc_value(a->extra[i]));
        v[a->nbase + i] = x;
    }
}

static void c_acc_detail(void *acc, const lb_task_env *e, json_t *into)
{
    composite_acc *a = acc;
    (void)e;
    if (a->c->base->acc_detail)
        a->c->base->acc_detail(a->base, &a->be, into);
}

static void c_predict(const lb_task_env *e, const lb_tensor *out, float *pred)
{
    lb_task_env be = base_env(e);
    C(e)->base->predict(&be, out, pred);
}

lb_task *lb_task_compose(const lb_task *base, const lbp_loss *loss, lbp_plugin *loss_owner,
                         const lbp_metric_def *const *extra, lbp_plugin *const *extra_owners, int nextra)
{
    lb_task_metric own[LB_TASK_MAXMETRICS];
    lb_task_env e = {.task = base};
    if (nextra < 0 || base->metrics(&e, own) + nextra > LB_TASK_MAXMETRICS)
        return NULL;
    composite *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = base;
    c->loss = loss;
    c->loss_owner = loss_owner;
    for (int i = 0; i < nextra && i < LB_TASK_MAXMETRICS; i++) {
        c->owner[c->nextra] = extra_owners[i];
        c->extra[c->nextra++] = extra[i];
    }
    c->t = *base;
    c->t.loss_name = loss ? loss->name : base->loss_name;
    c->t.metrics = c_metrics;
    c->t.check = c_check;
    c->t.prepare = base->prepare ? c_prepare : NULL;
    c->t.loss = c_loss;
    c->t.acc_new = c_acc_new;
    c->t.acc_reset = c_acc_reset;
    c->t.acc_add = c_acc_add;
    c->t.acc_values = c_acc_values;
    c->t.acc_detail = base->acc_detail ? c_acc_detail : NULL;
    c->t.acc_free = c_acc_free;
    c->t.predict = base->predict ? c_predict : NULL;
    return &c->t;
}

/* plugin_tasks.c — tasks and data sources that plugins register (labbook_plugin.h: lbp_task,
 * lbp_data; spec/plugin-abi.md): their records in the registry, the host table's functions a
 * task uses (batch fields, reading values, what the run's data and model look like), and the
 * builtin function each data source becomes (it draws the samples from the plugin and makes a
 * data set of them with lb_dataset_from_fields). The trainer meets plugin tasks through
 * modules/ (lb_plugins_find_task), which adapts them to train/task.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "base/interrupt.h"
#include "host/plugin_impl.h"

/* ---- registration ---------------------------------------------------------------------------- */

static bool idents_unique(const lbp_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(f[i].name, f[k].name) == 0)
                return false;
    return true;
}

/* Appends a record of p's task, loss or metric `name` (unique among the items of its kind). */
static int add_item(lbp_plugin *p, lb_item_kind kind, const void *it, const char *name)
{
    static const char *const what[] = {"task", "loss", "metric"};
    lb_registry *reg = p->reg;
    if (!name || !*name || strlen(name) >= 24)
        return lb_reg_fail(p, "cannot register a %s without a name (an identifier of at most 23 characters)",
                           what[kind]);
    for (size_t i = 0; i < reg->ntasks; i++)
        if (reg->tasks[i].p && reg->tasks[i].kind == kind && strcmp(reg->tasks[i].name, name) == 0)
            return lb_reg_fail(p, "cannot register %s '%s': plugin %s registered one of that name", what[kind], name,
                               reg->tasks[i].p->name);
    if (reg->ntasks == reg->tkcap) {
        size_t cap = reg->tkcap ? 2 * reg->tkcap : 8;
        task_rec *nt = realloc(reg->tasks, cap * sizeof *nt);
        if (!nt)
            return lb_reg_fail(p, "out of memory");
        reg->tasks = nt;
        reg->tkcap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return lb_reg_fail(p, "out of memory");
    reg->tasks[reg->ntasks++] = (task_rec){.kind = kind, .it = it, .p = p, .name = copy};
    return 0;
}

int lb_host_register_task(lbp_plugin *p, const lbp_task *t)
{
    if (!p || !p->reg)
        return -1;
    if (!t)
        return lb_reg_fail(p, "register_task: no task given");
    if (t->size != sizeof(lbp_task))
        return lb_reg_fail(p, "cannot register task '%s': its size field is %zu, labbook expects %zu",
                           t->name ? t->name : "?", t->size, sizeof(lbp_task));
    if (!t->loss || !t->acc_new || !t->acc_reset || !t->acc_add || !t->acc_values || !t->acc_free)
        return lb_reg_fail(p, "cannot register task '%s': it needs loss and the acc_new ... acc_free functions",
                           t->name ? t->name : "?");
    size_t nm = 0;
    while (t->metrics && t->metrics[nm].name)
        nm++;
    if (nm < 1 || nm > 8 || strcmp(t->metrics[0].name, "loss") != 0)
        return lb_reg_fail(p, "cannot register task '%s': its metrics are 1 to 8, \"loss\" first",
                           t->name ? t->name : "?");
    for (size_t i = 0; i < nm; i++)
        if (strlen(t->metrics[i].name) >= 24 || (t->metrics[i].better != 1 && t->metrics[i].better != -1))
            return lb_reg_fail(p, "cannot register task '%s': metric %s needs a short name and better = 1 or -1",
                               t->name ? t->name : "?", t->metrics[i].name);
    return add_item(p, LB_ITEM_TASK, t, t->name);
}

int lb_host_register_loss(lbp_plugin *p, const lbp_loss *l)
{
    if (!p || !p->reg)
        return -1;
    if (!l || l->size != sizeof(lbp_loss) || !l->loss)
        return lb_reg_fail(p, "cannot register loss '%s': it needs its size (%zu) and a loss function",
                           l && l->name ? l->name : "?", sizeof(lbp_loss));
    return add_item(p, LB_ITEM_LOSS, l, l->name);
}

int lb_host_register_metric(lbp_plugin *p, const lbp_metric_def *m)
{
    if (!p || !p->reg)
        return -1;
    if (!m || m->size != sizeof(lbp_metric_def) || !m->acc_new || !m->acc_reset || !m->acc_add || !m->acc_value ||
        !m->acc_free || (m->better != 1 && m->better != -1))
        return lb_reg_fail(p, "cannot register metric '%s': it needs its size (%zu), better = 1 or -1 and the "
                              "acc_new ... acc_free functions",
                           m && m->name ? m->name : "?", sizeof(lbp_metric_def));
    return add_item(p, LB_ITEM_METRIC, m, m->name);
}

/* The plugin's parameters, then the ones every data source has. */
static lbp_param *data_params(const lbp_param *own)
{
    static const lbp_param common[] = {
        {"n", LBP_T_INT, "1000", LBP_LO, 1, 0, NULL, "training samples (valid is held out of them)"},
        {"test", LBP_T_INT, "200", LBP_LO, 0, 0, NULL, "test samples (0: none)"},
        {"valid", LBP_T_NUM, "0", LBP_LO, 0, 0, NULL, "samples held out for validation (a count, or a fraction below 1)"},
        {"seed", LBP_T_INT, "0", LBP_LO, 0, 0, NULL, "seed of the samples and the split"},
        {"normalize", LBP_T_BOOL, "true", 0, 0, 0, NULL, "standardise the inputs with the training split's statistics"},
        {0}};
    size_t n = 0, k = 0;
    while (own && own[n].name)
        n++;
    lbp_param *all = calloc(n + sizeof common / sizeof common[0], sizeof *all);
    for (size_t i = 0; all && i < n; i++)
        all[k++] = own[i];
    for (size_t i = 0; all && common[i].name; i++)
        all[k++] = common[i];
    return all;
}

static lb_value *data_call(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data,
                           lb_error *err);

/* The fields: identifiers, fixed shapes, at most one class target (with class names). */
static int check_fields(lbp_plugin *p, const lbp_data *d)
{
    size_t nf = 0, ninputs = 0, nclass = 0;
    while (d->fields && d->fields[nf].name)
        nf++;
    if (nf < 2 || nf > LB_MAX_FIELDS || !idents_unique(d->fields, nf))
        return lb_reg_fail(p, "cannot register data source '%s': it needs 2 to %d fields with distinct names", d->name,
                           LB_MAX_FIELDS);
    for (size_t i = 0; i < nf; i++) {
        const lbp_field *f = &d->fields[i];
        bool ok = strlen(f->name) < 24 && f->ndim >= 0 && f->ndim <= 3 &&
                  (f->type == LBP_FIELD_FLOAT || f->type == LBP_FIELD_INT);
        int64_t numel = 1;
        for (int k = 0; ok && k < f->ndim; k++) {
            ok = f->shape[k] >= 1 && f->shape[k] <= 1 << 20;
            numel *= f->shape[k];
            ok = ok && numel <= 1 << 24; /* values per sample */
        }
        if (!ok)
            return lb_reg_fail(p, "cannot register data source '%s': field %s needs a type and a fixed shape of "
                                  "0 to 3 positive dimensions",
                               d->name, f->name);
        ninputs += !f->target;
        nclass += f->target && f->type == LBP_FIELD_INT && f->ndim == 0;
    }
    size_t ncl = 0;
    while (d->classes && d->classes[ncl])
        ncl++;
    if (!ninputs || nclass > 1 || (nclass && ncl < 2))
        return lb_reg_fail(p, "cannot register data source '%s': it needs an input field, and at most one class "
                              "target (with 2 or more class names)",
                           d->name);
    return 0;
}

int lb_host_register_data(lbp_plugin *p, const lbp_data *d)
{
    if (!p || !p->reg)
        return -1;
    if (!d)
        return lb_reg_fail(p, "register_data: no data source given");
    if (d->size != sizeof(lbp_data))
        return lb_reg_fail(p, "cannot register data source '%s': its size field is %zu, labbook expects %zu",
                           d->name ? d->name : "?", d->size, sizeof(lbp_data));
    if (lb_reg_name_free(p, "data source", d->name) < 0)
        return -1;
    if (!d->sample || !d->task)
        return lb_reg_fail(p, "cannot register data source '%s': it needs a sample function and a task", d->name);
    if (check_fields(p, d) < 0)
        return -1;
    char msg[400];
    if (lb_schema_validate(d->params, d->name, msg, sizeof msg) < 0)
        return lb_reg_fail(p, "cannot register data source '%s': %s", d->name, msg);
    lb_registry *reg = p->reg;
    if (reg->ndatas == reg->dcap) {
        size_t cap = reg->dcap ? 2 * reg->dcap : 8;
        data_rec **nd = realloc(reg->datas, cap * sizeof *nd);
        if (!nd)
            return lb_reg_fail(p, "out of memory");
        reg->datas = nd;
        reg->dcap = cap;
    }
    data_rec *r = calloc(1, sizeof *r);
    if (r) {
        *r = (data_rec){.d = d, .p = p, .name = strdup(d->name), .params = data_params(d->params)};
        r->signature = r->params ? lb_schema_signature(d->name, r->params) : NULL;
        r->summary = lb_first_line(d->summary ? d->summary : d->name);
    }
    if (!r || !r->name || !r->params || !r->signature || !r->summary) {
        if (r) {
            free(r->name);
            free(r->params);
            free(r->signature);
            free(r->summary);
        }
        free(r);
        return lb_reg_fail(p, "out of memory");
    }
    reg->datas[reg->ndatas++] = r; /* owned by the registry even if what follows fails */
    lb_error err = {0};
    if (lb_interp_register_function(reg->in, r->name, r->signature, r->summary, data_call, r, &err) < 0) {
        r->dead = true;
        lb_reg_fail(p, "cannot register data source '%s': %s", d->name, err.evalue ? err.evalue : "?");
        lb_error_clear(&err);
        return -1;
    }
    return 0;
}

void lb_plugin_items_drop(lb_registry *reg, lbp_plugin *p)
{
    for (size_t i = 0; i < reg->ntasks; i++)
        if (reg->tasks[i].p == p)
            reg->tasks[i].p = NULL;
    for (size_t i = 0; i < reg->ndatas; i++) {
        data_rec *r = reg->datas[i];
        if (r->p == p) {
            r->dead = true;
            r->p = NULL;
            lb_value *f = lb_interp_builtin(reg->in, r->name);
            if (f && f->kind == LB_FUNC && f->u.func.data == r)
                lb_map_del(lb_interp_builtins(reg->in), r->name);
        }
    }
}

void lb_plugin_items_free(lb_registry *reg)
{
    for (size_t i = 0; i < reg->ntasks; i++)
        free(reg->tasks[i].name);
    free(reg->tasks);
    for (size_t i = 0; i < reg->ndatas; i++) {
        free(reg->datas[i]->name);
        free(reg->datas[i]->params);
        free(reg->datas[i]->signature);
        free(reg->datas[i]->summary);
        free(reg->datas[i]);
    }
    free(reg->datas);
}

void lb_plugin_items_announce(lb_registry *reg, lbp_plugin *p, char *line, size_t size, size_t *used, int *n)
{
    static const char *const what[] = {"task", "loss", "metric"};
    for (size_t i = 0; i < reg->ntasks && *used < size; i++)
        if (reg->tasks[i].p == p)
            *used += (size_t)snprintf(line + *used, size - *used, "%s%s %s", (*n)++ ? ", " : ": ",
                                      what[reg->tasks[i].kind], reg->tasks[i].name);
    for (size_t i = 0; i < reg->ndatas && *used < size; i++)
        if (reg->datas[i]->p == p && !reg->datas[i]->dead)
            *used += (size_t)snprintf(line + *used, size - *used, "%sdata %s", (*n)++ ? ", " : ": ",
                                      reg->datas[i]->name);
}

/* ---- lookups (modules/) ---------------------------------------------------------------------- */

static const void *find_item(lb_interp *in, lb_item_kind kind, const char *name, lbp_plugin **owner)
{
    lb_registry *reg = lb_interp_registry(in);
    for (size_t i = 0; reg && name && i < reg->ntasks; i++)
        if (reg->tasks[i].p && reg->tasks[i].kind == kind && strcmp(reg->tasks[i].name, name) == 0) {
            if (owner)
                *owner = reg->tasks[i].p;
            return reg->tasks[i].it;
        }
    return NULL;
}

const lbp_task *lb_plugins_find_task(lb_interp *in, const char *name, lbp_plugin **owner)
{
    return find_item(in, LB_ITEM_TASK, name, owner);
}

const lbp_loss *lb_plugins_find_loss(lb_interp *in, const char *name, lbp_plugin **owner)
{
    return find_item(in, LB_ITEM_LOSS, name, owner);
}

const lbp_metric_def *lb_plugins_find_metric(lb_interp *in, const char *name, lbp_plugin **owner)
{
    return find_item(in, LB_ITEM_METRIC, name, owner);
}

size_t lb_plugins_item_names(lb_interp *in, int kind, const char **names, size_t max)
{
    lb_registry *reg = lb_interp_registry(in);
    size_t n = 0;
    for (size_t i = 0; reg && i < reg->ntasks; i++)
        if (reg->tasks[i].p && (int)reg->tasks[i].kind == kind && n < max)
            names[n++] = reg->tasks[i].name;
    return n;
}

static lb_dataset_maker g_maker;

void lb_plugins_set_dataset_maker(lb_dataset_maker make) { g_maker = make; }

/* ---- the host table's task functions ----------------------------------------------------------- */

lbp_tensor *lb_host_batch_field(const lbp_batch *b, const char *name)
{
    return (lbp_tensor *)lb_batch_get((const lb_batch *)b, name);
}

int64_t lb_host_batch_size(const lbp_batch *b) { return b ? ((const lb_batch *)b)->n : 0; }

int64_t lb_host_read(const lbp_tensor *pt, float *out, int64_t n)
{
    const lb_tensor *t = (const lb_tensor *)pt;
    if (!t)
        return 0;
    if (n >= t->numel)
        lb_copy_out(t, out);
    else
        for (int64_t i = 0; i < n; i++)
            out[i] = lb_get(t, i);
    return t->numel;
}

int lb_host_run_classes(const lbp_taskrun *r) { return r && r->ds ? r->ds->nclasses : 0; }

int lb_host_run_output(const lbp_taskrun *r, int64_t shape[LBP_MAXDIM])
{
    return r && r->m ? lb_model_output_shape(r->m, shape) : -1;
}

int lb_host_run_target(const lbp_taskrun *r, const char *name, int64_t shape[3], double *pad)
{
    const lb_field *f = r ? lb_dataset_field(r->ds, name, NULL) : NULL;
    if (!f || !f->target)
        return -1;
    memcpy(shape, f->shape, sizeof f->shape);
    if (pad)
        *pad = f->pad;
    return f->ndim;
}

/* ---- a data source's function ------------------------------------------------------------------- */

/* The plugin's fields as the data set's: inputs in block X, a class target as labels, other
 * targets in block T, each in declaration order. */
static int make_fields(const lbp_data *d, lb_field *out, int64_t *xnumel, int64_t *tnumel, int *label)
{
    int nf = 0;
    *xnumel = *tnumel = 0;
    *label = -1;
    for (const lbp_field *f = d->fields; f->name; f++, nf++) {
        lb_field *o = &out[nf];
        *o = (lb_field){.type = f->type == LBP_FIELD_INT ? LB_FIELD_INT : LB_FIELD_FLOAT, .target = f->target != 0,
                        .ndim = f->ndim, .pad = f->pad};
        snprintf(o->name, sizeof o->name, "%s", f->name);
        int64_t n = 1;
        for (int k = 0; k < f->ndim; k++)
            n *= (o->shape[k] = f->shape[k]);
        bool cls = f->target && f->type == LBP_FIELD_INT && f->ndim == 0;
        o->block = !f->target ? LB_BLOCK_X : cls ? LB_BLOCK_LABEL : LB_BLOCK_T;
        if (cls)
            *label = nf;
        if (!f->target)
            *xnumel += n;
        else if (!cls)
            *tnumel += n;
    }
    return nf;
}

/* One sample from the plugin's sample(), under a fault guard: its result, or -2 when it crashed. */
static int sample_guarded(const data_rec *r, const lbp_args *a, uint64_t seed, int test, int64_t i, float *x, float *t)
{
    volatile int rc = -1;
    int sig;
    LB_PLUGIN_CALL(sig, r->p, "data source", r->name, "sample",
                   rc = r->d->sample(lb_plugin_host_table(), a, seed, test, i, x, t));
    return sig ? -2 : rc;
}

/* n samples of the training (test = 0) or test set from the plugin, into file f's blocks. */
static int draw(const data_rec *r, const lbp_args *a, uint64_t seed, int test, int64_t n, lb_fields_file *f,
                const lb_field *fields, int nf, int64_t xnumel, int64_t tnumel, bool label, lb_error *err)
{
    float *x = malloc((size_t)(n * xnumel) * sizeof *x + 1), *t = tnumel ? malloc((size_t)(n * tnumel) * sizeof *t + 1) : NULL;
    int32_t *y = label ? malloc((size_t)n * sizeof *y + 1) : NULL;
    float *tmp = malloc((size_t)(tnumel + 1) * sizeof *tmp);
    int32_t ncl = 0;
    while (r->d->classes && r->d->classes[ncl])
        ncl++;
    int rc = !x || (label && !y) || !tmp || (tnumel && !t) ? lb_oom(err) : 0;
    if (rc == 0 && lb_plugin_disabled(r->p))
        rc = lb_plugin_disabled_error(r->p, err);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        if (i % LB_POLL_EVERY == LB_POLL_EVERY - 1 && (rc = lb_interrupt_check(err)) < 0)
            break;
        int got = sample_guarded(r, a, seed, test, i, x + i * xnumel, tmp);
        if (got == -2) {
            rc = lb_fault_error(err);
            break;
        }
        if (got < 0) {
            rc = lb_error_set(err, "PluginError", 0, 0, "%s(): the plugin could not draw sample %lld", r->name, (long long)i);
            break;
        }
        /* the targets in field order: the class to y, the others to t */
        int64_t at = 0, to = 0;
        for (int k = 0; k < nf; k++) {
            if (!fields[k].target)
                continue;
            if (fields[k].block == LB_BLOCK_LABEL) {
                float v = tmp[at++];
                if (!(v >= 0 && v < (float)ncl && v == floorf(v))) {
                    rc = lb_error_set(err, "PluginError", 0, 0, "%s(): sample %lld has class %g, not one of 0..%d", r->name,
                                      (long long)i, (double)v, ncl - 1);
                    break;
                }
                y[i] = (int32_t)v;
            } else {
                int64_t m = 1;
                for (int q = 0; q < fields[k].ndim; q++)
                    m *= fields[k].shape[q];
                memcpy(t + i * tnumel + to, tmp + at, (size_t)m * sizeof *t);
                at += m;
                to += m;
            }
        }
    }
    free(tmp);
    *f = (lb_fields_file){.n = n, .x = x, .xndim = 1, .xshape = {xnumel}, .t = t, .tnumel = tnumel, .labels = y};
    return rc;
}

static void free_file(lb_fields_file *f)
{
    free((void *)f->x);
    free((void *)f->t);
    free((void *)f->labels);
}

static lb_value *data_call(lb_interp *in, lb_value **args, size_t nargs, lb_value *kwargs, void *data, lb_error *err)
{
    (void)in;
    data_rec *r = data;
    if (r->dead || !g_maker) {
        lb_error_set(err, "NameError", 0, 0, "%s came from a plugin that has been unloaded (`use` it again)", r->name);
        return NULL;
    }
    struct lbp_args a;
    if (lb_args_check(&a, r->params, r->name, args, nargs, kwargs, err) < 0)
        return NULL;
    const lbp_host *h = lb_plugin_host_table();
    lb_data_options o = LB_DATA_OPTIONS_INIT;
    double valid = h->arg_num(&a, "valid");
    int64_t n = h->arg_int(&a, "n"), ntest = h->arg_int(&a, "test");
    if (valid > 0 && valid < 1) {
        o.valid_fraction = valid;
    } else if (valid != floor(valid) || valid > 9007199254740992.0) {
        lb_error_set(err, "ValueError", 0, 0, "%s(): valid=%g is neither a count nor a fraction below 1", r->name, valid);
        lb_args_clear(&a);
        return NULL;
    } else {
        o.valid = (int64_t)valid;
    }
    o.seed = (uint64_t)h->arg_int(&a, "seed");
    o.normalize = h->arg_bool(&a, "normalize");
    lb_field fields[LB_MAX_FIELDS];
    int64_t xnumel, tnumel;
    int label;
    int nf = make_fields(r->d, fields, &xnumel, &tnumel, &label);
    if (n + ntest > ((int64_t)1 << 31) / (xnumel + tnumel + 1)) {
        lb_error_set(err, "ValueError", 0, 0, "%s(): %lld samples of %lld values are more than labbook holds in memory",
                     r->name, (long long)(n + ntest), (long long)(xnumel + tnumel));
        lb_args_clear(&a);
        return NULL;
    }
    lb_fields_file tr = {0}, te = {0};
    lb_dataset *ds = NULL;
    int ncl = 0;
    while (r->d->classes && r->d->classes[ncl])
        ncl++;
    char **classes = ncl ? calloc((size_t)ncl, sizeof *classes) : NULL; /* class targets or a class per pixel */
    for (int k = 0; classes && k < ncl; k++)
        classes[k] = strdup(r->d->classes[k]);
    if (draw(r, &a, o.seed, 0, n, &tr, fields, nf, xnumel, tnumel, label >= 0, err) == 0 &&
        (!ntest || draw(r, &a, o.seed, 1, ntest, &te, fields, nf, xnumel, tnumel, label >= 0, err) == 0)) {
        char *src = NULL;
        if (asprintf(&src, "plugin %s: %s", r->p->name, r->name) < 0)
            src = NULL;
        ds = lb_dataset_from_fields(strdup(r->name), src, fields, nf, r->d->task, classes, classes ? ncl : 0, &tr,
                                    ntest ? &te : NULL, &o, err);
        classes = NULL;
    }
    if (classes) {
        for (int k = 0; k < ncl; k++)
            free(classes[k]);
        free(classes);
    }
    free_file(&tr);
    free_file(&te);
    lb_args_clear(&a);
    return ds ? g_maker(ds, err) : NULL;
}

/* task.c — the registry of tasks (append-only) and what the built-in tasks share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/task.h"

#define MAX_TASKS 32

static const lb_task *g_tasks[MAX_TASKS];
static size_t g_ntasks;

static void builtins(void)
{
    if (g_ntasks)
        return;
    g_tasks[g_ntasks++] = &lb_task_classify;
    g_tasks[g_ntasks++] = &lb_task_regress;
    g_tasks[g_ntasks++] = &lb_task_segment;
}

int lb_task_register(const lb_task *t, lb_error *err)
{
    builtins();
    if (!t || t->size < sizeof(lb_task) || !t->name || !t->metrics || !t->loss || !t->acc_new ||
        !t->acc_reset || !t->acc_add || !t->acc_values || !t->acc_free)
        return lb_error_set(err, "ValueError", 0, 0, "a task needs a name, metrics, a loss and a metric accumulator");
    if (lb_task_find(t->name))
        return lb_error_set(err, "ValueError", 0, 0, "a task named %s is already registered", t->name);
    if (g_ntasks == MAX_TASKS)
        return lb_error_set(err, "ValueError", 0, 0, "at most %d tasks can be registered", MAX_TASKS);
    g_tasks[g_ntasks++] = t;
    return 0;
}

const lb_task *lb_task_find(const char *name)
{
    builtins();
    for (size_t i = 0; name && i < g_ntasks; i++)
        if (strcmp(g_tasks[i]->name, name) == 0)
            return g_tasks[i];
    return NULL;
}

const char *const *lb_task_names(size_t *n)
{
    static const char *names[MAX_TASKS];
    builtins();
    for (size_t i = 0; i < g_ntasks; i++)
        names[i] = g_tasks[i]->name;
    *n = g_ntasks;
    return names;
}

const lb_field *lb_task_target(const lb_task_env *e, const char *name, lb_field_type type, lb_error *err)
{
    const lb_field *f = lb_dataset_field(e->ds, name, NULL);
    if (!f || !f->target || f->type != type) {
        lb_error_set(err, "ValueError", 0, 0, "task %s needs a target field %s of %s values; data set %s has %s",
                     e->task->name, name, type == LB_FIELD_INT ? "int" : "float", e->ds->name,
                     !f ? "no such field" : !f->target ? "it as an input" : "it of the other type");
        return NULL;
    }
    return f;
}

const float *lb_task_rows(const lb_tensor *t, float **scratch, int64_t *cap)
{
    bool contiguous = true;
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0 && contiguous; d--) {
        contiguous = t->shape[d] == 1 || t->stride[d] == want;
        want *= t->shape[d];
    }
    if (contiguous)
        return t->data;
    if (t->numel > *cap) {
        float *s = realloc(*scratch, (size_t)t->numel * sizeof *s);
        if (!s)
            return NULL;
        *scratch = s;
        *cap = t->numel;
    }
    for (int64_t i = 0; i < t->numel; i++)
        (*scratch)[i] = lb_get(t, i);
    return *scratch;
}

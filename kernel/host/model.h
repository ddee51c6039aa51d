/* model.h — a built model as the trainer sees it (model.c): its parameter block, its input
 * and output shapes, a forward pass in a step graph, its name, source and seeds, and the
 * plugins its layers come from. The trainer (train/) knows models through this header only:
 * how models are built from plugins and values is host/plugins.h, which is the language's
 * side. */
#ifndef LB_MODEL_H
#define LB_MODEL_H

#include <stdint.h>
#include <jansson.h>

#include "ops.h"

typedef struct lb_model lb_model;

lb_params *lb_model_params(lb_model *m);
const char *lb_model_name(const lb_model *m);
int lb_model_input_shape(const lb_model *m, int64_t shape[LB_MAXDIM]);  /* ndim; batch excluded */
int lb_model_output_shape(const lb_model *m, int64_t shape[LB_MAXDIM]); /* ndim; batch excluded */
/* x [N, *input] -> output [N, *output] in g (gradients recorded when g has them on).
 * training selects batch statistics / dropout; rng NULL uses the model's own (seeded) one.
 * NULL with g's status set on failure. */
lb_tensor *lb_model_forward(lb_model *m, lb_graph *g, lb_tensor *x, int training, lb_rng *rng);

/* Named inputs and output. A model has 1..LB_MODEL_MAXINPUTS inputs, each with a name and a
 * shape (batch excluded); a model type that names none has one input, "x". Its one output is
 * named too ("y" unless the type names it). The trainer feeds input i from the data field of
 * the same name. */
#define LB_MODEL_MAXINPUTS 4
int lb_model_ninputs(const lb_model *m);
const char *lb_model_input_name(const lb_model *m, int i);
int lb_model_input_shape_at(const lb_model *m, int i, int64_t shape[LB_MAXDIM]); /* ndim */
const char *lb_model_output_name(const lb_model *m);
/* xs[i] [N, *input i] for each of the n == lb_model_ninputs inputs -> output [N, *output]. */
lb_tensor *lb_model_forward_inputs(lb_model *m, lb_graph *g, lb_tensor *const *xs, int n, int training,
                                   lb_rng *rng);
/* The canonical source of the model's layers ("cnn(channels=[16, 32], pool=\"max\")"), borrowed. */
const char *lb_model_spec_text(const lb_model *m);
uint64_t lb_model_seed(const lb_model *m);
/* Reseeds the generator training-mode forwards draw from (dropout), so that a run is
 * reproducible from its own seed. */
void lb_model_seed_run(lb_model *m, uint64_t seed);
/* The plugins the model's built layers come from (a model type's plugin and the plugins of
 * the layers it builds): a new JSON array of {"name", "version", "sha256", "file"}, each
 * plugin once, in order of first use; NULL on OOM. */
json_t *lb_model_plugins(const lb_model *m);

#endif

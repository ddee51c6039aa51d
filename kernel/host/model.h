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

/* plugin_op.h — custom ops registered by plugins (lbp_op): the host runs the plugin's forward
 * on contiguous inputs and records a tape node whose backward calls the plugin's backward
 * (through the engine's public lb_custom_op). */
#ifndef LB_PLUGIN_OP_H
#define LB_PLUGIN_OP_H

#include "labbook_plugin.h"
#include "ops.h"

lb_tensor *lb_plugin_custom_op(lb_graph *g, const lbp_op *op, lb_tensor *const *in, int nin,
                               int out_ndim, const int64_t *out_shape, const float *attr, int nattr);

#endif

/* schematest.c — a well-formed test plugin: a type exercising every schema feature, a custom
 * op with its own backward (square) and a layer using it, a model type composing layers of
 * another plugin, and a command. */
#include <stdio.h>
#include <string.h>

#include "labbook_plugin.h"

LBP_MODULE_MAGIC("schematest", "2.5.0", "schema, custom op and command tests");

static const lbp_param widget_params[] = {
    {"size", LBP_T_INT, NULL, LBP_LO | LBP_HI, 1, 10, NULL, "how big"},
    {"mode", LBP_T_STR, "\"fast\"", 0, 0, 0, "fast|slow|exact", "how"},
    {"rate", LBP_T_NUM, "0.5", LBP_LO | LBP_LO_OPEN | LBP_HI, 0, 1, NULL, "a rate in (0, 1]"},
    {"sizes", LBP_T_INTS, "[1, 2]", LBP_LO, 0, 0, NULL, "some sizes"},
    {"flag", LBP_T_BOOL, "false", 0, 0, 0, NULL, "a switch"},
    {"limit", LBP_T_INT, "none", LBP_NONE_OK | LBP_LO, 0, 0, NULL, "optional limit"},
    {0}};

static int widget_build(const lbp_host *h, lbp_layer *L)
{
    const lbp_args *a = h->args(L);
    /* the parameter shape encodes the checked arguments, for the test to read back */
    int64_t n = h->arg_int(a, "size") * 100 + (int64_t)h->arg_len(a, "sizes") * 10 +
                (h->arg_none(a, "limit") ? 0 : 1) + (h->arg_bool(a, "flag") ? 1000 : 0);
    if (strcmp(h->arg_str(a, "mode"), "exact") == 0)
        n += 5000;
    return h->param(L, "w", 1, &n, 1) ? 0 : -1;
}

static lbp_tensor *identity(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    (void)h, (void)L, (void)g;
    return x;
}

static const lbp_type widget = {
    .size = sizeof(lbp_type), .name = "widget", .kind = LBP_KIND_LAYER,
    .summary = "A test layer with every kind of parameter.", .params = widget_params,
    .build = widget_build, .forward = identity};

/* square: y = x^2 elementwise, dy/dx = 2x; attr[0] scales the output */
static void sq_forward(const lbp_opcall *c)
{
    int64_t n = 1;
    for (int d = 0; d < c->out_ndim; d++)
        n *= c->out_shape[d];
    for (int64_t i = 0; i < n; i++)
        c->out[i] = c->attr[0] * c->in[0][i] * c->in[0][i];
}

static void sq_backward(const lbp_opcall *c, const float *gout, float *const *gin)
{
    int64_t n = 1;
    for (int d = 0; d < c->out_ndim; d++)
        n *= c->out_shape[d];
    if (gin[0])
        for (int64_t i = 0; i < n; i++)
            gin[0][i] += gout[i] * 2.0f * c->attr[0] * c->in[0][i];
}

static const lbp_op square_op = {.size = sizeof(lbp_op), .name = "square_op", .doc = "x^2",
                                 .nin = 1, .forward = sq_forward, .backward = sq_backward};

static const lbp_param square_params[] = {
    {"scale", LBP_T_NUM, "1", 0, 0, 0, NULL, "output scale"},
    {0}};

static int square_build(const lbp_host *h, lbp_layer *L)
{
    (void)h, (void)L;
    return 0;
}

static lbp_tensor *square_forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    int64_t shape[LBP_MAXDIM];
    for (int d = 0; d < h->ndim(x); d++)
        shape[d] = h->dim(x, d);
    float attr = (float)h->arg_num(h->args(L), "scale");
    return h->op(g, &square_op, &x, 1, h->ndim(x), shape, &attr, 1);
}

static const lbp_type square = {
    .size = sizeof(lbp_type), .name = "square", .kind = LBP_KIND_LAYER,
    .summary = "x^2 through a custom op.", .params = square_params,
    .build = square_build, .forward = square_forward};

/* a model type with its own forward: y = child0(x) + child1(x) (a residual-like sum) */
static const lbp_param twoway_params[] = {
    {"features", LBP_T_INT, "4", LBP_LO, 1, 0, NULL, "width"},
    {0}};

static int twoway_build(const lbp_host *h, lbp_layer *L)
{
    int64_t f = h->arg_int(h->args(L), "features");
    if (h->child(L, "linear(%lld, %lld)", (long long)f, (long long)f) < 0)
        return -1;
    /* the second branch sees the same input: build it on the first one's output, whose shape
     * is the same here */
    return h->child(L, "square()");
}

static lbp_tensor *twoway_forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)
{
    return h->add(g, h->run_child(L, 0, g, x), h->run_child(L, 1, g, x));
}

static int twoway_input(const lbp_host *h, const lbp_args *a, int64_t shape[LBP_MAXDIM])
{
    shape[0] = h->arg_int(a, "features");
    return 1;
}

static const lbp_type twoway = {
    .size = sizeof(lbp_type), .name = "twoway", .kind = LBP_KIND_MODEL,
    .summary = "linear(x) + square(x).", .params = twoway_params,
    .build = twoway_build, .forward = twoway_forward, .default_input = twoway_input};

static const lbp_param hello_params[] = {
    {"times", LBP_T_INT, "1", LBP_LO | LBP_HI, 1, 5, NULL, "repetitions"},
    {0}};

static int hello_run(const lbp_host *h, lbp_call *c)
{
    const char *who = h->call_str(c, 0);
    if (!who)
        return -1;
    if (strcmp(who, "nobody") == 0)
        return h->call_fail(c, "nobody to greet");
    for (int64_t i = 0; i < h->arg_int(h->call_args(c), "times"); i++)
        h->call_print(c, "hello, %s\n", who);
    return 0;
}

static const lbp_command hello = {
    .size = sizeof(lbp_command), .name = "hello", .synopsis = "hello NAME times=1",
    .doc = "Greets NAME.", .example = "hello \"world\" times=2", .params = hello_params,
    .min_args = 1, .max_args = 1, .run = hello_run};

int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t errlen)
{
    if (h->abi_version != LBP_ABI_VERSION || !LBP_HOST_HAS(h, call_model_params)) {
        snprintf(err, errlen, "host too old");
        return -1;
    }
    if (h->require(p, "layers") < 0)
        return -1;
    if (h->register_type(p, &widget) < 0 || h->register_op(p, &square_op) < 0 ||
        h->register_type(p, &square) < 0 || h->register_type(p, &twoway) < 0 ||
        h->register_command(p, &hello) < 0)
        return -1;
    return 0;
}

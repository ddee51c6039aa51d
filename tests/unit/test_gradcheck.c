/* test_gradcheck.c — gradients and determinism through the plugin path, and %%plugin cells at
 * the interpreter level:
 *  - every layer type of plugins/layers built as a model and checked with lb_gradcheck_model
 *    (the tape's input and parameter gradients against central differences; training mode, so
 *    batchnorm2d uses batch statistics and dropout a fixed mask), and a check that no type of
 *    the plugin is left without a case;
 *  - determinism: two runs from the same seed give bit-identical parameter blocks (values,
 *    gradients and optimizer state) after 100 SGD steps of a small cnn with batchnorm and
 *    dropout, through the model seam (lb_model_forward, lb_backward, lb_optim_step);
 *  - %%plugin cells: header errors, compiler errors at the cell's line, is_complete and
 *    replacement (a model built from the old version still runs), a hang killed by timeout=, a
 *    wrong magic name, a type the check cannot build, and the per-kernel directory removed
 *    when the interpreter is freed. (tests/test_plugin_cells.py: the same through Jupyter, with
 *    a crash, a wrong backward and the example built out of tree.) */
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "lang/commands.h"
#include "lang/interp_state.h"
#include "lang/interp.h"
#include "interp_harness.h"
#include "ops.h"
#include "host/plugin_impl.h"
#include "host/plugins.h"

static void setup(void)
{
    harness_start((lb_output){.stream = rec_stream});
}

static void teardown(void)
{
    harness_stop();
}

static lb_model *model(const char *name)
{
    return lb_model_from_value(lb_interp_get(IN, name));
}

/* ---- every layer type of plugins/layers --------------------------------------------------- */

static void test_every_layer_gradient(void)
{
    setup();
    CHECK(run("use layers") == 0);
    struct {
        const char *type, *src;
        int64_t ids;
        int batch;
    } cases[] = {
        {"linear", "linear(5, 3) input=[5]", 0, 0},
        {"linear", "linear(5, 3, bias=false) input=[2, 5]", 0, 0},
        {"conv2d", "conv2d(2, 3, 3, pad=1) input=[2, 5, 5]", 0, 0},
        {"conv2d", "conv2d(2, 3, 3, stride=2, dilation=2, bias=false) input=[2, 7, 7]", 0, 0},
        {"maxpool2d", "maxpool2d(2) input=[2, 4, 4]", 0, 0},
        {"maxpool2d", "maxpool2d(3, stride=2, pad=1) input=[2, 5, 5]", 0, 0},
        {"avgpool2d", "avgpool2d(2) input=[2, 4, 4]", 0, 0},
        {"avgpool2d", "avgpool2d(3, stride=1, pad=1) input=[2, 4, 4]", 0, 0},
        {"flatten", "flatten() input=[2, 3, 2]", 0, 0},
        {"relu", "relu() input=[6]", 0, 0},
        {"tanh", "tanh() input=[6]", 0, 0},
        {"sigmoid", "sigmoid() input=[6]", 0, 0},
        {"gelu", "gelu() input=[6]", 0, 0},
        {"leaky_relu", "leaky_relu(slope=0.2) input=[6]", 0, 0},
        {"dropout", "dropout(0.3) input=[10]", 0, 0},
        {"batchnorm2d", "batchnorm2d(3) input=[3, 4, 4]", 0, 4},
        {"layernorm", "layernorm(5) input=[3, 5]", 0, 0},
        {"layernorm", "layernorm(5, affine=false) input=[5]", 0, 0},
        {"embedding", "embedding(10, 4) input=[6]", 10, 0},
    };
    size_t ncases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < ncases; i++) {
        char code[256];
        snprintf(code, sizeof code, "model t = %s seed=%zu", cases[i].src, i + 1);
        if (run(code) != 0) {
            fprintf(stderr, "    %s: %s\n", code, ERR.evalue);
            CHECK(0);
            continue;
        }
        lb_model *m = model("t");
        lb_gradcheck o = {.training = 1, .seed = 100 + i, .ids_max = cases[i].ids,
                          .batch = cases[i].batch, .samples = 32};
        lb_gradcheck_result r;
        lb_error e = {0};
        int rc = lb_gradcheck_model(m, &o, &r, &e);
        if (rc != 0) {
            if (rc < 0)
                fprintf(stderr, "    %s: %s\n", cases[i].src, e.evalue);
            else
                fprintf(stderr, "    %s: %s%s: tape %.6g, differences %.6g (relative %.3g)\n",
                        cases[i].src, r.tensor, r.index, r.analytic, r.numeric, r.worst);
            CHECK(0);
        }
        /* something was compared: the input (unless ids) and every trainable parameter */
        int64_t want = 0;
        lb_params *P = lb_model_params(m);
        for (int k = 0; k < lb_params_count(P); k++)
            want += lb_params_get(P, k)->trainable ? 1 : 0;
        CHECK(r.checked >= want + (cases[i].ids ? 0 : 1));
        CHECK(r.checked > r.skipped);
        lb_error_clear(&e);
    }
    /* no type of the plugin is left without a case */
    size_t nt = lb_registry_ntypes(IN);
    CHECK(nt >= 14);
    for (size_t k = 0; k < nt; k++) {
        const char *name = lb_registry_type_at(IN, k)->name;
        bool found = false;
        for (size_t i = 0; i < ncases; i++)
            found |= strcmp(cases[i].type, name) == 0;
        if (!found) {
            fprintf(stderr, "    layer type %s has no gradient check\n", name);
            CHECK(0);
        }
    }
    /* evaluation mode too, where batchnorm uses (non-trivial) running statistics */
    CHECK(run("model t = sequential(conv2d(2, 3, 3), batchnorm2d(3), relu()) input=[2, 5, 5] seed=3") == 0);
    lb_tensor *rv = lb_params_find(lb_model_params(model("t")), "1.running_var");
    CHECK(rv != NULL);
    for (int64_t k = 0; rv && k < rv->numel; k++)
        rv->data[k] = 0.5f + 0.25f * (float)k;
    lb_gradcheck o = {.training = 0, .seed = 7};
    lb_gradcheck_result r;
    lb_error e = {0};
    int rc = lb_gradcheck_model(model("t"), &o, &r, &e);
    if (rc != 0)
        fprintf(stderr, "    eval batchnorm: %s %s%s: tape %.6g, differences %.6g (relative %.3g)\n",
                e.evalue ? e.evalue : "", r.tensor, r.index, r.analytic, r.numeric, r.worst);
    CHECK(rc == 0);
    lb_error_clear(&e);
    teardown();
}

/* ---- a model of two named inputs (plugin fusion) -------------------------------------------- */

/* The gradient check feeds every named input ("input a", "input b") and compares their
 * gradients and the parameters' with finite differences, in every fusion mode; the model face
 * (model.h) gives the names and shapes; a single-tensor forward is refused clearly. */
static void test_named_inputs_gradient(void)
{
    setup();
    CHECK(run("use fusion") == 0);
    const char *modes[] = {"concat", "add", "mul", "diff"};
    for (size_t i = 0; i < 4; i++) {
        char code[200];
        snprintf(code, sizeof code,
                 "model f = fuse(hidden=5, mode=\"%s\", classes=3) input={a: [4], b: [2, 3]} seed=%zu",
                 modes[i], i + 1);
        CHECK(run(code) == 0);
        lb_model *m = model("f");
        CHECK(m && lb_model_ninputs(m) == 2);
        if (!m)
            continue;
        int64_t shape[LB_MAXDIM];
        CHECK(strcmp(lb_model_input_name(m, 0), "a") == 0 && strcmp(lb_model_input_name(m, 1), "b") == 0);
        CHECK(lb_model_input_name(m, 2) == NULL);
        CHECK(lb_model_input_shape_at(m, 1, shape) == 2 && shape[0] == 2 && shape[1] == 3);
        CHECK(strcmp(lb_model_output_name(m), "y") == 0);
        lb_gradcheck o = {.training = 1, .seed = 40 + i};
        lb_gradcheck_result r;
        lb_error e = {0};
        int rc = lb_gradcheck_model(m, &o, &r, &e);
        if (rc != 0)
            fprintf(stderr, "    fuse %s: %s %s%s: tape %.6g, differences %.6g (relative %.3g)\n",
                    modes[i], e.evalue ? e.evalue : "", r.tensor, r.index, r.analytic, r.numeric, r.worst);
        CHECK(rc == 0);
        CHECK(r.checked > 0);
        lb_error_clear(&e);
        lb_graph *g = lb_graph_new();
        lb_tensor *x = lb_zeros(g, 2, (int64_t[]){1, 4});
        CHECK(lb_model_forward(m, g, x, 0, NULL) == NULL);
        CHECK(lb_graph_error(g) && strstr(lb_graph_error(g), "has 2 named inputs {a: [4], b: [2, 3]}"));
        lb_graph_free(g);
    }
    teardown();
}

/* ---- determinism ---------------------------------------------------------------------------- */

/* 100 SGD steps of a small cnn (batchnorm, dropout) from seed 5; a copy of the whole block. */
static float *train_100(uint64_t seed, size_t *n)
{
    setup();
    char code[256];
    snprintf(code, sizeof code,
             "use cnn\nmodel a = cnn(channels=[2, 4], hidden=[8], batchnorm=true, dropout=0.2, "
             "classes=3) input=[1, 8, 8] seed=%llu",
             (unsigned long long)seed);
    if (run(code) != 0) {
        fprintf(stderr, "    %s\n", ERR.evalue);
        teardown();
        return NULL;
    }
    lb_model *m = model("a");
    lb_rng r;
    lb_rng_seed(&r, 99);
    float xs[6 * 64], ys[6];
    for (int i = 0; i < 6 * 64; i++)
        xs[i] = lb_rng_uniform(&r);
    for (int i = 0; i < 6; i++)
        ys[i] = (float)(i % 3);
    lb_optim opt = lb_optim_sgd(0.05f, 0.9f, 0, 1e-4f, 0);
    lb_graph *g = lb_graph_new();
    bool ok = true;
    for (int step = 0; step < 100 && ok; step++) {
        lb_graph_reset(g);
        lb_tensor *x = lb_from_data(g, 4, (int64_t[]){6, 1, 8, 8}, xs);
        lb_tensor *y = lb_from_data(g, 1, (int64_t[]){6}, ys);
        lb_tensor *loss = lb_cross_entropy(g, lb_model_forward(m, g, x, 1, NULL), y, -100, 0);
        lb_params_zero_grad(lb_model_params(m));
        lb_status st = {0};
        ok = loss && lb_backward(g, loss) == 0 && lb_optim_step(&opt, lb_model_params(m), &st) == 0;
    }
    CHECK(ok);
    lb_graph_free(g);
    float *block = lb_params_block(lb_model_params(m), n);
    float *copy = malloc(*n * sizeof *copy);
    if (copy)
        memcpy(copy, block, *n * sizeof *copy);
    teardown();
    return copy;
}

static void test_same_seed_same_parameters(void)
{
    size_t n1 = 0, n2 = 0, n3 = 0;
    float *a = train_100(5, &n1), *b = train_100(5, &n2), *c = train_100(6, &n3);
    CHECK(a && b && c && n1 == n2 && n1 == n3 && n1 > 0);
    if (a && b && c && n1 == n2 && n1 == n3) {
        CHECK(memcmp(a, b, n1 * sizeof *a) == 0); /* bit-identical: values, grads, momentum */
        CHECK(memcmp(a, c, n1 * sizeof *a) != 0);
        bool finite = true;
        for (size_t i = 0; i < n1; i++)
            finite &= isfinite(a[i]) != 0;
        CHECK(finite);
    }
    free(a);
    free(b);
    free(c);
}

/* ---- %%plugin cells --------------------------------------------------------------------------- */

static const char *SWISH =
    "%%plugin swish\n"
    "static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }\n"
    "static lbp_tensor *forward(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)\n"
    "{\n"
    "    (void)L;\n"
    "    return h->mul(g, x, h->sigmoid(g, h->mul_scalar(g, x, SLOPE)));\n"
    "}\n"
    "static const lbp_type t = {.size = sizeof(lbp_type), .name = \"swish\", .kind = LBP_KIND_LAYER,\n"
    "    .summary = SUMMARY, .build = build, .forward = forward};\n"
    "int lbp_init(const lbp_host *h, lbp_plugin *p, char *err, size_t n)\n"
    "{\n"
    "    (void)err; (void)n;\n"
    "    return h->register_type(p, &t);\n"
    "}\n";

static char *swish_cell(const char *slope, const char *summary)
{
    char *s = NULL;
    if (asprintf(&s, "%%%%plugin swish\n#define SLOPE %s\n#define SUMMARY \"%s\"\n%s", slope, summary,
                 strchr(SWISH, '\n') + 1) < 0)
        return NULL;
    return s;
}

static float forward_sum(lb_model *m)
{
    lb_graph *g = lb_graph_new();
    lb_graph_set_grad(g, 0);
    float xs[8] = {-2, -1, -0.5f, 0, 0.5f, 1, 2, 3};
    lb_tensor *y = lb_model_forward(m, g, lb_from_data(g, 2, (int64_t[]){2, 4}, xs), 0, NULL);
    float s = NAN;
    if (y) {
        s = 0;
        for (int64_t i = 0; i < y->numel; i++)
            s += y->data[i];
    }
    lb_graph_free(g);
    return s;
}

static void test_plugin_cells(void)
{
    setup();
    /* the plugins module's cell magic (lang/module.h) */
    CHECK(lb_modules_cell(IN, "%%plugin x\nint a;") == &lb_plugins_module);
    CHECK(lb_modules_cell(IN, "\n  \n%%plugin x") == &lb_plugins_module);
    CHECK(lb_modules_cell(IN, "x = 1\n%%plugin x") == NULL);
    CHECK(lb_modules_cell(IN, "%%plugins") == NULL);
    CHECK(lb_interp_is_complete(IN, "%%plugin x\nint f(void) {") == LB_CODE_COMPLETE);
    CHECK(run("keep = 41") == 0);
    /* header errors */
    CHECK(run("%%plugin\nint x;") < 0);
    CHECK(err_has("SyntaxError", "%%plugin needs the plugin's name"));
    CHECK(run("%%plugin p timeout=-1\nint x;") < 0);
    CHECK(err_has("SyntaxError", "timeout must be a number of seconds"));
    CHECK(ERR.line == 1 && ERR.col == 12);
    /* a compiler error at the cell's line (blank lines before %%plugin count) */
    CHECK(run("\n%%plugin p\nint lbp_init(void) { return missing; }\n") < 0);
    CHECK(err_has("CompileError", "cell:3:"));
    CHECK(err_has("CompileError", "missing"));
    CHECK(ERR.line == 3);
    /* version one, a model from it, then version two */
    char *v1 = swish_cell("1.0f", "one"), *v2 = swish_cell("2.0f", "two");
    CHECK(run(v1) == 0);
    CHECK(strstr(OUT, "checked swish: gradients of 1 type match finite differences") != NULL);
    CHECK(strstr(OUT, "loaded swish cell-") != NULL);
    CHECK(run("use layers\nmodel m1 = sequential(swish()) input=[4]") == 0);
    float s1 = forward_sum(model("m1"));
    CHECK(run(v2) == 0);
    CHECK(run("model m2 = sequential(swish()) input=[4]") == 0);
    float s2 = forward_sum(model("m2"));
    CHECK(isfinite(s1) && isfinite(s2) && s1 != s2);
    CHECK(forward_sum(model("m1")) == s1); /* the old model still runs version one's code */
    free(v1);
    free(v2);
    /* a hang, killed timeout= seconds into the stage that hangs (forward and backward: it
     * loops for ever, so a generous timeout changes nothing but the wait; each stage has its
     * own, so a slow load or build on a busy machine is not the stage that gets named) */
    char hang[1024], want[160];
    double hang_s = LB_TEST_LIMIT(5);
    snprintf(hang, sizeof hang, "%%%%plugin slow timeout=%g\n"
             "static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }\n"
             "static lbp_tensor *fw(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)\n"
             "{ (void)g; if (h->training(L)) for (volatile int i = 1; i;) {} return x; }\n"
             "static const lbp_type t = {.size = sizeof(lbp_type), .name = \"slow\", .kind = 0,\n"
             "    .summary = \"s\", .build = build, .forward = fw};\n"
             "int lbp_init(const lbp_host *h, lbp_plugin *p, char *e, size_t n)\n"
             "{ (void)e; (void)n; return h->register_type(p, &t); }\n", hang_s);
    snprintf(want, sizeof want, "plugin slow: type slow did not finish forward and backward at batch 2, input [1, 28, 28] (training mode) within %g s",
             hang_s);
    CHECK(run(hang) < 0);
    CHECK(err_has("PluginError", want));
    /* a custom op whose backward is off by a factor of 2: caught, the type named */
    CHECK(run("%%plugin twice\n"
              "static int64_t numel(const lbp_opcall *c)\n"
              "{ int64_t n = 1; for (int d = 0; d < c->in_ndim[0]; d++) n *= c->in_shape[0][d]; return n; }\n"
              "static void fwd(const lbp_opcall *c)\n"
              "{ for (int64_t i = 0; i < numel(c); i++) c->out[i] = c->in[0][i] * c->in[0][i]; }\n"
              "static void bwd(const lbp_opcall *c, const float *go, float *const *gi)\n"
              "{ for (int64_t i = 0; gi[0] && i < numel(c); i++) gi[0][i] += 4 * c->in[0][i] * go[i]; }\n"
              "static const lbp_op op = {sizeof(lbp_op), \"sq_op\", \"x^2\", 1, fwd, bwd};\n"
              "static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }\n"
              "static lbp_tensor *fw(const lbp_host *h, lbp_layer *L, lbp_graph *g, lbp_tensor *x)\n"
              "{ (void)L; int64_t s[4]; for (int d = 0; d < h->ndim(x); d++) s[d] = h->dim(x, d);\n"
              "  return h->op(g, &op, &x, 1, h->ndim(x), s, NULL, 0); }\n"
              "static int di(const lbp_host *h, const lbp_args *a, int64_t s[LBP_MAXDIM])\n"
              "{ (void)h; (void)a; s[0] = 6; return 1; }\n"
              "static const lbp_type t = {.size = sizeof(lbp_type), .name = \"sq\", .kind = 0,\n"
              "    .summary = \"s\", .build = build, .forward = fw, .default_input = di};\n"
              "int lbp_init(const lbp_host *h, lbp_plugin *p, char *e, size_t n)\n"
              "{ (void)e; (void)n; return h->register_op(p, &op) < 0 ? -1 : h->register_type(p, &t); }\n") < 0);
    CHECK(err_has("GradientCheckError", "plugin twice: type sq: the gradient of the input does not "
                                        "match finite differences: worst relative difference"));
    CHECK(err_has("GradientCheckError", "at x["));
    CHECK(lb_registry_type(IN, "sq") == NULL);
    /* a wrong magic name */
    CHECK(run("%%plugin named\nLBP_MODULE_MAGIC(\"other\", \"1\", \"x\");\n"
              "int lbp_init(const lbp_host *h, lbp_plugin *p, char *e, size_t n)\n"
              "{ (void)h; (void)p; (void)e; (void)n; return 0; }\n") < 0);
    CHECK(err_has("PluginError", "names plugin 'other' but its %%plugin line says 'named'"));
    /* a type whose parameters need values and whose example shows none */
    CHECK(run("%%plugin needy\n"
              "static const lbp_param ps[] = {{\"n\", LBP_T_INT, NULL, 0, 0, 0, NULL, \"n\"}, {0}};\n"
              "static int build(const lbp_host *h, lbp_layer *L) { (void)h; (void)L; return 0; }\n"
              "static const lbp_type t = {.size = sizeof(lbp_type), .name = \"needy\", .kind = 0,\n"
              "    .summary = \"s\", .params = ps, .build = build};\n"
              "int lbp_init(const lbp_host *h, lbp_plugin *p, char *e, size_t n)\n"
              "{ (void)e; (void)n; return h->register_type(p, &t); }\n") < 0);
    CHECK(err_has("GradientCheckError", "cannot check type needy: parameter 'n' has no default"));
    lb_value *keep = lb_interp_get(IN, "keep");
    CHECK(keep && keep->kind == LB_NUM && keep->u.num == 41); /* variables intact */
    /* the per-kernel directory goes with the interpreter */
    char *dir = strdup(lb_interp_registry(IN)->cell_dir);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    teardown();
    CHECK(stat(dir, &st) != 0);
    free(dir);
}

int main(void)
{
#ifdef LB_BUILD_PLUGIN_DIR
    setenv("LABBOOK_PLUGIN_PATH", LB_BUILD_PLUGIN_DIR, 1);
#endif
    RUN(test_every_layer_gradient);
    RUN(test_named_inputs_gradient);
    RUN(test_same_seed_same_parameters);
    RUN(test_plugin_cells);
    return CHECK_SUMMARY();
}

/* test_plugins.c — the plugin ABI (plugins/labbook_plugin.h) from the kernel side: the magic
 * block compared field by field, a missing magic block or init symbol, a failing init (rolled
 * back), duplicate type names, schema checking (unknown parameters with "did you mean",
 * defaults, ranges, choices, lists, none), custom ops with their own backward (gradient
 * check), models built from the layers / cnn / mlp plugins (shapes, parameter counts, seeds),
 * help / inspect / completion of plugin types, plugin commands, unload and replace, and one
 * training step through the trainer's seam. The deliberately broken plugins are built from
 * tests/plugins/ into LB_TEST_PLUGIN_DIR. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "lang/commands.h"
#include "lang/interp.h"
#include "interp_harness.h"
#include "ops.h"
#include "host/plugins.h"

#ifndef LB_TEST_PLUGIN_DIR
#define LB_TEST_PLUGIN_DIR "build/testplugins"
#endif

static json_t *DISPLAYS, *PAGES;

static void rec_display(void *ctx, json_t *data, json_t *metadata, const char *id, bool update)
{
    (void)ctx, (void)metadata, (void)id, (void)update;
    json_array_append(DISPLAYS, data);
}

static void rec_page(void *ctx, json_t *data)
{
    (void)ctx;
    json_array_append(PAGES, data);
}

static void setup(void)
{
    harness_stop(); /* before the arrays its outputs record into */
    json_decref(DISPLAYS);
    json_decref(PAGES);
    DISPLAYS = json_array();
    PAGES = json_array();
    harness_start((lb_output){.stream = rec_stream, .display = rec_display, .page = rec_page});
}

static void teardown(void)
{
    harness_stop();
    json_decref(DISPLAYS);
    json_decref(PAGES);
    DISPLAYS = PAGES = NULL;
}

static int use_test(const char *name)
{
    char code[512];
    snprintf(code, sizeof code, "use \"%s/%s.so\"", LB_TEST_PLUGIN_DIR, name);
    return run(code);
}

static double num(const char *expr)
{
    lb_error e = {0};
    json_t *b = lb_interp_eval_bundle(IN, expr, &e);
    double x = NAN;
    if (b) {
        x = atof(json_string_value(json_object_get(b, "text/plain")));
        json_decref(b);
    } else {
        fprintf(stderr, "    %s: %s\n", expr, e.evalue ? e.evalue : "?");
    }
    lb_error_clear(&e);
    return x;
}

static char *text(const char *expr)
{
    lb_error e = {0};
    json_t *b = lb_interp_eval_bundle(IN, expr, &e);
    char *s = b ? strdup(json_string_value(json_object_get(b, "text/plain"))) : NULL;
    json_decref(b);
    lb_error_clear(&e);
    return s;
}

/* Whether a file of that name is mapped into this process (the library is still open). */
static bool mapped(const char *file)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, file))
            found = true;
    if (f)
        fclose(f);
    return found;
}

/* ---- loading ---------------------------------------------------------------------------- */

static void test_magic_mismatch(void)
{
    setup();
    CHECK(run("x = 41") == 0);
    CHECK(use_test("bad_abi") < 0);
    CHECK(err_has("PluginError", "cannot load bad_abi.so: ABI magic block mismatch: field "
                                 "'abi_version' is 99 in the plugin, 1 in labbook"));
    CHECK(!mapped("/bad_abi.so"));
    CHECK(use_test("bad_sizeof") < 0);
    char want[128];
    snprintf(want, sizeof want, "field 'sizeof_type' is %zu in the plugin, %zu in labbook",
             sizeof(lbp_type) + 8, sizeof(lbp_type));
    CHECK(err_has("PluginError", want));
    CHECK(num("x + 1") == 42); /* the interpreter keeps working, variables intact */
    CHECK(run("plugins") == 0);
    CHECK(strstr(OUT, "no plugins loaded") != NULL);
    teardown();
}

static void test_missing_symbols(void)
{
    setup();
    CHECK(use_test("no_magic") < 0);
    CHECK(err_has("PluginError", "no_magic.so: it has no ABI magic block"));
    CHECK(use_test("no_init") < 0);
    CHECK(err_has("PluginError", "it exports no init function lbp_init"));
    CHECK(run("use \"/nonexistent/dir/p.so\"") < 0);
    CHECK(err_has("PluginError", "No such file"));
    CHECK(run("use no_such_plugin_anywhere") < 0);
    CHECK(err_has("PluginError", "no plugin named 'no_such_plugin_anywhere'"));
    teardown();
}

static void test_failing_init(void)
{
    setup();
    CHECK(run("keep = [1, 2]") == 0);
    CHECK(use_test("failing_init") < 0);
    CHECK(err_has("PluginError", "plugin failing_init (failing_init.so) failed to initialise: "
                                 "cannot open /dev/gpu0: this plugin needs a GPU"));
    CHECK(ERR.line == 1 && ERR.col == 5);
    CHECK(!mapped("/failing_init.so")); /* the library was closed */
    /* the type it registered before failing is gone */
    CHECK(run("g = ghost()") < 0);
    CHECK(err_has("NameError", "ghost"));
    CHECK(lb_registry_type(IN, "ghost") == NULL);
    CHECK(num("len(keep)") == 2);
    /* a plugin that crashes in init is caught by the scan process */
    CHECK(use_test("crash_init") < 0);
    CHECK(err_has("PluginError", "cannot load crash_init.so: it crashed while loading"));
    CHECK(err_has("PluginError", "so it was not loaded into the kernel"));
    CHECK(num("len(keep)") == 2);
    /* a failing init can be retried (nothing half-registered blocks it) */
    CHECK(use_test("failing_init") < 0);
    CHECK(err_has("PluginError", "needs a GPU"));
    teardown();
}

static void test_duplicates(void)
{
    setup();
    CHECK(run("use layers") == 0);
    CHECK(strstr(OUT, "loaded layers") != NULL);
    CHECK(use_test("dup_type") < 0);
    CHECK(err_has("PluginError", "cannot register type 'conv2d': a type named 'conv2d' is already "
                                 "registered by plugin layers"));
    CHECK(use_test("dup_self") < 0);
    CHECK(err_has("PluginError", "cannot register type 'twin': dup_self registers it twice"));
    CHECK(lb_registry_type(IN, "twin") == NULL);
    CHECK(use_test("bad_schema") < 0);
    CHECK(err_has("PluginError", "the default of parameter 'p' (2) is invalid"));
    /* conv2d still belongs to layers and works */
    CHECK(run("c = conv2d(1, 2, 3)") == 0);
    /* using a loaded plugin again is a no-op */
    OUT[0] = '\0';
    CHECK(run("use layers") == 0);
    CHECK(OUT[0] == '\0');
    teardown();
}

/* ---- schemas ------------------------------------------------------------------------------ */

static void test_unknown_parameter(void)
{
    setup();
    CHECK(run("use cnn") == 0);
    CHECK(run("c = conv2d(1, 16, 3, chanels=2)") < 0);
    CHECK(err_has("TypeError", "unknown parameter 'chanels' for conv2d (did you mean 'channels'?)"));
    CHECK(ERR.line == 1 && ERR.col == 5);
    CHECK(run("c = conv2d(1, 16, 3, strde=1)") < 0);
    CHECK(err_has("TypeError", "unknown parameter 'strde' for conv2d (did you mean 'stride'?)"));
    CHECK(run("model a = cnn(chanels=[16])") < 0);
    CHECK(err_has("TypeError", "unknown parameter 'chanels' for cnn (did you mean 'channels'?)"));
    CHECK(run("c = conv2d(1, 16, 3, zzzzzzzz=1)") < 0);
    CHECK(err_has("TypeError", "unknown parameter 'zzzzzzzz' for conv2d; usage: conv2d(in_channels, "
                               "channels, kernel, stride=1, pad=0, dilation=1, bias=true)"));
    CHECK(run("model a = cnn() inptu=[1, 28, 28]") < 0);
    CHECK(err_has("TypeError", "unknown parameter 'inptu' for model (did you mean 'input'?)"));
    teardown();
}

static void test_schema_checks(void)
{
    setup();
    CHECK(use_test("schematest") == 0);
    CHECK(strstr(OUT, "loaded schematest 2.5.0: widget, square, twoway") != NULL);
    CHECK(run("w = widget()") < 0);
    CHECK(err_has("TypeError", "widget needs parameter 'size' (how big)"));
    CHECK(run("w = widget(0)") < 0);
    CHECK(err_has("ValueError", "parameter 'size' of widget must be in [1, 10] (got 0)"));
    CHECK(run("w = widget(11)") < 0);
    CHECK(err_has("ValueError", "must be in [1, 10] (got 11)"));
    CHECK(run("w = widget(2.5)") < 0);
    CHECK(err_has("TypeError", "parameter 'size' of widget must be an integer (got 2.5)"));
    CHECK(run("w = widget(\"3\")") < 0);
    CHECK(err_has("TypeError", "must be an integer (got \"3\")"));
    CHECK(run("w = widget(3, mode=\"slwo\")") < 0);
    CHECK(err_has("ValueError", "parameter 'mode' of widget must be one of \"fast\", \"slow\", "
                                "\"exact\" (got \"slwo\"; did you mean \"slow\"?)"));
    CHECK(run("w = widget(3, rate=0)") < 0);
    CHECK(err_has("ValueError", "parameter 'rate' of widget must be in (0, 1] (got 0)"));
    CHECK(run("w = widget(3, rate=1)") == 0);
    CHECK(run("w = widget(3, sizes=[1, 2.5])") < 0);
    CHECK(err_has("TypeError", "must be a list of integers (item 1 is number)"));
    CHECK(run("w = widget(3, sizes=[1, -2])") < 0);
    CHECK(err_has("ValueError", "every item must be >= 0 (item 1 is -2)"));
    CHECK(run("w = widget(3, flag=1)") < 0);
    CHECK(err_has("TypeError", "parameter 'flag' of widget must be true or false (got 1)"));
    CHECK(run("w = widget(3, mode=\"fast\", size=4)") < 0);
    CHECK(err_has("TypeError", "widget got parameter 'size' twice"));
    CHECK(run("w = widget(1, \"fast\", 0.5, [1], false, none, 7)") < 0);
    CHECK(err_has("TypeError", "widget takes at most 6 positional arguments (7 given)"));
    /* defaults: size*100 + len(sizes)*10 + (limit given) + 1000*flag + 5000*(mode == exact) */
    CHECK(run("model a = widget(3)") == 0);
    CHECK(num("a.params") == 320);
    CHECK(run("model b = widget(3, mode=\"exact\", sizes=4, limit=2, flag=true)") == 0);
    CHECK(num("b.params") == 300 + 10 + 1 + 1000 + 5000);
    /* the canonical text: required positionally, given key=values */
    char *t = text("widget(3, flag=true, mode=\"fast\")");
    CHECK_STR(t, "widget(3, mode=\"fast\", flag=true)");
    free(t);
    CHECK(run("model c = widget(3, limit=none)") == 0);
    teardown();
}

/* ---- models ------------------------------------------------------------------------------- */

static void test_models_shapes_and_counts(void)
{
    setup();
    CHECK(run("use cnn mlp") == 0);
    CHECK(run("seed 7\nmodel a = cnn(channels=[16, 32], pool=\"max\")") == 0);
    CHECK(num("a.params") == 20490);
    CHECK(run("model b = sequential(conv2d(1, 16, 3, pad=1), relu(), maxpool2d(2), flatten(), "
              "linear(3136, 10))") == 0);
    CHECK(num("b.params") == 31530);
    CHECK(num("len(b.layers)") == 5);
    char *s = text("b.layers[2].output");
    CHECK_STR(s, "[16, 14, 14]");
    free(s);
    CHECK(run("model c = cnn(channels=[16, 32], pool=\"stride\")") == 0);
    CHECK(num("c.params") == 20490);
    CHECK(num("len(c.layers)") == 6);
    CHECK(run("model d = cnn(channels=[8, 16, 32], kernel=5, batchnorm=true, hidden=[64], dropout=0.25)") == 0);
    /* conv 1->8 (208) bn 16, conv 8->16 (3216) bn 32, conv 16->32 (12832) bn 64: 28->14->7->3;
     * linear 288->64 (18496), linear 64->10 (650) */
    CHECK(num("d.params") == 208 + 16 + 3216 + 32 + 12832 + 64 + 18496 + 650);
    CHECK(run("relu = 3\nlinear = \"shadowed\"") == 0); /* user variables do not break cnn/mlp */
    CHECK(run("model m = mlp(hidden=[256, 128])") == 0);
    CHECK(num("m.params") == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    CHECK(run("del relu linear") == 0);
    s = text("m.input");
    CHECK_STR(s, "[1, 28, 28]");
    free(s);
    CHECK(run("model v = sequential(linear(784, 10))") == 0);
    s = text("v.input");
    CHECK_STR(s, "[784]");
    free(s);
    /* shape errors name the layer and the input */
    CHECK(run("model bad = sequential(conv2d(1, 16, 3, pad=1), flatten(), linear(3137, 10))") < 0);
    CHECK(err_has("ModelError", "layer 2, linear(3137, 10) (input [12544]): expects 3137 input "
                                "features (the last dimension) but gets 12544"));
    CHECK(run("model bad = sequential(conv2d(1, 8, 3), conv2d(3, 16, 3))") < 0);
    CHECK(err_has("ModelError", "layer 1, conv2d(3, 16, 3) (input [8, 26, 26]): expects 3 input channels but the input has 8"));
    CHECK(run("model bad = sequential(conv2d(3, 16, 3)) input=[3, 2, 2]") < 0);
    CHECK(err_has("ModelError", "the height (2, padded to 2) is smaller than the window (3)"));
    CHECK(run("model bad = 3") < 0);
    CHECK(err_has("TypeError", "model needs a layer or a model type"));
    CHECK(run("model bad = layernorm(4) input=[5]") < 0);
    CHECK(err_has("ModelError", "layernorm(4) (input [5]): expects a last dimension of 4, got 5"));
    CHECK(run("use layers") == 0);
    CHECK(run("model bad = nonexistent_type(3)") < 0);
    CHECK(err_has("NameError", "name 'nonexistent_type' is not defined"));
    CHECK(run("model bad = sequential(linear(4, 2), 3)") < 0);
    CHECK(err_has("TypeError", "sequential takes layers"));
    CHECK(run("model bad = 3") < 0);
    CHECK(err_has("TypeError", "model needs a layer or a model type"));
    CHECK(lb_interp_get(IN, "bad") == NULL);
    /* params: a table with the total */
    json_array_clear(DISPLAYS);
    CHECK(run("params a") == 0);
    const char *plain = json_string_value(json_object_get(json_array_get(DISPLAYS, 0), "text/plain"));
    CHECK(plain && strstr(plain, "conv2d(16, 32, 3, pad=1)") && strstr(plain, "[32, 7, 7]") &&
          strstr(plain, "20,490"));
    CHECK(json_object_get(json_array_get(DISPLAYS, 0), "text/html") != NULL);
    CHECK(run("params 3") < 0);
    CHECK(err_has("TypeError", "params needs models"));
    teardown();
}

static void test_seed_gives_same_weights(void)
{
    setup();
    CHECK(run("use cnn") == 0);
    CHECK(run("seed 3\nmodel a = cnn()\nmodel b = cnn()\nseed 4\nmodel c = cnn()\nmodel d = cnn() seed=3") == 0);
    lb_model *a = lb_model_from_value(lb_interp_get(IN, "a"));
    lb_model *b = lb_model_from_value(lb_interp_get(IN, "b"));
    lb_model *c = lb_model_from_value(lb_interp_get(IN, "c"));
    lb_model *d = lb_model_from_value(lb_interp_get(IN, "d"));
    CHECK(a && b && c && d);
    if (a && b && c && d) {
        size_t na, nb, nc, nd;
        float *pa = lb_params_block(lb_model_params(a), &na);
        float *pb = lb_params_block(lb_model_params(b), &nb);
        float *pc = lb_params_block(lb_model_params(c), &nc);
        float *pd = lb_params_block(lb_model_params(d), &nd);
        CHECK(na == nb && na == nc && na == nd);
        CHECK(memcmp(pa, pb, na * sizeof(float)) == 0);
        CHECK(memcmp(pa, pd, na * sizeof(float)) == 0);
        CHECK(memcmp(pa, pc, na * sizeof(float)) != 0);
        /* PyTorch default: conv1 weight within +-1/sqrt(9), not all equal */
        lb_tensor *w = lb_params_find(lb_model_params(a), "0.weight");
        CHECK(w && w->numel == 144);
        float lo = 1, hi = -1;
        for (int64_t i = 0; w && i < w->numel; i++) {
            lo = fminf(lo, w->data[i]);
            hi = fmaxf(hi, w->data[i]);
        }
        CHECK(lo >= -1.0f / 3 && hi <= 1.0f / 3 && hi - lo > 0.3f);
        CHECK(lb_params_find(lb_model_params(a), "7.bias") != NULL);
    }
    teardown();
}

static void test_every_layer_forward(void)
{
    setup();
    CHECK(run("use layers") == 0);
    struct {
        const char *src, *out;
    } cases[] = {
        {"model t = linear(20, 5)", "[5]"},
        {"model t = linear(20, 5, bias=false)", "[5]"},
        {"model t = conv2d(3, 8, 3) input=[3, 10, 12]", "[8, 8, 10]"},
        {"model t = conv2d(3, 8, 3, stride=2, pad=1, dilation=1) input=[3, 10, 12]", "[8, 5, 6]"},
        {"model t = conv2d(3, 8, 3, dilation=2) input=[3, 10, 12]", "[8, 6, 8]"},
        {"model t = maxpool2d(2) input=[4, 9, 9]", "[4, 4, 4]"},
        {"model t = maxpool2d(3, stride=2, pad=1) input=[4, 9, 9]", "[4, 5, 5]"},
        {"model t = avgpool2d(2) input=[4, 8, 6]", "[4, 4, 3]"},
        {"model t = flatten() input=[4, 3, 2]", "[24]"},
        {"model t = relu() input=[7]", "[7]"},
        {"model t = tanh() input=[7]", "[7]"},
        {"model t = sigmoid() input=[7]", "[7]"},
        {"model t = gelu() input=[7]", "[7]"},
        {"model t = leaky_relu(slope=0.2) input=[7]", "[7]"},
        {"model t = dropout(0.3) input=[7]", "[7]"},
        {"model t = batchnorm2d(4) input=[4, 5, 5]", "[4, 5, 5]"},
        {"model t = layernorm(6) input=[3, 6]", "[3, 6]"},
        {"model t = embedding(100, 8) input=[12]", "[12, 8]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (run(cases[i].src) != 0) {
            fprintf(stderr, "    %s: %s\n", cases[i].src, ERR.evalue);
            CHECK(0);
            continue;
        }
        char *o = text("t.output");
        if (!o || strcmp(o, cases[i].out) != 0) {
            fprintf(stderr, "    %s: output %s, want %s\n", cases[i].src, o ? o : "?", cases[i].out);
            CHECK(0);
        }
        free(o);
    }
    CHECK(num("t.params") == 800);
    CHECK(run("model t = batchnorm2d(4) input=[4, 5, 5]") == 0);
    CHECK(num("t.params") == 8); /* running statistics are buffers */
    teardown();
}

/* ---- custom op: gradient check ------------------------------------------------------------ */

static void test_custom_op_gradient(void)
{
    setup();
    CHECK(use_test("schematest") == 0);
    CHECK(run("model s = square(scale=1.5) input=[5]") == 0);
    lb_model *m = lb_model_from_value(lb_interp_get(IN, "s"));
    CHECK(m != NULL);
    if (!m) {
        teardown();
        return;
    }
    lb_graph *g = lb_graph_new();
    float xs[10] = {0.5f, -1, 2, 0.25f, -0.75f, 1.5f, -2, 0.1f, 3, -0.3f};
    lb_tensor *x = lb_from_data(g, 2, (int64_t[]){2, 5}, xs);
    lb_set_requires_grad(x, 1);
    lb_tensor *y = lb_model_forward(m, g, x, 1, NULL);
    CHECK(y && y->ndim == 2 && y->shape[1] == 5);
    lb_tensor *loss = lb_sum_all(g, lb_mul(g, y, y)); /* sum (1.5 x^2)^2 */
    CHECK(lb_backward(g, loss) == 0);
    for (int i = 0; y && i < 10; i++) {
        CHECK_NEAR(y->data[i], 1.5f * xs[i] * xs[i], 1e-6);
        /* d/dx (1.5 x^2)^2 = 9 x^3 */
        CHECK_NEAR(x->grad[i], 9.0 * xs[i] * xs[i] * xs[i], 1e-3);
    }
    /* twoway: linear + square with its own forward over two children */
    CHECK(run("model t = twoway(features=3)") == 0);
    CHECK(num("t.params") == 12);
    char *o = text("t.output");
    CHECK_STR(o, "[3]");
    free(o);
    lb_graph_free(g);
    teardown();
}

/* Backward of a model comes from the tape: compare every parameter's gradient with central
 * differences of the loss. */
static double model_loss(lb_model *m, const float *xs)
{
    lb_graph *g = lb_graph_new();
    lb_graph_set_grad(g, 0);
    lb_tensor *x = lb_from_data(g, 2, (int64_t[]){3, 4}, xs);
    lb_tensor *y = lb_model_forward(m, g, x, 0, NULL);
    lb_tensor *l = y ? lb_sum_all(g, lb_mul(g, y, y)) : NULL;
    double v = l ? l->data[0] : NAN;
    lb_graph_free(g);
    return v;
}

static void test_model_gradient_check(void)
{
    setup();
    CHECK(run("use layers\nmodel n = sequential(linear(4, 5), tanh(), layernorm(5), gelu(), linear(5, 2)) seed=9") == 0);
    lb_model *m = lb_model_from_value(lb_interp_get(IN, "n"));
    CHECK(m != NULL);
    if (!m) {
        teardown();
        return;
    }
    float xs[12];
    lb_rng r;
    lb_rng_seed(&r, 11);
    for (int i = 0; i < 12; i++)
        xs[i] = 2 * lb_rng_uniform(&r) - 1;
    lb_params *P = lb_model_params(m);
    lb_params_zero_grad(P);
    lb_graph *g = lb_graph_new();
    lb_tensor *x = lb_from_data(g, 2, (int64_t[]){3, 4}, xs);
    lb_tensor *y = lb_model_forward(m, g, x, 1, NULL);
    lb_tensor *l = lb_sum_all(g, lb_mul(g, y, y));
    CHECK(lb_backward(g, l) == 0);
    int checked = 0;
    for (int k = 0; k < lb_params_count(P); k++) {
        lb_tensor *t = lb_params_get(P, k);
        if (!t->trainable)
            continue;
        for (int64_t i = 0; i < t->numel; i++) {
            float save = t->data[i];
            const double h = 1e-2;
            t->data[i] = save + (float)h;
            double up = model_loss(m, xs);
            t->data[i] = save - (float)h;
            double down = model_loss(m, xs);
            t->data[i] = save;
            double num = (up - down) / (2 * h);
            double ana = t->grad[i];
            if (fabs(num - ana) > 2e-2 * fmax(1.0, fabs(num))) {
                fprintf(stderr, "    %s[%lld]: tape %.6g, differences %.6g\n", t->name, (long long)i, ana, num);
                CHECK(0);
            }
            checked++;
        }
    }
    CHECK(checked == 4 * 5 + 5 + 5 + 5 + 5 * 2 + 2);
    lb_graph_free(g);
    teardown();
}

/* ---- front-end hooks ------------------------------------------------------------------------ */

static bool arr_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

static void test_help_inspect_complete(void)
{
    setup();
    CHECK(run("use cnn") == 0);
    CHECK(run("help conv2d") == 0);
    const char *plain = json_string_value(json_object_get(json_array_get(PAGES, 0), "text/plain"));
    CHECK(plain && strstr(plain, "conv2d(in_channels, channels, kernel, stride=1, pad=0, dilation=1, bias=true)"));
    CHECK(plain && strstr(plain, "layer type from plugin layers 0.1.0"));
    CHECK(plain && strstr(plain, "pad") && strstr(plain, "int = 0, >= 0") &&
          strstr(plain, "zero padding on each side"));
    CHECK(json_object_get(json_array_get(PAGES, 0), "text/markdown") != NULL);
    CHECK(run("help cnn") == 0);
    plain = json_string_value(json_object_get(json_array_get(PAGES, 1), "text/plain"));
    CHECK(plain && strstr(plain, "model type from plugin cnn") &&
          strstr(plain, "one of \"max\", \"stride\", \"avg\""));
    size_t s, e;
    const char *code = "model b = sequential(conv2d(";
    json_t *m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK(arr_has(m, "pad=") && arr_has(m, "in_channels=") && arr_has(m, "channels=") &&
          arr_has(m, "kernel="));
    json_decref(m);
    code = "x = conv2d(1, 16, 3, pa";
    m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK(arr_has(m, "pad=") && !arr_has(m, "stride="));
    CHECK(s == strlen(code) - 2);
    json_decref(m);
    code = "x = cnn(channels=[16, 32], ";
    m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK(arr_has(m, "pool=") && arr_has(m, "kernel="));
    json_decref(m);
    code = "x = con";
    m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK(arr_has(m, "conv2d"));
    json_decref(m);
    code = "use c";
    m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK(arr_has(m, "cnn") && !arr_has(m, "layers"));
    json_decref(m);
    code = "use ";
    m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK(arr_has(m, "cnn") && arr_has(m, "layers") && arr_has(m, "mlp"));
    json_decref(m);
    json_t *b = lb_interp_inspect(IN, "conv2d(", 7, 0);
    CHECK(b && strstr(json_string_value(json_object_get(b, "text/plain")), "channels"));
    json_decref(b);
    CHECK(run("model a = cnn()") == 0);
    code = "a.";
    m = lb_interp_complete(IN, code, strlen(code), &s, &e);
    CHECK(arr_has(m, "params") && arr_has(m, "layers"));
    json_decref(m);
    teardown();
}

static void test_plugin_command_unload_replace(void)
{
    setup();
    CHECK(use_test("schematest") == 0);
    OUT[0] = '\0';
    CHECK(run("hello \"you\" times=2") == 0);
    CHECK_STR(OUT, "hello, you\nhello, you\n");
    CHECK(run("hello \"you\" times=9") < 0);
    CHECK(err_has("ValueError", "parameter 'times' of hello must be in [1, 5] (got 9)"));
    CHECK(run("hello \"you\" tmes=2") < 0);
    CHECK(err_has("TypeError", "unknown parameter 'tmes' for hello (did you mean 'times'?)"));
    CHECK(run("hello \"nobody\"") < 0);
    CHECK(err_has("PluginError", "hello: nobody to greet"));
    CHECK(run("hello 3") < 0);
    CHECK(err_has("TypeError", "argument 1 must be a string"));
    CHECK(run("model w = widget(2)\nl = square()") == 0);
    CHECK(mapped("/schematest.so"));
    CHECK(lb_plugin_unload(IN, "schematest", &ERR) == 0);
    CHECK(mapped("/schematest.so")); /* w and l still hold it open */
    CHECK(run("x = widget(2)") < 0);
    CHECK(err_has("NameError", "widget"));
    CHECK(run("hello \"you\"") < 0);
    CHECK(err_has("NameError", "came from a plugin that has been unloaded"));
    CHECK(num("w.params") == 220); /* values built from it live on */
    CHECK(run("model w2 = l input=[3]") == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/schematest.so", LB_TEST_PLUGIN_DIR);
    CHECK(lb_plugin_replace(IN, "schematest", path, &ERR) == 0);
    CHECK(run("x = widget(2)") == 0);
    OUT[0] = '\0';
    CHECK(run("hello \"again\"") == 0);
    CHECK_STR(OUT, "hello, again\n");
    snprintf(path, sizeof path, "%s/bad_abi.so", LB_TEST_PLUGIN_DIR);
    CHECK(lb_plugin_replace(IN, "schematest", path, &ERR) < 0);
    CHECK(run("x = widget(2)") == 0); /* the old one was loaded back */
    CHECK(lb_plugin_unload(IN, "schematest", &ERR) == 0);
    CHECK(run("del w l w2 x") == 0);
    CHECK(!mapped("/schematest.so")); /* the last value gone, the library is closed */
    teardown();
}

/* ---- the trainer's seam: forward, loss, backward, optimizer step ----------------------------- */

static void test_training_step(void)
{
    setup();
    CHECK(run("use cnn\nseed 1\nmodel a = cnn(channels=[4, 8], batchnorm=true, dropout=0.1)") == 0);
    lb_model *m = lb_model_from_value(lb_interp_get(IN, "a"));
    CHECK(m != NULL);
    if (!m) {
        teardown();
        return;
    }
    lb_graph *g = lb_graph_new();
    lb_rng r;
    lb_rng_seed(&r, 5);
    float xs[8 * 784], ys[8];
    for (int i = 0; i < 8 * 784; i++)
        xs[i] = lb_rng_uniform(&r);
    for (int i = 0; i < 8; i++)
        ys[i] = (float)(i % 10);
    lb_optim opt = lb_optim_sgd(0.1f, 0.9f, 0, 0, 0);
    float first = 0, last = 0;
    for (int step = 0; step < 5; step++) {
        lb_graph_reset(g);
        lb_tensor *x = lb_from_data(g, 4, (int64_t[]){8, 1, 28, 28}, xs);
        lb_tensor *y = lb_from_data(g, 1, (int64_t[]){8}, ys);
        lb_tensor *logits = lb_model_forward(m, g, x, 1, NULL);
        CHECK(logits && logits->shape[0] == 8 && logits->shape[1] == 10);
        lb_tensor *loss = lb_cross_entropy(g, logits, y, -100, 0);
        lb_params_zero_grad(lb_model_params(m));
        CHECK(lb_backward(g, loss) == 0);
        lb_status st = {0};
        CHECK(lb_optim_step(&opt, lb_model_params(m), &st) == 0);
        if (step == 0)
            first = loss->data[0];
        last = loss->data[0];
    }
    CHECK(last < first);
    /* the wrong input shape is a clear error */
    lb_graph_reset(g);
    lb_tensor *bad = lb_zeros(g, 4, (int64_t[]){2, 1, 27, 28});
    CHECK(lb_model_forward(m, g, bad, 0, NULL) == NULL);
    CHECK(lb_graph_error(g) && strstr(lb_graph_error(g), "model a expects input [N, 1, 28, 28], got [2, 1, 27, 28]"));
    lb_graph_free(g);
    teardown();
}

int main(void)
{
#ifdef LB_BUILD_PLUGIN_DIR
    /* this tree's plugins, not whatever an earlier `make install` left in PREFIX */
    setenv("LABBOOK_PLUGIN_PATH", LB_BUILD_PLUGIN_DIR, 1);
#endif
    RUN(test_magic_mismatch);
    RUN(test_missing_symbols);
    RUN(test_failing_init);
    RUN(test_duplicates);
    RUN(test_unknown_parameter);
    RUN(test_schema_checks);
    RUN(test_models_shapes_and_counts);
    RUN(test_seed_gives_same_weights);
    RUN(test_every_layer_forward);
    RUN(test_custom_op_gradient);
    RUN(test_model_gradient_check);
    RUN(test_help_inspect_complete);
    RUN(test_plugin_command_unload_replace);
    RUN(test_training_step);
    return CHECK_SUMMARY();
}

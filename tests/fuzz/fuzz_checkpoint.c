/* fuzz_checkpoint.c — libFuzzer harness of the checkpoint reader (kernel/host/checkpoint.c,
 * spec/language.md §12); tests/fuzz/README.md. The input is a mode byte and the bytes of a file.
 * With mode bit 1 the harness writes a valid SHA-256 over the file's last 32 bytes (files of 48
 * bytes or more), as a writer would: otherwise nearly every mutation is only "corrupted", and
 * the header checks, the fit and the rebuilding behind the checksum would never be reached.
 * The file is loaded with lb_checkpoint_load, as `load NAME "file"` does: into each of six
 * models of the real plugins
 * (the shapes of the seed corpus's files: each input fits one of them at most), then into an
 * unbound name, which rebuilds the model its header describes (the plugins are those of this
 * build; a rebuilt model is deleted again).
 * Checked beyond "no crash, no leak, no undefined behaviour": a refused file leaves an error that
 * names the file (out of memory aside), the model keeps every weight bit for bit and its name
 * still holds it, and a refused rebuild binds nothing; a file that loads leaves the same model
 * object in the variable. The interpreter lives across inputs; its state does not change: the
 * plugins are loaded once at the start, and loading changes only weights, which decide nothing. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "fuzz_common.h"

#include <openssl/evp.h>

#include "cli/labbook.h"
#include "host/plugins.h"
#include "lang/commands.h"
#include "lang/interp.h"
#include "ops.h"

/* The models of tests/fuzz/make_seeds.py's script, one per checkpoint seed. */
static const char SETUP[] =
    "use layers\nuse mlp\nuse cnn\nuse fusion\n"
    "model tiny = sequential(linear(3, 2), relu(), linear(2, 2)) input=[3] seed=1\n"
    "model m = mlp(hidden=[4], classes=3) input=[4] seed=2\n"
    "model c = cnn(channels=[2, 2], classes=2) input=[1, 8, 8] seed=3\n"
    "model bn = sequential(conv2d(1, 2, 3, pad=1), batchnorm2d(2), relu(), flatten(), linear(32, 2)) "
    "input=[1, 4, 4] seed=4\n"
    "model ln = sequential(embedding(10, 2), flatten(), layernorm(6), gelu(), linear(6, 2)) input=[3] "
    "seed=5\n"
    "model f = fuse(hidden=2, mode=\"mul\", classes=2) input={a: [3], b: [2]} seed=6\n";
static const char *const MODELS[] = {"tiny", "m", "c", "bn", "ln", "f"};

static lb_interp *IN;
static char PATH_[PATH_MAX + 32];

static void check_refusal(const lb_error *err, const char *what)
{
    FUZZ_ASSERT(err->ename[0] && err->evalue, "%s: refused without an error", what);
    FUZZ_ASSERT(strstr(err->evalue, PATH_) || strcmp(err->ename, "MemoryError") == 0,
                "%s: %s: %s does not name the file", what, err->ename, err->evalue);
}

/* Loads the file into the model `name`: on success the variable holds the same model; on failure
 * it has every weight it had. */
static void load_into(const char *name)
{
    lb_value *before = lb_interp_get(IN, name);
    lb_model *m = lb_model_from_value(before);
    FUZZ_ASSERT(m, "model %s is gone", name);
    size_t n = 0;
    const float *v = lb_params_values(lb_model_params(m), &n);
    float *copy = malloc(n * sizeof *copy + 1);
    FUZZ_ASSERT(copy, "out of memory");
    memcpy(copy, v, n * sizeof *copy);
    lb_value *mv = NULL;
    lb_error err = {0};
    if (lb_checkpoint_load(IN, name, PATH_, &mv, &err) < 0) {
        check_refusal(&err, name);
        FUZZ_ASSERT(!mv && lb_interp_get(IN, name) == before, "a refused load replaced %s", name);
        size_t k = 0;
        const float *after = lb_params_values(lb_model_params(m), &k);
        FUZZ_ASSERT(k == n && memcmp(after, copy, n * sizeof *copy) == 0,
                    "a refused load changed the weights of %s", name);
    } else {
        FUZZ_ASSERT(mv == before && lb_interp_get(IN, name) == before, "load replaced model %s", name);
        lb_decref(mv);
    }
    lb_error_clear(&err);
    free(copy);
}

static void rebuild(void)
{
    lb_value *mv = NULL;
    lb_error err = {0};
    if (lb_checkpoint_load(IN, "z", PATH_, &mv, &err) < 0) {
        check_refusal(&err, "rebuilding");
        FUZZ_ASSERT(!mv && !lb_interp_get(IN, "z"), "a refused rebuild bound z");
    } else {
        FUZZ_ASSERT(lb_model_from_value(mv) && lb_interp_get(IN, "z") == mv, "z is not the rebuilt model");
        lb_decref(mv);
        lb_interp_del(IN, "z");
    }
    lb_error_clear(&err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_make_scratch_dir("checkpoint");
    snprintf(PATH_, sizeof PATH_, "%s/input.lbc", fuzz_dir);
    setenv("LABBOOK_PLUGIN_PATH", LB_BUILD_PLUGIN_DIR, 0); /* this build's plugins */
    IN = lb_labbook_new(NULL);
    lb_error err = {0};
    if (!IN || lb_interp_execute(IN, SETUP, false, &err) < 0) {
        fprintf(stderr, "fuzz_checkpoint: cannot make the models (plugins in %s? `make build`): %s: %s\n",
                getenv("LABBOOK_PLUGIN_PATH"), err.ename, err.evalue ? err.evalue : "?");
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool sign = data[0] & 1;
    data++;
    size--;
    unsigned char *file = malloc(size + 1);
    FUZZ_ASSERT(file, "out of memory");
    memcpy(file, data, size);
    unsigned int n = 0;
    if (sign && size >= 48)
        FUZZ_ASSERT(EVP_Digest(file, size - 32, file + size - 32, &n, EVP_sha256(), NULL) && n == 32,
                    "SHA-256");
    FILE *f = fopen(PATH_, "wb");
    FUZZ_ASSERT(f && fwrite(file, 1, size, f) == size && fclose(f) == 0, "cannot write %s", PATH_);
    free(file);
    lb_interrupt_clear();
    for (size_t i = 0; i < sizeof MODELS / sizeof MODELS[0]; i++)
        load_into(MODELS[i]);
    rebuild();
    return 0;
}

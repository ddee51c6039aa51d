/* ops.h — the one public header of labbook's tensor engine: float32 tensors (up to 4-D, with
 * strides, so reshape/transpose/slice are free views), a step graph (arena memory + autograd
 * tape, reset every training step), a parameter block per model (parameters, gradients and
 * optimizer state in one allocation), the differentiable ops, optimizers, learning-rate
 * schedules, PyTorch-default initialisation and a seeded random generator.
 *
 * Conventions
 *  - Every op takes the step graph `g` first and returns a new tensor allocated in g's arena,
 *    or NULL with g's status set (lb_graph_status). Errors are sticky: once the status is set,
 *    every op returns NULL until lb_graph_reset, so a chain of ops (and lb_backward) can be
 *    checked once at the end; the first message is kept. Nothing calls exit()/abort().
 *  - When gradients are enabled (the default) and an input requires a gradient, the op records
 *    a node on the tape; lb_backward() walks the tape in reverse and ACCUMULATES (+=) into the
 *    .grad of every tensor that requires one (parameter grads live in the parameter block and
 *    persist across steps until lb_params_zero_grad). With gradients disabled nothing is
 *    recorded (evaluation).
 *  - After lb_backward, .grad is meaningful for leaves: parameters and tensors marked with
 *    lb_set_requires_grad. Intermediate tensors' .grad buffers are internal (views may share).
 *  - Shapes are int64_t; negative axes count from the end. Class labels and token ids are
 *    passed as float tensors holding integral values (exact up to 2^24).
 *  - Tensors made by ops are contiguous unless the op is a view (reshape of a contiguous
 *    tensor, transpose, permute, slice). Ops accept strided inputs (copying when they must).
 *  - Determinism: our own loops are single-threaded and fixed-order; BLAS is OpenBLAS. The same
 *    seed and the same lb_set_threads() count give bit-identical results.
 */
#ifndef LB_OPS_H
#define LB_OPS_H

#include <stddef.h>
#include <stdint.h>

#define LB_MAXDIM 4

/* ---- Status ------------------------------------------------------------------------------ */
enum { LB_OK = 0, LB_ESHAPE = 1, LB_EVALUE = 2, LB_ENOMEM = 3, LB_EINDEX = 4, LB_EIO = 5 };
typedef struct lb_status {
    int code;       /* LB_OK when no error */
    char msg[256];  /* e.g. "matmul: shapes [64, 784] and [256, 10] do not match" */
} lb_status;
/* Sets *st (if st != NULL) and returns -1. */
int lb_status_set(lb_status *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void lb_status_clear(lb_status *st);

/* ---- Threads ----------------------------------------------------------------------------- */
void lb_set_threads(int n); /* openblas_set_num_threads(n), once; n <= 0 means 1 */
int lb_get_threads(void);

/* ---- BLAS library and kernel (blas.c) -------------------------------------------------------
 * Before main, every program linking ops/ makes OpenBLAS use the best kernel ("core") the CPU
 * supports when OpenBLAS fell back to a lesser one (an AVX-512 CPU it does not recognise gets
 * "Prescott"): it re-executes itself once with OPENBLAS_CORETYPE set. A user's
 * OPENBLAS_CORETYPE is kept; LABBOOK_BLAS_CORE=off keeps OpenBLAS's own choice. Results (bit
 * for bit) depend on the core, so run records hold this. */
typedef struct lb_blas_info {
    char library[256];   /* the loaded OpenBLAS file (symlinks resolved) */
    char version[32];    /* "0.3.21" */
    char config[160];    /* openblas_get_config() */
    char core[32];       /* the core in use (openblas_get_corename()) */
    char detected[32];   /* what OpenBLAS picked by itself */
    char chosen_by[24];  /* "openblas", "labbook" or "OPENBLAS_CORETYPE" (the user) */
    char cpu[96];        /* the CPU's model name */
    int cpu_level;       /* what the CPU supports: 3 AVX-512, 2 AVX2+FMA, 1 AVX, 0 older */
    char note[200];      /* why labbook's choice did not take effect, else "" */
} lb_blas_info;
const lb_blas_info *lb_blas_info_get(void);
/* "core SkylakeX (chosen by labbook: OpenBLAS detected Prescott)" into buf; returns buf. */
const char *lb_blas_summary(char *buf, size_t n);
/* The level (as cpu_level) of an OpenBLAS core name; the core to use instead of `current` on a
 * CPU of cpu_level (amd: an AMD CPU), or NULL when current is as good. */
int lb_blas_core_level(const char *core);
const char *lb_blas_better_core(const char *current, int cpu_level, int amd);

/* ---- Random generator ---------------------------------------------------------------------
 * PCG32 (O'Neill, pcg32_random_r: 64-bit LCG state, XSH-RR output) seeded as pcg32_srandom_r
 * (seed, stream 54). Uniform floats are (u32 >> 8) * 2^-24, in [0, 1). Normals use the
 * Box-Muller transform in double precision on two uniforms u1 = (u32 + 1) * 2^-32 (in (0, 1]),
 * u2 = u32 * 2^-32: r = sqrt(-2 ln u1), returns r cos(2 pi u2) and caches r sin(2 pi u2) for
 * the next call. */
typedef struct lb_rng {
    uint64_t state, inc;
    int has_spare;
    double spare;
} lb_rng;
void lb_rng_seed(lb_rng *r, uint64_t seed);
uint32_t lb_rng_u32(lb_rng *r);
uint32_t lb_rng_below(lb_rng *r, uint32_t n); /* unbiased integer in [0, n) (Lemire) */
float lb_rng_uniform(lb_rng *r);              /* [0, 1) */
double lb_rng_normal(lb_rng *r);              /* N(0, 1) */

/* ---- Arena ----------------------------------------------------------------------------------
 * Bump allocator in chunks; allocations are 64-byte aligned and never freed one by one.
 * lb_arena_reset() forgets everything and keeps one chunk as large as the peak use, so a
 * training loop settles into one malloc-free block. Chunks of 128 KB and more are mapped from
 * the system and given back when freed (arena.c). */
typedef struct lb_arena_chunk lb_arena_chunk;
typedef struct lb_arena {
    lb_arena_chunk *head;
    size_t used, peak, chunk_bytes;
    size_t limit; /* 0 = unlimited; otherwise allocations past this many bytes fail */
} lb_arena;
void lb_arena_init(lb_arena *a, size_t chunk_bytes);
void *lb_arena_alloc(lb_arena *a, size_t bytes); /* NULL when out of memory or over the limit */
void lb_arena_reset(lb_arena *a);
void lb_arena_destroy(lb_arena *a);

/* ---- Tensors ------------------------------------------------------------------------------ */
typedef struct lb_tensor {
    float *data;                  /* first element; element i is data[sum idx[d]*stride[d]] */
    float *grad;                  /* contiguous, same shape; NULL until a gradient flows */
    int ndim;                     /* 0..4; 0 is a scalar */
    int requires_grad;
    int64_t shape[LB_MAXDIM];
    int64_t stride[LB_MAXDIM];    /* in elements */
    int64_t numel;
    const char *name;             /* parameter name, or NULL */
    int trainable;                /* parameters: 1, buffers (running stats): 0 */
    int64_t poff;                 /* offset in the parameter block, -1 if not a parameter */
} lb_tensor;

int lb_is_contiguous(const lb_tensor *t);
/* "[64, 784]" into buf; returns buf. */
char *lb_shape_str(const lb_tensor *t, char *buf, size_t n);
/* Element at a flat row-major index (honours strides). */
float lb_get(const lb_tensor *t, int64_t flat);

/* ---- Step graph: arena + tape ------------------------------------------------------------- */
typedef struct lb_graph lb_graph;
lb_graph *lb_graph_new(void);
void lb_graph_free(lb_graph *g);
/* Drops every tensor made since the last reset, the tape and the status. Parameters are not
 * affected. */
void lb_graph_reset(lb_graph *g);
/* lb_graph_reset, and also gives back the arena and workspace memory (e.g. after a large
 * evaluation batch raised the peak). */
void lb_graph_trim(lb_graph *g);
void lb_graph_set_grad(lb_graph *g, int enabled); /* 0 = no-grad mode: nothing is recorded */
int lb_graph_grad_enabled(const lb_graph *g);
/* Fusion of conv2d + relu (+ maxpool2d(2)): lb_graph_fuse asks the next lb_conv2d on g to apply
 * relu to its output itself and, with LB_FUSE_MAXPOOL2, then 2x2 stride-2 max pooling (the
 * same values and gradients as lb_relu and lb_maxpool2d after it, without the passes over the
 * full-size activations). A convolution may do less than asked (pooling only on its
 * one-image-at-a-time and Winograd paths); lb_graph_fused() says what it did (0: no convolution
 * took the request), sets *out to that convolution's output, and clears the request. The model
 * runner uses it for a conv2d layer followed by relu (and maxpool2d(2)) layers. */
enum { LB_FUSE_RELU = 1, LB_FUSE_MAXPOOL2 = 2 };
void lb_graph_fuse(lb_graph *g, unsigned what);
unsigned lb_graph_fused(lb_graph *g, lb_tensor **out);
lb_status *lb_graph_status(lb_graph *g);
const char *lb_graph_error(const lb_graph *g); /* message or NULL */
size_t lb_graph_tape_len(const lb_graph *g);
lb_arena *lb_graph_arena(lb_graph *g);
/* Reverse-mode autograd from a scalar (numel 1) tensor: seeds d(loss)=1 and accumulates into
 * every .grad reached. Once per graph between resets. Returns 0 or -1 with the status set. */
int lb_backward(lb_graph *g, lb_tensor *loss);

/* New tensors in the arena. shape may be NULL when ndim == 0. */
lb_tensor *lb_empty(lb_graph *g, int ndim, const int64_t *shape);   /* uninitialised */
lb_tensor *lb_zeros(lb_graph *g, int ndim, const int64_t *shape);
lb_tensor *lb_full(lb_graph *g, int ndim, const int64_t *shape, float v);
lb_tensor *lb_from_data(lb_graph *g, int ndim, const int64_t *shape, const float *data); /* copies */
lb_tensor *lb_wrap(lb_graph *g, int ndim, const int64_t *shape, float *data); /* no copy */
lb_tensor *lb_scalar(lb_graph *g, float v);
/* Makes a leaf that collects a gradient (for tests and input-gradient uses). */
void lb_set_requires_grad(lb_tensor *t, int on);
/* 1 when every element is finite (no NaN or inf). */
int lb_all_finite(const lb_tensor *t);
/* Copies the values of t (any strides) into dst (numel floats), row-major. */
void lb_copy_out(const lb_tensor *t, float *dst);

/* ---- Elementwise (numpy/PyTorch broadcasting for binary ops) ----------------------------- */
lb_tensor *lb_add(lb_graph *g, lb_tensor *a, lb_tensor *b);
lb_tensor *lb_sub(lb_graph *g, lb_tensor *a, lb_tensor *b);
lb_tensor *lb_mul(lb_graph *g, lb_tensor *a, lb_tensor *b);
lb_tensor *lb_div(lb_graph *g, lb_tensor *a, lb_tensor *b);
lb_tensor *lb_add_scalar(lb_graph *g, lb_tensor *x, float s);
lb_tensor *lb_mul_scalar(lb_graph *g, lb_tensor *x, float s);
lb_tensor *lb_pow(lb_graph *g, lb_tensor *x, float p); /* x ** p */
lb_tensor *lb_neg(lb_graph *g, lb_tensor *x);
lb_tensor *lb_exp(lb_graph *g, lb_tensor *x);
lb_tensor *lb_log(lb_graph *g, lb_tensor *x);
lb_tensor *lb_sqrt(lb_graph *g, lb_tensor *x);
lb_tensor *lb_tanh(lb_graph *g, lb_tensor *x);
lb_tensor *lb_sigmoid(lb_graph *g, lb_tensor *x);
lb_tensor *lb_relu(lb_graph *g, lb_tensor *x);
lb_tensor *lb_leaky_relu(lb_graph *g, lb_tensor *x, float slope); /* PyTorch default 0.01 */
lb_tensor *lb_gelu(lb_graph *g, lb_tensor *x);                    /* exact (erf) form */

/* ---- Reductions --------------------------------------------------------------------------- */
lb_tensor *lb_sum(lb_graph *g, lb_tensor *x, int axis, int keepdim);
lb_tensor *lb_mean(lb_graph *g, lb_tensor *x, int axis, int keepdim);
lb_tensor *lb_max(lb_graph *g, lb_tensor *x, int axis, int keepdim); /* values; grad to argmax */
lb_tensor *lb_sum_all(lb_graph *g, lb_tensor *x);  /* scalar */
lb_tensor *lb_mean_all(lb_graph *g, lb_tensor *x); /* scalar */
/* Index of the maximum along axis (first on ties), as floats; not differentiable. */
lb_tensor *lb_argmax(lb_graph *g, lb_tensor *x, int axis);

/* ---- Shape -------------------------------------------------------------------------------- */
/* One entry of shape may be -1 (inferred). A view when x is contiguous, else a copy. */
lb_tensor *lb_reshape(lb_graph *g, lb_tensor *x, int ndim, const int64_t *shape);
lb_tensor *lb_flatten(lb_graph *g, lb_tensor *x, int start_axis); /* [N, ...] -> [N, rest] */
lb_tensor *lb_transpose(lb_graph *g, lb_tensor *x, int a0, int a1);   /* view */
lb_tensor *lb_permute(lb_graph *g, lb_tensor *x, const int *perm);    /* view */
/* x[..., start:end:step, ...] along axis (step >= 1; negative start/end count from the end). */
lb_tensor *lb_slice(lb_graph *g, lb_tensor *x, int axis, int64_t start, int64_t end, int64_t step);
lb_tensor *lb_concat(lb_graph *g, lb_tensor *const *xs, int n, int axis);
lb_tensor *lb_contiguous(lb_graph *g, lb_tensor *x); /* x itself when already contiguous */
/* The same data as a new leaf that does not require a gradient (stops backpropagation, e.g.
 * truncated BPTT or targets computed from the model). */
lb_tensor *lb_detach(lb_graph *g, lb_tensor *x);

/* ---- Linear algebra ----------------------------------------------------------------------- */
/* a [..., M, K] @ b [..., K, N]: 2-D x 2-D, N-D x 2-D (leading dims folded into M), or equal
 * leading (batch) dims; either side may be a 2-D matrix broadcast over the batch. Transposed
 * views are passed to sgemm without a copy. */
lb_tensor *lb_matmul(lb_graph *g, lb_tensor *a, lb_tensor *b);
/* PyTorch nn.Linear: x [..., in] @ w[out, in]^T + b[out] (b may be NULL). */
lb_tensor *lb_linear(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b);

/* ---- Convolution and pooling (NCHW) ------------------------------------------------------- */
typedef struct lb_conv_opts {
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w; /* 0 is read as 1 for stride/dilation */
} lb_conv_opts;
/* x [N, C, H, W], w [OC, C, KH, KW], b [OC] or NULL. groups = 1. */
lb_tensor *lb_conv2d(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, const lb_conv_opts *o);
/* kernel k, stride s (0 = k), padding p; floor mode. avgpool counts padding (PyTorch default). */
lb_tensor *lb_maxpool2d(lb_graph *g, lb_tensor *x, int k, int s, int p);
lb_tensor *lb_avgpool2d(lb_graph *g, lb_tensor *x, int k, int s, int p);

/* ---- Recurrent layers (rnn.c) ---------------------------------------------------------------
 * One layer, one direction of PyTorch's nn.RNN (tanh or relu), nn.LSTM and nn.GRU, with their
 * definitions: weights w_ih [G*H, I], w_hh [G*H, H], biases b_ih, b_hh [G*H] (either may be
 * NULL), G = 1 (RNN), 4 (LSTM, gate rows i, f, g, o) or 3 (GRU, rows r, z, n); the GRU applies
 * its reset gate after the hidden product: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
 * h' = (1 - z) n + z h. LSTM: c' = f c + i g, h' = o tanh(c').
 *  - x is [T, B, I] (time first, PyTorch's default), or [B, T, I] with batch_first; y has the
 *    same layout with H features. h0 (and c0, LSTM only) are [B, H] or NULL (zeros).
 *  - lengths: B sequence lengths in 0..T, or NULL (all T). Sequence b runs over its steps
 *    0..len-1 only (as PyTorch with pack_padded_sequence; PyTorch allows no length 0, here such
 *    a sequence keeps h0): later steps do not change its state, get no gradient and output 0,
 *    and its final state is the state after step len-1.
 *  - reverse: each sequence runs backwards over its own steps, len-1 first (the backward half
 *    of a bidirectional layer). A bidirectional layer is two calls and a concat of their y.
 *  - bptt k > 0: truncated backpropagation through time; the state is detached every k
 *    iterations (the gradient stops where the state enters iteration k, 2k, ... of each
 *    sequence), the same gradients as running chunks of k steps with lb_detach between them.
 *    0 = through the whole sequence.
 *  - Results (views of one block; gradients flow from each): y, the final h, and c (LSTM).
 *  - Decoding one step at a time: T = 1 with the previous call's h (and c) as h0 (c0).
 *  The input products of all steps are one GEMM before the recurrence, then one GEMM h W_hh^T
 *  per step; the backward takes dW_ih, dW_hh and dx in one GEMM each over all steps.
 *  Returns 0, or -1 with g's status set. */
enum { LB_RNN_TANH = 0, LB_RNN_RELU = 1, LB_RNN_LSTM = 2, LB_RNN_GRU = 3 };
typedef struct lb_rnn_opts {
    int cell;                /* LB_RNN_TANH (the zero default), LB_RNN_RELU, LB_RNN_LSTM, LB_RNN_GRU */
    int reverse;
    int batch_first;
    int bptt;                /* 0 = full backpropagation through time */
    const int64_t *lengths;  /* B lengths, or NULL; copied */
} lb_rnn_opts;
typedef struct lb_rnn_result {
    lb_tensor *y; /* [T, B, H] (or [B, T, H]) */
    lb_tensor *h; /* [B, H] */
    lb_tensor *c; /* [B, H], LSTM only, else NULL */
} lb_rnn_result;
int lb_rnn(lb_graph *g, lb_tensor *x, lb_tensor *w_ih, lb_tensor *w_hh, lb_tensor *b_ih, lb_tensor *b_hh,
           lb_tensor *h0, lb_tensor *c0, const lb_rnn_opts *o, lb_rnn_result *res);
int lb_rnn_gates(int cell); /* G: 1, 4 or 3 */

/* ---- Embedding, dropout ------------------------------------------------------------------- */
/* ids (any shape, integral floats in [0, V)) -> [*ids.shape, D] rows of w [V, D]. */
lb_tensor *lb_embedding(lb_graph *g, lb_tensor *ids, lb_tensor *w);
/* Inverted dropout: zeroes with probability p and scales by 1/(1-p) when training; identity
 * (the same tensor) when !training or p == 0. */
lb_tensor *lb_dropout(lb_graph *g, lb_tensor *x, float p, int training, lb_rng *rng);

/* ---- Softmax and losses ------------------------------------------------------------------- */
/* mask (or NULL) broadcasts to x; positions where mask == 0 are excluded (as -inf). A row with
 * every position masked gives zeros (softmax) / -inf (log_softmax). */
lb_tensor *lb_softmax(lb_graph *g, lb_tensor *x, int axis, lb_tensor *mask);
lb_tensor *lb_log_softmax(lb_graph *g, lb_tensor *x, int axis, lb_tensor *mask);
/* Fused log_softmax + NLL, mean over the rows whose target != ignore_index (PyTorch
 * F.cross_entropy with label_smoothing). logits [N, C], targets [N]. Scalar result. */
lb_tensor *lb_cross_entropy(lb_graph *g, lb_tensor *logits, lb_tensor *targets, int ignore_index,
                            float label_smoothing);
lb_tensor *lb_mse_loss(lb_graph *g, lb_tensor *x, lb_tensor *y); /* mean((x - y)^2) */

/* ---- Normalisation ------------------------------------------------------------------------ */
/* Over the last axis; w, b [D] or NULL. */
lb_tensor *lb_layernorm(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, float eps);
/* x [N, C], [N, C, L] or [N, C, H, W]; statistics per channel C. Training: batch statistics,
 * running_mean/var (buffers, may be NULL) updated with `momentum` (unbiased variance), as
 * PyTorch. Eval: normalises with the running statistics. */
lb_tensor *lb_batchnorm(lb_graph *g, lb_tensor *x, lb_tensor *w, lb_tensor *b, lb_tensor *running_mean,
                        lb_tensor *running_var, int training, float momentum, float eps);

/* ---- Custom ops -----------------------------------------------------------------------------
 * An op with its own forward and backward over plain float arrays, recorded on the tape like a
 * built-in one (plugins' ops are built on it). lb_custom_op makes every input contiguous (a
 * recorded copy when it is not), allocates the output [out_shape] ZERO-FILLED in the arena and
 * calls fwd once. When bwd is not NULL and grads are on and some input requires a gradient, a
 * node is recorded; at backward time bwd gets the output gradient `gout` (contiguous, the
 * output's shape) and must ACCUMULATE (+=) into gin[i], which is NULL for inputs that need no
 * gradient (gin[i] is contiguous, input i's shape). With bwd NULL the output is a constant.
 *  - ctx: with ctx_size > 0, ctx_size bytes are copied into the arena at the call and c->ctx
 *    points at the copy (callers may pass a stack struct; fwd may write to it and bwd sees
 *    what it wrote); with ctx_size == 0 the pointer is passed as it is.
 *  - fwd returns 0, or -1 to fail the op: g's status is set from c->graph's status if fwd set
 *    one (lb_status_set(lb_graph_status(c->graph), ...)), else "NAME: forward failed".
 *  - 1 to 4 inputs; name (for messages) must outlive the graph step. */
typedef struct lb_custom_call {
    lb_graph *graph;
    const char *name;
    int n_inputs;
    const lb_tensor *in[4]; /* contiguous */
    lb_tensor *out;         /* contiguous */
    void *ctx;
} lb_custom_call;
typedef int (*lb_custom_fwd)(lb_custom_call *c);
typedef void (*lb_custom_bwd)(const lb_custom_call *c, const float *gout, float *const *gin);
lb_tensor *lb_custom_op(lb_graph *g, const char *name, int n_inputs, lb_tensor *const *inputs, int out_ndim,
                        const int64_t *out_shape, lb_custom_fwd fwd, lb_custom_bwd bwd, const void *ctx,
                        size_t ctx_size);

/* ---- Parameter block ------------------------------------------------------------------------
 * One allocation: [data | grad | state 0 | state 1 ...], each section the same size, each
 * tensor at the same offset `poff` in every section (64-byte aligned). Adding a tensor may
 * move the block (tensor pointers stay valid; their data/grad are updated). */
typedef struct lb_params lb_params;
lb_params *lb_params_new(void);
void lb_params_free(lb_params *p);
/* trainable = 0 for buffers such as running statistics (no optimizer update). Zero-filled.
 * NULL with *st set on a bad shape, a duplicate name or out of memory. */
lb_tensor *lb_params_add(lb_params *p, const char *name, int ndim, const int64_t *shape, int trainable,
                         lb_status *st);
int lb_params_count(const lb_params *p);
lb_tensor *lb_params_get(const lb_params *p, int i);
lb_tensor *lb_params_find(const lb_params *p, const char *name);
int64_t lb_params_numel(const lb_params *p, int trainable_only);
void lb_params_zero_grad(lb_params *p);
/* Ensures `nstate` optimizer state sections exist (zero-filled when new); -1 on OOM. */
int lb_params_ensure_state(lb_params *p, int nstate, lb_status *st);
float *lb_params_state(lb_params *p, int k, const lb_tensor *t); /* state section k of t */
float *lb_params_block(lb_params *p, size_t *nfloats);         /* the whole block */
/* The values section (every parameter and buffer, padded; *nfloats its length): what a run
 * snapshots and restores. Gradients and optimizer state are not in it. */
float *lb_params_values(lb_params *p, size_t *nfloats);
/* Zeroes the optimizer state and its step count (a fresh optimizer for a new run). */
void lb_params_reset_state(lb_params *p);
int lb_params_nstate(const lb_params *p);
/* The optimizer's step count, kept with its state (lb_optim_step sets it; a checkpoint saved
 * with state restores it): to resume, set o.t = lb_params_optim_step(p) after loading. */
int64_t lb_params_optim_step(const lb_params *p);
void lb_params_set_optim_step(lb_params *p, int64_t t);
/* Checkpoint: names, shapes and values (and optimizer state when with_state) in one file. */
int lb_params_save(const lb_params *p, const char *path, int with_state, lb_status *st);
/* Loads values by name (and optimizer state and step when the file has them); shapes must
 * match; a name the model lacks is an error. */
int lb_params_load(lb_params *p, const char *path, lb_status *st);

/* ---- Initialisation (PyTorch defaults) ----------------------------------------------------- */
void lb_init_uniform(lb_tensor *t, float lo, float hi, lb_rng *r);
void lb_init_normal(lb_tensor *t, float mean, float std, lb_rng *r);
void lb_init_const(lb_tensor *t, float v);
/* fan_in = shape[1] * prod(shape[2:]) of a weight [out, in, ...]. */
int64_t lb_fan_in(const lb_tensor *w);
/* nn.Linear / nn.Conv2d: kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for w,
 * then U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for b (b may be NULL). w first, then b. */
void lb_init_linear(lb_tensor *w, lb_tensor *b, lb_rng *r);
void lb_init_embedding(lb_tensor *w, lb_rng *r); /* N(0, 1) */
void lb_init_norm(lb_tensor *w, lb_tensor *b);   /* ones, zeros */

/* ---- Optimizers ---------------------------------------------------------------------------- */
enum { LB_SGD = 0, LB_ADAM = 1, LB_ADAMW = 2 };
typedef struct lb_optim {
    int kind;
    float lr;
    float momentum, dampening, weight_decay; /* SGD: PyTorch semantics */
    int nesterov;
    float beta1, beta2, eps;                 /* Adam/AdamW */
    int64_t t;                               /* steps taken */
} lb_optim;
/* Defaults as PyTorch: SGD(momentum 0), Adam(0.9, 0.999, 1e-8, wd 0), AdamW(wd 0.01). */
lb_optim lb_optim_sgd(float lr, float momentum, float dampening, float weight_decay, int nesterov);
lb_optim lb_optim_adam(float lr, float beta1, float beta2, float eps, float weight_decay);
lb_optim lb_optim_adamw(float lr, float beta1, float beta2, float eps, float weight_decay);
/* One update of every trainable tensor from its .grad; optimizer state in the block. */
int lb_optim_step(lb_optim *o, lb_params *p, lb_status *st);
/* Scales all trainable grads so that their global L2 norm is at most max_norm (PyTorch
 * clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when < 1). Returns the norm. */
float lb_clip_grad_norm(lb_params *p, float max_norm);

/* ---- Learning-rate schedules ---------------------------------------------------------------- */
enum { LB_SCHED_CONSTANT = 0, LB_SCHED_STEP = 1, LB_SCHED_COSINE = 2 };
typedef struct lb_sched {
    int kind;
    float base_lr;
    int64_t step_size; float gamma;   /* STEP: lr * gamma^(floor(t / step_size)) */
    int64_t t_max; float eta_min;     /* COSINE: eta_min + (lr - eta_min)(1 + cos(pi t/t_max))/2,
                                         t clamped to t_max */
    int64_t warmup;                   /* linear warm-up: factor (t + 1) / warmup for t < warmup,
                                         then the schedule runs on t - warmup */
} lb_sched;
float lb_sched_lr(const lb_sched *s, int64_t t); /* lr for step t (0-based) */

#endif

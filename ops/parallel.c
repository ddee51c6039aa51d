/* parallel.c — labbook's own worker threads, for ops that split a batch into independent
 * parts (the Winograd convolution's chunks of images): OpenBLAS does not split the many small
 * GEMMs of such ops across cores, so the ops split the batch themselves.
 *
 * A fixed pool of (threads - 1) workers, started on first use, waits on a condition variable;
 * lb_parallel() hands part i of n to a fixed thread (the caller runs part 0), so which thread
 * computes what depends on the thread count only, never on timing, and results stay
 * bit-identical from run to run. While the parts run, OpenBLAS is held at one thread: each
 * part's GEMMs run on the thread that calls them. Workers block every signal, so an interrupt
 * reaches the main thread as before. */
#include <cblas.h>
#include <pthread.h>
#include <signal.h>

#include "ops_impl.h"

#define LB_MAX_WORKERS 63

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int started;            /* workers running */
    unsigned long gen;      /* bumped for each job */
    int nparts, pending;    /* the job: parts 1..nparts-1 go to workers 0..nparts-2 */
    int busy;               /* a job is running (a second caller runs its parts itself) */
    lb_par_fn fn;
    void *ctx;
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, NULL, NULL};

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg; /* runs part id + 1 */
    unsigned long seen = 0;
    pthread_mutex_lock(&P.mu);
    for (;;) {
        while (P.gen == seen) pthread_cond_wait(&P.go, &P.mu);
        seen = P.gen;
        if (id + 1 >= P.nparts) continue;
        lb_par_fn fn = P.fn;
        void *ctx = P.ctx;
        int n = P.nparts;
        pthread_mutex_unlock(&P.mu);
        fn(ctx, id + 1, n);
        pthread_mutex_lock(&P.mu);
        if (--P.pending == 0) pthread_cond_signal(&P.done);
    }
    return NULL;
}

/* A forked child has none of the parent's workers. */
static void forked_child(void) {
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.go, NULL);
    pthread_cond_init(&P.done, NULL);
    P.started = 0;
}

/* Starts workers up to `want` (fewer when a thread cannot be created); returns how many run. */
static int start_workers(int want) {
    if (want > LB_MAX_WORKERS) want = LB_MAX_WORKERS;
    if (P.started >= want) return P.started;
    static int atfork;
    if (!atfork) atfork = pthread_atfork(NULL, NULL, forked_child) == 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (P.started < want) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker, (void *)(intptr_t)P.started);
        pthread_attr_destroy(&at);
        if (rc) break;
        P.started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return P.started;
}

int lb_parallel_parts(void) {
    int t = lb_get_threads();
    return t < 1 ? 1 : t > LB_MAX_WORKERS + 1 ? LB_MAX_WORKERS + 1 : t;
}

void lb_parallel(int nparts, lb_par_fn fn, void *ctx) {
    if (nparts <= 1) { fn(ctx, 0, 1); return; }
    int threads = lb_get_threads();
    pthread_mutex_lock(&P.mu);
    int workers = P.busy ? 0 : start_workers(nparts - 1);
    if (workers < nparts - 1) { /* busy (another thread's job, or a part asking for parts) or
                                  * not enough threads: run the parts in turn, same results */
        pthread_mutex_unlock(&P.mu);
        for (int i = 0; i < nparts; i++) fn(ctx, i, nparts);
        return;
    }
    P.busy = 1;
    openblas_set_num_threads(1);
    P.fn = fn;
    P.ctx = ctx;
    P.nparts = nparts;
    P.pending = nparts - 1;
    P.gen++;
    pthread_cond_broadcast(&P.go);
    pthread_mutex_unlock(&P.mu);
    fn(ctx, 0, nparts);
    pthread_mutex_lock(&P.mu);
    while (P.pending > 0) pthread_cond_wait(&P.done, &P.mu);
    P.busy = 0;
    pthread_mutex_unlock(&P.mu);
    openblas_set_num_threads(threads);
}

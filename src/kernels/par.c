/* Fork-join (see par.h) on persistent workers.
 *
 * A fork hands its task to an idle worker of a process-wide pool (a worker is
 * made the first time the pool has none idle); the join waits until the
 * worker is done. Starting a pthread per fork (what this replaced) cost tens
 * of microseconds per fork-join, several times per MoCo step.
 *
 * Waiting: both sides first poll the worker's state for a short, bounded time
 * (spin_ns, with the CPU's pause hint), then sleep on a condition
 * variable. A worker that has just finished a task thus picks the next one
 * up within a microsecond when it comes soon (the dozen fork-joins of one
 * MoCo step come every few hundred microseconds), and sleeps in the kernel
 * when it does not. Sleeping at once (what this replaced) cost a kernel
 * wake-up on each side of every fork-join: 40-70 us each on the 2-vCPU
 * virtual machines measured (docs/performance.md), about 1 ms per Yeast
 * step. The bound is 200 us (a fork-join's wait costs at most that much CPU
 * time beyond the work); a process allowed on one CPU only never polls (the
 * library reads no environment variable, docs/abi.md).
 *
 * The pool only grows to the largest number of fork-joins in flight at once
 * (one per concurrent caller and per nesting level at two threads). A child
 * process after fork() has none of the parent's workers: pthread_atfork
 * empties its pool (the old records are dropped, not freed: their mutexes may
 * have been held at the fork). At unload the workers are told to stop and
 * joined. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PAR_PAUSE() _mm_pause()
#else
#define PAR_PAUSE() ((void)0)
#endif
#include "par.h"
#include "sigguard.h"

typedef struct par_task {
    void (*f2)(void *);        /* mlcl__par2's task, or */
    void (*fn)(void *, int);   /* mlcl__par_for's, with its index t */
    void *p;
    int t, threads;            /* the forking thread's count, in force in the worker */
    mlcl_allocator alloc;      /* and its allocator hooks */
} par_task;

typedef struct par_worker {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    _Atomic int state;         /* W_IDLE, W_POSTED, W_DONE, W_QUIT (written under mu) */
    par_task task;
    pthread_t th;
    struct par_worker *next;   /* the idle list, or the list of all workers */
    struct par_worker *all;
} par_worker;

enum { W_IDLE, W_POSTED, W_DONE, W_QUIT };

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static par_worker *pool_idle, *pool_all;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static long long spin_ns = 200000; /* the polling bound; 0 (set by pool_init) on one CPU */

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Polls w->state (no lock) until it is one of a or b or the spin bound has
 * passed; returns whether it is. */
static int spin_for(par_worker *w, int a, int b)
{
    if (spin_ns <= 0) return 0;
    long long t0 = mono_ns();
    for (;;) {
        for (int k = 0; k < 64; k++) {
            int s = atomic_load_explicit(&w->state, memory_order_acquire);
            if (s == a || s == b) return 1;
            PAR_PAUSE();
        }
        if (mono_ns() - t0 > spin_ns) return 0;
    }
}

static void run_task(const par_task *t)
{
    int tok = mlcl__threads_enter(t->threads);
    mlcl_allocator own;
    mlcl__alloc_get(&own);
    mlcl__alloc_set(&t->alloc);
    if (t->f2) t->f2(t->p);
    else t->fn(t->p, t->t);
    mlcl__alloc_set(&own);
    mlcl__threads_leave(tok);
}

static void *worker_main(void *arg)
{
    par_worker *w = arg;
    mlcl__sig_hold_thread();
    for (;;) {
        /* the next task often comes within microseconds: poll, then sleep */
        spin_for(w, W_POSTED, W_QUIT);
        pthread_mutex_lock(&w->mu);
        while (w->state == W_IDLE || w->state == W_DONE) pthread_cond_wait(&w->work, &w->mu);
        if (w->state == W_QUIT) break;
        par_task t = w->task;
        pthread_mutex_unlock(&w->mu);
        run_task(&t);
        pthread_mutex_lock(&w->mu);
        atomic_store_explicit(&w->state, W_DONE, memory_order_release);
        pthread_cond_signal(&w->done);
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void pool_prepare(void) { pthread_mutex_lock(&pool_mu); }
static void pool_parent(void) { pthread_mutex_unlock(&pool_mu); }
static void pool_child(void)
{
    /* the workers did not cross the fork: forget them */
    pool_idle = pool_all = NULL;
    pthread_mutex_init(&pool_mu, NULL);
}
static void pool_init(void)
{
    /* on one CPU a polling thread only delays the one it waits for */
    cpu_set_t cs;
    if (sched_getaffinity(0, sizeof cs, &cs) == 0 && CPU_COUNT(&cs) < 2) spin_ns = 0;
    pthread_atfork(pool_prepare, pool_parent, pool_child);
}

/* An idle worker (made if none is), or NULL if none can be had. */
static par_worker *acquire(void)
{
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool_mu);
    par_worker *w = pool_idle;
    if (w) {
        pool_idle = w->next;
        pthread_mutex_unlock(&pool_mu);
        return w;
    }
    pthread_mutex_unlock(&pool_mu);
    w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    w->state = W_IDLE;
    mlcl__sig_guard sg; /* the worker starts with the asynchronous signals blocked (sigguard.h) */
    mlcl__sig_hold(&sg);
    int made = pthread_create(&w->th, NULL, worker_main, w) == 0;
    mlcl__sig_release(&sg);
    if (!made) {
        pthread_cond_destroy(&w->work);
        pthread_cond_destroy(&w->done);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    pthread_mutex_lock(&pool_mu);
    w->all = pool_all;
    pool_all = w;
    pthread_mutex_unlock(&pool_mu);
    return w;
}

static void post(par_worker *w, const par_task *t)
{
    pthread_mutex_lock(&w->mu);
    w->task = *t;
    w->state = W_POSTED;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

/* Waits for w's task, then returns w to the pool. */
static void join(par_worker *w)
{
    spin_for(w, W_DONE, W_DONE);
    pthread_mutex_lock(&w->mu);
    while (w->state != W_DONE) pthread_cond_wait(&w->done, &w->mu);
    w->state = W_IDLE;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&pool_mu);
    w->next = pool_idle;
    pool_idle = w;
    pthread_mutex_unlock(&pool_mu);
}

/* At unload (dlclose, exit): stop and join the idle workers, so no thread is
 * left running the library's code. A worker still busy (a fork-join in
 * flight on another thread at exit) is left alone. */
__attribute__((destructor)) static void pool_shutdown(void)
{
    pthread_mutex_lock(&pool_mu);
    par_worker *w = pool_idle;
    pool_idle = NULL;
    pthread_mutex_unlock(&pool_mu);
    while (w) {
        par_worker *next = w->next;
        pthread_mutex_lock(&w->mu);
        w->state = W_QUIT;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
        w = next;
    }
}

void mlcl__par2(void (*a)(void *), void *pa, void (*b)(void *), void *pb)
{
    par_task ta = { a, NULL, pa, 0, mlcl__threads_current(), { 0 } };
    mlcl__alloc_get(&ta.alloc);
    par_worker *w = ta.threads < 2 ? NULL : acquire();
    if (!w) {
        a(pa);
        b(pb);
        return;
    }
    post(w, &ta);
    b(pb);
    join(w);
}

void mlcl__par_for(int T, void (*f)(void *arg, int t), void *arg)
{
    if (T > MLCL_PAR_MAX) T = MLCL_PAR_MAX;
    if (T <= 1) {
        if (T == 1) f(arg, 0);
        return;
    }
    par_worker *w[MLCL_PAR_MAX] = { 0 };
    int threads = mlcl__threads_current();
    mlcl_allocator alloc;
    mlcl__alloc_get(&alloc);
    for (int t = 1; t < T; t++) {
        par_task task = { NULL, f, arg, t, threads, alloc };
        if ((w[t] = acquire())) post(w[t], &task);
    }
    f(arg, 0);
    for (int t = 1; t < T; t++) {
        if (w[t]) join(w[t]);
        else f(arg, t);
    }
}

/* Internal helpers shared by every module. Not part of the public API. */
#ifndef MLCL_INTERNAL_H
#define MLCL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include "mlcl/core.h"

#if defined(__GNUC__)
#define MLCL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define MLCL_INTERNAL __attribute__((visibility("hidden")))
#else
#define MLCL_PRINTF(a, b)
#define MLCL_INTERNAL
#endif

/* Records a thread-local message and returns status (so callers can
 * `return mlcl__err(MLCL_EINVAL, "...")`). */
MLCL_INTERNAL int mlcl__err(int status, const char *fmt, ...) MLCL_PRINTF(2, 3);
MLCL_INTERNAL int mlcl__verr(int status, const char *fmt, va_list ap);

/* CPUs this process may run on: its affinity mask (sched_getaffinity; the
 * CPUs online if that fails), in 1..MLCL_MAX_THREADS. The cap of
 * mlcl_set_num_threads and of the per-handle setters. */
MLCL_INTERNAL int mlcl__cpus_available(void);
#define MLCL_MAX_THREADS 1024

/* Thread counts (src/core/threads.c; docs/abi.md "Thread counts"). One model:
 * a library-wide default (mlcl_set_num_threads; two, at most the CPUs, until
 * the caller sets one) and a per-handle count (mlcl_*_set_threads; 0 = the
 * default) that the handle's public entry points make current on the calling
 * thread for the duration of the call:
 *     int tok = mlcl__threads_enter(h->threads);  ...  mlcl__threads_leave(tok);
 * Scopes nest (a trainer's call runs its MoCo step: a handle whose count is 0
 * inherits the enclosing one). The kernels and the fork-join (kernels/par.c)
 * read mlcl__threads_current(); par.c carries it into its worker threads.
 * The library never reads an environment variable for this. */
MLCL_INTERNAL int mlcl__threads_current(void);
/* Opens a scope with count n (> 0), or keeps the enclosing count (n == 0);
 * returns the token for mlcl__threads_leave(). */
MLCL_INTERNAL int mlcl__threads_enter(int n);
MLCL_INTERNAL void mlcl__threads_leave(int token);
/* The library-wide default, and its setter (n already checked). */
MLCL_INTERNAL int mlcl__threads_default(void);
MLCL_INTERNAL void mlcl__threads_set_default(int n);
/* Checks a count given to a public setter (1..MLCL_MAX_THREADS, else
 * MLCL_EINVAL naming fn) and caps it at the CPUs available unless forced. */
MLCL_INTERNAL int mlcl__threads_check(const char *fn, int n, int forced, int *out);
/* For a per-handle setter: 0 (the default) or a count as above. */
static inline int mlcl__threads_check_handle(const char *fn, int n, int *out)
{
    if (n == 0) { *out = 0; return 0; }
    return mlcl__threads_check(fn, n, 0, out);
}

/* Memory budgets: sizes are checked against what the process may use before
 * they are allocated. An estimate sums components and remembers the largest,
 * which the error message names ("queue_size 10000000 needs 20.1 GB for ..."). */
typedef struct mlcl__mem_est {
    double total;     /* bytes */
    double big;       /* the largest component */
    char who[120];    /* its cause, e.g. "queue_size 10000000" */
    char purpose[120];/* what it is for, e.g. "keys/labels/distributions" */
} mlcl__mem_est;
/* Adds a component of `bytes` for `purpose`, caused by the size in who_fmt. */
MLCL_INTERNAL void mlcl__est_add(mlcl__mem_est *e, double bytes, const char *purpose, const char *who_fmt, ...)
    MLCL_PRINTF(4, 5);
/* The smaller of physical memory and RLIMIT_AS, in bytes. */
MLCL_INTERNAL double mlcl__mem_available(void);
/* MLCL_ENOMEM with a message when e->total exceeds mlcl__mem_available(). */
MLCL_INTERNAL int mlcl__mem_check(const mlcl__mem_est *e, const char *fn);

/* Allocation through the thread's hooks; 64-byte aligned. */
MLCL_INTERNAL void *mlcl__malloc(size_t size);
MLCL_INTERNAL void *mlcl__calloc(size_t count, size_t size);
MLCL_INTERNAL void mlcl__free(void *p);
/* The calling thread's allocator hooks (thread-local, mlcl_set_allocator):
 * the fork-join (kernels/par.c) runs each task under its forking thread's
 * hooks, so that what a task allocates is freed through the same hooks. */
MLCL_INTERNAL void mlcl__alloc_get(mlcl_allocator *out);
MLCL_INTERNAL void mlcl__alloc_set(const mlcl_allocator *a);
/* Allocates count*size bytes (zeroed) or records ENOMEM naming `what`. */
MLCL_INTERNAL int mlcl__alloc_array(void **out, size_t count, size_t size, const char *what);

/* a*b with overflow detection: returns 0 and sets *out, or -1. */
static inline int mlcl__mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

/* Returns 1 when all n values are finite. */
static inline int mlcl__all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Argument checks. `fn` is the public function name, used in messages. */
/* The whole body of a versioned struct's public _init(ptr, version): ptr
 * checked, version checked (MLCL_EVERSION naming both), then *ptr = the
 * bytes of its static initialiser INIT, padding included, so that _init()
 * and _INIT give the same bytes (tests/test_options.c). */
#define MLCL__STRUCT_INIT(fn, ptr, version, VERSION, type, INIT)                                         \
    do {                                                                                                \
        MLCL_CHECK_NULL(fn, ptr);                                                                       \
        if ((version) != (VERSION))                                                                     \
            return mlcl__err(MLCL_EVERSION, "%s: version %u is not %u", fn, (unsigned)(version),        \
                             (unsigned)(VERSION));                                                      \
        static const type init__ = INIT;                                                                \
        memcpy((ptr), &init__, sizeof init__);                                                          \
        return MLCL_OK;                                                                                 \
    } while (0)

#define MLCL_CHECK_NULL(fn, p) \
    do { if ((p) == NULL) return mlcl__err(MLCL_EINVAL, "%s: %s is NULL", fn, #p); } while (0)
/* As MLCL_CHECK_NULL, naming the argument as the public header does. */
#define MLCL_CHECK_NULL_AS(fn, p, name) \
    do { if ((p) == NULL) return mlcl__err(MLCL_EINVAL, "%s: %s is NULL", fn, name); } while (0)
#define MLCL_CHECK_POS(fn, v) \
    do { if ((v) <= 0) return mlcl__err(MLCL_EINVAL, "%s: %s must be > 0 (got %lld)", fn, #v, (long long)(v)); } while (0)
#define MLCL_CHECK_VERSION(fn, opts, ver) \
    do { if ((opts)->version != (ver)) return mlcl__err(MLCL_EVERSION, "%s: %s->version %u is not %u", fn, #opts, (unsigned)(opts)->version, (unsigned)(ver)); } while (0)
#define MLCL_TRY(expr) do { int mlcl__rc = (expr); if (mlcl__rc < 0) return mlcl__rc; } while (0)

/* Internal RNG (the public handle wraps this). PCG-XSH-RR 64/32. */
typedef struct mlcl__pcg { uint64_t state, inc; } mlcl__pcg;
MLCL_INTERNAL void mlcl__pcg_seed(mlcl__pcg *r, uint64_t seed, uint64_t stream);
MLCL_INTERNAL uint32_t mlcl__pcg_u32(mlcl__pcg *r);
/* uniform float in [0,1) */
static inline float mlcl__pcg_uniform(mlcl__pcg *r) { return (float)(mlcl__pcg_u32(r) >> 8) * (1.0f / 16777216.0f); }
/* uniform integer in [0, bound) without modulo bias */
MLCL_INTERNAL uint32_t mlcl__pcg_bounded(mlcl__pcg *r, uint32_t bound);
MLCL_INTERNAL float mlcl__pcg_normal(mlcl__pcg *r);
/* Fisher-Yates permutation of 0..n-1 */
MLCL_INTERNAL void mlcl__pcg_permutation(mlcl__pcg *r, int *perm, int n);

struct mlcl_rng { mlcl__pcg pcg; };

#endif

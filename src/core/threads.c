/* Thread counts: one library-wide default and a per-thread scope that a
 * handle's public entry points open for the duration of a call (internal.h,
 * docs/abi.md "Thread counts"). Nothing here reads the environment. */
#include <stdatomic.h>
#include "internal.h"

/* 0 = never set: the built-in default (two threads, at most the CPUs) */
static atomic_int g_default;
/* the count of the innermost open scope on this thread; 0 = none */
static _Thread_local int tl_scope;

int mlcl__threads_default(void)
{
    int n = atomic_load_explicit(&g_default, memory_order_relaxed);
    if (n > 0) return n;
    /* two: the fork-joins are two-way (docs/performance.md) */
    int cpus = mlcl__cpus_available();
    return cpus < 2 ? cpus : 2;
}

int mlcl__threads_check(const char *fn, int n, int forced, int *out)
{
    if (n < 1 || n > MLCL_MAX_THREADS)
        return mlcl__err(MLCL_EINVAL, "%s: n must be in 1..%d (got %d)", fn, MLCL_MAX_THREADS, n);
    /* more threads than CPUs only oversubscribe: capped unless the caller insists */
    int cpus = mlcl__cpus_available();
    *out = !forced && n > cpus ? cpus : n;
    return MLCL_OK;
}

void mlcl__threads_set_default(int n) { atomic_store_explicit(&g_default, n, memory_order_relaxed); }

int mlcl__threads_current(void) { return tl_scope > 0 ? tl_scope : mlcl__threads_default(); }

int mlcl__threads_enter(int n)
{
    int prev = tl_scope;
    if (n > 0) tl_scope = n;
    return prev;
}

void mlcl__threads_leave(int token) { tl_scope = token; }

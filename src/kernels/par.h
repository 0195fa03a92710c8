/* The library's one fork-join facility (internal). Tasks run on persistent
 * workers of a process-wide pool (par.c), woken and joined through condition
 * variables (no spinning); each worker runs with the caller's thread count in
 * force (mlcl__threads_current(), core/internal.h), and with a count of 1
 * everything runs in the calling thread, in order. */
#ifndef MLCL_KERNELS_PAR_H
#define MLCL_KERNELS_PAR_H
#include "core/internal.h"

/* Runs a(pa) on a worker and b(pb) on the caller, then joins: two
 * different tasks at once. With a thread count of 1, or if no worker can be
 * had, runs both here, a first. */
MLCL_INTERNAL void mlcl__par2(void (*a)(void *), void *pa, void (*b)(void *), void *pb);

/* Runs f(arg, t) for t = 0..T-1, task 0 on the caller and the others on
 * workers, then joins. T is the caller's choice (typically
 * min(mlcl__threads_current(), work items)); at most MLCL_PAR_MAX tasks.
 * A task for which no worker can be had runs on the caller after task 0, so
 * every task runs exactly once whatever happens; a task must not depend on
 * another running at the same time. */
#define MLCL_PAR_MAX 64
MLCL_INTERNAL void mlcl__par_for(int T, void (*f)(void *arg, int t), void *arg);
#endif

/* Fork-join of two independent tasks on two threads (no spinning: the helper
 * is a fresh pthread, joined). Internal. */
#ifndef MLCL_KERNELS_PAR_H
#define MLCL_KERNELS_PAR_H
#include "core/internal.h"

/* Runs a(pa) on a new thread and b(pb) on the caller, then joins. If the
 * thread cannot be started, runs both here, a first. */
MLCL_INTERNAL void mlcl__par2(void (*a)(void *), void *pa, void (*b)(void *), void *pb);
/* Runs f(ctx, t) for t = 0 .. T-1 (T <= 16), t = 0 on the caller and each
 * other on a new thread, then joins; a share whose thread cannot be started
 * runs on the caller after its own. */
MLCL_INTERNAL void mlcl__par_for(int T, void (*f)(void *ctx, int t), void *ctx);
#endif

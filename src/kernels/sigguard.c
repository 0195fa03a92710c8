/* Asynchronous signals held off while oneDNN's JIT code runs.
 *
 * oneDNN's generated f32 GEMM kernels (jit_avx512_common_gemm_f32 and the
 * AVX2 one, behind dnnl_sgemm and the gemm-based primitives) point the stack
 * pointer at a workspace on the heap while they run. A signal handler entered
 * there has its frame, about 3 KB with the AVX-512 state, pushed onto that
 * heap block and the blocks below it: heap corruption that aborts the
 * process later, far from the cause (oneDNN issue #4845, fixed in 3.11.1 by
 * keeping rsp; Debian 12 ships 2.6). A no-op SIGUSR1 handler hit every 200 us
 * aborted every Yeast training run on this machine; a SIGTERM during
 * mlcl-train's graceful stop aborted about one in ten.
 *
 * A user's handler cannot be moved to an alternate stack by us, so the calls
 * into oneDNN block the asynchronous signals of the calling thread for their
 * duration (two rt_sigprocmask calls per outermost hold). The synchronous
 * ones (a fault inside the call) must stay deliverable. oneDNN's OpenMP
 * worker threads are made by the first parallel region of the thread that
 * executes a primitive, and inherit its mask then: created under a hold,
 * they keep these signals blocked, and the process's signals go to threads
 * that are not in JIT code. The library's own workers (par.c) are blocked
 * for life the same way. */
#include <pthread.h>
#include "sigguard.h"

static sigset_t async_set;
static pthread_once_t async_once = PTHREAD_ONCE_INIT;
static _Thread_local int hold_depth;

static void async_build(void)
{
    static const int sync_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
    sigfillset(&async_set);
    for (size_t i = 0; i < sizeof sync_signals / sizeof *sync_signals; i++) sigdelset(&async_set, sync_signals[i]);
}

void mlcl__sig_hold(mlcl__sig_guard *g)
{
    g->outer = hold_depth++ == 0;
    if (!g->outer) return;
    pthread_once(&async_once, async_build);
    if (pthread_sigmask(SIG_BLOCK, &async_set, &g->old) != 0) g->outer = 0; /* cannot fail with a valid set */
}

void mlcl__sig_release(const mlcl__sig_guard *g)
{
    hold_depth--;
    if (g->outer) pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

void mlcl__sig_hold_thread(void) { hold_depth = 1; /* the mask came blocked from the creator's hold */ }

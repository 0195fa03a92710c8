/* Asynchronous signals held off while oneDNN's JIT code runs (sigguard.c). */
#ifndef MLCL_KERNELS_SIGGUARD_H
#define MLCL_KERNELS_SIGGUARD_H
#include <signal.h>
#include "core/internal.h"

/* The calling thread's asynchronous signals (all but SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGTRAP, SIGSYS and SIGABRT) are blocked from mlcl__sig_hold to the
 * matching mlcl__sig_release, which restores the mask found at the outermost
 * hold; a signal sent meanwhile stays pending and is delivered at the
 * release (or to another thread that does not block it). Holds nest per
 * thread; only the outermost pair makes system calls. */
typedef struct { sigset_t old; int outer; } mlcl__sig_guard;
MLCL_INTERNAL void mlcl__sig_hold(mlcl__sig_guard *g);
MLCL_INTERNAL void mlcl__sig_release(const mlcl__sig_guard *g);
/* The library's own worker threads (par.c) are created under a hold, so
 * that they start with these signals blocked, and call mlcl__sig_hold_thread
 * first, which marks the thread as held for its life: the signals stay
 * blocked, its holds make no system calls, and the process's signals go to
 * the caller's threads. Only for threads created under a hold. */
MLCL_INTERNAL void mlcl__sig_hold_thread(void);
#endif

/* A *_lib.h header: functions a layer offers the layers above it inside the
 * library, no handle layout (docs/architecture.md, "Internal headers"). */
/* Communicator helpers (include/mlcl/comm.h). Internal. */
#ifndef MLCL_DIST_COMM_LIB_H
#define MLCL_DIST_COMM_LIB_H
#include "mlcl/comm.h"
#include "core/internal.h"

/* The collectives with the callback's failure turned into MLCL_EBACKEND,
 * the message naming the caller (fn) and what was being exchanged. */
MLCL_INTERNAL int mlcl__comm_sum_f32(const mlcl_comm *c, float *buf, size_t n, const char *fn, const char *what);
MLCL_INTERNAL int mlcl__comm_sum_f64(const mlcl_comm *c, double *buf, size_t n, const char *fn, const char *what);
MLCL_INTERNAL int mlcl__comm_gather(const mlcl_comm *c, const void *send, size_t bytes, void *recv,
                                    const char *fn, const char *what);
MLCL_INTERNAL int mlcl__comm_bcast(const mlcl_comm *c, void *buf, size_t bytes, const char *fn, const char *what);
/* mlcl_comm_validate with the caller's name in the message. */
MLCL_INTERNAL int mlcl__comm_check(const mlcl_comm *c, const char *fn);
/* Fills c with the built-in single-rank communicator (rank 0 of 1): its sums
 * are the identity, its gather a copy, its broadcast nothing, so code written
 * for N ranks run with it is the single-process code, bit for bit. */
MLCL_INTERNAL void mlcl__comm_single(mlcl_comm *c);
#endif

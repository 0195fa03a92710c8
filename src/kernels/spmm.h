/* Sparse (CSR) x dense products of a Linear layer whose input is sparse.
 * Internal; no argument checks. OpenBLAS has no sparse kernels: these are
 * plain loops over the stored entries, O(out x nnz). */
#ifndef MLCL_KERNELS_SPMM_H
#define MLCL_KERNELS_SPMM_H
#include "core/internal.h"

/* y (n x out) = X W^T (+ b): X is n x in in CSR (ptr[0] = 0), W is out x in
 * row-major (the layout of mlcl_encoder_add_linear), b nullable. */
MLCL_INTERNAL void mlcl__spmm_fwd(int n, int in, int out, const int64_t *ptr, const int *col, const float *val,
                                  const float *W, const float *b, float *y);
/* gW (out x in) += g^T X, touching only the columns present in X; gb
 * (nullable) += column sums of g (n x out). */
MLCL_INTERNAL void mlcl__spmm_bwd_w(int n, int in, int out, const int64_t *ptr, const int *col, const float *val,
                                    const float *g, float *gW, float *gb);
#endif

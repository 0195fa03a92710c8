/* Internal row kernels shared by the encoder layers and the public
 * stand-alone functions (no argument checks here). */
#ifndef MLCL_NN_INTERNAL_H
#define MLCL_NN_INTERNAL_H
#include "core/internal.h"

#define MLCL__L2_EPS 1e-12f

/* prob = softmax(logits) row-wise; in place allowed. */
MLCL_INTERNAL void mlcl__softmax_rows(int n, int c, const float *logits, float *prob);
/* gl (+)= p (g - <g,p>); accumulate = 0 overwrites. */
MLCL_INTERNAL void mlcl__softmax_rows_bwd(int n, int c, const float *prob, const float *g,
                                          float *gl, int accumulate);
/* out = x / max(||x||, eps) row-wise, norms (nullable) = ||x||. */
MLCL_INTERNAL void mlcl__l2norm_rows(int n, int m, const float *x, float *out, float *norms);
MLCL_INTERNAL void mlcl__l2norm_rows_bwd(int n, int m, const float *out, const float *norms,
                                         const float *g, float *gx, int accumulate);
#endif

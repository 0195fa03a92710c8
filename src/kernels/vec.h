/* Small vector kernels shared by the hot loops. Internal. */
#ifndef MLCL_KERNELS_VEC_H
#define MLCL_KERNELS_VEC_H
#include "core/internal.h"

/* 1 when all n values are finite; branch-free over blocks so it vectorises
 * (mlcl__all_finite's early-exit loop does not). */
MLCL_INTERNAL int mlcl__vec_all_finite(const float *x, size_t n);
#endif

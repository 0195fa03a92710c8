/**
 * @file
 * libmlcl — augment.h: the augmentation of the vector-data networks (feature
 * masking). The image augmentations (SimCLR views) are in image.h.
 *
 * Thread-safety: calls on distinct generators may run at once.
 */
#ifndef MLCL_AUGMENT_H
#define MLCL_AUGMENT_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Feature masking (the vector-data augmentation of MulSupCon): each of the
 * n x d elements is set to 0 independently with probability @p p, and kept
 * unchanged otherwise — no 1/(1-p) rescaling. One uniform draw per element,
 * row-major, so the result depends only on the RNG state. Two independent
 * views are two calls with the same generator.
 * @param[out] out n x d outputs; may equal @p x (in place).
 * @param[in]  x   n x d inputs.
 * @param      n   rows, >= 0.
 * @param      d   features, >= 0.
 * @param      p   masking probability in [0, 1].
 * @param      rng the generator (advanced by n*d draws).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_augment_mask(float *out, const float *x, int n, int d, float p, mlcl_rng *rng);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_AUGMENT_H */

/* MoCo functions the other layers of the library call (the trainer): no
 * struct layout, not part of the public API. Internal. */
#ifndef MLCL_CL_MOCO_LIB_H
#define MLCL_CL_MOCO_LIB_H
#include "mlcl/moco.h"
#include "core/internal.h"

/* mlcl_moco_step on views given as CSR rows: rows ptr[0..n] of (col, v0) are
 * the query view, of (col, v1) the key view (the mask views of
 * mlcl__csr_mask_rows keep the structure, so they share ptr and col). The
 * backbones run mlcl_encoder_forward_csr (their first layer must be a
 * Linear); everything else is the dense step. Single process only. */
MLCL_INTERNAL int mlcl__moco_step_csr(mlcl_moco *mc, int n, const int64_t *ptr, const int *col, const float *v0,
                                      const float *v1, const uint64_t *y, mlcl_loss_parts *parts);

/* Adds the memory the pair built from `o` will need to `e` (hdim: h's width;
 * backbone_np: parameters of a caller's backbone, 0 for the MLP of o). */
MLCL_INTERNAL void mlcl__moco_estimate(const mlcl_moco_options *o, int hdim, size_t backbone_np, mlcl__mem_est *e);
#endif

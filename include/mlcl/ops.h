/**
 * @file
 * libmlcl — ops.h: stand-alone activation kernels over row-major batches
 * (softmax, sigmoid, L2 normalisation) with their backward passes. Stateless
 * and thread-safe. Arguments: outputs first, then inputs, then sizes (as
 * memcpy). The loss kernel mlcl_bce_with_logits() is in loss.h.
 */
#ifndef MLCL_OPS_H
#define MLCL_OPS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Row softmax: prob_ij = exp(l_ij - max_i) / sum_k exp(l_ik - max_i).
 * In place (prob == logits) is allowed.
 * @param[out] prob n x c.
 * @param[in] logits n x c, finite.
 * @param n rows, > 0.
 * @param c columns, > 0.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_softmax_forward(float *prob, const float *logits, int n, int c);

/**
 * Softmax backward: grad_logits_ij += p_ij (g_ij - sum_k g_ik p_ik).
 * @param[in,out] grad_logits n x c, ACCUMULATED into.
 * @param[in] prob n x c, the output of mlcl_softmax_forward().
 * @param[in] grad_prob n x c gradient w.r.t. prob.
 * @param n rows, > 0.
 * @param c columns, > 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_softmax_backward(float *grad_logits, const float *prob, const float *grad_prob, int n, int c);

/**
 * Logistic sigmoid, elementwise and stable: 1/(1+exp(-x)). In place allowed.
 * @param[out] out @p n values.
 * @param[in] x @p n values.
 * @param n elements.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_sigmoid(float *out, const float *x, size_t n);

/**
 * Row L2 normalisation: out_i = x_i / max(||x_i||, 1e-12).
 * @param[out] out n x m (may equal x).
 * @param[out] norms_out NULL, or n floats receiving ||x_i|| (needed by backward).
 * @param[in] x n x m.
 * @param n rows, > 0.
 * @param m columns, > 0.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_l2norm_forward(float *out, float *norms_out, const float *x, int n, int m);

/**
 * L2 normalisation backward: grad_x_i += (g_i - out_i (out_i . g_i)) / ||x_i||
 * (or g_i / 1e-12 where ||x_i|| <= 1e-12).
 * @param[in,out] grad_x n x m, ACCUMULATED into.
 * @param[in] out n x m, the output of mlcl_l2norm_forward().
 * @param[in] norms n norms from mlcl_l2norm_forward().
 * @param[in] grad_out n x m gradient w.r.t. out.
 * @param n rows, > 0.
 * @param m columns, > 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_l2norm_backward(float *grad_x, const float *out, const float *norms, const float *grad_out,
                                  int n, int m);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_OPS_H */

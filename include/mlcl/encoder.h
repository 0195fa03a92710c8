/**
 * @file
 * libmlcl — encoder.h: the encoder handle, a sequential network over
 * row-major batches, with its layers' forward/backward and its accessors.
 * Ready-made architectures (MLP, ResNet) are in models.h; stand-alone
 * activation kernels in ops.h.
 *
 * Data are row-major float batches: a batch of n rows of width w is n*w
 * contiguous floats, row i at offset i*w.
 *
 * An encoder (mlcl_encoder) is a list of layers applied in order. Its
 * parameters live in ONE contiguous float buffer, its parameter gradients in
 * a second buffer with the same layout, and its non-trained buffers
 * (BatchNorm running statistics) in a third "state" buffer.
 *
 * Parameter layout (the order of mlcl_encoder_params_ptr() and of
 * mlcl_encoder_get_params()/set_params()): for each layer in the order it was
 * added,
 *   - Linear(in, out): the weight, out x in row-major (PyTorch's
 *     nn.Linear.weight layout: element (o, i) at offset o*in + i), then the
 *     bias (out floats) when the layer has one;
 *   - BatchNorm1d(w): gamma (w floats), then beta (w floats);
 *   - ReLU, Dropout, L2 norm, Softmax: nothing.
 * State layout (mlcl_encoder_get_state()/set_state()): for each BatchNorm1d
 * layer in order, running_mean (w floats) then running_var (w floats).
 * (PyTorch's num_batches_tracked is not kept: it is only used when
 * momentum is None, which this library does not offer.)
 *
 * Thread-safety: one encoder must not be used by two threads at once;
 * distinct encoders may be used concurrently.
 *
 * Naming of the accessors: every getter returns an MLCL_* status and writes
 * its result through an out-parameter. `_ptr` borrows a buffer of the
 * encoder (mlcl_encoder_params_ptr(), mlcl_encoder_grads_ptr()); `get_`
 * copies out into the caller's buffer and `set_` copies in
 * (mlcl_encoder_get_params(), mlcl_encoder_set_state(), ...).
 */
#ifndef MLCL_ENCODER_H
#define MLCL_ENCODER_H

#include "core.h"
#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque sequential network (see the file comment for its layout). */
typedef struct mlcl_encoder mlcl_encoder;

/** Version of mlcl_encoder_options understood by this library. */
#define MLCL_ENCODER_OPTIONS_VERSION 1

/** Options for mlcl_encoder_create() and the builders of models.h. */
typedef struct mlcl_encoder_options {
    unsigned int version; /**< MLCL_ENCODER_OPTIONS_VERSION */
    int max_batch;        /**< rows the workspaces are sized for (default 256);
                               a larger n in forward grows them once */
    uint64_t seed;        /**< seeds the weight initialisation and the dropout
                               masks (default 0) */
} mlcl_encoder_options;

/** Static initialiser with the defaults of mlcl_encoder_options. */
#define MLCL_ENCODER_OPTIONS_INIT { MLCL_ENCODER_OPTIONS_VERSION, 256, 0 }

/**
 * Fills @p opts with the defaults (the same bytes as MLCL_ENCODER_OPTIONS_INIT).
 * @param[out] opts the options to fill.
 * @param version must be MLCL_ENCODER_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_encoder_options_init(mlcl_encoder_options *opts, unsigned int version);

/**
 * Creates an empty encoder (the identity) taking rows of width @p in_dim.
 * Add layers with mlcl_encoder_add_*(). The encoder starts in training mode.
 * @param[out] out the new encoder; free it with mlcl_encoder_free().
 * @param in_dim input width, > 0.
 * @param opts options, or NULL for the defaults.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_create(mlcl_encoder **out, int in_dim, const mlcl_encoder_options *opts);

/** Frees an encoder; NULL is a no-op. Pointers borrowed from it become invalid. */
MLCL_API void mlcl_encoder_free(mlcl_encoder *e);

/**
 * Appends Linear(out_dim(e), @p out_dim): y = x W^T + b. W and b are
 * initialised as PyTorch's nn.Linear (uniform in +-1/sqrt(fan_in)) from the
 * encoder's seeded initialisation stream.
 * Adding a layer re-allocates the parameter, gradient and state buffers:
 * pointers from mlcl_encoder_params_ptr()/grads() become invalid.
 * @param e the encoder.
 * @param out_dim output width, > 0.
 * @param bias 1 for a bias vector, 0 for none.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_add_linear(mlcl_encoder *e, int out_dim, int bias);

/**
 * Appends ReLU: y = max(x, 0) (gradient 0 at x = 0, as PyTorch).
 * @param e the encoder.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_add_relu(mlcl_encoder *e);

/**
 * Appends Dropout(@p p): in training each element is kept with probability
 * 1-p and scaled by 1/(1-p); in evaluation it is the identity. Masks come
 * from the encoder's seeded dropout stream (one uniform draw per element, in
 * row-major order, when p > 0), so they depend on the seed and on the calls
 * made, not on the thread count.
 * @param e the encoder.
 * @param p drop probability in [0, 1).
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_add_dropout(mlcl_encoder *e, float p);

/**
 * Appends BatchNorm1d over the current width (PyTorch semantics): in training
 * y = gamma (x - mean) / sqrt(var + eps) + beta with the batch mean and
 * biased variance, and running_x = (1 - momentum) running_x + momentum
 * batch_x with the unbiased variance for running_var; in evaluation the
 * running statistics are used. gamma = 1, beta = 0, running_mean = 0,
 * running_var = 1 at creation. A training forward with n = 1 fails with
 * MLCL_EINVAL (as PyTorch).
 * @param e the encoder.
 * @param eps > 0 (PyTorch's default 1e-5).
 * @param momentum in [0, 1] (PyTorch's default 0.1).
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_add_batchnorm(mlcl_encoder *e, float eps, float momentum);

/**
 * Appends row L2 normalisation: y = x / max(||x||_2, 1e-12)
 * (torch.nn.functional.normalize).
 * @param e the encoder.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_add_l2norm(mlcl_encoder *e);

/**
 * Appends a row softmax: y_j = exp(x_j) / sum_k exp(x_k), computed stably.
 * @param e the encoder.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_add_softmax(mlcl_encoder *e);

/**
 * Runs the network on @p n rows. The input is copied and every intermediate
 * result that backward needs is cached in the encoder, so @p x may be reused
 * at once. No allocation happens unless n exceeds every n seen before (and
 * the max_batch option).
 * In training mode dropout draws masks and BatchNorm uses and updates the
 * batch statistics.
 * @param e the encoder.
 * @param n rows, > 0 (> 1 in training mode when the encoder has a BatchNorm).
 * @param[in] x n x in_dim inputs (must be finite).
 * @param[out] out n x out_dim outputs (overwritten).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENUMERIC (non-finite input) or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_forward(mlcl_encoder *e, int n, const float *x, float *out);

/**
 * As mlcl_encoder_forward(), for a sparse input in CSR (compressed sparse
 * rows): the first layer, which must be a Linear, computes y = x W^T + b as
 * a sparse x dense product over the stored entries only (O(out x nnz), no
 * n x in_dim buffer), then the other layers run as usual. The CSR is checked
 * and copied, so it may be reused at once. The next mlcl_encoder_backward()
 * accumulates the first layer's weight gradient only in the columns present
 * and takes no input gradient (grad_in must be NULL).
 * Results equal mlcl_encoder_forward() on the densified rows up to float
 * rounding (the sums run in another order).
 *
 * @param e       the encoder (first layer Linear).
 * @param n       rows, > 0.
 * @param[in] row_ptr n + 1 offsets into cols/vals, non-decreasing (row_ptr[0]
 *                may be > 0: a slice of a larger CSR).
 * @param[in] cols    column indices in [0, in_dim), strictly increasing within a row.
 * @param[in] vals    finite values.
 * @param[out] out    n x out_dim outputs.
 * @return MLCL_OK, MLCL_EINVAL (no Linear first layer, a bad offset or
 *         column, named), MLCL_ENUMERIC (a non-finite value), MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_forward_csr(mlcl_encoder *e, int n, const int64_t *row_ptr, const int *cols,
                                      const float *vals, float *out);

/**
 * Back-propagates @p grad_out through the last forward pass. Parameter
 * gradients are ACCUMULATED into the gradient buffer (clear it with
 * mlcl_encoder_zero_grad()); the input gradient is OVERWRITTEN.
 * May be called several times after one forward (each call accumulates).
 * @param e the encoder.
 * @param n rows: must equal the n of the last forward.
 * @param[in] grad_out n x out_dim gradient of the loss w.r.t. the outputs (finite).
 * @param[out] grad_in n x in_dim gradient w.r.t. the inputs, or NULL when not wanted
 *                     (must be NULL after mlcl_encoder_forward_csr()).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENUMERIC or MLCL_ESTATE (no forward yet,
 *         or a different n, or layers added since).
 */
MLCL_API int mlcl_encoder_backward(mlcl_encoder *e, int n, const float *grad_out, float *grad_in);

/**
 * Sets every parameter gradient to zero.
 * @param e the encoder.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_zero_grad(mlcl_encoder *e);

/**
 * Sets the threads this encoder's forward and backward passes use (the
 * fork-join of its Linear backward and sparse first layer), for this handle
 * only; 0 (the initial value) follows the count in force: the enclosing
 * handle's (a MoCo pair or trainer) or mlcl_set_num_threads()'s default.
 * A residual network's oneDNN primitives take the count in force when it is
 * built. Results do not depend on the count.
 * @param e the encoder.
 * @param n 0, or 1..1024 (a count above the CPUs available is lowered to it).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_set_threads(mlcl_encoder *e, int n);

/**
 * The count set by mlcl_encoder_set_threads() (0: the count in force).
 * @param e the encoder.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_get_threads(const mlcl_encoder *e, int *n);

/**
 * Switches between training (1: dropout active, BatchNorm batch statistics)
 * and evaluation (0: dropout off, BatchNorm running statistics).
 * @param e the encoder.
 * @param training 1 or 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_set_training(mlcl_encoder *e, int training);

/**
 * Reads the mode set by mlcl_encoder_set_training().
 * @param e the encoder.
 * @param[out] training 1 in training mode, 0 in evaluation mode.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_get_training(const mlcl_encoder *e, int *training);

/**
 * The input width.
 * @param e the encoder.
 * @param[out] dim the width.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_in_dim(const mlcl_encoder *e, int *dim);

/**
 * The output width (the input width when the encoder has no layer).
 * @param e the encoder.
 * @param[out] dim the width.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_out_dim(const mlcl_encoder *e, int *dim);

/**
 * The number of layers added so far.
 * @param e the encoder.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_num_layers(const mlcl_encoder *e, int *n);

/**
 * The number of parameter floats (see the layout in the file comment).
 * @param e the encoder.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_param_count(const mlcl_encoder *e, size_t *n);

/**
 * Borrows the parameter buffer (writable, so optimisers and the momentum
 * update can work in place). Valid until a layer is added or the encoder is
 * freed. *p is NULL when the encoder has no parameter.
 * @param e the encoder.
 * @param[out] p the buffer of mlcl_encoder_param_count() floats.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_params_ptr(mlcl_encoder *e, float **p);

/**
 * Borrows the gradient buffer (same layout and lifetime as mlcl_encoder_params_ptr()).
 * @param e the encoder.
 * @param[out] g the buffer of mlcl_encoder_param_count() floats.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_grads_ptr(mlcl_encoder *e, float **g);

/**
 * Copies the parameters out.
 * @param e the encoder.
 * @param[out] dst @p n floats.
 * @param n must equal mlcl_encoder_param_count().
 * @return MLCL_OK or MLCL_EINVAL (size mismatch names both sizes).
 */
MLCL_API int mlcl_encoder_get_params(const mlcl_encoder *e, float *dst, size_t n);

/**
 * Replaces the parameters.
 * @param e the encoder.
 * @param[in] src @p n floats, finite.
 * @param n must equal mlcl_encoder_param_count().
 * @return MLCL_OK, MLCL_EINVAL (size mismatch names both sizes) or
 *         MLCL_ENUMERIC (nothing is changed).
 */
MLCL_API int mlcl_encoder_set_params(mlcl_encoder *e, const float *src, size_t n);

/**
 * The number of state floats (BatchNorm running statistics).
 * @param e the encoder.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_state_count(const mlcl_encoder *e, size_t *n);

/**
 * Copies the state (running_mean, running_var of each BatchNorm) out.
 * @param e the encoder.
 * @param[out] dst @p n floats.
 * @param n must equal mlcl_encoder_state_count().
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_get_state(const mlcl_encoder *e, float *dst, size_t n);

/**
 * Replaces the state.
 * @param e the encoder.
 * @param[in] src @p n finite floats (running variances must be >= 0).
 * @param n must equal mlcl_encoder_state_count().
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC (nothing is changed).
 */
MLCL_API int mlcl_encoder_set_state(mlcl_encoder *e, const float *src, size_t n);

/**
 * Copies the parameters (not the state) of @p src into @p dst. The two must
 * have the same layers with the same widths.
 * @param dst the encoder written.
 * @param src the encoder read.
 * @return MLCL_OK or MLCL_EINVAL (shape mismatch, with the first difference).
 */
MLCL_API int mlcl_encoder_copy_params(mlcl_encoder *dst, const mlcl_encoder *src);

/**
 * MoCo's momentum update over the parameters only (not the BatchNorm state):
 * theta_k = m theta_k + (1 - m) theta_q. Shapes as mlcl_encoder_copy_params().
 * @param key the key (momentum) encoder, updated.
 * @param query the query encoder, read.
 * @param m momentum in [0, 1] (MATH.md: 0.999).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_momentum_update(mlcl_encoder *key, const mlcl_encoder *query, float m);

/**
 * The dropout generator state (for checkpoints, or to replay a mask).
 * @param e the encoder.
 * @param[out] state 2 words: the PCG state and increment.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_get_rng_state(const mlcl_encoder *e, uint64_t state[2]);

/**
 * Restores a dropout generator state from mlcl_encoder_get_rng_state().
 * @param e the encoder.
 * @param[in] state 2 words; the increment (state[1]) must be odd.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_set_rng_state(mlcl_encoder *e, const uint64_t state[2]);

/**
 * Makes @p out an independent copy of @p src: the same layers (including a
 * residual network), parameters, gradients, state, mode and generator states.
 * @param[out] out the new encoder; free it with mlcl_encoder_free().
 * @param src the encoder to copy.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_clone(mlcl_encoder **out, const mlcl_encoder *src);


/**
 * Synchronised BatchNorm1d: in training mode every BatchNorm1d layer of
 * @p encoder normalises with the mean and variance of the rows of all ranks
 * (sums all-reduced in forward; sum(g) and sum(g xhat) in backward), so the
 * running statistics stay identical on every rank. Dropout layers draw the
 * masks of the rows this rank holds within the global batch when the caller
 * (mlcl_moco_step, the trainer) has told the encoder its row offset; the
 * parameter gradients stay local (average them yourself, or let the MoCo
 * step / the trainer do it).
 * @param encoder the encoder.
 * @param comm the communicator (copied), or NULL to go back to single-process.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_encoder_set_comm(mlcl_encoder *encoder, const mlcl_comm *comm);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_ENCODER_H */

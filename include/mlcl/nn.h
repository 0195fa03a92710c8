/**
 * @file
 * libmlcl — nn.h: sequential networks over row-major batches (encoders),
 * their layers with forward/backward, and stand-alone activation and loss
 * kernels (softmax, sigmoid, binary cross-entropy with logits, L2 norm).
 *
 * Data are row-major float batches: a batch of n rows of width w is n*w
 * contiguous floats, row i at offset i*w.
 *
 * An encoder (mlcl_encoder) is a list of layers applied in order. Its
 * parameters live in ONE contiguous float buffer, its parameter gradients in
 * a second buffer with the same layout, and its non-trained buffers
 * (BatchNorm running statistics) in a third "state" buffer.
 *
 * Parameter layout (the order of mlcl_encoder_params() and of
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
 */
#ifndef MLCL_NN_H
#define MLCL_NN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque sequential network (see the file comment for its layout). */
typedef struct mlcl_encoder mlcl_encoder;

/** Version of mlcl_encoder_options understood by this library. */
#define MLCL_ENCODER_OPTIONS_VERSION 1

/** Options for mlcl_encoder_create() and mlcl_encoder_create_mlp(). */
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

/** The most hidden layers an mlcl_mlp_spec can describe. */
#define MLCL_MLP_MAX_HIDDEN 8

/** What mlcl_encoder_create_mlp() appends after the optional output Linear. */
typedef enum mlcl_mlp_out {
    MLCL_MLP_OUT_NONE = 0,    /**< nothing */
    MLCL_MLP_OUT_L2NORM = 1,  /**< row L2 normalisation */
    MLCL_MLP_OUT_SOFTMAX = 2  /**< row softmax */
} mlcl_mlp_out;

/** Version of mlcl_mlp_spec understood by this library. */
#define MLCL_MLP_SPEC_VERSION 1

/**
 * A multi-layer perceptron. mlcl_encoder_create_mlp() builds, for each hidden
 * width h: Linear(prev, h) [-BatchNorm1d(h) if batchnorm] -ReLU [-Dropout(dropout)
 * if dropout > 0]; then Linear(prev, out_dim) if out_dim > 0; then out_act.
 *
 * The defaults are MATH.md's backbone for vector data,
 * Linear(in,256)-ReLU-Dropout(0.2)-Linear(256,512)-ReLU-Dropout(0.2)-Linear(512,256)-ReLU-Dropout(0.2).
 * The projection head is {in_dim 256, n_hidden 1, hidden {256}, dropout 0.1,
 * batchnorm 1, out_dim 256, out_act MLCL_MLP_OUT_L2NORM}; the LD head is
 * {in_dim 256, n_hidden 0, out_dim c, out_act MLCL_MLP_OUT_SOFTMAX}.
 */
typedef struct mlcl_mlp_spec {
    unsigned int version;            /**< MLCL_MLP_SPEC_VERSION */
    int in_dim;                      /**< input width (> 0; default 0: must be set) */
    int n_hidden;                    /**< hidden layers, 0..MLCL_MLP_MAX_HIDDEN (default 3) */
    int hidden[MLCL_MLP_MAX_HIDDEN]; /**< widths (default 256, 512, 256) */
    float dropout;                   /**< dropout after each hidden ReLU, [0,1) (default 0.2) */
    int batchnorm;                   /**< 1: BatchNorm1d(eps 1e-5, momentum 0.1) after each hidden Linear (default 0) */
    int out_dim;                     /**< > 0: a final Linear(prev, out_dim) with bias (default 0: none) */
    int out_act;                     /**< an mlcl_mlp_out (default MLCL_MLP_OUT_NONE) */
} mlcl_mlp_spec;

/** Static initialiser with the defaults of mlcl_mlp_spec. */
#define MLCL_MLP_SPEC_INIT \
    { MLCL_MLP_SPEC_VERSION, 0, 3, { 256, 512, 256, 0, 0, 0, 0, 0 }, 0.2f, 0, 0, MLCL_MLP_OUT_NONE }

/**
 * Fills @p spec with the defaults (the same bytes as MLCL_MLP_SPEC_INIT).
 * @param[out] spec the spec to fill.
 * @param version must be MLCL_MLP_SPEC_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_mlp_spec_init(mlcl_mlp_spec *spec, unsigned int version);

/**
 * Creates an empty encoder (the identity) taking rows of width @p in_dim.
 * Add layers with mlcl_encoder_add_*(). The encoder starts in training mode.
 * @param[out] out the new encoder; free it with mlcl_encoder_free().
 * @param in_dim input width, > 0.
 * @param opts options, or NULL for the defaults.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_create(mlcl_encoder **out, int in_dim, const mlcl_encoder_options *opts);

/**
 * Creates the MLP described by @p spec (see mlcl_mlp_spec).
 * @param[out] out the new encoder; free it with mlcl_encoder_free().
 * @param spec the architecture.
 * @param opts options, or NULL for the defaults.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_create_mlp(mlcl_encoder **out, const mlcl_mlp_spec *spec,
                                     const mlcl_encoder_options *opts);

/** Frees an encoder; NULL is a no-op. Pointers borrowed from it become invalid. */
MLCL_API void mlcl_encoder_free(mlcl_encoder *e);

/**
 * Appends Linear(out_dim(e), @p out_dim): y = x W^T + b. W and b are
 * initialised as PyTorch's nn.Linear (uniform in +-1/sqrt(fan_in)) from the
 * encoder's seeded initialisation stream.
 * Adding a layer re-allocates the parameter, gradient and state buffers:
 * pointers from mlcl_encoder_params()/grads() become invalid.
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
MLCL_API int mlcl_encoder_params(mlcl_encoder *e, float **p);

/**
 * Borrows the gradient buffer (same layout and lifetime as mlcl_encoder_params()).
 * @param e the encoder.
 * @param[out] g the buffer of mlcl_encoder_param_count() floats.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_encoder_grads(mlcl_encoder *e, float **g);

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

/* ------------------------------------------------------------------------ */
/* Residual convolutional networks (oneDNN).                                 */
/* ------------------------------------------------------------------------ */

/** Stems of mlcl_resnet_spec. */
typedef enum mlcl_resnet_stem {
    /** torchvision's: conv 7x7 stride 2 pad 3 (no bias), BN, ReLU, max-pool 3x3 stride 2 pad 1 */
    MLCL_RESNET_STEM_IMAGENET = 0,
    /** for 28-64 px inputs: conv 3x3 stride 1 pad 1 (no bias), BN, ReLU, no max-pool */
    MLCL_RESNET_STEM_SMALL = 1
} mlcl_resnet_stem;

/** Version of mlcl_resnet_spec understood by this library. */
#define MLCL_RESNET_SPEC_VERSION 1

/**
 * A ResNet (He et al. 2016) in torchvision's layout, without its final fc
 * layer: stem, four stages of basic blocks (depth 18: 2-2-2-2, 34: 3-4-6-3)
 * or bottleneck blocks (50: 3-4-6-3, expansion 4, stride on the 3x3 conv as
 * torchvision v1.5), each stage after the first halving the resolution, then
 * global average pooling. Output width: 8 base_width (basic) or
 * 32 base_width (bottleneck), i.e. 512 / 2048 with the default base_width 64.
 *
 * Input rows are images of in_channels x height x width floats in C order
 * (CHW; a batch is NCHW), so the encoder's in_dim is their product.
 *
 * Parameter order (mlcl_encoder_params()): exactly the order of
 * torchvision.models.resnetNN().named_parameters() with fc.* removed, i.e.
 * conv1.weight, bn1.weight, bn1.bias, then for each stage s = 1..4 and block
 * b: conv1.weight, bn1.weight, bn1.bias, conv2.weight, bn2.weight, bn2.bias,
 * [conv3.weight, bn3.weight, bn3.bias for bottlenecks], [downsample.0.weight,
 * downsample.1.weight, downsample.1.bias when the block changes shape]. Conv
 * weights are OIHW (out, in, kh, kw) row-major, as PyTorch stores them; no
 * convolution has a bias. State order: for each BatchNorm in the same order,
 * running_mean then running_var. So a state_dict exported from PyTorch as flat
 * float32 arrays in this order loads with mlcl_encoder_set_params() and
 * mlcl_encoder_set_state().
 *
 * Initialisation (torchvision): conv weights Kaiming-normal (fan_out, ReLU
 * gain, std = sqrt(2 / (out kh kw))) from the encoder's seeded initialisation
 * stream; BN gamma 1, beta 0 (gamma 0 on each block's last BN when
 * zero_init_residual); running mean 0, var 1.
 */
typedef struct mlcl_resnet_spec {
    unsigned int version; /**< MLCL_RESNET_SPEC_VERSION */
    int depth;            /**< 18, 34 or 50 (default 18) */
    int stem;             /**< an mlcl_resnet_stem (default MLCL_RESNET_STEM_SMALL) */
    int in_channels;      /**< image channels, > 0 (default 3) */
    int height;           /**< input height in pixels, > 0 (default 32) */
    int width;            /**< input width in pixels, > 0 (default 32) */
    int base_width;       /**< channels of the first stage, > 0 (default 64 = torchvision) */
    float bn_eps;         /**< BatchNorm2d eps (1e-5) */
    float bn_momentum;    /**< BatchNorm2d momentum (0.1, PyTorch's convention) */
    int zero_init_residual; /**< 1: last BN of each block starts with gamma 0 (default 0) */
} mlcl_resnet_spec;

/** Static initialiser with the defaults of mlcl_resnet_spec. */
#define MLCL_RESNET_SPEC_INIT \
    { MLCL_RESNET_SPEC_VERSION, 18, MLCL_RESNET_STEM_SMALL, 3, 32, 32, 64, 1e-5f, 0.1f, 0 }

/**
 * Fills @p spec with the defaults (the same bytes as MLCL_RESNET_SPEC_INIT).
 * @param[out] spec the spec to fill.
 * @param version must be MLCL_RESNET_SPEC_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_resnet_spec_init(mlcl_resnet_spec *spec, unsigned int version);

/**
 * Creates an encoder holding the residual network of @p spec; every
 * convolution, BatchNorm2d, pooling and ReLU runs on oneDNN (CPU engine),
 * activations stay in oneDNN's blocked formats inside the network. Further
 * layers (mlcl_encoder_add_linear() etc.) may be appended after it. The
 * encoder API (forward, backward, params, state, training mode, clone,
 * momentum update) is the same as for an MLP.
 * @param[out] out the new encoder; free it with mlcl_encoder_free().
 * @param spec the architecture.
 * @param opts options, or NULL for the defaults. The oneDNN primitives and
 *             buffers are made at the first forward with a given batch size
 *             and kept for the two most recent sizes (so a full batch and a
 *             smaller last batch are each built once); max_batch only sizes
 *             the encoder's row caches.
 * @return MLCL_OK, MLCL_EINVAL (spec out of range, with the field named),
 *         MLCL_EVERSION, MLCL_ENOMEM, or MLCL_EBACKEND when oneDNN fails
 *         (its status named in the message).
 */
MLCL_API int mlcl_encoder_create_resnet(mlcl_encoder **out, const mlcl_resnet_spec *spec,
                                        const mlcl_encoder_options *opts);

/* ------------------------------------------------------------------------ */
/* Stand-alone kernels (row-major, n rows of width c or m).                  */

/**
 * Row softmax: prob_ij = exp(l_ij - max_i) / sum_k exp(l_ik - max_i).
 * In place (prob == logits) is allowed.
 * @param n rows, > 0.
 * @param c columns, > 0.
 * @param[in] logits n x c, finite.
 * @param[out] prob n x c.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_softmax_forward(int n, int c, const float *logits, float *prob);

/**
 * Softmax backward: grad_logits_ij += p_ij (g_ij - sum_k g_ik p_ik).
 * @param n rows, > 0.
 * @param c columns, > 0.
 * @param[in] prob n x c, the output of mlcl_softmax_forward().
 * @param[in] grad_prob n x c gradient w.r.t. prob.
 * @param[in,out] grad_logits n x c, ACCUMULATED into.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_softmax_backward(int n, int c, const float *prob, const float *grad_prob,
                                   float *grad_logits);

/**
 * Binary cross-entropy with logits, mean over the n*c elements (PyTorch's
 * default reduction): loss = mean(max(x,0) - x t + log1p(exp(-|x|))).
 * @param n rows, > 0.
 * @param c columns, > 0.
 * @param[in] logits n x c, finite.
 * @param[in] targets n x c, in [0, 1].
 * @param[out] loss the mean loss.
 * @param[in,out] grad_logits NULL, or n x c ACCUMULATED with (sigmoid(x) - t) / (n c).
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_bce_with_logits(int n, int c, const float *logits, const float *targets,
                                  float *loss, float *grad_logits);

/**
 * Logistic sigmoid, elementwise and stable: 1/(1+exp(-x)). In place allowed.
 * @param n elements.
 * @param[in] x @p n values.
 * @param[out] out @p n values.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_sigmoid(size_t n, const float *x, float *out);

/**
 * Row L2 normalisation: out_i = x_i / max(||x_i||, 1e-12).
 * @param n rows, > 0.
 * @param m columns, > 0.
 * @param[in] x n x m.
 * @param[out] out n x m (may equal x).
 * @param[out] norms_out NULL, or n floats receiving ||x_i|| (needed by backward).
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_l2norm_forward(int n, int m, const float *x, float *out, float *norms_out);

/**
 * L2 normalisation backward: grad_x_i += (g_i - out_i (out_i . g_i)) / ||x_i||
 * (or g_i / 1e-12 where ||x_i|| <= 1e-12).
 * @param n rows, > 0.
 * @param m columns, > 0.
 * @param[in] out n x m, the output of mlcl_l2norm_forward().
 * @param[in] norms n norms from mlcl_l2norm_forward().
 * @param[in] grad_out n x m gradient w.r.t. out.
 * @param[in,out] grad_x n x m, ACCUMULATED into.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_l2norm_backward(int n, int m, const float *out, const float *norms,
                                  const float *grad_out, float *grad_x);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_NN_H */

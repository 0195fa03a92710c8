/**
 * @file
 * libmlcl — models.h: ready-made encoder architectures. An MLP
 * (mlcl_mlp_spec, mlcl_encoder_create_mlp()) and a residual convolutional
 * network (mlcl_resnet_spec, mlcl_encoder_create_resnet(), on oneDNN). Both
 * return an ordinary mlcl_encoder (encoder.h).
 */
#ifndef MLCL_MODELS_H
#define MLCL_MODELS_H

#include "encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * Creates the MLP described by @p spec (see mlcl_mlp_spec).
 * @param[out] out the new encoder; free it with mlcl_encoder_free().
 * @param spec the architecture.
 * @param opts options, or NULL for the defaults.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION or MLCL_ENOMEM.
 */
MLCL_API int mlcl_encoder_create_mlp(mlcl_encoder **out, const mlcl_mlp_spec *spec,
                                     const mlcl_encoder_options *opts);

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
 * Parameter order (mlcl_encoder_params_ptr()): exactly the order of
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


#ifdef __cplusplus
}
#endif

#endif /* MLCL_MODELS_H */

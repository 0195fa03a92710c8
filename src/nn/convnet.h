/* Internal: convolutional networks: conv2d, BatchNorm2d (+ fused ReLU), max/average
 * pooling, global average pooling and residual add (+ ReLU), with forward
 * and backward. The encoder's ResNet layer (L_CONVNET in encoder.c) owns one.
 *
 * A net is a list of ops over tensors; tensor 0 is the input (c x h x w per
 * image), the output is the last tensor added. Every op's output is a new
 * tensor. Parameters and state live in the CALLER's flat buffers: the net
 * only knows offsets (layout: each op in the order added; conv: weight
 * OIHW = (oc, ic/groups, kh, kw) row-major, no bias; BN: gamma (c), beta (c);
 * state: BN running_mean (c), running_var (c)).
 *
 * The net is a graph description (src/kernels/dnn_ops.h); oneDNN primitives,
 * memories and buffers are made by src/kernels/dnn_*.c per batch size n (a
 * "plan") at the first forward with that n; the two most recent sizes are
 * cached here, so a trainer alternating a full batch and a smaller last batch
 * builds each once. oneDNN runs on the thread count given at create (see the
 * threads section of src/kernels/dnn_ops.c).
 */
#ifndef MLCL_NN_CONVNET_H
#define MLCL_NN_CONVNET_H
#include "core/internal.h"
#include "mlcl/models.h"
#include "kernels/dnn_ops.h"

typedef struct mlcl__convnet mlcl__convnet;

/* An empty net over input images c x h x w (tensor 0). threads <= 0: the count in force, mlcl__threads_current(). */
MLCL_INTERNAL int mlcl__convnet_create(mlcl__convnet **out, int c, int h, int w, int threads);
MLCL_INTERNAL void mlcl__convnet_free(mlcl__convnet *net);
/* Independent copy of the structure (plans are rebuilt at the next forward). */
MLCL_INTERNAL int mlcl__convnet_clone(mlcl__convnet **out, const mlcl__convnet *src);
/* 1 when a and b have the same ops and shapes. */
MLCL_INTERNAL int mlcl__convnet_same(const mlcl__convnet *a, const mlcl__convnet *b);

/* Builders: each appends one op reading tensor `in` (and `in2`) and stores
 * the id of its new output tensor in *out. dilation 1 = none. */
MLCL_INTERNAL int mlcl__convnet_conv(mlcl__convnet *net, int in, int oc, int kh, int kw, int sh, int sw,
                                     int ph, int pw, int dh, int dw, int groups, int *out);
/* BatchNorm2d (PyTorch semantics; relu = 1 fuses a ReLU after it; zero_init
 * = 1 makes mlcl__convnet_init set gamma to 0). */
MLCL_INTERNAL int mlcl__convnet_bn(mlcl__convnet *net, int in, float eps, float momentum, int relu,
                                   int zero_init, int *out);
/* Pooling (MLCL__POOL_*; PyTorch's AvgPool2d default count_include_pad = AVG_INCL). */
MLCL_INTERNAL int mlcl__convnet_pool(mlcl__convnet *net, int in, int kind, int kh, int kw, int sh, int sw,
                                     int ph, int pw, int *out);
/* Global average pooling to c x 1 x 1. */
MLCL_INTERNAL int mlcl__convnet_gap(mlcl__convnet *net, int in, int *out);
/* out = a + b (same shape), then ReLU when relu = 1. */
MLCL_INTERNAL int mlcl__convnet_add(mlcl__convnet *net, int a, int b, int relu, int *out);

/* The ResNet of models.h (spec already validated). */
MLCL_INTERNAL int mlcl__convnet_create_resnet(mlcl__convnet **out, const mlcl_resnet_spec *spec, int threads);

/* Widths: in = c*h*w of tensor 0, out = c*h*w of the last tensor. */
MLCL_INTERNAL void mlcl__convnet_dims(const mlcl__convnet *net, size_t *in_dim, size_t *out_dim);
MLCL_INTERNAL size_t mlcl__convnet_param_count(const mlcl__convnet *net);
MLCL_INTERNAL size_t mlcl__convnet_state_count(const mlcl__convnet *net);
/* torchvision init: conv Kaiming-normal (fan_out, relu gain), BN gamma 1
 * (0 when zero_init) beta 0, running mean 0 var 1. Draws in parameter order. */
MLCL_INTERNAL void mlcl__convnet_init(const mlcl__convnet *net, float *params, float *state, mlcl__pcg *rng);
/* Index (into state) of the first negative running variance, or -1. */
MLCL_INTERNAL long mlcl__convnet_bad_state(const mlcl__convnet *net, const float *state);

/* Forward of n images x (n x in_dim, NCHW) into y (n x out_dim, NCHW).
 * training: batch statistics + running-stat update in `state`; else the
 * running statistics. x must stay valid and unchanged until the backward
 * that follows (the first convolution's weight gradient reads it).
 * fn names the public function in error messages. */
MLCL_INTERNAL int mlcl__convnet_forward(mlcl__convnet *net, const char *fn, int n, int training,
                                        const float *params, float *state, const float *x, float *y);
/* Backward of the last forward (same n): grads += dL/dparams; dx (nullable)
 * = dL/dx (overwritten). */
MLCL_INTERNAL int mlcl__convnet_backward(mlcl__convnet *net, const char *fn, int n, const float *params,
                                         float *grads, const float *dy, float *dx);
/* The net's oneDNN thread count; threads <= 0: the library default
 * (mlcl__convnet_threads_default). Cached plans are dropped when it changes. */
MLCL_INTERNAL void mlcl__convnet_set_threads(mlcl__convnet *net, int threads);
MLCL_INTERNAL int mlcl__convnet_threads(const mlcl__convnet *net);
/* The one place where a net without an explicit count gets its default. */
MLCL_INTERNAL int mlcl__convnet_threads_default(void);
/* Number of plans built so far (tests: the per-n cache). */
MLCL_INTERNAL int mlcl__convnet_plans_built(const mlcl__convnet *net);
/* Number of plans whose backward primitives were built (at their first
 * backward; tests: a forward-only net builds none). */
MLCL_INTERNAL int mlcl__convnet_bwd_built(const mlcl__convnet *net);
#endif

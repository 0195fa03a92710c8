/* Internal: the oneDNN (v2.x C API, CPU engine) op layer under src/nn.
 *
 * src/nn/convnet.c describes a convolutional network as a graph (ops over
 * tensors, parameters at offsets in the caller's flat buffers: see
 * mlcl__cg_op); this layer turns that description into oneDNN primitives
 * and runs them. Nothing of oneDNN leaks out of src/kernels/dnn_*.c.
 *
 *   mlcl__dnn       engine, stream and the thread count of one owner
 *   mlcl__dnn_plan  the primitives, memories and buffers of one graph at one
 *                   batch size n (made once, reused by every call with that n)
 *
 * A plan holds a forward and a backward step list per mode (evaluation with
 * the running statistics, training with the batch statistics); the backward
 * half is built at the plan's first backward, so a net that only runs
 * forward never creates backward primitives or gradient buffers. Activations
 * stay in oneDNN's chosen (blocked) formats between ops; the input (NCHW
 * rows), the output (NCHW rows) and the OIHW weights/gradients are reordered
 * at the edges. Every primitive uses a user scratchpad in shared slots.
 *
 * Threads: see the "threads" section of dnn_ops.c, the only place that
 * talks to OpenMP. */
#ifndef MLCL_KERNELS_DNN_OPS_H
#define MLCL_KERNELS_DNN_OPS_H
#include "core/internal.h"

/* ---- the graph (no oneDNN type) */
enum { MLCL__CG_CONV, MLCL__CG_BN, MLCL__CG_POOL, MLCL__CG_ADD };
enum { MLCL__POOL_MAX = 0, MLCL__POOL_AVG_INCL = 1, MLCL__POOL_AVG_EXCL = 2 };
/* op names for messages, indexed by MLCL__CG_* */
extern MLCL_INTERNAL const char *const mlcl__cg_op_names[4];

typedef struct mlcl__cg_op {
    int type, in, in2, out;
    int oc, kh, kw, sh, sw, ph, pw, dh, dw, groups; /* conv; pool: kh..pw */
    int pool, relu, zero_init;                       /* pool: MLCL__POOL_*; BN/add: fused ReLU; BN: gamma 0 */
    float eps, momentum;                             /* BN */
    size_t poff, np, soff, ns;                       /* parameters / state: offset and count */
} mlcl__cg_op;

/* tensor c x h x w per image; producer: op index (-1 for the input); nuse: consumers */
typedef struct mlcl__cg_tensor { int c, h, w, producer, nuse; } mlcl__cg_tensor;

/* tensor 0 is the input, tensor nt-1 the output; ops in execution order */
typedef struct mlcl__cg_graph {
    int nt, nops;
    const mlcl__cg_tensor *t;
    const mlcl__cg_op *ops;
} mlcl__cg_graph;

/* ---- engine, stream, threads */
typedef struct mlcl__dnn mlcl__dnn;
/* threads >= 1: oneDNN's thread count for this owner's calls. fn names the
 * caller in error messages. */
MLCL_INTERNAL int mlcl__dnn_create(mlcl__dnn **out, int threads, const char *fn);
MLCL_INTERNAL void mlcl__dnn_free(mlcl__dnn *d);
MLCL_INTERNAL int mlcl__dnn_threads(const mlcl__dnn *d);
/* Changes the thread count (>= 1) of later plan builds and calls; plans built
 * before keep the count they were made for (batch normalisation fixes it at
 * creation): the owner must free and rebuild them (mlcl__convnet_set_threads). */
MLCL_INTERNAL void mlcl__dnn_set_threads(mlcl__dnn *d, int threads);

/* ---- plans */
typedef struct mlcl__dnn_plan mlcl__dnn_plan;
/* The primitives of g at batch size n (g's structure must not change while
 * the plan lives). */
MLCL_INTERNAL int mlcl__dnn_plan_build(mlcl__dnn *d, const mlcl__cg_graph *g, const char *fn, int n,
                                       mlcl__dnn_plan **out);
MLCL_INTERNAL void mlcl__dnn_plan_free(mlcl__dnn_plan *pl);
MLCL_INTERNAL int mlcl__dnn_plan_n(const mlcl__dnn_plan *pl);
/* 1 once the backward half of pl is built (at its first backward) */
MLCL_INTERNAL int mlcl__dnn_plan_bwd_built(const mlcl__dnn_plan *pl);

/* ---- execution (shapes as in the plan; buffers contiguous float rows) */
/* y = net(x) (n x out, NCHW). training: batch statistics, and the BN running
 * statistics in `state` are updated; else the running statistics are used.
 * x must stay valid and unchanged until the backward that follows. */
MLCL_INTERNAL int mlcl__dnn_forward(mlcl__dnn *d, const mlcl__cg_graph *g, mlcl__dnn_plan *pl, const char *fn,
                                    int training, const float *params, float *state, const float *x, float *y);
/* Backward of the last forward through pl (same mode): grads += dL/dparams,
 * dx (nullable) = dL/dx (overwritten). */
MLCL_INTERNAL int mlcl__dnn_backward(mlcl__dnn *d, const mlcl__cg_graph *g, mlcl__dnn_plan *pl, const char *fn,
                                     int training, const float *params, float *grads, const float *dy, float *dx);
#endif

/* Private to src/nn/encoder*.c and models.c: the encoder handle's layout.
 *   encoder.c       the container: create/free, layers, buffers, accessors, clone
 *   encoder_pass.c  forward and backward
 *   models.c        the MLP and ResNet builders */
#ifndef MLCL_NN_ENCODER_IMPL_H
#define MLCL_NN_ENCODER_IMPL_H
#include "nn_lib.h"
#include "kernels/pcgfill.h"
#include "mlcl/models.h"
#include "convnet.h"
#include "dist/comm_lib.h"

enum { L_LINEAR, L_RELU, L_DROPOUT, L_BN, L_L2NORM, L_SOFTMAX, L_CONVNET };
extern MLCL_INTERNAL const char *const mlcl__enc_layer_names[7];

/* Two independent PCG streams from one seed: initialisation and dropout, so
 * masks do not depend on how many weights were drawn. */
#define STREAM_INIT 0x696e6974ULL
#define STREAM_DROP 0x64726f70ULL

typedef struct nn_layer {
    int type, in, out, bias;
    float p, eps, momentum;
    size_t poff, np, soff, ns;
    float *y;     /* rows x out: the layer's output of the last forward */
    float *aux;   /* Dropout: mask (rows x out); BN: xhat (rows x out); L2: norms (rows) */
    float *invstd; /* BN: 1/sqrt(var+eps) used by the last forward (out) */
    int fwd_train; /* mode of the last forward */
    int fused;     /* ReLU: the last forward left its work to the Dropout after it (no output written) */
    mlcl__convnet *cn; /* L_CONVNET: the oneDNN network (convnet.h) */
    mlcl_resnet_spec rs; /* L_CONVNET: the spec it was built from (mlcl__encoder_layer_info) */
} nn_layer;

struct mlcl_encoder {
    int in_dim, out_dim, max_w;
    int nl, cap_l;
    nn_layer *L;
    float *params, *grads, *state;
    size_t np, ns;
    int max_batch;  /* requested workspace rows */
    int cap_n;      /* rows the row buffers hold now; 0 = to allocate */
    float *xin;     /* cap_xin x in_dim: copy of the last dense input */
    int cap_xin;    /* rows xin holds (allocated by the first dense forward) */
    /* the last sparse input (mlcl_encoder_forward_csr): CSR copy, layer 0 reads it */
    int last_sparse;
    int64_t *sp_ptr;
    int *sp_col;
    float *sp_val;
    size_t cap_sp_rows, cap_sp_nnz;
    float *gb[2];   /* cap_n x max_w: ping-pong gradient buffers */
    double *acc;    /* 2 x max_w + 1 column accumulators */
    int training;
    int par;        /* mlcl__encoder_set_par */
    int split;      /* mlcl__encoder_set_split */
    int threads;    /* mlcl_encoder_set_threads; 0: the enclosing/library count */
    int last_n;     /* n of the last forward, 0 when backward is not valid */
    mlcl__pcg init_rng, drop_rng;
    /* data-parallel (mlcl_encoder_set_comm): BatchNorm1d over all ranks' rows;
     * dropout draws skip the rows of the other ranks (mlcl__encoder_set_rows) */
    int has_comm;
    mlcl_comm comm;
    long long row_off, row_total; /* this rank's first row and the global rows; total 0 = off */
};

/* Appends a layer taking the current output width; np/ns floats of params/state. */
MLCL_INTERNAL int mlcl__enc_push_layer(mlcl_encoder *e, const char *fn, int type, int out, size_t np, size_t ns,
                                       nn_layer **lp);
/* Sizes every row-dependent buffer for max(n, max_batch) rows. */
MLCL_INTERNAL int mlcl__enc_ensure_rows(mlcl_encoder *e, int n);
MLCL_INTERNAL int mlcl__enc_alloc_f(float **p, size_t rows, size_t cols, const char *what);
#endif

/* The MoCo pair's layout, shared with the trainer. Internal. */
#ifndef MLCL_CL_MOCO_INTERNAL_H
#define MLCL_CL_MOCO_INTERNAL_H
#include <stdatomic.h>
#include "mlcl/moco.h"
#include "mlcl/comm.h"
#include "dist/comm_lib.h"
#include "core/internal.h"
#include "cl/moco_lib.h" /* mlcl__moco_step_csr, mlcl__moco_estimate */

/* The global batch of a step, gathered from the ranks (comm.size x max_batch
 * rows): keys, distributions, their gradients, labels; hs: the handshake
 * (n, status) of every rank. */
typedef struct mlcl__moco_gather {
    float *kg, *Dg, *grad_Dg;
    uint64_t *yg;
    long long *hs;
} mlcl__moco_gather;

enum { MOCO_ENC_Q = 0, MOCO_PROJ_Q = 1, MOCO_LD = 2, MOCO_ENC_K = 3, MOCO_PROJ_K = 4, MOCO_NETS = 5 };

struct mlcl_moco {
    mlcl__moco_conf o; /* the options as resolved at create (mlcl__moco_resolve) */
    mlcl_encoder *net[MOCO_NETS];
    mlcl_queue *queue;
    mlcl_loss *loss;
    mlcl_optim *optim;
    int in_dim, hdim, m, c, words, max_batch, use_ld;
    int parallel;   /* the branches may run on two threads (no caller's backbone) */
    int threads;    /* mlcl_moco_set_threads; 0: the enclosing/library count */
    long long steps;
    float momentum; /* of the key update (mlcl_moco_set_param) */
    /* workspaces, max_batch rows */
    float *h, *q, *k, *hk, *logits, *D, *grad_q, *grad_D, *grad_logits, *grad_h, *grad_h2;
    /* backups for rolling back a failed step: key parameters and every state */
    float *bak_params;  /* written by the step's momentum update (key encoder, then key head) */
    size_t bak_params_n;
    int bak_keys;       /* how many of the two key networks bak_params holds this step */
    float *bak_state;
    size_t bak_state_n;
    uint64_t bak_rng[MOCO_NETS][2]; /* dropout generator states */
    /* the communicator is always there: the caller's (mlcl_moco_set_comm,
     * has_comm) or the built-in single-rank one, with which the step is the
     * single-process step bit for bit */
    mlcl_comm comm;
    int has_comm;
    mlcl__moco_gather g;
    atomic_int busy;                /* 1 during mlcl_moco_step (MLCL_EBUSY) */
    /* during mlcl__moco_step_csr: the two views as CSR rows (one structure,
     * two value arrays), read by the backbones' sparse first layer */
    const int64_t *csr_ptr;
    const int *csr_col;
    const float *csr_v0, *csr_v1;
};

/* Rolls the key side and the running statistics back to before the step. */
MLCL_INTERNAL void mlcl__moco_backup(mlcl_moco *mc);
MLCL_INTERNAL void mlcl__moco_restore(mlcl_moco *mc);
/* The gather buffers for `ranks` ranks (all or nothing), and their release. */
MLCL_INTERNAL int mlcl__moco_gather_alloc(const mlcl_moco *mc, size_t ranks, mlcl__moco_gather *g, const char *fn);
MLCL_INTERNAL void mlcl__moco_gather_free(mlcl__moco_gather *g);
/* The communicator the caller installed (mlcl_moco_set_comm), or NULL. */
MLCL_INTERNAL const mlcl_comm *mlcl__moco_comm(const mlcl_moco *mc);
/* Sums the gradients of network i over the ranks and divides by their number. */
MLCL_INTERNAL int mlcl__moco_average_grads(mlcl_moco *mc, int i, const char *fn);
/* Broadcasts rank 0's parameters, BatchNorm statistics, dropout generators
 * and queue of the pair to all ranks (collective; no-op without a comm). */
MLCL_INTERNAL int mlcl__moco_bcast(mlcl_moco *mc, const char *fn);
#endif

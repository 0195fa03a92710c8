/* The MoCo pair's layout, shared with the trainer. Internal. */
#ifndef MLCL_CL_MOCO_INTERNAL_H
#define MLCL_CL_MOCO_INTERNAL_H
#include <stdatomic.h>
#include "mlcl/moco.h"
#include "core/internal.h"
#include "cl/moco_lib.h" /* mlcl__moco_step_csr, mlcl__moco_estimate */

enum { MOCO_ENC_Q = 0, MOCO_PROJ_Q = 1, MOCO_LD = 2, MOCO_ENC_K = 3, MOCO_PROJ_K = 4, MOCO_NETS = 5 };

struct mlcl_moco {
    mlcl__moco_conf o; /* the options as resolved at create (mlcl__moco_resolve) */
    mlcl_encoder *net[MOCO_NETS];
    mlcl_queue *queue;
    mlcl_loss *loss;
    mlcl_optim *optim;
    int in_dim, hdim, m, c, words, max_batch, use_ld;
    int parallel;   /* run the key branch on a second thread (>= 2 CPUs) */
    int blas_single; /* OpenBLAS single-threaded for the whole step */
    long long steps;
    /* workspaces, max_batch rows */
    float *h, *q, *k, *hk, *logits, *D, *grad_q, *grad_D, *grad_logits, *grad_h, *grad_h2;
    /* backups for rolling back a failed step: key parameters and every state */
    float *bak_params;
    size_t bak_params_n;
    float *bak_state;
    size_t bak_state_n;
    uint64_t bak_rng[MOCO_NETS][2]; /* dropout generator states */
    struct mlcl__moco_dist *dist;   /* data-parallel state (mlcl_moco_set_comm), NULL: single process */
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
/* Frees the data-parallel state (mlcl_moco_free). */
MLCL_INTERNAL void mlcl__moco_dist_free(struct mlcl__moco_dist *d);
/* The communicator of a data-parallel pair, or NULL. */
struct mlcl_comm;
MLCL_INTERNAL const struct mlcl_comm *mlcl__moco_comm(const mlcl_moco *mc);
/* Broadcasts rank 0's parameters, BatchNorm statistics, dropout generators
 * and queue of the pair to all ranks (collective; no-op without a comm). */
MLCL_INTERNAL int mlcl__moco_bcast(mlcl_moco *mc, const char *fn);
#endif

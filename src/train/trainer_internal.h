/* The trainer's state, shared by the files of src/train/ (trainer.c and the
 * model export). Not part of the public API. */
#ifndef MLCL_TRAINER_INTERNAL_H
#define MLCL_TRAINER_INTERNAL_H
#include "mlcl/train.h"
#include "cl/moco_internal.h"
#include "kernels/pcgfill.h"
#include "dist/comm_internal.h"

struct mlcl_trainer {
    mlcl_train_options o;
    int n, d, c, words, batch;
    float *x;            /* standardised copy of the training features */
    float *mean, *std;   /* d each */
    const uint8_t *y;    /* borrowed from the dataset */
    uint64_t *yp;        /* packed labels, n x words */
    mlcl_moco *moco;
    mlcl_optim *ft;      /* fine-tuning optimiser: backbone + LD head */
    mlcl__pcg rng;       /* shuffling and masking */
    int *perm;           /* this epoch's order */
    int pos;             /* next batch start within perm */
    int phase;           /* 1, 2; 3 = finished */
    int epoch;
    long long step;      /* within the phase */
    double ep_loss, ep_con, ep_G, ep_H, ep_W;
    long long ep_batches, ep_samples;
    double t_pre, t_fin;
    mlcl_progress_fn cb;
    void *cb_ctx;
    /* batch workspaces */
    int *rows;
    float *x0, *x1, *tgt, *h, *logits, *grad_logits, *grad_h;
    uint64_t *yb;
    /* image mode (mlcl_trainer_create_ex with views) */
    int img, ic, ih, iw, oh, ow;
    int dn;              /* the network's input width: d, or ic*oh*ow in image mode */
    int ft_aug;          /* fine-tuning inputs augmented with ft_v */
    mlcl_simclr_options pre_v, ft_v;
    struct mlcl_rng aug; /* the views' generator */
    float *xr;           /* batch x d: the raw rows of the batch */
    int has_comm;        /* data-parallel (mlcl_trainer_set_comm) */
    mlcl_comm comm;
};

#endif

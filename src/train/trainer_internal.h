/* The trainer's state, shared by the files of src/train/ (trainer.c and the
 * model export). Not part of the public API. */
#ifndef MLCL_TRAINER_INTERNAL_H
#define MLCL_TRAINER_INTERNAL_H
#include <stdatomic.h>
#include <stdint.h>
#include "mlcl/train.h"
#include "cl/moco_internal.h"
#include "kernels/pcgfill.h"
#include "dist/comm_internal.h"

struct mlcl_trainer {
    mlcl_train_options o;
    mlcl_train_options o_user; /* the options as created (o.pretrain.lr may be halved by the run) */
    size_t backbone_np;  /* parameters of a caller's backbone; 0: the MLP of o.moco */
    uint32_t data_crc;   /* CRC-32 of the training features and labels (checkpoints) */
    long long end_step[2]; /* steps of the finished phases 1 and 2 */
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
    /* MLCL_EBUSY: 1 while a call runs training, evaluation, load or save;
     * cb_thread identifies the thread inside the progress callback (0: none),
     * which may evaluate, predict and save but not train or load */
    atomic_int busy;
    atomic_uintptr_t cb_thread;
    /* validation (mlcl_trainer_set_validation): epoch selection and thresholds */
    const mlcl_dataset *val; /* borrowed; NULL: none */
    mlcl_validation_options vo;
    int nv;
    uint32_t val_crc;
    float *vscores;      /* nv x c */
    float *snap;         /* the best epoch: backbone params, state, LD params, state */
    size_t snap_n[4];    /* lengths of the four parts */
    int best_epoch;      /* -1: none yet */
    double best_value, last_value;
    int vs_epochs;       /* fine-tuning epochs evaluated */
    int thr_ready;       /* thresholds chosen */
    float *thr;          /* c per-label thresholds */
    float thr_global;
    /* streaming (mlcl_trainer_create_stream): batches from loaders, no pixels kept */
    int stream;
    struct mlcl_loader *src[2]; /* pretraining, fine-tuning loaders (borrowed) */
    uint8_t *yown;       /* n x c labels of the loaders' list */
    uint32_t stream_crc; /* of the list and the loaders' settings */
};

/* Marks the trainer busy for a call (MLCL_EBUSY when another call holds it).
 * `readonly` calls (evaluate, predict, save) are also let through from inside
 * the progress callback of the running call; *held tells whether to release. */
MLCL_INTERNAL int mlcl__trainer_enter(mlcl_trainer *t, int readonly, int *held, const char *fn);
MLCL_INTERNAL void mlcl__trainer_leave(mlcl_trainer *t, int held);

#endif

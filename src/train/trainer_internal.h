/* The trainer's state, shared by the files of src/train/. Not part of the
 * public API. The MoCo pair is reached through its public accessors only
 * (mlcl/moco.h); the encoders, queue and optimiser below are borrowed from it. */
#ifndef MLCL_TRAINER_INTERNAL_H
#define MLCL_TRAINER_INTERNAL_H
#include <stdatomic.h>
#include <stdint.h>
#include "mlcl/train.h"
#include "kernels/pcgfill.h"
#include "dist/comm_lib.h"
#include "cl/moco_lib.h"

/* One phase's settings (the pretrain_* or finetune_* fields of mlcl_train_options). */
typedef struct mlcl__phase {
    int epochs, optim;
    float lr, weight_decay, head_lr_scale;
    int sched, T_0, T_mult;
    float eta_min;
    int step_size;
    float gamma, mask_p;
} mlcl__phase;

/* mlcl_moco_encoder's `which` */
enum { NET_ENC_Q = 0, NET_PROJ_Q = 1, NET_LD = 2, NET_ENC_K = 3, NET_PROJ_K = 4, NET_COUNT = 5 };

struct mlcl_trainer {
    mlcl_train_options o;
    mlcl_train_options o_user; /* the options as created */
    mlcl__phase ph[2];   /* pretraining, fine-tuning (ph[0].lr may be halved by the run) */
    mlcl__phase ph_user[2]; /* as created, or set by mlcl_trainer_set_param (the options record) */
    size_t backbone_np;  /* parameters of a caller's backbone; 0: the MLP of mo */
    uint32_t data_crc;   /* CRC-32 of the training features and labels (checkpoints) */
    long long end_step[2]; /* steps of the finished phases 1 and 2 */
    int n, d, c, words, batch;
    float *x;            /* standardised copy of the training features */
    float *mean, *std;   /* d each */
    const uint8_t *y;    /* n x c labels: yown (copied from the dataset, or the loaders' list) */
    uint64_t *yp;        /* packed labels, n x words */
    mlcl_moco *moco;
    mlcl__moco_conf mo;  /* the MoCo options as resolved by create (mlcl__train_moco_options) */
    mlcl_encoder *net[NET_COUNT]; /* borrowed from moco (mlcl_moco_encoder) */
    mlcl_queue *queue;   /* borrowed from moco (mlcl_moco_queue) */
    mlcl_optim *popt;    /* the pretraining optimiser, borrowed from moco (mlcl_moco_optim) */
    int hdim;            /* width of h, the backbone's output */
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
    int has_comm;        /* a caller's communicator (mlcl_trainer_set_comm) */
    mlcl_comm comm;      /* always set: the built-in single-rank one by default */
    /* MLCL_EBUSY: 1 while a call runs training, evaluation, load or save;
     * cb_thread identifies the thread inside the progress callback (0: none),
     * which may evaluate, predict and save but not train or load */
    atomic_int busy;
    int threads, threads_tok; /* mlcl_trainer_set_threads (0: the library default); the scope of the call holding busy */
    atomic_uintptr_t cb_thread;
    /* validation (mlcl_trainer_set_validation): epoch selection and thresholds */
    mlcl_dataset *val;   /* a copy of the caller's; NULL: none */
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
    /* a sparse (CSR) training set (src/train/sparse_train.c); sp_ptr NULL: dense */
    int64_t *sp_ptr;     /* copied from the dataset, as the labels */
    int *sp_col;
    float *sp_val;
    int64_t *sb_ptr;     /* the batch as CSR: batch + 1 offsets */
    int *sb_col;         /* sb_cap entries each */
    float *sb_vr, *sb_v0, *sb_v1; /* raw values, query view, key view */
    size_t sb_cap;
    int in_chunk;        /* rows per chunk of dense inference (x0 holds in_chunk x d) */
    /* streaming (mlcl_trainer_create_stream): batches from loaders, no pixels kept */
    int stream;
    struct mlcl_loader *src[2]; /* pretraining, fine-tuning loaders (borrowed) */
    uint8_t *yown;       /* n x c labels, owned */
    uint32_t stream_crc; /* of the list and the loaders' settings */
};

/* Sparse training sets (src/train/sparse_train.c). Setup: checks, borrows the
 * CSR, sizes the batch workspaces (batch x the longest row). */
/* A zeroed trainer holding the options (and their phases), no selection yet,
 * its own thread count: the common start of mlcl_trainer_create_ex and
 * mlcl_trainer_create_stream. */
MLCL_INTERNAL int mlcl__trainer_alloc(mlcl_trainer **out, const mlcl_train_options *opts, const char *fn);
MLCL_INTERNAL int mlcl__trainer_sparse_setup(mlcl_trainer *t, const mlcl_dataset *train, const char *fn);
/* CRC-32 of the CSR arrays and the labels (checkpoints). */
MLCL_INTERNAL uint32_t mlcl__trainer_sparse_crc(const mlcl_trainer *t);
/* The same CRC of a sparse dataset (a validation set). */
MLCL_INTERNAL uint32_t mlcl__dataset_csr_crc(const mlcl_dataset *ds);
/* One batch of the current phase from CSR rows (the dense path's draws). */
MLCL_INTERNAL int mlcl__trainer_sparse_batch(mlcl_trainer *t, int k, double *loss_out, mlcl_loss_parts *lp);
/* Sigmoid scores of a sparse dataset (n x c). */
MLCL_INTERNAL int mlcl__trainer_sparse_scores(mlcl_trainer *t, const mlcl_dataset *ds, float *scores, const char *fn);
MLCL_INTERNAL void mlcl__trainer_sparse_free(mlcl_trainer *t);

/* Marks the trainer busy for a call (MLCL_EBUSY when another call holds it).
 * `readonly` calls (evaluate, predict, save) are also let through from inside
 * the progress callback of the running call; *held tells whether to release. */
MLCL_INTERNAL int mlcl__trainer_enter(mlcl_trainer *t, int readonly, int *held, const char *fn);
MLCL_INTERNAL void mlcl__trainer_leave(mlcl_trainer *t, int held);

/* ---- options.c: option resolution, in one place */
/* Checks every field of @p o (fn names the caller in messages). */
MLCL_INTERNAL int mlcl__train_check(const mlcl_train_options *o, const char *fn);
/* The two phases of @p o. */
MLCL_INTERNAL void mlcl__train_phases(const mlcl_train_options *o, mlcl__phase ph[2]);
/* The MoCo settings of a trainer, one source each: the loss the method
 * implies, the pretraining optimiser, the sizes from the data (in_dim,
 * n_labels), max_batch from the batch; *o->moco setting any of them
 * otherwise is MLCL_EINVAL naming both. */
MLCL_INTERNAL int mlcl__train_moco_options(const mlcl_train_options *o, int in_dim, int n_labels, int batch,
                                           mlcl__moco_conf *mo, const char *fn);
/* The public options of a resolved conf (pointing into it). */
MLCL_INTERNAL void mlcl__train_moco_public(const mlcl__moco_conf *c, mlcl_moco_options *pub);
/* The learning rate of a phase at an epoch (its schedule). */
MLCL_INTERNAL float mlcl__train_phase_lr(const mlcl__phase *p, int epoch);

/* ---- trainer.c */
/* The rest of create once t->o, and for streaming the sizes, are set. */
MLCL_INTERNAL int mlcl__trainer_create_inner(mlcl_trainer *t, const mlcl_dataset *train, const mlcl_trainer_ex_options *ex);
/* CRC-32 over any length (zlib takes uInt lengths). */
MLCL_INTERNAL uint32_t mlcl__crc32_bytes(uint32_t crc, const void *p, size_t len);
/* The built-in single-rank communicator (collectives are the identity). */
MLCL_INTERNAL void mlcl__trainer_local_comm(mlcl_comm *c);
/* The address of a thread-local object: names the calling thread. */
MLCL_INTERNAL uintptr_t mlcl__trainer_thread_id(void);

/* ---- pipeline.c: batches */
MLCL_INTERNAL double mlcl__now_s(void);
/* Builds the inputs of the batch t->rows[0..k): x0 (and x1 when pretraining),
 * masked vector views or image views; streaming batches are already there. */
MLCL_INTERNAL int mlcl__trainer_views(mlcl_trainer *t, int k);
/* Packed labels of the batch rows into t->yb. */
MLCL_INTERNAL void mlcl__trainer_gather(mlcl_trainer *t, int k);

/* ---- loop.c */
/* One fine-tuning step on the batch whose inputs are in x0 (dense) or given
 * by `fwd` (sparse: forward of the backbone on this rank's rows lo..hi-1). */
typedef int (*mlcl__ft_forward)(mlcl_trainer *t, int lo, int hi);
MLCL_INTERNAL int mlcl__trainer_finetune_step(mlcl_trainer *t, int k, mlcl__ft_forward fwd, double *loss_out,
                                              mlcl_loss_parts *lp);
MLCL_INTERNAL void mlcl__trainer_set_phase_lr(mlcl_trainer *t);

/* ---- eval.c */
MLCL_INTERNAL int mlcl__trainer_infer(mlcl_trainer *t, int n, const float *x, float *out, int dists, const char *fn);
/* Sigmoid scores of a dataset's rows, dense or sparse (CSR). */
MLCL_INTERNAL int mlcl__trainer_infer_set(mlcl_trainer *t, const mlcl_dataset *ds, int n, float *out, const char *fn);

/* ---- valsel.c */
MLCL_INTERNAL int mlcl__trainer_selecting(const mlcl_trainer *t);
MLCL_INTERNAL int mlcl__trainer_val_epoch_end(mlcl_trainer *t);
MLCL_INTERNAL int mlcl__trainer_val_finish(mlcl_trainer *t);
MLCL_INTERNAL size_t mlcl__trainer_snap_len(const mlcl_trainer *t);

#endif

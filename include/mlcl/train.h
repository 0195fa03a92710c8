/**
 * @file
 * libmlcl: the two-phase trainer and checkpoints.
 *
 * Phase 1, contrastive pretraining (MulSupCon, RLD, CLD, SupCon-ALL/ANY, or
 * none); phase 2, fine-tuning of the backbone and the LD head with binary
 * cross-entropy; then evaluation with the six metrics (metrics.h).
 * Deterministic for a given seed and thread count.
 *
 * Thread-safety: one trainer per thread; distinct trainers are independent.
 * A trainer used by two calls at once (two threads, or the progress callback
 * calling mlcl_trainer_run() again) refuses the second with MLCL_EBUSY
 * instead of racing; the callback may evaluate, predict and save.
 */
#ifndef MLCL_TRAIN_H
#define MLCL_TRAIN_H

#include "model.h"
#include "comm.h"
#include "core.h"
#include "dataset.h"
#include "loss.h"
#include "metrics.h"
#include "moco.h"
#include "image.h"
#include "loader.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Pretraining methods. */
typedef enum mlcl_method {
    MLCL_METHOD_NONE = 0,       /**< no pretraining: fine-tuning only (the baseline) */
    MLCL_METHOD_MULSUPCON = 1,  /**< MulSupCon, Eqs. 3-4 */
    MLCL_METHOD_RLD = 2,        /**< MulSupCon_RLD (RBF label distribution) */
    MLCL_METHOD_CLD = 3,        /**< MulSupCon_CLD (contrastive label distribution) */
    MLCL_METHOD_SUPCON_ALL = 4, /**< SupCon with the ALL mask (Eq. 1, 5) */
    MLCL_METHOD_SUPCON_ANY = 5  /**< SupCon with the ANY mask (Eq. 2, 5) */
} mlcl_method;

/** Version of mlcl_train_options (2: the MoCo options by pointer, the phases' fields flat). */
#define MLCL_TRAIN_OPTIONS_VERSION 2

/**
 * Everything a run needs. Initialise with MLCL_TRAIN_OPTIONS_INIT or
 * mlcl_train_options_init().
 *
 * Each setting has one source: @c method sets the loss's method, variant and
 * mask; the pretrain_* fields set the query-side optimiser; the data set
 * in_dim and n_labels; @c batch sets the MoCo max_batch; @c seed the MoCo
 * seed. A *moco that sets any of them otherwise (a loss of another method,
 * an optim, an in_dim, n_labels, max_batch or seed that differs) is refused
 * with MLCL_EINVAL naming both settings.
 *
 * The two phases are flat fields (pretrain_*, finetune_*) rather than nested
 * structs: one versioned struct, nothing to keep alive, and each field is
 * also a key of mlcl_trainer_set_param() where it may change at run time.
 * Schedules (MLCL_SCHED_*): lr is the base rate; COSINE_WARM_RESTARTS uses
 * T_0, T_mult and eta_min; COSINE uses T_0 as T_max and eta_min; STEP
 * multiplies by gamma every step_size epochs.
 */
typedef struct mlcl_train_options {
    unsigned int version;     /**< MLCL_TRAIN_OPTIONS_VERSION */
    int method;               /**< mlcl_method (default MLCL_METHOD_CLD) */
    int batch;                /**< mini-batch size, both phases (128) */
    uint64_t seed;            /**< the run's seed (0) */
    int threads;              /**< this trainer's threads (mlcl_trainer_set_threads(); 0 = the library default) */
    const mlcl_moco_options *moco; /**< networks, queue, momentum, loss (read and copied by create);
                                       NULL (default): MLCL_MOCO_OPTIONS_INIT */
    int pretrain_epochs;          /**< 400 */
    int pretrain_optim;           /**< MLCL_OPTIM_ADAMW (default), MLCL_OPTIM_ADAM or MLCL_OPTIM_SGD */
    float pretrain_lr;            /**< 4e-5 */
    float pretrain_weight_decay;  /**< 1e-4 */
    float pretrain_head_lr_scale; /**< learning-rate factor of the heads relative to the backbone (1) */
    int pretrain_sched;           /**< MLCL_SCHED_* (default CosineAnnealingWarmRestarts) */
    int pretrain_T_0;             /**< restart period (and T_max of COSINE) in epochs (50) */
    int pretrain_T_mult;          /**< period multiplier (2) */
    float pretrain_eta_min;       /**< floor of the cosine (1e-5) */
    int pretrain_step_size;       /**< STEP: epochs between decays (50) */
    float pretrain_gamma;         /**< STEP: decay factor (0.1) */
    float pretrain_mask_p;        /**< input masking probability of the augmentation (0.5) */
    int finetune_epochs;          /**< 100 */
    int finetune_optim;           /**< MLCL_OPTIM_ADAMW */
    float finetune_lr;            /**< 4e-4 */
    float finetune_weight_decay;  /**< 1e-5 */
    float finetune_head_lr_scale; /**< 1 */
    int finetune_sched;           /**< MLCL_SCHED_COSINE_WARM_RESTARTS */
    int finetune_T_0;             /**< 25 */
    int finetune_T_mult;          /**< 2 */
    float finetune_eta_min;       /**< 1e-4 */
    int finetune_step_size;       /**< 25 */
    float finetune_gamma;         /**< 0.1 */
    float finetune_mask_p;        /**< 0.4 */
    int standardize;          /**< 1: standardise features with the training set's mean and std (default) */
    int stop_on_nonfinite;    /**< 1 (default): stop with MLCL_ENUMERIC; 0: roll back the step and halve the lr */
} mlcl_train_options;

/** Static initialiser: the paper's Yeast protocol with CLD. */
#define MLCL_TRAIN_OPTIONS_INIT                                                              \
    { MLCL_TRAIN_OPTIONS_VERSION, MLCL_METHOD_CLD, 128, 0, 0, NULL,                          \
      400, MLCL_OPTIM_ADAMW, 4e-5f, 1e-4f, 1.0f, MLCL_SCHED_COSINE_WARM_RESTARTS, 50, 2, 1e-5f, 50, 0.1f, 0.5f, \
      100, MLCL_OPTIM_ADAMW, 4e-4f, 1e-5f, 1.0f, MLCL_SCHED_COSINE_WARM_RESTARTS, 25, 2, 1e-4f, 25, 0.1f, 0.4f, \
      1, 1 }

/**
 * Fills @p opts with the defaults of MLCL_TRAIN_OPTIONS_INIT.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_train_options_init(mlcl_train_options *opts, unsigned int version);

/**
 * Applies a dataset preset of the paper (MATH.md protocol table):
 * "yeast" (batch 128, K 256) or "scene" (batch 256, K 1024). The preset's
 * queue size is that of the MoCo options it points to, which live in the
 * library (static, read-only): opts->moco is set to them; copy them to
 * change more MoCo settings.
 * @return MLCL_OK or MLCL_EINVAL naming the unknown preset.
 */
MLCL_API int mlcl_train_options_preset(mlcl_train_options *opts, const char *preset);

/**
 * The loss options a method implies: the defaults (MLCL_LOSS_OPTIONS_INIT)
 * with the method, variant and mask of @p method, the only values of them a
 * trainer accepts in opts->moco->loss (start from these to change e.g. tau).
 * @param[out] out the options.
 * @param method an mlcl_method.
 * @return MLCL_OK or MLCL_EINVAL (NULL, unknown method).
 */
MLCL_API int mlcl_train_method_loss(mlcl_loss_options *out, int method);

/** Version of mlcl_progress as this library fills it. */
#define MLCL_PROGRESS_VERSION 1

/** Progress report passed to the callback after every step (filled whole by the library). */
typedef struct mlcl_progress {
    unsigned int version; /**< MLCL_PROGRESS_VERSION: later versions only append fields */
    int phase;            /**< 1 pretraining, 2 fine-tuning */
    int epoch;            /**< epoch within the phase, from 0 */
    int epochs;           /**< epochs of the phase */
    long long step;       /**< global step within the phase */
    int end_of_epoch;     /**< 1 on the report that closes an epoch (then the loss fields are epoch means) */
    double loss;          /**< total loss */
    double con;           /**< contrastive part of the pretraining loss */
    double G;             /**< smoothness part G */
    double H;             /**< closeness part H (before alpha) */
    double wreg;          /**< beta ||W||^2 as it enters the loss */
    double lr;            /**< current learning rate of the backbone */
    double samples_per_s; /**< throughput of the phase so far */
} mlcl_progress;

/**
 * Progress callback: return 0 to continue, non-zero to stop the run
 * (mlcl_trainer_run then returns MLCL_EINTERRUPTED, the state stays consistent
 * and can be saved).
 */
typedef int (*mlcl_progress_fn)(const mlcl_progress *progress, void *ctx);

/** The opaque trainer. */
typedef struct mlcl_trainer mlcl_trainer;

/**
 * Creates a trainer for @p train. The trainer copies what it keeps (features,
 * labels, CSR arrays): @p train may be freed right after this call. The copy
 * is standardised when opts->standardize, with mlcl_dataset_standardize_stats()'s
 * statistics (population mean and std; a near-constant feature keeps std 1).
 * @param[out] out the trainer; free with mlcl_trainer_free().
 * @param opts the options (copied; in_dim and n_labels are taken from @p train).
 * @param train the training set.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, MLCL_ENUMERIC (non-finite features) or
 *         MLCL_ENOMEM; the sizes (rows, features, labels, batch, queue, widths) are
 *         checked against the memory the process may use (the smaller of physical
 *         memory and RLIMIT_AS) before anything is allocated, and refused with a
 *         message saying which size needs how much.
 */
MLCL_API int mlcl_trainer_create(mlcl_trainer **out, const mlcl_train_options *opts,
                                 const mlcl_dataset *train);

/** Version of mlcl_trainer_ex_options understood by this library. */
#define MLCL_TRAINER_EX_OPTIONS_VERSION 1

/**
 * What mlcl_trainer_create_ex() adds to mlcl_trainer_create(): a caller's
 * backbone (e.g. a residual network) and SimCLR views of images.
 */
typedef struct mlcl_trainer_ex_options {
    unsigned int version;          /**< MLCL_TRAINER_EX_OPTIONS_VERSION */
    const mlcl_encoder *backbone;  /**< copied (as mlcl_moco_options.backbone, which must stay NULL in
                                        opts->moco); NULL: the MLP of *opts->moco.
                                        Its input width must be c x out_h x out_w of the views. */
    const mlcl_simclr_options *pretrain_views; /**< non-NULL: pretraining views are two SimCLR
                                        augmentations of each image (copied) instead of input masking;
                                        needs a dataset with an image shape (mlcl_dataset_image_shape()) */
    const mlcl_simclr_options *finetune_views; /**< non-NULL: fine-tuning inputs are SimCLR-augmented
                                        with these settings; NULL with pretrain_views set: the image
                                        resized to the views' size, no augmentation */
} mlcl_trainer_ex_options;

/** Static initialiser: no backbone, no image views (mlcl_trainer_create()'s behaviour). */
#define MLCL_TRAINER_EX_OPTIONS_INIT { MLCL_TRAINER_EX_OPTIONS_VERSION, NULL, NULL, NULL }

/**
 * Fills @p extra with the defaults (the same bytes as MLCL_TRAINER_EX_OPTIONS_INIT).
 * @param[out] extra the struct to fill.
 * @param version must be MLCL_TRAINER_EX_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_trainer_ex_options_init(mlcl_trainer_ex_options *extra, unsigned int version);

/**
 * Creates a trainer as mlcl_trainer_create() does, with a caller's backbone
 * and/or SimCLR image views. With image views the features are used as stored
 * (opts->standardize is ignored: images are expected in [0, 1]), the phases'
 * mask_p is ignored, and mlcl_trainer_predict(), _distributions() and
 * _evaluate() resize each image (bilinear) to the views' size when it differs.
 * Checkpoints record the augmentation generator; resuming needs the same extra.
 * @param[out] out the trainer; free with mlcl_trainer_free().
 * @param opts the options (copied).
 * @param train the training set (copied: it may be freed after the call).
 * @param extra the additions (read during the call only), or NULL for none.
 * @return as mlcl_trainer_create(); MLCL_EINVAL when the backbone's input width
 *         does not match the data or the views, or the data have no image shape.
 */
MLCL_API int mlcl_trainer_create_ex(mlcl_trainer **out, const mlcl_train_options *opts,
                                    const mlcl_dataset *train, const mlcl_trainer_ex_options *extra);

/** Frees a trainer; NULL is a no-op. Not while a call runs on it (including
 * from its own progress callback): see mlcl_trainer_in_use(). */
MLCL_API void mlcl_trainer_free(mlcl_trainer *trainer);

/** Installs the progress callback (NULL to remove). */
MLCL_API int mlcl_trainer_set_callback(mlcl_trainer *trainer, mlcl_progress_fn fn, void *ctx);

/**
 * Sets the threads this trainer's calls use (training, evaluation,
 * prediction: its MoCo steps, loss and fork-joins), for this handle only;
 * 0 follows mlcl_set_num_threads()'s default. The initial value is
 * opts->threads. Results are bit-identical for a given seed and count.
 * @param trainer the trainer (not while another call runs on it: MLCL_EBUSY).
 * @param n 0, or 1..1024 (a count above the CPUs available is lowered to it).
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EBUSY.
 */
MLCL_API int mlcl_trainer_set_threads(mlcl_trainer *trainer, int n);

/**
 * The count in use by the trainer (mlcl_trainer_set_threads(); 0: the library default).
 * @param trainer the trainer.
 * @param[out] n the count.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_trainer_get_threads(const mlcl_trainer *trainer, int *n);

/**
 * Runs (or continues, after mlcl_trainer_load()) both phases to the end.
 * @return MLCL_OK, MLCL_EINTERRUPTED when the callback stopped it, MLCL_ENUMERIC
 *         when a non-finite loss or gradient appeared (the message names the phase, step and term).
 */
MLCL_API int mlcl_trainer_run(mlcl_trainer *trainer);

/**
 * Runs at most @p epochs more epochs (across the phase boundary), then returns.
 * @param trainer the trainer.
 * @param epochs epochs to run, >= 0.
 * @param[out] done set to 1 when both phases are finished (nullable).
 * @return as mlcl_trainer_run().
 */
MLCL_API int mlcl_trainer_run_epochs(mlcl_trainer *trainer, int epochs, int *done);

/**
 * Scores (sigmoid of the fine-tuned head) for @p n rows of raw features
 * (standardised with the training statistics inside), eval mode.
 * @param trainer the trainer.
 * @param n rows, > 0.
 * @param x n x d raw features.
 * @param[out] scores n x c.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_trainer_predict(mlcl_trainer *trainer, int n, const float *x, float *scores);

/**
 * As mlcl_trainer_predict(), for @p n rows in CSR (compressed sparse rows;
 * docs/sparse.md): the backbone's first layer multiplies only the stored
 * entries. Needs a trainer that does not standardise (one made on a sparse
 * training set, or with opts->standardize = 0): centring applies to dense
 * rows only.
 * @param trainer the trainer.
 * @param n rows, > 0.
 * @param[in] row_ptr n + 1 offsets into cols/vals, non-decreasing.
 * @param[in] cols column indices in [0, d), strictly increasing within a row.
 * @param[in] vals finite values.
 * @param[out] scores n x c.
 * @return MLCL_OK, MLCL_EINVAL (a standardising trainer, a bad offset or
 *         column, named), MLCL_ENUMERIC, MLCL_EBUSY.
 */
MLCL_API int mlcl_trainer_predict_csr(mlcl_trainer *trainer, int n, const int64_t *row_ptr, const int *cols,
                                      const float *vals, float *scores);

/**
 * Label distributions d = softmax(LD head) for @p n rows (eval mode).
 * @param trainer the trainer.
 * @param n rows, > 0.
 * @param x n x d raw features.
 * @param[out] dists n x c.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENUMERIC.
 */
MLCL_API int mlcl_trainer_distributions(mlcl_trainer *trainer, int n, const float *x, float *dists);

/**
 * Evaluates on @p test: the paper protocol (best of each metric over t = 0.1..0.9)
 * and the fixed threshold 0.5.
 * @param trainer the trainer.
 * @param test the test set (same feature and label counts as the training set).
 * @param[in,out] paper the paper-protocol metrics (nullable); its version must be
 *            MLCL_METRICS_VERSION (MLCL_METRICS_INIT / mlcl_metrics_init()) and is not changed.
 * @param[in,out] t05 the metrics at t = 0.5 (nullable; versioned as @p paper).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, MLCL_ENUMERIC or MLCL_ENOMEM.
 */
MLCL_API int mlcl_trainer_evaluate(mlcl_trainer *trainer, const mlcl_dataset *test,
                                   mlcl_metrics *paper, mlcl_metrics *t05);

/** Seconds spent in each phase so far. */
MLCL_API int mlcl_trainer_timing(const mlcl_trainer *trainer, double *pretrain_s, double *finetune_s);

/** Phase (1, 2, or 3 = finished) and epoch within it. */
MLCL_API int mlcl_trainer_position(const mlcl_trainer *trainer, int *phase, int *epoch);

/**
 * Saves the whole training state (parameters, optimiser moments, BatchNorm
 * statistics, queues, RNG states, phase/epoch/step, options) to @p path:
 * zlib-compressed, CRC-checked, written to a temporary file in the same
 * directory, flushed, fsync'ed and renamed (then the directory is fsync'ed),
 * so that an interrupted save never destroys the previous file. @p path must
 * be a regular file or not exist: a device, FIFO, socket or directory is
 * refused with MLCL_EINVAL and left untouched.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO (every write, fsync, close and rename
 *         is checked), MLCL_ENOMEM or MLCL_EBUSY.
 */
MLCL_API int mlcl_trainer_save(const mlcl_trainer *trainer, const char *path);

/**
 * Restores a state saved by mlcl_trainer_save() into a trainer created with
 * the same options and data; continuing gives bit-identical results to an
 * uninterrupted run. The checkpoint records every option that affects the run
 * (method, loss, optimisers, schedules, batch, queue, encoder, views, seed,
 * standardisation, a CRC of the training data); a trainer that differs in any
 * of them is refused with MLCL_EINVAL naming the option and both values. The
 * one change allowed: epoch counts may grow (pretrain_epochs while pretraining
 * is unfinished, finetune_epochs always; a finished run then trains the extra
 * fine-tuning epochs). Checkpoints of formats 1 and 2 (before libmlcl 1.0,
 * docs/formats.md) are refused with MLCL_EVERSION.
 * @return MLCL_OK; MLCL_EINVAL (other options or data), MLCL_EIO, MLCL_EFORMAT
 *         (also: bytes after the end), MLCL_ECHECKSUM or MLCL_EVERSION with a
 *         message naming the file; MLCL_EBUSY; the trainer is unchanged on error.
 */
MLCL_API int mlcl_trainer_load(mlcl_trainer *trainer, const char *path);

/**
 * Whether a call is running on @p trainer now (training, evaluation, load or
 * save, on any thread): a call made meanwhile returns MLCL_EBUSY, except that
 * the progress callback of a running mlcl_trainer_run() / _run_epochs() may
 * call mlcl_trainer_evaluate(), _predict(), _distributions() and _save().
 * @param trainer the trainer.
 * @param[out] in_use 1 or 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_trainer_in_use(const mlcl_trainer *trainer, int *in_use);

/**
 * Checks, before a long run, that mlcl_trainer_save() (and the library's other
 * file writers) could write @p path: it is a regular file or does not exist
 * (a symbolic link is followed), and its directory exists and is writable.
 * Nothing is created.
 * @param path the output path.
 * @return MLCL_OK; MLCL_EINVAL (NULL, empty, a directory, device, FIFO or
 *         socket) or MLCL_EIO (no such directory, not writable), naming the path.
 */
MLCL_API int mlcl_check_output_path(const char *path);

/** mlcl_validation_options.select_metric: no epoch selection (the last fine-tuning epoch is kept). */
#define MLCL_SELECT_NONE (-1)

/** Version of mlcl_validation_options. */
#define MLCL_VALIDATION_OPTIONS_VERSION 1

/**
 * What the trainer does with a validation set (mlcl_trainer_set_validation()).
 * Initialise with MLCL_VALIDATION_OPTIONS_INIT or mlcl_validation_options_init().
 */
typedef struct mlcl_validation_options {
    unsigned int version; /**< MLCL_VALIDATION_OPTIONS_VERSION */
    int select_metric;    /**< MLCL_SELECT_NONE (default): keep the last fine-tuning epoch; or
                               MLCL_METRIC_HA, _EBF1, _MIF1, _MAF1, _P_AT_1, _MAP (metrics.h): keep the
                               fine-tuning epoch with the highest value on validation (the earliest on
                               ties). HA, ebF1, miF1 and maF1 are measured as the best over the
                               thresholds 0.1 .. 0.9 on the validation rows (mlcl_metrics_sweep()). */
    int patience;         /**< with select_metric: stop fine-tuning after this many epochs without a
                               new best (early stopping); 0 (default): run every epoch */
    int thresholds;       /**< MLCL_THRESHOLDS_PER_LABEL (default): at the end of fine-tuning, choose
                               per-label and global decision thresholds on validation
                               (mlcl_metrics_choose_thresholds()) and keep the per-label ones as the
                               trainer's (and the exported model's) thresholds;
                               MLCL_THRESHOLDS_GLOBAL: the global one for every label;
                               MLCL_THRESHOLDS_NONE: choose none */
} mlcl_validation_options;

/** mlcl_validation_options.thresholds: choose no thresholds. */
#define MLCL_THRESHOLDS_NONE 0
/** mlcl_validation_options.thresholds: per-label thresholds (F1 per label; labels without a
 * positive validation row take the global one). */
#define MLCL_THRESHOLDS_PER_LABEL 1
/** mlcl_validation_options.thresholds: one global threshold (micro-F1) for every label. */
#define MLCL_THRESHOLDS_GLOBAL 2

/** Static initialiser: no epoch selection, thresholds chosen on validation. */
#define MLCL_VALIDATION_OPTIONS_INIT { MLCL_VALIDATION_OPTIONS_VERSION, MLCL_SELECT_NONE, 0, MLCL_THRESHOLDS_PER_LABEL }

/**
 * Fills @p opts with the defaults (the same bytes as MLCL_VALIDATION_OPTIONS_INIT).
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_validation_options_init(mlcl_validation_options *opts, unsigned int version);

/**
 * Gives the trainer validation rows (held out from the training set, never the
 * test set) for model selection and thresholds: after every fine-tuning epoch
 * the trainer scores @p val and, with opts->select_metric, keeps a copy of the
 * backbone and LD head (parameters and BatchNorm statistics) of the best epoch;
 * when fine-tuning ends (its last epoch, or opts->patience epochs without a
 * new best) the best epoch's copy is restored and, with opts->thresholds, the
 * thresholds are chosen on @p val; mlcl_trainer_export_model() then stores them
 * in the model. The selection state is part of checkpoints, and the options
 * record names the validation set (rows, CRC-32) and these options: call this
 * before mlcl_trainer_load() to resume such a run (bit-identical); a
 * checkpoint of a run with other validation settings is refused.
 * Resuming a finished run with more fine-tuning epochs is refused when an
 * epoch was selected (the restored epoch is not where training stopped).
 * @param trainer the trainer; fine-tuning must not have started yet.
 * @param val the validation set (copied: it may be freed after the call; same
 *        feature and label counts as the training set), or NULL to remove it.
 * @param opts the options (copied), or NULL for the defaults.
 * @return MLCL_OK, MLCL_EINVAL (sizes, a bad option, fine-tuning already
 *         started), MLCL_EVERSION, MLCL_ENUMERIC (non-finite features),
 *         MLCL_ENOMEM or MLCL_EBUSY.
 */
MLCL_API int mlcl_trainer_set_validation(mlcl_trainer *trainer, const mlcl_dataset *val,
                                         const mlcl_validation_options *opts);

/**
 * The epoch selection so far.
 * @param trainer the trainer.
 * @param[out] best_epoch the fine-tuning epoch (from 0) with the best validation value, -1 before
 *             the first fine-tuning epoch or without selection (nullable).
 * @param[out] best_value its value of the select metric (nullable).
 * @param[out] last_value the value of the most recent fine-tuning epoch (nullable; NaN before the first).
 * @param[out] epochs_run fine-tuning epochs evaluated on validation so far (nullable); smaller than
 *             finetune_epochs when patience stopped the run.
 * @return MLCL_OK, or MLCL_EINVAL (NULL trainer, no validation set).
 */
MLCL_API int mlcl_trainer_selection(const mlcl_trainer *trainer, int *best_epoch, double *best_value,
                                    double *last_value, int *epochs_run);

/**
 * The thresholds chosen on validation at the end of fine-tuning.
 * @param trainer the trainer.
 * @param c the label count (checked).
 * @param[out] per_label c floats (nullable): the trainer's thresholds (every one the global
 *            threshold with MLCL_THRESHOLDS_GLOBAL).
 * @param[out] global the global threshold (nullable).
 * @return MLCL_OK; MLCL_EINVAL when c differs or no thresholds were chosen yet (no validation
 *         set, opts->thresholds MLCL_THRESHOLDS_NONE, or fine-tuning unfinished).
 */
MLCL_API int mlcl_trainer_thresholds(const mlcl_trainer *trainer, int c, float *per_label, float *global);

/**
 * Evaluates on @p test with the thresholds chosen on validation (the honest
 * protocol: nothing is tuned on @p test).
 * @param trainer the trainer, with thresholds chosen (mlcl_trainer_thresholds()).
 * @param test the test set.
 * @param[out] per_label nullable: label j predicted when its score is >= the trainer's threshold j
 *             (mlcl_trainer_thresholds(); the per-label ones, or the global one for every label
 *             with MLCL_THRESHOLDS_GLOBAL), as the exported model predicts.
 * @param[out] global nullable: every label predicted at the global threshold (mlcl_metrics_compute()).
 * @return as mlcl_trainer_evaluate(); MLCL_EINVAL when no thresholds were chosen or both
 *         outputs are NULL.
 */
MLCL_API int mlcl_trainer_evaluate_thresholds(mlcl_trainer *trainer, const mlcl_dataset *test, mlcl_metrics *per_label,
                                              mlcl_metrics *global);

/**
 * Settings of a trainer that may change while it runs (mlcl_trainer_set_param()).
 * Values are doubles; each has inclusive bounds (mlcl_train_param_bounds()).
 */
typedef enum mlcl_train_param {
    MLCL_TRAIN_PARAM_PRETRAIN_LR = 0,             /**< pretrain.lr, the base of its schedule [0, 100] */
    MLCL_TRAIN_PARAM_PRETRAIN_WEIGHT_DECAY = 1,   /**< pretrain.weight_decay [0, 100] */
    MLCL_TRAIN_PARAM_PRETRAIN_HEAD_LR_SCALE = 2,  /**< pretrain.head_lr_scale [0, 1000] */
    MLCL_TRAIN_PARAM_PRETRAIN_MASK_P = 3,         /**< pretrain.mask_p [0, 0.999] */
    MLCL_TRAIN_PARAM_FINETUNE_LR = 4,             /**< finetune.lr [0, 100] */
    MLCL_TRAIN_PARAM_FINETUNE_WEIGHT_DECAY = 5,   /**< finetune.weight_decay [0, 100] */
    MLCL_TRAIN_PARAM_FINETUNE_HEAD_LR_SCALE = 6,  /**< finetune.head_lr_scale [0, 1000] */
    MLCL_TRAIN_PARAM_FINETUNE_MASK_P = 7,         /**< finetune.mask_p [0, 0.999] */
    MLCL_TRAIN_PARAM_MOMENTUM = 8,                /**< the key side's momentum m [0, 1] */
    MLCL_TRAIN_PARAM_TAU = 9,                     /**< the loss temperature tau [1e-6, 1e6] */
    MLCL_TRAIN_PARAM_ALPHA = 10,                  /**< the loss's alpha [0, 1e6] */
    MLCL_TRAIN_PARAM_BETA = 11                    /**< the loss's beta [0, 1e6] */
} mlcl_train_param;

/**
 * The inclusive range of a parameter (zstd's ZSTD_cParam_getBounds()).
 * @param param the parameter.
 * @param[out] lo the smallest value (nullable).
 * @param[out] hi the largest value (nullable).
 * @return MLCL_OK or MLCL_EINVAL (an unknown parameter).
 */
MLCL_API int mlcl_train_param_bounds(mlcl_train_param param, double *lo, double *hi);

/**
 * Changes a setting from the next step on (also from the progress callback).
 * Learning rates are the bases of the phases' schedules (the current rate
 * follows at once when the phase runs). The change is part of the run's
 * options: checkpoints record it, and resuming needs a trainer with the same
 * values (set them before mlcl_trainer_load()). A value of float parameters
 * is rounded to float.
 * @param trainer the trainer.
 * @param param the parameter.
 * @param value within mlcl_train_param_bounds().
 * @return MLCL_OK; MLCL_EINVAL (unknown parameter, value out of bounds or not
 *         finite: the message names both); MLCL_EBUSY.
 */
MLCL_API int mlcl_trainer_set_param(mlcl_trainer *trainer, mlcl_train_param param, double value);

/**
 * Reads a setting.
 * @param trainer the trainer.
 * @param param the parameter.
 * @param[out] value its current value (a learning rate: the base of the schedule as set).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_trainer_get_param(const mlcl_trainer *trainer, mlcl_train_param param, double *value);

/** The borrowed MoCo pair inside the trainer. */
MLCL_API int mlcl_trainer_moco(mlcl_trainer *trainer, mlcl_moco **out);

/* ------------------------------------------------------------------------ */
/* Training from streaming loaders (loader.h) */

/**
 * Creates a trainer that takes its batches from loaders instead of an
 * in-memory dataset (no image is kept in memory by the trainer): pretraining
 * batches from @p pretrain (views = 2: the query and key views), fine-tuning
 * batches from @p finetune (views = 0: the resized image, or 1: one SimCLR
 * view). Trainer epoch e of a phase reads loader epoch e of that phase's
 * loader, batch by batch; the trainer's own shuffling and augmentation
 * generators are not used. A batch of fewer than 2 images is skipped, and in
 * pretraining so is a batch smaller than opts->batch (the ragged tail, or a
 * batch that lost skipped images).
 *
 * Both loaders must be over the same list, give images of the same size, and
 * have batch = opts->batch; a loader of a phase that does not run (e.g.
 * pretrain with MLCL_METHOD_NONE) may be NULL. The loaders are borrowed: they
 * must outlive the trainer, and nothing else may call them meanwhile.
 *
 * Inputs of mlcl_trainer_predict(), _distributions() and _evaluate() are
 * images of the loaders' output size with values in [0, 1] (as the manifest
 * readers give them): the trainer applies the loaders' normalisation
 * (mlcl_loader_normalization()) to them, and so does a model exported from
 * the trainer (mlcl_trainer_export_model(): the normalisation is stored as the
 * model's per-feature mean and std, mlcl_model_standardization(); the ONNX
 * export refuses such a model for now). Checkpoints: the trainer's position
 * (phase, epoch, batch) is the loader's position, so a resumed trainer seeks
 * its loader there and continues bit-identically; the checkpoint's data CRC
 * covers the list's paths and labels and the loaders' seeds, views and sizes.
 *
 * @param[out] out the trainer; free with mlcl_trainer_free().
 * @param opts the options (copied; standardize and the phases' mask_p are ignored).
 * @param pretrain the pretraining loader (views 2), or NULL when no pretraining runs.
 * @param finetune the fine-tuning loader (views 0 or 1), or NULL when finetune_epochs = 0.
 * @param backbone copied (as mlcl_trainer_ex_options.backbone), or NULL: the MLP of opts->moco.
 * @return as mlcl_trainer_create_ex(); MLCL_EINVAL naming the mismatch between the loaders and the options.
 */
MLCL_API int mlcl_trainer_create_stream(mlcl_trainer **out, const mlcl_train_options *opts, mlcl_loader *pretrain,
                                        mlcl_loader *finetune, const mlcl_encoder *backbone);

/**
 * Makes the trainer data-parallel: every rank draws the same global batches
 * (the shuffling and augmentation generators of rank 0 are broadcast) and
 * trains on its contiguous share of each; pretraining as mlcl_moco_set_comm(),
 * fine-tuning gradients averaged (weighted by the share sizes); checkpoints are
 * written by rank 0 only (mlcl_trainer_save() returns rank 0's status on every
 * rank); evaluation runs on the whole test set on every rank. The batch must be
 * a multiple of the number of ranks. Collective call.
 * @param trainer the trainer.
 * @param comm the communicator (copied), or NULL for single-process.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_trainer_set_comm(mlcl_trainer *trainer, const mlcl_comm *comm);

/* ---------------------------------------------------------------- the trained model (model.h) */

/** Version of mlcl_model_export_options understood by this library. */
#define MLCL_MODEL_EXPORT_OPTIONS_VERSION 1

/**
 * What mlcl_trainer_export_model_ex() records beside the weights. Every
 * field is optional (NULL: not recorded, or the default).
 */
typedef struct mlcl_model_export_options {
    unsigned int version;            /**< MLCL_MODEL_EXPORT_OPTIONS_VERSION */
    const mlcl_dataset *train;       /**< the training set the trainer was made from: its label
                                          names and a hash of its features and labels are recorded
                                          (it must have the trainer's feature and label counts) */
    const char *const *label_names;  /**< c label names (copied); override those of @c train.
                                          Default names: "label0", "label1", ... */
    const float *thresholds;         /**< c decision thresholds in [0, 1] (copied; default 0.5 each) */
    const char *train_path;          /**< the training data file, recorded in the provenance */
    const char *test_path;           /**< the test data file, recorded in the provenance */
    const mlcl_metrics *test_paper;  /**< test metrics at the end of training, paper protocol */
    const mlcl_metrics *test_t05;    /**< test metrics at the end of training, threshold 0.5 */
} mlcl_model_export_options;

/** Static initialiser: nothing recorded beyond the trainer's own state. */
#define MLCL_MODEL_EXPORT_OPTIONS_INIT \
    { MLCL_MODEL_EXPORT_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/**
 * Fills @p opts with the defaults (the same bytes as MLCL_MODEL_EXPORT_OPTIONS_INIT).
 * @param[out] opts the struct to fill.
 * @param version must be MLCL_MODEL_EXPORT_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_model_export_options_init(mlcl_model_export_options *opts, unsigned int version);

/**
 * Copies the trainer's current query backbone, LD head (with BatchNorm
 * running statistics), standardisation and image settings into a new model
 * that no longer depends on the trainer or its data. Usually called when
 * mlcl_trainer_run() has finished; the phase and epoch at export are
 * recorded in the provenance. The model predicts exactly as
 * mlcl_trainer_predict() did at the time of the export, bit for bit.
 * Equivalent to mlcl_trainer_export_model_ex() with NULL options.
 * @param trainer the trainer (read only).
 * @param[out] out the new model; free with mlcl_model_free().
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_trainer_export_model(const mlcl_trainer *trainer, mlcl_model **out);

/**
 * As mlcl_trainer_export_model(), recording label names, thresholds, data
 * file names, the training-set hash and end-of-training metrics from @p opts.
 * @param trainer the trainer (read only).
 * @param[out] out the new model; free with mlcl_model_free().
 * @param opts the additions (read during the call only), or NULL.
 * @return MLCL_OK, MLCL_EINVAL (e.g. opts->train of another shape, a
 *         threshold outside [0, 1], an empty label name), MLCL_EVERSION,
 *         MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_trainer_export_model_ex(const mlcl_trainer *trainer, mlcl_model **out,
                                          const mlcl_model_export_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_TRAIN_H */

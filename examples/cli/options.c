/*
 * options.c: the run's settings from the parsed flags: the files, the kind of
 * data, the encoder and views, mlcl_train_options and the validation options
 * (the flags that do not apply are refused first, cli/rules.c)
 */
#include "cli.h"

/* the settings of the run from the flags; 2 (message printed) when they do not go together */
int run_options(run *r)
{
    if (mlcl_train_options_init(&r->o, MLCL_TRAIN_OPTIONS_VERSION) != MLCL_OK) return fail(1, "%s", mlcl_last_error());
    /* the preset first, so that explicit flags override it */
    if (G(FL_PRESET) && mlcl_train_options_preset(&r->o, V(FL_PRESET)) != MLCL_OK) return fail(2, "%s", mlcl_last_error());
    r->train_path = V(FL_TRAIN); r->test_path = V(FL_TEST);
    r->train_labels = V(FL_TRAIN_LABELS); r->test_labels = V(FL_TEST_LABELS);
    r->json_path = V(FL_JSON); r->log_path = V(FL_LOG); r->ckpt_path = V(FL_CHECKPOINT); r->resume_path = V(FL_RESUME);
    r->save_model_path = V(FL_SAVE_MODEL);
    r->val_split = G(FL_VAL_SPLIT) ? cli_flags[FL_VAL_SPLIT].f : 0;
    /* --val-split, --select-metric, --patience, --val-thresholds (applicability checked below) */
    if (G(FL_SELECT_METRIC)) {
        long long k = cli_flags[FL_SELECT_METRIC].i;
        r->vopt.select_metric = k == 6 ? MLCL_SELECT_NONE : k == 7 ? MLCL_METRIC_P_AT_1 : (int)k;
    }
    if (G(FL_PATIENCE)) r->vopt.patience = (int)cli_flags[FL_PATIENCE].i;
    if (r->vopt.patience > 0 && !G(FL_SELECT_METRIC)) r->vopt.select_metric = MLCL_METRIC_MAP; /* --patience alone watches mAP */
    if (G(FL_VAL_THRESHOLDS)) r->vopt.thresholds = cli_flags[FL_VAL_THRESHOLDS].i == 0 ? MLCL_THRESHOLDS_PER_LABEL : MLCL_THRESHOLDS_GLOBAL;
    r->a.quiet = G(FL_QUIET);
    r->a.plot_dir = V(FL_PLOT);
    r->a.eval_every = G(FL_EVAL_EVERY) ? (int)cli_flags[FL_EVAL_EVERY].i : 0;

    /* the kind of data: the training file's format (the test file must be of the same kind) */
    r->kind = D_MOSAIC;
    if (r->train_path) {
        if (data_file(&r->train_df, "--train", r->train_path, "trainval")) return 2;
        r->kind = kind_of(r->train_df.format);
    }
    if (r->test_path && data_file(&r->test_df, "--test", r->test_path, "test")) return 2;
    r->voc = r->train_df.format == MLCL_FORMAT_VOC || (r->test_path && r->test_df.format == MLCL_FORMAT_VOC);

    r->encoder = G(FL_ENCODER) ? V(FL_ENCODER) : "mlp";
    r->resnet = strcmp(r->encoder, "mlp") != 0;
    r->simclr = G(FL_VIEWS) ? cli_flags[FL_VIEWS].i == 0 : r->resnet;
    r->views = r->simclr ? "simclr" : "mask";
    r->ft_simclr = G(FL_FT_VIEWS) && cli_flags[FL_FT_VIEWS].i == 0;
    if (G(FL_METHOD)) r->o.method = (int)cli_flags[FL_METHOD].i;
    if (check_applicability(r->kind, r->voc, r->resnet, r->simclr, r->o.method)) return 2;

    /* ---- the values */
    if (r->kind == D_MOSAIC && !G(FL_PRESET)) {
        builtin_job(&r->o); /* a short CLD run on Fashion-MNIST mosaics */
    }
    if (G(FL_PRE_EPOCHS)) r->o.pretrain_epochs = (int)cli_flags[FL_PRE_EPOCHS].i;
    if (G(FL_FT_EPOCHS)) r->o.finetune_epochs = (int)cli_flags[FL_FT_EPOCHS].i;
    if (G(FL_BATCH)) r->o.batch = (int)cli_flags[FL_BATCH].i;
    if (G(FL_QUEUE)) cli_moco(&r->o)->queue_size = (int)cli_flags[FL_QUEUE].i;
    if (G(FL_SEED)) r->o.seed = cli_flags[FL_SEED].u;
    if (G(FL_PRE_LR)) r->o.pretrain_lr = (float)cli_flags[FL_PRE_LR].f;
    if (G(FL_PRE_WD)) r->o.pretrain_weight_decay = (float)cli_flags[FL_PRE_WD].f;
    if (G(FL_FT_LR)) r->o.finetune_lr = (float)cli_flags[FL_FT_LR].f;
    if (G(FL_FT_WD)) r->o.finetune_weight_decay = (float)cli_flags[FL_FT_WD].f;
    if (G(FL_PRE_MASK)) r->o.pretrain_mask_p = (float)cli_flags[FL_PRE_MASK].f;
    if (G(FL_FT_MASK)) r->o.finetune_mask_p = (float)cli_flags[FL_FT_MASK].f;
    if (cli_flags[FL_PRE_SCHED].given) {
        const flag *f = &cli_flags[FL_PRE_SCHED];
        r->o.pretrain_T_0 = f->t0; r->o.pretrain_T_mult = f->tmult; r->o.pretrain_eta_min = (float)f->eta_min;
    }
    if (cli_flags[FL_FT_SCHED].given) {
        const flag *f = &cli_flags[FL_FT_SCHED];
        r->o.finetune_T_0 = f->t0; r->o.finetune_T_mult = f->tmult; r->o.finetune_eta_min = (float)f->eta_min;
    }
    if (G(FL_MOMENTUM)) cli_moco(&r->o)->momentum = (float)cli_flags[FL_MOMENTUM].f;
    if (G(FL_DROPOUT)) cli_moco(&r->o)->dropout = (float)cli_flags[FL_DROPOUT].f;
    if (G(FL_HIDDEN)) {
        cli_moco(&r->o); /* (cli_hidden is its widths) */
        memset(cli_hidden, 0, sizeof cli_hidden);
        memcpy(cli_hidden, cli_flags[FL_HIDDEN].hidden, sizeof(int) * (size_t)cli_flags[FL_HIDDEN].n_hidden);
        cli_moco(&r->o)->n_hidden = cli_flags[FL_HIDDEN].n_hidden;
    }
    mlcl_loss_options *lo = cli_loss(&r->o); /* (the method's; flags change the rest) */
    if (G(FL_ALPHA)) lo->alpha = (float)cli_flags[FL_ALPHA].f;
    if (G(FL_BETA)) lo->beta = (float)cli_flags[FL_BETA].f;
    if (G(FL_TAU)) lo->tau = (float)cli_flags[FL_TAU].f;
    if (G(FL_SIGMA)) lo->sigma = (float)cli_flags[FL_SIGMA].f;
    if (G(FL_MASK)) lo->mask = cli_flags[FL_MASK].i == 0 ? MLCL_MASK_ANY : MLCL_MASK_ALL;
    if (G(FL_REDUCTION)) lo->reduction = cli_flags[FL_REDUCTION].i == 0 ? MLCL_REDUCE_MEAN : MLCL_REDUCE_SUM;
    if (G(FL_CLD_WEIGHT)) lo->cld_weight = cli_flags[FL_CLD_WEIGHT].i == 0 ? MLCL_CLD_WEIGHT_PROB : MLCL_CLD_WEIGHT_LOGPROB;
    if (G(FL_WEIGHT_GRAD)) lo->weight_grad = (int)(cli_flags[FL_WEIGHT_GRAD].i & 1);       /* off|on|0|1 */
    if (G(FL_DWEIGHT_GRAD)) lo->dweight_grad = (int)(cli_flags[FL_DWEIGHT_GRAD].i & 1);
    if (G(FL_CON_NORM)) lo->con_norm = cli_flags[FL_CON_NORM].i == 0 ? MLCL_CON_NORM_NONE : MLCL_CON_NORM_PER_LABEL;
    if (G(FL_H_TARGET)) lo->h_target = cli_flags[FL_H_TARGET].i == 1 ? MLCL_H_TARGET_RAW : MLCL_H_TARGET_NORMALISED;
    if (G(FL_NPZ_KEYS)) {
        static char keys[256];
        snprintf(keys, sizeof keys, "%s", V(FL_NPZ_KEYS));
        char *comma = strchr(keys, ',');
        *comma = 0;
        npz_x = keys;
        npz_y = comma + 1;
    }
    r->labels = G(FL_LABELS) ? (int)cli_flags[FL_LABELS].i : 0;
    r->features = G(FL_FEATURES) ? (int)cli_flags[FL_FEATURES].i : 0;
    r->index_base = G(FL_INDEX_BASE) ? (int)cli_flags[FL_INDEX_BASE].i : MLCL_LIBSVM_INDEX_AUTO;
    r->mosaic_train = G(FL_MOSAIC_TRAIN) ? (int)cli_flags[FL_MOSAIC_TRAIN].i : MOSAIC_TRAIN_DEFAULT;
    r->mosaic_test = G(FL_MOSAIC_TEST) ? (int)cli_flags[FL_MOSAIC_TEST].i : MOSAIC_TEST_DEFAULT;
    r->base_width = G(FL_BASE_WIDTH) ? (int)cli_flags[FL_BASE_WIDTH].i : BASE_WIDTH_DEFAULT;
    r->image_size = G(FL_IMAGE_SIZE) ? (int)cli_flags[FL_IMAGE_SIZE].i : 0;
    r->manifest_side = r->image_size > 0 ? r->image_size : 224; /* image manifests are decoded at this size */
    r->mosaic_dir = V(FL_MOSAIC_DIR);

    /* ---- threads: at most the CPUs this process may run on, unless forced */
    r->threads = 0;
    if (G(FL_THREADS)) {
        r->threads = (int)cli_flags[FL_THREADS].i;
        int ncpu = cpus_available();
        if (r->threads > ncpu && !G(FL_FORCE_THREADS)) {
            fprintf(stderr, "mlcl-train: --threads %d capped to the %d CPUs available (--force-threads keeps %d)\n",
                    r->threads, ncpu, r->threads);
            r->threads = ncpu;
        }
    }
    r->o.threads = r->threads;
    return 0;
}

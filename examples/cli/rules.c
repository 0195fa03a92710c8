/*
 * rules.c: which flags apply to the data, the method, the encoder and the
 * views (a flag that does not apply is an error naming the reason)
 */
#include "cli.h"

#define NOT_WITH(id, ...)                                                                   \
    do {                                                                                    \
        if (G(id)) {                                                                        \
            char why_[200];                                                                 \
            snprintf(why_, sizeof why_, __VA_ARGS__);                                       \
            return fail(2, "%s does not apply %s", cli_flags[id].name, why_);                   \
        }                                                                                   \
    } while (0)

/* which flags apply to the data, the method, the encoder and the views */
int check_applicability(int kind, int voc, int resnet, int simclr, int method)
{
    int val = G(FL_VAL_SPLIT);
    const char *train_path = V(FL_TRAIN), *test_path = V(FL_TEST);
    const char *train_labels = V(FL_TRAIN_LABELS), *test_labels = V(FL_TEST_LABELS);
    if (kind == D_MOSAIC) {
        if (G(FL_TEST)) return fail(2, "--test needs --train (without --train the built-in Fashion-MNIST job runs)");
        const int need_train[] = { FL_TRAIN_LABELS, FL_TEST_LABELS, FL_NPZ_KEYS, FL_FORMAT, FL_LABELS, FL_FEATURES, FL_INDEX_BASE,
                                   FL_SPARSE };
        for (size_t k = 0; k < sizeof need_train / sizeof need_train[0]; k++)
            NOT_WITH(need_train[k], "without --train (the built-in Fashion-MNIST job); it describes a --train file");
        if (val) NOT_WITH(FL_MOSAIC_TEST, "with --val-split (a held-out part of the training mosaics is evaluated)");
    } else {
        NOT_WITH(FL_MOSAIC_TRAIN, "with --train (it sizes the built-in Fashion-MNIST job)");
        NOT_WITH(FL_MOSAIC_TEST, "with --train (it sizes the built-in Fashion-MNIST job)");
        NOT_WITH(FL_MOSAIC_DIR, "with --train (it is for the built-in Fashion-MNIST job)");
        /* --val-split with --test: validation on the held-out rows, the report on the test set */
        if (val) NOT_WITH(FL_SPARSE, "with --val-split (validation scores dense rows: give --test)");
        if (!val && !G(FL_TEST)) return fail(2, "--train needs --test (or --val-split FRAC to evaluate on a held-out part)");
        if (kind == D_NPY) {
            NOT_WITH(FL_FORMAT, "to .npy/.npz files");
            NOT_WITH(FL_LABELS, "to .npy/.npz files (the label array gives the count)");
            NOT_WITH(FL_FEATURES, "to .npy/.npz files");
            NOT_WITH(FL_INDEX_BASE, "to .npy/.npz files");
            NOT_WITH(FL_SPARSE, "to .npy/.npz files (only to LIBSVM and ARFF)");
            int npz = ends_with(train_path, ".npz") || (test_path && ends_with(test_path, ".npz")) ||
                      (train_labels && ends_with(train_labels, ".npz")) || (test_labels && ends_with(test_labels, ".npz"));
            if (!npz) NOT_WITH(FL_NPZ_KEYS, "without a .npz file");
            if (G(FL_TEST_LABELS) && !G(FL_TEST)) return fail(2, "--test-labels needs --test");
        } else {
            const char *fmt = kind_names[kind];
            NOT_WITH(FL_TRAIN_LABELS, "to %s (only to .npy features)", fmt);
            NOT_WITH(FL_TEST_LABELS, "to %s (only to .npy features)", fmt);
            NOT_WITH(FL_NPZ_KEYS, "to %s (only to .npz files)", fmt);
            if (kind != D_LIBSVM) {
                NOT_WITH(FL_FEATURES, "to %s (only to LIBSVM)", fmt);
                NOT_WITH(FL_INDEX_BASE, "to %s (only to LIBSVM)", fmt);
            }
            if (kind == D_IMAGES) NOT_WITH(FL_LABELS, "to image manifests (the manifest names the labels)");
        }
    }
    {
        /* the readers' options apply to their kind of data only */
        char where[120];
        snprintf(where, sizeof where, "%s%s", kind == D_MOSAIC ? "without --train" : "to ", kind == D_MOSAIC ? "" : kind_names[kind]);
        const int csv_only[] = { FL_IMPUTE, FL_LABEL_COLUMNS, FL_LABEL_PREFIX };
        const int image_only[] = { FL_IMAGE_ROOT, FL_SKIP_BAD_IMAGES, FL_VOC_DIFFICULT };
        if (kind != D_CSV)
            for (size_t k = 0; k < sizeof csv_only / sizeof csv_only[0]; k++) NOT_WITH(csv_only[k], "%s (only to CSV tables)", where);
        if (kind != D_IMAGES)
            for (size_t k = 0; k < sizeof image_only / sizeof image_only[0]; k++)
                NOT_WITH(image_only[k], "%s (only to image manifests)", where);
        else if (!voc)
            NOT_WITH(FL_VOC_DIFFICULT, "to CSV or COCO image manifests (only to PASCAL VOC folders)");
        if (kind == D_CSV || kind == D_IMAGES) NOT_WITH(FL_SPARSE, "%s (only to LIBSVM and ARFF)", where);
        if (kind == D_CSV) {
            int ways = G(FL_LABELS) + G(FL_LABEL_COLUMNS) + G(FL_LABEL_PREFIX);
            if (ways == 0)
                return fail(2, "--train %s is a CSV table: say which columns are labels with --labels N (the last N), "
                            "--label-columns a,b,c or --label-prefix P", train_path);
            if (ways > 1) return fail(2, "--labels, --label-columns and --label-prefix each choose the label columns: give one of them");
        }
    }
    if (method == 0) {
        const int pre[] = { FL_PRE_EPOCHS, FL_PRE_LR, FL_PRE_WD, FL_PRE_MASK, FL_PRE_SCHED, FL_QUEUE, FL_MOMENTUM, FL_TAU, FL_REDUCTION };
        for (size_t k = 0; k < sizeof pre / sizeof pre[0]; k++) NOT_WITH(pre[k], "with --method none (no pretraining)");
    }
    if (method != 2 && method != 3) {
        const int ld[] = { FL_ALPHA, FL_BETA, FL_MASK, FL_WEIGHT_GRAD, FL_DWEIGHT_GRAD, FL_CON_NORM, FL_H_TARGET };
        for (size_t k = 0; k < sizeof ld / sizeof ld[0]; k++)
            NOT_WITH(ld[k], "with --method %s (only to the label-distribution methods rld and cld%s)", method_names[method],
                     method >= 4 ? "; supcon-all/any fix the mask" : "");
    }
    if (method != 2) NOT_WITH(FL_SIGMA, "with --method %s (only to rld)", method_names[method]);
    if (method != 3) NOT_WITH(FL_CLD_WEIGHT, "with --method %s (only to cld)", method_names[method]);
    if (resnet) {
        NOT_WITH(FL_HIDDEN, "with --encoder %s (it shapes the MLP)", V(FL_ENCODER));
        NOT_WITH(FL_DROPOUT, "with --encoder %s (it is the MLP's dropout)", V(FL_ENCODER));
    } else {
        NOT_WITH(FL_BASE_WIDTH, "with the MLP encoder (only to --encoder resnet*)");
    }
    if (simclr) {
        NOT_WITH(FL_PRE_MASK, "with SimCLR views (input masking is not used with image views)");
        NOT_WITH(FL_FT_MASK, "with SimCLR views (input masking is not used with image views)");
    } else {
        if (kind != D_IMAGES) NOT_WITH(FL_IMAGE_SIZE, "without SimCLR views (--views simclr or a ResNet encoder)");
        NOT_WITH(FL_FT_VIEWS, "without SimCLR views (--views simclr or a ResNet encoder)");
    }
    if (!G(FL_LOG)) NOT_WITH(FL_EVAL_EVERY, "without --log (it fills the log's metric columns)");
    if (!val) {
        NOT_WITH(FL_SELECT_METRIC, "without --val-split (the epoch is chosen on the held-out rows)");
        NOT_WITH(FL_PATIENCE, "without --val-split (it watches the value on the held-out rows)");
        NOT_WITH(FL_VAL_THRESHOLDS, "without --val-split (the thresholds are chosen on the held-out rows)");
    }
    if (G(FL_PATIENCE) && G(FL_SELECT_METRIC) && cli_flags[FL_SELECT_METRIC].i == 6 && cli_flags[FL_PATIENCE].i > 0)
        return fail(2, "--patience %lld does not apply with --select-metric none (it watches the selected metric)",
                    cli_flags[FL_PATIENCE].i);
    if (!G(FL_THREADS)) NOT_WITH(FL_FORCE_THREADS, "without --threads");
    if (G(FL_STREAM)) {
        if (kind != D_IMAGES)
            return fail(2, "--stream does not apply %s%s (only to image manifests: a CSV with a 'path' column, COCO, VOC)",
                        kind == D_MOSAIC ? "without --train" : "to ", kind == D_MOSAIC ? "" : kind_names[kind]);
        if (!resnet) return fail(2, "--stream does not apply with the MLP encoder (only to --encoder resnet*)");
        if (!simclr) return fail(2, "--stream does not apply with --views mask (the loader makes SimCLR views)");
        if (val) return fail(2, "--stream does not apply with --val-split (the held-out rows would be read into memory; give --test)");
    } else {
        NOT_WITH(FL_LOADER_THREADS, "without --stream");
        NOT_WITH(FL_PREFETCH, "without --stream");
    }
    return 0;
}

/*
 * mlcl-train: contrastive pretraining, fine-tuning and evaluation from the
 * command line. With no arguments it runs its built-in default job on
 * Fashion-MNIST multi-label mosaics (Debian package dataset-fashion-mnist).
 *
 *   mlcl-train --train yeast-train.arff.gz --test yeast-test.arff.gz --preset yeast --method cld
 *
 * Run `mlcl-train --help` for every option.
 *
 * Hostile input (issue 12): every flag has a type and a range (the table
 * `flags` in cli/flags.c) and a flag that does not apply to the chosen setup is an
 * error; outputs are checked before any data is read (a regular file or
 * nothing, a writable directory, not an input) and written to a temporary
 * file that is renamed over the target once every write, flush, fsync and
 * close succeeded; the sizes the run would allocate are estimated and
 * compared with the memory this process may use before allocating; the
 * plotting helper runs through posix_spawn with an argument vector, never
 * a shell; SIGINT/SIGTERM end the process at once outside training and
 * stop training at the next step (with a checkpoint) during it.
 *
 * A new user's view (issue 13): --help is generated from the flag table
 * (every flag, its range and default); on a terminal each phase draws a
 * progress bar with its rate and the time left, elsewhere (or with --quiet)
 * plain epoch lines use the names of the --log columns; --json and
 * --per-label give a per-label table under the labels' names.
 *
 * This file holds the flag table and main(), which runs the steps of a run
 * in order; the steps and the other modules are in examples/cli/ (cli.h
 * lists them).
 */
#include "cli/cli.h"

/* ------------------------------------------------------------ the flag table
 * Every flag: its name, type, range (T_INT, T_FLOAT) or choices (T_CHOICE),
 * the name of its value and its help text; cli/flags.c parses argv with it
 * and writes --help (and --help-json) from it, cli/rules.c says which flags
 * apply to a run. */
#define METHOD_CHOICES "none|mulsupcon|rld|cld|supcon-all|supcon-any"
/* indices 0..5 are MLCL_METRIC_HA .. MLCL_METRIC_MAP (metrics.h); 6 none; 7 p_at_1 (the --log/--json name of p@1) */
#define SELECT_CHOICES "HA|ebF1|miF1|maF1|p@1|mAP|none|p_at_1"
#define ENCODER_CHOICES "mlp|resnet18-small|resnet34-small|resnet50-small|resnet18|resnet34|resnet50"
static flag flags[FL_COUNT] = {
    [FL_HELP] = { "--help", T_BOOL,
      .help = "this text" },
    [FL_HELP_JSON] = { "--help-json", T_BOOL,
      .help = "the flag table as JSON (name, type, range, choices, default, help): what bindings/python's "
              "python3 -m mlcl.train is checked against" },
    [FL_PRESET] = { "--preset", T_CHOICE, 0, 0, "yeast|scene",
      .help = "the paper's settings for that dataset (default: none, the library's defaults):" },
    [FL_TRAIN] = { "--train", T_IN, .arg = "FILE",
      .help = "training set: ARFF (.arff, .arff.gz), NumPy (.npy with --train-labels, or .npz), "
              "a CSV/TSV table, an image manifest (a CSV/TSV with a 'path' column, a COCO instances "
              ".json, a PASCAL VOC folder, FOLDER:split), anything else LIBSVM multi-label (docs/formats.md)" },
    [FL_TEST] = { "--test", T_IN, .arg = "FILE",
      .help = "test set in the same format (needed with --train unless --val-split is given; a VOC folder: "
              "split test unless FOLDER:split; an image manifest takes the training set's label names)" },
    [FL_TRAIN_LABELS] = { "--train-labels", T_IN, .arg = "FILE",
      .help = "labels (N x L of 0/1, .npy or .npz) of a .npy --train feature file" },
    [FL_TEST_LABELS] = { "--test-labels", T_IN, .arg = "FILE",
      .help = "labels of a .npy --test feature file" },
    [FL_NPZ_KEYS] = { "--npz-keys", T_KEYS, .arg = "X,Y",
      .help = "feature and label array names in .npz files (default x,y); uint8 images are divided by 255" },
    [FL_FORMAT] = { "--format", T_CHOICE, 0, 0, "arff|libsvm|csv",
      .help = "format of --train/--test (default: .npy/.npz NumPy, else guessed from the extension and "
              "the first line: .arff[.gz] or @relation ARFF, .csv/.tsv[.gz] or a header line with commas "
              "CSV, .json COCO, a folder with ImageSets/Main VOC, else LIBSVM)" },
    [FL_LABELS] = { "--labels", T_INT, 1, BIG,
      .help = "label count: ARFF: the last N attributes (default: MEKA's -C in @relation); "
              "LIBSVM: a fixed count (default: inferred); CSV: the last N columns" },
    [FL_FEATURES] = { "--features", T_INT, 1, BIG,
      .help = "LIBSVM feature count (default: from the file's header, else inferred)" },
    [FL_INDEX_BASE] = { "--index-base", T_CHOICE, 0, 0, "0|1",
      .help = "LIBSVM feature index base (default: from the file's header, else 1)" },
    [FL_MOSAIC_TRAIN] = { "--mosaic-train", T_INT, 2, 1e7,
      .help = "Fashion-MNIST 2x2 mosaics to train on (the built-in job)" },
    [FL_MOSAIC_TEST] = { "--mosaic-test", T_INT, 1, 1e7,
      .help = "mosaics to evaluate on (the built-in job)" },
    [FL_MOSAIC_DIR] = { "--mosaic-dir", T_INDIR, .arg = "DIR",
      .help = "Fashion-MNIST IDX files (default " MOSAIC_DIR_DEFAULT ", Debian's dataset-fashion-mnist)" },
    [FL_METHOD] = { "--method", T_CHOICE, 0, 0, METHOD_CHOICES, .arg = "M",
      .help = "pretraining method (docs/math.md); none: fine-tuning only, the baseline" },
    [FL_PRE_EPOCHS] = { "--pretrain-epochs", T_INT, 0, 1e6,
      .help = "pretraining epochs" },
    [FL_FT_EPOCHS] = { "--finetune-epochs", T_INT, 0, 1e6,
      .help = "fine-tuning epochs" },
    [FL_BATCH] = { "--batch", T_INT, 2, 1e6,
      .help = "mini-batch size (both phases; at most the training rows)" },
    [FL_QUEUE] = { "--queue", T_INT, 1, BIG, .arg = "K",
      .help = "MoCo queue length (at most the training rows)" },
    [FL_SEED] = { "--seed", T_U64, .arg = "S",
      .help = "the run's seed (initialisation, shuffling, masks, --val-split)" },
    [FL_THREADS] = { "--threads", T_INT, 1, 1024, .arg = "T",
      .help = "kernel threads, at most the CPUs available (default: the library's choice)" },
    [FL_FORCE_THREADS] = { "--force-threads", T_BOOL,
      .help = "keep a --threads above the CPUs available" },
    [FL_PRE_LR] = { "--pretrain-lr", T_FLOAT, 0, 10,
      .help = "pretraining learning rate (AdamW)" },
    [FL_PRE_WD] = { "--pretrain-wd", T_FLOAT, 0, 10,
      .help = "pretraining weight decay" },
    [FL_FT_LR] = { "--finetune-lr", T_FLOAT, 0, 10,
      .help = "fine-tuning learning rate (AdamW)" },
    [FL_FT_WD] = { "--finetune-wd", T_FLOAT, 0, 10,
      .help = "fine-tuning weight decay" },
    [FL_PRE_MASK] = { "--pretrain-mask", T_FLOAT, 0, 0.99, .arg = "P",
      .help = "probability of masking an input feature in the pretraining views" },
    [FL_FT_MASK] = { "--finetune-mask", T_FLOAT, 0, 0.99, .arg = "P",
      .help = "probability of masking an input feature while fine-tuning" },
    [FL_PRE_SCHED] = { "--pretrain-sched", T_SCHED,
      .help = "pretraining cosine schedule with warm restarts" },
    [FL_FT_SCHED] = { "--finetune-sched", T_SCHED,
      .help = "fine-tuning cosine schedule with warm restarts" },
    [FL_MOMENTUM] = { "--momentum", T_FLOAT, 0, 1, .arg = "M",
      .help = "key-encoder momentum" },
    [FL_HIDDEN] = { "--hidden", T_HIDDEN, 1, 1e7, .arg = "A,B,..",
      .help = "MLP widths, 1 to 8 layers" },
    [FL_DROPOUT] = { "--dropout", T_FLOAT, 0, 0.99, .arg = "P",
      .help = "MLP dropout" },
    [FL_ENCODER] = { "--encoder", T_CHOICE, 0, 0, ENCODER_CHOICES, .arg = "E",
      .help = "backbone (-small: 3x3 stem without max-pool; docs/images.md)" },
    [FL_BASE_WIDTH] = { "--base-width", T_INT, 1, 4096,
      .help = "channels of the ResNet's first stage (64 is torchvision's)" },
    [FL_IMAGE_SIZE] = { "--image-size", T_INT, 1, 4096,
      .help = "views resized/cropped to N x N (default: the images' size; needs SimCLR views, except with image manifests); "
              "image manifests are decoded at N x N (default 224)" },
    [FL_VIEWS] = { "--views", T_CHOICE, 0, 0, "simclr|mask",
      .help = "pretraining views (default: simclr with a ResNet, mask with the MLP)" },
    [FL_FT_VIEWS] = { "--finetune-views", T_CHOICE, 0, 0, "simclr|none",
      .help = "augment fine-tuning inputs (crop and flip only) or not (default none)" },
    [FL_ALPHA] = { "--alpha", T_FLOAT, 0, 1e6,
      .help = "weight of the closeness term H (rld, cld)" },
    [FL_BETA] = { "--beta", T_FLOAT, 0, 1e6,
      .help = "weight of the LD head's ||W||^2 in the loss (rld, cld)" },
    [FL_TAU] = { "--tau", T_FLOAT, 1e-4, 1e3,
      .help = "temperature (every pretraining method)" },
    [FL_SIGMA] = { "--sigma", T_FLOAT, 1e-6, 1e3,
      .help = "RBF width (rld)" },
    [FL_MASK] = { "--mask", T_CHOICE, 0, 0, "any|all",
      .help = "positive set of G and H: any shared label or identical label sets (rld, cld)" },
    [FL_REDUCTION] = { "--reduction", T_CHOICE, 0, 0, "mean|sum",
      .help = "batch reduction of the loss (every pretraining method)" },
    [FL_CLD_WEIGHT] = { "--cld-weight", T_CHOICE, 0, 0, "prob|logprob",
      .help = "CLD's smoothness weight: exp(l) or the literal l (cld)" },
    [FL_WEIGHT_GRAD] = { "--weight-grad", T_CHOICE, 0, 0, "off|on|0|1",
      .help = "gradient through the weight of G (rld, cld)" },
    [FL_DWEIGHT_GRAD] = { "--dweight-grad", T_CHOICE, 0, 0, "off|on|0|1",
      .help = "gradient through the distributions weighting the contrastive term (rld, cld)" },
    [FL_CON_NORM] = { "--con-norm", T_CHOICE, 0, 0, "none|per_label",
      .help = "contrastive term as written, or divided by |P^j(i)| (rld, cld)" },
    [FL_H_TARGET] = { "--h-target", T_CHOICE, 0, 0, "normalised|raw|normalized",
      .help = "H compares to y/|y| or to the raw y (rld, cld)" },
    [FL_JSON] = { "--json", T_OUT, .arg = "FILE",
      .help = "the metrics (both protocols), the per-label table (label names, support, AP, F1 at 0.5) "
              "and the timing as JSON (docs/formats.md)" },
    [FL_LOG] = { "--log", T_OUT, .arg = "FILE.csv",
      .help = "one row per epoch, the columns named as in the epoch lines: "
              "phase,epoch,loss,con,G,H,wreg,lr,samples_per_s,HA,ebF1,miF1,maF1,p_at_1,mAP,bce" },
    [FL_PLOT] = { "--plot", T_OUTDIR, .arg = "DIR",
      .help = "PNG training curves (from --log) and label distributions (needs python3-matplotlib)" },
    [FL_EVAL_EVERY] = { "--eval-every", T_INT, 1, 1e6,
      .help = "with --log: evaluate (threshold 0.5, on the test rows, else the --val-split rows) every N fine-tuning "
              "epochs, shown in the epoch lines and the log's metric columns (default: at the end only)" },
    [FL_CHECKPOINT] = { "--checkpoint", T_OUT, .arg = "FILE",
      .help = "save the training state at the end of each epoch and on SIGINT/SIGTERM" },
    [FL_SAVE_MODEL] = { "--save-model", T_OUT, .arg = "FILE",
      .help = "write the trained model at the end (mlcl-predict --model FILE; docs/models.md)" },
    [FL_RESUME] = { "--resume", T_IN, .arg = "FILE",
      .help = "continue a run from a checkpoint (same options; may equal --checkpoint)" },
    [FL_VAL_SPLIT] = { "--val-split", T_FLOAT, 0.01, 0.9, .arg = "FRAC",
      .help = "hold out FRAC of the training set (seeded with --seed) as validation rows: the decision "
              "thresholds (and with --select-metric the fine-tuning epoch) are chosen on them; with --test "
              "the report is on the test set, else on the held-out rows (default: none, no validation)" },
    [FL_QUIET] = { "--quiet", T_BOOL,
      .help = "no progress bar and no notices: plain epoch lines only" },
    [FL_SPARSE] = { "--sparse", T_BOOL,
      .help = "LIBSVM/ARFF: keep the training rows sparse (CSR: memory follows the non-zeros; "
              "no standardisation; the test set stays dense); docs/sparse.md" },
    [FL_PER_LABEL] = { "--per-label", T_BOOL,
      .help = "print a table per label (name, support, AP, F1 at 0.5) after the metrics" },
    [FL_IMPUTE] = { "--impute", T_CHOICE, 0, 0, "mean|zero",
      .help = "CSV tables: a missing feature value becomes the column's mean or 0 "
              "(default: a missing value is an error naming its line and column)" },
    [FL_LABEL_COLUMNS] = { "--label-columns", T_NAMES, .arg = "A,B,..",
      .help = "CSV tables: the label columns by name (default: none; one of --labels, "
              "--label-columns, --label-prefix chooses the label columns)" },
    [FL_LABEL_PREFIX] = { "--label-prefix", T_TEXT, .arg = "P",
      .help = "CSV tables: every column whose name starts with P is a label (default: none)" },
    [FL_IMAGE_ROOT] = { "--image-root", T_INDIR, .arg = "DIR",
      .help = "image manifests: the folder the image paths are relative to (default: the manifest's "
              "folder; COCO: the split's folder of the COCO layout; VOC: FOLDER/JPEGImages)" },
    [FL_SKIP_BAD_IMAGES] = { "--skip-bad-images", T_BOOL,
      .help = "image manifests: leave a missing, corrupt or truncated image out (counted) "
              "instead of failing" },
    [FL_VOC_DIFFICULT] = { "--voc-difficult", T_CHOICE, 0, 0, "neg|pos", /* the index is the mlcl_voc_difficult value */
      .help = "PASCAL VOC: a 'difficult' (0) entry counts as a negative or a positive label" },
    [FL_SELECT_METRIC] = { "--select-metric", T_CHOICE, 0, 0, SELECT_CHOICES, .arg = "NAME",
      .help = "with --val-split: keep the fine-tuning epoch with the best value of this metric on the "
              "validation rows (HA, ebF1, miF1, maF1 best over thresholds 0.1 .. 0.9; p@1 is also "
              "spelt p_at_1); none keeps the last epoch (mAP when only --patience is given)" },
    [FL_PATIENCE] = { "--patience", T_INT, 0, 1e6,
      .help = "with --val-split: stop fine-tuning after N epochs without a better validation value "
              "(0: run every epoch)" },
    [FL_VAL_THRESHOLDS] = { "--val-thresholds", T_CHOICE, 0, 0, "per-label|global",
      .help = "with --val-split: the thresholds the model keeps, one per label (F1 per label) or one "
              "for every label (micro-F1); the report shows both" },
    [FL_STREAM] = { "--stream", T_BOOL,
      .help = "image manifests with a ResNet encoder: stream the training images from disk through "
              "background loader threads (decode, resize, SimCLR views, ImageNet normalisation) instead "
              "of reading them all into memory; the test set is still read into memory (docs/loader.md)" },
    [FL_LOADER_THREADS] = { "--loader-threads", T_INT, 1, 16,
      .help = "with --stream: decoding threads of each loader (the batches do not depend on it)" },
    [FL_PREFETCH] = { "--prefetch", T_INT, 1, 64,
      .help = "with --stream: batches decoded ahead; each loader's ring holds N x batch x views x 3 x "
              "size x size floats" },
};
flag *const cli_flags = flags;

void run_init(run *r)
{
    memset(r, 0, sizeof *r);
    r->a.log.slot = -1;
    r->a.tty = isatty(2);
    r->vopt = (mlcl_validation_options)MLCL_VALIDATION_OPTIONS_INIT;
    r->paper = r->t05 = r->honest = r->honest_g = (mlcl_metrics)MLCL_METRICS_INIT;
    r->best_ep = -1;
    r->best_v = NAN;
    r->thr_g = NAN;
}

void run_free(run *r)
{
    if (r->a.log.f || r->a.log.tmp[0]) sf_abort(&r->a.log); /* a log a failed step left open */
    free(r->ls);
    mlcl_trainer_free(r->a.trainer);
    if (r->val != r->test) mlcl_dataset_free(r->val);
    mlcl_dataset_free(r->test);
    mlcl_dataset_free(r->train);
    mlcl_loader_free(r->pre_ld);
    mlcl_loader_free(r->ft_ld);
    mlcl_image_list_free(r->ilist);
    memset(r, 0, sizeof *r);
}

int main(int argc, char **argv)
{
    install_signals();
    g_umask = umask(0);
    umask(g_umask);
    if (parse_args(argc, argv)) return 2;
    if (G(FL_HELP)) { usage(stdout); return 0; }
    if (G(FL_HELP_JSON)) return help_json(stdout);

    static run r; /* (large: paths of PATH_MAX bytes) */
    run_init(&r);
    int (*const steps[])(run *) = {
        run_options,      /* the settings from the flags */
        run_budget_flags, /* the memory the flags alone imply */
        run_check_paths,  /* inputs and outputs, before any data is read */
        run_load,         /* the data */
        run_sizes,        /* the sizes that depend on the data */
        run_trainer,      /* the network, the views, the trainer; --resume */
        run_train,        /* training (a signal stops it with a checkpoint) */
        run_report,       /* the metrics, --json, --save-model, --plot */
    };
    int status = 0;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0] && status == 0; k++) status = steps[k](&r);
    run_free(&r);
    return status;
}

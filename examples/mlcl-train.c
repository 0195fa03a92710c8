/*
 * mlcl-train: contrastive pretraining, fine-tuning and evaluation from the
 * command line. With no arguments it runs its built-in default job on
 * Fashion-MNIST multi-label mosaics (Debian package dataset-fashion-mnist).
 *
 *   mlcl-train --train yeast-train.arff.gz --test yeast-test.arff.gz --preset yeast --method cld
 *
 * Run `mlcl-train --help` for every option.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <mlcl.h>
#include <mlcl/comm.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

typedef struct app {
    int tty, quiet;
    FILE *log;
    const char *plot_dir;
    mlcl_trainer *trainer;
    const mlcl_dataset *test;
    int eval_every;
    /* epoch accumulators for the CSV log / plots */
    double last_lr;
} app;

static const char *method_names[] = { "none", "mulsupcon", "rld", "cld", "supcon-all", "supcon-any" };

static void usage(FILE *f)
{
    fprintf(f,
        "usage: mlcl-train [options]\n"
        "Data (default: Fashion-MNIST 2x2 mosaics, --mosaic-train/--mosaic-test rows):\n"
        "  --train FILE            training set (ARFF, .arff.gz, or LIBSVM multi-label with --format libsvm)\n"
        "  --test FILE             test set\n"
        "  --format arff|libsvm    file format (default: by extension: .arff[.gz] is ARFF, .npy/.npz NumPy, else LIBSVM)\n"
        "  --train-labels FILE  --test-labels FILE   labels (N x L of 0/1) of .npy feature files\n"
        "  --npz-keys X,Y          array names in .npz files (default x,y); uint8 images are divided by 255\n"
        "  --labels N              label count (ARFF: last N attributes; default: MEKA -C in @relation)\n"
        "  --features N            LIBSVM feature count (default: inferred)\n"
        "  --mosaic-train N        mosaics for training (default 6000)\n"
        "  --mosaic-test N         mosaics for testing (default 2000)\n"
        "  --mosaic-dir DIR        Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
        "Method and protocol:\n"
        "  --preset yeast|scene    the paper's settings for that dataset\n"
        "  --method M              none | mulsupcon | rld | cld | supcon-all | supcon-any (default cld)\n"
        "  --pretrain-epochs N  --finetune-epochs N  --batch N  --queue K  --seed S  --threads T\n"
        "  --pretrain-lr X  --pretrain-wd X  --finetune-lr X  --finetune-wd X\n"
        "  --pretrain-mask P  --finetune-mask P      input masking probabilities (0.5, 0.4)\n"
        "  --pretrain-sched T0,Tmult,eta_min          warm-restart schedule (50,2,1e-5)\n"
        "  --finetune-sched T0,Tmult,eta_min          warm-restart schedule (25,2,1e-4)\n"
        "  --momentum M            key-encoder momentum (0.999)\n"
        "  --hidden A,B,C          backbone widths (256,512,256)   --dropout P (0.2)\n"
        "Images (datasets with an image shape: the mosaics, NPY/NPZ images):\n"
        "  --encoder E             mlp (default) | resnet18-small | resnet34-small | resnet50-small |\n"
        "                          resnet18 | resnet34 | resnet50  (-small: 3x3 stem without max-pool)\n"
        "  --base-width N          channels of the ResNet's first stage (64, torchvision)\n"
        "  --image-size N          views resized/cropped to N x N (default: the images' size)\n"
        "  --views simclr|mask     pretraining views (default: simclr with a ResNet, mask with the MLP)\n"
        "  --finetune-views simclr|none   augment fine-tuning inputs (crop+flip only) or not (default none)\n"
        "Loss options (MATH.md):\n"
        "  --alpha X --beta X --tau X --sigma X\n"
        "  --mask any|all  --reduction mean|sum  --cld-weight prob|logprob\n"
        "  --weight-grad on|off  --dweight-grad on|off  --con-norm none|per_label  --h-target normalised|raw\n"
        "Output:\n"
        "  --json FILE             metrics and timing as JSON\n"
        "  --log FILE.csv          per-epoch loss parts, lr, samples/s, metrics\n"
        "  --plot DIR              PNG training curves and label distributions (needs python3-matplotlib)\n"
        "  --eval-every N          evaluate on the test set every N fine-tuning epochs for the log (default: last only)\n"
        "  --save-model FILE       write the trained model (mlcl-predict --model FILE; docs/models.md)\n"
        "  --checkpoint FILE       save the training state at the end of each epoch and on SIGINT/SIGTERM\n"
        "  --resume FILE           continue a run from a checkpoint (same options)\n"
        "  --val-split FRAC        hold out FRAC of the training set (seeded) as validation: thresholds (per label,\n"
        "                          max F1) chosen on it; with --test the report is on the test set, else on it\n"
        "  --select-metric NAME    keep the fine-tuning epoch best on validation: mAP|miF1|maF1|ebF1|HA|p@1 (needs --val-split)\n"
        "  --patience N            stop fine-tuning after N epochs without a better validation value (0: never)\n"
        "  --val-thresholds per-label|global   thresholds the model keeps (default per-label; the report shows both)\n"
        "  --quiet                 no progress output\n");
}

static int progress_cb(const mlcl_progress *p, void *ctx)
{
    app *a = ctx;
    a->last_lr = p->lr;
    if (!a->quiet) {
        if (a->tty) {
            fprintf(stderr, "\r%-9s epoch %4d/%-4d step %6lld  loss %9.4f  lr %.2e  %8.0f samples/s ",
                    p->phase == 1 ? "pretrain" : "finetune", p->epoch + 1, p->epochs, p->step, p->loss, p->lr,
                    p->samples_per_s);
            if (p->end_of_epoch && p->epoch + 1 == p->epochs) fputc('\n', stderr);
            fflush(stderr);
        } else if (p->end_of_epoch && ((p->epoch + 1) % 10 == 0 || p->epoch + 1 == p->epochs || p->epoch == 0)) {
            fprintf(stderr, "%s epoch %d/%d loss %.4f (con %.4f G %.4f H %.4f W %.4f) lr %.3g %.0f samples/s\n",
                    p->phase == 1 ? "pretrain" : "finetune", p->epoch + 1, p->epochs, p->loss, p->con, p->G, p->H,
                    p->wreg, p->lr, p->samples_per_s);
        }
    }
    if (p->end_of_epoch && a->log) {
        fprintf(a->log, "%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.1f", p->phase, p->epoch + 1, p->loss, p->con, p->G,
                p->H, p->wreg, p->lr, p->samples_per_s);
        if (p->phase == 2 && a->test && a->eval_every > 0 && ((p->epoch + 1) % a->eval_every == 0)) {
            mlcl_metrics m;
            if (mlcl_trainer_evaluate(a->trainer, a->test, NULL, &m) == MLCL_OK)
                fprintf(a->log, ",%.5f,%.5f,%.5f,%.5f,%.5f,%.5f", m.HA, m.ebF1, m.miF1, m.maF1, m.p_at_1, m.mAP);
            else
                fprintf(a->log, ",,,,,,");
        } else {
            fprintf(a->log, ",,,,,,");
        }
        fputc('\n', a->log);
        fflush(a->log);
    }
    return g_stop ? 1 : 0;
}

static int parse_onoff(const char *v, int *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "1")) { *out = 1; return 0; }
    if (!strcmp(v, "off") || !strcmp(v, "0")) { *out = 0; return 0; }
    return -1;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* NumPy data: FILE.npz holds arrays x (features or images) and y (labels)
 * unless --npz-keys says otherwise; FILE.npy needs its labels file. */
static const char *npz_x = "x", *npz_y = "y";

static int load_npy(mlcl_dataset **ds, const char *path, const char *labels_path)
{
    if (ends_with(path, ".npz")) return mlcl_dataset_load_npy(ds, path, npz_x, labels_path ? labels_path : path,
                                                              labels_path && ends_with(labels_path, ".npy") ? NULL : npz_y, 1);
    if (!labels_path) {
        fprintf(stderr, "mlcl-train: %s is a .npy file: give its labels with --train-labels/--test-labels\n", path);
        return MLCL_EINVAL;
    }
    return mlcl_dataset_load_npy(ds, path, NULL, labels_path, ends_with(labels_path, ".npz") ? npz_y : NULL, 1);
}

static int load(mlcl_dataset **ds, const char *path, const char *format, int labels, int features)
{
    int arff = format ? !strcmp(format, "arff") : (ends_with(path, ".arff") || ends_with(path, ".arff.gz"));
    return arff ? mlcl_dataset_load_arff(ds, path, labels, 0) : mlcl_dataset_load_libsvm(ds, path, features, labels, MLCL_LIBSVM_INDEX_AUTO);
}

static void print_metrics_row(const char *name, const mlcl_metrics *m)
{
    printf("%-22s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f\n", name, m->HA, m->ebF1, m->miF1, m->maF1, m->p_at_1, m->mAP);
}

static void json_metrics(FILE *f, const mlcl_metrics *m)
{
    fprintf(f, "{\"HA\": %.6f, \"ebF1\": %.6f, \"miF1\": %.6f, \"maF1\": %.6f, \"p_at_1\": %.6f, \"mAP\": %.6f}", m->HA,
            m->ebF1, m->miF1, m->maF1, m->p_at_1, m->mAP);
}

#define NEED_ARG()                                                                   \
    do {                                                                             \
        if (i + 1 >= argc) { fprintf(stderr, "mlcl-train: %s needs a value\n", arg); return 2; } \
        val = argv[++i];                                                             \
    } while (0)

static int parse_num(const char *arg, const char *val, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "mlcl-train: %s: '%s' is not a number in [%g, %g]\n", arg, val, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- data-parallel runs: `mpirun -np N mlcl-train ...` (docs/distributed.md).
 * This program does not link MPI: under mpirun (OMPI_COMM_WORLD_SIZE or
 * PMI_SIZE > 1) it dlopen()s libmlcl_mpi.so.1, whose mlcl_mpi_open() returns
 * an mlcl_comm over MPI_COMM_WORLD, and installs it on the trainer. Only rank
 * 0 prints, logs and writes files (checkpoints: mlcl_trainer_save does that). */
static mlcl_comm *g_comm;
static void (*g_mpi_close)(mlcl_comm *);

static void mpi_at_exit(int status, void *arg)
{
    (void)arg;
    if (!g_comm) return;
    if (status == 0 || status == 130) { g_mpi_close(g_comm); return; }
    /* a rank that fails alone must not wait for the others in MPI_Finalize */
    fprintf(stderr, "mlcl-train: rank %d exits with status %d: aborting the other ranks\n", g_comm->rank, status);
    _exit(status);
}

static int mpi_world_size(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    return v ? atoi(v) : 1;
}

/* returns 0 (single process, or attached), 1 on error (message printed) */
static int mpi_attach(app *a, const char **log_path, const char **json_path)
{
    if (mpi_world_size() <= 1) return 0;
    void *h = dlopen("libmlcl_mpi.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        fprintf(stderr, "mlcl-train: running under mpirun but libmlcl_mpi.so.1 cannot be loaded (%s); "
                "build it with `make mpi` and put it next to libmlcl\n", dlerror());
        return 1;
    }
    int (*open_fn)(mlcl_comm **) = (int (*)(mlcl_comm **))dlsym(h, "mlcl_mpi_open");
    g_mpi_close = (void (*)(mlcl_comm *))dlsym(h, "mlcl_mpi_close");
    if (!open_fn || !g_mpi_close || open_fn(&g_comm) != MLCL_OK) {
        fprintf(stderr, "mlcl-train: libmlcl_mpi: MPI could not be initialised\n");
        return 1;
    }
    on_exit(mpi_at_exit, NULL);
    if (mlcl_trainer_set_comm(a->trainer, g_comm) != MLCL_OK) {
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        return 1;
    }
    if (g_comm->rank == 0) {
        if (!a->quiet) fprintf(stderr, "mlcl-train: data-parallel over %d ranks\n", g_comm->size);
    } else {
        a->quiet = 1;
        a->plot_dir = NULL;
        *log_path = NULL;
        *json_path = NULL;
        if (!freopen("/dev/null", "w", stdout)) return 1;
    }
    return 0;
}

/* every rank stops at the same step (a signal reaches the ranks at different times) */
static int mpi_progress_cb(const mlcl_progress *p, void *ctx)
{
    double stop = progress_cb(p, ctx) != 0;
    if (g_comm->allreduce_f64(g_comm->ctx, &stop, 1) != 0) return 1;
    return stop != 0;
}

/* --save-model: the model with label names, data files, training-set hash
 * and the final metrics (not when they were measured on a validation split) */
static int save_model(const mlcl_trainer *t, const char *path, const mlcl_dataset *train, const char *train_path,
                      const char *test_path, const mlcl_metrics *paper, const mlcl_metrics *t05, int on_test)
{
    mlcl_model_export_options eo = MLCL_MODEL_EXPORT_OPTIONS_INIT;
    eo.train = train; eo.train_path = train_path; eo.test_path = on_test ? test_path : NULL;
    eo.test_paper = on_test ? paper : NULL; eo.test_t05 = on_test ? t05 : NULL;
    mlcl_model *m = NULL;
    int rc = mlcl_trainer_export_model_ex(t, &m, &eo);
    if (rc == MLCL_OK) rc = mlcl_model_save(m, path);
    mlcl_model_free(m);
    if (rc != MLCL_OK) { fprintf(stderr, "mlcl-train: --save-model: %s\n", mlcl_last_error()); return 1; }
    return 0;
}

int main(int argc, char **argv)
{
    const char *save_model_path = NULL;
    const char *train_path = NULL, *test_path = NULL, *format = NULL, *json_path = NULL, *log_path = NULL;
    const char *ckpt_path = NULL, *resume_path = NULL, *mosaic_dir = NULL, *preset = NULL;
    const char *train_labels = NULL, *test_labels = NULL;
    static char npz_keys[256];
    int labels = 0, features = 0, mosaic_train = 6000, mosaic_test = 2000, threads = 0;
    double val_split = 0;
    mlcl_validation_options vopt = MLCL_VALIDATION_OPTIONS_INIT; /* --val-split, --select-metric, --patience */
    mlcl_dataset *val = NULL;
    const char *encoder = "mlp", *views = NULL, *ft_views = "none";
    int base_width = 64, image_size = 0;
    app a;
    memset(&a, 0, sizeof a);
    a.tty = isatty(2);

    mlcl_train_options o;
    if (mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION) != MLCL_OK) {
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        return 1;
    }
    /* first pass: the preset, so that explicit flags override it */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[i + 1];
    int default_job = 1;
    if (preset) {
        if (mlcl_train_options_preset(&o, preset) != MLCL_OK) { fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error()); return 2; }
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        double v;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(arg, "--preset")) { NEED_ARG(); }
        else if (!strcmp(arg, "--train")) { NEED_ARG(); train_path = val; default_job = 0; }
        else if (!strcmp(arg, "--test")) { NEED_ARG(); test_path = val; }
        else if (!strcmp(arg, "--train-labels")) { NEED_ARG(); train_labels = val; }
        else if (!strcmp(arg, "--test-labels")) { NEED_ARG(); test_labels = val; }
        else if (!strcmp(arg, "--npz-keys")) { NEED_ARG();
            snprintf(npz_keys, sizeof npz_keys, "%s", val);
            char *comma = strchr(npz_keys, ',');
            if (!comma || comma == npz_keys || !comma[1]) { fprintf(stderr, "mlcl-train: --npz-keys: '%s' is not X,Y (e.g. images,labels)\n", val); return 2; }
            *comma = 0; npz_x = npz_keys; npz_y = comma + 1; }
        else if (!strcmp(arg, "--format")) { NEED_ARG(); format = val;
            if (strcmp(val, "arff") && strcmp(val, "libsvm")) { fprintf(stderr, "mlcl-train: --format: '%s' is not arff or libsvm\n", val); return 2; } }
        else if (!strcmp(arg, "--labels")) { NEED_ARG(); if (parse_num(arg, val, 1, 1e6, &v)) return 2; labels = (int)v; }
        else if (!strcmp(arg, "--features")) { NEED_ARG(); if (parse_num(arg, val, 1, 1e8, &v)) return 2; features = (int)v; }
        else if (!strcmp(arg, "--mosaic-train")) { NEED_ARG(); if (parse_num(arg, val, 2, 1e7, &v)) return 2; mosaic_train = (int)v; }
        else if (!strcmp(arg, "--mosaic-test")) { NEED_ARG(); if (parse_num(arg, val, 1, 1e7, &v)) return 2; mosaic_test = (int)v; }
        else if (!strcmp(arg, "--mosaic-dir")) { NEED_ARG(); mosaic_dir = val; }
        else if (!strcmp(arg, "--method")) {
            NEED_ARG();
            int found = -1;
            for (int k = 0; k < 6; k++) if (!strcmp(val, method_names[k])) found = k;
            if (found < 0) { fprintf(stderr, "mlcl-train: --method: '%s' is not one of none, mulsupcon, rld, cld, supcon-all, supcon-any\n", val); return 2; }
            o.method = found;
        }
        else if (!strcmp(arg, "--pretrain-epochs")) { NEED_ARG(); if (parse_num(arg, val, 0, 1e6, &v)) return 2; o.pretrain.epochs = (int)v; }
        else if (!strcmp(arg, "--finetune-epochs")) { NEED_ARG(); if (parse_num(arg, val, 0, 1e6, &v)) return 2; o.finetune.epochs = (int)v; }
        else if (!strcmp(arg, "--batch")) { NEED_ARG(); if (parse_num(arg, val, 2, 1e6, &v)) return 2; o.batch = (int)v; }
        else if (!strcmp(arg, "--queue")) { NEED_ARG(); if (parse_num(arg, val, 1, 1e7, &v)) return 2; o.moco.queue_size = (int)v; }
        else if (!strcmp(arg, "--seed")) { NEED_ARG(); if (parse_num(arg, val, 0, 1.8e19, &v)) return 2; o.seed = (uint64_t)v; }
        else if (!strcmp(arg, "--threads")) { NEED_ARG(); if (parse_num(arg, val, 1, 1024, &v)) return 2; threads = (int)v; }
        else if (!strcmp(arg, "--pretrain-lr")) { NEED_ARG(); if (parse_num(arg, val, 0, 10, &v)) return 2; o.pretrain.lr = (float)v; }
        else if (!strcmp(arg, "--pretrain-wd")) { NEED_ARG(); if (parse_num(arg, val, 0, 10, &v)) return 2; o.pretrain.weight_decay = (float)v; }
        else if (!strcmp(arg, "--finetune-lr")) { NEED_ARG(); if (parse_num(arg, val, 0, 10, &v)) return 2; o.finetune.lr = (float)v; }
        else if (!strcmp(arg, "--finetune-wd")) { NEED_ARG(); if (parse_num(arg, val, 0, 10, &v)) return 2; o.finetune.weight_decay = (float)v; }
        else if (!strcmp(arg, "--pretrain-mask")) { NEED_ARG(); if (parse_num(arg, val, 0, 0.99, &v)) return 2; o.pretrain.mask_p = (float)v; }
        else if (!strcmp(arg, "--finetune-mask")) { NEED_ARG(); if (parse_num(arg, val, 0, 0.99, &v)) return 2; o.finetune.mask_p = (float)v; }
        else if (!strcmp(arg, "--pretrain-sched") || !strcmp(arg, "--finetune-sched")) {
            NEED_ARG();
            int t0, tm;
            float em;
            char tail;
            if (sscanf(val, "%d,%d,%f%c", &t0, &tm, &em, &tail) != 3 || t0 < 1 || tm < 1 || !(em >= 0)) {
                fprintf(stderr, "mlcl-train: %s: '%s' is not T0,Tmult,eta_min (e.g. 25,2,1e-4)\n", arg, val);
                return 2;
            }
            mlcl_phase_options *ph = arg[2] == 'p' ? &o.pretrain : &o.finetune;
            ph->T_0 = t0; ph->T_mult = tm; ph->eta_min = em;
        }
        else if (!strcmp(arg, "--momentum")) { NEED_ARG(); if (parse_num(arg, val, 0, 1, &v)) return 2; o.moco.momentum = (float)v; }
        else if (!strcmp(arg, "--dropout")) { NEED_ARG(); if (parse_num(arg, val, 0, 0.99, &v)) return 2; o.moco.dropout = (float)v; }
        else if (!strcmp(arg, "--hidden")) {
            NEED_ARG();
            int k = 0;
            const char *s = val;
            while (*s && k < 8) {
                char *end;
                long w = strtol(s, &end, 10);
                if (end == s || w <= 0 || w > 1000000) { fprintf(stderr, "mlcl-train: --hidden: '%s' is not a list of widths like 256,512,256\n", val); return 2; }
                o.moco.hidden[k++] = (int)w;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') { fprintf(stderr, "mlcl-train: --hidden: bad separator in '%s'\n", val); return 2; }
            }
            o.moco.n_hidden = k;
        }
        else if (!strcmp(arg, "--alpha")) { NEED_ARG(); if (parse_num(arg, val, 0, 1e6, &v)) return 2; o.moco.loss.alpha = (float)v; }
        else if (!strcmp(arg, "--beta")) { NEED_ARG(); if (parse_num(arg, val, 0, 1e6, &v)) return 2; o.moco.loss.beta = (float)v; }
        else if (!strcmp(arg, "--tau")) { NEED_ARG(); if (parse_num(arg, val, 1e-4, 1e3, &v)) return 2; o.moco.loss.tau = (float)v; }
        else if (!strcmp(arg, "--sigma")) { NEED_ARG(); if (parse_num(arg, val, 1e-6, 1e3, &v)) return 2; o.moco.loss.sigma = (float)v; }
        else if (!strcmp(arg, "--mask")) { NEED_ARG();
            if (!strcmp(val, "any")) o.moco.loss.mask = MLCL_MASK_ANY; else if (!strcmp(val, "all")) o.moco.loss.mask = MLCL_MASK_ALL;
            else { fprintf(stderr, "mlcl-train: --mask: '%s' is not any or all\n", val); return 2; } }
        else if (!strcmp(arg, "--reduction")) { NEED_ARG();
            if (!strcmp(val, "mean")) o.moco.loss.reduction = MLCL_REDUCE_MEAN; else if (!strcmp(val, "sum")) o.moco.loss.reduction = MLCL_REDUCE_SUM;
            else { fprintf(stderr, "mlcl-train: --reduction: '%s' is not mean or sum\n", val); return 2; } }
        else if (!strcmp(arg, "--cld-weight")) { NEED_ARG();
            if (!strcmp(val, "prob")) o.moco.loss.cld_weight = MLCL_CLD_WEIGHT_PROB; else if (!strcmp(val, "logprob")) o.moco.loss.cld_weight = MLCL_CLD_WEIGHT_LOGPROB;
            else { fprintf(stderr, "mlcl-train: --cld-weight: '%s' is not prob or logprob\n", val); return 2; } }
        else if (!strcmp(arg, "--weight-grad")) { NEED_ARG(); if (parse_onoff(val, &o.moco.loss.weight_grad)) { fprintf(stderr, "mlcl-train: --weight-grad: '%s' is not on or off\n", val); return 2; } }
        else if (!strcmp(arg, "--dweight-grad")) { NEED_ARG(); if (parse_onoff(val, &o.moco.loss.dweight_grad)) { fprintf(stderr, "mlcl-train: --dweight-grad: '%s' is not on or off\n", val); return 2; } }
        else if (!strcmp(arg, "--con-norm")) { NEED_ARG();
            if (!strcmp(val, "none")) o.moco.loss.con_norm = MLCL_CON_NORM_NONE; else if (!strcmp(val, "per_label")) o.moco.loss.con_norm = MLCL_CON_NORM_PER_LABEL;
            else { fprintf(stderr, "mlcl-train: --con-norm: '%s' is not none or per_label\n", val); return 2; } }
        else if (!strcmp(arg, "--h-target")) { NEED_ARG();
            if (!strcmp(val, "normalised") || !strcmp(val, "normalized")) o.moco.loss.h_target = MLCL_H_TARGET_NORMALISED; else if (!strcmp(val, "raw")) o.moco.loss.h_target = MLCL_H_TARGET_RAW;
            else { fprintf(stderr, "mlcl-train: --h-target: '%s' is not normalised or raw\n", val); return 2; } }
        else if (!strcmp(arg, "--json")) { NEED_ARG(); json_path = val; }
        else if (!strcmp(arg, "--log")) { NEED_ARG(); log_path = val; }
        else if (!strcmp(arg, "--plot")) { NEED_ARG(); a.plot_dir = val; }
        else if (!strcmp(arg, "--eval-every")) { NEED_ARG(); if (parse_num(arg, val, 1, 1e6, &v)) return 2; a.eval_every = (int)v; }
        else if (!strcmp(arg, "--checkpoint")) { NEED_ARG(); ckpt_path = val; }
        else if (!strcmp(arg, "--save-model")) { NEED_ARG(); save_model_path = val; }
        else if (!strcmp(arg, "--resume")) { NEED_ARG(); resume_path = val; }
        else if (!strcmp(arg, "--val-split")) { NEED_ARG(); if (parse_num(arg, val, 0.01, 0.9, &v)) return 2; val_split = v; }
        else if (!strcmp(arg, "--select-metric")) { NEED_ARG();
            static const char *const sm[] = { "HA", "ebF1", "miF1", "maF1", "p@1", "mAP" };
            vopt.select_metric = -2;
            for (int k = 0; k < 6; k++) if (!strcmp(val, sm[k]) || (k == 4 && !strcmp(val, "p_at_1"))) vopt.select_metric = k;
            if (!strcmp(val, "none")) vopt.select_metric = MLCL_SELECT_NONE;
            if (vopt.select_metric == -2) { fprintf(stderr, "mlcl-train: --select-metric: '%s' is not mAP, miF1, maF1, ebF1, HA, p@1 or none\n", val); return 2; } }
        else if (!strcmp(arg, "--val-thresholds")) { NEED_ARG();
            if (!strcmp(val, "per-label")) vopt.thresholds = MLCL_THRESHOLDS_PER_LABEL; else if (!strcmp(val, "global")) vopt.thresholds = MLCL_THRESHOLDS_GLOBAL;
            else { fprintf(stderr, "mlcl-train: --val-thresholds: '%s' is not per-label or global\n", val); return 2; } }
        else if (!strcmp(arg, "--patience")) { NEED_ARG(); if (parse_num(arg, val, 0, 1e6, &v)) return 2; vopt.patience = (int)v; }
        else if (!strcmp(arg, "--quiet")) { a.quiet = 1; }
        else if (!strcmp(arg, "--encoder")) { NEED_ARG(); encoder = val;
            if (strcmp(val, "mlp") && strncmp(val, "resnet", 6)) { fprintf(stderr, "mlcl-train: --encoder: '%s' is not mlp or resnetNN[-small]\n", val); return 2; } }
        else if (!strcmp(arg, "--base-width")) { NEED_ARG(); if (parse_num(arg, val, 1, 4096, &v)) return 2; base_width = (int)v; }
        else if (!strcmp(arg, "--image-size")) { NEED_ARG(); if (parse_num(arg, val, 1, 4096, &v)) return 2; image_size = (int)v; }
        else if (!strcmp(arg, "--views")) { NEED_ARG(); views = val;
            if (strcmp(val, "simclr") && strcmp(val, "mask")) { fprintf(stderr, "mlcl-train: --views: '%s' is not simclr or mask\n", val); return 2; } }
        else if (!strcmp(arg, "--finetune-views")) { NEED_ARG(); ft_views = val;
            if (strcmp(val, "simclr") && strcmp(val, "none")) { fprintf(stderr, "mlcl-train: --finetune-views: '%s' is not simclr or none\n", val); return 2; } }
        else { fprintf(stderr, "mlcl-train: unknown option '%s' (try --help)\n", arg); return 2; }
    }
    if (default_job && !preset) {
        /* the built-in job: a short CLD run on Fashion-MNIST mosaics */
        int explicit_pe = 0, explicit_fe = 0, explicit_b = 0, explicit_q = 0;
        for (int i = 1; i < argc; i++) {
            explicit_pe |= !strcmp(argv[i], "--pretrain-epochs");
            explicit_fe |= !strcmp(argv[i], "--finetune-epochs");
            explicit_b |= !strcmp(argv[i], "--batch");
            explicit_q |= !strcmp(argv[i], "--queue");
        }
        if (!explicit_pe) o.pretrain.epochs = 20;
        if (!explicit_fe) o.finetune.epochs = 20;
        if (!explicit_b) o.batch = 128;
        if (!explicit_q) o.moco.queue_size = 1024;
        int explicit_ps = 0, explicit_fs = 0;
        for (int i = 1; i < argc; i++) {
            explicit_ps |= !strcmp(argv[i], "--pretrain-sched");
            explicit_fs |= !strcmp(argv[i], "--finetune-sched");
        }
        if (!explicit_ps) o.pretrain.T_0 = 10;
        if (!explicit_fs) o.finetune.T_0 = 10;
        int explicit_lr = 0;
        for (int i = 1; i < argc; i++) explicit_lr |= !strcmp(argv[i], "--pretrain-lr");
        if (!explicit_lr) o.pretrain.lr = 4e-4f;
    }
    if (train_path && !test_path && val_split <= 0) { fprintf(stderr, "mlcl-train: --train needs --test or --val-split\n"); return 2; }
    if ((vopt.select_metric != MLCL_SELECT_NONE || vopt.patience > 0) && val_split <= 0) { fprintf(stderr, "mlcl-train: --select-metric and --patience need --val-split\n"); return 2; }
    if (vopt.patience > 0 && vopt.select_metric == MLCL_SELECT_NONE) vopt.select_metric = MLCL_METRIC_MAP;
    if (save_model_path && ((train_path && !strcmp(save_model_path, train_path)) || (test_path && !strcmp(save_model_path, test_path)) ||
                            (ckpt_path && !strcmp(save_model_path, ckpt_path)) || (resume_path && !strcmp(save_model_path, resume_path)))) {
        fprintf(stderr, "mlcl-train: --save-model %s names an input or the checkpoint\n", save_model_path);
        return 2;
    }
    if (threads > 0 && mlcl_set_num_threads(threads) != MLCL_OK) { fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error()); return 2; }
    o.threads = threads;

    mlcl_dataset *train = NULL, *test = NULL;
    int rc;
    mlcl_clear_error();
    if (train_path) {
        int npy = ends_with(train_path, ".npy") || ends_with(train_path, ".npz");
        rc = npy ? load_npy(&train, train_path, train_labels) : load(&train, train_path, format, labels, features);
        if (rc == MLCL_OK && test_path)
            rc = npy ? load_npy(&test, test_path, test_labels) : load(&test, test_path, format, labels, features);
    } else {
        if (!a.quiet)
            fprintf(stderr, "mlcl-train: default job: Fashion-MNIST 2x2 mosaics (%d train, %d test), method %s, %d+%d epochs\n",
                    mosaic_train, mosaic_test, method_names[o.method], o.pretrain.epochs, o.finetune.epochs);
        rc = mlcl_dataset_fashion_mosaic(&train, mosaic_dir, 1, mosaic_train, o.seed + 1, 2);
        if (rc == MLCL_OK) rc = mlcl_dataset_fashion_mosaic(&test, mosaic_dir, 0, mosaic_test, o.seed + 2, 2);
    }
    if (rc != MLCL_OK) {
        if (*mlcl_last_error()) fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        mlcl_dataset_free(train);
        return 1;
    }
    if (val_split > 0) {
        /* train on the rest; thresholds (and the epoch) chosen on the held-out part; the
         * report is on the test set when there is one, else on the held-out part */
        mlcl_dataset *fit = NULL;
        rc = mlcl_dataset_split(&fit, &val, train, (float)val_split, o.seed + 1000);
        if (rc != MLCL_OK) {
            fprintf(stderr, "mlcl-train: --val-split: %s\n", mlcl_last_error());
            mlcl_dataset_free(train); mlcl_dataset_free(test);
            return 1;
        }
        mlcl_dataset_free(train);
        train = fit;
        if (!a.quiet) fprintf(stderr, "mlcl-train: --val-split %.2f: thresholds%s chosen on a held-out part of the training set; "
                              "report on the %s\n", val_split, vopt.select_metric != MLCL_SELECT_NONE ? " and epoch" : "",
                              test ? "test set" : "held-out part");
        if (!test) test = val;
    }
    int n, d, c, nt, dt, ct;
    mlcl_dataset_dims(train, &n, &d, &c);
    mlcl_dataset_dims(test, &nt, &dt, &ct);
    if (d != dt || c != ct) {
        fprintf(stderr, "mlcl-train: train has %d features and %d labels, test %d and %d\n", d, c, dt, ct);
        mlcl_dataset_free(train); mlcl_dataset_free(test);
        return 1;
    }
    if (!a.quiet) fprintf(stderr, "mlcl-train: %d training rows, %d test rows, %d features, %d labels\n", n, nt, d, c);

    mlcl_encoder *backbone = NULL;
    mlcl_simclr_options pre_v, ft_v;
    mlcl_trainer_extra ex = MLCL_TRAINER_EXTRA_INIT;
    int resnet = strcmp(encoder, "mlp") != 0;
    if (!views) views = resnet ? "simclr" : "mask";
    if (!strcmp(views, "simclr") || resnet) {
        int ic, ih, iw;
        if (mlcl_dataset_image_shape(train, &ic, &ih, &iw) != MLCL_OK || ic <= 0) {
            fprintf(stderr, "mlcl-train: --encoder %s / --views %s need images, and this training set has no image shape\n", encoder, views);
            mlcl_dataset_free(train); mlcl_dataset_free(test);
            return 2;
        }
        int side_h = image_size > 0 ? image_size : ih, side_w = image_size > 0 ? image_size : iw;
        if (!strcmp(views, "simclr")) {
            mlcl_simclr_options_init(&pre_v, MLCL_SIMCLR_OPTIONS_VERSION);
            pre_v.out_h = side_h; pre_v.out_w = side_w;
            ex.pretrain_views = &pre_v;
            if (!strcmp(ft_views, "simclr")) {
                /* fine-tuning: crop and flip only (SimCLR's linear-evaluation augmentation) */
                mlcl_simclr_options_init(&ft_v, MLCL_SIMCLR_OPTIONS_VERSION);
                ft_v.out_h = side_h; ft_v.out_w = side_w;
                ft_v.jitter_p = 0; ft_v.gray_p = 0; ft_v.blur_p = 0;
                ex.finetune_views = &ft_v;
            }
        } else if (image_size > 0 && (image_size != ih || image_size != iw)) {
            fprintf(stderr, "mlcl-train: --image-size needs --views simclr\n");
            mlcl_dataset_free(train); mlcl_dataset_free(test);
            return 2;
        }
        if (resnet) {
            mlcl_resnet_spec rs;
            mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION);
            int depth = atoi(encoder + 6);
            rs.depth = depth;
            rs.stem = strstr(encoder, "-small") ? MLCL_RESNET_STEM_SMALL : MLCL_RESNET_STEM_IMAGENET;
            rs.in_channels = ic; rs.height = side_h; rs.width = side_w;
            rs.base_width = base_width;
            mlcl_encoder_options eo;
            mlcl_encoder_options_init(&eo, MLCL_ENCODER_OPTIONS_VERSION);
            eo.max_batch = o.batch;
            eo.seed = o.seed;
            rc = mlcl_encoder_create_resnet(&backbone, &rs, &eo);
            if (rc != MLCL_OK) {
                fprintf(stderr, "mlcl-train: --encoder %s: %s\n", encoder, mlcl_last_error());
                mlcl_dataset_free(train); mlcl_dataset_free(test);
                return 2;
            }
            ex.backbone = backbone;
            if (!a.quiet) {
                size_t np;
                mlcl_encoder_param_count(backbone, &np);
                fprintf(stderr, "mlcl-train: encoder %s (base width %d, %zu parameters) on %dx%dx%d views\n",
                        encoder, base_width, np, ic, side_h, side_w);
            }
        }
    }
    rc = mlcl_trainer_create_ex(&a.trainer, &o, train, &ex);
    mlcl_encoder_free(backbone);
    if (rc == MLCL_OK && val) rc = mlcl_trainer_set_validation(a.trainer, val, &vopt);
    if (rc == MLCL_OK && resume_path) {
        rc = mlcl_trainer_load(a.trainer, resume_path);
        if (rc == MLCL_OK && !a.quiet) {
            int ph, ep;
            mlcl_trainer_position(a.trainer, &ph, &ep);
            fprintf(stderr, "mlcl-train: resumed from %s at phase %d epoch %d\n", resume_path, ph, ep);
        }
    }
    if (rc != MLCL_OK) {
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        mlcl_trainer_free(a.trainer); mlcl_dataset_free(train); mlcl_dataset_free(test);
        return 1;
    }
    if (mpi_attach(&a, &log_path, &json_path)) return 1;
    if (log_path) {
        a.log = fopen(log_path, resume_path ? "a" : "w");
        if (!a.log) { fprintf(stderr, "mlcl-train: --log %s: %s\n", log_path, strerror(errno)); return 1; }
        if (!resume_path) fprintf(a.log, "phase,epoch,loss,con,G,H,wreg,lr,samples_per_s,HA,ebF1,miF1,maF1,p_at_1,mAP\n");
    }
    a.test = test;
    mlcl_trainer_set_callback(a.trainer, progress_cb, &a);
    if (g_comm) mlcl_trainer_set_callback(a.trainer, mpi_progress_cb, &a);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int done = 0;
    while (!done) {
        rc = mlcl_trainer_run_epochs(a.trainer, 1, &done);
        if (rc != MLCL_OK) break;
        if (ckpt_path && (rc = mlcl_trainer_save(a.trainer, ckpt_path)) != MLCL_OK) break;
    }
    if (rc == MLCL_EINTERRUPTED) {
        if (a.tty && !a.quiet) fputc('\n', stderr);
        if (ckpt_path) {
            int src = mlcl_trainer_save(a.trainer, ckpt_path);
            fprintf(stderr, "mlcl-train: stopped by signal %d; %s\n", (int)g_stop,
                    src == MLCL_OK ? "checkpoint written" : mlcl_last_error());
        } else {
            fprintf(stderr, "mlcl-train: stopped by signal %d (no --checkpoint given)\n", (int)g_stop);
        }
        if (a.log) fclose(a.log);
        mlcl_trainer_free(a.trainer); mlcl_dataset_free(train); mlcl_dataset_free(test);
        return 130;
    }
    if (rc != MLCL_OK) {
        if (a.tty && !a.quiet) fputc('\n', stderr);
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        if (a.log) fclose(a.log);
        mlcl_trainer_free(a.trainer); mlcl_dataset_free(train); mlcl_dataset_free(test);
        return 1;
    }
    mlcl_metrics paper, t05;
    rc = mlcl_trainer_evaluate(a.trainer, test, &paper, &t05);
    if (rc != MLCL_OK) { fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error()); return 1; }
    double pre_s, fin_s;
    mlcl_trainer_timing(a.trainer, &pre_s, &fin_s);
    printf("\nmethod %s, seed %llu, %d+%d epochs (pretrain %.1f s, fine-tune %.1f s)\n", method_names[o.method],
           (unsigned long long)o.seed, o.pretrain.epochs, o.finetune.epochs, pre_s, fin_s);
    printf("%-22s %7s %7s %7s %7s %7s %7s\n", "metrics", "HA", "ebF1", "miF1", "maF1", "p@1", "mAP");
    print_metrics_row("paper protocol (sweep)", &paper);
    print_metrics_row("threshold 0.5", &t05);
    mlcl_metrics honest = MLCL_METRICS_INIT, honest_g = MLCL_METRICS_INIT;
    int have_honest = val && mlcl_trainer_evaluate_thresholds(a.trainer, test, &honest, &honest_g) == MLCL_OK;
    if (have_honest) print_metrics_row(vopt.thresholds == MLCL_THRESHOLDS_GLOBAL ? "val threshold (model)" : "val thresholds/label", &honest);
    if (have_honest) print_metrics_row("val threshold, global", &honest_g);
    int best_ep = -1, ep_run = 0;
    double best_v = NAN;
    float thr_g = 0.5f;
    int nv_rows = 0;
    if (val) { mlcl_trainer_selection(a.trainer, &best_ep, &best_v, NULL, &ep_run); mlcl_dataset_dims(val, &nv_rows, NULL, NULL); }
    if (have_honest) mlcl_trainer_thresholds(a.trainer, c, NULL, &thr_g);
    if (val && vopt.select_metric != MLCL_SELECT_NONE)
        printf("fine-tuning epoch %d of %d run kept (best validation value %.4f)\n", best_ep + 1, ep_run, best_v);
    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (!f) { fprintf(stderr, "mlcl-train: --json %s: %s\n", json_path, strerror(errno)); return 1; }
        fprintf(f, "{\"method\": \"%s\", \"seed\": %llu, \"n_train\": %d, \"n_test\": %d, \"features\": %d, \"labels\": %d, \"evaluated_on\": \"%s\",\n",
                method_names[o.method], (unsigned long long)o.seed, n, nt, d, c, test == val ? "validation" : "test");
        fprintf(f, " \"metrics\": {\"paper\": ");
        json_metrics(f, &paper);
        fprintf(f, ", \"t05\": ");
        json_metrics(f, &t05);
        if (have_honest) { fprintf(f, ", \"validation_thresholds\": "); json_metrics(f, &honest); }
        if (have_honest) { fprintf(f, ", \"validation_global_threshold\": "); json_metrics(f, &honest_g); }
        fprintf(f, "},\n");
        char bv_s[32] = "null";
        if (!isnan(best_v)) snprintf(bv_s, sizeof bv_s, "%.6f", best_v);
        if (val)
            fprintf(f, " \"validation\": {\"rows\": %d, \"select_metric\": \"%s\", \"patience\": %d, \"best_epoch\": %d, "
                    "\"epochs_run\": %d, \"best_value\": %s, \"global_threshold\": %.6f},\n",
                    nv_rows, vopt.select_metric < 0 ? "none" : (const char *const[]){ "HA", "ebF1", "miF1", "maF1", "p@1", "mAP" }[vopt.select_metric], vopt.patience, best_ep, ep_run, bv_s, (double)thr_g);
        fprintf(f, " \"timing\": {\"pretrain_s\": %.3f, \"finetune_s\": %.3f}}\n", pre_s, fin_s);
        fclose(f);
    }
    if (save_model_path && (!g_comm || g_comm->rank == 0) &&
        save_model(a.trainer, save_model_path, train, train_path, test_path, &paper, &t05, test != val))
        return 1;
    if (a.plot_dir) {
        /* distributions of a few test rows for the picture, then matplotlib */
        if (mkdir(a.plot_dir, 0777) != 0 && errno != EEXIST) { fprintf(stderr, "mlcl-train: --plot %s: %s\n", a.plot_dir, strerror(errno)); return 1; }
        char path[4096];
        snprintf(path, sizeof path, "%s/distributions.csv", a.plot_dir);
        FILE *f = fopen(path, "w");
        int k = nt < 6 ? nt : 6;
        float *dist = malloc(sizeof(float) * (size_t)k * c);
        float *score = malloc(sizeof(float) * (size_t)k * c);
        if (f && dist && score &&
            mlcl_trainer_distributions(a.trainer, k, mlcl_dataset_features(test), dist) == MLCL_OK &&
            mlcl_trainer_predict(a.trainer, k, mlcl_dataset_features(test), score) == MLCL_OK) {
            const uint8_t *y = mlcl_dataset_labels(test);
            fprintf(f, "row,label,y,d,score\n");
            for (int r = 0; r < k; r++)
                for (int j = 0; j < c; j++)
                    fprintf(f, "%d,%d,%d,%.6f,%.6f\n", r, j, y[(size_t)r * c + j], dist[(size_t)r * c + j], score[(size_t)r * c + j]);
        }
        if (f) fclose(f);
        free(dist);
        free(score);
        if (!log_path) fprintf(stderr, "mlcl-train: --plot draws the curves from --log; only distributions will be drawn\n");
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 -m mlcl.plot --dir '%s'%s%s", a.plot_dir, log_path ? " --log '" : "",
                 log_path ? log_path : "");
        if (log_path) strncat(cmd, "'", sizeof cmd - strlen(cmd) - 1);
        if (a.log) fflush(a.log);
        int prc = system(cmd);
        if (prc != 0) fprintf(stderr, "mlcl-train: plotting failed (%s); is PYTHONPATH set to bindings/python and python3-matplotlib installed?\n", cmd);
    }
    if (a.log) fclose(a.log);
    mlcl_trainer_free(a.trainer);
    mlcl_dataset_free(train);
    if (val != test) mlcl_dataset_free(val);
    mlcl_dataset_free(test);
    return 0;
}

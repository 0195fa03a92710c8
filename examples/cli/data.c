/*
 * data.c: the data sets: the kind and format of --train/--test, the readers,
 * the --stream image lists and loaders
 */
#include "cli.h"

/* NumPy data: FILE.npz holds arrays x (features or images) and y (labels)
 * unless --npz-keys says otherwise; FILE.npy needs its labels file. */
const char *npz_x = "x", *npz_y = "y";

int load_npy(mlcl_dataset **ds, const char *path, const char *labels_path)
{
    if (ends_with(path, ".npz")) return mlcl_dataset_load_npy(ds, path, npz_x, labels_path ? labels_path : path,
                                                              labels_path && ends_with(labels_path, ".npy") ? NULL : npz_y, 1);
    if (!labels_path) {
        fprintf(stderr, "mlcl-train: %s is a .npy file: give its labels with --train-labels/--test-labels\n", path);
        return MLCL_EINVAL;
    }
    return mlcl_dataset_load_npy(ds, path, NULL, labels_path, ends_with(labels_path, ".npz") ? npz_y : NULL, 1);
}

/* ---- the other data files (issue 16 readers: include/mlcl/readers.h) */
const char *const kind_names[] = { "the built-in job", "ARFF files", "LIBSVM files", ".npy/.npz files",
                                          "CSV tables", "image manifests" };

int kind_of(int format)
{
    switch (format) {
    case MLCL_FORMAT_ARFF: return D_ARFF;
    case MLCL_FORMAT_NPY: return D_NPY;
    case MLCL_FORMAT_CSV: case MLCL_FORMAT_CSV_NOHEADER: return D_CSV;
    case MLCL_FORMAT_IMAGE_CSV: case MLCL_FORMAT_COCO: case MLCL_FORMAT_VOC: return D_IMAGES;
    default: return D_LIBSVM;
    }
}

/* .npy/.npz by the extension; --format arff|libsvm as given; otherwise, for a
 * regular file or a folder, mlcl_data_guess_format() (the extension, then the
 * first line; a folder holding ImageSets/Main is a VOC tree, FOLDER:split
 * names its split); anything else (missing, a FIFO, a device: not read here)
 * by the extension: .arff[.gz] ARFF, else LIBSVM (or CSV with --format csv). */
int data_file(datafile *df, const char *flagname, const char *arg, const char *default_split)
{
    struct stat st;
    const char *colon = strrchr(arg, ':');
    snprintf(df->path, sizeof df->path, "%s", arg);
    df->split = default_split;
    df->format = MLCL_FORMAT_UNKNOWN;
    if (colon && colon > arg && colon[1] && !strchr(colon, '/') && stat(arg, &st) != 0 && (size_t)(colon - arg) < sizeof df->path) {
        df->path[colon - arg] = 0;
        if (stat(df->path, &st) == 0 && S_ISDIR(st.st_mode)) df->split = colon + 1;
        else snprintf(df->path, sizeof df->path, "%s", arg); /* not FOLDER:split: the name as given */
    }
    const char *p = df->path;
    int csv = G(FL_FORMAT) && cli_flags[FL_FORMAT].i == 2;
    if (ends_with(p, ".npy") || ends_with(p, ".npz")) df->format = MLCL_FORMAT_NPY;
    else if (G(FL_FORMAT) && !csv) df->format = cli_flags[FL_FORMAT].i == 0 ? MLCL_FORMAT_ARFF : MLCL_FORMAT_UNKNOWN;
    else if (stat(p, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && access(p, R_OK) == 0) {
        if (mlcl_data_guess_format(&df->format, p) != MLCL_OK) return fail(2, "%s %s: %s", flagname, arg, mlcl_last_error());
        if (csv && df->format != MLCL_FORMAT_CSV_NOHEADER) df->format = MLCL_FORMAT_CSV;
    } else {
        df->format = csv ? MLCL_FORMAT_CSV : ends_with(p, ".arff") || ends_with(p, ".arff.gz") ? MLCL_FORMAT_ARFF : MLCL_FORMAT_UNKNOWN;
    }
    return 0;
}

/* an ARFF, LIBSVM or CSV table or an image manifest; `like`: the training
 * set, whose label names the test set of an image manifest takes */
int load_data(mlcl_dataset **ds, const char *flagname, const datafile *df, int labels, int features,
                     int index_base, int image_side, int threads, const mlcl_dataset *like,
                     const mlcl_image_list *like_list)
{
    int fmt = df->format, rc;
    /* --sparse: the training set stays CSR; the test set is read dense (the reports score dense rows) */
    int sparse = G(FL_SPARSE) && !like && !like_list;
    if (fmt == MLCL_FORMAT_ARFF)
        return sparse ? mlcl_dataset_load_arff_sparse(ds, df->path, labels, 0) : mlcl_dataset_load_arff(ds, df->path, labels, 0);
    if (fmt == MLCL_FORMAT_CSV || fmt == MLCL_FORMAT_CSV_NOHEADER) {
        mlcl_csv_options co = MLCL_CSV_OPTIONS_INIT;
        co.no_header = fmt == MLCL_FORMAT_CSV_NOHEADER;
        co.n_labels = labels;
        co.label_columns = V(FL_LABEL_COLUMNS);
        co.label_prefix = V(FL_LABEL_PREFIX);
        co.impute = G(FL_IMPUTE) ? (cli_flags[FL_IMPUTE].i == 0 ? MLCL_IMPUTE_MEAN : MLCL_IMPUTE_ZERO) : MLCL_IMPUTE_NONE;
        return mlcl_dataset_load_csv(ds, df->path, &co);
    }
    if (kind_of(fmt) == D_IMAGES) {
        mlcl_manifest_options mo = MLCL_MANIFEST_OPTIONS_INIT;
        mo.height = mo.width = image_side;
        mo.image_root = V(FL_IMAGE_ROOT);
        mo.skip_bad_images = G(FL_SKIP_BAD_IMAGES);
        mo.voc_difficult = G(FL_VOC_DIFFICULT) ? (int)cli_flags[FL_VOC_DIFFICULT].i : MLCL_VOC_DIFFICULT_NEGATIVE;
        mo.threads = threads;
        int c = 0, skipped = 0;
        const char **names = NULL;
        if (like && mlcl_dataset_dims(like, NULL, NULL, &c) == MLCL_OK && c > 0 && cli_label_name(like, 0)) {
            names = malloc(sizeof *names * (size_t)c);
            if (!names) { fail(1, "%s %s: out of memory", flagname, df->path); return MLCL_ENOMEM; }
            for (int j = 0; j < c; j++) names[j] = cli_label_name(like, j);
            mo.label_names = names;
            mo.n_label_names = c;
        } else if (like_list && mlcl_image_list_size(like_list, NULL, &c) == MLCL_OK && c > 0) {
            /* --stream: the training manifest's list */
            names = malloc(sizeof *names * (size_t)c);
            if (!names) { fail(1, "%s %s: out of memory", flagname, df->path); return MLCL_ENOMEM; }
            for (int j = 0; j < c; j++)
                if ((rc = mlcl_image_list_label_name(like_list, j, &names[j])) != MLCL_OK) { free(names); return rc; }
            mo.label_names = names;
            mo.n_label_names = c;
        }
        rc = fmt == MLCL_FORMAT_COCO ? mlcl_dataset_load_coco(ds, &skipped, df->path, &mo)
           : fmt == MLCL_FORMAT_VOC ? mlcl_dataset_load_voc(ds, &skipped, df->path, df->split, &mo)
           : mlcl_dataset_load_image_csv(ds, &skipped, df->path, &mo);
        free(names);
        if (rc == MLCL_OK && skipped > 0) fprintf(stderr, "mlcl-train: %s %s: %d unreadable images skipped\n", flagname, df->path, skipped);
        return rc;
    }
    if (sparse) return mlcl_dataset_load_libsvm_sparse(ds, df->path, features, labels, index_base);
    return mlcl_dataset_load_libsvm(ds, df->path, features, labels, index_base);
}

/* ---- --stream (docs/loader.md): the training manifest as a list of paths
 * and labels, read by two loaders (pretraining: two SimCLR views; fine-tuning:
 * the resized image or one crop-and-flip view) into bounded prefetch rings */
int load_list(mlcl_image_list **out, const datafile *df)
{
    mlcl_manifest_options mo = MLCL_MANIFEST_OPTIONS_INIT;
    mo.image_root = V(FL_IMAGE_ROOT);
    mo.voc_difficult = G(FL_VOC_DIFFICULT) ? (int)cli_flags[FL_VOC_DIFFICULT].i : MLCL_VOC_DIFFICULT_NEGATIVE;
    return df->format == MLCL_FORMAT_COCO ? mlcl_image_list_load_coco(out, df->path, &mo)
         : df->format == MLCL_FORMAT_VOC ? mlcl_image_list_load_voc(out, df->path, df->split, &mo)
         : mlcl_image_list_load_csv(out, df->path, &mo);
}

int stream_loader(mlcl_loader **out, const mlcl_image_list *list, int batch, int side, int threads, int prefetch,
                         uint64_t seed, int views, const mlcl_simclr_options *v)
{
    mlcl_loader_options lo;
    int rc = mlcl_loader_options_init(&lo, MLCL_LOADER_OPTIONS_VERSION);
    if (rc != MLCL_OK) return rc;
    lo.batch = batch;
    lo.height = lo.width = side;
    lo.channels = 3;
    lo.threads = threads;
    lo.prefetch = prefetch;
    lo.seed = seed;
    lo.views = views;
    if (v) lo.simclr = *v;
    lo.skip_bad_images = G(FL_SKIP_BAD_IMAGES);
    return mlcl_loader_create(out, list, &lo);
}

/* one line per loader: decode rate per thread, the share of the phase's time spent waiting for batches */

/* the data sets, the validation split and their sizes */
int run_load(run *r)
{
    int rc, dt, ct;
    r->stream = G(FL_STREAM);
    mlcl_clear_error();
    if (r->train_path) {
        if (r->kind == D_NPY) rc = load_npy(&r->train, r->train_path, r->train_labels);
        else if (r->stream) rc = load_list(&r->ilist, &r->train_df);
        else rc = load_data(&r->train, "--train", &r->train_df, r->labels, r->features, r->index_base, r->manifest_side, r->threads, NULL, NULL);
        if (G(FL_SPARSE)) r->o.standardize = 0; /* (centring would make the rows dense) */
        if (rc == MLCL_OK && r->test_path) {
            /* --stream: the test set is read into memory with the label names of the training list */
            if (r->kind == D_NPY) rc = load_npy(&r->test, r->test_path, r->test_labels);
            else rc = load_data(&r->test, "--test", &r->test_df, r->labels, r->features, r->index_base, r->manifest_side, r->threads, r->train, r->ilist);
        }
    } else {
        if (!r->a.quiet)
            fprintf(stderr, "mlcl-train: default job: Fashion-MNIST 2x2 mosaics (%d train, %d test), method %s, %d+%d epochs\n",
                    r->mosaic_train, r->val_split > 0 ? 0 : r->mosaic_test, method_names[r->o.method], r->o.pretrain_epochs, r->o.finetune_epochs);
        rc = fashion_mosaic(&r->train, r->mosaic_dir, 1, r->mosaic_train, r->o.seed + 1, 2);
        if (rc == MLCL_OK && r->val_split == 0) rc = fashion_mosaic(&r->test, r->mosaic_dir, 0, r->mosaic_test, r->o.seed + 2, 2);
        if (rc != MLCL_OK) {
            /* the generator is example code: its messages are its own */
            fprintf(stderr, "mlcl-train: %s\n", *mlcl_last_error() ? mlcl_last_error() : mosaic_last_error());
            return 1;
        }
    }
    if (rc != MLCL_OK) {
        if (*mlcl_last_error()) fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        return 1;
    }
    if (r->val_split > 0) {
        /* train on the rest; the thresholds (and the epoch) are chosen on the held-out
         * part; the report is on the test set when there is one, else on the held-out part */
        mlcl_dataset *fit = NULL;
        rc = mlcl_dataset_split(&fit, &r->val, r->train, (float)r->val_split, r->o.seed + 1000);
        if (rc != MLCL_OK) {
            fprintf(stderr, "mlcl-train: --val-split: %s\n", mlcl_last_error());
            return 1;
        }
        mlcl_dataset_free(r->train);
        r->train = fit;
        if (!r->a.quiet)
            fprintf(stderr, "mlcl-train: --val-split %.2f: thresholds%s chosen on a held-out part of the training set; "
                    "the report is on the %s\n", r->val_split, r->vopt.select_metric != MLCL_SELECT_NONE ? " and the epoch" : "",
                    r->test ? "test set" : "held-out part");
        if (!r->test) r->test = r->val;
    }
    if (r->stream) {
        mlcl_image_list_size(r->ilist, &r->n, &r->c);
        r->d = 3 * r->manifest_side * r->manifest_side;
    } else {
        mlcl_dataset_dims(r->train, &r->n, &r->d, &r->c);
    }
    mlcl_dataset_dims(r->test, &r->nt, &dt, &ct);
    if (r->val) mlcl_dataset_dims(r->val, &r->nv, NULL, NULL);
    r->on_test = r->test != r->val; /* the report is on a test set */
    if (r->d != dt || r->c != ct) {
        fprintf(stderr, "mlcl-train: train has %d features and %d labels, test %d and %d\n", r->d, r->c, dt, ct);
        return 1;
    }
    if (!r->a.quiet) {
        if (r->val && r->on_test)
            fprintf(stderr, "mlcl-train: %d training rows, %d validation rows, %d test rows, %d features, %d labels\n", r->n, r->nv, r->nt, r->d, r->c);
        else
            fprintf(stderr, "mlcl-train: %d training rows, %d %s rows, %d features, %d labels\n", r->n, r->nt, r->val ? "validation" : "test", r->d, r->c);
    }
    return 0;
}

/* the sizes that depend on the data: queue, batch, loaders, the memory estimate */
int run_sizes(run *r)
{
    int pretraining = r->o.method != MLCL_METHOD_NONE && r->o.pretrain_epochs > 0;
    if (pretraining && cli_moco(&r->o)->queue_size > r->n) {
        /* a queue longer than an epoch holds several keys of the same rows
         * (stale copies of the anchors themselves among the candidates): an
         * explicit --queue like that is a mistake; the paper's presets were
         * set for the full training sets (Scene: K 1024 for 1211 rows) and
         * a --val-split may take them slightly past the rows: a notice */
        if (G(FL_QUEUE)) {
            return fail(2, "--queue %d is larger than the %d training rows: the MoCo queue would hold several keys of every row "
                        "(stale copies of the anchors themselves); give --queue %d or less", cli_moco(&r->o)->queue_size, r->n, r->n);
        }
        if (!r->a.quiet)
            fprintf(stderr, "mlcl-train: note: the %s queue size %d is larger than the %d training rows "
                    "(some rows have two keys in the queue); --queue sets it\n",
                    G(FL_PRESET) ? "preset's" : "default", cli_moco(&r->o)->queue_size, r->n);
    }
    if (G(FL_BATCH) && r->o.batch > r->n) {
        return fail(2, "--batch %d is larger than the %d training rows", r->o.batch, r->n);
    }
    if (r->kind != D_MOSAIC) {
        if (!G(FL_FEATURES)) snprintf(r->d_desc, sizeof r->d_desc, "the data's %d features", r->d);
        if (!G(FL_LABELS)) snprintf(r->c_desc, sizeof r->c_desc, "the data's %d labels", r->c);
    }
    r->sh.n = r->n; r->sh.nt = r->nt; r->sh.d = r->d; r->sh.c = r->c; r->sh.loaded = 1;
    if (G(FL_SPARSE)) { int64_t nz = 0; if (mlcl_dataset_csr(r->train, NULL, NULL, NULL, &nz) == MLCL_OK) r->sh.nnz = (double)nz; }
    r->sh.batch = r->o.batch < r->n ? r->o.batch : r->n;
    r->prefetch = G(FL_PREFETCH) ? (int)cli_flags[FL_PREFETCH].i : STREAM_PREFETCH_DEFAULT;
    if (r->stream) {
        /* the loaders' batch is the trainer's, which takes at most the training rows */
        if (r->o.batch > r->n) r->o.batch = r->n;
        int ncpu = cpus_available();
        r->loader_threads = G(FL_LOADER_THREADS) ? (int)cli_flags[FL_LOADER_THREADS].i : ncpu < STREAM_THREADS_MAX ? ncpu : STREAM_THREADS_MAX;
        int pre_views = r->o.method != MLCL_METHOD_NONE && r->o.pretrain_epochs > 0 ? 2 : 0;
        int ft_views = r->o.finetune_epochs > 0 ? 1 : 0; /* one image (or view) per row */
        r->sh.ring = 4.0 * r->prefetch * r->sh.batch * (pre_views + ft_views) * (double)r->d;
    }
    if (r->kind != D_MOSAIC) r->sh.side = 0; /* the image part is estimated below, with the shape */
    if (!r->resnet && check_budget(&r->sh)) return 2;
    return 0;
}

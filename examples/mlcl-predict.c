/*
 * mlcl-predict: score new data with a model written by `mlcl-train --save-model`
 * (or mlcl_model_save()). No training data is needed.
 *
 *   mlcl-predict --model yeast.mlcl --input yeast-test.arff.gz --out scores.csv
 *   mlcl-predict --model yeast.mlcl --input yeast-test.arff.gz --metrics
 *   mlcl-predict --model yeast.mlcl --info
 *   mlcl-predict --model yeast.mlcl --export yeast.safetensors   (or yeast.onnx, yeast.npz)
 *
 * Run `mlcl-predict --help` for every option (docs/models.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mlcl.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: mlcl-predict --model FILE [--input DATA [--out OUT] [--labels|--embed|--distributions] [--metrics]] [--info] [--export FILE]\n"
        "  --model FILE            a model file (mlcl-train --save-model FILE)\n"
        "  --input DATA            rows to score: .arff[.gz] (the model's label count is used when the\n"
        "                          relation does not give one), LIBSVM (.svm/.txt[.gz]), .npz (arrays x [, y])\n"
        "                          or .npy (features; labels from --input-labels)\n"
        "  --input-labels FILE     labels of a .npy input (.npy or .npz with key y)\n"
        "  --mosaic-test N         instead of --input: the N Fashion-MNIST test mosaics mlcl-train's default\n"
        "                          job evaluates on (--mosaic-seed S: its --seed, default 0; --mosaic-dir D)\n"
        "  --format arff|libsvm    the input format when the extension does not tell\n"
        "  --out OUT               .csv (header: label names; one row per input row), .npy or .json;\n"
        "                          written to a temporary file and renamed\n"
        "  --labels                write 0/1 decisions at the model's thresholds instead of scores\n"
        "  --embed                 write the backbone's features (the embedding)\n"
        "  --distributions         write the LD head's label distributions\n"
        "  --metrics               print the six metrics (paper protocol and threshold 0.5) and a\n"
        "                          per-label table (support, AP, F1 at the model's threshold); DATA needs labels\n"
        "  --info                  print the model's shapes, architecture and provenance\n"
        "  --export FILE           write the model for other runtimes, by extension: .safetensors (weights\n"
        "                          named as the equivalent PyTorch module's state_dict) or .onnx (the\n"
        "                          inference graph: outputs scores, embedding, distributions) or .npz (the\n"
        "                          tensors for np.load, with the same names); docs/models.md\n"
        "  --threads N             kernel threads (default: MLCL_NUM_THREADS, else the library's: 2)\n");
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* ------------------------------------------------------------------ input */

typedef struct input {
    int n, d, c;            /* c = 0: no labels */
    const float *x;
    const uint8_t *y;
    mlcl_dataset *ds;       /* when read as a dataset */
    float *raw;             /* .npy features without labels */
} input;

static const char *g_mosaic_dir;
static long g_mosaic_n;
static unsigned long long g_mosaic_seed;

static int read_input(input *in, const char *path, const char *labels_path, const char *format, const mlcl_model *m)
{
    int md, mc;
    mlcl_model_dims(m, &md, &mc, NULL);
    memset(in, 0, sizeof *in);
    int rc;
    if (g_mosaic_n > 0) {
        /* exactly mlcl-train's default-job test set: test items, seed + 2, 2 x 2 grid */
        rc = mlcl_dataset_fashion_mosaic(&in->ds, g_mosaic_dir, 0, (int)g_mosaic_n, g_mosaic_seed + 2, 2);
        if (rc != MLCL_OK) return rc;
        mlcl_dataset_dims(in->ds, &in->n, &in->d, &in->c);
        in->x = mlcl_dataset_features(in->ds);
        in->y = mlcl_dataset_labels(in->ds);
        return MLCL_OK;
    }
    int npy = ends_with(path, ".npy"), npz = ends_with(path, ".npz");
    if (npy && !labels_path) {
        int ndim;
        int64_t shape[MLCL_NPY_MAX_DIMS];
        rc = mlcl_npy_read(&in->raw, &ndim, shape, path, NULL, 1);
        if (rc != MLCL_OK) return rc;
        if (ndim < 1 || shape[0] <= 0 || shape[0] > INT_MAX) {
            fprintf(stderr, "mlcl-predict: %s: expected an array of rows, got %d dimensions\n", path, ndim);
            return MLCL_EINVAL;
        }
        int64_t w = 1;
        for (int i = 1; i < ndim; i++) w *= shape[i];
        in->n = (int)shape[0];
        in->d = (int)w;
        in->x = in->raw;
        return MLCL_OK;
    }
    if (npy || npz) {
        if (npz && !labels_path) {
            /* y is optional in an .npz: try with it, then the features alone */
            rc = mlcl_dataset_load_npy(&in->ds, path, "x", path, "y", 1);
            if (rc != MLCL_OK) {
                int ndim;
                int64_t shape[MLCL_NPY_MAX_DIMS];
                if (mlcl_npy_read(&in->raw, &ndim, shape, path, "x", 1) != MLCL_OK) return rc;
                int64_t w = 1;
                for (int i = 1; i < ndim; i++) w *= shape[i];
                if (ndim < 1 || shape[0] <= 0 || shape[0] > INT_MAX) return MLCL_EINVAL;
                in->n = (int)shape[0];
                in->d = (int)w;
                in->x = in->raw;
                return MLCL_OK;
            }
        } else {
            rc = mlcl_dataset_load_npy(&in->ds, path, npz ? "x" : NULL, labels_path,
                                       ends_with(labels_path, ".npz") ? "y" : NULL, 1);
        }
    } else {
        int arff = format ? !strcmp(format, "arff") : (ends_with(path, ".arff") || ends_with(path, ".arff.gz"));
        if (arff) {
            /* the relation's -C first (it knows where the labels are), else the model's count, last */
            rc = mlcl_dataset_load_arff(&in->ds, path, 0, 0);
            if (rc != MLCL_OK) rc = mlcl_dataset_load_arff(&in->ds, path, mc, 0);
        } else {
            rc = mlcl_dataset_load_libsvm(&in->ds, path, md, mc, MLCL_LIBSVM_INDEX_AUTO);
        }
    }
    if (rc != MLCL_OK) return rc;
    mlcl_dataset_dims(in->ds, &in->n, &in->d, &in->c);
    in->x = mlcl_dataset_features(in->ds);
    in->y = mlcl_dataset_labels(in->ds);
    return MLCL_OK;
}

static void free_input(input *in)
{
    mlcl_dataset_free(in->ds);
    mlcl_npy_free(in->raw);
}

/* ------------------------------------------------------------------ safe output */

/* Writes through a temporary file in the target's directory, renamed at the end. */
typedef struct out_file {
    FILE *f;
    char tmp[PATH_MAX];
    const char *path;
} out_file;

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int out_open(out_file *o, const char *path)
{
    struct stat st;
    memset(o, 0, sizeof *o);
    o->path = path;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "mlcl-predict: --out %s exists and is not a regular file\n", path);
        return -1;
    }
    if (snprintf(o->tmp, sizeof o->tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof o->tmp) {
        fprintf(stderr, "mlcl-predict: --out %s: path too long\n", path);
        return -1;
    }
    int fd = mkstemp(o->tmp);
    if (fd < 0) { fprintf(stderr, "mlcl-predict: --out %s: cannot create a temporary file: %s\n", path, strerror(errno)); return -1; }
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0666 & ~um);
    o->f = fdopen(fd, "wb");
    if (!o->f) { close(fd); unlink(o->tmp); return -1; }
    return 0;
}

static int out_commit(out_file *o)
{
    int bad = ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0;
    if (fclose(o->f) != 0) bad = 1;
    if (!bad && rename(o->tmp, o->path) != 0) bad = 1;
    if (bad) {
        fprintf(stderr, "mlcl-predict: --out %s: write failed: %s\n", o->path, strerror(errno));
        unlink(o->tmp);
        return -1;
    }
    return 0;
}

/* CSV field: quoted when it holds a comma, a quote or white space at its ends */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' ')) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void write_npy_header(FILE *f, const char *descr, int n, int w)
{
    char hdr[128];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }", descr, n, w);
    int pad = (64 - (10 + k + 1) % 64) % 64;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned hl = (unsigned)(k + pad + 1);
    fputc((int)(hl & 0xff), f);
    fputc((int)(hl >> 8), f);
    fwrite(hdr, 1, (size_t)k, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
}

static int write_output(const char *path, const mlcl_model *m, int kind, int n, int w, const float *v)
{
    int csv = ends_with(path, ".csv"), npy = ends_with(path, ".npy"), json = ends_with(path, ".json");
    if (!csv && !npy && !json) { fprintf(stderr, "mlcl-predict: --out %s: the name must end in .csv, .npy or .json\n", path); return -1; }
    out_file o;
    if (out_open(&o, path)) return -1;
    FILE *f = o.f;
    int dec = kind == MLCL_MODEL_LABELS;
    char col[32];
    if (csv) {
        for (int j = 0; j < w; j++) {
            const char *name = col;
            if (kind == MLCL_MODEL_EMBEDDING) snprintf(col, sizeof col, "e%d", j);
            else mlcl_model_label_name(m, j, &name);
            if (j) fputc(',', f);
            csv_field(f, name);
        }
        fputc('\n', f);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < w; j++) {
                if (j) fputc(',', f);
                if (dec) fputc(v[(size_t)i * w + j] != 0.0f ? '1' : '0', f);
                else fprintf(f, "%.9g", (double)v[(size_t)i * w + j]);
            }
            fputc('\n', f);
        }
    } else if (npy) {
        write_npy_header(f, dec ? "|u1" : "<f4", n, w);
        for (size_t k = 0; k < (size_t)n * w; k++) {
            if (dec) { fputc(v[k] != 0.0f, f); continue; }
            uint32_t u;
            memcpy(&u, &v[k], 4);
            unsigned char b[4] = { (unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24) };
            fwrite(b, 1, 4, f);
        }
    } else {
        static const char *kinds[] = { "scores", "labels", "embedding", "distributions" };
        fprintf(f, "{\"output\": \"%s\", \"rows\": %d, \"columns\": [", kinds[kind], n);
        for (int j = 0; j < w; j++) {
            const char *name = col;
            if (kind == MLCL_MODEL_EMBEDDING) snprintf(col, sizeof col, "e%d", j);
            else mlcl_model_label_name(m, j, &name);
            if (j) fputs(", ", f);
            json_string(f, name);
        }
        fputs("],\n \"values\": [\n", f);
        for (int i = 0; i < n; i++) {
            fputs("  [", f);
            for (int j = 0; j < w; j++) {
                if (j) fputs(", ", f);
                if (dec) fputc(v[(size_t)i * w + j] != 0.0f ? '1' : '0', f);
                else fprintf(f, "%.9g", (double)v[(size_t)i * w + j]);
            }
            fputs(i + 1 < n ? "],\n" : "]\n", f);
        }
        fputs(" ]}\n", f);
    }
    return out_commit(&o);
}

/* ------------------------------------------------------------------ reports */

static void print_info(const mlcl_model *m, const char *path)
{
    int d, c, h, ic, ih, iw, oh, ow, st, np;
    const char *arch;
    mlcl_model_dims(m, &d, &c, &h);
    mlcl_model_image_shape(m, &ic, &ih, &iw, &oh, &ow);
    mlcl_model_standardization(m, &st, NULL, NULL, 0);
    mlcl_model_architecture(m, &arch);
    printf("model %s\n", path);
    printf("  features %d, labels %d, embedding %d\n", d, c, h);
    if (ic) printf("  images %d x %d x %d, network input %d x %d (resized when different)\n", ic, ih, iw, oh, ow);
    printf("  input standardisation: %s\n", st ? "training-set mean and std" : "none");
    printf("  %s\n", arch);
    float *t = malloc(sizeof(float) * (size_t)c);
    if (t && mlcl_model_thresholds(m, c, t) == MLCL_OK) {
        printf("  labels (threshold):");
        for (int j = 0; j < c; j++) {
            const char *name;
            mlcl_model_label_name(m, j, &name);
            printf("%s %s (%g)", j ? "," : "", name, (double)t[j]);
        }
        printf("\n");
    }
    free(t);
    mlcl_model_provenance_count(m, &np);
    printf("provenance\n");
    for (int i = 0; i < np; i++) {
        const char *k, *v;
        mlcl_model_provenance(m, i, &k, &v);
        printf("  %-20s %s\n", k, v);
    }
}

static int print_metrics(const mlcl_model *m, int n, int c, const float *scores, const uint8_t *y)
{
    mlcl_metrics paper = MLCL_METRICS_INIT, t05 = MLCL_METRICS_INIT;
    if (mlcl_metrics_sweep(&paper, NULL, n, c, scores, y) != MLCL_OK ||
        mlcl_metrics_compute(&t05, n, c, scores, y, 0.5f) != MLCL_OK) {
        fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error());
        return -1;
    }
    printf("%-22s %7s %7s %7s %7s %7s %7s\n", "metrics", "HA", "ebF1", "miF1", "maF1", "p@1", "mAP");
    const mlcl_metrics *rows[2] = { &paper, &t05 };
    const char *names[2] = { "paper protocol (sweep)", "threshold 0.5" };
    for (int r = 0; r < 2; r++)
        printf("%-22s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f\n", names[r], rows[r]->HA, rows[r]->ebF1, rows[r]->miF1,
               rows[r]->maF1, rows[r]->p_at_1, rows[r]->mAP);
    printf("mAP %.9f\n", t05.mAP);
    double *ap = malloc(sizeof(double) * (size_t)c);
    float *t = malloc(sizeof(float) * (size_t)c);
    if (!ap || !t || mlcl_metrics_average_precision(ap, n, c, scores, y) != MLCL_OK || mlcl_model_thresholds(m, c, t) != MLCL_OK) {
        free(ap); free(t);
        fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error());
        return -1;
    }
    printf("\n%-24s %8s %8s %9s %8s\n", "label", "support", "AP", "threshold", "F1");
    for (int j = 0; j < c; j++) {
        long tp = 0, fp = 0, fn = 0, sup = 0;
        for (int i = 0; i < n; i++) {
            int yy = y[(size_t)i * c + j], p = scores[(size_t)i * c + j] >= t[j];
            sup += yy; tp += yy && p; fp += !yy && p; fn += yy && !p;
        }
        double f1 = 2 * tp + fp + fn > 0 ? 2.0 * tp / (double)(2 * tp + fp + fn) : 0.0;
        const char *name;
        mlcl_model_label_name(m, j, &name);
        printf("%-24.24s %8ld %8.4f %9.4g %8.4f\n", name, sup, ap[j], (double)t[j], f1);
    }
    free(ap);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *in_path = NULL, *in_labels = NULL, *out_path = NULL, *format = NULL, *export_path = NULL;
    const char *mosaic_dir = NULL;
    long mosaic_n = 0;
    unsigned long long mosaic_seed = 0;
    int kind = MLCL_MODEL_SCORES, kinds = 0, metrics = 0, info = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define VAL() (i + 1 < argc ? argv[++i] : (fprintf(stderr, "mlcl-predict: %s needs a value\n", a), exit(2), ""))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model")) model_path = VAL();
        else if (!strcmp(a, "--input")) in_path = VAL();
        else if (!strcmp(a, "--input-labels")) in_labels = VAL();
        else if (!strcmp(a, "--mosaic-test") || !strcmp(a, "--mosaic-seed")) {
            int count = !strcmp(a, "--mosaic-test");
            const char *v = VAL();
            char *end;
            unsigned long long k = strtoull(v, &end, 10);
            if (*end || !*v || v[0] == '-' || (count && (k < 1 || k > 10000000))) {
                fprintf(stderr, "mlcl-predict: %s: '%s' is not a valid %s\n", a, v, count ? "count" : "seed");
                return 2;
            }
            if (count) { mosaic_n = (long)k; in_path = "(Fashion-MNIST test mosaics)"; } else mosaic_seed = k;
        }
        else if (!strcmp(a, "--mosaic-dir")) mosaic_dir = VAL();
        else if (!strcmp(a, "--out")) out_path = VAL();
        else if (!strcmp(a, "--format")) {
            format = VAL();
            if (strcmp(format, "arff") && strcmp(format, "libsvm")) { fprintf(stderr, "mlcl-predict: --format: '%s' is not arff or libsvm\n", format); return 2; }
        }
        else if (!strcmp(a, "--labels")) { kind = MLCL_MODEL_LABELS; kinds++; }
        else if (!strcmp(a, "--embed")) { kind = MLCL_MODEL_EMBEDDING; kinds++; }
        else if (!strcmp(a, "--distributions")) { kind = MLCL_MODEL_DISTRIBUTIONS; kinds++; }
        else if (!strcmp(a, "--metrics")) metrics = 1;
        else if (!strcmp(a, "--info")) info = 1;
        else if (!strcmp(a, "--export")) {
            export_path = VAL();
            if (!ends_with(export_path, ".safetensors") && !ends_with(export_path, ".onnx") && !ends_with(export_path, ".npz")) {
                fprintf(stderr, "mlcl-predict: --export %s: the name must end in .safetensors, .onnx or .npz\n", export_path);
                return 2;
            }
        }
        else if (!strcmp(a, "--threads")) {
            const char *v = VAL();
            char *end;
            long t = strtol(v, &end, 10);
            if (*end || t < 1 || t > 1024) { fprintf(stderr, "mlcl-predict: --threads: '%s' is not in 1..1024\n", v); return 2; }
            threads = (int)t;
        }
        else { fprintf(stderr, "mlcl-predict: unknown option '%s' (try --help)\n", a); return 2; }
#undef VAL
    }
    if (!model_path) { fprintf(stderr, "mlcl-predict: --model is required (try --help)\n"); return 2; }
    if (kinds > 1) { fprintf(stderr, "mlcl-predict: give at most one of --labels, --embed, --distributions\n"); return 2; }
    if (!in_path && (out_path || metrics || kinds)) { fprintf(stderr, "mlcl-predict: --out, --metrics, --labels, --embed and --distributions need --input\n"); return 2; }
    if (in_path && !out_path && !metrics) { fprintf(stderr, "mlcl-predict: --input needs --out or --metrics\n"); return 2; }
    if (!in_path && !info && !export_path) { fprintf(stderr, "mlcl-predict: nothing to do: give --input with --out/--metrics, --info or --export\n"); return 2; }
    if (export_path && (!strcmp(export_path, model_path) || same_file(export_path, model_path) || same_file(export_path, in_path) ||
                        (in_path && !strcmp(export_path, in_path)) || (out_path && !strcmp(export_path, out_path)))) {
        fprintf(stderr, "mlcl-predict: --export %s is an input or output file\n", export_path);
        return 2;
    }
    if (out_path && (same_file(out_path, in_path) || same_file(out_path, model_path) || same_file(out_path, in_labels) ||
                     !strcmp(out_path, model_path) || (in_path && !strcmp(out_path, in_path)))) {
        fprintf(stderr, "mlcl-predict: --out %s is an input file\n", out_path);
        return 2;
    }
    g_mosaic_dir = mosaic_dir;
    g_mosaic_n = mosaic_n;
    g_mosaic_seed = mosaic_seed;
    const char *env_threads = getenv("MLCL_NUM_THREADS"); /* the default of --threads (the library reads no environment) */
    if (!threads && env_threads && atoi(env_threads) > 0) threads = atoi(env_threads);
    if (!threads) mlcl_get_num_threads(&threads); /* set always: it also makes OpenBLAS single-threaded (docs/abi.md) */
    if (mlcl_set_num_threads(threads) != MLCL_OK) { fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error()); return 2; }

    mlcl_model *m = NULL;
    if (mlcl_model_load(&m, model_path) != MLCL_OK) { fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error()); return 1; }
    if (info) print_info(m, model_path);
    int status = 0;
    if (export_path) {
        int rc = ends_with(export_path, ".onnx")  ? mlcl_model_export_onnx(m, export_path)
                 : ends_with(export_path, ".npz") ? mlcl_model_export_npz(m, export_path)
                                                  : mlcl_model_export_safetensors(m, export_path);
        if (rc != MLCL_OK) {
            fprintf(stderr, "mlcl-predict: --export: %s\n", mlcl_last_error());
            mlcl_model_free(m);
            return 1;
        }
    }
    if (in_path) {
        int md, mc, mh;
        mlcl_model_dims(m, &md, &mc, &mh);
        input in;
        mlcl_clear_error();
        if (read_input(&in, in_path, in_labels, format, m) != MLCL_OK) {
            if (*mlcl_last_error()) fprintf(stderr, "mlcl-predict: --input %s: %s\n", in_path, mlcl_last_error());
            free_input(&in);
            mlcl_model_free(m);
            return 1;
        }
        if (in.d != md) {
            fprintf(stderr, "mlcl-predict: --input %s has %d features per row, the model takes %d\n", in_path, in.d, md);
            status = 1;
        } else if (in.c && in.c != mc) {
            fprintf(stderr, "mlcl-predict: --input %s has %d labels, the model predicts %d\n", in_path, in.c, mc);
            status = 1;
        } else if (metrics && !in.c) {
            fprintf(stderr, "mlcl-predict: --metrics needs labels in --input %s\n", in_path);
            status = 1;
        }
        float *scores = NULL, *outv = NULL;
        if (!status) {
            scores = malloc(sizeof(float) * (size_t)in.n * mc);
            int w = kind == MLCL_MODEL_EMBEDDING ? mh : mc;
            outv = kind == MLCL_MODEL_SCORES ? scores : malloc(sizeof(float) * (size_t)in.n * w);
            if (!scores || !outv) { fprintf(stderr, "mlcl-predict: out of memory for %d rows\n", in.n); status = 1; }
            mlcl_model_workspace *ws = NULL;
            if (!status && mlcl_model_workspace_create(&ws, m) != MLCL_OK) status = 1;
            if (!status && (metrics || kind == MLCL_MODEL_SCORES) &&
                mlcl_model_infer(m, ws, MLCL_MODEL_SCORES, in.n, in.x, scores) != MLCL_OK) status = 1;
            if (!status && kind != MLCL_MODEL_SCORES && mlcl_model_infer(m, ws, kind, in.n, in.x, outv) != MLCL_OK) status = 1;
            mlcl_model_workspace_free(ws);
            if (status && *mlcl_last_error()) fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error());
            if (!status && out_path && write_output(out_path, m, kind, in.n, w, outv)) status = 1;
            if (!status && metrics && print_metrics(m, in.n, mc, scores, in.y)) status = 1;
        }
        if (outv != scores) free(outv);
        free(scores);
        free_input(&in);
    }
    mlcl_model_free(m);
    return status;
}

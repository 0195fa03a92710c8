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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mlcl.h>
#include "mosaic.h"
#include "cli/json.h"

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
        rc = fashion_mosaic(&in->ds, g_mosaic_dir, 0, (int)g_mosaic_n, g_mosaic_seed + 2, 2);
        if (rc != MLCL_OK) {
            if (!*mlcl_last_error()) fprintf(stderr, "mlcl-predict: --mosaic: %s\n", mosaic_last_error());
            return rc;
        }
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

static void out_abort(out_file *o)
{
    fclose(o->f);
    unlink(o->tmp);
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

/* {"output": KIND, "rows": n, "columns": [names], "values": [[row], ...]} built
 * with jansson: every name escaped (bytes that are not UTF-8 as U+FFFD), every
 * score a float's 9 significant digits, a decision 0 or 1 */
static json_t *json_output(const mlcl_model *m, int kind, int n, int w, const float *v)
{
    static const char *kinds[] = { "scores", "labels", "embedding", "distributions" };
    int dec = kind == MLCL_MODEL_LABELS, bad = 0;
    json_t *doc = json_object(), *cols = json_array(), *rows = json_array();
    if (!doc || !cols || !rows) bad = 1;
    for (int j = 0; !bad && j < w; j++) {
        char col[32];
        const char *name = col;
        if (kind == MLCL_MODEL_EMBEDDING) snprintf(col, sizeof col, "e%d", j);
        else mlcl_model_label_name(m, j, &name);
        bad = json_array_append_new(cols, cli_json_text(name)) != 0;
    }
    for (int i = 0; !bad && i < n; i++) {
        json_t *row = json_array();
        bad = !row || json_array_append_new(rows, row) != 0;
        for (int j = 0; !bad && j < w; j++) {
            float x = v[(size_t)i * w + j];
            bad = json_array_append_new(row, dec ? json_integer(x != 0.0f) : cli_json_real((double)x)) != 0;
        }
    }
    if (!bad) bad = cli_json_set(doc, "output", json_string(kinds[kind])) || cli_json_set(doc, "rows", json_integer(n));
    if (!bad) { bad = cli_json_set(doc, "columns", cols); cols = NULL; }
    if (!bad) { bad = cli_json_set(doc, "values", rows); rows = NULL; }
    json_decref(cols);
    json_decref(rows);
    if (bad) { json_decref(doc); return NULL; }
    return doc;
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
        json_t *doc = json_output(m, kind, n, w, v);
        if (!doc) { out_abort(&o); fprintf(stderr, "mlcl-predict: --out %s: out of memory\n", path); return -1; }
        int bad = cli_json_write(f, doc, CLI_JSON_FLOAT);
        int e = errno;
        json_decref(doc);
        if (bad) {
            out_abort(&o);
            fprintf(stderr, "mlcl-predict: --out %s: write failed: %s\n", path, strerror(e ? e : EIO));
            return -1;
        }
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

/* ------------------------------------------------------------------ options */

typedef struct args {
    const char *model, *input, *input_labels, *out, *format, *export_path;
    int kind, kinds, metrics, info, threads;
} args;

enum { O_HELP, O_MODEL, O_INPUT, O_INPUT_LABELS, O_MOSAIC_TEST, O_MOSAIC_SEED, O_MOSAIC_DIR, O_OUT, O_FORMAT, O_LABELS,
       O_EMBED, O_DISTRIBUTIONS, O_METRICS, O_INFO, O_EXPORT, O_THREADS, O_COUNT };

/* the flags (usage() describes them): name, whether a value follows */
static const struct { const char *name; int value; } opts[O_COUNT] = {
    [O_HELP] = { "--help", 0 }, [O_MODEL] = { "--model", 1 }, [O_INPUT] = { "--input", 1 },
    [O_INPUT_LABELS] = { "--input-labels", 1 }, [O_MOSAIC_TEST] = { "--mosaic-test", 1 },
    [O_MOSAIC_SEED] = { "--mosaic-seed", 1 }, [O_MOSAIC_DIR] = { "--mosaic-dir", 1 }, [O_OUT] = { "--out", 1 },
    [O_FORMAT] = { "--format", 1 }, [O_LABELS] = { "--labels", 0 }, [O_EMBED] = { "--embed", 0 },
    [O_DISTRIBUTIONS] = { "--distributions", 0 }, [O_METRICS] = { "--metrics", 0 }, [O_INFO] = { "--info", 0 },
    [O_EXPORT] = { "--export", 1 }, [O_THREADS] = { "--threads", 1 },
};

/* "mlcl-predict: MESSAGE" on stderr; returns 2 (invalid options) */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mlcl-predict: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* one flag and its value v (NULL for a flag without one); 0, 1 (--help printed) or 2 (message printed) */
static int set_option(args *a, int id, const char *v)
{
    char *end;
    switch (id) {
    case O_HELP: usage(stdout); return 1;
    case O_MODEL: a->model = v; return 0;
    case O_INPUT: a->input = v; return 0;
    case O_INPUT_LABELS: a->input_labels = v; return 0;
    case O_MOSAIC_DIR: g_mosaic_dir = v; return 0;
    case O_OUT: a->out = v; return 0;
    case O_MOSAIC_TEST: case O_MOSAIC_SEED: {
        int count = id == O_MOSAIC_TEST;
        unsigned long long k = strtoull(v, &end, 10);
        if (*end || !*v || v[0] == '-' || (count && (k < 1 || k > 10000000)))
            return bad("%s: '%s' is not a valid %s", opts[id].name, v, count ? "count" : "seed");
        if (count) { g_mosaic_n = (long)k; a->input = "(Fashion-MNIST test mosaics)"; } else g_mosaic_seed = k;
        return 0;
    }
    case O_FORMAT:
        if (strcmp(v, "arff") && strcmp(v, "libsvm")) return bad("--format: '%s' is not arff or libsvm", v);
        a->format = v;
        return 0;
    case O_LABELS: a->kind = MLCL_MODEL_LABELS; a->kinds++; return 0;
    case O_EMBED: a->kind = MLCL_MODEL_EMBEDDING; a->kinds++; return 0;
    case O_DISTRIBUTIONS: a->kind = MLCL_MODEL_DISTRIBUTIONS; a->kinds++; return 0;
    case O_METRICS: a->metrics = 1; return 0;
    case O_INFO: a->info = 1; return 0;
    case O_EXPORT:
        if (!ends_with(v, ".safetensors") && !ends_with(v, ".onnx") && !ends_with(v, ".npz"))
            return bad("--export %s: the name must end in .safetensors, .onnx or .npz", v);
        a->export_path = v;
        return 0;
    case O_THREADS: {
        long t = strtol(v, &end, 10);
        if (*end || t < 1 || t > 1024) return bad("--threads: '%s' is not in 1..1024", v);
        a->threads = (int)t;
        return 0;
    }
    default: return 2;
    }
}

/* argv into a; 0, 1 (--help printed) or 2 (message printed) */
static int parse_args(args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->kind = MLCL_MODEL_SCORES;
    for (int i = 1; i < argc; i++) {
        const char *arg = !strcmp(argv[i], "-h") ? "--help" : argv[i];
        int id = 0;
        while (id < O_COUNT && strcmp(arg, opts[id].name)) id++;
        if (id == O_COUNT) return bad("unknown option '%s' (try --help)", argv[i]);
        if (opts[id].value && i + 1 >= argc) return bad("%s needs a value", arg);
        int rc = set_option(a, id, opts[id].value ? argv[++i] : NULL);
        if (rc) return rc;
    }
    return 0;
}

/* the flags that go together, and no output over an input */
static int check_args(const args *a)
{
    if (!a->model) return bad("--model is required (try --help)");
    if (a->kinds > 1) return bad("give at most one of --labels, --embed, --distributions");
    if (!a->input && (a->out || a->metrics || a->kinds))
        return bad("--out, --metrics, --labels, --embed and --distributions need --input");
    if (a->input && !a->out && !a->metrics) return bad("--input needs --out or --metrics");
    if (!a->input && !a->info && !a->export_path)
        return bad("nothing to do: give --input with --out/--metrics, --info or --export");
    const char *ex = a->export_path, *out = a->out;
    if (ex && (!strcmp(ex, a->model) || same_file(ex, a->model) || same_file(ex, a->input) ||
               (a->input && !strcmp(ex, a->input)) || (out && !strcmp(ex, out))))
        return bad("--export %s is an input or output file", ex);
    if (out && (same_file(out, a->input) || same_file(out, a->model) || same_file(out, a->input_labels) ||
                !strcmp(out, a->model) || (a->input && !strcmp(out, a->input))))
        return bad("--out %s is an input file", out);
    return 0;
}

/* --input: score the rows, write --out, print --metrics; 0 or 1 (message printed) */
static int predict(const args *a, const mlcl_model *m)
{
    int md, mc, mh, status = 0;
    mlcl_model_dims(m, &md, &mc, &mh);
    input in;
    mlcl_clear_error();
    if (read_input(&in, a->input, a->input_labels, a->format, m) != MLCL_OK) {
        if (*mlcl_last_error()) fprintf(stderr, "mlcl-predict: --input %s: %s\n", a->input, mlcl_last_error());
        free_input(&in);
        return 1;
    }
    if (in.d != md) {
        fprintf(stderr, "mlcl-predict: --input %s has %d features per row, the model takes %d\n", a->input, in.d, md);
        status = 1;
    } else if (in.c && in.c != mc) {
        fprintf(stderr, "mlcl-predict: --input %s has %d labels, the model predicts %d\n", a->input, in.c, mc);
        status = 1;
    } else if (a->metrics && !in.c) {
        fprintf(stderr, "mlcl-predict: --metrics needs labels in --input %s\n", a->input);
        status = 1;
    }
    int kind = a->kind, w = kind == MLCL_MODEL_EMBEDDING ? mh : mc;
    float *scores = NULL, *outv = NULL;
    mlcl_model_workspace *ws = NULL;
    if (!status) {
        scores = malloc(sizeof(float) * (size_t)in.n * mc);
        outv = kind == MLCL_MODEL_SCORES ? scores : malloc(sizeof(float) * (size_t)in.n * w);
        if (!scores || !outv) { fprintf(stderr, "mlcl-predict: out of memory for %d rows\n", in.n); status = 1; }
    }
    if (!status && mlcl_model_workspace_create(&ws, m) != MLCL_OK) status = 1;
    if (!status && (a->metrics || kind == MLCL_MODEL_SCORES) &&
        mlcl_model_infer(m, ws, MLCL_MODEL_SCORES, in.n, in.x, scores) != MLCL_OK) status = 1;
    if (!status && kind != MLCL_MODEL_SCORES && mlcl_model_infer(m, ws, kind, in.n, in.x, outv) != MLCL_OK) status = 1;
    mlcl_model_workspace_free(ws);
    if (status && *mlcl_last_error()) fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error());
    if (!status && a->out && write_output(a->out, m, kind, in.n, w, outv)) status = 1;
    if (!status && a->metrics && print_metrics(m, in.n, mc, scores, in.y)) status = 1;
    if (outv != scores) free(outv);
    free(scores);
    free_input(&in);
    return status;
}

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc == 1 ? 0 : 2;
    if (check_args(&a)) return 2;
    const char *env_threads = getenv("MLCL_NUM_THREADS"); /* the default of --threads (the library reads no environment) */
    if (!a.threads && env_threads && atoi(env_threads) > 0) a.threads = atoi(env_threads);
    if (!a.threads) mlcl_get_num_threads(&a.threads); /* set always: it also makes OpenBLAS single-threaded (docs/abi.md) */
    if (mlcl_set_num_threads(a.threads) != MLCL_OK) { fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error()); return 2; }

    mlcl_model *m = NULL;
    if (mlcl_model_load(&m, a.model) != MLCL_OK) { fprintf(stderr, "mlcl-predict: %s\n", mlcl_last_error()); return 1; }
    if (a.info) print_info(m, a.model);
    int status = 0;
    if (a.export_path) {
        const char *ex = a.export_path;
        rc = ends_with(ex, ".onnx") ? mlcl_model_export_onnx(m, ex)
           : ends_with(ex, ".npz") ? mlcl_model_export_npz(m, ex) : mlcl_model_export_safetensors(m, ex);
        if (rc != MLCL_OK) { fprintf(stderr, "mlcl-predict: --export: %s\n", mlcl_last_error()); status = 1; }
    }
    if (!status && a.input) status = predict(&a, m);
    mlcl_model_free(m);
    return status;
}

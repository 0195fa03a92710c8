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
 * `flags` below) and a flag that does not apply to the chosen setup is an
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
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <mlcl.h>
#include <mlcl/comm.h>

extern char **environ;

#define PYTHON "/usr/bin/python3"
#define MOSAIC_DIR_DEFAULT "/usr/share/datasets/fashion-mnist"
#define MOSAIC_FEATURES 3136 /* 2 x 2 mosaics of 28 x 28 */
#define MOSAIC_LABELS 10
#define MOSAIC_TRAIN_DEFAULT 6000
#define MOSAIC_TEST_DEFAULT 2000
#define BASE_WIDTH_DEFAULT 64
#define STREAM_THREADS_MAX 8 /* --loader-threads default: the CPUs available, at most this */
#define STREAM_PREFETCH_DEFAULT 4
#define STOP_GRACE_S 10      /* a graceful stop that takes longer ends the process */

/* ------------------------------------------------------------ signals
 * Outside the training loop a signal ends the process at once (setup can sit
 * in a long read or in a library call that never returns to us); during
 * training the first signal asks the progress callback to stop at the next
 * step so that the checkpoint is written, and a second signal, or
 * STOP_GRACE_S seconds without the graceful path finishing, ends it at once. */
static volatile sig_atomic_t g_stop, g_graceful;
static volatile pid_t g_child;
#define N_TMP 4
static char g_tmp[N_TMP][PATH_MAX]; /* temporary files to remove on a hard stop */

static void hard_stop(int sig)
{
    if (g_child > 0) kill(g_child, SIGTERM);
    for (int i = 0; i < N_TMP; i++)
        if (g_tmp[i][0]) unlink(g_tmp[i]);
    char msg[80] = "\nmlcl-train: stopped by signal ";
    size_t n = strlen(msg);
    if (sig >= 10) msg[n++] = (char)('0' + sig / 10 % 10);
    msg[n++] = (char)('0' + sig % 10);
    const char *tail = g_stop ? " (the graceful stop did not finish)\n" : "\n";
    for (; *tail && n < sizeof msg - 1; tail++) msg[n++] = *tail;
    if (write(2, msg, n) < 0) { /* nothing left to do */ }
    _exit(130);
}

static void on_signal(int sig)
{
    if (g_graceful && !g_stop) {
        g_stop = sig;
        alarm(STOP_GRACE_S);
        return;
    }
    hard_stop(sig);
}

static void on_alarm(int sig)
{
    (void)sig;
    if (g_stop) hard_stop((int)g_stop);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
}

static int tmp_register(const char *path)
{
    for (int i = 0; i < N_TMP; i++)
        if (!g_tmp[i][0]) { snprintf(g_tmp[i], PATH_MAX, "%s", path); return i; }
    return -1;
}

static void tmp_unregister(int slot)
{
    if (slot >= 0) g_tmp[slot][0] = 0;
}

/* ------------------------------------------------------------ messages */
static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mlcl-train: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* ------------------------------------------------------------ the flag table */
enum ftype { T_BOOL, T_INT, T_FLOAT, T_U64, T_IN, T_OUT, T_OUTDIR, T_INDIR, T_CHOICE, T_SCHED, T_HIDDEN, T_KEYS, T_NAMES, T_TEXT };

typedef struct flag {
    const char *name;
    int type;
    double lo, hi;          /* T_INT, T_FLOAT */
    const char *choices;    /* T_CHOICE: the accepted names, '|'-separated */
    int given;
    const char *val;
    long long i;            /* T_INT; T_CHOICE: index of the name */
    double f;               /* T_FLOAT */
    uint64_t u;             /* T_U64 */
    int t0, tmult;          /* T_SCHED */
    double eta_min;
    int hidden[8], n_hidden; /* T_HIDDEN */
} flag;

enum {
    FL_HELP, FL_PRESET, FL_TRAIN, FL_TEST, FL_TRAIN_LABELS, FL_TEST_LABELS, FL_NPZ_KEYS, FL_FORMAT, FL_LABELS,
    FL_FEATURES, FL_INDEX_BASE, FL_MOSAIC_TRAIN, FL_MOSAIC_TEST, FL_MOSAIC_DIR, FL_METHOD, FL_PRE_EPOCHS,
    FL_FT_EPOCHS, FL_BATCH, FL_QUEUE, FL_SEED, FL_THREADS, FL_FORCE_THREADS, FL_PRE_LR, FL_PRE_WD, FL_FT_LR,
    FL_FT_WD, FL_PRE_MASK, FL_FT_MASK, FL_PRE_SCHED, FL_FT_SCHED, FL_MOMENTUM, FL_HIDDEN, FL_DROPOUT,
    FL_ENCODER, FL_BASE_WIDTH, FL_IMAGE_SIZE, FL_VIEWS, FL_FT_VIEWS, FL_ALPHA, FL_BETA, FL_TAU, FL_SIGMA,
    FL_MASK, FL_REDUCTION, FL_CLD_WEIGHT, FL_WEIGHT_GRAD, FL_DWEIGHT_GRAD, FL_CON_NORM, FL_H_TARGET, FL_JSON,
    FL_LOG, FL_PLOT, FL_EVAL_EVERY, FL_CHECKPOINT, FL_SAVE_MODEL, FL_RESUME, FL_VAL_SPLIT, FL_QUIET, FL_PER_LABEL,
    FL_SPARSE,
    FL_IMPUTE, FL_LABEL_COLUMNS, FL_LABEL_PREFIX, FL_IMAGE_ROOT, FL_SKIP_BAD_IMAGES, FL_VOC_DIFFICULT,
    FL_SELECT_METRIC, FL_PATIENCE, FL_VAL_THRESHOLDS, FL_STREAM, FL_LOADER_THREADS, FL_PREFETCH,
    FL_COUNT
};

#define METHOD_CHOICES "none|mulsupcon|rld|cld|supcon-all|supcon-any"
/* indices 0..5 are MLCL_METRIC_HA .. MLCL_METRIC_MAP (metrics.h); 6 none; 7 p_at_1 (the --log/--json name of p@1) */
#define SELECT_CHOICES "HA|ebF1|miF1|maF1|p@1|mAP|none|p_at_1"
#define ENCODER_CHOICES "mlp|resnet18-small|resnet34-small|resnet50-small|resnet18|resnet34|resnet50"
#define BIG ((double)INT_MAX)

static flag flags[FL_COUNT] = {
    [FL_HELP] = { "--help", T_BOOL },
    [FL_PRESET] = { "--preset", T_CHOICE, 0, 0, "yeast|scene" },
    [FL_TRAIN] = { "--train", T_IN },
    [FL_TEST] = { "--test", T_IN },
    [FL_TRAIN_LABELS] = { "--train-labels", T_IN },
    [FL_TEST_LABELS] = { "--test-labels", T_IN },
    [FL_NPZ_KEYS] = { "--npz-keys", T_KEYS },
    [FL_FORMAT] = { "--format", T_CHOICE, 0, 0, "arff|libsvm|csv" },
    [FL_LABELS] = { "--labels", T_INT, 1, BIG },
    [FL_FEATURES] = { "--features", T_INT, 1, BIG },
    [FL_INDEX_BASE] = { "--index-base", T_CHOICE, 0, 0, "0|1" },
    [FL_MOSAIC_TRAIN] = { "--mosaic-train", T_INT, 2, 1e7 },
    [FL_MOSAIC_TEST] = { "--mosaic-test", T_INT, 1, 1e7 },
    [FL_MOSAIC_DIR] = { "--mosaic-dir", T_INDIR },
    [FL_METHOD] = { "--method", T_CHOICE, 0, 0, METHOD_CHOICES },
    [FL_PRE_EPOCHS] = { "--pretrain-epochs", T_INT, 0, 1e6 },
    [FL_FT_EPOCHS] = { "--finetune-epochs", T_INT, 0, 1e6 },
    [FL_BATCH] = { "--batch", T_INT, 2, 1e6 },
    [FL_QUEUE] = { "--queue", T_INT, 1, BIG },
    [FL_SEED] = { "--seed", T_U64 },
    [FL_THREADS] = { "--threads", T_INT, 1, 1024 },
    [FL_FORCE_THREADS] = { "--force-threads", T_BOOL },
    [FL_PRE_LR] = { "--pretrain-lr", T_FLOAT, 0, 10 },
    [FL_PRE_WD] = { "--pretrain-wd", T_FLOAT, 0, 10 },
    [FL_FT_LR] = { "--finetune-lr", T_FLOAT, 0, 10 },
    [FL_FT_WD] = { "--finetune-wd", T_FLOAT, 0, 10 },
    [FL_PRE_MASK] = { "--pretrain-mask", T_FLOAT, 0, 0.99 },
    [FL_FT_MASK] = { "--finetune-mask", T_FLOAT, 0, 0.99 },
    [FL_PRE_SCHED] = { "--pretrain-sched", T_SCHED },
    [FL_FT_SCHED] = { "--finetune-sched", T_SCHED },
    [FL_MOMENTUM] = { "--momentum", T_FLOAT, 0, 1 },
    [FL_HIDDEN] = { "--hidden", T_HIDDEN, 1, 1e7 },
    [FL_DROPOUT] = { "--dropout", T_FLOAT, 0, 0.99 },
    [FL_ENCODER] = { "--encoder", T_CHOICE, 0, 0, ENCODER_CHOICES },
    [FL_BASE_WIDTH] = { "--base-width", T_INT, 1, 4096 },
    [FL_IMAGE_SIZE] = { "--image-size", T_INT, 1, 4096 },
    [FL_VIEWS] = { "--views", T_CHOICE, 0, 0, "simclr|mask" },
    [FL_FT_VIEWS] = { "--finetune-views", T_CHOICE, 0, 0, "simclr|none" },
    [FL_ALPHA] = { "--alpha", T_FLOAT, 0, 1e6 },
    [FL_BETA] = { "--beta", T_FLOAT, 0, 1e6 },
    [FL_TAU] = { "--tau", T_FLOAT, 1e-4, 1e3 },
    [FL_SIGMA] = { "--sigma", T_FLOAT, 1e-6, 1e3 },
    [FL_MASK] = { "--mask", T_CHOICE, 0, 0, "any|all" },
    [FL_REDUCTION] = { "--reduction", T_CHOICE, 0, 0, "mean|sum" },
    [FL_CLD_WEIGHT] = { "--cld-weight", T_CHOICE, 0, 0, "prob|logprob" },
    [FL_WEIGHT_GRAD] = { "--weight-grad", T_CHOICE, 0, 0, "off|on|0|1" },
    [FL_DWEIGHT_GRAD] = { "--dweight-grad", T_CHOICE, 0, 0, "off|on|0|1" },
    [FL_CON_NORM] = { "--con-norm", T_CHOICE, 0, 0, "none|per_label" },
    [FL_H_TARGET] = { "--h-target", T_CHOICE, 0, 0, "normalised|raw|normalized" },
    [FL_JSON] = { "--json", T_OUT },
    [FL_LOG] = { "--log", T_OUT },
    [FL_PLOT] = { "--plot", T_OUTDIR },
    [FL_EVAL_EVERY] = { "--eval-every", T_INT, 1, 1e6 },
    [FL_CHECKPOINT] = { "--checkpoint", T_OUT },
    [FL_SAVE_MODEL] = { "--save-model", T_OUT },
    [FL_RESUME] = { "--resume", T_IN },
    [FL_VAL_SPLIT] = { "--val-split", T_FLOAT, 0.01, 0.9 },
    [FL_QUIET] = { "--quiet", T_BOOL },
    [FL_SPARSE] = { "--sparse", T_BOOL },
    [FL_PER_LABEL] = { "--per-label", T_BOOL },
    [FL_IMPUTE] = { "--impute", T_CHOICE, 0, 0, "mean|zero" },
    [FL_LABEL_COLUMNS] = { "--label-columns", T_NAMES },
    [FL_LABEL_PREFIX] = { "--label-prefix", T_TEXT },
    [FL_IMAGE_ROOT] = { "--image-root", T_INDIR },
    [FL_SKIP_BAD_IMAGES] = { "--skip-bad-images", T_BOOL },
    [FL_VOC_DIFFICULT] = { "--voc-difficult", T_CHOICE, 0, 0, "neg|pos" }, /* the index is the mlcl_voc_difficult value */
    [FL_SELECT_METRIC] = { "--select-metric", T_CHOICE, 0, 0, SELECT_CHOICES },
    [FL_PATIENCE] = { "--patience", T_INT, 0, 1e6 },
    [FL_VAL_THRESHOLDS] = { "--val-thresholds", T_CHOICE, 0, 0, "per-label|global" },
    [FL_STREAM] = { "--stream", T_BOOL },
    [FL_LOADER_THREADS] = { "--loader-threads", T_INT, 1, 16 },
    [FL_PREFETCH] = { "--prefetch", T_INT, 1, 64 },
};

#define G(id) (flags[id].given)
#define V(id) (flags[id].val)

/* the choice's names as "a, b or c" */
static const char *choice_list(const char *choices, char *buf, size_t n)
{
    size_t k = 0;
    int count = 1;
    for (const char *s = choices; *s; s++) count += *s == '|';
    int idx = 0;
    for (const char *s = choices; *s && k + 8 < n; s++) {
        if (*s == '|') {
            idx++;
            const char *sep = idx == count - 1 ? " or " : ", ";
            k += (size_t)snprintf(buf + k, n - k, "%s", sep);
        } else {
            buf[k++] = *s;
        }
    }
    buf[k < n ? k : n - 1] = 0;
    return buf;
}

static int match_choice(const char *choices, const char *val)
{
    size_t len = strlen(val);
    int idx = 0;
    for (const char *s = choices;; idx++) {
        const char *e = strchr(s, '|');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == len && !strncmp(s, val, l)) return idx;
        if (!e) return -1;
        s = e + 1;
    }
}

/* a whole decimal integer in [lo, hi]: "2.7", "1e7", " 5", "5x" and overflow are refused */
static int parse_int(const char *s, double lo, double hi, long long *out)
{
    if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9'))) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || (double)v < lo || (double)v > hi) return -1;
    *out = v;
    return 0;
}

/* a whole finite number in [lo, hi] ("inf", "nan", "1x", "" are refused) */
static int parse_float(const char *s, double lo, double hi, double *out)
{
    if (!*s || !(*s == '-' || *s == '+' || *s == '.' || (*s >= '0' && *s <= '9'))) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || end == s || !isfinite(v) || (errno == ERANGE && v != 0) || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int parse_value(flag *f)
{
    const char *v = f->val;
    char buf[256];
    switch (f->type) {
    case T_INT:
        if (parse_int(v, f->lo, f->hi, &f->i))
            return fail(2, "%s: '%s' is not an integer in [%.0f, %.0f]", f->name, v, f->lo, f->hi);
        return 0;
    case T_FLOAT:
        if (parse_float(v, f->lo, f->hi, &f->f))
            return fail(2, "%s: '%s' is not a finite number in [%g, %g]", f->name, v, f->lo, f->hi);
        return 0;
    case T_U64: {
        char *end;
        errno = 0;
        if (!(*v >= '0' && *v <= '9')) return fail(2, "%s: '%s' is not an integer in [0, 18446744073709551615]", f->name, v);
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || *end) return fail(2, "%s: '%s' is not an integer in [0, 18446744073709551615]", f->name, v);
        f->u = u;
        return 0;
    }
    case T_CHOICE: {
        int k = match_choice(f->choices, v);
        if (k < 0) return fail(2, "%s: '%s' is not %s", f->name, v, choice_list(f->choices, buf, sizeof buf));
        f->i = k;
        return 0;
    }
    case T_SCHED: {
        /* T0,Tmult,eta_min: exactly three fields */
        char copy[256];
        if (strlen(v) >= sizeof copy) return fail(2, "%s: '%.40s...' is too long", f->name, v);
        snprintf(copy, sizeof copy, "%s", v);
        char *a = copy, *b = strchr(a, ','), *c = b ? strchr(b + 1, ',') : NULL;
        long long t0, tm;
        double em;
        if (!b || !c || strchr(c + 1, ','))
            return fail(2, "%s: '%s' is not T0,Tmult,eta_min (e.g. 25,2,1e-4)", f->name, v);
        *b++ = 0;
        *c++ = 0;
        if (parse_int(a, 1, 1e6, &t0)) return fail(2, "%s: T0 '%s' is not an integer in [1, 1000000]", f->name, a);
        if (parse_int(b, 1, 1000, &tm)) return fail(2, "%s: Tmult '%s' is not an integer in [1, 1000]", f->name, b);
        if (parse_float(c, 0, 10, &em)) return fail(2, "%s: eta_min '%s' is not a finite number in [0, 10]", f->name, c);
        f->t0 = (int)t0; f->tmult = (int)tm; f->eta_min = em;
        return 0;
    }
    case T_HIDDEN: {
        /* 1 to 8 widths, comma-separated, each an integer in [lo, hi] */
        const char *s = v;
        int k = 0;
        for (;;) {
            const char *e = strchr(s, ',');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            char w[32];
            long long x;
            if (l == 0 || l >= sizeof w) return fail(2, "%s: '%s' is not a list of widths like 256,512,256", f->name, v);
            memcpy(w, s, l);
            w[l] = 0;
            if (parse_int(w, f->lo, f->hi, &x)) return fail(2, "%s: width '%s' is not an integer in [%.0f, %.0f]", f->name, w, f->lo, f->hi);
            if (k == 8) return fail(2, "%s: '%s' has more than the 8 hidden layers the MLP supports", f->name, v);
            f->hidden[k++] = (int)x;
            if (!e) break;
            s = e + 1;
        }
        f->n_hidden = k;
        return 0;
    }
    case T_KEYS: {
        const char *comma = strchr(v, ',');
        if (!comma || comma == v || !comma[1] || strchr(comma + 1, ',') || strlen(v) > 200)
            return fail(2, "%s: '%s' is not X,Y (two array names, e.g. images,labels)", f->name, v);
        return 0;
    }
    case T_NAMES: { /* a,b,c: non-empty names */
        size_t len = strlen(v);
        if (!len || v[0] == ',' || v[len - 1] == ',' || strstr(v, ",,") || len > 65536)
            return fail(2, "%s: '%.80s' is not a list of column names like a,b,c", f->name, v);
        return 0;
    }
    case T_TEXT:
        if (!*v || strlen(v) > 4096) return fail(2, "%s: '%.80s' is not a non-empty text of at most 4096 bytes", f->name, v);
        return 0;
    default: /* paths */
        if (!*v) return fail(2, "%s: the path is empty", f->name);
        if (v[0] == '-' && v[1] == '-')
            return fail(2, "%s: '%s' looks like an option, not a path (write ./%s for a file of that name)", f->name, v, v);
        return 0;
    }
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int id = -1;
        if (!strcmp(arg, "-h")) arg = "--help";
        for (int k = 0; k < FL_COUNT; k++)
            if (!strcmp(arg, flags[k].name)) { id = k; break; }
        if (id < 0) return fail(2, "unknown option '%s' (try --help)", argv[i]);
        flag *f = &flags[id];
        if (f->given) return fail(2, "%s is given twice", f->name);
        f->given = 1;
        if (f->type == T_BOOL) continue;
        if (i + 1 >= argc) return fail(2, "%s needs a value", f->name);
        f->val = argv[++i];
        if (parse_value(f)) return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ output and input paths */
typedef struct pathinfo {
    const char *flag, *path;
    char canon[PATH_MAX]; /* realpath, or realpath(directory)/name when it does not exist yet */
    int exists;
    int tree;             /* a folder the readers read files in: 1 a VOC tree, 2 the images of a manifest */
    dev_t dev;
    ino_t ino;
} pathinfo;

static pathinfo g_in[64], g_out[8];
static int g_nin, g_nout;

static const char *file_kind(mode_t m)
{
    return S_ISCHR(m) ? "character device" : S_ISBLK(m) ? "block device" : S_ISFIFO(m) ? "FIFO"
         : S_ISSOCK(m) ? "socket" : S_ISDIR(m) ? "directory" : "special file";
}

/* dir (at least ".") and base of path; returns -1 when there is no base name */
static int split_path(const char *path, char *dir, size_t n, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) { snprintf(dir, n, "."); *base = path; }
    else if (slash == path) { snprintf(dir, n, "/"); *base = slash + 1; }
    else { snprintf(dir, n, "%.*s", (int)(slash - path), path); *base = slash + 1; }
    return **base && strcmp(*base, ".") && strcmp(*base, "..") ? 0 : -1;
}

/* dirs: 0 a file is expected, 1 a file or a folder (--mosaic-dir), 2 a folder of images (--image-root),
 * 3 a file or a VOC tree */
static int add_input_kind(const char *flagname, const char *path, int dirs)
{
    if (g_nin == (int)(sizeof g_in / sizeof g_in[0])) return 0;
    pathinfo *p = &g_in[g_nin];
    memset(p, 0, sizeof *p);
    p->flag = flagname;
    p->path = path;
    struct stat st;
    if (stat(path, &st) != 0) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    if (S_ISDIR(st.st_mode) && !dirs)
        return fail(2, "%s %s: is a directory, a file is expected", flagname, path);
    if (!S_ISDIR(st.st_mode) && dirs == 2) return fail(2, "%s %s: is not a directory", flagname, path);
    if (access(path, R_OK) != 0) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    p->exists = 1;
    p->tree = dirs == 2 ? 2 : dirs == 3 && S_ISDIR(st.st_mode);
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    if (!realpath(path, p->canon)) snprintf(p->canon, sizeof p->canon, "%s", path);
    g_nin++;
    return 0;
}

static int add_input(const char *flagname, const char *path)
{
    return add_input_kind(flagname, path, !strcmp(flagname, "--mosaic-dir"));
}

/* a folder of the images the manifest @p path reads: an output there must not be an image (tree 2) */
static void add_image_folder(const char *flagname, const char *path, const char *dir)
{
    struct stat st;
    if (g_nin == (int)(sizeof g_in / sizeof g_in[0]) || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return;
    pathinfo *p = &g_in[g_nin];
    memset(p, 0, sizeof *p);
    if (!realpath(dir, p->canon)) return;
    p->flag = flagname;
    p->path = path;
    p->tree = 2;
    g_nin++;
}

/* the regular files of the Fashion-MNIST directory are inputs too */
static void add_dir_inputs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    static char names[16][PATH_MAX];
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < 16) {
        if (e->d_name[0] == '.') continue;
        snprintf(names[k], PATH_MAX, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode) && g_nin < (int)(sizeof g_in / sizeof g_in[0])) {
            pathinfo *p = &g_in[g_nin++];
            memset(p, 0, sizeof *p);
            p->flag = "--mosaic-dir";
            p->path = names[k];
            p->exists = 1; p->dev = st.st_dev; p->ino = st.st_ino;
            if (!realpath(names[k], p->canon)) snprintf(p->canon, sizeof p->canon, "%s", names[k]);
            k++;
        }
    }
    closedir(d);
}

/* A file the CLI (or the library, for --checkpoint) will write: a regular
 * file or nothing, in an existing writable directory, not an input (except
 * @p may_equal, the checkpoint being resumed), not another output. */
static int check_output_file(const char *flagname, const char *path, const char *may_equal, pathinfo *p)
{
    memset(p, 0, sizeof *p);
    p->flag = flagname;
    p->path = path;
    char dir[PATH_MAX], rdir[PATH_MAX];
    const char *base;
    struct stat st, lst;
    if (lstat(path, &lst) == 0) {
        if (S_ISLNK(lst.st_mode) && stat(path, &st) != 0)
            return fail(2, "%s %s: is a dangling symbolic link; give the file it should create", flagname, path);
        if (!S_ISLNK(lst.st_mode)) st = lst;
        if (S_ISDIR(st.st_mode)) return fail(2, "%s %s: is a directory, a file name is expected", flagname, path);
        if (!S_ISREG(st.st_mode))
            return fail(2, "%s %s: is a %s, not a regular file: refusing to write over it", flagname, path, file_kind(st.st_mode));
        p->exists = 1;
        p->dev = st.st_dev;
        p->ino = st.st_ino;
        if (!realpath(path, p->canon)) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    } else if (errno != ENOENT) {
        return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    }
    if (split_path(p->exists ? p->canon : path, dir, sizeof dir, &base) != 0)
        return fail(2, "%s %s: is a directory name, a file name is expected", flagname, path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(2, "%s %s: the directory %s does not exist", flagname, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return fail(2, "%s %s: cannot write into the directory %s: %s", flagname, path, dir, strerror(errno));
    if (!p->exists) {
        if (!realpath(dir, rdir)) return fail(2, "%s %s: %s: %s", flagname, path, dir, strerror(errno));
        if (snprintf(p->canon, sizeof p->canon, "%s/%s", strcmp(rdir, "/") ? rdir : "", base) >= (int)sizeof p->canon)
            return fail(2, "%s %s: the path is too long", flagname, path);
    }
    for (int i = 0; i < g_nin; i++) {
        const pathinfo *q = &g_in[i];
        int same = (p->exists && q->exists && p->dev == q->dev && p->ino == q->ino) || !strcmp(p->canon, q->canon);
        if (same && !(may_equal && q->path == may_equal))
            return fail(2, "%s %s: is the same file as %s %s: refusing to overwrite an input", flagname, path, q->flag, q->path);
        size_t ql = strlen(q->canon);
        const char *rest = p->canon + ql + 1;
        if (q->tree && ql > 1 && !strncmp(p->canon, q->canon, ql) && p->canon[ql] == '/') {
            if (q->tree == 1 && (!strncmp(rest, "ImageSets/", 10) || !strncmp(rest, "JPEGImages/", 11)))
                return fail(2, "%s %s: is inside the VOC folder %s %s: refusing to write among its files", flagname, path,
                            q->flag, q->path);
            const char *ext = strrchr(rest, '.');
            /* an existing image there may be one the manifest lists (--plot writes its own PNGs in its folder) */
            if (q->tree == 2 && p->exists && strcmp(flagname, "--plot") && ext &&
                (!strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg") || !strcasecmp(ext, ".png")))
                return fail(2, "%s %s: is an image in %s, the image folder of %s %s: refusing to overwrite "
                            "what may be one of its images", flagname, path, q->canon, q->flag, q->path);
        }
    }
    for (int i = 0; i < g_nout; i++) {
        const pathinfo *q = &g_out[i];
        if ((p->exists && q->exists && p->dev == q->dev && p->ino == q->ino) || !strcmp(p->canon, q->canon))
            return fail(2, "%s %s and %s %s are the same file", q->flag, q->path, flagname, path);
    }
    if (g_nout < (int)(sizeof g_out / sizeof g_out[0])) g_out[g_nout++] = *p;
    return 0;
}

/* --plot DIR: an existing directory or a new one in a writable directory; the
 * files it will hold are checked like any output */
static int check_output_dir(const char *flagname, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return fail(2, "%s %s: exists and is a %s, not a directory", flagname, path,
                        S_ISREG(st.st_mode) ? "regular file" : file_kind(st.st_mode));
        if (access(path, W_OK | X_OK) != 0) return fail(2, "%s %s: cannot write into it: %s", flagname, path, strerror(errno));
        static char files[3][PATH_MAX];
        static const char *names[3] = { "distributions.csv", "distributions.png", "curves.png" };
        for (int k = 0; k < 3; k++) {
            snprintf(files[k], PATH_MAX, "%s/%s", path, names[k]);
            pathinfo tmp;
            if (check_output_file(flagname, files[k], NULL, &tmp)) return 2;
        }
        return 0;
    }
    if (errno != ENOENT) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    char dir[PATH_MAX], trimmed[PATH_MAX];
    const char *base;
    /* "plots/" names the directory plots */
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    if (len >= sizeof trimmed) return fail(2, "%s %s: the path is too long", flagname, path);
    memcpy(trimmed, path, len);
    trimmed[len] = 0;
    if (split_path(trimmed, dir, sizeof dir, &base) != 0) return fail(2, "%s %s: not a usable directory name", flagname, path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(2, "%s %s: the directory %s does not exist", flagname, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return fail(2, "%s %s: cannot create it in %s: %s", flagname, path, dir, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------ safe files
 * Written to a temporary file in the target's directory; renamed over the
 * target (a regular file or nothing) after every write, the flush, the fsync
 * and the close succeeded; on any failure the temporary file is removed and
 * the target is untouched. */
typedef struct safe_file {
    const char *flag;
    char target[PATH_MAX], tmp[PATH_MAX];
    FILE *f;
    int slot;
} safe_file;

static mode_t g_umask;

static int sf_open(safe_file *s, const char *flagname, const char *target)
{
    memset(s, 0, sizeof *s);
    s->flag = flagname;
    s->slot = -1;
    snprintf(s->target, sizeof s->target, "%s", target);
    char dir[PATH_MAX];
    const char *base;
    if (split_path(target, dir, sizeof dir, &base) != 0) return fail(1, "%s %s: no file name", flagname, target);
    if (snprintf(s->tmp, sizeof s->tmp, "%s/.%s.XXXXXX", dir, base) >= (int)sizeof s->tmp)
        return fail(1, "%s %s: the path is too long", flagname, target);
    int fd = mkstemp(s->tmp);
    if (fd < 0) return fail(1, "%s %s: cannot create a temporary file in %s: %s", flagname, target, dir, strerror(errno));
    s->slot = tmp_register(s->tmp);
    struct stat st;
    mode_t mode = stat(target, &st) == 0 ? (st.st_mode & 07777) : (0666 & ~g_umask);
    if (fchmod(fd, mode) != 0 || !(s->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(s->tmp);
        tmp_unregister(s->slot);
        return fail(1, "%s %s: %s", flagname, target, strerror(e));
    }
    return 0;
}

static void sf_abort(safe_file *s)
{
    if (s->f) fclose(s->f);
    s->f = NULL;
    if (s->tmp[0]) unlink(s->tmp);
    s->tmp[0] = 0;
    tmp_unregister(s->slot);
    s->slot = -1;
}

/* flush, fsync, (close unless keep_open), rename over the target */
static int sf_commit(safe_file *s, int keep_open)
{
    int e = 0;
    const char *what = "write";
    if (fflush(s->f) != 0 || ferror(s->f)) { e = errno ? errno : EIO; }
    else if (fsync(fileno(s->f)) != 0) { e = errno; what = "fsync"; }
    else if (!keep_open) {
        FILE *f = s->f;
        s->f = NULL;
        if (fclose(f) != 0) { e = errno; what = "close"; }
    }
    if (e) {
        sf_abort(s);
        return fail(1, "%s %s: %s failed: %s", s->flag, s->target, what, strerror(e));
    }
    struct stat st;
    if (lstat(s->target, &st) == 0 && !S_ISREG(st.st_mode)) {
        sf_abort(s);
        return fail(1, "%s %s: is now a %s, not a regular file: not replacing it", s->flag, s->target, file_kind(st.st_mode));
    }
    if (rename(s->tmp, s->target) != 0) {
        e = errno;
        sf_abort(s);
        return fail(1, "%s %s: rename failed: %s", s->flag, s->target, strerror(e));
    }
    s->tmp[0] = 0;
    tmp_unregister(s->slot);
    s->slot = -1;
    char dir[PATH_MAX];
    const char *base;
    split_path(s->target, dir, sizeof dir, &base);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) e = errno;
        close(dfd);
        if (e) return fail(1, "%s %s: fsync of the directory %s failed: %s", s->flag, s->target, dir, strerror(e));
    }
    return 0;
}

/* the log after its rename: appended to, flushed every epoch, closed at the end */
static int log_close(safe_file *s)
{
    if (!s->f) return 0;
    FILE *f = s->f;
    s->f = NULL;
    int e = 0;
    const char *what = "write";
    if (fflush(f) != 0 || ferror(f)) e = errno ? errno : EIO;
    else if (fsync(fileno(f)) != 0) { e = errno; what = "fsync"; }
    if (fclose(f) != 0 && !e) { e = errno; what = "close"; }
    if (e) return fail(1, "%s %s: %s failed: %s", s->flag, s->target, what, strerror(e));
    return 0;
}

/* ------------------------------------------------------------ memory budget
 * A lower bound of what the run will allocate, item by item, compared with
 * what this process may use: min(physical RAM, RLIMIT_AS minus the address
 * space already mapped). Only when even the lower bound does not fit is the
 * run refused, naming the item (and the flag behind it) that needs the most. */
typedef struct budget {
    double total, worst;
    double mapped;          /* part of total already allocated (in the address space counted as used) */
    char worst_what[200], worst_flag[80];
} budget;

static void bud_add(budget *b, double bytes, const char *flag_desc, const char *fmt, ...)
{
    if (!(bytes > 0)) return;
    b->total += bytes;
    if (bytes > b->worst) {
        b->worst = bytes;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->worst_what, sizeof b->worst_what, fmt, ap);
        va_end(ap);
        snprintf(b->worst_flag, sizeof b->worst_flag, "%s", flag_desc);
    }
}

static const char *fmt_bytes(double b, char *buf, size_t n)
{
    if (b >= 1e12) snprintf(buf, n, "%.1f TB", b / 1e12);
    else if (b >= 1e9) snprintf(buf, n, "%.1f GB", b / 1e9);
    else snprintf(buf, n, "%.0f MB", b / 1e6 < 1 ? 1 : b / 1e6);
    return buf;
}

static double g_ram, g_as_limit, g_as_used;

static double available_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    g_ram = pages > 0 && psz > 0 ? (double)pages * (double)psz : INFINITY;
    struct rlimit rl;
    g_as_limit = INFINITY;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) g_as_limit = (double)rl.rlim_cur;
    g_as_used = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long vm;
        if (fscanf(f, "%lu", &vm) == 1) g_as_used = (double)vm * (double)psz;
        fclose(f);
    }
    double as_left = g_as_limit - g_as_used;
    return as_left < g_ram ? as_left : g_ram;
}

static int bud_check(const budget *b)
{
    available_bytes();
    if (b->total <= g_ram && b->total - b->mapped <= g_as_limit - g_as_used) return 0;
    char t[32], w[32], r[32], l[32], u[32];
    char limit[160];
    if (isfinite(g_as_limit))
        snprintf(limit, sizeof limit, "this machine's %s of RAM / the address-space limit of %s with %s already mapped",
                 fmt_bytes(g_ram, r, sizeof r), fmt_bytes(g_as_limit, l, sizeof l), fmt_bytes(g_as_used, u, sizeof u));
    else
        snprintf(limit, sizeof limit, "this machine's %s of RAM", fmt_bytes(g_ram, r, sizeof r));
    return fail(2, "%s: %s alone needs %s (the run needs at least %s), more than %s",
                b->worst_flag, b->worst_what, fmt_bytes(b->worst, w, sizeof w), fmt_bytes(b->total, t, sizeof t), limit);
}

typedef struct shape {
    double n, nt, d, c;      /* rows (train, test), features, labels; 0 = not known yet */
    int loaded;              /* the data sets are in memory already */
    const char *d_desc, *c_desc, *n_desc, *nt_desc;
    double batch, K, m, T;
    int n_hidden;
    const int *hidden;
    int resnet, small_stem;
    double channels, side, base_width, resnet_params;
    double nnz;              /* --sparse: stored entries of the training set (0: dense) */
    double ring; /* --stream: bytes of the loaders' prefetch rings (the training images are not in memory) */
} shape;

static int check_budget(const shape *s)
{
    budget b;
    memset(&b, 0, sizeof b);
    char fd[80], fb[80], fq[80], fh[300];
    double B = s->batch, K = s->K, m = s->m, d = s->d, c = s->c, words = ceil(c / 64);
    snprintf(fb, sizeof fb, "%s %.0f", "--batch", B);
    snprintf(fq, sizeof fq, "%s %.0f", G(FL_QUEUE) ? "--queue" : "the queue size", K);
    double h_last = 0, h_sum = 0;
    snprintf(fh, sizeof fh, "--hidden %s", G(FL_HIDDEN) ? V(FL_HIDDEN) : "(default 256,512,256)");
    if (!s->resnet) {
        /* weights + gradient + two AdamW moments on the query side, one key copy */
        double h1 = s->hidden[0];
        snprintf(fd, sizeof fd, "%s", s->d_desc);
        bud_add(&b, 20.0 * d * h1, fd, "the first layer (%.0f x %.0f weights with their key copy, gradient and AdamW moments)", d, h1);
        double mid = 0;
        for (int i = 0; i + 1 < s->n_hidden; i++) mid += (double)s->hidden[i] * s->hidden[i + 1];
        for (int i = 0; i < s->n_hidden; i++) h_sum += s->hidden[i];
        h_last = s->hidden[s->n_hidden - 1];
        bud_add(&b, 20.0 * mid, fh, "the hidden layers (%.0f weights with their copies and moments)", mid);
        /* activations of both views on both sides, inputs cached for backward */
        /* (--sparse: CSR batches of the longest rows at most; counted with the data below) */
        bud_add(&b, 4.0 * B * ((s->nnz > 0 ? 0 : 3 * d) + 4 * h_sum), fb, "the batch workspaces (%.0f rows x %.0f inputs)", B, d);
    } else {
        h_last = 512 * s->base_width / 64;
        double stride = s->small_stem ? 1 : 4, a = s->side / stride;
        bud_add(&b, 20.0 * s->resnet_params, "--encoder", "the residual network's weights with their copies and moments");
        if (G(FL_IMAGE_SIZE))
            snprintf(fh, sizeof fh, "--batch %.0f with --image-size %.0f and --base-width %.0f", B, s->side, s->base_width);
        else
            snprintf(fh, sizeof fh, "--batch %.0f with %.0f x %.0f images and --base-width %.0f", B, s->side, s->side, s->base_width);
        bud_add(&b, 4.0 * B * s->base_width * a * a * 16, fh, "the first stage's activations of both sides (%.0f x %.0f x %.0f x %.0f)", B, s->base_width, a, a);
        bud_add(&b, 4.0 * 3 * B * s->channels * s->side * s->side, fh, "the image views (3 x %.0f x %.0f x %.0f x %.0f)", B, s->channels, s->side, s->side);
    }
    bud_add(&b, 20.0 * (h_last * h_last + h_last * m), s->resnet ? "--base-width" : fh,
            "the projection head (%.0f -> %.0f -> %.0f with copies and moments)", h_last, h_last, m);
    bud_add(&b, 16.0 * h_last * c, s->c_desc, "the label-distribution head (%.0f x %.0f weights with gradient and moments)", h_last, c);
    bud_add(&b, K * (4 * m + 8 * words + 4 * c), fq, "the queue (%.0f keys of %.0f floats, %.0f label words and %.0f distribution values)", K, m, words, c);
    char fl[120];
    snprintf(fl, sizeof fl, "--batch %.0f with %s", B, fq);
    bud_add(&b, 4.0 * (2 * B * (B + K) + (s->T > 0 ? s->T : 1) * (B + K)), fl, "the loss workspace (2 x %.0f x %.0f logits)", B, B + K);
    bud_add(&b, 4.0 * B * c * 6, s->c_desc, "the fine-tuning workspaces (%.0f x %.0f)", B, c);
    if (s->n > 0) {
        /* the data as read, the trainer's standardised copy, packed labels; the test set and its scores */
        if (s->ring > 0)
            bud_add(&b, s->ring, "--prefetch", "the loaders' prefetch rings (prefetch x batch x views x %.0f floats)", d);
        else if (s->nnz > 0) /* CSR as read (8 bytes an entry), no copy; the batches' views */
            bud_add(&b, 8 * s->nnz + s->n * (8 + c + 8 * words) + 16 * B * s->nnz / s->n, s->n_desc,
                    "the training data (%.0f rows, %.0f stored values in CSR, %.0f labels)", s->n, s->nnz, c);
        else
            bud_add(&b, s->n * (8 * d + c + 8 * words), s->n_desc,
                    "the training data (%.0f rows of %.0f features and %.0f labels, with the trainer's copy)", s->n, d, c);
        bud_add(&b, s->nt * (4 * d + 5 * c), s->nt_desc,
                "the test data (%.0f rows of %.0f features and %.0f labels, with their scores)", s->nt, d, c);
        if (s->loaded)
            b.mapped = (s->ring > 0 ? 0 : s->nnz > 0 ? 8 * s->nnz + s->n * c : s->n * (4 * d + c)) + s->nt * (4 * d + c);
    }
    if (bud_check(&b)) return 2;
    if (s->T > 0) {
        /* address space only: every kernel thread maps a stack, an OpenBLAS
         * buffer and a malloc arena (measured: about 140 MB per thread) */
        double vm = s->T * 140e6, as_left = g_as_limit - g_as_used;
        if (b.total - b.mapped + vm > as_left) {
            char v[32], l[32], u[32];
            return fail(2, "--threads %.0f: the threads' stacks, OpenBLAS buffers and malloc arenas alone need %s of address space "
                        "(%.0f x 140 MB), more than the address-space limit of %s leaves with %s already mapped",
                        s->T, fmt_bytes(vm, v, sizeof v), s->T, fmt_bytes(g_as_limit, l, sizeof l), fmt_bytes(g_as_used, u, sizeof u));
        }
    }
    return 0;
}

/* ------------------------------------------------------------ threads */
static int cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ------------------------------------------------------------ the plotting helper
 * `python3 -m mlcl.plot` through posix_spawn (an argument vector, no shell).
 * PYTHONPATH gains the bindings next to this binary (the source tree's
 * bindings/python, or an installed PREFIX/lib/python3.X/dist-packages), and
 * MLCL_LIBRARY names the library this process runs with, unless set. */
static char **plot_env(void)
{
    static char pp[PATH_MAX + 64], lib[PATH_MAX + 32];
    char exe[PATH_MAX], cand[PATH_MAX + 64], found[PATH_MAX] = "";
    ssize_t r = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (r > 0) {
        exe[r] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(cand, sizeof cand, "%s/../bindings/python/mlcl/plot.py", exe);
        if (access(cand, R_OK) == 0) {
            snprintf(cand, sizeof cand, "%s/../bindings/python", exe);
            if (!realpath(cand, found)) found[0] = 0;
        } else {
            glob_t g;
            snprintf(cand, sizeof cand, "%s/../lib/python3*/dist-packages/mlcl/plot.py", exe);
            if (glob(cand, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
                char *p = g.gl_pathv[0];
                size_t l = strlen(p) - strlen("/mlcl/plot.py");
                snprintf(cand, sizeof cand, "%.*s", (int)l, p);
                if (!realpath(cand, found)) found[0] = 0;
            }
            globfree(&g);
        }
    }
    const char *old = getenv("PYTHONPATH");
    pp[0] = 0;
    if (found[0]) snprintf(pp, sizeof pp, "PYTHONPATH=%s%s%s", found, old && *old ? ":" : "", old && *old ? old : "");
    lib[0] = 0;
    Dl_info info;
    if (!getenv("MLCL_LIBRARY") && dladdr((void *)mlcl_last_error, &info) && info.dli_fname && info.dli_fname[0] == '/')
        snprintf(lib, sizeof lib, "MLCL_LIBRARY=%s", info.dli_fname);
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!(pp[0] && !strncmp(environ[i], "PYTHONPATH=", 11))) env[k++] = environ[i];
    if (pp[0]) env[k++] = pp;
    if (lib[0]) env[k++] = lib;
    env[k] = NULL;
    return env;
}

static int run_plot(const char *dir, const char *log, int check_only)
{
    char *argv[10];
    int k = 0;
    argv[k++] = (char *)PYTHON;
    argv[k++] = (char *)"-m";
    argv[k++] = (char *)"mlcl.plot";
    if (check_only) argv[k++] = (char *)"--check";
    argv[k++] = (char *)"--dir";
    argv[k++] = (char *)dir;
    if (log) { argv[k++] = (char *)"--log"; argv[k++] = (char *)log; }
    argv[k] = NULL;
    char **env = plot_env();
    if (!env) return fail(1, "--plot %s: out of memory", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    int rc = posix_spawn(&pid, PYTHON, NULL, NULL, argv, env);
    free(env);
    if (rc != 0) return fail(1, "--plot %s: cannot run %s: %s", dir, PYTHON, strerror(rc));
    g_child = pid;
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) { g_child = 0; return fail(1, "--plot %s: waiting for %s: %s", dir, PYTHON, strerror(errno)); }
    }
    g_child = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    const char *what = check_only ? "cannot plot (needs python3-matplotlib and the mlcl Python package)" : "plotting failed";
    if (WIFEXITED(st)) return fail(1, "--plot %s: %s: %s -m mlcl.plot exited with status %d", dir, what, PYTHON, WEXITSTATUS(st));
    return fail(1, "--plot %s: %s: %s -m mlcl.plot was killed by signal %d", dir, what, PYTHON, WTERMSIG(st));
}

/* ------------------------------------------------------------ the run */
typedef struct app {
    int tty, quiet;
    safe_file log;
    int log_err;
    const char *plot_dir;
    mlcl_trainer *trainer;
    const mlcl_dataset *test;
    int eval_every;
    int trained[3];       /* epochs completed in this process, per phase */
    int silent;           /* a data-parallel rank other than 0: prints nothing */
    int bar;              /* progress bar (a terminal, no --quiet) rather than epoch lines */
    int bar_len;          /* characters of the bar on the screen (0: none) */
    int ph_cur;           /* the phase of the last report */
    long long ph_step0;   /* its step count when this process began it */
    double ph_t0, bar_t, last_t; /* then, the last redraw, the end of the last report */
    long long spe[3];     /* steps per epoch of each phase */
} app;

static const char *method_names[] = { "none", "mulsupcon", "rld", "cld", "supcon-all", "supcon-any" };

/* ------------------------------------------------------------ --help
 * Generated from the flag table: every flag of `flags` is listed (a flag
 * without a line below still appears, under "Other options", with its type
 * and range), each with its value range from the table and its default from
 * mlcl_train_options_init() and this program's own constants. */
typedef struct flag_doc {
    const char *arg;  /* the value's name (NULL: from the type) */
    const char *text;
} flag_doc;

static const flag_doc flag_docs[FL_COUNT] = {
    [FL_HELP] = { NULL, "this text" },
    [FL_TRAIN] = { "FILE", "training set: ARFF (.arff, .arff.gz), NumPy (.npy with --train-labels, or .npz), "
                           "a CSV/TSV table, an image manifest (a CSV/TSV with a 'path' column, a COCO instances "
                           ".json, a PASCAL VOC folder, FOLDER:split), anything else LIBSVM multi-label (docs/formats.md)" },
    [FL_TEST] = { "FILE", "test set in the same format (needed with --train unless --val-split is given; a VOC folder: "
                          "split test unless FOLDER:split; an image manifest takes the training set's label names)" },
    [FL_TRAIN_LABELS] = { "FILE", "labels (N x L of 0/1, .npy or .npz) of a .npy --train feature file" },
    [FL_TEST_LABELS] = { "FILE", "labels of a .npy --test feature file" },
    [FL_NPZ_KEYS] = { "X,Y", "feature and label array names in .npz files (default x,y); uint8 images are divided by 255" },
    [FL_FORMAT] = { NULL, "format of --train/--test (default: .npy/.npz NumPy, else guessed from the extension and "
                          "the first line: .arff[.gz] or @relation ARFF, .csv/.tsv[.gz] or a header line with commas "
                          "CSV, .json COCO, a folder with ImageSets/Main VOC, else LIBSVM)" },
    [FL_LABELS] = { NULL, "label count: ARFF: the last N attributes (default: MEKA's -C in @relation); "
                          "LIBSVM: a fixed count (default: inferred); CSV: the last N columns" },
    [FL_LABEL_COLUMNS] = { "A,B,..", "CSV tables: the label columns by name (default: none; one of --labels, "
                                     "--label-columns, --label-prefix chooses the label columns)" },
    [FL_LABEL_PREFIX] = { "P", "CSV tables: every column whose name starts with P is a label (default: none)" },
    [FL_IMPUTE] = { NULL, "CSV tables: a missing feature value becomes the column's mean or 0 "
                          "(default: a missing value is an error naming its line and column)" },
    [FL_IMAGE_ROOT] = { "DIR", "image manifests: the folder the image paths are relative to (default: the manifest's "
                               "folder; COCO: the split's folder of the COCO layout; VOC: FOLDER/JPEGImages)" },
    [FL_SKIP_BAD_IMAGES] = { NULL, "image manifests: leave a missing, corrupt or truncated image out (counted) "
                                   "instead of failing" },
    [FL_VOC_DIFFICULT] = { NULL, "PASCAL VOC: a 'difficult' (0) entry counts as a negative or a positive label" },
    [FL_STREAM] = { NULL, "image manifests with a ResNet encoder: stream the training images from disk through "
                          "background loader threads (decode, resize, SimCLR views, ImageNet normalisation) instead "
                          "of reading them all into memory; the test set is still read into memory (docs/loader.md)" },
    [FL_LOADER_THREADS] = { NULL, "with --stream: decoding threads of each loader (the batches do not depend on it)" },
    [FL_PREFETCH] = { NULL, "with --stream: batches decoded ahead; each loader's ring holds N x batch x views x 3 x "
                            "size x size floats" },
    [FL_FEATURES] = { NULL, "LIBSVM feature count (default: from the file's header, else inferred)" },
    [FL_INDEX_BASE] = { NULL, "LIBSVM feature index base (default: from the file's header, else 1)" },
    [FL_MOSAIC_TRAIN] = { NULL, "Fashion-MNIST 2x2 mosaics to train on (the built-in job)" },
    [FL_MOSAIC_TEST] = { NULL, "mosaics to evaluate on (the built-in job)" },
    [FL_MOSAIC_DIR] = { "DIR", "Fashion-MNIST IDX files (default " MOSAIC_DIR_DEFAULT ", Debian's dataset-fashion-mnist)" },
    [FL_VAL_SPLIT] = { "FRAC", "hold out FRAC of the training set (seeded with --seed) as validation rows: the decision "
                               "thresholds (and with --select-metric the fine-tuning epoch) are chosen on them; with --test "
                               "the report is on the test set, else on the held-out rows (default: none, no validation)" },
    [FL_SELECT_METRIC] = { "NAME", "with --val-split: keep the fine-tuning epoch with the best value of this metric on the "
                                   "validation rows (HA, ebF1, miF1, maF1 best over thresholds 0.1 .. 0.9; p@1 is also "
                                   "spelt p_at_1); none keeps the last epoch (mAP when only --patience is given)" },
    [FL_PATIENCE] = { NULL, "with --val-split: stop fine-tuning after N epochs without a better validation value "
                            "(0: run every epoch)" },
    [FL_VAL_THRESHOLDS] = { NULL, "with --val-split: the thresholds the model keeps, one per label (F1 per label) or one "
                                  "for every label (micro-F1); the report shows both" },
    [FL_PRESET] = { NULL, "the paper's settings for that dataset (default: none, the library's defaults):" },
    [FL_METHOD] = { "M", "pretraining method (docs/math.md); none: fine-tuning only, the baseline" },
    [FL_PRE_EPOCHS] = { NULL, "pretraining epochs" },
    [FL_FT_EPOCHS] = { NULL, "fine-tuning epochs" },
    [FL_BATCH] = { NULL, "mini-batch size (both phases; at most the training rows)" },
    [FL_QUEUE] = { "K", "MoCo queue length (at most the training rows)" },
    [FL_SEED] = { "S", "the run's seed (initialisation, shuffling, masks, --val-split)" },
    [FL_THREADS] = { "T", "kernel threads, at most the CPUs available (default: the library's choice)" },
    [FL_FORCE_THREADS] = { NULL, "keep a --threads above the CPUs available" },
    [FL_PRE_LR] = { NULL, "pretraining learning rate (AdamW)" },
    [FL_PRE_WD] = { NULL, "pretraining weight decay" },
    [FL_FT_LR] = { NULL, "fine-tuning learning rate (AdamW)" },
    [FL_FT_WD] = { NULL, "fine-tuning weight decay" },
    [FL_PRE_MASK] = { "P", "probability of masking an input feature in the pretraining views" },
    [FL_FT_MASK] = { "P", "probability of masking an input feature while fine-tuning" },
    [FL_PRE_SCHED] = { NULL, "pretraining cosine schedule with warm restarts" },
    [FL_FT_SCHED] = { NULL, "fine-tuning cosine schedule with warm restarts" },
    [FL_MOMENTUM] = { "M", "key-encoder momentum" },
    [FL_HIDDEN] = { "A,B,..", "MLP widths, 1 to 8 layers" },
    [FL_DROPOUT] = { "P", "MLP dropout" },
    [FL_ENCODER] = { "E", "backbone (-small: 3x3 stem without max-pool; docs/images.md)" },
    [FL_BASE_WIDTH] = { NULL, "channels of the ResNet's first stage (64 is torchvision's)" },
    [FL_IMAGE_SIZE] = { NULL, "views resized/cropped to N x N (default: the images' size; needs SimCLR views, except with image manifests); "
                              "image manifests are decoded at N x N (default 224)" },
    [FL_VIEWS] = { NULL, "pretraining views (default: simclr with a ResNet, mask with the MLP)" },
    [FL_FT_VIEWS] = { NULL, "augment fine-tuning inputs (crop and flip only) or not (default none)" },
    [FL_ALPHA] = { NULL, "weight of the closeness term H (rld, cld)" },
    [FL_BETA] = { NULL, "weight of the LD head's ||W||^2 in the loss (rld, cld)" },
    [FL_TAU] = { NULL, "temperature (every pretraining method)" },
    [FL_SIGMA] = { NULL, "RBF width (rld)" },
    [FL_MASK] = { NULL, "positive set of G and H: any shared label or identical label sets (rld, cld)" },
    [FL_REDUCTION] = { NULL, "batch reduction of the loss (every pretraining method)" },
    [FL_CLD_WEIGHT] = { NULL, "CLD's smoothness weight: exp(l) or the literal l (cld)" },
    [FL_WEIGHT_GRAD] = { NULL, "gradient through the weight of G (rld, cld)" },
    [FL_DWEIGHT_GRAD] = { NULL, "gradient through the distributions weighting the contrastive term (rld, cld)" },
    [FL_CON_NORM] = { NULL, "contrastive term as written, or divided by |P^j(i)| (rld, cld)" },
    [FL_H_TARGET] = { NULL, "H compares to y/|y| or to the raw y (rld, cld)" },
    [FL_JSON] = { "FILE", "the metrics (both protocols), the per-label table (label names, support, AP, F1 at 0.5) "
                          "and the timing as JSON (docs/formats.md)" },
    [FL_LOG] = { "FILE.csv", "one row per epoch, the columns named as in the epoch lines: "
                             "phase,epoch,loss,con,G,H,wreg,lr,samples_per_s,HA,ebF1,miF1,maF1,p_at_1,mAP,bce" },
    [FL_PLOT] = { "DIR", "PNG training curves (from --log) and label distributions (needs python3-matplotlib)" },
    [FL_EVAL_EVERY] = { NULL, "with --log: evaluate (threshold 0.5, on the test rows, else the --val-split rows) every N fine-tuning "
                              "epochs, shown in the epoch lines and the log's metric columns (default: at the end only)" },
    [FL_CHECKPOINT] = { "FILE", "save the training state at the end of each epoch and on SIGINT/SIGTERM" },
    [FL_SAVE_MODEL] = { "FILE", "write the trained model at the end (mlcl-predict --model FILE; docs/models.md)" },
    [FL_RESUME] = { "FILE", "continue a run from a checkpoint (same options; may equal --checkpoint)" },
    [FL_PER_LABEL] = { NULL, "print a table per label (name, support, AP, F1 at 0.5) after the metrics" },
    [FL_QUIET] = { NULL, "no progress bar and no notices: plain epoch lines only" },
    [FL_SPARSE] = { NULL, "LIBSVM/ARFF: keep the training rows sparse (CSR: memory follows the non-zeros; "
                          "no standardisation; the test set stays dense); docs/sparse.md" },
};

static const struct help_section {
    const char *title;
    int ids[32]; /* ended by -1 */
} help_sections[] = {
    { "Data (default: the built-in job on Fashion-MNIST 2x2 mosaics)",
      { FL_TRAIN, FL_TEST, FL_FORMAT, FL_TRAIN_LABELS, FL_TEST_LABELS, FL_NPZ_KEYS, FL_LABELS, FL_FEATURES,
        FL_INDEX_BASE, FL_SPARSE, FL_LABEL_COLUMNS, FL_LABEL_PREFIX, FL_IMPUTE, FL_VAL_SPLIT, FL_SELECT_METRIC,
        FL_PATIENCE, FL_VAL_THRESHOLDS, FL_MOSAIC_TRAIN, FL_MOSAIC_TEST, FL_MOSAIC_DIR, -1 } },
    { "Method and protocol",
      { FL_PRESET, FL_METHOD, FL_PRE_EPOCHS, FL_FT_EPOCHS, FL_BATCH, FL_QUEUE, FL_SEED, FL_THREADS, FL_FORCE_THREADS,
        FL_PRE_LR, FL_PRE_WD, FL_FT_LR, FL_FT_WD, FL_PRE_MASK, FL_FT_MASK, FL_PRE_SCHED, FL_FT_SCHED, FL_MOMENTUM,
        FL_HIDDEN, FL_DROPOUT, -1 } },
    { "Images (data with an image shape: the mosaics, NPY/NPZ images, image manifests; docs/images.md)",
      { FL_ENCODER, FL_BASE_WIDTH, FL_IMAGE_SIZE, FL_VIEWS, FL_FT_VIEWS, FL_IMAGE_ROOT, FL_SKIP_BAD_IMAGES,
        FL_VOC_DIFFICULT, FL_STREAM, FL_LOADER_THREADS, FL_PREFETCH, -1 } },
    { "Loss (docs/math.md; each applies only to the methods named)",
      { FL_ALPHA, FL_BETA, FL_TAU, FL_SIGMA, FL_MASK, FL_REDUCTION, FL_CLD_WEIGHT, FL_WEIGHT_GRAD, FL_DWEIGHT_GRAD,
        FL_CON_NORM, FL_H_TARGET, -1 } },
    { "Output (checked before training: a regular file or a new one, in a writable directory, not an input)",
      { FL_JSON, FL_LOG, FL_PLOT, FL_EVAL_EVERY, FL_SAVE_MODEL, FL_CHECKPOINT, FL_RESUME, FL_PER_LABEL, FL_QUIET, FL_HELP,
        -1 } },
};

/* The CLI's MoCo options: o->moco pointed at static storage holding a copy
 * of what it pointed to (a preset's, or the defaults), with its own widths,
 * so that flags can change them; cli_loss adds the loss of o->method. */
static mlcl_moco_options cli_mo;
static int cli_hidden[MLCL_MLP_MAX_HIDDEN];
static mlcl_loss_options cli_lo;
static const mlcl_moco_options moco_defaults = MLCL_MOCO_OPTIONS_INIT;
static const int default_widths[3] = { 256, 512, 256 };

static mlcl_moco_options *cli_moco(mlcl_train_options *o)
{
    if (o->moco == &cli_mo) return &cli_mo;
    cli_mo = o->moco ? *o->moco : moco_defaults;
    memset(cli_hidden, 0, sizeof cli_hidden);
    if (cli_mo.hidden) memcpy(cli_hidden, cli_mo.hidden, sizeof(int) * (size_t)cli_mo.n_hidden);
    else { memcpy(cli_hidden, default_widths, sizeof default_widths); cli_mo.n_hidden = 3; }
    cli_mo.hidden = cli_hidden;
    o->moco = &cli_mo;
    return &cli_mo;
}

static mlcl_loss_options *cli_loss(mlcl_train_options *o)
{
    mlcl_moco_options *m = cli_moco(o);
    if (m->loss != &cli_lo) {
        mlcl_train_method_loss(&cli_lo, o->method);
        m->loss = &cli_lo;
    }
    return &cli_lo;
}

/* the built-in job (no --train, no --preset): a short CLD run on the mosaics */
static void builtin_job(mlcl_train_options *o)
{
    o->pretrain_epochs = 20;
    o->finetune_epochs = 20;
    o->batch = 128;
    cli_moco(o)->queue_size = 1024;
    o->pretrain_T_0 = 10;
    o->finetune_T_0 = 10;
    o->pretrain_lr = 4e-4f;
}

/* the default of a flag as text ("" when the flag's text says it) */
static const char *help_default(int id, const mlcl_train_options *o, char *b, size_t n)
{
    static const mlcl_loss_options loss_defaults = MLCL_LOSS_OPTIONS_INIT;
    const mlcl_moco_options *mo = o->moco ? o->moco : &moco_defaults;
    const mlcl_loss_options *l = mo->loss ? mo->loss : &loss_defaults;
    const int *widths = mo->hidden ? mo->hidden : default_widths, n_widths = mo->hidden ? mo->n_hidden : 3;
    b[0] = 0;
    switch (id) {
    case FL_METHOD: snprintf(b, n, "%s", method_names[o->method]); break;
    case FL_PRE_EPOCHS: snprintf(b, n, "%d", o->pretrain_epochs); break;
    case FL_FT_EPOCHS: snprintf(b, n, "%d", o->finetune_epochs); break;
    case FL_BATCH: snprintf(b, n, "%d", o->batch); break;
    case FL_QUEUE: snprintf(b, n, "%d", mo->queue_size); break;
    case FL_SEED: snprintf(b, n, "%llu", (unsigned long long)o->seed); break;
    case FL_PRE_LR: snprintf(b, n, "%g", o->pretrain_lr); break;
    case FL_PRE_WD: snprintf(b, n, "%g", o->pretrain_weight_decay); break;
    case FL_FT_LR: snprintf(b, n, "%g", o->finetune_lr); break;
    case FL_FT_WD: snprintf(b, n, "%g", o->finetune_weight_decay); break;
    case FL_PRE_MASK: snprintf(b, n, "%g", o->pretrain_mask_p); break;
    case FL_FT_MASK: snprintf(b, n, "%g", o->finetune_mask_p); break;
    case FL_PRE_SCHED: snprintf(b, n, "%d,%d,%g", o->pretrain_T_0, o->pretrain_T_mult, o->pretrain_eta_min); break;
    case FL_FT_SCHED: snprintf(b, n, "%d,%d,%g", o->finetune_T_0, o->finetune_T_mult, o->finetune_eta_min); break;
    case FL_MOMENTUM: snprintf(b, n, "%g", mo->momentum); break;
    case FL_DROPOUT: snprintf(b, n, "%g", mo->dropout); break;
    case FL_HIDDEN: {
        size_t k = 0;
        for (int i = 0; i < n_widths && k + 12 < n; i++)
            k += (size_t)snprintf(b + k, n - k, "%s%d", i ? "," : "", widths[i]);
        break;
    }
    case FL_ALPHA: snprintf(b, n, "%g", l->alpha); break;
    case FL_BETA: snprintf(b, n, "%g", l->beta); break;
    case FL_TAU: snprintf(b, n, "%g", l->tau); break;
    case FL_SIGMA: snprintf(b, n, "%g", l->sigma); break;
    case FL_MASK: snprintf(b, n, "%s", l->mask == MLCL_MASK_ANY ? "any" : "all"); break;
    case FL_REDUCTION: snprintf(b, n, "%s", l->reduction == MLCL_REDUCE_MEAN ? "mean" : "sum"); break;
    case FL_CLD_WEIGHT: snprintf(b, n, "%s", l->cld_weight == MLCL_CLD_WEIGHT_PROB ? "prob" : "logprob"); break;
    case FL_WEIGHT_GRAD: snprintf(b, n, "%s", l->weight_grad ? "on" : "off"); break;
    case FL_DWEIGHT_GRAD: snprintf(b, n, "%s", l->dweight_grad ? "on" : "off"); break;
    case FL_CON_NORM: snprintf(b, n, "%s", l->con_norm == MLCL_CON_NORM_NONE ? "none" : "per_label"); break;
    case FL_H_TARGET: snprintf(b, n, "%s", l->h_target == MLCL_H_TARGET_RAW ? "raw" : "normalised"); break;
    case FL_MOSAIC_TRAIN: snprintf(b, n, "%d", MOSAIC_TRAIN_DEFAULT); break;
    case FL_MOSAIC_TEST: snprintf(b, n, "%d", MOSAIC_TEST_DEFAULT); break;
    case FL_BASE_WIDTH: snprintf(b, n, "%d", BASE_WIDTH_DEFAULT); break;
    case FL_ENCODER: snprintf(b, n, "mlp"); break;
    case FL_VOC_DIFFICULT: snprintf(b, n, "neg"); break;
    case FL_SELECT_METRIC: snprintf(b, n, "none"); break;
    case FL_PATIENCE: snprintf(b, n, "0"); break;
    case FL_VAL_THRESHOLDS: snprintf(b, n, "per-label"); break;
    case FL_LOADER_THREADS: snprintf(b, n, "the CPUs available, at most %d", STREAM_THREADS_MAX); break;
    case FL_PREFETCH: snprintf(b, n, "%d", STREAM_PREFETCH_DEFAULT); break;
    default: break;
    }
    return b;
}

/* the value's range from the table ("" when the type says it all) */
static const char *help_range(const flag *f, char *b, size_t n)
{
    char cl[256];
    b[0] = 0;
    switch (f->type) {
    case T_INT:
        if (f->hi >= BIG) snprintf(b, n, "an integer, at least %.0f", f->lo);
        else snprintf(b, n, "an integer in [%.0f, %.0f]", f->lo, f->hi);
        break;
    case T_FLOAT: snprintf(b, n, "a number in [%g, %g]", f->lo, f->hi); break;
    case T_U64: snprintf(b, n, "an integer in [0, 18446744073709551615]"); break;
    case T_SCHED: snprintf(b, n, "T0 an integer in [1, 1000000], Tmult in [1, 1000], eta_min in [0, 10]"); break;
    case T_HIDDEN: snprintf(b, n, "each an integer in [%.0f, %.0f]", f->lo, f->hi); break;
    case T_CHOICE:
        if (strlen(f->choices) > 28) snprintf(b, n, "one of %s", choice_list(f->choices, cl, sizeof cl));
        break;
    default: break;
    }
    return b;
}

static const char *help_arg(const flag *f, const flag_doc *doc)
{
    if (doc->arg) return doc->arg;
    switch (f->type) {
    case T_BOOL: return "";
    case T_INT: return "N";
    case T_FLOAT: return "X";
    case T_U64: return "N";
    case T_IN: case T_OUT: return "FILE";
    case T_OUTDIR: case T_INDIR: return "DIR";
    case T_CHOICE: return strlen(f->choices) > 28 ? "NAME" : f->choices;
    case T_SCHED: return "T0,TMULT,ETA_MIN";
    case T_HIDDEN: return "A,B,..";
    case T_KEYS: return "X,Y";
    case T_NAMES: return "A,B,..";
    case T_TEXT: return "TEXT";
    default: return "VALUE";
    }
}

#define HELP_WIDTH 100
#define HELP_COL 30

/* "  --name ARG" and its text, wrapped at HELP_WIDTH, continued at HELP_COL */
static void help_item(FILE *out, const char *name, const char *arg, const char *text)
{
    char head[128];
    int h = snprintf(head, sizeof head, "  %s%s%s", name, *arg ? " " : "", arg);
    fputs(head, out);
    int col = h;
    if (col + 2 > HELP_COL) { fputc('\n', out); col = 0; }
    const char *s = text;
    int first = 1;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        /* the longest run of words that fits (a longer word alone) */
        int room = HELP_WIDTH - HELP_COL, len = (int)strlen(s);
        if (len > room) {
            int brk = room;
            while (brk > 0 && s[brk] != ' ') brk--;
            if (brk == 0) while (s[brk] && s[brk] != ' ') brk++;
            len = brk;
        }
        fprintf(out, "%*s%.*s\n", first ? HELP_COL - col : HELP_COL, "", len, s);
        first = 0;
        s += len;
    }
    if (first) fputc('\n', out);
}

static void usage(FILE *out)
{
    mlcl_train_options o0, ob, py, ps;
    mlcl_train_options_init(&o0, MLCL_TRAIN_OPTIONS_VERSION);
    ob = o0;
    builtin_job(&ob);
    py = o0;
    ps = o0;
    mlcl_train_options_preset(&py, "yeast");
    mlcl_train_options_preset(&ps, "scene");
    fprintf(out,
        "usage: mlcl-train [options]\n"
        "Contrastive pretraining (MulSupCon, RLD, CLD), fine-tuning with binary cross-entropy and evaluation.\n"
        "Without --train it runs the built-in job: %s on Fashion-MNIST 2x2 mosaics, %d+%d epochs, batch %d, queue %d.\n"
        "Equations and options: docs/math.md; file formats: docs/formats.md; images: docs/images.md;\n"
        "mpirun: docs/distributed.md (in the libmlcl source tree).\n",
        method_names[ob.method], ob.pretrain_epochs, ob.finetune_epochs, ob.batch, (ob.moco ? ob.moco : &moco_defaults)->queue_size);
    int listed[FL_COUNT] = { 0 };
    size_t nsec = sizeof help_sections / sizeof help_sections[0];
    for (size_t s = 0; s <= nsec; s++) {
        int any = 0;
        for (int k = 0; k < FL_COUNT; k++) {
            int id;
            if (s < nsec) {
                id = help_sections[s].ids[k];
                if (id < 0) break;
            } else {
                id = k; /* a flag in no section */
                if (listed[id]) continue;
            }
            if (listed[id]) continue;
            listed[id] = 1;
            if (!any) fprintf(out, "\n%s:\n", s < nsec ? help_sections[s].title : "Other options");
            any = 1;
            const flag *f = &flags[id];
            const flag_doc *doc = &flag_docs[id];
            char text[1024], range[300], d0[128], d1[128];
            size_t t = (size_t)snprintf(text, sizeof text, "%s", doc->text ? doc->text : "");
            help_range(f, range, sizeof range);
            help_default(id, &o0, d0, sizeof d0);
            help_default(id, &ob, d1, sizeof d1);
            if (id == FL_PRESET) {
                t += (size_t)snprintf(text + t, sizeof text - t,
                                      " yeast: batch %d, queue %d; scene: batch %d, queue %d; both %d+%d epochs",
                                      py.batch, (py.moco ? py.moco : &moco_defaults)->queue_size, ps.batch, (ps.moco ? ps.moco : &moco_defaults)->queue_size, py.pretrain_epochs,
                                      py.finetune_epochs);
            }
            if (range[0] || d0[0]) {
                t += (size_t)snprintf(text + t, sizeof text - t, " (%s%s", range, range[0] && d0[0] ? "; " : "");
                if (d0[0]) t += (size_t)snprintf(text + t, sizeof text - t, "default %s", d0);
                if (d0[0] && strcmp(d0, d1)) t += (size_t)snprintf(text + t, sizeof text - t, ", the built-in job %s", d1);
                t += (size_t)snprintf(text + t, sizeof text - t, ")");
            }
            help_item(out, f->name, help_arg(f, doc), text);
        }
    }
    fprintf(out, "\nThe progress: a bar with the rate and the time left on a terminal; plain epoch lines (the first,\n"
                 "every 10th, the last and every evaluated one) when stderr is not a terminal or with --quiet.\n"
                 "Exit status: 0 done, 1 failure (file, data, training, plot), 2 invalid options, 130 stopped by a signal.\n");
}

/* ------------------------------------------------------------ progress
 * On a terminal (and without --quiet) one bar per phase, redrawn in place
 * with '\r' at most every BAR_PERIOD seconds: epoch, steps, rate, time left.
 * Otherwise plain epoch lines: the first, every 10th, the last and every
 * evaluated epoch of each phase, with no control character.
 * The epoch lines and the --log columns use one set of names (col_names). */
#define BAR_PERIOD 0.25

enum { C_PHASE, C_EPOCH, C_LOSS, C_CON, C_G, C_H, C_WREG, C_LR, C_SPS, C_HA, C_EBF1, C_MIF1, C_MAF1, C_P1, C_MAP, C_BCE,
       C_COUNT };
static const char *const col_names[C_COUNT] = { "phase", "epoch", "loss", "con", "G", "H", "wreg", "lr", "samples_per_s",
                                                 "HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP", "bce" };
/* the epoch line's order after "pretrain epoch 3/10" (a fine-tuning line's loss is its bce) */
static const int console_cols[] = { C_LOSS, C_CON, C_G, C_H, C_WREG, C_BCE, C_LR, C_SPS, C_HA, C_EBF1, C_MIF1, C_MAF1, C_P1, C_MAP };

typedef struct epoch_row {
    double v[C_COUNT];
    int set[C_COUNT]; /* 0: the column does not apply (an empty CSV cell, absent from the line) */
} epoch_row;

static void fill_row(epoch_row *r, const mlcl_progress *p, const mlcl_metrics *m)
{
    memset(r, 0, sizeof *r);
#define SET_COL(col, x) (r->v[col] = (x), r->set[col] = 1)
    SET_COL(C_PHASE, p->phase);
    SET_COL(C_EPOCH, p->epoch + 1);
    SET_COL(C_LOSS, p->loss);
    if (p->phase == 1) {
        SET_COL(C_CON, p->con); SET_COL(C_G, p->G); SET_COL(C_H, p->H); SET_COL(C_WREG, p->wreg);
    } else {
        SET_COL(C_BCE, p->loss); /* fine-tuning minimises the binary cross-entropy alone */
    }
    SET_COL(C_LR, p->lr);
    SET_COL(C_SPS, p->samples_per_s);
    if (m) {
        SET_COL(C_HA, m->HA); SET_COL(C_EBF1, m->ebF1); SET_COL(C_MIF1, m->miF1);
        SET_COL(C_MAF1, m->maF1); SET_COL(C_P1, m->p_at_1); SET_COL(C_MAP, m->mAP);
    }
#undef SET_COL
}

static void log_header(FILE *f)
{
    for (int k = 0; k < C_COUNT; k++) fprintf(f, "%s%s", k ? "," : "", col_names[k]);
    fputc('\n', f);
}

static void log_row(FILE *f, const epoch_row *r)
{
    for (int k = 0; k < C_COUNT; k++) {
        if (k) fputc(',', f);
        if (!r->set[k]) continue;
        if (k <= C_EPOCH) fprintf(f, "%.0f", r->v[k]);
        else if (k == C_SPS) fprintf(f, "%.1f", r->v[k]);
        else if (k >= C_HA && k <= C_MAP) fprintf(f, "%.5f", r->v[k]);
        else fprintf(f, "%.6g", r->v[k]);
    }
    fputc('\n', f);
}

static void print_epoch_line(FILE *f, const epoch_row *r, const mlcl_progress *p)
{
    fprintf(f, "%s epoch %d/%d", p->phase == 1 ? "pretrain" : "finetune", p->epoch + 1, p->epochs);
    for (size_t i = 0; i < sizeof console_cols / sizeof console_cols[0]; i++) {
        int k = console_cols[i];
        if (!r->set[k] || (k == C_LOSS && r->set[C_BCE])) continue;
        if (k == C_SPS) fprintf(f, " %s %.0f", col_names[k], r->v[k]);
        else if (k == C_LR) fprintf(f, " %s %.3g", col_names[k], r->v[k]);
        else if (k >= C_HA && k <= C_MAP) fprintf(f, " %s %.4f", col_names[k], r->v[k]);
        else fprintf(f, " %s %.5g", col_names[k], r->v[k]);
    }
    fputc('\n', f);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(double s, char *b, size_t n)
{
    if (!(s >= 0) || s > 359999) { snprintf(b, n, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

static int term_columns(void)
{
    struct winsize w;
    if (ioctl(2, TIOCGWINSZ, &w) == 0 && w.ws_col >= 20) return w.ws_col;
    long long c;
    const char *e = getenv("COLUMNS");
    if (e && parse_int(e, 20, 10000, &c) == 0) return (int)c;
    return 80;
}

/* erase the bar (the cursor stays at the start of the empty line) */
static void bar_clear(app *a)
{
    if (!a->bar_len) return;
    fprintf(stderr, "\r%*s\r", a->bar_len, "");
    a->bar_len = 0;
}

/* end the bar's line: what follows starts on a new line */
static void bar_end(app *a)
{
    if (!a->bar_len) return;
    fputc('\n', stderr);
    fflush(stderr);
    a->bar_len = 0;
}

/* "pretrain epoch 3/10 [#####-----]  27% step 36/130 15.2 steps/s ETA 0:06 loss 303.7" (the loss
 * left out on a narrow terminal);
 * the final draw of a phase gives the time it took and ends the line */
static void bar_draw(app *a, const mlcl_progress *p, double now, int final)
{
    long long total = a->spe[p->phase == 1 ? 1 : 2] * (long long)p->epochs;
    double frac = total > 0 ? (double)p->step / (double)total : 0;
    if (final || frac > 1) frac = 1;
    if (frac < 0) frac = 0;
    double el = now - a->ph_t0, done = (double)(p->step - a->ph_step0);
    double rate = el > 0 && done > 0 ? done / el : 0;
    char t[32], head[64], tail[256], loss[64], bar[64] = "", line[512];
    if (final) fmt_duration(el, t, sizeof t);
    else fmt_duration(rate > 0 ? (double)(total - p->step) / rate : -1, t, sizeof t);
    snprintf(head, sizeof head, "%s epoch %d/%d ", p->phase == 1 ? "pretrain" : "finetune", p->epoch + 1, p->epochs);
    snprintf(tail, sizeof tail, " %3.0f%% step %lld/%lld %.1f steps/s %s %s", 100 * frac, p->step, total, rate,
             final ? "in" : "ETA", t);
    snprintf(loss, sizeof loss, " %s %.4g", p->phase == 1 ? "loss" : "bce", p->loss);
    int cols = term_columns() - 1; /* the last column would wrap on some terminals */
    if ((int)(strlen(head) + strlen(tail)) > cols) /* narrow: the rate and the time left first */
        snprintf(tail, sizeof tail, " %.0f%% %.1f steps/s %s %s", 100 * frac, rate, final ? "in" : "ETA", t);
    int room = cols - (int)strlen(head) - (int)strlen(tail);
    if (room - (int)strlen(loss) >= 12) room -= (int)strlen(loss); /* the loss if a bar of 10 still fits */
    else loss[0] = 0;
    int w = room - 2;
    if (w > 30) w = 30;
    if (w >= 5) {
        int fill = (int)(frac * w);
        bar[0] = '[';
        for (int i = 0; i < w; i++) bar[1 + i] = i < fill ? '#' : '-';
        bar[w + 1] = ']';
        bar[w + 2] = 0;
    }
    snprintf(line, sizeof line, "%s%s%s%s", head, bar, tail, loss);
    int len = (int)strlen(line);
    if (len > cols) line[len = cols] = 0;
    fprintf(stderr, "\r%s%*s", line, a->bar_len > len ? a->bar_len - len : 0, "");
    if (final) {
        fputc('\n', stderr);
        a->bar_len = 0;
    } else {
        a->bar_len = len;
    }
    fflush(stderr);
}

static int progress_cb(const mlcl_progress *p, void *ctx)
{
    app *a = ctx;
    double now = now_s();
    if (p->phase != a->ph_cur) {
        /* this process began the phase at the end of the previous report (or of the setup) */
        bar_end(a);
        a->ph_cur = p->phase;
        a->ph_t0 = a->last_t;
        a->ph_step0 = p->step - 1;
        a->bar_t = -1;
    }
    int eoe = p->end_of_epoch, evaluated = 0;
    mlcl_metrics m = MLCL_METRICS_INIT;
    epoch_row row;
    memset(&row, 0, sizeof row);
    if (eoe) {
        if (p->phase >= 1 && p->phase <= 2) a->trained[p->phase]++;
        if (p->phase == 2 && a->test && a->eval_every > 0 && (p->epoch + 1) % a->eval_every == 0)
            evaluated = mlcl_trainer_evaluate(a->trainer, a->test, NULL, &m) == MLCL_OK;
        fill_row(&row, p, evaluated ? &m : NULL);
        FILE *log = a->log.f;
        if (log && !a->log_err) {
            log_row(log, &row);
            if (fflush(log) != 0 || ferror(log)) a->log_err = errno ? errno : EIO;
        }
    }
    if (!a->silent) {
        int last = eoe && p->epoch + 1 == p->epochs;
        if (a->bar) {
            if (evaluated) {
                bar_clear(a);
                print_epoch_line(stderr, &row, p);
            }
            if (last || evaluated || a->bar_t < 0 || now - a->bar_t >= BAR_PERIOD) {
                bar_draw(a, p, now, last);
                a->bar_t = now;
            }
        } else if (eoe && (evaluated || last || p->epoch == 0 || (p->epoch + 1) % 10 == 0)) {
            print_epoch_line(stderr, &row, p);
        }
    }
    a->last_t = now_s();
    return g_stop || a->log_err ? 1 : 0;
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

/* ---- the other data files (issue 16 readers: include/mlcl/readers.h) */
enum { D_MOSAIC, D_ARFF, D_LIBSVM, D_NPY, D_CSV, D_IMAGES };
static const char *const kind_names[] = { "the built-in job", "ARFF files", "LIBSVM files", ".npy/.npz files",
                                          "CSV tables", "image manifests" };

/* a --train/--test argument: the file or folder (a VOC folder without its
 * ":split"), the VOC split, the mlcl_data_format */
typedef struct datafile {
    char path[PATH_MAX];
    const char *split;
    int format;
} datafile;

static int kind_of(int format)
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
static int data_file(datafile *df, const char *flagname, const char *arg, const char *default_split)
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
    int csv = G(FL_FORMAT) && flags[FL_FORMAT].i == 2;
    if (ends_with(p, ".npy") || ends_with(p, ".npz")) df->format = MLCL_FORMAT_NPY;
    else if (G(FL_FORMAT) && !csv) df->format = flags[FL_FORMAT].i == 0 ? MLCL_FORMAT_ARFF : MLCL_FORMAT_UNKNOWN;
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
static int load_data(mlcl_dataset **ds, const char *flagname, const datafile *df, int labels, int features,
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
        co.impute = G(FL_IMPUTE) ? (flags[FL_IMPUTE].i == 0 ? MLCL_IMPUTE_MEAN : MLCL_IMPUTE_ZERO) : MLCL_IMPUTE_NONE;
        return mlcl_dataset_load_csv(ds, df->path, &co);
    }
    if (kind_of(fmt) == D_IMAGES) {
        mlcl_manifest_options mo = MLCL_MANIFEST_OPTIONS_INIT;
        mo.height = mo.width = image_side;
        mo.image_root = V(FL_IMAGE_ROOT);
        mo.skip_bad_images = G(FL_SKIP_BAD_IMAGES);
        mo.voc_difficult = G(FL_VOC_DIFFICULT) ? (int)flags[FL_VOC_DIFFICULT].i : MLCL_VOC_DIFFICULT_NEGATIVE;
        mo.threads = threads;
        int c = 0, skipped = 0;
        const char **names = NULL;
        if (like && mlcl_dataset_dims(like, NULL, NULL, &c) == MLCL_OK && c > 0 && mlcl_dataset_label_name(like, 0)) {
            names = malloc(sizeof *names * (size_t)c);
            if (!names) { fail(1, "%s %s: out of memory", flagname, df->path); return MLCL_ENOMEM; }
            for (int j = 0; j < c; j++) names[j] = mlcl_dataset_label_name(like, j);
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

static void print_metrics_row(const char *name, const mlcl_metrics *m)
{
    printf("%-22s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f\n", name, m->HA, m->ebF1, m->miF1, m->maF1, m->p_at_1, m->mAP);
}

static void json_metrics(FILE *f, const mlcl_metrics *m)
{
    fprintf(f, "{\"HA\": %.6f, \"ebF1\": %.6f, \"miF1\": %.6f, \"maF1\": %.6f, \"p_at_1\": %.6f, \"mAP\": %.6f}", m->HA,
            m->ebF1, m->miF1, m->maF1, m->p_at_1, m->mAP);
}

/* ------------------------------------------------------------ per label
 * Name, support, AP and F1 at threshold 0.5 of every label on the evaluated
 * rows (the test set, or the --val-split rows), for --json and --per-label. */
typedef struct label_stat {
    const char *name; /* the dataset's (NULL: unnamed) */
    long support, predicted;
    double ap, f1;    /* ap NaN: no positive row */
} label_stat;

static int per_label_stats(mlcl_trainer *t, const mlcl_dataset *ds, label_stat **out)
{
    int n, d, c;
    *out = NULL;
    if (mlcl_dataset_dims(ds, &n, &d, &c) != MLCL_OK) return fail(1, "%s", mlcl_last_error());
    float *s = malloc(sizeof(float) * (size_t)n * (size_t)c);
    double *ap = malloc(sizeof(double) * (size_t)c);
    label_stat *ls = calloc((size_t)c, sizeof *ls);
    int rc = 0;
    if (!s || !ap || !ls) rc = fail(1, "the per-label table: out of memory");
    const uint8_t *y = mlcl_dataset_labels(ds);
    if (!rc && (mlcl_trainer_predict(t, n, mlcl_dataset_features(ds), s) != MLCL_OK ||
                mlcl_metrics_average_precision(ap, n, c, s, y) != MLCL_OK))
        rc = fail(1, "the per-label table: %s", mlcl_last_error());
    for (int j = 0; !rc && j < c; j++) {
        long tp = 0, fp = 0, fn = 0;
        for (int i = 0; i < n; i++) {
            int yh = s[(size_t)i * c + j] >= 0.5f, yy = y[(size_t)i * c + j] != 0;
            tp += yh && yy;
            fp += yh && !yy;
            fn += !yh && yy;
        }
        ls[j].name = mlcl_dataset_label_name(ds, j);
        ls[j].support = tp + fn;
        ls[j].predicted = tp + fp;
        ls[j].ap = ap[j];
        ls[j].f1 = 2 * tp + fp + fn > 0 ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0; /* as maF1 counts it */
    }
    free(s);
    free(ap);
    if (rc) { free(ls); return rc; }
    *out = ls;
    return 0;
}

/* the length of the valid UTF-8 sequence at p (0: not one: a stray byte,
 * an overlong form, a surrogate, beyond U+10FFFF) */
static int utf8_len(const unsigned char *p)
{
    unsigned char ch = p[0];
    if (ch < 0x80) return 1;
    int len = ch >= 0xc2 && ch <= 0xdf ? 2 : ch >= 0xe0 && ch <= 0xef ? 3 : ch >= 0xf0 && ch <= 0xf4 ? 4 : 0;
    for (int i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((ch == 0xe0 && p[1] < 0xa0) || (ch == 0xed && p[1] >= 0xa0))) return 0;
    if (len == 4 && ((ch == 0xf0 && p[1] < 0x90) || (ch == 0xf4 && p[1] >= 0x90))) return 0;
    return len;
}

/* a label name for the terminal: control characters (C0, DEL, C1) and bytes
 * that are not UTF-8 as '?', at most max characters; returns the characters */
static int printable_name(const char *name, int j, char *b, size_t size, int max)
{
    char tmp[32];
    if (!name) { snprintf(tmp, sizeof tmp, "label%d", j); name = tmp; }
    size_t k = 0;
    int chars = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && chars < max && k + 5 < size; chars++) {
        int len = utf8_len(p);
        if (len == 0 || *p < 0x20 || *p == 0x7f || (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f)) {
            b[k++] = '?';
            p += len ? len : 1;
        } else {
            memcpy(b + k, p, (size_t)len);
            k += (size_t)len;
            p += len;
        }
    }
    b[k] = 0;
    return chars;
}

static void print_per_label(const label_stat *ls, int c, const char *set)
{
    char name[256];
    int w = 5;
    for (int j = 0; j < c; j++) {
        int l = printable_name(ls[j].name, j, name, sizeof name, 40);
        if (l > w) w = l;
    }
    printf("\nper label on the %s rows (F1 at threshold 0.5)\n", set);
    printf("%-*s %8s %9s %7s %7s\n", w, "label", "support", "predicted", "AP", "F1");
    for (int j = 0; j < c; j++) {
        int l = printable_name(ls[j].name, j, name, sizeof name, 40);
        printf("%s%*s %8ld %9ld ", name, w - l, "", ls[j].support, ls[j].predicted);
        if (isnan(ls[j].ap)) printf("%7s", "-");
        else printf("%7.4f", ls[j].ap);
        printf(" %7.4f\n", ls[j].f1);
    }
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * bytes that are not UTF-8 as U+FFFD */
static void json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned char ch = *p;
        if (ch == '"' || ch == '\\') { fputc('\\', f); fputc(ch, f); p++; continue; }
        if (ch < 0x20) { fprintf(f, "\\u%04x", ch); p++; continue; }
        if (ch < 0x80) { fputc(ch, f); p++; continue; }
        int len = utf8_len(p);
        if (!len) { fputs("\\ufffd", f); p++; continue; }
        fwrite(p, 1, (size_t)len, f);
        p += len;
    }
    fputc('"', f);
}

static void json_per_label(FILE *f, const label_stat *ls, int c)
{
    fprintf(f, " \"per_label\": [");
    for (int j = 0; j < c; j++) {
        char tmp[32];
        fprintf(f, "%s\n  {\"name\": ", j ? "," : "");
        if (ls[j].name) json_string(f, ls[j].name);
        else { snprintf(tmp, sizeof tmp, "label%d", j); json_string(f, tmp); }
        fprintf(f, ", \"support\": %ld, \"predicted\": %ld, \"AP\": ", ls[j].support, ls[j].predicted);
        if (isnan(ls[j].ap)) fprintf(f, "null");
        else fprintf(f, "%.6f", ls[j].ap);
        fprintf(f, ", \"F1_t05\": %.6f}", ls[j].f1);
    }
    fprintf(f, "\n ],\n");
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
    long long n;
    return v && parse_int(v, 1, 1e7, &n) == 0 ? (int)n : 1;
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
        a->silent = 1;
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

#define NOT_WITH(id, ...)                                                                   \
    do {                                                                                    \
        if (G(id)) {                                                                        \
            char why_[200];                                                                 \
            snprintf(why_, sizeof why_, __VA_ARGS__);                                       \
            return fail(2, "%s does not apply %s", flags[id].name, why_);                   \
        }                                                                                   \
    } while (0)

/* which flags apply to the data, the method, the encoder and the views */
static int check_applicability(int kind, int voc, int resnet, int simclr, int method)
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
    if (G(FL_PATIENCE) && G(FL_SELECT_METRIC) && flags[FL_SELECT_METRIC].i == 6 && flags[FL_PATIENCE].i > 0)
        return fail(2, "--patience %lld does not apply with --select-metric none (it watches the selected metric)",
                    flags[FL_PATIENCE].i);
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

/* --save-model: the model with label names, data files, training-set hash
 * and the final metrics (not when they were measured on a validation split) */
static int save_model(const mlcl_trainer *t, const char *path, const mlcl_dataset *train, const char *train_path,
                      const char *test_path, const mlcl_metrics *paper, const mlcl_metrics *t05, int on_test,
                      const mlcl_dataset *names_from)
{
    mlcl_model_export_options eo = MLCL_MODEL_EXPORT_OPTIONS_INIT;
    eo.train = train; eo.train_path = train_path; eo.test_path = on_test ? test_path : NULL;
    eo.test_paper = on_test ? paper : NULL; eo.test_t05 = on_test ? t05 : NULL;
    /* --stream: no training set in memory; the test set has the training list's label names */
    const char **names = NULL;
    int c = 0;
    if (!train && names_from && mlcl_dataset_dims(names_from, NULL, NULL, &c) == MLCL_OK && c > 0 &&
        mlcl_dataset_label_name(names_from, 0)) {
        names = malloc(sizeof *names * (size_t)c);
        if (!names) return fail(1, "--save-model %s: out of memory", path);
        for (int j = 0; j < c; j++) names[j] = mlcl_dataset_label_name(names_from, j);
        eo.label_names = names;
    }
    mlcl_model *m = NULL;
    int rc = mlcl_trainer_export_model_ex(t, &m, &eo);
    free(names);
    if (rc == MLCL_OK) rc = mlcl_model_save(m, path);
    mlcl_model_free(m);
    if (rc != MLCL_OK) return fail(1, "--save-model %s: %s", path, mlcl_last_error());
    return 0;
}

/* ---- --stream (docs/loader.md): the training manifest as a list of paths
 * and labels, read by two loaders (pretraining: two SimCLR views; fine-tuning:
 * the resized image or one crop-and-flip view) into bounded prefetch rings */
static int load_list(mlcl_image_list **out, const datafile *df)
{
    mlcl_manifest_options mo = MLCL_MANIFEST_OPTIONS_INIT;
    mo.image_root = V(FL_IMAGE_ROOT);
    mo.voc_difficult = G(FL_VOC_DIFFICULT) ? (int)flags[FL_VOC_DIFFICULT].i : MLCL_VOC_DIFFICULT_NEGATIVE;
    return df->format == MLCL_FORMAT_COCO ? mlcl_image_list_load_coco(out, df->path, &mo)
         : df->format == MLCL_FORMAT_VOC ? mlcl_image_list_load_voc(out, df->path, df->split, &mo)
         : mlcl_image_list_load_csv(out, df->path, &mo);
}

static int stream_loader(mlcl_loader **out, const mlcl_image_list *list, int batch, int side, int threads, int prefetch,
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
static void print_loader_stats(const char *phase, const mlcl_loader *l, double phase_s)
{
    mlcl_loader_stats st;
    if (!l || mlcl_loader_stats_get(l, &st) != MLCL_OK) return;
    double rate = st.busy_seconds > 0 ? (double)st.images / st.busy_seconds : 0;
    double frac = phase_s > 0 ? st.wait_seconds / phase_s : 0;
    printf("loader %-9s %lld images in %lld batches, %d threads: %.1f images/s per thread; waited %.3f s for data, "
           "%.1f%% of the step time; %lld skipped; ring %.2f MB\n", phase, st.images, st.batches, st.threads, rate,
           st.wait_seconds, 100.0 * (frac > 1 ? 1 : frac), st.skipped, (double)st.ring_bytes / 1048576.0);
}

int main(int argc, char **argv)
{
    install_signals();
    g_umask = umask(0);
    umask(g_umask);
    app a;
    memset(&a, 0, sizeof a);
    a.log.slot = -1;
    a.tty = isatty(2);

    if (parse_args(argc, argv)) return 2;
    if (G(FL_HELP)) { usage(stdout); return 0; }

    mlcl_train_options o;
    if (mlcl_train_options_init(&o, MLCL_TRAIN_OPTIONS_VERSION) != MLCL_OK) return fail(1, "%s", mlcl_last_error());
    /* the preset first, so that explicit flags override it */
    if (G(FL_PRESET) && mlcl_train_options_preset(&o, V(FL_PRESET)) != MLCL_OK) return fail(2, "%s", mlcl_last_error());
    const char *train_path = V(FL_TRAIN), *test_path = V(FL_TEST);
    const char *train_labels = V(FL_TRAIN_LABELS), *test_labels = V(FL_TEST_LABELS);
    const char *json_path = V(FL_JSON), *log_path = V(FL_LOG), *ckpt_path = V(FL_CHECKPOINT), *resume_path = V(FL_RESUME);
    const char *save_model_path = V(FL_SAVE_MODEL);
    double val_split = G(FL_VAL_SPLIT) ? flags[FL_VAL_SPLIT].f : 0;
    /* --val-split, --select-metric, --patience, --val-thresholds (applicability checked below) */
    mlcl_validation_options vopt = MLCL_VALIDATION_OPTIONS_INIT;
    if (G(FL_SELECT_METRIC)) {
        long long k = flags[FL_SELECT_METRIC].i;
        vopt.select_metric = k == 6 ? MLCL_SELECT_NONE : k == 7 ? MLCL_METRIC_P_AT_1 : (int)k;
    }
    if (G(FL_PATIENCE)) vopt.patience = (int)flags[FL_PATIENCE].i;
    if (vopt.patience > 0 && !G(FL_SELECT_METRIC)) vopt.select_metric = MLCL_METRIC_MAP; /* --patience alone watches mAP */
    if (G(FL_VAL_THRESHOLDS)) vopt.thresholds = flags[FL_VAL_THRESHOLDS].i == 0 ? MLCL_THRESHOLDS_PER_LABEL : MLCL_THRESHOLDS_GLOBAL;
    static const char *const select_names[] = { "HA", "ebF1", "miF1", "maF1", "p@1", "mAP" };
    a.quiet = G(FL_QUIET);
    a.plot_dir = V(FL_PLOT);
    a.eval_every = G(FL_EVAL_EVERY) ? (int)flags[FL_EVAL_EVERY].i : 0;

    /* the kind of data: the training file's format (the test file must be of the same kind) */
    static datafile train_df, test_df;
    int kind = D_MOSAIC;
    if (train_path) {
        if (data_file(&train_df, "--train", train_path, "trainval")) return 2;
        kind = kind_of(train_df.format);
    }
    if (test_path && data_file(&test_df, "--test", test_path, "test")) return 2;
    int voc = train_df.format == MLCL_FORMAT_VOC || (test_path && test_df.format == MLCL_FORMAT_VOC);

    const char *encoder = G(FL_ENCODER) ? V(FL_ENCODER) : "mlp";
    int resnet = strcmp(encoder, "mlp") != 0;
    int simclr = G(FL_VIEWS) ? flags[FL_VIEWS].i == 0 : resnet;
    const char *views = simclr ? "simclr" : "mask";
    int ft_simclr = G(FL_FT_VIEWS) && flags[FL_FT_VIEWS].i == 0;
    if (G(FL_METHOD)) o.method = (int)flags[FL_METHOD].i;
    if (check_applicability(kind, voc, resnet, simclr, o.method)) return 2;

    /* ---- the values */
    if (kind == D_MOSAIC && !G(FL_PRESET)) {
        builtin_job(&o); /* a short CLD run on Fashion-MNIST mosaics */
    }
    if (G(FL_PRE_EPOCHS)) o.pretrain_epochs = (int)flags[FL_PRE_EPOCHS].i;
    if (G(FL_FT_EPOCHS)) o.finetune_epochs = (int)flags[FL_FT_EPOCHS].i;
    if (G(FL_BATCH)) o.batch = (int)flags[FL_BATCH].i;
    if (G(FL_QUEUE)) cli_moco(&o)->queue_size = (int)flags[FL_QUEUE].i;
    if (G(FL_SEED)) o.seed = flags[FL_SEED].u;
    if (G(FL_PRE_LR)) o.pretrain_lr = (float)flags[FL_PRE_LR].f;
    if (G(FL_PRE_WD)) o.pretrain_weight_decay = (float)flags[FL_PRE_WD].f;
    if (G(FL_FT_LR)) o.finetune_lr = (float)flags[FL_FT_LR].f;
    if (G(FL_FT_WD)) o.finetune_weight_decay = (float)flags[FL_FT_WD].f;
    if (G(FL_PRE_MASK)) o.pretrain_mask_p = (float)flags[FL_PRE_MASK].f;
    if (G(FL_FT_MASK)) o.finetune_mask_p = (float)flags[FL_FT_MASK].f;
    if (flags[FL_PRE_SCHED].given) {
        const flag *f = &flags[FL_PRE_SCHED];
        o.pretrain_T_0 = f->t0; o.pretrain_T_mult = f->tmult; o.pretrain_eta_min = (float)f->eta_min;
    }
    if (flags[FL_FT_SCHED].given) {
        const flag *f = &flags[FL_FT_SCHED];
        o.finetune_T_0 = f->t0; o.finetune_T_mult = f->tmult; o.finetune_eta_min = (float)f->eta_min;
    }
    if (G(FL_MOMENTUM)) cli_moco(&o)->momentum = (float)flags[FL_MOMENTUM].f;
    if (G(FL_DROPOUT)) cli_moco(&o)->dropout = (float)flags[FL_DROPOUT].f;
    if (G(FL_HIDDEN)) {
        memset(cli_hidden, 0, sizeof cli_hidden);
        memcpy(cli_hidden, flags[FL_HIDDEN].hidden, sizeof(int) * (size_t)flags[FL_HIDDEN].n_hidden);
        cli_moco(&o)->n_hidden = flags[FL_HIDDEN].n_hidden;
    }
    mlcl_loss_options *lo = cli_loss(&o); /* (the method's; flags change the rest) */
    if (G(FL_ALPHA)) lo->alpha = (float)flags[FL_ALPHA].f;
    if (G(FL_BETA)) lo->beta = (float)flags[FL_BETA].f;
    if (G(FL_TAU)) lo->tau = (float)flags[FL_TAU].f;
    if (G(FL_SIGMA)) lo->sigma = (float)flags[FL_SIGMA].f;
    if (G(FL_MASK)) lo->mask = flags[FL_MASK].i == 0 ? MLCL_MASK_ANY : MLCL_MASK_ALL;
    if (G(FL_REDUCTION)) lo->reduction = flags[FL_REDUCTION].i == 0 ? MLCL_REDUCE_MEAN : MLCL_REDUCE_SUM;
    if (G(FL_CLD_WEIGHT)) lo->cld_weight = flags[FL_CLD_WEIGHT].i == 0 ? MLCL_CLD_WEIGHT_PROB : MLCL_CLD_WEIGHT_LOGPROB;
    if (G(FL_WEIGHT_GRAD)) lo->weight_grad = (int)(flags[FL_WEIGHT_GRAD].i & 1);       /* off|on|0|1 */
    if (G(FL_DWEIGHT_GRAD)) lo->dweight_grad = (int)(flags[FL_DWEIGHT_GRAD].i & 1);
    if (G(FL_CON_NORM)) lo->con_norm = flags[FL_CON_NORM].i == 0 ? MLCL_CON_NORM_NONE : MLCL_CON_NORM_PER_LABEL;
    if (G(FL_H_TARGET)) lo->h_target = flags[FL_H_TARGET].i == 1 ? MLCL_H_TARGET_RAW : MLCL_H_TARGET_NORMALISED;
    if (G(FL_NPZ_KEYS)) {
        static char keys[256];
        snprintf(keys, sizeof keys, "%s", V(FL_NPZ_KEYS));
        char *comma = strchr(keys, ',');
        *comma = 0;
        npz_x = keys;
        npz_y = comma + 1;
    }
    int labels = G(FL_LABELS) ? (int)flags[FL_LABELS].i : 0, features = G(FL_FEATURES) ? (int)flags[FL_FEATURES].i : 0;
    int index_base = G(FL_INDEX_BASE) ? (int)flags[FL_INDEX_BASE].i : MLCL_LIBSVM_INDEX_AUTO;
    int mosaic_train = G(FL_MOSAIC_TRAIN) ? (int)flags[FL_MOSAIC_TRAIN].i : MOSAIC_TRAIN_DEFAULT;
    int mosaic_test = G(FL_MOSAIC_TEST) ? (int)flags[FL_MOSAIC_TEST].i : MOSAIC_TEST_DEFAULT;
    int base_width = G(FL_BASE_WIDTH) ? (int)flags[FL_BASE_WIDTH].i : BASE_WIDTH_DEFAULT;
    int image_size = G(FL_IMAGE_SIZE) ? (int)flags[FL_IMAGE_SIZE].i : 0;
    int manifest_side = image_size > 0 ? image_size : 224; /* image manifests are decoded at this size */
    const char *mosaic_dir = V(FL_MOSAIC_DIR);

    /* ---- threads: at most the CPUs this process may run on, unless forced */
    int threads = 0;
    if (G(FL_THREADS)) {
        threads = (int)flags[FL_THREADS].i;
        int ncpu = cpus_available();
        if (threads > ncpu && !G(FL_FORCE_THREADS)) {
            fprintf(stderr, "mlcl-train: --threads %d capped to the %d CPUs available (--force-threads keeps %d)\n",
                    threads, ncpu, threads);
            threads = ncpu;
        }
    }
    o.threads = threads;

    /* ---- a first memory estimate from the flags alone, before reading anything */
    char d_desc[128], c_desc[80], n_desc[PATH_MAX + 16], nt_desc[PATH_MAX + 16];
    shape sh;
    memset(&sh, 0, sizeof sh);
    sh.batch = o.batch; sh.K = cli_moco(&o)->queue_size; sh.m = cli_moco(&o)->proj_dim; sh.T = threads;
    sh.n_hidden = cli_moco(&o)->n_hidden; sh.hidden = cli_hidden;
    sh.resnet = resnet; sh.small_stem = strstr(encoder, "-small") != NULL; sh.base_width = base_width;
    if (kind == D_MOSAIC) {
        sh.n = mosaic_train; sh.nt = val_split > 0 ? 0 : mosaic_test; sh.d = MOSAIC_FEATURES; sh.c = MOSAIC_LABELS;
        sh.channels = 1; sh.side = image_size > 0 ? image_size : 56;
        snprintf(d_desc, sizeof d_desc, "the mosaics' %d features", MOSAIC_FEATURES);
        snprintf(c_desc, sizeof c_desc, "the mosaics' %d labels", MOSAIC_LABELS);
        snprintf(n_desc, sizeof n_desc, "--mosaic-train %d", mosaic_train);
        snprintf(nt_desc, sizeof nt_desc, "--mosaic-test %d", mosaic_test);
    } else if (kind == D_IMAGES) {
        /* n x 3 x side x side floats once read (the readers refuse a set larger than the RAM themselves) */
        sh.d = 3.0 * manifest_side * manifest_side; sh.side = manifest_side; sh.channels = 3;
        snprintf(d_desc, sizeof d_desc, "%s %d (3 x %d x %d values per image)",
                 image_size > 0 ? "--image-size" : "the default --image-size", manifest_side, manifest_side, manifest_side);
        snprintf(c_desc, sizeof c_desc, "the manifest's labels");
        snprintf(n_desc, sizeof n_desc, "--train %s", train_path);
        snprintf(nt_desc, sizeof nt_desc, "%s %s", test_path ? "--test" : "--val-split", test_path ? test_path : V(FL_VAL_SPLIT));
    } else {
        sh.d = features; sh.c = labels; sh.side = image_size; sh.channels = image_size > 0 ? 1 : 0;
        snprintf(d_desc, sizeof d_desc, "--features %d", features);
        snprintf(c_desc, sizeof c_desc, "--labels %d", labels);
        snprintf(n_desc, sizeof n_desc, "--train %s", train_path);
        snprintf(nt_desc, sizeof nt_desc, "%s %s", test_path ? "--test" : "--val-split", test_path ? test_path : V(FL_VAL_SPLIT));
    }
    sh.d_desc = d_desc; sh.c_desc = c_desc; sh.n_desc = n_desc; sh.nt_desc = nt_desc;
    if (check_budget(&sh)) return 2;
    if (threads > 0 && mlcl_set_num_threads(threads) != MLCL_OK) return fail(2, "--threads: %s", mlcl_last_error());

    /* ---- inputs and outputs, before any data is read */
    if (train_path && add_input_kind("--train", train_df.path, train_df.format == MLCL_FORMAT_VOC ? 3 : 0)) return 2;
    if (test_path && add_input_kind("--test", test_df.path, test_df.format == MLCL_FORMAT_VOC ? 3 : 0)) return 2;
    if (G(FL_IMAGE_ROOT)) {
        if (add_input_kind("--image-root", V(FL_IMAGE_ROOT), 2)) return 2;
    } else {
        /* the image folders the manifests default to (docs/formats.md) */
        for (int k = 0; k < 2; k++) {
            const datafile *df = k ? &test_df : &train_df;
            const char *fl = k ? "--test" : "--train";
            char dir[PATH_MAX], sub[PATH_MAX + 8];
            const char *base;
            if ((k ? !test_path : !train_path) || (df->format != MLCL_FORMAT_IMAGE_CSV && df->format != MLCL_FORMAT_COCO)) continue;
            split_path(df->path, dir, sizeof dir, &base);
            add_image_folder(fl, df->path, dir);
            size_t bl = strlen(base);
            if (df->format == MLCL_FORMAT_COCO && !strncmp(base, "instances_", 10) && bl > 15 && !strcmp(base + bl - 5, ".json")) {
                snprintf(sub, sizeof sub, "%s/../%.*s", dir, (int)(bl - 15), base + 10);
                add_image_folder(fl, df->path, sub);
            }
        }
    }
    if (test_path && kind_of(test_df.format) != kind)
        return fail(2, "--test %s is one of the %s, --train %s one of the %s: give both in one format%s", test_path,
                    kind_names[kind_of(test_df.format)], train_path, kind_names[kind],
                    kind == D_NPY ? "" : " (--format names it)");
    if (train_labels && add_input("--train-labels", train_labels)) return 2;
    if (test_labels && add_input("--test-labels", test_labels)) return 2;
    if (resume_path && add_input("--resume", resume_path)) return 2;
    if (kind == D_MOSAIC) {
        if (mosaic_dir && add_input("--mosaic-dir", mosaic_dir)) return 2;
        add_dir_inputs(mosaic_dir ? mosaic_dir : MOSAIC_DIR_DEFAULT);
    }
    pathinfo json_pi, log_pi, ckpt_pi, model_pi;
    if (json_path && check_output_file("--json", json_path, NULL, &json_pi)) return 2;
    if (log_path && check_output_file("--log", log_path, NULL, &log_pi)) return 2;
    if (ckpt_path && check_output_file("--checkpoint", ckpt_path, resume_path, &ckpt_pi)) return 2;
    /* and the rules of the library's writer, which will write it */
    if (ckpt_path && mlcl_check_output_path(ckpt_path) != MLCL_OK) return fail(2, "--checkpoint: %s", mlcl_last_error());
    if (save_model_path && check_output_file("--save-model", save_model_path, NULL, &model_pi)) return 2;
    if (save_model_path && mlcl_check_output_path(save_model_path) != MLCL_OK) return fail(2, "--save-model: %s", mlcl_last_error());
    if (a.plot_dir) {
        if (check_output_dir("--plot", a.plot_dir)) return 2;
        if (run_plot(a.plot_dir, NULL, 1)) return 2;
        if (!log_path && !a.quiet) fprintf(stderr, "mlcl-train: --plot draws the curves from --log; only distributions will be drawn\n");
    }

    /* ---- the data */
    mlcl_dataset *train = NULL, *test = NULL, *val = NULL; /* test == val: no test set, the report is on val */
    int stream = G(FL_STREAM);
    mlcl_image_list *ilist = NULL; /* --stream: the training manifest, read by the loaders */
    mlcl_loader *pre_ld = NULL, *ft_ld = NULL;
    int rc;
    mlcl_clear_error();
    if (train_path) {
        if (kind == D_NPY) rc = load_npy(&train, train_path, train_labels);
        else if (stream) rc = load_list(&ilist, &train_df);
        else rc = load_data(&train, "--train", &train_df, labels, features, index_base, manifest_side, threads, NULL, NULL);
        if (G(FL_SPARSE)) o.standardize = 0; /* (centring would make the rows dense) */
        if (rc == MLCL_OK && test_path) {
            /* --stream: the test set is read into memory with the label names of the training list */
            if (kind == D_NPY) rc = load_npy(&test, test_path, test_labels);
            else rc = load_data(&test, "--test", &test_df, labels, features, index_base, manifest_side, threads, train, ilist);
        }
    } else {
        if (!a.quiet)
            fprintf(stderr, "mlcl-train: default job: Fashion-MNIST 2x2 mosaics (%d train, %d test), method %s, %d+%d epochs\n",
                    mosaic_train, val_split > 0 ? 0 : mosaic_test, method_names[o.method], o.pretrain_epochs, o.finetune_epochs);
        rc = mlcl_dataset_fashion_mosaic(&train, mosaic_dir, 1, mosaic_train, o.seed + 1, 2);
        if (rc == MLCL_OK && val_split == 0) rc = mlcl_dataset_fashion_mosaic(&test, mosaic_dir, 0, mosaic_test, o.seed + 2, 2);
    }
    if (rc != MLCL_OK) {
        if (*mlcl_last_error()) fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        mlcl_dataset_free(train);
        mlcl_dataset_free(test);
        mlcl_image_list_free(ilist);
        return 1;
    }
    if (val_split > 0) {
        /* train on the rest; the thresholds (and the epoch) are chosen on the held-out
         * part; the report is on the test set when there is one, else on the held-out part */
        mlcl_dataset *fit = NULL;
        rc = mlcl_dataset_split(&fit, &val, train, (float)val_split, o.seed + 1000);
        if (rc != MLCL_OK) {
            fprintf(stderr, "mlcl-train: --val-split: %s\n", mlcl_last_error());
            mlcl_dataset_free(train);
            mlcl_dataset_free(test);
            return 1;
        }
        mlcl_dataset_free(train);
        train = fit;
        if (!a.quiet)
            fprintf(stderr, "mlcl-train: --val-split %.2f: thresholds%s chosen on a held-out part of the training set; "
                    "the report is on the %s\n", val_split, vopt.select_metric != MLCL_SELECT_NONE ? " and the epoch" : "",
                    test ? "test set" : "held-out part");
        if (!test) test = val;
    }
    int n = 0, d = 0, c = 0, nt, dt, ct, nv = 0;
    if (stream) {
        mlcl_image_list_size(ilist, &n, &c);
        d = 3 * manifest_side * manifest_side;
    } else {
        mlcl_dataset_dims(train, &n, &d, &c);
    }
    mlcl_dataset_dims(test, &nt, &dt, &ct);
    if (val) mlcl_dataset_dims(val, &nv, NULL, NULL);
    int on_test = test != val; /* the report is on a test set */
#define FREE_DATA() do { mlcl_dataset_free(train); if (val != test) mlcl_dataset_free(val); mlcl_dataset_free(test); \
                         mlcl_loader_free(pre_ld); mlcl_loader_free(ft_ld); mlcl_image_list_free(ilist); } while (0)
    if (d != dt || c != ct) {
        fprintf(stderr, "mlcl-train: train has %d features and %d labels, test %d and %d\n", d, c, dt, ct);
        FREE_DATA();
        return 1;
    }
    if (!a.quiet) {
        if (val && on_test)
            fprintf(stderr, "mlcl-train: %d training rows, %d validation rows, %d test rows, %d features, %d labels\n", n, nv, nt, d, c);
        else
            fprintf(stderr, "mlcl-train: %d training rows, %d %s rows, %d features, %d labels\n", n, nt, val ? "validation" : "test", d, c);
    }

    /* ---- sizes that depend on the data */
    int pretraining = o.method != MLCL_METHOD_NONE && o.pretrain_epochs > 0;
    if (pretraining && cli_moco(&o)->queue_size > n) {
        /* a queue longer than an epoch holds several keys of the same rows
         * (stale copies of the anchors themselves among the candidates): an
         * explicit --queue like that is a mistake; the paper's presets were
         * set for the full training sets (Scene: K 1024 for 1211 rows) and
         * a --val-split may take them slightly past the rows: a notice */
        if (G(FL_QUEUE)) {
            fail(2, "--queue %d is larger than the %d training rows: the MoCo queue would hold several keys of every row "
                 "(stale copies of the anchors themselves); give --queue %d or less", cli_moco(&o)->queue_size, n, n);
            FREE_DATA();
            return 2;
        }
        if (!a.quiet)
            fprintf(stderr, "mlcl-train: note: the %s queue size %d is larger than the %d training rows "
                    "(some rows have two keys in the queue); --queue sets it\n",
                    G(FL_PRESET) ? "preset's" : "default", cli_moco(&o)->queue_size, n);
    }
    if (G(FL_BATCH) && o.batch > n) {
        fail(2, "--batch %d is larger than the %d training rows", o.batch, n);
        FREE_DATA();
        return 2;
    }
    if (kind != D_MOSAIC) {
        if (!G(FL_FEATURES)) snprintf(d_desc, sizeof d_desc, "the data's %d features", d);
        if (!G(FL_LABELS)) snprintf(c_desc, sizeof c_desc, "the data's %d labels", c);
    }
    sh.n = n; sh.nt = nt; sh.d = d; sh.c = c; sh.loaded = 1;
    if (G(FL_SPARSE)) { int64_t nz = 0; if (mlcl_dataset_csr(train, NULL, NULL, NULL, &nz) == MLCL_OK) sh.nnz = (double)nz; }
    sh.batch = o.batch < n ? o.batch : n;
    int loader_threads = 0, prefetch = G(FL_PREFETCH) ? (int)flags[FL_PREFETCH].i : STREAM_PREFETCH_DEFAULT;
    if (stream) {
        /* the loaders' batch is the trainer's, which takes at most the training rows */
        if (o.batch > n) o.batch = n;
        int ncpu = cpus_available();
        loader_threads = G(FL_LOADER_THREADS) ? (int)flags[FL_LOADER_THREADS].i : ncpu < STREAM_THREADS_MAX ? ncpu : STREAM_THREADS_MAX;
        int pre_views = o.method != MLCL_METHOD_NONE && o.pretrain_epochs > 0 ? 2 : 0;
        int ft_views = o.finetune_epochs > 0 ? 1 : 0; /* one image (or view) per row */
        sh.ring = 4.0 * prefetch * sh.batch * (pre_views + ft_views) * (double)d;
    }
    if (kind != D_MOSAIC) sh.side = 0; /* the image part is estimated below, with the shape */
    if (!resnet && check_budget(&sh)) { FREE_DATA(); return 2; }

    mlcl_encoder *backbone = NULL;
    mlcl_simclr_options pre_v, ft_v;
    mlcl_trainer_extra ex = MLCL_TRAINER_EXTRA_INIT;
    if (simclr || resnet) {
        int ic = 3, ih = manifest_side, iw = manifest_side; /* --stream: the loaders' output */
        if (!stream && (mlcl_dataset_image_shape(train, &ic, &ih, &iw) != MLCL_OK || ic <= 0)) {
            fprintf(stderr, "mlcl-train: --encoder %s / --views %s need images, and this training set has no image shape\n", encoder, views);
            FREE_DATA();
            return 2;
        }
        int side_h = image_size > 0 ? image_size : ih, side_w = image_size > 0 ? image_size : iw;
        if (simclr) {
            mlcl_simclr_options_init(&pre_v, MLCL_SIMCLR_OPTIONS_VERSION);
            pre_v.out_h = side_h; pre_v.out_w = side_w;
            ex.pretrain_views = &pre_v;
            if (ft_simclr) {
                /* fine-tuning: crop and flip only (SimCLR's linear-evaluation augmentation) */
                mlcl_simclr_options_init(&ft_v, MLCL_SIMCLR_OPTIONS_VERSION);
                ft_v.out_h = side_h; ft_v.out_w = side_w;
                ft_v.jitter_p = 0; ft_v.gray_p = 0; ft_v.blur_p = 0;
                ex.finetune_views = &ft_v;
            }
        }
        sh.channels = ic;
        sh.side = side_h > side_w ? side_h : side_w;
        if (resnet) {
            /* the activations first (before the network exists), then with its parameter count */
            if (check_budget(&sh)) { FREE_DATA(); return 2; }
            mlcl_resnet_spec rs;
            mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION);
            rs.depth = atoi(encoder + 6); /* the name matched one of ENCODER_CHOICES exactly */
            rs.stem = sh.small_stem ? MLCL_RESNET_STEM_SMALL : MLCL_RESNET_STEM_IMAGENET;
            rs.in_channels = ic; rs.height = side_h; rs.width = side_w;
            rs.base_width = base_width;
            mlcl_encoder_options eo;
            mlcl_encoder_options_init(&eo, MLCL_ENCODER_OPTIONS_VERSION);
            eo.max_batch = o.batch;
            eo.seed = o.seed;
            rc = mlcl_encoder_create_resnet(&backbone, &rs, &eo);
            if (rc != MLCL_OK) {
                fprintf(stderr, "mlcl-train: --encoder %s: %s\n", encoder, mlcl_last_error());
                FREE_DATA();
                return 2;
            }
            ex.backbone = backbone;
            size_t np = 0;
            mlcl_encoder_param_count(backbone, &np);
            sh.resnet_params = (double)np;
            if (check_budget(&sh)) { mlcl_encoder_free(backbone); FREE_DATA(); return 2; }
            if (!a.quiet)
                fprintf(stderr, "mlcl-train: encoder %s (base width %d, %zu parameters) on %dx%dx%d views\n",
                        encoder, base_width, np, ic, side_h, side_w);
        } else if (check_budget(&sh)) {
            FREE_DATA();
            return 2;
        }
    }
    if (stream) {
        rc = MLCL_OK;
        if (o.method != MLCL_METHOD_NONE && o.pretrain_epochs > 0)
            rc = stream_loader(&pre_ld, ilist, o.batch, manifest_side, loader_threads, prefetch, o.seed, 2, ex.pretrain_views);
        if (rc == MLCL_OK && o.finetune_epochs > 0)
            rc = stream_loader(&ft_ld, ilist, o.batch, manifest_side, loader_threads, prefetch, o.seed + 1,
                               ex.finetune_views ? 1 : 0, ex.finetune_views);
        if (rc == MLCL_OK) rc = mlcl_trainer_create_stream(&a.trainer, &o, pre_ld, ft_ld, backbone);
        if (rc == MLCL_OK && !a.quiet)
            fprintf(stderr, "mlcl-train: --stream: %d loader threads per loader, %d batches prefetched (rings of %.1f MB in all)\n",
                    loader_threads, prefetch, sh.ring / 1048576.0);
    } else {
        rc = mlcl_trainer_create_ex(&a.trainer, &o, train, &ex);
    }
    mlcl_encoder_free(backbone);
    /* before --resume: the checkpoint names the validation settings it was made with */
    if (rc == MLCL_OK && val) rc = mlcl_trainer_set_validation(a.trainer, val, &vopt);
    int resumed_phase = 0;
    if (rc == MLCL_OK && resume_path) {
        rc = mlcl_trainer_load(a.trainer, resume_path);
        if (rc == MLCL_OK) {
            int ph, ep;
            mlcl_trainer_position(a.trainer, &ph, &ep);
            resumed_phase = ph;
            if (!a.quiet) {
                if (ph >= 3)
                    fprintf(stderr, "mlcl-train: resumed from %s: the run it holds is finished; nothing is trained "
                            "(although %d+%d epochs are asked for), the model is evaluated as it is\n",
                            resume_path, o.pretrain_epochs, o.finetune_epochs);
                else
                    fprintf(stderr, "mlcl-train: resumed from %s at phase %d epoch %d: %d pretraining and %d fine-tuning epochs to go\n",
                            resume_path, ph, ep, ph == 1 ? o.pretrain_epochs - ep : 0,
                            ph == 1 ? o.finetune_epochs : o.finetune_epochs - ep);
            }
        }
    }
    if (rc != MLCL_OK) {
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        mlcl_trainer_free(a.trainer);
        FREE_DATA();
        return 1;
    }
    if (mpi_attach(&a, &log_path, &json_path)) return 1;
#define FREE_ALL() do { mlcl_trainer_free(a.trainer); FREE_DATA(); } while (0)
    if (log_path) {
        /* a new file with the old rows (when resuming) or the header, renamed
         * over the target now; the epochs are appended to it as they end */
        if (sf_open(&a.log, "--log", log_pi.canon)) { FREE_ALL(); return 1; }
        FILE *old = resume_path ? fopen(log_pi.canon, "r") : NULL;
        char buf[65536], want[512];
        size_t k;
        FILE *hf = fmemopen(want, sizeof want, "w");
        if (hf) { log_header(hf); fclose(hf); } else { want[0] = 0; }
        if (old && fgets(buf, sizeof buf, old)) {
            /* the resumed run's rows under their header, which must be this version's */
            if (strcmp(buf, want)) {
                fclose(old);
                sf_abort(&a.log);
                FREE_ALL();
                return fail(1, "--log %s: its columns (%.*s) are not the ones this version writes; "
                            "resume into a new --log file", log_path, (int)strcspn(buf, "\r\n"), buf);
            }
            fputs(buf, a.log.f);
            while ((k = fread(buf, 1, sizeof buf, old)) > 0) fwrite(buf, 1, k, a.log.f);
        } else {
            log_header(a.log.f);
        }
        if (old) {
            int bad = ferror(old);
            fclose(old);
            if (bad) { sf_abort(&a.log); FREE_ALL(); return fail(1, "--log %s: cannot read the rows of the resumed run", log_path); }
        }
        if (sf_commit(&a.log, 1)) { FREE_ALL(); return 1; }
    }
    a.test = test;
    {
        /* the steps of an epoch, as the trainer runs them: pretraining drops a
         * ragged last batch, fine-tuning only a last batch of one row */
        long long B = o.batch < n ? o.batch : n;
        a.spe[1] = n / B;
        a.spe[2] = n / B + (n % B >= 2);
    }
    a.bar = a.tty && !a.quiet && !a.silent;
    if (a.eval_every && !a.quiet && !a.silent)
        fprintf(stderr, "mlcl-train: --eval-every %d: the fine-tuning lines and the log give the metrics at threshold 0.5 "
                "on the %s rows\n", a.eval_every, on_test ? "test" : "held-out (--val-split)");
    a.last_t = now_s();
    mlcl_trainer_set_callback(a.trainer, progress_cb, &a);
    if (g_comm) mlcl_trainer_set_callback(a.trainer, mpi_progress_cb, &a);

    /* ---- training: a signal now stops at the next step, with a checkpoint */
    g_graceful = 1;
    int done = 0;
    while (!done && !g_stop) {
        rc = mlcl_trainer_run_epochs(a.trainer, 1, &done);
        if (rc != MLCL_OK) break;
        if (ckpt_path && (rc = mlcl_trainer_save(a.trainer, ckpt_path)) != MLCL_OK) break;
    }
    g_graceful = 0;
    if (rc == MLCL_EINTERRUPTED || (rc == MLCL_OK && g_stop)) {
        bar_end(&a);
        int src = ckpt_path ? mlcl_trainer_save(a.trainer, ckpt_path) : MLCL_OK;
        const char *ck = !ckpt_path ? "no --checkpoint given" : src == MLCL_OK ? "checkpoint written" : mlcl_last_error();
        int status;
        if (g_stop) {
            fprintf(stderr, "mlcl-train: stopped by signal %d; %s\n", (int)g_stop, ck);
            status = 130;
        } else {
            fprintf(stderr, "mlcl-train: --log %s: write failed: %s; training stopped; %s\n", log_path, strerror(a.log_err), ck);
            status = 1;
        }
        if (log_close(&a.log)) status = status == 130 ? 130 : 1;
        FREE_ALL();
        return status;
    }
    if (rc != MLCL_OK) {
        bar_end(&a);
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        log_close(&a.log);
        FREE_ALL();
        return 1;
    }
    bar_end(&a); /* --patience may have ended fine-tuning before its last epoch, with the bar drawn */
    int status = 0;
    if (log_close(&a.log)) status = 1;
    mlcl_metrics paper = MLCL_METRICS_INIT, t05 = MLCL_METRICS_INIT;
    rc = mlcl_trainer_evaluate(a.trainer, test, &paper, &t05);
    if (rc != MLCL_OK) { fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error()); FREE_ALL(); return 1; }
    label_stat *ls = NULL;
    if ((json_path || G(FL_PER_LABEL)) && per_label_stats(a.trainer, test, &ls)) { FREE_ALL(); return 1; }
    double pre_s, fin_s;
    mlcl_trainer_timing(a.trainer, &pre_s, &fin_s);
    if (resume_path)
        printf("\nmethod %s, seed %llu, %d+%d epochs asked for; this run trained %d+%d%s (pretrain %.1f s, fine-tune %.1f s in all)\n",
               method_names[o.method], (unsigned long long)o.seed, o.pretrain_epochs, o.finetune_epochs, a.trained[1],
               a.trained[2], resumed_phase >= 3 && !a.trained[1] && !a.trained[2] ? ", the checkpoint's run was finished" : "",
               pre_s, fin_s);
    else
        printf("\nmethod %s, seed %llu, %d+%d epochs (pretrain %.1f s, fine-tune %.1f s)\n", method_names[o.method],
               (unsigned long long)o.seed, a.trained[1], a.trained[2], pre_s, fin_s);
    printf("%-22s %7s %7s %7s %7s %7s %7s\n", "metrics", "HA", "ebF1", "miF1", "maF1", "p@1", "mAP");
    print_metrics_row("paper protocol (sweep)", &paper);
    print_metrics_row("threshold 0.5", &t05);
    /* the thresholds chosen on the validation rows, applied to the report set */
    mlcl_metrics honest = MLCL_METRICS_INIT, honest_g = MLCL_METRICS_INIT;
    int have_honest = val && mlcl_trainer_evaluate_thresholds(a.trainer, test, &honest, &honest_g) == MLCL_OK;
    int best_ep = -1, ep_run = 0;
    double best_v = NAN;
    float thr_g = NAN;
    if (have_honest) {
        print_metrics_row(vopt.thresholds == MLCL_THRESHOLDS_GLOBAL ? "val threshold (model)" : "val thresholds/label", &honest);
        print_metrics_row("val threshold, global", &honest_g);
        mlcl_trainer_thresholds(a.trainer, c, NULL, &thr_g);
    }
    if (val) mlcl_trainer_selection(a.trainer, &best_ep, &best_v, NULL, &ep_run);
    if (val && vopt.select_metric != MLCL_SELECT_NONE)
        printf("fine-tuning epoch %d of the %d run kept (best validation %s %.4f)\n", best_ep + 1, ep_run,
               select_names[vopt.select_metric], best_v);
    if (have_honest) printf("global threshold chosen on %d validation rows: %.4f\n", nv, (double)thr_g);
    if (G(FL_PER_LABEL)) print_per_label(ls, c, on_test ? "test" : "held-out (--val-split)");
    if (stream) {
        print_loader_stats("pretrain:", pre_ld, pre_s);
        print_loader_stats("finetune:", ft_ld, fin_s);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) { fprintf(stderr, "mlcl-train: writing the results to stdout failed: %s\n", strerror(errno)); status = 1; }
    if (json_path) {
        safe_file js;
        if (sf_open(&js, "--json", json_pi.canon) == 0) {
            FILE *f = js.f;
            fprintf(f, "{\"method\": \"%s\", \"seed\": %llu, \"n_train\": %d, \"n_test\": %d, \"features\": %d, \"labels\": %d, \"evaluated_on\": \"%s\",\n",
                    method_names[o.method], (unsigned long long)o.seed, n, nt, d, c, on_test ? "test" : "validation");
            fprintf(f, " \"metrics\": {\"paper\": ");
            json_metrics(f, &paper);
            fprintf(f, ", \"t05\": ");
            json_metrics(f, &t05);
            if (have_honest) {
                fprintf(f, ", \"validation_thresholds\": ");
                json_metrics(f, &honest);
                fprintf(f, ", \"validation_global_threshold\": ");
                json_metrics(f, &honest_g);
            }
            fprintf(f, "},\n");
            if (val) {
                char bv[32] = "null", tg[32] = "null";
                if (!isnan(best_v)) snprintf(bv, sizeof bv, "%.6f", best_v);
                if (have_honest && !isnan(thr_g)) snprintf(tg, sizeof tg, "%.6f", (double)thr_g);
                fprintf(f, " \"validation\": {\"rows\": %d, \"select_metric\": \"%s\", \"patience\": %d, \"best_epoch\": %d, "
                        "\"epochs_run\": %d, \"best_value\": %s, \"global_threshold\": %s},\n", nv,
                        vopt.select_metric == MLCL_SELECT_NONE ? "none" : select_names[vopt.select_metric], vopt.patience,
                        best_ep, ep_run, bv, tg);
            }
            json_per_label(f, ls, c);
            fprintf(f, " \"timing\": {\"pretrain_s\": %.3f, \"finetune_s\": %.3f}}\n", pre_s, fin_s);
            if (sf_commit(&js, 0)) status = 1;
        } else {
            status = 1;
        }
    }
    if (save_model_path && (!g_comm || g_comm->rank == 0) &&
        save_model(a.trainer, model_pi.canon, train, train_path, test_path, &paper, &t05, on_test, test))
        status = 1;
    if (a.plot_dir) {
        /* distributions of a few test rows for the picture, then matplotlib */
        int pst = 0;
        if (mkdir(a.plot_dir, 0777) != 0 && errno != EEXIST) pst = fail(1, "--plot %s: %s", a.plot_dir, strerror(errno));
        struct stat st;
        if (!pst && (stat(a.plot_dir, &st) != 0 || !S_ISDIR(st.st_mode))) pst = fail(1, "--plot %s: is not a directory", a.plot_dir);
        char rdir[PATH_MAX], dcanon[PATH_MAX + 32];
        if (!pst && !realpath(a.plot_dir, rdir)) pst = fail(1, "--plot %s: %s", a.plot_dir, strerror(errno));
        if (!pst) snprintf(dcanon, sizeof dcanon, "%s/distributions.csv", rdir);
        int k = nt < 6 ? nt : 6;
        float *dist = malloc(sizeof(float) * (size_t)k * c);
        float *score = malloc(sizeof(float) * (size_t)k * c);
        if (!pst && (!dist || !score)) pst = fail(1, "--plot %s: out of memory", a.plot_dir);
        if (!pst && (mlcl_trainer_distributions(a.trainer, k, mlcl_dataset_features(test), dist) != MLCL_OK ||
                     mlcl_trainer_predict(a.trainer, k, mlcl_dataset_features(test), score) != MLCL_OK))
            pst = fail(1, "--plot %s: %s", a.plot_dir, mlcl_last_error());
        safe_file df;
        if (!pst && sf_open(&df, "--plot", dcanon) != 0) pst = 1;
        if (!pst) {
            const uint8_t *y = mlcl_dataset_labels(test);
            fprintf(df.f, "row,label,y,d,score\n");
            for (int r = 0; r < k; r++)
                for (int j = 0; j < c; j++)
                    fprintf(df.f, "%d,%d,%d,%.6f,%.6f\n", r, j, y[(size_t)r * c + j], dist[(size_t)r * c + j], score[(size_t)r * c + j]);
            if (sf_commit(&df, 0)) pst = 1;
        }
        free(dist);
        free(score);
        if (!pst && run_plot(a.plot_dir, log_path ? log_pi.canon : NULL, 0)) pst = 1;
        if (pst) status = 1;
    }
    free(ls);
    FREE_ALL();
    return status;
}

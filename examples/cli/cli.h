/*
 * cli.h: the modules of mlcl-train (examples/mlcl-train.c and examples/cli/).
 * Program-local, not part of the library:
 *   flags.c   the one table of flags (type, range, choices, help) and its parser, --help
 *   rules.c   which flags apply to the data, the method, the encoder and the views
 *   paths.c   input/output path safety and the atomic writes (safe files)
 *   budget.c  the memory budget checked before allocating
 *   data.c    reading the data sets (and the --stream loaders)
 *   report.c  progress (bar, epoch lines, --log), metrics, per-label table, --json, --save-model
 *   proc.c    signals, messages, CPUs, the plotting helper (posix_spawn)
 *   mpi.c     data-parallel runs under mpirun
 */
#ifndef MLCL_CLI_H
#define MLCL_CLI_H
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
#include "json.h"

extern char **environ;

#define PYTHON "/usr/bin/python3"
#include "../mosaic.h" /* MOSAIC_DIR_DEFAULT, fashion_mosaic() */

/* a dataset's label name as an expression: NULL when unnamed */
static inline const char *cli_label_name(const mlcl_dataset *ds, int j)
{
    const char *s = NULL;
    return mlcl_dataset_label_name(ds, j, &s) == MLCL_OK ? s : NULL;
}
#define MOSAIC_FEATURES 3136 /* 2 x 2 mosaics of 28 x 28 */
#define MOSAIC_LABELS 10
#define MOSAIC_TRAIN_DEFAULT 6000
#define MOSAIC_TEST_DEFAULT 2000
#define BASE_WIDTH_DEFAULT 64
#define STREAM_THREADS_MAX 8 /* --loader-threads default: the CPUs available, at most this */
#define STREAM_PREFETCH_DEFAULT 4
#define STOP_GRACE_S 10      /* a graceful stop that takes longer ends the process */
enum ftype { T_BOOL, T_INT, T_FLOAT, T_U64, T_IN, T_OUT, T_OUTDIR, T_INDIR, T_CHOICE, T_SCHED, T_HIDDEN, T_KEYS, T_NAMES, T_TEXT };

typedef struct flag {
    const char *name;
    int type;
    double lo, hi;          /* T_INT, T_FLOAT */
    const char *choices;    /* T_CHOICE: the accepted names, '|'-separated */
    const char *arg;        /* --help: the value's name (NULL: from the type) */
    const char *help;       /* --help: the text */
    /* parsed */
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
    FL_SELECT_METRIC, FL_PATIENCE, FL_VAL_THRESHOLDS, FL_STREAM, FL_LOADER_THREADS, FL_PREFETCH, FL_HELP_JSON,
    FL_COUNT
};

#define BIG ((double)INT_MAX)
#define G(id) (cli_flags[id].given)
#define V(id) (cli_flags[id].val)

typedef struct pathinfo {
    const char *flag, *path;
    char canon[PATH_MAX]; /* realpath, or realpath(directory)/name when it does not exist yet */
    int exists;
    int tree;             /* a folder the readers read files in: 1 a VOC tree, 2 the images of a manifest */
    dev_t dev;
    ino_t ino;
} pathinfo;


typedef struct safe_file {
    const char *flag;
    char target[PATH_MAX], tmp[PATH_MAX];
    FILE *f;
    int slot;
} safe_file;


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

enum { D_MOSAIC, D_ARFF, D_LIBSVM, D_NPY, D_CSV, D_IMAGES };
extern const char *const kind_names[];

/* a --train/--test argument: the file or folder (a VOC folder without its
 * ":split"), the VOC split, the mlcl_data_format */
typedef struct datafile {
    char path[PATH_MAX];
    const char *split;
    mlcl_data_format format;
} datafile;

typedef struct label_stat {
    const char *name; /* the dataset's (NULL: unnamed) */
    long support, predicted;
    double ap, f1;    /* ap NaN: no positive row */
} label_stat;

/* everything one run holds: its settings, data, trainer and results
 * (run_free releases what it owns, whichever step failed) */
typedef struct run {
    app a;
    mlcl_train_options o;
    mlcl_validation_options vopt;
    double val_split;                 /* 0: no --val-split */
    const char *train_path, *test_path, *train_labels, *test_labels;
    const char *json_path, *log_path, *ckpt_path, *resume_path, *save_model_path;
    datafile train_df, test_df;
    int kind, voc;                    /* D_*; a VOC folder among the data */
    const char *encoder, *views;
    int resnet, simclr, ft_simclr;
    int labels, features, index_base, mosaic_train, mosaic_test, base_width, image_size, manifest_side;
    const char *mosaic_dir;
    int threads, stream, loader_threads, prefetch;
    shape sh;                         /* the memory estimate's sizes */
    char d_desc[128], c_desc[80], n_desc[PATH_MAX + 16], nt_desc[PATH_MAX + 16];
    pathinfo json_pi, log_pi, ckpt_pi, model_pi;
    mlcl_dataset *train, *test, *val; /* test == val: no test set, the report is on val */
    mlcl_image_list *ilist;           /* --stream: the training manifest, read by the loaders */
    mlcl_loader *pre_ld, *ft_ld;
    int n, d, c, nt, nv, on_test;     /* rows (train, test, validation), features, labels; the report is on a test set */
    mlcl_simclr_options pre_v, ft_v;
    mlcl_trainer_ex_options ex;
    int resumed_phase;
    /* the results */
    mlcl_metrics paper, t05, honest, honest_g;
    int have_honest, best_ep, ep_run;
    double best_v, pre_s, fin_s;
    float thr_g;
    label_stat *ls;
} run;

/* the steps of main(), in order: each returns 0, or the exit status (its message printed) */
void run_init(run *r);
int run_options(run *r);      /* options.c */
int run_budget_flags(run *r); /* budget.c */
int run_check_paths(run *r);  /* paths.c */
int run_load(run *r);         /* data.c */
int run_sizes(run *r);        /* data.c */
int run_trainer(run *r);      /* trainer.c */
int run_train(run *r);        /* trainer.c */
int run_report(run *r);       /* report.c */
void run_free(run *r);

/* ---- globals */
extern flag *const cli_flags; /* the table (mlcl-train.c) */
extern const char *const method_names[];
extern volatile sig_atomic_t g_stop, g_graceful;
extern volatile pid_t g_child;
extern mode_t g_umask;
extern const char *npz_x, *npz_y;
extern mlcl_comm *g_comm;

/* ---- proc.c */
void install_signals(void);
int tmp_register(const char *path);
void tmp_unregister(int slot);
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ends_with(const char *s, const char *suf);
int cpus_available(void);
int run_plot(const char *dir, const char *log, int check_only);

/* ---- flags.c */
int parse_int(const char *s, double lo, double hi, long long *out);
int parse_args(int argc, char **argv);
void builtin_job(mlcl_train_options *o);
/* The CLI's MoCo options (o->moco pointed at the CLI's own copy, made on first use)
 * and the loss in them (the method's, made on first use); cli_hidden: their widths. */
mlcl_moco_options *cli_moco(mlcl_train_options *o);
mlcl_loss_options *cli_loss(mlcl_train_options *o);
extern int cli_hidden[MLCL_MLP_MAX_HIDDEN];
void usage(FILE *out);
int help_json(FILE *out);

/* ---- rules.c */
int check_applicability(int kind, int voc, int resnet, int simclr, int method);

/* ---- paths.c */
const char *file_kind(mode_t m);
int split_path(const char *path, char *dir, size_t n, const char **base);
int add_input_kind(const char *flagname, const char *path, int dirs);
int add_input(const char *flagname, const char *path);
void add_image_folder(const char *flagname, const char *path, const char *dir);
void add_dir_inputs(const char *dir);
int check_output_file(const char *flagname, const char *path, const char *may_equal, pathinfo *p);
int check_output_dir(const char *flagname, const char *path);
int sf_open(safe_file *s, const char *flagname, const char *target);
void sf_abort(safe_file *s);
int sf_commit(safe_file *s, int keep_open);
int log_close(safe_file *s);

/* ---- budget.c */
int check_budget(const shape *s);

/* ---- data.c */
int load_npy(mlcl_dataset **ds, const char *path, const char *labels_path);
int kind_of(int format);
int data_file(datafile *df, const char *flagname, const char *arg, const char *default_split);
int load_data(mlcl_dataset **ds, const char *flagname, const datafile *df, int labels, int features,
              int index_base, int image_side, int threads, const mlcl_dataset *like, const mlcl_image_list *like_list);
int load_list(mlcl_image_list **out, const datafile *df);
int stream_loader(mlcl_loader **out, const mlcl_image_list *list, int batch, int side, int threads, int prefetch,
                  uint64_t seed, int views, const mlcl_simclr_options *v);

/* ---- report.c */
double now_s(void);
void log_header(FILE *f);
void bar_end(app *a);
int progress_cb(const mlcl_progress *p, void *ctx);
void print_metrics_row(const char *name, const mlcl_metrics *m);
int per_label_stats(mlcl_trainer *t, const mlcl_dataset *ds, label_stat **out);
void print_per_label(const label_stat *ls, int c, const char *set);
int save_model(const mlcl_trainer *t, const char *path, const mlcl_dataset *train, const char *train_path,
               const char *test_path, const mlcl_metrics *paper, const mlcl_metrics *t05, int on_test,
               const mlcl_dataset *names_from);
void print_loader_stats(const char *phase, const mlcl_loader *l, double phase_s);

/* ---- mpi.c */
int mpi_attach(app *a, const char **log_path, const char **json_path);
int mpi_progress_cb(const mlcl_progress *p, void *ctx);

#endif

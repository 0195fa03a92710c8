/*
 * flags.c: the one table of mlcl-train's flags (name, type, range, choices,
 * value name and help text), its parser and the --help generated from it
 */
#include "cli.h"

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
int parse_int(const char *s, double lo, double hi, long long *out)
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

int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int id = -1;
        if (!strcmp(arg, "-h")) arg = "--help";
        for (int k = 0; k < FL_COUNT; k++)
            if (!strcmp(arg, cli_flags[k].name)) { id = k; break; }
        if (id < 0) return fail(2, "unknown option '%s' (try --help)", argv[i]);
        flag *f = &cli_flags[id];
        if (f->given) return fail(2, "%s is given twice", f->name);
        f->given = 1;
        if (f->type == T_BOOL) continue;
        if (i + 1 >= argc) return fail(2, "%s needs a value", f->name);
        f->val = argv[++i];
        if (parse_value(f)) return 2;
    }
    return 0;
}

const char *const method_names[] = { "none", "mulsupcon", "rld", "cld", "supcon-all", "supcon-any" };

/* ------------------------------------------------------------ --help
 * Generated from the flag table: every flag of `flags` is listed (a flag
 * in no section below still appears, under "Other options", with its type
 * and range), each with its value range from the table and its default from
 * mlcl_train_options_init() and this program's own constants. */
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
        FL_HELP_JSON, -1 } },
};

/* The CLI's MoCo options: o->moco pointed at static storage holding a copy
 * of what it pointed to (a preset's, or the defaults), with its own widths,
 * so that flags can change them; cli_loss adds the loss of o->method. */
static mlcl_moco_options cli_mo;
int cli_hidden[MLCL_MLP_MAX_HIDDEN];
static mlcl_loss_options cli_lo;
static const mlcl_moco_options moco_defaults = MLCL_MOCO_OPTIONS_INIT;
static const int default_widths[3] = { 256, 512, 256 };

mlcl_moco_options *cli_moco(mlcl_train_options *o)
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

mlcl_loss_options *cli_loss(mlcl_train_options *o)
{
    mlcl_moco_options *m = cli_moco(o);
    if (m->loss != &cli_lo) {
        mlcl_train_method_loss(&cli_lo, o->method);
        m->loss = &cli_lo;
    }
    return &cli_lo;
}

/* the built-in job (no --train, no --preset): a short CLD run on the mosaics */
void builtin_job(mlcl_train_options *o)
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

static const char *help_arg(const flag *f)
{
    if (f->arg) return f->arg;
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

void usage(FILE *out)
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
            const flag *f = &cli_flags[id];
            char text[1024], range[300], d0[128], d1[128];
            size_t t = (size_t)snprintf(text, sizeof text, "%s", f->help ? f->help : "");
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
            help_item(out, f->name, help_arg(f), text);
        }
    }
    fprintf(out, "\nThe progress: a bar with the rate and the time left on a terminal; plain epoch lines (the first,\n"
                 "every 10th, the last and every evaluated one) when stderr is not a terminal or with --quiet.\n"
                 "Exit status: 0 done, 1 failure (file, data, training, plot), 2 invalid options, 130 stopped by a signal.\n");
}

/* ------------------------------------------------------------ --help-json
 * The table for other programs (bindings/python's mlcl.train is checked
 * against it): every flag with its type, range or choices, value name,
 * section, default and help text, written with jansson. */
static const char *type_name(int type)
{
    static const char *const names[] = { [T_BOOL] = "bool", [T_INT] = "int", [T_FLOAT] = "float", [T_U64] = "uint64",
                                         [T_IN] = "file_in", [T_OUT] = "file_out", [T_OUTDIR] = "dir_out",
                                         [T_INDIR] = "dir_in", [T_CHOICE] = "choice", [T_SCHED] = "schedule",
                                         [T_HIDDEN] = "int_list", [T_KEYS] = "pair", [T_NAMES] = "name_list",
                                         [T_TEXT] = "text" };
    return names[type];
}

static json_t *json_choices(const char *choices)
{
    json_t *a = json_array();
    for (const char *s = choices; a;) {
        const char *e = strchr(s, '|');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (json_array_append_new(a, json_stringn(s, l))) { json_decref(a); return NULL; }
        if (!e) break;
        s = e + 1;
    }
    return a;
}

static json_t *json_item(const char *name, const char *type, double lo, double hi)
{
    json_t *o = json_object();
    int is_int = !strcmp(type, "int");
    if (!o || cli_json_set(o, "name", json_string(name)) || cli_json_set(o, "type", json_string(type)) ||
        cli_json_set(o, "min", is_int ? json_integer((json_int_t)lo) : json_real(lo)) ||
        cli_json_set(o, "max", is_int ? json_integer((json_int_t)hi) : json_real(hi))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *json_flag(int id, const char *section, const mlcl_train_options *o0)
{
    const flag *f = &cli_flags[id];
    char d0[128];
    help_default(id, o0, d0, sizeof d0);
    json_t *o = json_object();
    int bad = !o || cli_json_set(o, "name", json_string(f->name)) || cli_json_set(o, "type", json_string(type_name(f->type)));
    switch (f->type) {
    case T_INT: case T_HIDDEN:
        bad = bad || cli_json_set(o, "min", json_integer((json_int_t)f->lo)) ||
              cli_json_set(o, "max", json_integer((json_int_t)f->hi));
        if (f->type == T_HIDDEN) bad = bad || cli_json_set(o, "max_items", json_integer(8));
        break;
    case T_FLOAT:
        bad = bad || cli_json_set(o, "min", json_real(f->lo)) || cli_json_set(o, "max", json_real(f->hi));
        break;
    case T_U64: /* [0, 2^64 - 1]: the maximum is not a JSON integer jansson can write */
        bad = bad || cli_json_set(o, "min", json_integer(0)) || cli_json_set(o, "bits", json_integer(64));
        break;
    case T_CHOICE:
        bad = bad || cli_json_set(o, "choices", json_choices(f->choices));
        break;
    case T_SCHED: {
        json_t *items = json_array();
        bad = bad || !items || cli_json_set(o, "items", items) ||
              json_array_append_new(items, json_item("T0", "int", 1, 1e6)) ||
              json_array_append_new(items, json_item("Tmult", "int", 1, 1000)) ||
              json_array_append_new(items, json_item("eta_min", "float", 0, 10));
        break;
    }
    default: break;
    }
    bad = bad || cli_json_set(o, "arg", f->type == T_BOOL ? json_null() : json_string(help_arg(f))) ||
          cli_json_set(o, "default", d0[0] ? json_string(d0) : json_null()) ||
          cli_json_set(o, "section", section ? json_string(section) : json_null()) ||
          cli_json_set(o, "help", cli_json_text(f->help));
    if (bad) { json_decref(o); return NULL; }
    return o;
}

int help_json(FILE *out)
{
    mlcl_train_options o0;
    mlcl_train_options_init(&o0, MLCL_TRAIN_OPTIONS_VERSION);
    const char *section[FL_COUNT] = { NULL };
    for (size_t s = 0; s < sizeof help_sections / sizeof help_sections[0]; s++)
        for (int k = 0; k < FL_COUNT && help_sections[s].ids[k] >= 0; k++) section[help_sections[s].ids[k]] = help_sections[s].title;
    json_t *doc = json_object(), *list = json_array();
    int bad = !doc || !list || cli_json_set(doc, "program", json_string("mlcl-train")) ||
              cli_json_set(doc, "aliases", json_pack("{ss}", "-h", "--help")) || cli_json_set(doc, "flags", list);
    for (int id = 0; !bad && id < FL_COUNT; id++) bad = json_array_append_new(list, json_flag(id, section[id], &o0)) != 0;
    if (!bad) bad = cli_json_write(out, doc, CLI_JSON_DOUBLE) != 0 || fflush(out) != 0;
    json_decref(doc);
    return bad ? fail(1, "--help-json: %s", errno ? strerror(errno) : "out of memory") : 0;
}

/*
 * report.c: what the run reports: the progress (bar or epoch lines, the --log
 * rows), the metrics, the per-label table, --save-model and the loader lines
 */
#include "cli.h"

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

void log_header(FILE *f)
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

double now_s(void)
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
void bar_end(app *a)
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

int progress_cb(const mlcl_progress *p, void *ctx)
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

void print_metrics_row(const char *name, const mlcl_metrics *m)
{
    printf("%-22s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f\n", name, m->HA, m->ebF1, m->miF1, m->maF1, m->p_at_1, m->mAP);
}

/* ------------------------------------------------------------ per label
 * Name, support, AP and F1 at threshold 0.5 of every label on the evaluated
 * rows (the test set, or the --val-split rows), for --json and --per-label. */
int per_label_stats(mlcl_trainer *t, const mlcl_dataset *ds, label_stat **out)
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
        ls[j].name = cli_label_name(ds, j);
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

void print_per_label(const label_stat *ls, int c, const char *set)
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

/* ------------------------------------------------------------ --json
 * The document is built with jansson (every string escaped by it, label names
 * made valid UTF-8 first, every metric a double's 17 significant digits) and
 * written through a safe file; cli_json_write keeps the layout of a member
 * per line for the objects (the "metrics" line holds the metrics alone). */
static json_t *json_metrics(const mlcl_metrics *m)
{
    json_t *o = json_object();
    if (!o || cli_json_set(o, "HA", cli_json_real(m->HA)) || cli_json_set(o, "ebF1", cli_json_real(m->ebF1)) ||
        cli_json_set(o, "miF1", cli_json_real(m->miF1)) || cli_json_set(o, "maF1", cli_json_real(m->maF1)) ||
        cli_json_set(o, "p_at_1", cli_json_real(m->p_at_1)) || cli_json_set(o, "mAP", cli_json_real(m->mAP))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *json_per_label(const label_stat *ls, int c)
{
    json_t *a = json_array();
    for (int j = 0; a && j < c; j++) {
        char tmp[32];
        const char *name = ls[j].name;
        if (!name) { snprintf(tmp, sizeof tmp, "label%d", j); name = tmp; }
        json_t *e = json_object();
        if (!e || json_array_append_new(a, e) || cli_json_set(e, "name", cli_json_text(name)) ||
            cli_json_set(e, "support", json_integer(ls[j].support)) || cli_json_set(e, "predicted", json_integer(ls[j].predicted)) ||
            cli_json_set(e, "AP", cli_json_real(ls[j].ap)) || cli_json_set(e, "F1_t05", cli_json_real(ls[j].f1))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* jansson's integers are signed 64-bit: a seed above 2^63 - 1 is written as its decimal digits in a string */
static json_t *json_seed(uint64_t seed)
{
    if (seed <= (uint64_t)INT64_MAX) return json_integer((json_int_t)seed);
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)seed);
    return json_string(b);
}

static const char *const select_names[] = { "HA", "ebF1", "miF1", "maF1", "p@1", "mAP" };

static json_t *json_report(const run *r)
{
    json_t *doc = json_object(), *m = json_object(), *v = NULL, *t = json_object();
    int bad = !doc || !m || !t;
    bad = bad || cli_json_set(doc, "method", json_string(method_names[r->o.method])) ||
          cli_json_set(doc, "seed", json_seed(r->o.seed)) || cli_json_set(doc, "n_train", json_integer(r->n)) ||
          cli_json_set(doc, "n_test", json_integer(r->nt)) || cli_json_set(doc, "features", json_integer(r->d)) ||
          cli_json_set(doc, "labels", json_integer(r->c)) ||
          cli_json_set(doc, "evaluated_on", json_string(r->on_test ? "test" : "validation"));
    bad = bad || cli_json_set(m, "paper", json_metrics(&r->paper)) || cli_json_set(m, "t05", json_metrics(&r->t05));
    if (r->have_honest)
        bad = bad || cli_json_set(m, "validation_thresholds", json_metrics(&r->honest)) ||
              cli_json_set(m, "validation_global_threshold", json_metrics(&r->honest_g));
    bad = bad || cli_json_set(doc, "metrics", json_incref(m));
    if (r->val) {
        v = json_object();
        bad = bad || !v || cli_json_set(v, "rows", json_integer(r->nv)) ||
              cli_json_set(v, "select_metric", json_string(r->vopt.select_metric == MLCL_SELECT_NONE
                                                           ? "none" : select_names[r->vopt.select_metric])) ||
              cli_json_set(v, "patience", json_integer(r->vopt.patience)) ||
              cli_json_set(v, "best_epoch", json_integer(r->best_ep)) || cli_json_set(v, "epochs_run", json_integer(r->ep_run)) ||
              cli_json_set(v, "best_value", cli_json_real(r->best_v)) ||
              cli_json_set(v, "global_threshold", r->have_honest ? cli_json_real((double)r->thr_g) : json_null()) ||
              cli_json_set(doc, "validation", json_incref(v));
    }
    bad = bad || cli_json_set(doc, "per_label", json_per_label(r->ls, r->c));
    bad = bad || cli_json_set(t, "pretrain_s", cli_json_real(r->pre_s)) || cli_json_set(t, "finetune_s", cli_json_real(r->fin_s)) ||
          cli_json_set(doc, "timing", json_incref(t));
    json_decref(m);
    json_decref(v);
    json_decref(t);
    if (bad) { json_decref(doc); return NULL; }
    return doc;
}

/* --json: the document through a safe file (a temporary file renamed after every write succeeded) */
static int write_json(const run *r)
{
    json_t *doc = json_report(r);
    if (!doc) return fail(1, "--json %s: out of memory", r->json_path);
    safe_file js;
    int rc = sf_open(&js, "--json", r->json_pi.canon);
    if (rc == 0 && cli_json_write(js.f, doc, CLI_JSON_DOUBLE) != 0) {
        int e = errno ? errno : EIO;
        sf_abort(&js);
        rc = fail(1, "--json %s: write failed: %s", js.target, strerror(e));
    } else if (rc == 0) {
        rc = sf_commit(&js, 0);
    }
    json_decref(doc);
    return rc ? 1 : 0;
}

/* --save-model: the model with label names, data files, training-set hash
 * and the final metrics (not when they were measured on a validation split) */
int save_model(const mlcl_trainer *t, const char *path, const mlcl_dataset *train, const char *train_path,
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
        cli_label_name(names_from, 0)) {
        names = malloc(sizeof *names * (size_t)c);
        if (!names) return fail(1, "--save-model %s: out of memory", path);
        for (int j = 0; j < c; j++) names[j] = cli_label_name(names_from, j);
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

void print_loader_stats(const char *phase, const mlcl_loader *l, double phase_s)
{
    mlcl_loader_stats st = MLCL_LOADER_STATS_INIT;
    if (!l || mlcl_loader_stats_get(l, &st) != MLCL_OK) return;
    double rate = st.busy_seconds > 0 ? (double)st.images / st.busy_seconds : 0;
    double frac = phase_s > 0 ? st.wait_seconds / phase_s : 0;
    printf("loader %-9s %lld images in %lld batches, %d threads: %.1f images/s per thread; waited %.3f s for data, "
           "%.1f%% of the step time; %lld skipped; ring %.2f MB\n", phase, st.images, st.batches, st.threads, rate,
           st.wait_seconds, 100.0 * (frac > 1 ? 1 : frac), st.skipped, (double)st.ring_bytes / 1048576.0);
}

/* the results: the metrics on stdout, --json, --save-model, --plot */
int run_report(run *r)
{
    int status = 0;
    if (log_close(&r->a.log)) status = 1;
    if (mlcl_trainer_evaluate(r->a.trainer, r->test, &r->paper, &r->t05) != MLCL_OK) return fail(1, "%s", mlcl_last_error());
    if ((r->json_path || G(FL_PER_LABEL)) && per_label_stats(r->a.trainer, r->test, &r->ls)) return 1;
    mlcl_trainer_timing(r->a.trainer, &r->pre_s, &r->fin_s);
    if (r->resume_path)
        printf("\nmethod %s, seed %llu, %d+%d epochs asked for; this run trained %d+%d%s (pretrain %.1f s, fine-tune %.1f s in all)\n",
               method_names[r->o.method], (unsigned long long)r->o.seed, r->o.pretrain_epochs, r->o.finetune_epochs, r->a.trained[1],
               r->a.trained[2], r->resumed_phase >= 3 && !r->a.trained[1] && !r->a.trained[2] ? ", the checkpoint's run was finished" : "",
               r->pre_s, r->fin_s);
    else
        printf("\nmethod %s, seed %llu, %d+%d epochs (pretrain %.1f s, fine-tune %.1f s)\n", method_names[r->o.method],
               (unsigned long long)r->o.seed, r->a.trained[1], r->a.trained[2], r->pre_s, r->fin_s);
    printf("%-22s %7s %7s %7s %7s %7s %7s\n", "metrics", "HA", "ebF1", "miF1", "maF1", "p@1", "mAP");
    print_metrics_row("paper protocol (sweep)", &r->paper);
    print_metrics_row("threshold 0.5", &r->t05);
    /* the thresholds chosen on the validation rows, applied to the report set */
    r->have_honest = r->val && mlcl_trainer_evaluate_thresholds(r->a.trainer, r->test, &r->honest, &r->honest_g) == MLCL_OK;
    if (r->have_honest) {
        print_metrics_row(r->vopt.thresholds == MLCL_THRESHOLDS_GLOBAL ? "val threshold (model)" : "val thresholds/label", &r->honest);
        print_metrics_row("val threshold, global", &r->honest_g);
        mlcl_trainer_thresholds(r->a.trainer, r->c, NULL, &r->thr_g);
    }
    if (r->val) mlcl_trainer_selection(r->a.trainer, &r->best_ep, &r->best_v, NULL, &r->ep_run);
    if (r->val && r->vopt.select_metric != MLCL_SELECT_NONE)
        printf("fine-tuning epoch %d of the %d run kept (best validation %s %.4f)\n", r->best_ep + 1, r->ep_run,
               select_names[r->vopt.select_metric], r->best_v);
    if (r->have_honest) printf("global threshold chosen on %d validation rows: %.4f\n", r->nv, (double)r->thr_g);
    if (G(FL_PER_LABEL)) print_per_label(r->ls, r->c, r->on_test ? "test" : "held-out (--val-split)");
    if (r->stream) {
        print_loader_stats("pretrain:", r->pre_ld, r->pre_s);
        print_loader_stats("finetune:", r->ft_ld, r->fin_s);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) { fprintf(stderr, "mlcl-train: writing the results to stdout failed: %s\n", strerror(errno)); status = 1; }
    if (r->json_path && write_json(r)) status = 1;
    if (r->save_model_path && (!g_comm || g_comm->rank == 0) &&
        save_model(r->a.trainer, r->model_pi.canon, r->train, r->train_path, r->test_path, &r->paper, &r->t05, r->on_test, r->test))
        status = 1;
    if (r->a.plot_dir) {
        /* distributions of a few test rows for the picture, then matplotlib */
        int pst = 0;
        if (mkdir(r->a.plot_dir, 0777) != 0 && errno != EEXIST) pst = fail(1, "--plot %s: %s", r->a.plot_dir, strerror(errno));
        struct stat st;
        if (!pst && (stat(r->a.plot_dir, &st) != 0 || !S_ISDIR(st.st_mode))) pst = fail(1, "--plot %s: is not a directory", r->a.plot_dir);
        char rdir[PATH_MAX], dcanon[PATH_MAX + 32];
        if (!pst && !realpath(r->a.plot_dir, rdir)) pst = fail(1, "--plot %s: %s", r->a.plot_dir, strerror(errno));
        if (!pst) snprintf(dcanon, sizeof dcanon, "%s/distributions.csv", rdir);
        int k = r->nt < 6 ? r->nt : 6;
        float *dist = malloc(sizeof(float) * (size_t)k * r->c);
        float *score = malloc(sizeof(float) * (size_t)k * r->c);
        if (!pst && (!dist || !score)) pst = fail(1, "--plot %s: out of memory", r->a.plot_dir);
        if (!pst && (mlcl_trainer_distributions(r->a.trainer, k, mlcl_dataset_features(r->test), dist) != MLCL_OK ||
                     mlcl_trainer_predict(r->a.trainer, k, mlcl_dataset_features(r->test), score) != MLCL_OK))
            pst = fail(1, "--plot %s: %s", r->a.plot_dir, mlcl_last_error());
        safe_file df;
        if (!pst && sf_open(&df, "--plot", dcanon) != 0) pst = 1;
        if (!pst) {
            const uint8_t *y = mlcl_dataset_labels(r->test);
            fprintf(df.f, "row,label,y,d,score\n");
            size_t c = (size_t)r->c;
            for (int row = 0; row < k; row++)
                for (size_t j = 0; j < c; j++)
                    fprintf(df.f, "%d,%zu,%d,%.6f,%.6f\n", row, j, y[row * c + j], dist[row * c + j], score[row * c + j]);
            if (sf_commit(&df, 0)) pst = 1;
        }
        free(dist);
        free(score);
        if (!pst && run_plot(r->a.plot_dir, r->log_path ? r->log_pi.canon : NULL, 0)) pst = 1;
        if (pst) status = 1;
    }
    return status;
}

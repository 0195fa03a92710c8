/*
 * budget.c: the memory the run needs at least, item by item, checked against
 * what this process may use before anything is allocated
 */
#include "cli.h"

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

int check_budget(const shape *s)
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

/* a first memory estimate from the flags alone, before reading anything */
int run_budget_flags(run *r)
{
    memset(&r->sh, 0, sizeof r->sh);
    r->sh.batch = r->o.batch; r->sh.K = cli_moco(&r->o)->queue_size; r->sh.m = cli_moco(&r->o)->proj_dim; r->sh.T = r->threads;
    r->sh.n_hidden = cli_moco(&r->o)->n_hidden; r->sh.hidden = cli_hidden;
    r->sh.resnet = r->resnet; r->sh.small_stem = strstr(r->encoder, "-small") != NULL; r->sh.base_width = r->base_width;
    if (r->kind == D_MOSAIC) {
        r->sh.n = r->mosaic_train; r->sh.nt = r->val_split > 0 ? 0 : r->mosaic_test; r->sh.d = MOSAIC_FEATURES; r->sh.c = MOSAIC_LABELS;
        r->sh.channels = 1; r->sh.side = r->image_size > 0 ? r->image_size : 56;
        snprintf(r->d_desc, sizeof r->d_desc, "the mosaics' %d features", MOSAIC_FEATURES);
        snprintf(r->c_desc, sizeof r->c_desc, "the mosaics' %d labels", MOSAIC_LABELS);
        snprintf(r->n_desc, sizeof r->n_desc, "--mosaic-train %d", r->mosaic_train);
        snprintf(r->nt_desc, sizeof r->nt_desc, "--mosaic-test %d", r->mosaic_test);
    } else if (r->kind == D_IMAGES) {
        /* n x 3 x side x side floats once read (the readers refuse a set larger than the RAM themselves) */
        r->sh.d = 3.0 * r->manifest_side * r->manifest_side; r->sh.side = r->manifest_side; r->sh.channels = 3;
        snprintf(r->d_desc, sizeof r->d_desc, "%s %d (3 x %d x %d values per image)",
                 r->image_size > 0 ? "--image-size" : "the default --image-size", r->manifest_side, r->manifest_side, r->manifest_side);
        snprintf(r->c_desc, sizeof r->c_desc, "the manifest's labels");
        snprintf(r->n_desc, sizeof r->n_desc, "--train %s", r->train_path);
        snprintf(r->nt_desc, sizeof r->nt_desc, "%s %s", r->test_path ? "--test" : "--val-split", r->test_path ? r->test_path : V(FL_VAL_SPLIT));
    } else {
        r->sh.d = r->features; r->sh.c = r->labels; r->sh.side = r->image_size; r->sh.channels = r->image_size > 0 ? 1 : 0;
        snprintf(r->d_desc, sizeof r->d_desc, "--features %d", r->features);
        snprintf(r->c_desc, sizeof r->c_desc, "--labels %d", r->labels);
        snprintf(r->n_desc, sizeof r->n_desc, "--train %s", r->train_path);
        snprintf(r->nt_desc, sizeof r->nt_desc, "%s %s", r->test_path ? "--test" : "--val-split", r->test_path ? r->test_path : V(FL_VAL_SPLIT));
    }
    r->sh.d_desc = r->d_desc; r->sh.c_desc = r->c_desc; r->sh.n_desc = r->n_desc; r->sh.nt_desc = r->nt_desc;
    if (check_budget(&r->sh)) return 2;
    const char *env_threads = getenv("MLCL_NUM_THREADS"); /* the CLI's default for --threads (the library reads no environment) */
    if (r->threads == 0 && env_threads && atoi(env_threads) > 0) r->threads = atoi(env_threads);
    int lib_threads = r->threads; /* set always: it also makes OpenBLAS single-threaded (docs/abi.md) */
    if (lib_threads <= 0) mlcl_get_num_threads(&lib_threads);
    if (mlcl_set_num_threads(lib_threads) != MLCL_OK) return fail(2, "--threads: %s", mlcl_last_error());
    return 0;
}

/* Hostile callers of the trainer, the checkpoint writer and the core (issue
 * 12): one test case per finding, each of which failed on the code before the
 * fix (see the commit message of the suite). */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <cblas.h>
#include "testutil.h"

/* the library's internal error recorder (hidden in the shared library; the
 * suites link the static one) */
int mlcl__err(int status, const char *fmt, ...);

/* ------------------------------------------------------------------ helpers */

static mlcl_dataset *synthetic(int n, int d, int c, uint64_t seed)
{
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, seed));
    float *x = malloc(sizeof(float) * n * d), *u = malloc(sizeof(float) * n * c);
    uint8_t *y = malloc((size_t)n * c);
    ck_assert_ok(mlcl_rng_normal(r, x, (size_t)n * d, 0.3f));
    ck_assert_ok(mlcl_rng_uniform(r, u, (size_t)n * c));
    for (int i = 0; i < n; i++) {
        int any = 0;
        for (int j = 0; j < c; j++) { y[i * c + j] = u[i * c + j] < 0.3f; any |= y[i * c + j]; }
        if (!any) y[i * c + (i % c)] = 1;
        for (int j = 0; j < c; j++)
            if (y[i * c + j]) x[(size_t)i * d + (j % d)] += 1.0f;
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, n, d, c, x, y));
    free(x); free(u); free(y);
    mlcl_rng_free(r);
    return ds;
}

static void small_opts(mlcl_train_options *o)
{
    ck_assert_ok(mlcl_train_options_init(o, MLCL_TRAIN_OPTIONS_VERSION));
    o->batch = 16;
    o->seed = 5;
    test_moco_of(o)->o.queue_size = 32;
    test_moco_of(o)->hidden[0] = 16; test_moco_of(o)->hidden[1] = 24; test_moco_of(o)->hidden[2] = 16;
    test_moco_of(o)->o.proj_dim = 8;
    o->pretrain_epochs = 1;
    o->finetune_epochs = 1;
    o->pretrain_lr = 1e-3f;
}

static void tmpdir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "/tmp/mlcl_hostile_%s_XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rmdir(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int count_substr(const char *s, const char *needle)
{
    int k = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) k++;
    return k;
}

/* ------------------------------------------- finding 9: error text composition */

START_TEST(error_message_composes_through_a_scratch_copy)
{
    /* an original message, then the trainer's wrapping with mlcl_last_error() as argument */
    mlcl__err(MLCL_ENUMERIC, "mlcl_moco_step: x0[%d] = %s is not finite", 256, "inf");
    char orig[256];
    snprintf(orig, sizeof orig, "%s", mlcl_last_error());
    int rc = mlcl__err(MLCL_ENUMERIC, "pretraining epoch %d step %lld: %s", 0, 5LL, mlcl_last_error());
    ck_assert_int_eq(rc, MLCL_ENUMERIC);
    char want[512];
    snprintf(want, sizeof want, "pretraining epoch 0 step 5: %s", orig);
    ck_assert_str_eq(mlcl_last_error(), want);
    /* twice nested, and a message longer than half the buffer */
    char longmsg[400];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    mlcl__err(MLCL_EIO, "%s", longmsg);
    mlcl__err(MLCL_EIO, "a: %s", mlcl_last_error());
    mlcl__err(MLCL_EIO, "b: %s", mlcl_last_error());
    ck_assert(strncmp(mlcl_last_error(), "b: a: xxxx", 10) == 0);
    ck_assert_int_eq(count_substr(mlcl_last_error(), "a: "), 1);
    ck_assert_uint_eq(strspn(mlcl_last_error() + 6, "x"), strlen(mlcl_last_error()) - 6);
}
END_TEST

/* the same through the trainer: a learning rate that makes pretraining diverge */
START_TEST(trainer_error_is_not_duplicated)
{
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    o.method = MLCL_METHOD_MULSUPCON;
    o.pretrain_epochs = 5;
    o.pretrain_optim = MLCL_OPTIM_SGD;
    o.pretrain_lr = 1e30f;
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    int rc = mlcl_trainer_run(t);
    ck_assert_int_eq(rc, MLCL_ENUMERIC);
    const char *m = mlcl_last_error();
    ck_assert_msg(strncmp(m, "pretraining epoch ", 18) == 0, "message '%s'", m);
    ck_assert_msg(count_substr(m, "pretraining epoch") == 1, "duplicated prefix: '%s'", m);
    /* (which check sees the overflow first depends on the GEMM kernel's rounding) */
    const char *orig = strstr(m, "is not finite") ? "is not finite" : "NaN or Inf";
    ck_assert_msg(strstr(m, orig) != NULL, "original message lost: '%s'", m);
    ck_assert_msg(count_substr(m, orig) == 1, "original message repeated: '%s'", m);
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
}
END_TEST

/* ------------------------------------------------------- finding 8: resume */

typedef struct { const char *name; const char *was, *now; void (*mutate)(mlcl_train_options *); } change;
static void m_tau(mlcl_train_options *o) { test_moco_loss(o)->tau = 0.2f; }
static void m_alpha(mlcl_train_options *o) { test_moco_loss(o)->alpha = 0.5f; }
static void m_beta(mlcl_train_options *o) { test_moco_loss(o)->beta = 0.25f; }
static void m_mask(mlcl_train_options *o) { test_moco_loss(o)->mask = MLCL_MASK_ALL; }
static void m_ftlr(mlcl_train_options *o) { o->finetune_lr = 1e-3f; }
static void m_prelr(mlcl_train_options *o) { o->pretrain_lr = 2e-3f; }
static void m_wd(mlcl_train_options *o) { o->pretrain_weight_decay = 0; }
static void m_dropout(mlcl_train_options *o) { test_moco_of(o)->o.dropout = 0.3f; }
static void m_momentum(mlcl_train_options *o) { test_moco_of(o)->o.momentum = 0.99f; }
static void m_maskp(mlcl_train_options *o) { o->pretrain_mask_p = 0.3f; }
static void m_sched(mlcl_train_options *o) { o->finetune_T_0 = 7; }
static void m_method(mlcl_train_options *o) { o->method = MLCL_METHOD_RLD; }
static void m_batch(mlcl_train_options *o) { o->batch = 20; }
static void m_queue(mlcl_train_options *o) { test_moco_of(o)->o.queue_size = 48; }
static void m_hidden(mlcl_train_options *o) { test_moco_of(o)->hidden[1] = 20; }
static void m_seed(mlcl_train_options *o) { o->seed = 6; }
static void m_std(mlcl_train_options *o) { o->standardize = 0; }

START_TEST(resume_refuses_changed_options)
{
    char dir[64], path[128];
    tmpdir(dir, sizeof dir, "opts");
    snprintf(path, sizeof path, "%s/ck", dir);
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    ck_assert_ok(mlcl_trainer_run_epochs(t, 1, NULL));
    ck_assert_ok(mlcl_trainer_save(t, path));
    mlcl_trainer_free(t);
    static const change ch[] = {
        { "loss.tau", "0.1", "0.2", m_tau }, { "loss.alpha", "0.1", "0.5", m_alpha },
        { "loss.beta", "1", "0.25", m_beta }, { "loss.mask", "", "", m_mask },
        { "finetune.lr", "0.0004", "0.001", m_ftlr }, { "pretrain.lr", "0.001", "0.002", m_prelr },
        { "pretrain.weight_decay", "0.0001", "0", m_wd }, { "dropout", "0.2", "0.3", m_dropout },
        { "momentum", "0.999", "0.99", m_momentum }, { "pretrain.mask_p", "0.5", "0.3", m_maskp },
        { "finetune.T_0", "25", "7", m_sched }, { "method", "3", "2", m_method },
        { "batch", "16", "20", m_batch }, { "queue_size", "32", "48", m_queue },
        { "encoder", "mlp 6 -> 16,24,16", "mlp 6 -> 16,20,16", m_hidden }, { "seed", "5", "6", m_seed },
        { "standardize", "1", "0", m_std },
    };
    for (size_t i = 0; i < sizeof ch / sizeof *ch; i++) {
        mlcl_train_options o2 = o;
        ch[i].mutate(&o2);
        ck_assert_ok(mlcl_trainer_create(&t, &o2, ds));
        mlcl_clear_error();
        int rc = mlcl_trainer_load(t, path);
        const char *m = mlcl_last_error();
        ck_assert_msg(rc == MLCL_EINVAL, "%s changed: load returned %d (%s)", ch[i].name, rc, m);
        char want[128];
        snprintf(want, sizeof want, "trained with %s %s", ch[i].name, ch[i].was);
        ck_assert_msg(strstr(m, want), "%s: message '%s' lacks '%s'", ch[i].name, m, want);
        snprintf(want, sizeof want, "this trainer has %s %s", ch[i].name, ch[i].now);
        ck_assert_msg(strstr(m, want), "%s: message '%s' lacks '%s'", ch[i].name, m, want);
        ck_assert_msg(strstr(m, path), "message '%s' does not name the file", m);
        mlcl_trainer_free(t);
    }
    /* other data of the same shape */
    mlcl_dataset *other = synthetic(64, 6, 4, 4);
    ck_assert_ok(mlcl_trainer_create(&t, &o, other));
    ck_assert_status_msg(mlcl_trainer_load(t, path), MLCL_EINVAL, "data_crc32");
    mlcl_trainer_free(t);
    mlcl_dataset_free(other);
    /* epochs shrinking */
    mlcl_train_options o3 = o;
    o3.finetune_epochs = 0;
    ck_assert_ok(mlcl_trainer_create(&t, &o3, ds));
    ck_assert_status_msg(mlcl_trainer_load(t, path), MLCL_EINVAL, "may grow, not shrink");
    mlcl_trainer_free(t);
    /* the unchanged options load */
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    ck_assert_ok(mlcl_trainer_load(t, path));
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
    rm_rf(dir);
}
END_TEST

static int count_ft_epochs(const mlcl_progress *p, void *ctx)
{
    if (p->end_of_epoch && p->phase == 2) (*(int *)ctx)++;
    return 0;
}

START_TEST(resume_finished_run_with_more_epochs_trains_them)
{
    char dir[64], path[128];
    tmpdir(dir, sizeof dir, "grow");
    snprintf(path, sizeof path, "%s/ck", dir);
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    /* a finished 1+1 run */
    mlcl_trainer *a, *b, *ref;
    ck_assert_ok(mlcl_trainer_create(&a, &o, ds));
    ck_assert_ok(mlcl_trainer_run(a));
    ck_assert_ok(mlcl_trainer_save(a, path));
    /* resumed with finetune.epochs 3: two more fine-tuning epochs */
    mlcl_train_options o3 = o;
    o3.finetune_epochs = 3;
    ck_assert_ok(mlcl_trainer_create(&b, &o3, ds));
    ck_assert_ok(mlcl_trainer_load(b, path));
    int phase, epoch, ft = 0;
    ck_assert_ok(mlcl_trainer_position(b, &phase, &epoch));
    ck_assert_int_eq(phase, 2);
    ck_assert_int_eq(epoch, 1);
    ck_assert_ok(mlcl_trainer_set_callback(b, count_ft_epochs, &ft));
    ck_assert_ok(mlcl_trainer_run(b));
    ck_assert_int_eq(ft, 2);
    ck_assert_ok(mlcl_trainer_position(b, &phase, &epoch));
    ck_assert_int_eq(phase, 3);
    /* the same result as an uninterrupted 1+3 run */
    ck_assert_ok(mlcl_trainer_create(&ref, &o3, ds));
    ck_assert_ok(mlcl_trainer_run(ref));
    int n, d, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    float *s1 = malloc(sizeof(float) * n * c), *s2 = malloc(sizeof(float) * n * c), *s0 = malloc(sizeof(float) * n * c);
    ck_assert_ok(mlcl_trainer_predict(a, n, mlcl_dataset_features(ds), s0));
    ck_assert_ok(mlcl_trainer_predict(b, n, mlcl_dataset_features(ds), s1));
    ck_assert_ok(mlcl_trainer_predict(ref, n, mlcl_dataset_features(ds), s2));
    ck_assert_msg(memcmp(s1, s2, sizeof(float) * n * c) == 0, "resumed 1+3 differs from an uninterrupted 1+3 run");
    ck_assert_msg(memcmp(s0, s1, sizeof(float) * n * c) != 0, "the extra epochs changed nothing");
    free(s0); free(s1); free(s2);
    mlcl_trainer_free(a); mlcl_trainer_free(b); mlcl_trainer_free(ref);
    mlcl_dataset_free(ds);
    rm_rf(dir);
}
END_TEST

static long file_size(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return (long)st.st_size;
}

START_TEST(checkpoint_trailing_bytes_and_old_format)
{
    char dir[64], path[128];
    tmpdir(dir, sizeof dir, "trail");
    snprintf(path, sizeof path, "%s/ck", dir);
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    ck_assert_ok(mlcl_trainer_save(t, path));
    ck_assert_ok(mlcl_trainer_load(t, path));
    long sz = file_size(path);
    /* one byte appended */
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    fputc(0, f);
    fclose(f);
    ck_assert_status_msg(mlcl_trainer_load(t, path), MLCL_EFORMAT, path);
    ck_assert_msg(strstr(mlcl_last_error(), "after the end"), "message: %s", mlcl_last_error());
    ck_assert_int_eq(truncate(path, sz), 0);
    ck_assert_ok(mlcl_trainer_load(t, path));
    /* a format-1 header (with a valid header CRC) is refused with EVERSION */
    unsigned char h[40];
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fread(h, 1, 40, f), 40);
    h[8] = 1; h[9] = h[10] = h[11] = 0;
    uint32_t crc = (uint32_t)crc32(0L, h, 36);
    for (int i = 0; i < 4; i++) h[36 + i] = (unsigned char)(crc >> (8 * i));
    fseek(f, 0, SEEK_SET);
    ck_assert_int_eq(fwrite(h, 1, 40, f), 40);
    fclose(f);
    ck_assert_status_msg(mlcl_trainer_load(t, path), MLCL_EVERSION, "format 1");
    /* format 2 (raw struct sections, before libmlcl 1.0) likewise */
    h[8] = 2;
    crc = (uint32_t)crc32(0L, h, 36);
    for (int i = 0; i < 4; i++) h[36 + i] = (unsigned char)(crc >> (8 * i));
    f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(h, 1, 40, f), 40);
    fclose(f);
    ck_assert_status_msg(mlcl_trainer_load(t, path), MLCL_EVERSION, "format 2");
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
    rm_rf(dir);
}
END_TEST

/* ------------------------------------------- output safety of the atomic writer */

static void assert_refused(mlcl_trainer *t, const char *path)
{
    mlcl_clear_error();
    int rc = mlcl_trainer_save(t, path);
    ck_assert_msg(rc == MLCL_EINVAL || rc == MLCL_EIO, "save to %s returned %d (%s)", path, rc, mlcl_last_error());
    ck_assert_msg(strstr(mlcl_last_error(), path), "message '%s' does not name %s", mlcl_last_error(), path);
    /* and the check a program makes before training says the same */
    mlcl_clear_error();
    rc = mlcl_check_output_path(path);
    ck_assert_msg(rc == MLCL_EINVAL || rc == MLCL_EIO, "check of %s returned %d (%s)", path, rc, mlcl_last_error());
    ck_assert_msg(strstr(mlcl_last_error(), path), "message '%s' does not name %s", mlcl_last_error(), path);
}

START_TEST(save_refuses_non_regular_targets)
{
    char dir[64], p[200];
    tmpdir(dir, sizeof dir, "nodes");
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    int expected = 0;
    struct stat st;
    /* a character device like /dev/null (root only) */
    snprintf(p, sizeof p, "%s/null", dir);
    if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        expected++;
        assert_refused(t, p);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_msg(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "the device node was replaced");
        /* through a symbolic link too */
        char l[200];
        snprintf(l, sizeof l, "%s/link", dir);
        ck_assert_int_eq(symlink(p, l), 0);
        expected++;
        assert_refused(t, l);
        ck_assert_int_eq(lstat(l, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISCHR(st.st_mode));
    } else {
        fprintf(stderr, "save_refuses_non_regular_targets: mknod failed (%s): device-node case skipped\n", strerror(errno));
    }
    /* a FIFO (opening it for writing would block) */
    snprintf(p, sizeof p, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    expected++;
    assert_refused(t, p);
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    /* a directory, with and without a trailing slash */
    snprintf(p, sizeof p, "%s/sub", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    expected++;
    assert_refused(t, p);
    ck_assert_int_eq(lstat(p, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    snprintf(p, sizeof p, "%s/sub/", dir);
    assert_refused(t, p);
    /* a socket */
    snprintf(p, sizeof p, "%s/sock", dir);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", p);
    if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
        expected++;
        assert_refused(t, p);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
    }
    if (s >= 0) close(s);
    /* nothing else was created (no temporary files left) */
    ck_assert_int_eq(test_count_entries(dir), expected);
    /* a regular file is replaced, keeping its permission bits */
    snprintf(p, sizeof p, "%s/regular", dir);
    ck_assert_ok(mlcl_check_output_path(p)); /* absent, in a writable directory */
    int fd = open(p, O_CREAT | O_WRONLY, 0640);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(chmod(p, 0640), 0);
    ck_assert_ok(mlcl_check_output_path(p));
    ck_assert_ok(mlcl_trainer_save(t, p));
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    ck_assert_int_gt(st.st_size, 40);
    ck_assert_ok(mlcl_trainer_load(t, p));
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
    rm_rf(dir);
}
END_TEST

/* a write that fails half-way (file size limit): EIO, the old file intact, no temporary left */
START_TEST(save_checks_every_write)
{
    char dir[64], p[160];
    tmpdir(dir, sizeof dir, "fsize");
    snprintf(p, sizeof p, "%s/ck", dir);
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    FILE *f = fopen(p, "wb");
    fputs("previous contents", f);
    fclose(f);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 4096, 4096 };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
        int rc = mlcl_trainer_save(t, p);
        if (rc != MLCL_EIO) _exit(11);
        if (!strstr(mlcl_last_error(), p) || !strstr(mlcl_last_error(), "write")) _exit(12);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    char buf[64] = { 0 };
    f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_gt(fread(buf, 1, sizeof buf - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(buf, "previous contents");
    ck_assert_int_eq(test_count_entries(dir), 1);
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
    rm_rf(dir);
}
END_TEST

/* ------------------------------------------------ budgets before allocation */

static atomic_size_t g_biggest;
static void *count_alloc(size_t size, void *ctx)
{
    (void)ctx;
    size_t prev = atomic_load(&g_biggest);
    while (size > prev && !atomic_compare_exchange_weak(&g_biggest, &prev, size)) {}
    void *p = NULL;
    if (posix_memalign(&p, 64, size ? size : 1) != 0) return NULL;
    return p;
}
static void count_free(void *p, void *ctx) { (void)ctx; free(p); }

/* in a child under RLIMIT_AS 2 GB: each giant size is refused with a message
 * saying what it needs, without attempting an allocation over 256 MB */
static int budget_child(void)
{
    struct rlimit rl = { (rlim_t)2 << 30, (rlim_t)2 << 30 };
    if (setrlimit(RLIMIT_AS, &rl) != 0) return 20;
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, count_alloc, count_free, NULL };
    mlcl_set_allocator(&a);
    mlcl_dataset *ds = NULL;
    {
        int n = 64, d = 6, c = 4;
        float *x = calloc((size_t)n * d, sizeof(float));
        uint8_t *y = calloc((size_t)n * c, 1);
        for (int i = 0; i < n; i++) { x[i * d + i % d] = (float)i; y[i * c + i % c] = 1; }
        if (mlcl_dataset_create_from_arrays(&ds, n, d, c, x, y) != MLCL_OK) return 21;
        free(x); free(y);
    }
    mlcl_train_options o;
    small_opts(&o);
    o.batch = 128;
    test_moco_of(&o)->o.proj_dim = 256;
    test_moco_of(&o)->o.queue_size = 10000000; /* --queue 1e7 of the report: 20 GB */
    mlcl_trainer *t = NULL;
    int rc = mlcl_trainer_create(&t, &o, ds);
    if (rc != MLCL_ENOMEM) { fprintf(stderr, "queue: rc %d %s\n", rc, mlcl_last_error()); return 22; }
    if (!strstr(mlcl_last_error(), "queue_size 10000000") || !strstr(mlcl_last_error(), " GB")) {
        fprintf(stderr, "queue message: %s\n", mlcl_last_error());
        return 23;
    }
    fprintf(stderr, "budget: %s\n", mlcl_last_error());
    /* the MoCo pair alone: input width, labels, queue */
    mlcl_moco_options mo;
    mlcl_moco_options_init(&mo, MLCL_MOCO_OPTIONS_VERSION);
    mo.in_dim = 100000000; mo.n_labels = 5;
    mlcl_moco *m = NULL;
    rc = mlcl_moco_create(&m, &mo);
    if (rc != MLCL_ENOMEM || !strstr(mlcl_last_error(), "in_dim 100000000")) { fprintf(stderr, "in_dim: %d %s\n", rc, mlcl_last_error()); return 24; }
    mo.in_dim = 10; mo.n_labels = 10000000;
    rc = mlcl_moco_create(&m, &mo);
    if (rc != MLCL_ENOMEM || !strstr(mlcl_last_error(), "n_labels 10000000")) { fprintf(stderr, "labels: %d %s\n", rc, mlcl_last_error()); return 25; }
    mo.n_labels = 5; mo.queue_size = 10000000;
    rc = mlcl_moco_create(&m, &mo);
    if (rc != MLCL_ENOMEM || !strstr(mlcl_last_error(), "queue_size 10000000")) { fprintf(stderr, "moco queue: %d %s\n", rc, mlcl_last_error()); return 26; }
    if (atomic_load(&g_biggest) > ((size_t)256 << 20)) {
        fprintf(stderr, "an allocation of %zu bytes was attempted\n", atomic_load(&g_biggest));
        return 27;
    }
    /* a sane size still works under the limit */
    small_opts(&o);
    if (mlcl_trainer_create(&t, &o, ds) != MLCL_OK) { fprintf(stderr, "small: %s\n", mlcl_last_error()); return 28; }
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
    mlcl_set_allocator(NULL);
    return 0;
}

START_TEST(giant_sizes_are_refused_before_allocation)
{
    if (getenv("MLCL_SANITIZED")) {
        fprintf(stderr, "giant_sizes_are_refused_before_allocation: skipped under ASan (RLIMIT_AS)\n");
        return;
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) _exit(budget_child());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(!WIFSIGNALED(status), "the child was killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit %d", WEXITSTATUS(status));
}
END_TEST

/* --------------------------------------------------------- busy handles */

typedef struct busy_ctx {
    mlcl_trainer *t;
    const mlcl_dataset *ds;
    int calls, run_rc, epochs_rc, load_rc, eval_rc, save_rc, in_use;
    const char *path;
    sem_t inside, release; /* for the two-thread case */
    int block;
} busy_ctx;

static int reenter_cb(const mlcl_progress *p, void *ctx)
{
    busy_ctx *b = ctx;
    if (b->calls++ != 0) return 0;
    mlcl_clear_error();
    b->run_rc = mlcl_trainer_run(b->t);
    if (b->run_rc == MLCL_EBUSY && !strstr(mlcl_last_error(), "in use")) b->run_rc = 1000;
    b->epochs_rc = mlcl_trainer_run_epochs(b->t, 1, NULL);
    b->load_rc = mlcl_trainer_load(b->t, b->path);
    mlcl_metrics m = MLCL_METRICS_INIT;
    b->eval_rc = mlcl_trainer_evaluate(b->t, b->ds, NULL, &m);
    b->save_rc = mlcl_trainer_save(b->t, b->path);
    mlcl_trainer_in_use(b->t, &b->in_use);
    (void)p;
    return 0;
}

START_TEST(callback_reentry_is_refused)
{
    char dir[64], path[128];
    tmpdir(dir, sizeof dir, "busy");
    snprintf(path, sizeof path, "%s/ck", dir);
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    ck_assert_ok(mlcl_trainer_save(t, path));
    busy_ctx b = { .t = t, .ds = ds, .path = path };
    ck_assert_ok(mlcl_trainer_set_callback(t, reenter_cb, &b));
    ck_assert_ok(mlcl_trainer_run(t));
    ck_assert_int_eq(b.run_rc, MLCL_EBUSY);
    ck_assert_int_eq(b.epochs_rc, MLCL_EBUSY);
    ck_assert_int_eq(b.load_rc, MLCL_EBUSY);
    ck_assert_int_eq(b.eval_rc, MLCL_OK);  /* read-only calls from the callback are safe */
    ck_assert_int_eq(b.save_rc, MLCL_OK);
    ck_assert_int_eq(b.in_use, 1);
    int in_use = -1, phase;
    ck_assert_ok(mlcl_trainer_in_use(t, &in_use));
    ck_assert_int_eq(in_use, 0);
    ck_assert_ok(mlcl_trainer_position(t, &phase, NULL));
    ck_assert_int_eq(phase, 3);
    ck_assert_str_eq(mlcl_status_str(MLCL_EBUSY), "handle is in use by another call");
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
    rm_rf(dir);
}
END_TEST

static int blocking_cb(const mlcl_progress *p, void *ctx)
{
    busy_ctx *b = ctx;
    (void)p;
    if (b->block) {
        b->block = 0;
        sem_post(&b->inside);
        sem_wait(&b->release);
    }
    return 0;
}

static void *runner(void *arg)
{
    busy_ctx *b = arg;
    b->run_rc = mlcl_trainer_run(b->t);
    return NULL;
}

START_TEST(second_thread_gets_ebusy)
{
    char dir[64], path[128];
    tmpdir(dir, sizeof dir, "busy2");
    snprintf(path, sizeof path, "%s/ck", dir);
    mlcl_dataset *ds = synthetic(64, 6, 4, 3);
    mlcl_train_options o;
    small_opts(&o);
    mlcl_trainer *t;
    ck_assert_ok(mlcl_trainer_create(&t, &o, ds));
    busy_ctx b = { .t = t, .ds = ds, .path = path, .block = 1 };
    sem_init(&b.inside, 0, 0);
    sem_init(&b.release, 0, 0);
    ck_assert_ok(mlcl_trainer_set_callback(t, blocking_cb, &b));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, runner, &b), 0);
    sem_wait(&b.inside); /* the runner is inside its callback, mid-run */
    ck_assert_status_msg(mlcl_trainer_run(t), MLCL_EBUSY, "another thread");
    ck_assert_status_msg(mlcl_trainer_run_epochs(t, 1, NULL), MLCL_EBUSY, "in use");
    mlcl_metrics m = MLCL_METRICS_INIT;
    ck_assert_status_msg(mlcl_trainer_evaluate(t, ds, NULL, &m), MLCL_EBUSY, "in use");
    int n, d, c;
    ck_assert_ok(mlcl_dataset_dims(ds, &n, &d, &c));
    float *s = malloc(sizeof(float) * n * c);
    ck_assert_status_msg(mlcl_trainer_predict(t, n, mlcl_dataset_features(ds), s), MLCL_EBUSY, "in use");
    ck_assert_status_msg(mlcl_trainer_save(t, path), MLCL_EBUSY, "in use");
    ck_assert_status_msg(mlcl_trainer_load(t, path), MLCL_EBUSY, "in use");
    int in_use = 0;
    ck_assert_ok(mlcl_trainer_in_use(t, &in_use));
    ck_assert_int_eq(in_use, 1);
    sem_post(&b.release);
    pthread_join(th, NULL);
    ck_assert_int_eq(b.run_rc, MLCL_OK);
    /* free again afterwards */
    ck_assert_ok(mlcl_trainer_predict(t, n, mlcl_dataset_features(ds), s));
    ck_assert_ok(mlcl_trainer_save(t, path));
    free(s);
    sem_destroy(&b.inside);
    sem_destroy(&b.release);
    mlcl_trainer_free(t);
    mlcl_dataset_free(ds);
    rm_rf(dir);
}
END_TEST

/* ------------------------------------------------------------------ threads */

START_TEST(thread_counts_are_capped_and_bounded)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int cpus = CPU_COUNT(&set);
    int before;
    ck_assert_ok(mlcl_get_num_threads(&before));
    ck_assert_ok(mlcl_set_num_threads(64));
    int got;
    ck_assert_ok(mlcl_get_num_threads(&got));
    ck_assert_int_eq(got, 64 < cpus ? 64 : cpus);
    /* the library runs OpenBLAS single-threaded inside its own threads (docs/abi.md) */
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    ck_assert_status_msg(mlcl_set_num_threads(1025), MLCL_EINVAL, "1..1024");
    ck_assert_status_msg(mlcl_set_num_threads_forced(1025), MLCL_EINVAL, "1..1024");
    ck_assert_status_msg(mlcl_set_num_threads(0), MLCL_EINVAL, "n must be");
    /* forcing oversubscribes on purpose */
    ck_assert_ok(mlcl_set_num_threads_forced(cpus + 1));
    ck_assert_ok(mlcl_get_num_threads(&got));
    ck_assert_int_eq(got, cpus + 1);
    ck_assert_int_eq(openblas_get_num_threads(), 1);
    ck_assert_ok(mlcl_set_num_threads_forced(before));
}
END_TEST

/* ---------------------------------------------- finding 11: RBF numerics */

static void unit(float *v, int m)
{
    double s = 0;
    for (int j = 0; j < m; j++) s += (double)v[j] * v[j];
    float inv = (float)(1.0 / sqrt(s));
    for (int j = 0; j < m; j++) v[j] *= inv;
}

START_TEST(rld_weights_are_accurate_at_small_sigma)
{
    enum { n = 6, m = 64, c = 5 };
    const float sigma = 0.01f;
    mlcl_rng *r;
    ck_assert_ok(mlcl_rng_create(&r, 1234));
    float u[m], q[n * m], k[n * m], d[n * c], noise[2 * n * m], logits[n * c];
    ck_assert_ok(mlcl_rng_normal(r, u, m, 1.0f));
    unit(u, m);
    /* all q and k near one direction: ||q_i - k_a||^2 of a few sigma^2 */
    ck_assert_ok(mlcl_rng_normal(r, noise, 2 * n * m, 0.0018f));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            q[i * m + j] = u[j] + noise[i * m + j];
            k[i * m + j] = u[j] + noise[(n + i) * m + j];
        }
    for (int i = 0; i < n; i++) { unit(q + i * m, m); unit(k + i * m, m); }
    /* distinct distributions, so that ||d_i - d_a||^2 is of order 1 */
    ck_assert_ok(mlcl_rng_normal(r, logits, n * c, 3.0f));
    for (int i = 0; i < n; i++) {
        double s = 0, mx = -1e30;
        for (int j = 0; j < c; j++) mx = logits[i * c + j] > mx ? logits[i * c + j] : mx;
        for (int j = 0; j < c; j++) s += exp(logits[i * c + j] - mx);
        for (int j = 0; j < c; j++) d[i * c + j] = (float)(exp(logits[i * c + j] - mx) / s);
    }
    uint64_t y[n];
    for (int i = 0; i < n; i++) y[i] = 1; /* one shared label: every pair is positive */
    mlcl_loss_options o = MLCL_LOSS_OPTIONS_INIT;
    o.variant = MLCL_LD_RLD;
    o.sigma = sigma;
    o.beta = 0;
    mlcl_loss *L;
    ck_assert_ok(mlcl_loss_create(&L, n, 4, m, c, &o));
    mlcl_loss_parts parts = MLCL_LOSS_PARTS_INIT;
    ck_assert_ok(mlcl_loss_compute(L, &parts, NULL, NULL, NULL, &(mlcl_loss_inputs){ .version = MLCL_LOSS_INPUTS_VERSION, .n = n, .q = q, .k = k, .y = y, .d = d }));
    /* the reference in double from the same float inputs: G = (1/n) sum w_ia ||d_i - d_a||^2 */
    double G = 0, wmin = 1, wmax = 0;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < n; a++) {
            double dq = 0, dd = 0;
            for (int j = 0; j < m; j++) dq += ((double)q[i * m + j] - k[a * m + j]) * ((double)q[i * m + j] - k[a * m + j]);
            for (int j = 0; j < c; j++) dd += ((double)d[i * c + j] - d[a * c + j]) * ((double)d[i * c + j] - d[a * c + j]);
            double w = exp(-dq / (2.0 * (double)sigma * sigma));
            if (a != i) { wmin = w < wmin ? w : wmin; wmax = w > wmax ? w : wmax; }
            G += w * dd;
        }
    G /= n;
    /* the weights matter: not underflowed, not all 1 */
    ck_assert_msg(wmin > 1e-4 && wmax < 0.9, "weights %g .. %g", wmin, wmax);
    ck_assert_msg(fabs(parts.G - G) <= 1e-5 * G, "G %.9g vs double reference %.9g (rel %.3g)", parts.G, G,
                  fabs(parts.G - G) / G);
    mlcl_loss_free(L);
    mlcl_rng_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile_train");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, error_message_composes_through_a_scratch_copy);
    tcase_add_test(tc, trainer_error_is_not_duplicated);
    tcase_add_test(tc, resume_refuses_changed_options);
    tcase_add_test(tc, resume_finished_run_with_more_epochs_trains_them);
    tcase_add_test(tc, checkpoint_trailing_bytes_and_old_format);
    tcase_add_test(tc, save_refuses_non_regular_targets);
    tcase_add_test(tc, save_checks_every_write);
    tcase_add_test(tc, giant_sizes_are_refused_before_allocation);
    tcase_add_test(tc, callback_reentry_is_refused);
    tcase_add_test(tc, second_thread_gets_ebusy);
    tcase_add_test(tc, thread_counts_are_capped_and_bounded);
    tcase_add_test(tc, rld_weights_are_accurate_at_small_sigma);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

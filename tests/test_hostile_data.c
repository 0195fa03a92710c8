/* Hostile input files for every reader (issue 12, findings 4 and 5): what a
 * file can make a reader allocate is bounded by what it can contain, and text
 * is text. Every hostile file is written into a temporary directory here and
 * loaded twice:
 *  - with a counting allocator (mlcl_set_allocator) that refuses to go past
 *    512 MB: the reader must refuse the file itself (the expected status and a
 *    message naming the file and the line/column) with a peak below 512 MB;
 *  - in a forked child under setrlimit(RLIMIT_AS) = the address space in use
 *    + 512 MB, the default allocator: an attempted giant allocation fails the
 *    test. Skipped under AddressSanitizer (its shadow memory cannot live under
 *    RLIMIT_AS); the counting check runs there too. */
#include "testutil.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define LIMIT ((size_t)512 << 20)

/* (the limits are in mlcl/readers.h; the fallbacks let this file build against
 * the readers before them, to show that every case failed there) */
#ifndef MLCL_DATA_MAX_COLS
#define MLCL_DATA_MAX_COLS (1 << 20)
#define MLCL_DATA_BUDGET_MIN ((size_t)128 << 20)
#endif

static char tmpdir[256];

/* A path in the temporary directory (a few kept alive at once). */
static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static const char *write_bytes(const char *name, const void *data, size_t len)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", p);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

static const char *write_text(const char *name, const char *s) { return write_bytes(name, s, strlen(s)); }

/* gzip'd (level 1: the hostile inputs are mostly repetitive) */
static const char *write_gz(const char *name, const void *data, size_t len)
{
    const char *p = tpath(name);
    gzFile g = gzopen(p, "wb1");
    ck_assert_msg(g != NULL, "cannot write %s", p);
    const char *b = data;
    while (len > 0) {
        unsigned k = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        ck_assert_int_eq(gzwrite(g, b, k), (int)k);
        b += k;
        len -= k;
    }
    ck_assert_int_eq(gzclose(g), Z_OK);
    return p;
}

static void append_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "ab");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* A growable text buffer. */
typedef struct { char *s; size_t len, cap; } sbuf;
static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        ck_assert(n >= 0);
        if (b->s && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + (size_t)n + 1) nc *= 2;
        b->s = realloc(b->s, nc);
        ck_assert(b->s != NULL);
        b->cap = nc;
    }
}

/* ---------------------------------------------------------------- npy / npz */

/* An npy v1.0 file image: header for descr/shape, then `data_len` bytes of data. */
static unsigned char *npy_image(const char *descr, const char *shape, const void *data, size_t data_len, size_t *len)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t hl = (size_t)n + 1;
    while ((10 + hl) % 64) hl++;
    *len = 10 + hl + data_len;
    unsigned char *b = malloc(*len);
    ck_assert(b != NULL);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(hl & 0xff);
    b[9] = (unsigned char)(hl >> 8);
    memset(b + 10, ' ', hl);
    memcpy(b + 10, dict, (size_t)n);
    b[10 + hl - 1] = '\n';
    if (data) memcpy(b + 10 + hl, data, data_len);
    else memset(b + 10 + hl, 0, data_len);
    return b;
}

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }

/* A one-entry zip archive "<key>.npy", deflated. */
static const char *write_npz(const char *name, const char *key, const unsigned char *npy, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t bound = deflateBound(&z, (uLong)len);
    unsigned char *cd = malloc(bound);
    ck_assert(cd != NULL);
    z.next_in = (unsigned char *)npy;
    z.avail_in = (uInt)len;
    z.next_out = cd;
    z.avail_out = (uInt)bound;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t clen = z.total_out;
    deflateEnd(&z);
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), npy, (uInt)len);
    char fname[64];
    snprintf(fname, sizeof fname, "%s.npy", key);
    size_t nl = strlen(fname);
    unsigned char L[30] = {0}, C[46] = {0}, E[22] = {0};
    put32(L, 0x04034b50u); put16(L + 4, 20); put16(L + 8, 8);
    put32(L + 14, crc); put32(L + 18, (uint32_t)clen); put32(L + 22, (uint32_t)len); put16(L + 26, (unsigned)nl);
    put32(C, 0x02014b50u); put16(C + 4, 20); put16(C + 6, 20); put16(C + 10, 8);
    put32(C + 16, crc); put32(C + 20, (uint32_t)clen); put32(C + 24, (uint32_t)len); put16(C + 28, (unsigned)nl);
    put32(C + 42, 0);
    size_t cdoff = 30 + nl + clen;
    put32(E, 0x06054b50u); put16(E + 8, 1); put16(E + 10, 1); put32(E + 12, (uint32_t)(46 + nl));
    put32(E + 16, (uint32_t)cdoff);
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    ck_assert(f != NULL);
    fwrite(L, 1, 30, f); fwrite(fname, 1, nl, f); fwrite(cd, 1, clen, f);
    fwrite(C, 1, 46, f); fwrite(fname, 1, nl, f); fwrite(E, 1, 22, f);
    ck_assert_int_eq(fclose(f), 0);
    free(cd);
    return p;
}

/* ---------------------------------------------------------------- loading under limits */

typedef enum { ARFF, LIBSVM, IDX_DS, NPY_DS } kind;
typedef struct {
    kind k;
    const char *a, *b;  /* paths (IDX/NPY: images, labels) */
    const char *ka, *kb; /* npz keys */
    int base;            /* LIBSVM index base */
} job;

static int run_job(const job *j)
{
    mlcl_dataset *ds = NULL;
    int rc;
    switch (j->k) {
    case ARFF: rc = mlcl_dataset_load_arff(&ds, j->a, 0, 0); break;
    case LIBSVM: rc = mlcl_dataset_load_libsvm(&ds, j->a, 0, 0, j->base); break;
    case IDX_DS: rc = mlcl_dataset_load_idx(&ds, j->a, j->b, 10); break;
    default: rc = mlcl_dataset_load_npy(&ds, j->a, j->ka, j->b, j->kb, 0); break;
    }
    mlcl_dataset_free(ds);
    return rc;
}

/* The counting allocator: a 64-byte prefix holds the size. */
typedef struct { size_t cur, peak, cap; int refused; } counter;
static void *cnt_alloc(size_t n, void *ctx)
{
    counter *c = ctx;
    if (n > c->cap || c->cur + n > c->cap) { c->refused = 1; return NULL; }
    void *p = NULL;
    if (posix_memalign(&p, 64, n + 64) != 0) return NULL;
    *(size_t *)p = n;
    c->cur += n;
    if (c->cur > c->peak) c->peak = c->cur;
    return (char *)p + 64;
}
static void cnt_free(void *p, void *ctx)
{
    counter *c = ctx;
    if (!p) return;
    char *b = (char *)p - 64;
    c->cur -= *(size_t *)b;
    free(b);
}

/* Runs j with the counting allocator; returns the status, the message in msg, the peak. */
static int run_counted(const job *j, char *msg, size_t msglen, counter *c)
{
    memset(c, 0, sizeof *c);
    c->cap = LIMIT;
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, cnt_alloc, cnt_free, c };
    ck_assert_ok(mlcl_set_allocator(&a));
    mlcl_clear_error();
    int rc = run_job(j);
    snprintf(msg, msglen, "%s", mlcl_last_error());
    mlcl_set_allocator(NULL);
    return rc;
}

#if defined(__SANITIZE_ADDRESS__)
#define HOSTILE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOSTILE_ASAN 1
#endif
#endif

static int sanitized(void)
{
#ifdef HOSTILE_ASAN
    return 1;
#else
    const char *s = getenv("MLCL_SANITIZED");
    return s && *s && strcmp(s, "0") != 0;
#endif
}

static int has_all(const char *msg, const char *const *needles)
{
    for (int i = 0; needles[i]; i++)
        if (!strstr(msg, needles[i])) return 0;
    return 1;
}

/* The address space in use now, in bytes. */
static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Expects status st with every needle in the message, under both limits. */
static void expect_refused(const job *j, int st, const char *const *needles)
{
    char msg[1024];
    counter c;
    int rc = run_counted(j, msg, sizeof msg, &c);
    if (getenv("MLCL_HOSTILE_VERBOSE")) fprintf(stderr, "peak %10zu bytes, status %d: %s\n", c.peak, rc, msg);
    ck_assert_msg(rc == st, "%s: status %d (%s), expected %d; peak %zu bytes; msg: %s", j->a, rc, mlcl_status_str(rc), st,
                  c.peak, msg);
    ck_assert_msg(has_all(msg, needles), "message '%s' lacks one of the expected parts (first '%s')", msg, needles[0]);
    ck_assert_msg(!c.refused && c.peak < LIMIT, "%s: peak %zu bytes (limit %zu)", j->a, c.peak, LIMIT);
    ck_assert_msg(c.cur == 0, "%s: %zu bytes not freed", j->a, c.cur);
    if (sanitized()) return;
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)(vm_size() + LIMIT);
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
        mlcl_clear_error();
        int r = run_job(j);
        if (r != st) {
            fprintf(stderr, "under RLIMIT_AS: status %d, expected %d: %s\n", r, st, mlcl_last_error());
            _exit(1);
        }
        _exit(has_all(mlcl_last_error(), needles) ? 0 : 2);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s under RLIMIT_AS: child exit %d (signal %d)", j->a,
                  WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ================================================================ finding 4: budgets */

START_TEST(libsvm_feature_index_bomb)
{
    /* 26 bytes that took 4.2 GB before failing */
    job j = { LIBSVM, write_text("fidx.svm", "0 1073741823:1\n0 5:1.0000\n"), NULL, NULL, NULL, MLCL_LIBSVM_INDEX_AUTO };
    const char *nd[] = { j.a, "line 1, column 3", "MLCL_DATA_MAX_COLS", "n_features", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    /* a bit beyond the limit is refused, right at the limit accepted */
    char s[64];
    snprintf(s, sizeof s, "0 %d:1\n", MLCL_DATA_MAX_COLS + 1);
    j.a = write_text("fidx2.svm", s);
    const char *nd2[] = { j.a, "line 1, column 3", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
    snprintf(s, sizeof s, "0 %d:1\n", MLCL_DATA_MAX_COLS);
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, write_text("fidx3.svm", s), 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    int n, d, c;
    mlcl_dataset_dims(ds, &n, &d, &c);
    ck_assert_int_eq(d, MLCL_DATA_MAX_COLS);
    ck_assert(mlcl_dataset_features(ds)[MLCL_DATA_MAX_COLS - 1] == 1.0f);
    mlcl_dataset_free(ds);
    /* an explicit n_features lifts the width limit (the caller's choice) */
    snprintf(s, sizeof s, "0 %d:2\n", MLCL_DATA_MAX_COLS + 1);
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, write_text("fidx4.svm", s), MLCL_DATA_MAX_COLS + 1, 0, 1));
    ck_assert(mlcl_dataset_features(ds)[MLCL_DATA_MAX_COLS] == 2.0f);
    mlcl_dataset_free(ds);
}
END_TEST

START_TEST(libsvm_label_index_bomb)
{
    /* took 5.0 GB */
    job j = { LIBSVM, write_text("lidx.svm", "1,1073741823 1:1\n"), NULL, NULL, NULL, MLCL_LIBSVM_INDEX_AUTO };
    const char *nd[] = { j.a, "line 1, column 3", "labels", "n_labels", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
}
END_TEST

START_TEST(xc_header_bomb)
{
    /* "2 1073741824 5" took 4.2 GB */
    job j = { LIBSVM, write_text("hdr.txt", "2 1073741824 5\n0 1:1\n1 2:1\n"), NULL, NULL, NULL, MLCL_LIBSVM_INDEX_AUTO };
    const char *nd[] = { j.a, "line 1:", "MLCL_DATA_MAX_COLS", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    /* more rows than a file of this size can hold */
    j.a = write_text("hdr2.txt", "1000000 5 5\n0 1:1\n1 2:1\n");
    const char *nd2[] = { j.a, "line 1:", "holds at most", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
    /* gzip: the header's dense size against the budget, before any row */
    sbuf b = {0};
    sb_add(&b, "2000 %d 5\n", MLCL_DATA_MAX_COLS);
    for (int i = 0; i < 2000; i++) sb_add(&b, "0 1:1\n");
    j.a = write_gz("hdr3.txt.gz", b.s, b.len);
    free(b.s);
    const char *nd3[] = { j.a, "line 1:", "would need 8.4 GB", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd3);
}
END_TEST

/* 2^20 attributes, gzip'd to a few tens of KB, then empty sparse rows that
 * expand to 4 MB each: refused once they pass the budget. */
START_TEST(arff_gzip_many_attributes)
{
    const int na = MLCL_DATA_MAX_COLS;
    sbuf b = {0};
    sb_add(&b, "@relation 'wide: -C 1'\n");
    for (int i = 0; i < na; i++) sb_add(&b, "@attribute a real\n");
    sb_add(&b, "@data\n");
    for (int i = 0; i < 2000; i++) sb_add(&b, "{}\n");
    job j = { ARFF, write_gz("wide.arff.gz", b.s, b.len), NULL, NULL, NULL, 0 };
    struct stat st;
    ck_assert_int_eq(stat(j.a, &st), 0);
    ck_assert_int_lt(st.st_size, 1 << 20);
    /* the budget of a small file is 128 MiB: rows of (2^20 - 1) floats + 1 label byte */
    const size_t row = (size_t)(na - 1) * 4 + 1, max_rows = MLCL_DATA_BUDGET_MIN / row;
    char line[64];
    snprintf(line, sizeof line, "line %zu:", (size_t)na + 2 + max_rows + 1);
    const char *nd[] = { j.a, line, "would need", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    /* one attribute more than the limit */
    free(b.s);
    memset(&b, 0, sizeof b);
    sb_add(&b, "@relation 'wide: -C 1'\n");
    for (int i = 0; i <= na; i++) sb_add(&b, "@attribute a real\n");
    sb_add(&b, "@data\n1,2\n");
    j.a = write_gz("wider.arff.gz", b.s, b.len);
    free(b.s);
    snprintf(line, sizeof line, "line %d: more than %d attributes", na + 2, na);
    const char *nd2[] = { j.a, line, NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
}
END_TEST

/* A nominal attribute with 2^20 values: a lookup per row must not scan them
 * (2,000 rows took over 60 s). */
START_TEST(arff_nominal_many_values)
{
    const int nv = 1 << 20, rows = 2000;
    sbuf b = {0};
    sb_add(&b, "@relation 'nom: -C -1'\n@attribute f {");
    for (int i = 0; i < nv; i++) sb_add(&b, i ? ",v%d" : "v%d", i);
    sb_add(&b, "}\n@attribute g {b,a,b}\n@attribute l {0,1}\n@data\n");
    for (int i = 0; i < rows; i++) sb_add(&b, "v%d,%s,%d\n", nv - 1 - (i % 7), i % 2 ? "a" : "b", i % 2);
    const char *p = write_bytes("nominal.arff", b.s, b.len);
    free(b.s);
    mlcl_dataset *ds;
    double t0 = now();
    ck_assert_ok(mlcl_dataset_load_arff(&ds, p, 0, 0));
    double dt = now() - t0;
    int n, d, c;
    mlcl_dataset_dims(ds, &n, &d, &c);
    ck_assert_int_eq(n, rows);
    ck_assert_int_eq(d, 2);
    ck_assert_int_eq(c, 1);
    const float *x = mlcl_dataset_features(ds);
    for (int i = 0; i < rows; i++) {
        ck_assert_float_eq(x[2 * i], (float)(nv - 1 - (i % 7)));
        ck_assert_float_eq(x[2 * i + 1], i % 2 ? 1.0f : 0.0f); /* "b" declared twice: its first index, 0 */
        ck_assert_int_eq(mlcl_dataset_labels(ds)[i], i % 2);
    }
    mlcl_dataset_free(ds);
    ck_assert_msg(dt < 8.0, "reading took %.1f s", dt);
    /* an undeclared value is still an error naming the line */
    const char *q = write_text("nominal2.arff", "@relation 'x: -C -1'\n@attribute f {a,b,c}\n@attribute l {0,1}\n@data\nb,1\nd,0\n");
    char needle[600];
    snprintf(needle, sizeof needle, "%s: line 6: value 'd' is not one of the declared values of 'f'", q);
    ck_assert_status_msg(mlcl_dataset_load_arff(&ds, q, 0, 0), MLCL_EFORMAT, needle);
}
END_TEST

/* The NPY loader holds one copy of the array (it peaked at two). */
START_TEST(npy_single_copy)
{
    enum { N = 2048, D = 2048, C = 3 };
    float *x = malloc((size_t)N * D * sizeof(float));
    ck_assert(x != NULL);
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] = (float)(i % 1000) * 0.5f;
    unsigned char yb[N * C];
    for (int i = 0; i < N * C; i++) yb[i] = (unsigned char)((i * 7) % 3 == 0);
    size_t xl, yl;
    char shape[64];
    snprintf(shape, sizeof shape, "(%d, %d)", N, D);
    unsigned char *xi = npy_image("<f4", shape, x, (size_t)N * D * 4, &xl);
    snprintf(shape, sizeof shape, "(%d, %d)", N, C);
    unsigned char *yi = npy_image("|u1", shape, yb, sizeof yb, &yl);
    const char *xp = write_bytes("x.npy", xi, xl), *yp = write_bytes("y.npy", yi, yl);
    const char *zp = write_npz("x.npz", "images", xi, xl);
    free(xi);
    free(yi);
    const size_t array = (size_t)N * D * sizeof(float);
    const char *paths[2] = { xp, zp }, *keys[2] = { NULL, "images" };
    for (int t = 0; t < 2; t++) {
        job j = { NPY_DS, paths[t], yp, keys[t], NULL, 0 };
        char msg[1024];
        counter c;
        mlcl_dataset *ds = NULL;
        memset(&c, 0, sizeof c);
        c.cap = LIMIT;
        mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, cnt_alloc, cnt_free, &c };
        ck_assert_ok(mlcl_set_allocator(&a));
        int rc = mlcl_dataset_load_npy(&ds, j.a, j.ka, j.b, NULL, 0);
        snprintf(msg, sizeof msg, "%s", mlcl_last_error());
        ck_assert_msg(rc == MLCL_OK, "%s: %s", j.a, msg);
        ck_assert_mem_eq(mlcl_dataset_features(ds), x, array);
        ck_assert_int_eq(mlcl_dataset_labels(ds)[0], 1);
        mlcl_dataset_free(ds);
        mlcl_set_allocator(NULL);
        /* one array plus small buffers (labels, 64 KiB chunks) */
        ck_assert_msg(c.peak < array + array / 8, "%s: peak %zu bytes for a %zu-byte array", j.a, c.peak, array);
    }
    free(x);
}
END_TEST

/* A deflated .npz entry of 10^8 zero bytes (~100 KB on disk) would become
 * 400 MB of floats (800 MB with the old second copy). */
START_TEST(npz_deflate_bomb)
{
    size_t l;
    unsigned char *img = npy_image("|u1", "(100000, 1000)", NULL, (size_t)100000 * 1000, &l);
    const char *xp = write_npz("bomb.npz", "images", img, l);
    free(img);
    unsigned char *yi = npy_image("|u1", "(100000, 1)", NULL, 100000, &l); /* labels that match */
    const char *yp = write_bytes("ysmall.npy", yi, l);
    free(yi);
    job j = { NPY_DS, xp, yp, "images", NULL, 0 };
    const char *nd[] = { xp, "entry 'images.npy'", "would need 400.0 MB", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
}
END_TEST

/* A gzip'd IDX file whose 128 MB of zeros compress to ~130 KB: refused from
 * its header (it would make 640 MB with the floats). */
START_TEST(idx_gzip_bomb)
{
    const uint32_t n = 163840;
    const size_t total = (size_t)n * 28 * 28;
    unsigned char *b = calloc(16 + total, 1);
    ck_assert(b != NULL);
    const uint32_t dims[3] = { n, 28, 28 };
    b[2] = 8;
    b[3] = 3;
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < 4; t++) b[4 + 4 * k + t] = (unsigned char)(dims[k] >> (24 - 8 * t));
    const char *ip = write_gz("bomb-images.idx.gz", b, 16 + total);
    free(b);
    unsigned char *lb = calloc(8 + n, 1);
    lb[2] = 8;
    lb[3] = 1;
    for (int t = 0; t < 4; t++) lb[4 + t] = (unsigned char)(n >> (24 - 8 * t));
    const char *lp = write_gz("bomb-labels.idx.gz", lb, 8 + n);
    free(lb);
    job j = { IDX_DS, ip, lp, NULL, NULL, 0 };
    const char *nd[] = { ip, "would need", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    /* plain: the header's size must match the file's */
    unsigned char s[16 + 4] = {0, 0, 8, 3, 0, 0x10, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    j.a = write_bytes("short-images.idx", s, sizeof s);
    const char *nd2[] = { j.a, "truncated IDX data: 4 of", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
}
END_TEST

/* ================================================================ finding 5: text is text */

START_TEST(nul_at_line_start)
{
    /* the row after the NUL used to vanish (rc 0) */
    static const char t[] = "@relation 'r: -C -1'\n@attribute a real\n@attribute l {0,1}\n@data\n1,0\n\0002,1\n3,1\n";
    job j = { ARFF, write_bytes("nul1.arff", t, sizeof t - 1), NULL, NULL, NULL, 0 };
    const char *nd[] = { j.a, "line 6, column 1: NUL byte", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    /* gzip'd too */
    j.a = write_gz("nul1.arff.gz", t, sizeof t - 1);
    const char *nd2[] = { j.a, "line 6, column 1: NUL byte", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
}
END_TEST

START_TEST(arff_meka_c_out_of_range)
{
    /* "-C -100000000" used to be reported as "has no MEKA option '-C N'" */
    static const char t[] = "@relation 'r: -C -100000000'\n@attribute a real\n@attribute l {0,1}\n@data\n1,0\n";
    job j = { ARFF, write_bytes("meka_c.arff", t, sizeof t - 1), NULL, NULL, NULL, 0 };
    const char *nd[] = { j.a, "line 1", "'-C -100000000' is not a label count", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    static const char t2[] = "@relation 'r: -C 1.9'\n@attribute a real\n@attribute l {0,1}\n@data\n1,0\n";
    j.a = write_bytes("meka_c2.arff", t2, sizeof t2 - 1);
    const char *nd2[] = { j.a, "'-C 1.9' is not a label count", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
}
END_TEST

START_TEST(nul_mid_line)
{
    /* used to merge two lines */
    static const char t[] = "0 1:1\n1 2:1\0003 1:2\n2 3:1\n";
    job j = { LIBSVM, write_bytes("nul2.svm", t, sizeof t - 1), NULL, NULL, NULL, MLCL_LIBSVM_INDEX_AUTO };
    const char *nd[] = { j.a, "line 2, column 6: NUL byte", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    static const char a[] = "@relation 'r: -C -1'\n@attribute a real\n@attribute l {0,1}\n@data\n1,0\n2,\0001\n";
    j = (job){ ARFF, write_bytes("nul2.arff", a, sizeof a - 1), NULL, NULL, NULL, 0 };
    const char *nd2[] = { j.a, "line 6, column 3: NUL byte", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
}
END_TEST

/* /dev/zero: an endless character device; it used to spin forever. */
START_TEST(dev_zero)
{
    if (access("/dev/zero", R_OK) != 0) return;
    double t0 = now();
    job j = { ARFF, "/dev/zero", NULL, NULL, NULL, 0 };
    const char *nd[] = { "/dev/zero", "line 1, column 1: NUL byte", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    j.k = LIBSVM;
    j.base = MLCL_LIBSVM_INDEX_AUTO;
    expect_refused(&j, MLCL_EFORMAT, nd);
    j = (job){ IDX_DS, "/dev/zero", "/dev/zero", NULL, NULL, 0 };
    const char *nd2[] = { "/dev/zero", "element type 0x00", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
    j = (job){ NPY_DS, "/dev/zero", "/dev/zero", NULL, NULL, 0 };
    const char *nd3[] = { "/dev/zero", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd3);
    ck_assert_msg(now() - t0 < 10.0, "took %.1f s", now() - t0);
}
END_TEST

/* A 40 MB line (longer than MLCL_TEXT_LINE_MAX = 32 MiB) without a newline. */
START_TEST(endless_line)
{
    const size_t len = (size_t)40 << 20;
    char *b = malloc(len);
    ck_assert(b != NULL);
    memset(b, '7', len);
    job j = { LIBSVM, write_bytes("long.svm", b, len), NULL, NULL, NULL, MLCL_LIBSVM_INDEX_AUTO };
    free(b);
    double t0 = now();
    const char *nd[] = { j.a, "line 1: line longer than 33554432 bytes", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    j.k = ARFF;
    expect_refused(&j, MLCL_EFORMAT, nd);
    ck_assert_msg(now() - t0 < 10.0, "took %.1f s", now() - t0);
}
END_TEST

/* The index base is never guessed per file: a zero-based train file whose
 * feature 0 is never set used to be read shifted by one column while its
 * test file (which has index 0) was read unshifted. */
START_TEST(libsvm_index_base_not_guessed)
{
    const char *tr = write_text("zb-train.svm", "0 1:1 2:2\n1 2:3\n");
    const char *te = write_text("zb-test.svm", "0 0:5 2:1\n");
    mlcl_dataset *ds;
    /* AUTO without a header: one-based (the LIBSVM convention), for both files */
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, tr, 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    int n, d, c;
    mlcl_dataset_dims(ds, &n, &d, &c);
    ck_assert_int_eq(d, 2);
    mlcl_dataset_free(ds);
    char needle[600];
    snprintf(needle, sizeof needle, "%s: line 1: feature index 0 in a one-based file (pass index_base 0", te);
    ck_assert_status_msg(mlcl_dataset_load_libsvm(&ds, te, 0, 0, MLCL_LIBSVM_INDEX_AUTO), MLCL_EFORMAT, needle);
    ck_assert_ptr_null(ds);
    /* explicit 0: column j is feature j in both */
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, tr, 3, 0, 0));
    const float want_tr[6] = {0, 1, 2, 0, 0, 3};
    ck_assert_mem_eq(mlcl_dataset_features(ds), want_tr, sizeof want_tr);
    mlcl_dataset_free(ds);
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, te, 3, 0, 0));
    const float want_te[3] = {5, 0, 1};
    ck_assert_mem_eq(mlcl_dataset_features(ds), want_te, sizeof want_te);
    mlcl_dataset_free(ds);
    /* a header (the XC format) states zero-based */
    ck_assert_ok(mlcl_dataset_load_libsvm(&ds, write_text("zb-xc.txt", "2 3 2\n0 1:1 2:2\n1 2:3\n"), 0, 0, MLCL_LIBSVM_INDEX_AUTO));
    ck_assert_mem_eq(mlcl_dataset_features(ds), want_tr, sizeof want_tr);
    mlcl_dataset_free(ds);
}
END_TEST

/* Values whose squares or sums overflow float32: refused at read time. */
START_TEST(huge_values)
{
    const char *a = write_text("big.arff", "@relation 'r: -C -1'\n@attribute a real\n@attribute b real\n@attribute l {0,1}\n"
                                           "@data\n1,1e15,0\n2,-3e38,1\n");
    job j = { ARFF, a, NULL, NULL, NULL, 0 };
    const char *nd[] = { a, "line 7, column 3: '-3e38' for 'b' exceeds the magnitude limit", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    j = (job){ LIBSVM, write_text("big.svm", "0 1:1 2:1e15\n1 1:2e15\n"), NULL, NULL, NULL, 1 };
    const char *nd2[] = { j.a, "line 2, column 5: feature value '2e15' exceeds the magnitude limit", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
    /* npy: the element is named by row and column */
    float xv[6] = {0, 1, 2, 3, 3e38f, 5};
    unsigned char yv[2] = {1, 0};
    size_t l;
    unsigned char *xi = npy_image("<f4", "(2, 3)", xv, sizeof xv, &l);
    const char *xp = write_bytes("big.npy", xi, l);
    free(xi);
    unsigned char *yi = npy_image("|u1", "(2, 1)", yv, sizeof yv, &l);
    const char *yp = write_bytes("big-y.npy", yi, l);
    free(yi);
    j = (job){ NPY_DS, xp, yp, NULL, NULL, 0 };
    const char *nd3[] = { xp, "row 1, column 1: 3e+38 exceeds the magnitude limit", NULL };
    expect_refused(&j, MLCL_ENUMERIC, nd3);
    /* from arrays too */
    mlcl_dataset *ds;
    xv[4] = -2e15f;
    ck_assert_status_msg(mlcl_dataset_create_from_arrays(&ds, 2, 3, 1, xv, yv), MLCL_ENUMERIC, "x[1][1]");
    xv[4] = 1e15f;
    ck_assert_ok(mlcl_dataset_create_from_arrays(&ds, 2, 3, 1, xv, yv));
    mlcl_dataset_free(ds);
}
END_TEST

/* Bytes after a gzip member (zlib's gzread ignores them); a second member is fine. */
START_TEST(gzip_trailing_bytes)
{
    static const char t[] = "@relation 'r: -C -1'\n@attribute a real\n@attribute l {0,1}\n@data\n1,0\n2,1\n";
    job j = { ARFF, write_gz("trail.arff.gz", t, sizeof t - 1), NULL, NULL, NULL, 0 };
    append_bytes(j.a, "junk\n", 5);
    const char *nd[] = { j.a, "line 7: 5 bytes of trailing data after the gzip stream", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    j = (job){ LIBSVM, write_gz("trail.svm.gz", "0 1:1\n1 2:1\n", 12), NULL, NULL, NULL, 1 };
    append_bytes(j.a, "\0\0\0\0", 4);
    const char *nd2[] = { j.a, "line 3: 4 bytes of trailing data", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd2);
    unsigned char img[16 + 8] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char lab[8 + 2] = {0, 0, 8, 1, 0, 0, 0, 2, 1, 3};
    const char *ip = write_gz("trail-img.idx.gz", img, sizeof img);
    const char *lp = write_gz("trail-lab.idx.gz", lab, sizeof lab);
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_idx(&ds, ip, lp, 10));
    mlcl_dataset_free(ds);
    append_bytes(ip, "x", 1);
    j = (job){ IDX_DS, ip, lp, NULL, NULL, 0 };
    const char *nd3[] = { ip, "1 bytes of trailing data after the gzip stream", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd3);
    /* two members concatenated (gzip's own rule) still read as one stream */
    const char *p = tpath("two.arff.gz");
    gzFile g = gzopen(p, "wb");
    gzwrite(g, t, 40);
    gzclose(g);
    g = gzopen(p, "ab");
    gzwrite(g, t + 40, (unsigned)(sizeof t - 1 - 40));
    gzclose(g);
    ck_assert_ok(mlcl_dataset_load_arff(&ds, p, 0, 0));
    int n, d, c;
    mlcl_dataset_dims(ds, &n, &d, &c);
    ck_assert_int_eq(n, 2);
    ck_assert_float_eq(mlcl_dataset_features(ds)[1], 2.0f);
    mlcl_dataset_free(ds);
    /* a truncated member is an error naming the line */
    size_t full;
    FILE *f = fopen(tpath("trail.arff.gz"), "rb");
    unsigned char buf[512];
    full = fread(buf, 1, sizeof buf, f);
    fclose(f);
    j = (job){ ARFF, write_bytes("cut.arff.gz", buf, full - 5 - 6), NULL, NULL, NULL, 0 };
    const char *nd4[] = { j.a, "truncated gzip data", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd4);
}
END_TEST

/* A FIFO whose writer serves, to every reader that opens it, `head` and
 * then `row` forever (until the reader goes away). Returns the writer's pid. */
static pid_t endless_fifo(const char *path, const char *head, const char *row)
{
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        alarm(60); /* never outlives a failed test by long */
        signal(SIGPIPE, SIG_IGN);
        char buf[1 << 14];
        size_t rl = strlen(row), k = 0;
        while (k + rl <= sizeof buf) { memcpy(buf + k, row, rl); k += rl; }
        for (;;) {
            int fd = open(path, O_WRONLY);
            if (fd < 0) _exit(1);
            /* the next reader gets a FIFO of its own: without this, a reader
             * opening the path before this write notices the previous
             * reader's EPIPE would be served the middle of the stream */
            if (unlink(path) != 0 || mkfifo(path, 0600) != 0) _exit(1);
            if (write(fd, head, strlen(head)) >= 0)
                while (write(fd, buf, k) > 0) {}
            close(fd);
        }
    }
    return pid;
}

/* From a pipe the file's size is unknown: the budget grows with the bytes
 * read so far (at least 128 MiB), so a legitimate stream is read and an
 * expanding one is refused. */
START_TEST(pipe_budget)
{
    /* a small ARFF through a pipe reads as from a file */
    const char *fp = tpath("ok.fifo");
    ck_assert_int_eq(mkfifo(fp, 0600), 0);
    fflush(NULL);
    pid_t w = fork();
    ck_assert(w >= 0);
    if (w == 0) {
        alarm(60);
        int fd = open(fp, O_WRONLY);
        static const char t[] = "@relation 'r: -C -1'\n@attribute a real\n@attribute l {0,1}\n@data\n1.5,0\n-2,1\n";
        _exit(fd >= 0 && write(fd, t, sizeof t - 1) == (ssize_t)(sizeof t - 1) ? 0 : 1);
    }
    mlcl_dataset *ds;
    ck_assert_ok(mlcl_dataset_load_arff(&ds, fp, 0, 0));
    const float want[2] = {1.5f, -2.0f};
    ck_assert_mem_eq(mlcl_dataset_features(ds), want, sizeof want);
    mlcl_dataset_free(ds);
    int ws;
    ck_assert_int_eq(waitpid(w, &ws, 0), w);
    /* 4,000 attributes, then empty sparse rows without end: 16 KB of floats per 3 bytes */
    sbuf b = {0};
    sb_add(&b, "@relation 'r: -C 1'\n");
    for (int i = 0; i < 4000; i++) sb_add(&b, "@attribute a%d real\n", i);
    sb_add(&b, "@data\n");
    const char *ep = tpath("endless.fifo");
    pid_t ew = endless_fifo(ep, b.s, "{}\n");
    free(b.s);
    job j = { ARFF, ep, NULL, NULL, NULL, 0 };
    const char *nd[] = { ep, "would need", "read so far", NULL };
    expect_refused(&j, MLCL_EFORMAT, nd);
    kill(ew, SIGKILL);
    ck_assert_int_eq(waitpid(ew, &ws, 0), ew);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hostile_data");
    TCase *tc = tcase_create("budgets");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, libsvm_feature_index_bomb);
    tcase_add_test(tc, arff_meka_c_out_of_range);
    tcase_add_test(tc, libsvm_label_index_bomb);
    tcase_add_test(tc, xc_header_bomb);
    tcase_add_test(tc, arff_gzip_many_attributes);
    tcase_add_test(tc, arff_nominal_many_values);
    tcase_add_test(tc, npy_single_copy);
    tcase_add_test(tc, npz_deflate_bomb);
    tcase_add_test(tc, idx_gzip_bomb);
    tcase_add_test(tc, pipe_budget);
    suite_add_tcase(s, tc);
    tc = tcase_create("text");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, nul_at_line_start);
    tcase_add_test(tc, nul_mid_line);
    tcase_add_test(tc, dev_zero);
    tcase_add_test(tc, endless_line);
    tcase_add_test(tc, libsvm_index_base_not_guessed);
    tcase_add_test(tc, huge_values);
    tcase_add_test(tc, gzip_trailing_bytes);
    suite_add_tcase(s, tc);
    return s;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void rm_tree(void)
{
    if (tmpdir[0] && nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/mlcl-hostile-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    int rc = run_suite(suite());
    rm_tree();
    return rc;
}

/* IDX (MNIST format) reader and single-label image sets. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "data/data_internal.h"

/* Reads exactly n bytes; returns the count read (less at the end of the data)
 * or -1 with s->status/s->why set. */
static long long read_all(mlcl__zsrc *s, uint8_t *dst, size_t n)
{
    size_t got = 0;
    while (got < n) {
        long r = mlcl__zsrc_read(s, dst + got, n - got);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

static int src_fail(const mlcl__zsrc *s, const char *fn, const char *path)
{
    return mlcl__err(s->status, "%s: %s: %s", fn, path, s->why);
}

/* Loads an IDX file; `expand` is the number of bytes the caller will make of
 * each data byte (4 for floats), counted against the budget with the data. */
static int idx_load(uint8_t **data, int *ndim, int dims[MLCL_IDX_MAX_DIMS], const char *path,
                    const char *fn, int expand)
{
    *data = NULL;
    mlcl__zsrc src, *f = &src;
    MLCL_TRY(mlcl__zsrc_open(f, path, fn));
    int rc = MLCL_OK;
    uint8_t hdr[4 + 4 * MLCL_IDX_MAX_DIMS];
    long long got = read_all(f, hdr, 4);
    if (got < 0) { rc = src_fail(f, fn, path); goto done; }
    if (got < 4) { rc = mlcl__err(MLCL_EFORMAT, "%s: %s: file too short for an IDX header", fn, path); goto done; }
    if (hdr[0] != 0 || hdr[1] != 0) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: bad IDX magic %02x %02x (expected 00 00)", fn, path, hdr[0], hdr[1]);
        goto done;
    }
    if (hdr[2] != 0x08) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: IDX element type 0x%02x is not supported (only 0x08, unsigned byte)",
                       fn, path, hdr[2]);
        goto done;
    }
    int nd = hdr[3];
    if (nd < 1 || nd > MLCL_IDX_MAX_DIMS) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: IDX has %d dimensions (supported: 1..%d)", fn, path, nd, MLCL_IDX_MAX_DIMS);
        goto done;
    }
    got = read_all(f, hdr + 4, 4u * (unsigned)nd);
    if (got < 0) { rc = src_fail(f, fn, path); goto done; }
    if (got < 4 * nd) { rc = mlcl__err(MLCL_EFORMAT, "%s: %s: truncated IDX header", fn, path); goto done; }
    size_t total = 1;
    for (int k = 0; k < MLCL_IDX_MAX_DIMS; k++) dims[k] = 0;
    for (int k = 0; k < nd; k++) {
        const uint8_t *b = hdr + 4 + 4 * k;
        uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (v > INT_MAX) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: IDX dimension %d is %u (> INT_MAX)", fn, path, k, v);
            goto done;
        }
        dims[k] = (int)v;
        if (mlcl__mul_size(total, v, &total)) {
            rc = mlcl__err(MLCL_EOVERFLOW, "%s: %s: IDX size overflows size_t", fn, path);
            goto done;
        }
    }
    *ndim = nd;
    /* The header's size is a claim: a plain file must hold exactly that many
     * bytes, and what it makes us allocate is within the file's budget. */
    const uint64_t hbytes = 4 + 4 * (uint64_t)nd;
    if (!f->gz && f->file_size && (uint64_t)total != f->file_size - hbytes) {
        if ((uint64_t)total > f->file_size - hbytes)
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: truncated IDX data: %llu of %zu bytes", fn, path,
                           (unsigned long long)(f->file_size - hbytes), total);
        else
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: trailing data after %zu IDX bytes", fn, path, total);
        goto done;
    }
    /* (from a pipe the budget grows with the bytes read: checked as the buffer grows) */
    char what[64], msg[400];
    snprintf(what, sizeof what, "the IDX header's %zu bytes", total);
    if (f->file_size && (double)total * (1.0 + expand) > (double)mlcl__zsrc_budget(f)) {
        mlcl__zsrc_budget_err(f, msg, sizeof msg, (double)total * (1.0 + expand), what);
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: %s", fn, path, msg);
        goto done;
    }
    /* Grow the buffer as the data arrive (from 1 MiB, doubling), so that a
     * short file whose header claims huge dimensions cannot make us allocate
     * more than about twice what it holds (found by tests/fuzz/fuzz_idx). */
    const size_t first = (size_t)1 << 20;
    size_t cap = total == 0 ? 1 : (total < first ? total : first), have = 0;
    uint8_t *buf = mlcl__malloc(cap);
    if (!buf) { rc = mlcl__err(MLCL_ENOMEM, "%s: %s: cannot allocate %zu bytes", fn, path, cap); goto done; }
    for (;;) {
        size_t want = (total < cap ? total : cap) - have;
        got = read_all(f, buf + have, want);
        if (got < 0) { rc = src_fail(f, fn, path); mlcl__free(buf); goto done; }
        have += (size_t)got;
        if (have == total) break;
        if ((size_t)got < want) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: truncated IDX data: %zu of %zu bytes", fn, path, have, total);
            mlcl__free(buf);
            goto done;
        }
        size_t ncap = cap > total / 2 ? total : 2 * cap;
        if ((double)ncap * (1.0 + expand) > (double)mlcl__zsrc_budget(f)) {
            mlcl__zsrc_budget_err(f, msg, sizeof msg, (double)total * (1.0 + expand), what);
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: %s", fn, path, msg);
            mlcl__free(buf);
            goto done;
        }
        uint8_t *nb = mlcl__malloc(ncap);
        if (!nb) {
            rc = mlcl__err(MLCL_ENOMEM, "%s: %s: cannot allocate %zu bytes", fn, path, ncap);
            mlcl__free(buf);
            goto done;
        }
        memcpy(nb, buf, have);
        mlcl__free(buf);
        buf = nb;
        cap = ncap;
    }
    uint8_t extra;
    got = read_all(f, &extra, 1);
    if (got != 0) {
        rc = got < 0 ? src_fail(f, fn, path)
                     : mlcl__err(MLCL_EFORMAT, "%s: %s: trailing data after %zu IDX bytes", fn, path, total);
        mlcl__free(buf);
        goto done;
    }
    *data = buf;
done:
    mlcl__zsrc_close(f);
    return rc;
}

int mlcl_idx_load(uint8_t **data, int *ndim, int dims[MLCL_IDX_MAX_DIMS], const char *path)
{
    static const char fn[] = "mlcl_idx_load";
    MLCL_CHECK_NULL(fn, data);
    *data = NULL;
    MLCL_CHECK_NULL(fn, ndim);
    MLCL_CHECK_NULL(fn, dims);
    MLCL_CHECK_NULL(fn, path);
    return idx_load(data, ndim, dims, path, fn, 0);
}

void mlcl_idx_free(uint8_t *data) { mlcl__free(data); }

/* Loads an images (n x h x w) / labels (n) pair and checks that they agree. */
static int load_pair(uint8_t **img, uint8_t **lab, int *n, int *h, int *w, const char *ipath,
                     const char *lpath, int n_classes, const char *fn, int expand)
{
    int nd, dims[MLCL_IDX_MAX_DIMS], ldims[MLCL_IDX_MAX_DIMS], lnd;
    *img = *lab = NULL;
    MLCL_TRY(idx_load(img, &nd, dims, ipath, fn, expand));
    int rc = idx_load(lab, &lnd, ldims, lpath, fn, 0);
    if (rc < 0) goto fail;
    if (nd != 3 || dims[0] == 0 || dims[1] == 0 || dims[2] == 0) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: expected a non-empty n x rows x cols IDX file", fn, ipath);
        goto fail;
    }
    if (lnd != 1 || ldims[0] != dims[0]) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: expected %d labels to match %s", fn, lpath, dims[0], ipath);
        goto fail;
    }
    for (int i = 0; i < dims[0]; i++)
        if ((*lab)[i] >= n_classes) {
            rc = mlcl__err(MLCL_EFORMAT, "%s: %s: label %d of item %d is >= %d classes", fn, lpath, (*lab)[i], i, n_classes);
            goto fail;
        }
    *n = dims[0]; *h = dims[1]; *w = dims[2];
    return MLCL_OK;
fail:
    mlcl__free(*img); mlcl__free(*lab);
    *img = *lab = NULL;
    return rc;
}

int mlcl_dataset_load_idx(mlcl_dataset **out, const char *images_path, const char *labels_path,
                          int n_classes)
{
    static const char fn[] = "mlcl_dataset_load_idx";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, images_path);
    MLCL_CHECK_NULL(fn, labels_path);
    MLCL_CHECK_POS(fn, n_classes);
    if (n_classes > 256) return mlcl__err(MLCL_EINVAL, "%s: n_classes must be <= 256 (got %d)", fn, n_classes);
    uint8_t *img, *lab;
    int n = 0, h = 0, w = 0;
    MLCL_TRY(load_pair(&img, &lab, &n, &h, &w, images_path, labels_path, n_classes, fn, (int)sizeof(float)));
    mlcl_dataset *ds;
    size_t hw = (size_t)h * (size_t)w;
    int rc = hw > INT_MAX ? mlcl__err(MLCL_EOVERFLOW, "%s: %d x %d images are too large", fn, h, w)
                          : mlcl__dataset_alloc(&ds, n, (int)hw, n_classes, fn);
    if (rc == MLCL_OK) {
        for (size_t k = 0; k < (size_t)n * hw; k++) ds->x[k] = (float)img[k] / 255.0f;
        for (int i = 0; i < n; i++) ds->y[(size_t)i * (size_t)n_classes + lab[i]] = 1;
        mlcl__dataset_pack(ds);
        ds->ch = 1; ds->h = h; ds->w = w;
        *out = ds;
    }
    mlcl__free(img);
    mlcl__free(lab);
    return rc;
}

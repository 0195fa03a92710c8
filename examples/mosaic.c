/* The Fashion-MNIST multi-label mosaic set (mosaic.h), on the public API. */
#include "mosaic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

static _Thread_local char last_error[512];

const char *mosaic_last_error(void) { return last_error[0] ? last_error : mlcl_last_error(); }

static int mosaic_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

/* The library's generator on the stream "mosaic": PCG-XSH-RR seeded as
 * mlcl_rng_create() seeds its own stream (state 0, increment 2 stream + 1,
 * one step, add the seed, one step), through mlcl_rng_set_state(). */
static int rng_stream(mlcl_rng **out, uint64_t seed, uint64_t stream)
{
    int rc = mlcl_rng_create(out, 0);
    uint64_t st[2] = { 0, (stream << 1) | 1u };
    uint32_t u;
    if (rc == MLCL_OK) rc = mlcl_rng_set_state(*out, st);
    if (rc == MLCL_OK) rc = mlcl_rng_u32(*out, &u, 1);
    if (rc == MLCL_OK) rc = mlcl_rng_get_state(*out, st);
    st[0] += seed;
    if (rc == MLCL_OK) rc = mlcl_rng_set_state(*out, st);
    if (rc == MLCL_OK) rc = mlcl_rng_u32(*out, &u, 1);
    return rc;
}

/* Uniform in [0, bound) without modulo bias (Lemire's threshold rule). */
static uint32_t bounded(mlcl_rng *r, uint32_t bound)
{
    if (bound <= 1) return 0;
    uint32_t threshold = (uint32_t)(-bound) % bound, v;
    for (;;) {
        mlcl_rng_u32(r, &v, 1);
        if (v >= threshold) return v % bound;
    }
}

int fashion_mosaic(mlcl_dataset **out, const char *dir, int train, int n_samples, uint64_t seed, int grid)
{
    last_error[0] = '\0';
    mlcl_clear_error();
    if (!out) return mosaic_fail(MLCL_EINVAL, "fashion_mosaic: out is NULL");
    *out = NULL;
    if (n_samples <= 0) return mosaic_fail(MLCL_EINVAL, "fashion_mosaic: n_samples must be > 0 (got %d)", n_samples);
    if (grid < 1 || grid > 8) return mosaic_fail(MLCL_EINVAL, "fashion_mosaic: grid must be in 1..8 (got %d)", grid);
    if (train != 0 && train != 1) return mosaic_fail(MLCL_EINVAL, "fashion_mosaic: train must be 0 or 1 (got %d)", train);
    if (!dir) dir = MOSAIC_DIR_DEFAULT;
    const char *pre = train ? "train" : "t10k";
    char ipath[4096], lpath[4096];
    if (snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, pre) >= (int)sizeof ipath ||
        snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, pre) >= (int)sizeof lpath)
        return mosaic_fail(MLCL_EINVAL, "fashion_mosaic: dir is too long");
    uint8_t *img = NULL, *lab = NULL;
    int nd, dims[MLCL_IDX_MAX_DIMS], lnd, ldims[MLCL_IDX_MAX_DIMS];
    int rc = mlcl_idx_load(&img, &nd, dims, ipath);
    if (rc == MLCL_OK) rc = mlcl_idx_load(&lab, &lnd, ldims, lpath);
    if (rc != MLCL_OK) goto done;
    if (nd != 3 || dims[0] == 0 || dims[1] == 0 || dims[2] == 0) {
        rc = mosaic_fail(MLCL_EFORMAT, "fashion_mosaic: %s: expected a non-empty n x rows x cols IDX file", ipath);
        goto done;
    }
    if (lnd != 1 || ldims[0] != dims[0]) {
        rc = mosaic_fail(MLCL_EFORMAT, "fashion_mosaic: %s: expected %d labels to match %s", lpath, dims[0], ipath);
        goto done;
    }
    const int n = dims[0], h = dims[1], w = dims[2];
    for (int i = 0; i < n; i++)
        if (lab[i] >= 10) {
            rc = mosaic_fail(MLCL_EFORMAT, "fashion_mosaic: %s: label %d of item %d is >= 10 classes", lpath, lab[i], i);
            goto done;
        }
    const size_t H = (size_t)grid * (size_t)h, W = (size_t)grid * (size_t)w;
    if (H * W > (size_t)1 << 30) {
        rc = mosaic_fail(MLCL_EOVERFLOW, "fashion_mosaic: %zu x %zu mosaics are too large", H, W);
        goto done;
    }
    float *x = malloc((size_t)n_samples * H * W * sizeof *x);
    uint8_t *y = calloc((size_t)n_samples * 10u, 1);
    mlcl_rng *rng = NULL;
    if (!x || !y) rc = mosaic_fail(MLCL_ENOMEM, "fashion_mosaic: cannot allocate %d mosaics", n_samples);
    if (rc == MLCL_OK) rc = rng_stream(&rng, seed, 0x6d6f73616963ULL /* "mosaic" */);
    for (int i = 0; rc == MLCL_OK && i < n_samples; i++) {
        float *xi = x + (size_t)i * H * W;
        uint8_t *yi = y + (size_t)i * 10u;
        for (int r = 0; r < grid; r++)
            for (int s = 0; s < grid; s++) {
                uint32_t item = bounded(rng, (uint32_t)n);
                const uint8_t *src = img + (size_t)item * (size_t)h * (size_t)w;
                for (int a = 0; a < h; a++) {
                    float *dst = xi + ((size_t)r * (size_t)h + (size_t)a) * W + (size_t)s * (size_t)w;
                    for (int b = 0; b < w; b++) dst[b] = (float)src[(size_t)a * (size_t)w + (size_t)b] / 255.0f;
                }
                yi[lab[item]] = 1;
            }
    }
    mlcl_rng_free(rng);
    mlcl_idx_free(img);
    img = NULL;
    mlcl_dataset *ds = NULL;
    if (rc == MLCL_OK) rc = mlcl_dataset_create_from_arrays(&ds, n_samples, (int)(H * W), 10, x, y);
    free(x);
    free(y);
    if (rc == MLCL_OK) rc = mlcl_dataset_set_image_shape(ds, 1, (int)H, (int)W);
    if (rc == MLCL_OK) rc = mlcl_dataset_set_label_names(ds, 10, fashion_names);
    if (rc == MLCL_OK) *out = ds;
    else mlcl_dataset_free(ds);
done:
    mlcl_idx_free(img);
    mlcl_idx_free(lab);
    return rc;
}

/* libFuzzer target: the JPEG (libjpeg-turbo) and PNG (libpng) decoders
 * behind mlcl_image_read(), and the resize + centre crop of what they give. */
#include "fuzz_common.h"
#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size, ".img");
    static const int want[4] = { 0, 1, 3, 4 };
    float *px = NULL;
    int c = 0, h = 0, w = 0;
    mlcl_clear_error();
    int rc = mlcl_image_read(&px, &c, &h, &w, p, want[size % 4]);
    fuzz_check_rc(rc);
    if (rc != MLCL_OK) {
        if (px) abort();
        return 0;
    }
    if (c < 1 || c > 4 || h <= 0 || w <= 0 || (double)h * w > MLCL_IMAGE_MAX_PIXELS) abort();
    size_t n = (size_t)c * (size_t)h * (size_t)w;
    for (size_t i = 0; i < n; i++)
        if (!(px[i] >= 0.0f && px[i] <= 1.0f)) abort();
    float out[4 * 5 * 3];
    mlcl_clear_error();
    rc = mlcl_image_resize_crop(out, 5, 3, px, c, h, w);
    fuzz_check_rc(rc);
    if (rc == MLCL_OK)
        for (int i = 0; i < c * 15; i++)
            if (!(out[i] >= -1e-5f && out[i] <= 1.0f + 1e-5f)) abort();
    mlcl_image_free(px);
    return 0;
}

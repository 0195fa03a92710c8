/* libFuzzer target: safetensors import (mlcl_model_import_safetensors).
 *
 * The first input byte selects the import options (bit 0 backbone_only,
 * bit 1 allow_unused, bit 2 backbone_prefix "" instead of "backbone."); the
 * rest is the file. Each input is imported into a fresh small MLP model
 * (Linear(4,3) BatchNorm1d ReLU Linear(3,3, no bias), head Linear(3,2)):
 *   - a failed import must leave the model's scores unchanged, bit for bit;
 *   - a successful one must give scores that are numbers in [0, 1] or NaN
 *     (a hostile file may hold weights that overflow: its right, not a crash).
 * Seeds: MLCL_FUZZ_SEED_OUT=dir writes the model's own export there. */
#include "fuzz_common.h"
#include <math.h>
#include <string.h>

static const float X[2 * 4] = { 0.5f, -1.0f, 2.0f, 0.25f, 1.5f, 0.0f, -0.5f, 3.0f };

static mlcl_model *make_model(void)
{
    mlcl_encoder_options eo = MLCL_ENCODER_OPTIONS_INIT;
    eo.seed = 7;
    mlcl_encoder *e = NULL;
    mlcl_model *m = NULL;
    if (mlcl_encoder_create(&e, 4, &eo) || mlcl_encoder_add_linear(e, 3, 1) || mlcl_encoder_add_batchnorm(e, 1e-5f, 0.1f) ||
        mlcl_encoder_add_relu(e) || mlcl_encoder_add_linear(e, 3, 0) || mlcl_model_create(&m, e, 2, 8))
        abort();
    mlcl_encoder_free(e);
    return m;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    const char *dir = getenv("MLCL_FUZZ_SEED_OUT");
    if (dir) {
        char p[1024], q[1024];
        mlcl_model *m = make_model();
        snprintf(p, sizeof p, "%s/tmp.safetensors", dir);
        if (mlcl_model_export_safetensors(m, p)) abort();
        /* prefix the options byte */
        FILE *f = fopen(p, "rb");
        snprintf(q, sizeof q, "%s/seed-mlp", dir);
        FILE *g = fopen(q, "wb");
        if (!f || !g) abort();
        fputc(0, g);
        int ch;
        while ((ch = fgetc(f)) != EOF) fputc(ch, g);
        fclose(f);
        fclose(g);
        remove(p);
        mlcl_model_free(m);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = fuzz_write(data + 1, size - 1, ".safetensors");
    mlcl_model *m = make_model();
    mlcl_model_import_options o = MLCL_MODEL_IMPORT_OPTIONS_INIT;
    o.backbone_only = data[0] & 1;
    o.allow_unused = (data[0] >> 1) & 1;
    if (data[0] & 4) o.backbone_prefix = "";
    float before[4], after[4];
    if (mlcl_model_predict(m, 2, X, before)) abort();
    mlcl_clear_error();
    int rc = mlcl_model_import_safetensors(m, p, &o);
    fuzz_check_rc(rc);
    int prc = mlcl_model_predict(m, 2, X, after);
    if (rc != MLCL_OK) {
        if (prc != MLCL_OK || memcmp(before, after, sizeof before) != 0) abort(); /* the model changed */
    } else if (prc == MLCL_OK) {
        for (int i = 0; i < 4; i++)
            if (!isnan(after[i]) && !(after[i] >= 0.0f && after[i] <= 1.0f)) abort();
    } else {
        fuzz_check_rc(prc);
    }
    mlcl_model_free(m);
    return 0;
}

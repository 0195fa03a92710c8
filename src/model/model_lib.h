/* A *_lib.h header: functions a layer offers the layers above it inside the
 * library, no handle layout (docs/architecture.md, "Internal headers").
 * The model layer's builder: what mlcl_trainer_export_model (src/train/export.c)
 * hands over to make a model, without reaching into struct mlcl_model. */
#ifndef MLCL_MODEL_LIB_H
#define MLCL_MODEL_LIB_H
#include "mlcl/model.h"
#include "mlcl/encoder.h"
#include "core/internal.h"

/* The parts of a model: sizes, the input's image geometry, the standardiser,
 * the query backbone and the LD head (copied), the thresholds. */
typedef struct mlcl__model_parts {
    int d, c, h;           /* input features, labels, embedding width */
    int dn;                /* the backbone's input width (d, or the views' size for images) */
    int chunk;             /* rows per inference chunk */
    int img, ic, ih, iw, oh, ow; /* images: channels, stored and output size */
    const float *mean, *std; /* d each, or NULL: no standardisation */
    const mlcl_encoder *backbone, *ld_head;
    const float *thresholds; /* c values in [0, 1] */
} mlcl__model_parts;

/* A new model from the parts (copied), label names "label<j>", no provenance,
 * not finished; on error *out is NULL and nothing is kept. */
MLCL_INTERNAL int mlcl__model_build(mlcl_model **out, const mlcl__model_parts *p, const char *fn);
/* Sets or replaces a provenance entry (no argument checks). */
MLCL_INTERNAL int mlcl__model_prov_set(mlcl_model *m, const char *key, const char *value);
/* Validates the model and builds its inference templates (model_internal.h). */
MLCL_INTERNAL int mlcl__model_finish(mlcl_model *m, const char *fn);
#endif

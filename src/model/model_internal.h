/* The trained model's layout, shared by src/model/ (save, load, inference),
 * src/train/export.c (trainer -> model) and exporters to other formats
 * (safetensors, ONNX). Not part of the public API.
 *
 * A model is:
 *   - a backbone: a list of layers (mlcl__mlayer) in the order they run, with
 *     ONE flat parameter buffer and ONE flat state buffer in the layout of
 *     mlcl_encoder_params_ptr()/mlcl_encoder_get_state() (encoder.h, models.h): Linear weight
 *     (out x in, row-major) then bias; BatchNorm1d gamma, beta (state:
 *     running_mean, running_var); a ResNet layer holds torchvision's
 *     named_parameters() order (state: each BatchNorm2d's running_mean,
 *     running_var). A ResNet layer can only be the first layer;
 *   - the LD head: Linear(h, c) with bias: head[0 .. c*h) is the weight
 *     (c x h, row-major), head[c*h .. c*h+c) the bias. Scores are
 *     sigmoid(logits), label distributions softmax(logits);
 *   - the input transform: vector models standardise x' = (x - mean) / std
 *     (mean/std NULL when not standardised: rows used as given); image models use rows as
 *     given and resize ic x ih x iw images to ic x oh x ow (bilinear);
 *   - label names, thresholds, provenance (key/value strings).
 *
 * mlcl__model_tensors() names every tensor as the PyTorch module of the
 * documented equivalent network names it in state_dict() (docs/models.md):
 *   MLP backbone (nn.Sequential): "backbone.<i>.weight", "backbone.<i>.bias",
 *       BatchNorm1d also "backbone.<i>.running_mean", "backbone.<i>.running_var",
 *       where i is the layer's index in the backbone list;
 *   ResNet backbone (torchvision.models.resnetNN with fc = Identity):
 *       "backbone.conv1.weight", "backbone.bn1.weight", ...,
 *       "backbone.layer1.0.conv1.weight", "backbone.layer1.0.downsample.0.weight", ...;
 *       when layers follow the ResNet, the backbone is nn.Sequential(resnet, ...)
 *       and names read "backbone.0.conv1.weight", "backbone.1.weight", ...;
 *   head: "head.weight" (c x h), "head.bias" (c);
 *   not module tensors: "scaler.mean", "scaler.std" (d each, vector models
 *       that standardise), "thresholds" (c).
 */
#ifndef MLCL_MODEL_INTERNAL_H
#define MLCL_MODEL_INTERNAL_H
#include "mlcl/model.h"
#include "mlcl/models.h"
#include "core/internal.h"

/* Layer kinds, as stored in model files (never renumber). */
enum {
    MLCL__ML_LINEAR = 1,  /* in, out, bias */
    MLCL__ML_RELU = 2,
    MLCL__ML_DROPOUT = 3, /* p (identity at inference) */
    MLCL__ML_BN1D = 4,    /* eps, momentum */
    MLCL__ML_L2NORM = 5,
    MLCL__ML_SOFTMAX = 6,
    MLCL__ML_RESNET = 7   /* resnet spec */
};

typedef struct mlcl__mlayer {
    int kind;             /* MLCL__ML_* */
    int in, out, bias;    /* widths (every kind); bias: Linear only */
    float p, eps, momentum;
    mlcl_resnet_spec resnet; /* MLCL__ML_RESNET */
    size_t poff, np;      /* into bparams */
    size_t soff, ns;      /* into bstate */
} mlcl__mlayer;

/* Limits enforced on anything read from a file (before allocating). */
#define MLCL__MODEL_MAX_LAYERS 256
#define MLCL__MODEL_MAX_DIM (1 << 24)      /* any width, d, c, h */
#define MLCL__MODEL_MAX_IMAGE 4096         /* image height / width */
#define MLCL__MODEL_MAX_NAME 4095          /* label name / provenance value bytes */
#define MLCL__MODEL_MAX_PROV 256           /* provenance entries */
#define MLCL__MODEL_MAX_CHUNK 65536        /* inference chunk rows */
#define MLCL__MODEL_MAX_ROW ((size_t)1 << 26) /* floats per input row (d) and network input row */

struct mlcl_model {
    int d;                /* raw input row width */
    int c;                /* labels */
    int h;                /* embedding width (backbone output) */
    int dn;               /* network input width: d, or ic*oh*ow for images */
    int chunk;            /* rows per forward: the trainer's batch (bit-identical results) */
    int img;              /* 1: image model */
    int ic, ih, iw;       /* image shape of the input rows (image models) */
    int oh, ow;           /* network input size (image models) */
    int standardize;      /* 1: x' = (x - mean) / std */
    float *mean, *std;    /* d each when standardised, else NULL */
    int nl;
    mlcl__mlayer *L;      /* nl backbone layers */
    float *bparams;       /* bnp floats */
    size_t bnp;
    float *bstate;        /* bns floats */
    size_t bns;
    float *head;          /* c*h weight then c bias */
    float *thr;           /* c thresholds */
    char **labels;        /* c names */
    int nprov;
    char **prov_key, **prov_val;
    char *arch;           /* mlcl_model_architecture() text */
    /* templates made by mlcl__model_finish(), never run: cloned per workspace */
    mlcl_encoder *t_backbone, *t_head;
    uint64_t gen;         /* bumped by every rebuild of the templates (e.g. an import):
                             a workspace cloned from older ones clones again */
};

/* A named view of one tensor of the model (pointers into its buffers). */
typedef struct mlcl__model_tensor {
    char name[128];
    int ndim;
    int64_t shape[4];
    const float *data;    /* prod(shape) floats */
    int is_state;         /* 1: a buffer (BatchNorm running statistics, scaler, thresholds) */
} mlcl__model_tensor;

/* Copies a backbone encoder's layer descriptions, parameters and statistics
 * into m (L, nl, bnp, bns, bparams, bstate); at most MLCL__MODEL_MAX_LAYERS
 * layers. Used by mlcl_model_create and mlcl_trainer_export_model. */
MLCL_INTERNAL int mlcl__model_copy_backbone(mlcl_model *m, const mlcl_encoder *bb, const char *fn);
/* Allocates an empty model (all pointers NULL). */
MLCL_INTERNAL int mlcl__model_alloc(mlcl_model **out, const char *fn);
/* Validates the fields (widths against layers, parameter counts against the
 * layers, finite values, thresholds, names) and builds the templates and the
 * architecture text. Called by the exporter and the loader; on error the
 * model is left for mlcl_model_free(). */
MLCL_INTERNAL int mlcl__model_finish(mlcl_model *m, const char *fn);
/* Parameter and state counts of a layer (0 for parameter-free layers);
 * -1 when the layer description is invalid (message set, naming fn). */
MLCL_INTERNAL int mlcl__mlayer_counts(const mlcl__mlayer *l, size_t *np, size_t *ns, int *out_w, const char *fn);
/* Every tensor with its PyTorch name; *out is freed with mlcl__free(). */
MLCL_INTERNAL int mlcl__model_tensors(const mlcl_model *m, mlcl__model_tensor **out, int *count);
/* Sets or replaces a provenance entry (no argument checks). */
MLCL_INTERNAL int mlcl__model_prov_set(mlcl_model *m, const char *key, const char *value);
/* Shared by the exporters: the model's description as a JSON object of
 * strings (the safetensors "__metadata__"; docs/models.md lists the keys),
 * serialised with jansson; *out is freed with free(). */
MLCL_INTERNAL int mlcl__model_metadata_json(const mlcl_model *m, char **out, const char *fn);
#endif

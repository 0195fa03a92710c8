/**
 * @file
 * libmlcl — model.h: a trained, frozen model that leaves the trainer.
 *
 * An mlcl_model holds what is needed to USE the result of a training run,
 * and nothing needed only to continue it: the backbone (its architecture is
 * described in the model, MLP or ResNet, so the caller never rebuilds it),
 * the label-distribution (LD) head — a Linear(h, c) whose sigmoid is the
 * classifier's scores and whose softmax is the label distribution —, the
 * input standardisation (the training set's mean and std, or none), for
 * convolutional models the image shape and the network's input size, the
 * label names, one decision threshold per label, and provenance (library
 * version, method, loss options, seed, data file names, a hash of the
 * training set, metrics at the end of training).
 *
 * Typical use:
 * @code
 *   mlcl_model *m;
 *   mlcl_trainer_export_model(trainer, &m);     // after mlcl_trainer_run()
 *   mlcl_model_save(m, "yeast.mlcl");
 *   mlcl_model_free(m);
 *   ...                                           // another program
 *   mlcl_model_load(&m, "yeast.mlcl");
 *   mlcl_model_predict(m, n, x, scores);          // n x c sigmoid scores
 * @endcode
 *
 * The file format (docs/formats.md, "Model files") is versioned, CRC-checked
 * and zlib-compressed, written atomically; a model file written by any 1.x
 * library loads in any later 1.x library. Loading validates everything
 * before use: a corrupted, truncated or hostile file is a clean error.
 *
 * Thread-safety: the inference functions (mlcl_model_predict(),
 * mlcl_model_predict_labels(), mlcl_model_embed(), mlcl_model_distributions(),
 * mlcl_model_infer()) and every accessor take a `const mlcl_model *` and may
 * run from many threads at once on one model: each call uses its own
 * workspace (or the caller's mlcl_model_workspace, one per thread). The
 * setters (mlcl_model_set_*) must not run concurrently with any other call
 * on the same model.
 */
#ifndef MLCL_MODEL_H
#define MLCL_MODEL_H

#include "core.h"
#include "dataset.h"
#include "metrics.h"
#include "encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The opaque trained model. */
typedef struct mlcl_model mlcl_model;

/** Frees a model; NULL is a no-op. */
MLCL_API void mlcl_model_free(mlcl_model *model);

/**
 * Writes @p model to @p path (docs/formats.md, "Model files"): written to a
 * temporary file in the same directory, flushed and renamed, so an
 * interrupted save never leaves a partial file under @p path; a @p path that
 * exists and is not a regular file is refused.
 * @param model the model.
 * @param path the file to write.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO (message names the file) or MLCL_ENOMEM.
 */
MLCL_API int mlcl_model_save(const mlcl_model *model, const char *path);

/**
 * Reads a model written by mlcl_model_save() of this or an earlier 1.x
 * library. Every size is checked against the file and against each other
 * before anything is allocated from it; sections this library does not know
 * and that are marked optional are skipped.
 * @param[out] out the new model (NULL on error); free with mlcl_model_free().
 * @param path the file.
 * @return MLCL_OK; MLCL_EIO (cannot read), MLCL_EFORMAT (malformed: not a
 *         model, truncated, inconsistent sizes, bad values), MLCL_ECHECKSUM
 *         (corrupted), MLCL_EVERSION (written by an incompatible library),
 *         MLCL_ENOMEM; the message names the file and the problem.
 */
MLCL_API int mlcl_model_load(mlcl_model **out, const char *path);

/** What mlcl_model_infer() computes for each row. */
typedef enum mlcl_model_output {
    MLCL_MODEL_SCORES = 0,        /**< n x c sigmoid scores of the LD head's logits */
    MLCL_MODEL_LABELS = 1,        /**< n x c decisions as floats, 1 when score >= the label's threshold, else 0 */
    MLCL_MODEL_EMBEDDING = 2,     /**< n x h backbone features (h = the embedding width) */
    MLCL_MODEL_DISTRIBUTIONS = 3  /**< n x c label distributions: softmax of the LD head's logits */
} mlcl_model_output;

/** An opaque per-thread inference workspace (optional: saves rebuilding it per call). */
typedef struct mlcl_model_workspace mlcl_model_workspace;

/**
 * Creates a workspace for inference with @p model: a private copy of the
 * networks and their buffers. A workspace serves one thread at a time; use
 * one per thread. It must be freed before the model. It follows later
 * changes of the model's weights (after mlcl_model_import_safetensors() its
 * next call copies the new networks).
 * @param[out] out the workspace; free with mlcl_model_workspace_free().
 * @param model the model (borrowed: it must outlive the workspace).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_model_workspace_create(mlcl_model_workspace **out, const mlcl_model *model);

/** Frees a workspace; NULL is a no-op. */
MLCL_API void mlcl_model_workspace_free(mlcl_model_workspace *ws);

/**
 * Runs the model on @p n rows of raw features (the layout of the training
 * data: standardised inside with the stored statistics; images resized to
 * the network's input size when it differs), in evaluation mode (dropout
 * off, BatchNorm running statistics), in chunks of the training batch size.
 * @param model the model.
 * @param ws a workspace made for this model, or NULL for a temporary one.
 * @param what the output (mlcl_model_output).
 * @param n rows, > 0.
 * @param[in] x n x mlcl_model_dims() n_features floats, finite.
 * @param[out] out n x c floats (n x h for MLCL_MODEL_EMBEDDING).
 * @return MLCL_OK, MLCL_EINVAL (a workspace of another model included),
 *         MLCL_ENUMERIC (non-finite input, naming the rows), MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_model_infer(const mlcl_model *model, mlcl_model_workspace *ws, int what, int n,
                              const float *x, float *out);

/**
 * Sigmoid scores: equal bit for bit to mlcl_trainer_predict() of the
 * trainer the model was exported from, on the same rows.
 * @param model the model.
 * @param n rows, > 0.
 * @param[in] x n x n_features raw features.
 * @param[out] scores n x c.
 * @return as mlcl_model_infer().
 */
MLCL_API int mlcl_model_predict(const mlcl_model *model, int n, const float *x, float *scores);

/**
 * 0/1 decisions: labels[i*c+j] = score >= threshold j (mlcl_model_thresholds()).
 * @param model the model.
 * @param n rows, > 0.
 * @param[in] x n x n_features raw features.
 * @param[out] labels n x c bytes.
 * @return as mlcl_model_infer().
 */
MLCL_API int mlcl_model_predict_labels(const mlcl_model *model, int n, const float *x, uint8_t *labels);

/**
 * Backbone features (the embedding the heads read).
 * @param model the model.
 * @param n rows, > 0.
 * @param[in] x n x n_features raw features.
 * @param[out] emb n x embed_dim.
 * @return as mlcl_model_infer().
 */
MLCL_API int mlcl_model_embed(const mlcl_model *model, int n, const float *x, float *emb);

/**
 * Label distributions: softmax of the LD head (rows sum to 1); equal to
 * mlcl_trainer_distributions() of the exporting trainer.
 * @param model the model.
 * @param n rows, > 0.
 * @param[in] x n x n_features raw features.
 * @param[out] dists n x c.
 * @return as mlcl_model_infer().
 */
MLCL_API int mlcl_model_distributions(const mlcl_model *model, int n, const float *x, float *dists);

/**
 * The model's widths.
 * @param model the model.
 * @param[out] n_features input row width d (nullable).
 * @param[out] n_labels label count c (nullable).
 * @param[out] embed_dim backbone output width h (nullable).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_dims(const mlcl_model *model, int *n_features, int *n_labels, int *embed_dim);

/**
 * The image settings of a convolutional model: input rows are images of
 * channels x height x width floats (CHW, used as given, except by a model
 * exported from a loader-fed trainer (mlcl_trainer_create_stream): that one
 * normalises them with the loaders' mean/std, mlcl_model_standardization()),
 * resized (bilinear, mlcl_image_resize()) to net_height x net_width when that
 * differs. All outputs are 0 for a model over feature vectors.
 * @param model the model.
 * @param[out] channels image channels (nullable).
 * @param[out] height input image height (nullable).
 * @param[out] width input image width (nullable).
 * @param[out] net_height the network's input height (nullable).
 * @param[out] net_width the network's input width (nullable).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_image_shape(const mlcl_model *model, int *channels, int *height, int *width,
                                    int *net_height, int *net_width);

/**
 * The input standardisation: x' = (x - mean) / std per feature.
 * @param model the model.
 * @param[out] standardized 1 when the model standardises its inputs, 0 when it uses them as given.
 * @param[out] mean n_features floats, or NULL (filled with 0 when not standardised).
 * @param[out] std n_features floats, or NULL (filled with 1 when not standardised).
 * @param n_features must equal the model's when @p mean or @p std is given.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_standardization(const mlcl_model *model, int *standardized, float *mean, float *std,
                                        int n_features);

/**
 * A one-line description of the networks, e.g.
 * "backbone: Linear(103,256) ReLU Dropout(0.2) ...; head: Linear(256,14)".
 * @param model the model.
 * @param[out] text borrowed, valid until the model is freed.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_architecture(const mlcl_model *model, const char **text);

/**
 * The name of label @p j.
 * @param model the model.
 * @param j label index, 0 <= j < c.
 * @param[out] name borrowed, valid until the model is freed or its names are set.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_label_name(const mlcl_model *model, int j, const char **name);

/**
 * Replaces the label names.
 * @param model the model.
 * @param c must equal the model's label count.
 * @param names c non-empty NUL-terminated strings of at most 4095 bytes without
 *              a newline (copied).
 * @return MLCL_OK, MLCL_EINVAL (the model is unchanged) or MLCL_ENOMEM.
 */
MLCL_API int mlcl_model_set_label_names(mlcl_model *model, int c, const char *const *names);

/**
 * Copies the decision thresholds out (default 0.5 each).
 * @param model the model.
 * @param c must equal the model's label count.
 * @param[out] thresholds c floats.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_thresholds(const mlcl_model *model, int c, float *thresholds);

/**
 * Replaces the decision thresholds used by mlcl_model_predict_labels().
 * @param model the model.
 * @param c must equal the model's label count.
 * @param thresholds c values in [0, 1] (copied).
 * @return MLCL_OK or MLCL_EINVAL (the model is unchanged).
 */
MLCL_API int mlcl_model_set_thresholds(mlcl_model *model, int c, const float *thresholds);

/**
 * The number of provenance entries (key/value strings such as "library",
 * "method", "seed", "train_file", "train_hash", "test_paper_mAP"; docs/models.md lists them).
 * @param model the model.
 * @param[out] count the number of entries.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_provenance_count(const mlcl_model *model, int *count);

/**
 * Provenance entry @p i, in the order recorded.
 * @param model the model.
 * @param i 0 <= i < mlcl_model_provenance_count().
 * @param[out] key borrowed (nullable).
 * @param[out] value borrowed (nullable); both valid until the next set or free.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_provenance(const mlcl_model *model, int i, const char **key, const char **value);

/**
 * The provenance value of @p key.
 * @param model the model.
 * @param key the key.
 * @param[out] value borrowed, or NULL when the model has no such entry.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_model_provenance_get(const mlcl_model *model, const char *key, const char **value);

/**
 * Adds or replaces a provenance entry (for example metrics computed after
 * the export).
 * @param model the model.
 * @param key 1..255 bytes of letters, digits, '_', '.' or '-'.
 * @param value at most 4095 bytes, no newline (copied).
 * @return MLCL_OK, MLCL_EINVAL or MLCL_ENOMEM.
 */
MLCL_API int mlcl_model_set_provenance(mlcl_model *model, const char *key, const char *value);

/* ------------------------------------------------------------------------ */
/* Interoperability: PyTorch (safetensors) and ONNX (docs/models.md,         */
/* "Exporting to PyTorch and ONNX").                                         */

/**
 * Creates a model around a copy of @p backbone (its layers, parameters and
 * BatchNorm statistics; the encoder is not kept) with a new head
 * Linear(embedding width, @p n_labels) initialised as PyTorch's nn.Linear
 * from @p seed, thresholds 0.5, label names "label0", ... and no input
 * standardisation. A backbone that starts with a ResNet
 * (mlcl_encoder_create_resnet()) makes an image model whose rows are
 * in_channels x height x width images of the spec's size. Use it with
 * mlcl_model_import_safetensors() to run weights trained elsewhere, e.g. a
 * torchvision ResNet's.
 * @param[out] out the new model; free with mlcl_model_free().
 * @param backbone the backbone (read only), with at least one layer.
 * @param n_labels the label count c, > 0.
 * @param seed seeds the head's initialisation.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_model_create(mlcl_model **out, const mlcl_encoder *backbone, int n_labels, uint64_t seed);

/**
 * Writes the model's tensors as a safetensors file (an 8-byte little-endian
 * header length, a JSON header, raw little-endian float32 data). Tensor
 * names are the state_dict() keys of the equivalent PyTorch module described
 * in docs/models.md ("backbone.0.weight", ..., torchvision's names for a
 * ResNet backbone, "head.weight", "head.bias", "scaler.mean", "scaler.std",
 * "thresholds"); the header's "__metadata__" records the architecture, label
 * names, image shape and provenance. Written to a temporary file and renamed;
 * a @p path that exists and is not a regular file is refused.
 * @param model the model.
 * @param path the file to write (conventionally *.safetensors).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO (message names the file) or MLCL_ENOMEM.
 */
MLCL_API int mlcl_model_export_safetensors(const mlcl_model *model, const char *path);

/** Version of mlcl_model_import_options understood by this library. */
#define MLCL_MODEL_IMPORT_OPTIONS_VERSION 1

/** Which tensors of a safetensors file mlcl_model_import_safetensors() reads. */
typedef struct mlcl_model_import_options {
    unsigned int version;         /**< MLCL_MODEL_IMPORT_OPTIONS_VERSION */
    const char *backbone_prefix;  /**< prefix of the backbone's tensor names in the file: NULL means
                                       "backbone." (files of mlcl_model_export_safetensors()); "" reads a
                                       bare torchvision ResNet state_dict ("conv1.weight", "layer1.0.conv1.weight", ...) */
    const char *head_prefix;      /**< prefix of the head's "weight" and "bias": NULL means "head."
                                       ("fc." for a torchvision classifier of the model's label count) */
    int backbone_only;            /**< 1: read the backbone only (head, standardisation and thresholds are kept) */
    int allow_unused;             /**< 1: ignore tensors of the file that are not read (e.g. torchvision's fc.*
                                       with backbone_only); 0: they are an error */
} mlcl_model_import_options;

/** Static initialiser: every tensor of the model, with the names mlcl_model_export_safetensors() writes. */
#define MLCL_MODEL_IMPORT_OPTIONS_INIT { MLCL_MODEL_IMPORT_OPTIONS_VERSION, NULL, NULL, 0, 0 }

/**
 * Fills @p opts with the defaults (the same bytes as MLCL_MODEL_IMPORT_OPTIONS_INIT).
 * @param[out] opts the struct to fill.
 * @param version must be MLCL_MODEL_IMPORT_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_model_import_options_init(mlcl_model_import_options *opts, unsigned int version);

/**
 * Replaces the weights of @p model, whose architecture stays as it is, with
 * the tensors of a safetensors file, found by their PyTorch names (see
 * mlcl_model_export_safetensors() and @p opts): every backbone tensor, and
 * unless opts->backbone_only the head's weight and bias, "scaler.mean" and
 * "scaler.std" (required when the model standardises its inputs; when a
 * vector model that does not standardise finds both, it standardises from
 * then on) and "thresholds" (optional). Each must be float32 ("F32") with
 * the model's shape; BatchNorm "num_batches_tracked" counters (integers,
 * unused at inference) are accepted and ignored. The whole header is
 * validated before any data is read: JSON syntax, duplicate names, dtypes,
 * shapes, and data offsets against the file size (in bounds, no overlap, no
 * gap), with the header at most 100 MB. On any error the model is unchanged.
 * Not thread-safe on @p model (as the setters).
 * @param model the model to update.
 * @param path the safetensors file.
 * @param opts the names to read, or NULL for MLCL_MODEL_IMPORT_OPTIONS_INIT.
 * @return MLCL_OK; MLCL_EINVAL (NULL, bad options); MLCL_EIO (cannot read);
 *         MLCL_EFORMAT (malformed file, a missing tensor, a dtype or shape that
 *         does not match, an unused tensor without allow_unused, non-finite or
 *         invalid values; the message names the tensor); MLCL_EVERSION;
 *         MLCL_ENOMEM; MLCL_EBACKEND.
 */
MLCL_API int mlcl_model_import_safetensors(mlcl_model *model, const char *path,
                                           const mlcl_model_import_options *opts);

/**
 * Writes the inference graph as an ONNX model (IR version 7, opset 13) with
 * the weights as initializers. Input "input": float32 [N, n_features] rows
 * for a vector model, standardised inside by Sub and Div when the model
 * standardises; [N, channels, height, width] images for an image model,
 * resized (Resize, linear, half_pixel) when the network's input size
 * differs. Outputs: "scores" [N, c] (Sigmoid of the head's Gemm),
 * "embedding" [N, h] (the backbone's output) and "distributions" [N, c]
 * (Softmax of the head's logits). Layers map to Gemm, Relu,
 * BatchNormalization, LpNormalization, Softmax (Dropout is left out: it is
 * the identity at inference) and for a ResNet Conv, BatchNormalization,
 * Relu, MaxPool, Add, GlobalAveragePool and Flatten. Label names, thresholds
 * and provenance are written as metadata_props. Written to a temporary file
 * and renamed; a @p path that exists and is not a regular file is refused.
 * @param model the model.
 * @param path the file to write (conventionally *.onnx).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO, MLCL_ENOMEM or MLCL_EOVERFLOW (a
 *         model of 2 GB or more, protobuf's limit).
 */
MLCL_API int mlcl_model_export_onnx(const mlcl_model *model, const char *path);

/**
 * Writes the model's tensors as a NumPy .npz archive (a zip of stored
 * "<name>.npy" entries, as np.savez writes): one float32 array per tensor,
 * named as in mlcl_model_export_safetensors(), and "__metadata__", a 0-d
 * unicode array holding the same metadata as a JSON object. Read with
 * `np.load(path)`. Written to a temporary file and renamed; a @p path that
 * exists and is not a regular file is refused.
 * @param model the model.
 * @param path the file to write (conventionally *.npz).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO, MLCL_ENOMEM or MLCL_EOVERFLOW (an
 *         archive of 4 GB or more: zip64 is not written).
 */
MLCL_API int mlcl_model_export_npz(const mlcl_model *model, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_MODEL_H */

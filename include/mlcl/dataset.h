/**
 * @file
 * libmlcl — dataset.h: the in-memory multi-label dataset (mlcl_dataset):
 * creation from caller arrays (dense or CSR), subsets and seeded splits,
 * accessors, mini-batch gathering and standardisation. The file readers that
 * build datasets are in readers.h, the mini-batch shuffler in batch.h, the
 * augmentations in augment.h.
 *
 * A dataset holds n rows of d float features (row-major n x d, or CSR for a
 * sparse set) and c binary labels, both as bytes (row-major n x c, values
 * 0/1) and packed into 64-bit words: mlcl_label_words(c) = (c + 63) / 64 words
 * per row (queue.h), label j in bit (j % 64) of word (j / 64) — the format of
 * the contrastive layer.
 *
 * Conventions. Functions that create or compute put their outputs first
 * (mlcl_dataset_gather(), mlcl_dataset_standardize_stats()); accessors take
 * the dataset first and return a status with out-parameters — except the
 * three views (mlcl_dataset_features(), _labels(), _labels_packed()), which
 * follow one rule: they return a borrowed pointer into the dataset, valid
 * until it is freed or modified, or NULL exactly when @p ds is NULL or the
 * view does not exist (the features of a CSR dataset); they never fail
 * otherwise and never set the error message.
 *
 * Thread-safety: mlcl_dataset_create_from_arrays() and _create_csr() may run
 * on several threads at once. A dataset may be read (accessors, gather,
 * subset, split, standardize_stats, trainers) by several threads at once but
 * not while mlcl_dataset_standardize_apply() modifies it.
 */
#ifndef MLCL_DATASET_H
#define MLCL_DATASET_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest feature magnitude accepted: 1e15, so x*x <= 1e30 and a float32
 *  sum of up to 3e8 squares stays below FLT_MAX (3.4e38). */
#define MLCL_DATA_MAX_ABS 1e15

/** An opaque in-memory multi-label dataset. */
typedef struct mlcl_dataset mlcl_dataset;


/**
 * Creates a dataset from caller arrays (copied).
 * @param[out] out the new dataset.
 * @param      n, d, c rows, features, labels (all > 0).
 * @param[in]  x n x d finite features, row-major.
 * @param[in]  y n x c labels, 0 or 1, row-major.
 * @return MLCL_OK, MLCL_EINVAL (a label not 0/1: row and column named),
 *         MLCL_ENUMERIC (a non-finite feature), MLCL_EOVERFLOW, MLCL_ENOMEM.
 */
MLCL_API int mlcl_dataset_create_from_arrays(mlcl_dataset **out, int n, int d, int c,
                                             const float *x, const uint8_t *y);

/**
 * A new dataset made of the given rows of @p ds (in the given order; a row
 * may repeat). Names and image shape are kept.
 * @param[out] out  the new dataset.
 * @param      ds   the source.
 * @param[in]  rows k row indices in [0, n).
 * @param      k    > 0.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM.
 */
MLCL_API int mlcl_dataset_subset(mlcl_dataset **out, const mlcl_dataset *ds, const int *rows,
                                 int k);

/**
 * Seeded random split: round(frac_b * n) rows, chosen by a seeded shuffle, go
 * to @p b, the others to @p a; within each part rows keep their original order.
 * @param[out] a      the larger part (e.g. training).
 * @param[out] b      the part of fraction @p frac_b (e.g. validation).
 * @param      ds     the source.
 * @param      frac_b in (0, 1); both parts must get at least one row.
 * @param      seed   RNG seed.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM.
 */
MLCL_API int mlcl_dataset_split(mlcl_dataset **a, mlcl_dataset **b, const mlcl_dataset *ds,
                                float frac_b, uint64_t seed);

/** Frees a dataset; NULL is a no-op. */
MLCL_API void mlcl_dataset_free(mlcl_dataset *ds);

/**
 * Creates a sparse (CSR) dataset from caller arrays (copied).
 * @param[out] out     the new dataset.
 * @param      n, d, c rows, features, labels (> 0).
 * @param[in]  row_ptr n + 1 offsets, row_ptr[0] = 0, non-decreasing.
 * @param[in]  cols    row_ptr[n] column indices in [0, d), strictly
 *                     increasing within each row.
 * @param[in]  vals    row_ptr[n] finite values.
 * @param[in]  y       n x c bytes, 0 or 1.
 * @return MLCL_OK, MLCL_EINVAL (a bad index names the entry and row),
 *         MLCL_ENUMERIC (a non-finite value), MLCL_ENOMEM.
 */
MLCL_API int mlcl_dataset_create_csr(mlcl_dataset **out, int n, int d, int c, const int64_t *row_ptr,
                                     const int *cols, const float *vals, const uint8_t *y);

/**
 * Tells whether a dataset keeps its features in CSR.
 * @param      ds     the dataset.
 * @param[out] sparse 1: CSR (mlcl_dataset_features() is NULL), 0: dense.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_dataset_is_sparse(const mlcl_dataset *ds, int *sparse);

/**
 * The CSR arrays of a sparse dataset (borrowed, valid until it is freed).
 * Row i holds cols/vals[row_ptr[i] .. row_ptr[i+1]), columns increasing.
 * @param      ds      the dataset.
 * @param[out] row_ptr n + 1 offsets (nullable).
 * @param[out] cols    column indices (nullable).
 * @param[out] vals    values (nullable).
 * @param[out] nnz     stored entries (nullable).
 * @return MLCL_OK, MLCL_EINVAL (NULL or a dense dataset).
 */
MLCL_API int mlcl_dataset_csr(const mlcl_dataset *ds, const int64_t **row_ptr, const int **cols,
                              const float **vals, int64_t *nnz);

/* ------------------------------------------------------------------------ */
/* Accessors (status + out-parameters) and views (borrowed pointers) */

/**
 * The dataset's sizes.
 * @param      ds the dataset.
 * @param[out] n  rows (nullable).
 * @param[out] d  features (nullable).
 * @param[out] c  labels (nullable).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_dataset_dims(const mlcl_dataset *ds, int *n, int *d, int *c);

/**
 * The image geometry of an image set, zeros for a vector set.
 * @param      ds the dataset.
 * @param[out] channels, height, width (each nullable).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_dataset_image_shape(const mlcl_dataset *ds, int *channels, int *height,
                                      int *width);

/**
 * Sets the image geometry of a dense or sparse dataset (e.g. one made with
 * mlcl_dataset_create_from_arrays() from images in CHW order), or clears it
 * (all three 0: a vector set).
 * @param ds       the dataset to modify.
 * @param channels > 0 (or 0 with height and width).
 * @param height   > 0.
 * @param width    > 0; channels x height x width must equal d.
 * @return MLCL_OK or MLCL_EINVAL (the mismatch named).
 */
MLCL_API int mlcl_dataset_set_image_shape(mlcl_dataset *ds, int channels, int height, int width);

/**
 * Sets the label names (copied), or removes them (@p count 0, @p names NULL),
 * as mlcl_model_set_label_names().
 * @param ds    the dataset to modify.
 * @param count the dataset's c.
 * @param names @p count strings, none NULL.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM (the old names are then kept).
 */
MLCL_API int mlcl_dataset_set_label_names(mlcl_dataset *ds, int count, const char *const *names);

/**
 * View: the n x d row-major features (see the rule in the file comment).
 * @param ds the dataset.
 * @return borrowed; NULL when @p ds is NULL or the dataset is sparse (see
 *         mlcl_dataset_csr()).
 */
MLCL_API const float *mlcl_dataset_features(const mlcl_dataset *ds);

/**
 * View: the n x c row-major 0/1 labels.
 * @param ds the dataset.
 * @return borrowed; NULL when @p ds is NULL.
 */
MLCL_API const uint8_t *mlcl_dataset_labels(const mlcl_dataset *ds);

/**
 * View: the packed labels, n x mlcl_label_words(c) words.
 * @param ds the dataset.
 * @return borrowed; NULL when @p ds is NULL.
 */
MLCL_API const uint64_t *mlcl_dataset_labels_packed(const mlcl_dataset *ds);

/**
 * The name of feature @p j (an ARFF attribute, a CSV column).
 * @param      ds   the dataset.
 * @param      j    feature index in [0, d).
 * @param[out] name borrowed, valid until the dataset is freed; NULL when the
 *                  features are unnamed.
 * @return MLCL_OK or MLCL_EINVAL (NULL argument, j out of range).
 */
MLCL_API int mlcl_dataset_feature_name(const mlcl_dataset *ds, int j, const char **name);

/**
 * The name of label @p j.
 * @param      ds   the dataset.
 * @param      j    label index in [0, c).
 * @param[out] name borrowed, valid until the dataset is freed or its names
 *                  are set; NULL when the labels are unnamed.
 * @return MLCL_OK or MLCL_EINVAL (NULL argument, j out of range).
 */
MLCL_API int mlcl_dataset_label_name(const mlcl_dataset *ds, int j, const char **name);

/**
 * Copies the given rows into caller buffers (a mini-batch; the rows of a
 * sparse dataset densified).
 * @param[out] x_out        k x d floats (nullable).
 * @param[out] y_out        k x c bytes (nullable).
 * @param[out] y_packed_out k x mlcl_label_words(c) words (nullable).
 * @param      ds           the dataset.
 * @param[in]  rows         k row indices in [0, n).
 * @param      k            >= 0.
 * @return MLCL_OK or MLCL_EINVAL (a row out of range is named).
 */
MLCL_API int mlcl_dataset_gather(float *x_out, uint8_t *y_out, uint64_t *y_packed_out,
                                 const mlcl_dataset *ds, const int *rows, int k);

/* ------------------------------------------------------------------------ */
/* Standardisation (as scikit-learn's StandardScaler) */

/**
 * Per-feature mean and population standard deviation (divide by n),
 * accumulated in double. A constant feature (variance within rounding error
 * of zero, scikit-learn's rule) gets std 1.
 * @param[out] mean d floats.
 * @param[out] std  d floats, all > 0.
 * @param      ds   the (training) dataset (dense).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_dataset_standardize_stats(float *mean, float *std, const mlcl_dataset *ds);

/**
 * x = (x - mean) / std in place, feature by feature (use the training set's
 * statistics for every split).
 * @param ds   the dataset to modify.
 * @param mean d finite floats.
 * @param std  d finite floats > 0.
 * @return MLCL_OK or MLCL_EINVAL (the offending index named).
 */
MLCL_API int mlcl_dataset_standardize_apply(mlcl_dataset *ds, const float *mean,
                                            const float *std);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_DATASET_H */

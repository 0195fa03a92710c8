/**
 * @file
 * libmlcl — data.h: multi-label datasets (readers for ARFF, LIBSVM/XC and IDX
 * files, the Fashion-MNIST mosaic set), standardisation, seeded mini-batches
 * and the masking augmentation of the vector-data networks.
 *
 * A dataset holds n rows of d float features (row-major n x d) and c binary
 * labels, both as bytes (row-major n x c, values 0/1) and packed into 64-bit
 * words: mlcl_dataset_label_words(c) = (c + 63) / 64 words per row, label j in
 * bit (j % 64) of word (j / 64) — the format of the contrastive layer.
 *
 * Every text and IDX reader reads gzip-compressed (one or more members) and
 * plain files alike. Malformed files give MLCL_EFORMAT with a message naming the file and
 * the line ("data.arff: line 12: ..."); unreadable ones MLCL_EIO.
 * Numbers are parsed in the C locale whatever the process locale is.
 * Non-finite feature values (nan, inf, overflow to inf) are rejected.
 *
 * Limits (docs/formats.md, "Limits"), so that what a file can make a reader
 * allocate is bounded by what the file can contain:
 * - a text line is at most MLCL_TEXT_LINE_MAX bytes, and a NUL byte in a text
 *   file is an error (file, line and column named);
 * - a feature or label index read from a file (a LIBSVM index, an XC header,
 *   the ARFF attribute count) may not make the dense width larger than
 *   MLCL_DATA_MAX_COLS, unless the caller passes the width explicitly;
 * - the dense data a file expands to (n x d floats plus n x c label bytes, or
 *   the raw bytes of IDX/NPZ) may not exceed MLCL_DATA_BUDGET_RATIO times the
 *   file's size on disk (compressed size for gzip), and never less than
 *   MLCL_DATA_BUDGET_MIN is allowed: a 1 MB file cannot make a reader take
 *   more than a few hundred MB before it refuses (MLCL_EFORMAT saying how
 *   much it would need);
 * - a feature value must satisfy |x| <= MLCL_DATA_MAX_ABS, so that squares
 *   and sums in standardisation and training stay finite in float32;
 * - bytes after the last member of a gzip file are an error.
 *
 * Thread-safety: the readers and mlcl_dataset_create_from_arrays() may run
 * on several threads at once. A dataset may be read (accessors, gather,
 * subset, split, standardize_stats, trainers) by several threads at once but
 * not while mlcl_dataset_standardize_apply() modifies it; one batcher or
 * generator must not be used by two threads at once.
 */
#ifndef MLCL_DATA_H
#define MLCL_DATA_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest text line (ARFF, LIBSVM) the readers accept, in bytes. */
#define MLCL_TEXT_LINE_MAX (32L << 20)
/** Largest dense width (features or labels) an index in a file may imply. */
#define MLCL_DATA_MAX_COLS (1 << 20)
/** Largest feature magnitude accepted: 1e15, so x*x <= 1e30 and a float32
 *  sum of up to 3e8 squares stays below FLT_MAX (3.4e38). */
#define MLCL_DATA_MAX_ABS 1e15
/** A reader may allocate this many bytes of data per byte of file... */
#define MLCL_DATA_BUDGET_RATIO 128
/** ...and at least this many (128 MiB) whatever the file's size. */
#define MLCL_DATA_BUDGET_MIN ((size_t)128 << 20)

/** An opaque in-memory multi-label dataset. */
typedef struct mlcl_dataset mlcl_dataset;

/**
 * Words of 64 bits per row of packed labels.
 * @param c labels (>= 0).
 * @return (c + 63) / 64.
 */
MLCL_API int mlcl_dataset_label_words(int c);

/* ------------------------------------------------------------------------ */
/* Readers */

/**
 * Reads a Weka/MEKA/Mulan ARFF file (plain or gzip).
 *
 * Supported: `%` comments, blank lines, case-insensitive `\@relation`,
 * `@attribute`, `@data`; names quoted with '...' or "..." (backslash escapes
 * the quote); attribute types numeric/real/integer and nominal `{v1,v2,...}`;
 * dense rows (comma separated) and sparse rows `{index value, ...}` (zero-based
 * attribute index, indices ascending, an omitted entry is 0 — for a nominal
 * attribute its first value, as in Weka). A nominal feature is stored as the
 * index of its value; a label attribute (nominal or numeric) must hold 0 or 1.
 * Not supported (MLCL_EFORMAT naming the line): the missing value `?`, string,
 * date and relational attributes, instance weights.
 *
 * Which attributes are labels: with @p n_labels = 0, the MEKA option in the
 * relation name, `\@relation 'yeast: -C -14'`: `-C -N` = the last N attributes,
 * `-C N` = the first N. With @p n_labels > 0 (overrides the relation), the
 * first (@p labels_first != 0) or last N attributes. At least one attribute
 * must remain as a feature. Attribute names become the feature and label names.
 *
 * @param[out] out          the new dataset; free with mlcl_dataset_free().
 * @param      path         file name.
 * @param      n_labels     0 (from the relation) or the number of label attributes.
 * @param      labels_first used only when n_labels > 0.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO (cannot open/read), MLCL_EFORMAT
 *         (file and line named), MLCL_EOVERFLOW, MLCL_ENOMEM.
 */
MLCL_API int mlcl_dataset_load_arff(mlcl_dataset **out, const char *path, int n_labels,
                                    int labels_first);

/**
 * As mlcl_dataset_load_arff(), but the features are kept in CSR (see
 * mlcl_dataset_load_libsvm_sparse()): for sparse ARFF files (`{i v, ...}`
 * rows, e.g. Mulan's Medical, Enron, bibtex) the memory follows the stored
 * values. Each row is parsed into one scratch row of d floats, whose non-zero
 * features are kept (a stored 0 is dropped, a -0 kept: densified rows equal
 * the dense reader's bit for bit). Same syntax, errors and names; the budget counts the CSR arrays
 * and the (dense) labels.
 * @return as mlcl_dataset_load_arff().
 */
MLCL_API int mlcl_dataset_load_arff_sparse(mlcl_dataset **out, const char *path, int n_labels,
                                           int labels_first);

/** Index base argument of mlcl_dataset_load_libsvm(): from the format's
 *  header (the XC header line: zero-based), else one-based. */
#define MLCL_LIBSVM_INDEX_AUTO (-1)

/**
 * Reads the multi-label LIBSVM format of the Extreme Classification
 * repository (plain or gzip):
 *
 *     [n_rows n_features n_labels]      optional header line (3 integers)
 *     l1,l2,... idx:val idx:val ...     one row per line
 *
 * Labels are zero-based integers (the list may be empty: the line then starts
 * with white space or directly with `idx:val`). Blank lines are skipped.
 * Feature indices are zero- or one-based according to @p index_base; the
 * base is never guessed from the indices a file uses. MLCL_LIBSVM_INDEX_AUTO
 * means: a file with the header is zero-based (the XC repository
 * convention); without it, one-based (the LIBSVM convention), and an index 0
 * is then an error naming the line. Pass 0 for zero-based files without a
 * header. An index repeated within a row is an error. Without @p n_features a
 * feature index may not exceed MLCL_DATA_MAX_COLS, nor a label without
 * @p n_labels (also for the header's sizes).
 *
 * @param[out] out        the new dataset.
 * @param      path       file name.
 * @param      n_features 0: from the header, else max index + 1 (at most
 *                        MLCL_DATA_MAX_COLS); > 0: fixed (an index beyond it
 *                        is an error).
 * @param      n_labels   0: from the header, else max label + 1; > 0: fixed.
 * @param      index_base 0, 1 or MLCL_LIBSVM_INDEX_AUTO.
 * @return as mlcl_dataset_load_arff().
 */
MLCL_API int mlcl_dataset_load_libsvm(mlcl_dataset **out, const char *path, int n_features,
                                      int n_labels, int index_base);

/**
 * As mlcl_dataset_load_libsvm(), but the features stay sparse: the dataset
 * keeps the rows in CSR (compressed sparse rows), so that its memory is
 * proportional to the non-zeros (text-like data with tens of thousands of
 * features), never n x d. The same syntax, the same errors (file and line),
 * the same budget rule as the dense reader, applied to the CSR arrays
 * (16 bytes per stored value while reading, 8 after) and the labels
 * (n x c bytes, still dense). Entries are sorted by column within a row; an
 * explicit zero value is kept as a stored entry.
 *
 * mlcl_dataset_features() of a sparse dataset is NULL: read the rows with
 * mlcl_dataset_csr(), or densify a mini-batch with mlcl_dataset_gather().
 * mlcl_dataset_subset()/split() keep the CSR storage; standardisation is
 * refused (centring would make the rows dense).
 *
 * @return as mlcl_dataset_load_libsvm().
 */
MLCL_API int mlcl_dataset_load_libsvm_sparse(mlcl_dataset **out, const char *path, int n_features,
                                             int n_labels, int index_base);

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

/** Largest number of dimensions mlcl_idx_load() accepts. */
#define MLCL_IDX_MAX_DIMS 8

/**
 * Reads an IDX file (the MNIST format, plain or gzip) of unsigned bytes:
 * magic 0x00 0x00 0x08 ndim, then ndim big-endian 32-bit sizes, then the data.
 * @param[out] data  the prod(dims) bytes, row-major; free with mlcl_idx_free().
 * @param[out] ndim  number of dimensions (1..MLCL_IDX_MAX_DIMS).
 * @param[out] dims  MLCL_IDX_MAX_DIMS ints; the first *ndim are set, the rest 0.
 * @param      path  file name.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO, MLCL_EFORMAT (bad magic, element type
 *         other than ubyte, truncated or trailing data), MLCL_EOVERFLOW, MLCL_ENOMEM.
 */
MLCL_API int mlcl_idx_load(uint8_t **data, int *ndim, int dims[MLCL_IDX_MAX_DIMS],
                           const char *path);

/** Frees data returned by mlcl_idx_load(); NULL is a no-op. */
MLCL_API void mlcl_idx_free(uint8_t *data);

/**
 * Builds a single-label image set as a multi-label dataset (one-hot labels):
 * features are pixel / 255, the image shape is (1, rows, cols).
 * @param[out] out         the new dataset.
 * @param      images_path IDX file of n x rows x cols bytes.
 * @param      labels_path IDX file of n bytes.
 * @param      n_classes   c (> 0); every label must be < n_classes.
 * @return as mlcl_idx_load(); MLCL_EFORMAT when the files disagree.
 */
MLCL_API int mlcl_dataset_load_idx(mlcl_dataset **out, const char *images_path,
                                   const char *labels_path, int n_classes);

/**
 * The Fashion-MNIST multi-label mosaic set. Each sample is a grid x grid
 * mosaic of Fashion-MNIST items drawn uniformly with replacement (seeded PCG:
 * the same seed gives the same set on every machine); its labels are the set
 * of the 10 classes present (c = 10, names "T-shirt/top" ... "Ankle boot").
 * Cell (r, s) holds the (r * grid + s)-th item drawn for that sample; features
 * are the (28 grid) x (28 grid) pixels row-major, each pixel / 255; the image
 * shape is (1, 28 grid, 28 grid).
 * @param[out] out       the new dataset.
 * @param      dir       directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz;
 *                       NULL = /usr/share/datasets/fashion-mnist (Debian's
 *                       dataset-fashion-mnist).
 * @param      train     1: draw from the 60000 training items; 0: from the 10000 test items.
 * @param      n_samples mosaics to build, > 0.
 * @param      seed      RNG seed.
 * @param      grid      items per side, 1..8 (2 -> 56 x 56 = 3136 features).
 * @return as mlcl_idx_load().
 */
MLCL_API int mlcl_dataset_fashion_mosaic(mlcl_dataset **out, const char *dir, int train,
                                         int n_samples, uint64_t seed, int grid);

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

/* ------------------------------------------------------------------------ */
/* Accessors (borrowed pointers, valid until the dataset is freed or modified) */

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
 * @param ds the dataset.
 * @return the n x d row-major features, or NULL when @p ds is NULL.
 */
MLCL_API const float *mlcl_dataset_features(const mlcl_dataset *ds);
/* (NULL for a sparse dataset: see mlcl_dataset_csr()) */

/**
 * @param ds the dataset.
 * @return the n x c row-major 0/1 labels, or NULL when @p ds is NULL.
 */
MLCL_API const uint8_t *mlcl_dataset_labels(const mlcl_dataset *ds);

/**
 * @param ds the dataset.
 * @return the packed labels, n x mlcl_dataset_label_words(c) words, or NULL.
 */
MLCL_API const uint64_t *mlcl_dataset_labels_packed(const mlcl_dataset *ds);

/**
 * @param ds the dataset.
 * @param j  feature index.
 * @return the name of feature @p j (from the ARFF header), or NULL when
 *         unnamed or out of range.
 */
MLCL_API const char *mlcl_dataset_feature_name(const mlcl_dataset *ds, int j);

/**
 * @param ds the dataset.
 * @param j  label index.
 * @return the name of label @p j, or NULL when unnamed or out of range.
 */
MLCL_API const char *mlcl_dataset_label_name(const mlcl_dataset *ds, int j);

/**
 * Copies the given rows into caller buffers (a mini-batch).
 * @param      ds           the dataset.
 * @param[in]  rows         k row indices in [0, n).
 * @param      k            >= 0.
 * @param[out] x_out        k x d floats (nullable).
 * @param[out] y_out        k x c bytes (nullable).
 * @param[out] y_packed_out k x mlcl_dataset_label_words(c) words (nullable).
 * @return MLCL_OK or MLCL_EINVAL (a row out of range is named).
 */
MLCL_API int mlcl_dataset_gather(const mlcl_dataset *ds, const int *rows, int k, float *x_out,
                                 uint8_t *y_out, uint64_t *y_packed_out);

/* ------------------------------------------------------------------------ */
/* Standardisation (as scikit-learn's StandardScaler) */

/**
 * Per-feature mean and population standard deviation (divide by n),
 * accumulated in double. A constant feature (variance within rounding error
 * of zero, scikit-learn's rule) gets std 1.
 * @param      ds   the (training) dataset.
 * @param[out] mean d floats.
 * @param[out] std  d floats, all > 0.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_dataset_standardize_stats(const mlcl_dataset *ds, float *mean, float *std);

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

/* ------------------------------------------------------------------------ */
/* Mini-batches */

/** An opaque epoch-wise shuffler of row indices. */
typedef struct mlcl_batcher mlcl_batcher;

/** Number of words of a batcher state (mlcl_batcher_get_state()). */
#define MLCL_BATCHER_STATE_WORDS 6

/**
 * Creates a batcher over rows 0..n_rows-1: each epoch is a fresh seeded
 * permutation cut into batches of @p batch_size (the last one smaller, or
 * dropped when @p drop_last).
 * @param[out] out        the new batcher; free with mlcl_batcher_free().
 * @param      n_rows     > 0.
 * @param      batch_size > 0; with drop_last it must be <= n_rows.
 * @param      drop_last  nonzero: drop the last incomplete batch.
 * @param      seed       RNG seed.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM.
 */
MLCL_API int mlcl_batcher_create(mlcl_batcher **out, int n_rows, int batch_size, int drop_last,
                                 uint64_t seed);

/** Frees a batcher; NULL is a no-op. */
MLCL_API void mlcl_batcher_free(mlcl_batcher *b);

/**
 * The next mini-batch of the current epoch. When the epoch is exhausted it
 * returns *count = 0 and *rows = NULL once, and counts the epoch as done; the
 * next call shuffles again and starts the next epoch:
 *
 *     while (mlcl_batcher_next(b, &rows, &k) == MLCL_OK && k > 0) { ... }
 *
 * @param      b     the batcher.
 * @param[out] rows  borrowed, *count row indices, valid until the next call.
 * @param[out] count rows in the batch, 0 at the end of an epoch.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_batcher_next(mlcl_batcher *b, const int **rows, int *count);

/**
 * @param b the batcher.
 * @return the number of completed epochs (end-of-epoch markers returned), or
 *         -1 when @p b is NULL.
 */
MLCL_API int mlcl_batcher_epoch(const mlcl_batcher *b);

/**
 * @param b the batcher.
 * @return batches per epoch, or -1 when @p b is NULL.
 */
MLCL_API int mlcl_batcher_batches_per_epoch(const mlcl_batcher *b);

/**
 * The position of the batcher, for checkpoints: restoring it with
 * mlcl_batcher_set_state() on a batcher created with the same n_rows and
 * batch_size continues the same sequence of batches.
 * @param      b     the batcher.
 * @param[out] state MLCL_BATCHER_STATE_WORDS words.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_batcher_get_state(const mlcl_batcher *b,
                                    uint64_t state[MLCL_BATCHER_STATE_WORDS]);

/**
 * Restores a state from mlcl_batcher_get_state().
 * @param b     the batcher.
 * @param state MLCL_BATCHER_STATE_WORDS words.
 * @return MLCL_OK or MLCL_EINVAL (state of a batcher of another size, or corrupt).
 */
MLCL_API int mlcl_batcher_set_state(mlcl_batcher *b,
                                    const uint64_t state[MLCL_BATCHER_STATE_WORDS]);

/* ------------------------------------------------------------------------ */
/* Augmentation */

/**
 * Feature masking (the vector-data augmentation of MulSupCon): each of the
 * n x d elements is set to 0 independently with probability @p p, and kept
 * unchanged otherwise — no 1/(1-p) rescaling. One uniform draw per element,
 * row-major, so the result depends only on the RNG state. Two independent
 * views are two calls with the same generator.
 * @param      rng the generator (advanced by n*d draws).
 * @param      n   rows, >= 0.
 * @param      d   features, >= 0.
 * @param      p   masking probability in [0, 1].
 * @param[in]  x   n x d inputs.
 * @param[out] out n x d outputs; may equal @p x (in place).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_augment_mask(mlcl_rng *rng, int n, int d, float p, const float *x, float *out);


/* ------------------------------------------------------------------------ */
/* NumPy .npy / .npz arrays */

/** Largest number of dimensions mlcl_npy_read() accepts. */
#define MLCL_NPY_MAX_DIMS 8

/**
 * Reads one array from a NumPy .npy file (format versions 1, 2 and 3) or from
 * an entry "<key>.npy" of a .npz archive (np.savez: stored entries;
 * np.savez_compressed: deflated entries; CRC-32 checked; zip64 supported),
 * converted to float. Element types: float32 and float64 (either byte order),
 * uint8, int8, bool, and 16/32/64-bit signed or unsigned integers (either
 * byte order). C order only. Sizes in the file are checked against the file
 * size before anything is allocated.
 * @param[out] data     the prod(shape) floats, C order (NULL for an empty
 *                      array); free with mlcl_npy_free().
 * @param[out] ndim     number of dimensions (0..MLCL_NPY_MAX_DIMS; 0 = a scalar).
 * @param[out] shape    MLCL_NPY_MAX_DIMS values; the first *ndim are set, the rest 0.
 * @param      path     file name (.npy, or .npz when @p key is not NULL).
 * @param      key      NULL for a .npy file; the array name in a .npz archive
 *                      (np.savez(path, key=array); positional arrays are "arr_0", ...).
 * @param      scale_u8 nonzero: uint8 values are divided by 255; other types
 *                      are never scaled.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO (cannot open/read), MLCL_EFORMAT
 *         (file and problem named: bad magic or header, Fortran order,
 *         unsupported type, truncated, missing key, unsupported compression),
 *         MLCL_ECHECKSUM (CRC-32 mismatch), MLCL_ENUMERIC (a non-finite float,
 *         its flat index named), MLCL_EOVERFLOW, MLCL_ENOMEM.
 */
MLCL_API int mlcl_npy_read(float **data, int *ndim, int64_t shape[MLCL_NPY_MAX_DIMS],
                           const char *path, const char *key, int scale_u8);

/** Frees data returned by mlcl_npy_read(); NULL is a no-op. */
MLCL_API void mlcl_npy_free(float *data);

/**
 * Builds a multi-label dataset from NumPy arrays. Images of shape
 * (n, c, h, w) or (n, h, w) (c = 1) give an image set of that shape with
 * d = c h w features in CHW order; shape (n, d) gives a vector set. Labels of
 * shape (n, L) (any supported type) must hold only 0 and 1.
 * @param[out] out          the new dataset.
 * @param      images_path  .npy or .npz file of the features.
 * @param      images_key   NULL for .npy, the array name in a .npz.
 * @param      labels_path  .npy or .npz file of the labels (may equal images_path).
 * @param      labels_key   NULL for .npy, the array name in a .npz.
 * @param      scale_u8     nonzero: uint8 features are divided by 255.
 * @return as mlcl_npy_read(); MLCL_EFORMAT when the shapes disagree or a label
 *         is not 0/1 (row and column named).
 */
MLCL_API int mlcl_dataset_load_npy(mlcl_dataset **out, const char *images_path,
                                   const char *images_key, const char *labels_path,
                                   const char *labels_key, int scale_u8);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_DATA_H */

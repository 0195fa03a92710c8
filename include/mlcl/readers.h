/**
 * @file
 * libmlcl — readers.h: every file reader that builds a dataset (dataset.h)
 * or a raw array: ARFF and LIBSVM/XC (dense or CSR), IDX (MNIST), NumPy
 * .npy/.npz, CSV/TSV tables, image files (JPEG through libjpeg-turbo, PNG
 * through libpng) and image manifests (a CSV/TSV list of files, COCO
 * instances JSON, a PASCAL VOC tree) loaded into an in-memory image dataset
 * of a fixed size, and a format guess.
 *
 * Every text and IDX reader reads gzip-compressed (one or more members) and
 * plain files alike. Malformed files give MLCL_EFORMAT with a message naming
 * the file, the line and, for tables, the column ("t.csv: line 12, column 3
 * ('age'): ..."); MLCL_EIO when a file cannot be opened or read. Numbers are
 * parsed in the C locale whatever the process locale is. Non-finite feature
 * values (nan, inf, overflow to inf) are rejected.
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
 * - a feature value must satisfy |x| <= MLCL_DATA_MAX_ABS (dataset.h), so
 *   that squares and sums in standardisation and training stay finite in
 *   float32;
 * - bytes after the last member of a gzip file are an error.
 *
 * Thread-safety: every function here may run on several threads at once.
 */
#ifndef MLCL_READERS_H
#define MLCL_READERS_H

#include "core.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest text line (ARFF, LIBSVM) the readers accept, in bytes. */
#define MLCL_TEXT_LINE_MAX (32L << 20)
/** Largest dense width (features or labels) an index in a file may imply. */
#define MLCL_DATA_MAX_COLS (1 << 20)
/** A reader may allocate this many bytes of data per byte of file... */
#define MLCL_DATA_BUDGET_RATIO 128
/** ...and at least this many (128 MiB) whatever the file's size. */
#define MLCL_DATA_BUDGET_MIN ((size_t)128 << 20)

/* ------------------------------------------------------------------------ */
/* ARFF and LIBSVM/XC */

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

/** The index base of a LIBSVM file's feature indices (mlcl_dataset_load_libsvm()). */
typedef enum mlcl_libsvm_index_base {
    MLCL_LIBSVM_INDEX_AUTO = -1, /**< from the format's header (the XC header line: zero-based), else one-based */
    MLCL_LIBSVM_INDEX_ZERO = 0,  /**< zero-based */
    MLCL_LIBSVM_INDEX_ONE = 1    /**< one-based (the LIBSVM convention) */
} mlcl_libsvm_index_base;

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
 * @param      index_base MLCL_LIBSVM_INDEX_ZERO, _ONE or _AUTO (any other value: MLCL_EINVAL).
 * @return as mlcl_dataset_load_arff().
 */
MLCL_API int mlcl_dataset_load_libsvm(mlcl_dataset **out, const char *path, int n_features,
                                      int n_labels, mlcl_libsvm_index_base index_base);

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
                                             int n_labels, mlcl_libsvm_index_base index_base);

/* ------------------------------------------------------------------------ */
/* IDX (MNIST) */

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

/* ------------------------------------------------------------------------ */
/* CSV / TSV tables */

/** How mlcl_dataset_load_csv() treats a missing feature value. */
typedef enum mlcl_impute {
    MLCL_IMPUTE_NONE = 0, /**< a missing value is an error naming file, line and column */
    MLCL_IMPUTE_MEAN = 1, /**< replaced by the mean of the column's present values */
    MLCL_IMPUTE_ZERO = 2  /**< replaced by 0 */
} mlcl_impute;

/** Version of mlcl_csv_options. */
#define MLCL_CSV_OPTIONS_VERSION 1

/**
 * Options of mlcl_dataset_load_csv(). Initialise with MLCL_CSV_OPTIONS_INIT
 * or mlcl_csv_options_init(). Exactly one way of choosing the label columns
 * must be given: n_labels, label_columns or label_prefix.
 */
typedef struct mlcl_csv_options {
    unsigned int version;      /**< MLCL_CSV_OPTIONS_VERSION */
    int n_labels;              /**< > 0: the last n_labels columns are the labels (0 = unused) */
    int labels_first;          /**< nonzero: n_labels counts the first columns instead */
    mlcl_impute impute;        /**< default MLCL_IMPUTE_NONE */
    int delimiter;             /**< ',', ';' or '\\t'; 0 (default) = '\\t' for a .tsv[.gz] file,
                                    else '\\t' when the header has tabs and no comma, else ',' */
    int no_header;             /**< nonzero: the first line is data, the columns are named
                                    c1, c2, ... (0 = the first line is the header) */
    const char *label_columns; /**< comma-separated label column names, e.g. "a,b,c" (NULL = unused) */
    const char *label_prefix;  /**< every column whose name starts with this is a label (NULL = unused) */
} mlcl_csv_options;

/** The defaults (no label choice yet: set one of the three). */
#define MLCL_CSV_OPTIONS_INIT { MLCL_CSV_OPTIONS_VERSION, 0, 0, MLCL_IMPUTE_NONE, 0, 0, NULL, NULL }

/**
 * Fills @p o with MLCL_CSV_OPTIONS_INIT.
 * @param[out] o       the options.
 * @param      version MLCL_CSV_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_csv_options_init(mlcl_csv_options *o, unsigned int version);

/** Longest CSV record (a line, or several when a quoted field holds newlines) accepted, in bytes. */
#define MLCL_CSV_MAX_RECORD (1 << 24)

/**
 * Reads a CSV or TSV table with a header line (plain or gzip) as a vector
 * dataset: the header names the columns; the label columns (see
 * mlcl_csv_options) must hold 0 or 1 (any number equal to 0 or 1, e.g.
 * "1.0"); every other column is a numeric feature (parsed in the C locale, as
 * the ARFF reader does, so a table written with "%.9g" from an ARFF dataset
 * reads back bit for bit).
 *
 * Syntax (RFC 4180): fields separated by the delimiter, records by LF or
 * CRLF; a field in double quotes may hold the delimiter, newlines and quotes
 * written twice (""); spaces around an unquoted number are ignored. A UTF-8
 * byte-order mark before the header is skipped; blank lines are skipped.
 * Missing values are empty fields and NA, N/A, NaN, nan, null, ? : an error
 * unless mlcl_csv_options::impute says otherwise (a label is never
 * imputed). Rejected with MLCL_EFORMAT naming file, line and column: a NUL
 * byte, a record longer than MLCL_CSV_MAX_RECORD, a record with another
 * number of fields than the header, an unterminated quote, text after a
 * closing quote, a non-numeric or non-finite feature, a label other than 0/1.
 *
 * @param[out] out  the new dataset (feature and label names from the header);
 *                  free with mlcl_dataset_free().
 * @param      path file name.
 * @param      o    the options (not NULL: the label columns must be chosen).
 * @return MLCL_OK, MLCL_EINVAL (options, e.g. a label column name not in the
 *         header), MLCL_EVERSION, MLCL_EIO, MLCL_EFORMAT, MLCL_EOVERFLOW,
 *         MLCL_ENOMEM.
 */
MLCL_API int mlcl_dataset_load_csv(mlcl_dataset **out, const char *path, const mlcl_csv_options *o);

/* ------------------------------------------------------------------------ */
/* Image files */

/** Largest width * height of an image the decoders accept (2^28 pixels). */
#define MLCL_IMAGE_MAX_PIXELS (1 << 28)

/**
 * Decodes a JPEG (libjpeg-turbo) or PNG (libpng) file, chosen by its
 * signature, into float planes in CHW order with values in [0, 1]
 * (8-bit samples / 255, 16-bit PNG samples / 65535).
 *
 * Channel conversion: the file's grayscale, gray+alpha, RGB, RGBA and palette
 * images (palette transparency becomes alpha) become @p channels planes:
 * 1 = luma L = 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2, as PIL's "L"), alpha
 * dropped; 3 = RGB (gray copied to the three planes, alpha dropped); 4 = RGBA
 * (alpha 1 when the file has none); 0 = the file's own: 1 for gray and
 * gray+alpha, 3 for RGB, 4 for RGBA and palette with transparency.
 * Alpha is dropped, never composited. A JPEG's EXIF orientation (tag 0x0112
 * of the APP1 "Exif" segment, values 2..8: mirrored and/or rotated) is
 * applied, so the pixels come as the image is meant to be displayed (as
 * PIL's ImageOps.exif_transpose); *height and *width are those of the result.
 *
 * Hostile files: the size in the header is checked before any allocation
 * (width * height <= MLCL_IMAGE_MAX_PIXELS, and no more pixels than the file
 * size could possibly encode); CMYK JPEGs are rejected; a corrupt or
 * truncated file gives MLCL_EFORMAT naming the file and the decoder's message.
 *
 * @param[out] pixels   channels x height x width floats; free with mlcl_image_free().
 * @param[out] channels the number of planes (= @p want_channels unless it is 0).
 * @param[out] height   rows.
 * @param[out] width    columns.
 * @param      path     file name.
 * @param      want_channels 0, 1, 3 or 4.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EIO, MLCL_EFORMAT (not a JPEG or PNG,
 *         corrupt, truncated, too large), MLCL_ENOMEM.
 */
MLCL_API int mlcl_image_read(float **pixels, int *channels, int *height, int *width,
                             const char *path, int want_channels);

/** Frees pixels returned by mlcl_image_read(); NULL is a no-op. */
MLCL_API void mlcl_image_free(float *pixels);

/**
 * Resizes one CHW image so that it covers @p out_h x @p out_w with its aspect
 * ratio kept (for a square output: the shorter side becomes out_h), then
 * crops the centre (torchvision Resize(size) + CenterCrop(size): the crop's
 * top = round((scaled_h - out_h) / 2), likewise left). The resampling is
 * PIL's antialiased bilinear (a triangle filter widened by the scale factor
 * when shrinking), so shrinking a large photo does not alias.
 * @param[out] dst   c x out_h x out_w floats; must not overlap @p src.
 * @param      out_h output height, > 0.
 * @param      out_w output width, > 0.
 * @param[in]  src   c x h x w floats.
 * @param      c     channels, > 0.
 * @param      h     input height, > 0.
 * @param      w     input width, > 0.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EOVERFLOW, MLCL_ENOMEM.
 */
MLCL_API int mlcl_image_resize_crop(float *dst, int out_h, int out_w, const float *src, int c,
                                    int h, int w);

/* ------------------------------------------------------------------------ */
/* Image manifests */

/** How a PASCAL VOC "difficult" entry (0 in a class list) is counted. */
typedef enum mlcl_voc_difficult {
    MLCL_VOC_DIFFICULT_NEGATIVE = 0, /**< absent (the VOC evaluation ignores them; default) */
    MLCL_VOC_DIFFICULT_POSITIVE = 1  /**< present (the object is in the image) */
} mlcl_voc_difficult;

/** Version of mlcl_manifest_options. */
#define MLCL_MANIFEST_OPTIONS_VERSION 1

/**
 * Options of the image-manifest loaders. Initialise with
 * MLCL_MANIFEST_OPTIONS_INIT or mlcl_manifest_options_init().
 */
typedef struct mlcl_manifest_options {
    unsigned int version;   /**< MLCL_MANIFEST_OPTIONS_VERSION */
    int height;             /**< image rows in the dataset (224), > 0 */
    int width;              /**< image columns in the dataset (224), > 0 */
    int channels;           /**< 1 or 3 (3) */
    const char *image_root; /**< folder the image paths are relative to (NULL: see each loader) */
    int skip_bad_images;    /**< nonzero: a missing, corrupt or truncated image is left out
                                 (counted in *skipped) instead of failing the load */
    mlcl_voc_difficult voc_difficult; /**< VOC only (default MLCL_VOC_DIFFICULT_NEGATIVE) */
    const char *const *label_names; /**< NULL, or the n_label_names label names to use, in
                                 this order (e.g. the training set's, when loading its test
                                 set): a label the file names that is not among them is an error */
    int n_label_names;      /**< entries of label_names */
    int threads;            /**< decoding threads: 0 (default) = one per online CPU, at most 8;
                                 1 = the calling thread only. Worker threads allocate their
                                 scratch with malloc: the allocator hooks (mlcl_set_allocator(),
                                 per thread) apply to everything only with threads = 1 */
} mlcl_manifest_options;

/** The defaults: 3 x 224 x 224, no skipping, VOC difficult = negative. */
#define MLCL_MANIFEST_OPTIONS_INIT \
    { MLCL_MANIFEST_OPTIONS_VERSION, 224, 224, 3, NULL, 0, MLCL_VOC_DIFFICULT_NEGATIVE, NULL, 0, 0 }

/**
 * Fills @p o with MLCL_MANIFEST_OPTIONS_INIT.
 * @param[out] o       the options.
 * @param      version MLCL_MANIFEST_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_manifest_options_init(mlcl_manifest_options *o, unsigned int version);

/**
 * Every image-manifest loader builds an image dataset of shape
 * (channels, height, width): each file is decoded with mlcl_image_read(),
 * resized and centre-cropped with mlcl_image_resize_crop(), and stored as
 * d = channels * height * width features in CHW order, values in [0, 1].
 * Images are decoded on mlcl_manifest_options::threads threads; the result
 * does not depend on their number (with skipping off, the error reported is
 * the one of the first bad image in manifest order).
 */

/**
 * Reads a CSV/TSV image manifest (plain or gzip; the CSV syntax of
 * mlcl_dataset_load_csv(), delimiter chosen the same way) with a header line
 * and a column `path` (relative to mlcl_manifest_options::image_root when
 * given, else to the manifest's folder; absolute paths are kept), and either
 *  - a column `labels` of ';'-separated label names (may be empty); the label
 *    names are then the sorted distinct names (or the given label_names), or
 *  - one 0/1 column per label, every column other than `path`; the header
 *    gives the label names.
 * @param[out] out     the new image dataset.
 * @param[out] skipped images left out (nullable; 0 unless skip_bad_images).
 * @param      path    the manifest.
 * @param      o       options (NULL = the defaults).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_EVERSION, MLCL_EIO (manifest or image
 *         unreadable), MLCL_EFORMAT (manifest line and column named, or the
 *         image file named), MLCL_EOVERFLOW, MLCL_ENOMEM.
 */
MLCL_API int mlcl_dataset_load_image_csv(mlcl_dataset **out, int *skipped, const char *path,
                                         const mlcl_manifest_options *o);

/**
 * Reads a COCO instances JSON file (plain or gzip; jansson) as a multi-label
 * image set: the labels of an image are the categories of its annotations
 * (crowd annotations included); the label names are the categories' names in
 * ascending id order. Images without annotations are kept with no label.
 * Required members: "images" [{"id", "file_name"}], "annotations"
 * [{"image_id", "category_id"}], "categories" [{"id", "name"}]; an annotation
 * naming an unknown image or category is an error.
 * Image files: mlcl_manifest_options::image_root / file_name; without an
 * image root, JSON_FOLDER/../S when the file is named instances_S.json and
 * that folder exists (the COCO layout annotations/instances_val2017.json +
 * val2017/), else the JSON's folder.
 * @param[out] out     the new image dataset.
 * @param[out] skipped images left out (nullable).
 * @param      path    the JSON file.
 * @param      o       options (NULL = the defaults).
 * @return as mlcl_dataset_load_image_csv().
 */
MLCL_API int mlcl_dataset_load_coco(mlcl_dataset **out, int *skipped, const char *path,
                                    const mlcl_manifest_options *o);

/**
 * Reads a PASCAL VOC tree: the classes are the files
 * ImageSets/Main/CLASS_SPLIT.txt (sorted by name), each line "ID FLAG" with
 * FLAG 1 (present), -1 (absent) or 0 (difficult: counted by
 * mlcl_manifest_options::voc_difficult); the images, in the order of
 * ImageSets/Main/SPLIT.txt when present, else of the first class file, are
 * ROOT/JPEGImages/ID.jpg (or mlcl_manifest_options::image_root / ID.jpg).
 * Every class file must list the same images.
 * @param[out] out     the new image dataset.
 * @param[out] skipped images left out (nullable).
 * @param      root    the folder holding ImageSets/ and JPEGImages/ (e.g. VOC2007).
 * @param      split   "trainval", "train", "val" or "test" (any name of files present).
 * @param      o       options (NULL = the defaults).
 * @return as mlcl_dataset_load_image_csv().
 */
MLCL_API int mlcl_dataset_load_voc(mlcl_dataset **out, int *skipped, const char *root,
                                   const char *split, const mlcl_manifest_options *o);

/* ------------------------------------------------------------------------ */
/* Format guess */

/** Formats recognised by mlcl_data_guess_format(). */
typedef enum mlcl_data_format {
    MLCL_FORMAT_UNKNOWN = 0,  /**< none of the below: e.g. LIBSVM */
    MLCL_FORMAT_ARFF = 1,     /**< .arff[.gz], or a first line starting with \@relation or % */
    MLCL_FORMAT_CSV = 2,      /**< a table: .csv/.tsv[.gz], or a header with commas (or tabs) and a non-numeric field */
    MLCL_FORMAT_NPY = 3,      /**< .npy or .npz */
    MLCL_FORMAT_IMAGE_CSV = 4,/**< a CSV/TSV whose header has a column "path" */
    MLCL_FORMAT_COCO = 5,     /**< .json[.gz] */
    MLCL_FORMAT_VOC = 6,      /**< a folder holding ImageSets/Main */
    MLCL_FORMAT_CSV_NOHEADER = 7 /**< a table without a header: a first line of numbers separated
                                      by commas (or tabs), one of them not an integer, no idx:val token */
} mlcl_data_format;

/**
 * Guesses a data file's format from its name and, for CSV, its first line
 * (read through zlib, at most 1 MiB).
 * @param[out] format the format.
 * @param      path   file or folder name.
 * @return MLCL_OK (also when unknown), MLCL_EINVAL, MLCL_EIO (cannot open).
 */
MLCL_API int mlcl_data_guess_format(mlcl_data_format *format, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_READERS_H */

/**
 * @file
 * libmlcl — loader.h: a streaming, multi-threaded image loader.
 *
 * An image list (mlcl_image_list) holds only the paths and labels of a set of
 * image files, never their pixels. A loader (mlcl_loader) decodes, resizes
 * (shorter side, then centre crop: mlcl_image_resize_crop()), optionally
 * augments (SimCLR views, mlcl_image_simclr()) and normalises the images in
 * background threads into a bounded ring of prefetched batches; memory is
 * that ring (prefetch x batch x views x channels x height x width floats),
 * the list, and one decoded image per thread, whatever the number of images.
 *
 * Determinism: epoch e visits the list in the order of a permutation drawn
 * from (seed, e) alone, batches are consecutive slices of it, and the
 * augmentations of image i in epoch e come from a generator keyed by
 * (seed, e, i) alone, so the batches are bit-identical for any number of
 * loader threads, and a loader started at a position (epoch, batch) with
 * mlcl_loader_seek() gives exactly the batches an uninterrupted one gives from
 * there: a checkpoint records mlcl_loader_position() and seeks on resume.
 *
 * A trainer fed by loaders: mlcl_trainer_create_stream() (train.h).
 *
 * Thread-safety: one consumer thread per loader (mlcl_loader_next(), _seek(),
 * _position(), _stats() from one thread at a time); distinct loaders are
 * independent. The list must outlive its loaders and is read-only.
 */
#ifndef MLCL_LOADER_H
#define MLCL_LOADER_H

#include "core.h"
#include "image.h"
#include "readers.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The opaque image list: paths and labels. */
typedef struct mlcl_image_list mlcl_image_list;

/**
 * A list from arrays.
 * @param[out] out      the list; free with mlcl_image_list_free().
 * @param      n        images, > 0.
 * @param      paths    n file names (copied).
 * @param      labels   n x n_labels bytes, 0 or 1 (copied as sparse pairs).
 * @param      n_labels labels, > 0.
 * @return MLCL_OK, MLCL_EINVAL (an argument or a label value named), MLCL_ENOMEM.
 */
MLCL_API int mlcl_image_list_create(mlcl_image_list **out, int n, const char *const *paths,
                                    const uint8_t *labels, int n_labels);

/**
 * A list from a CSV/TSV image manifest (the format of
 * mlcl_dataset_load_image_csv(); image_root and label_names of @p o apply,
 * the other fields are ignored). Nothing is decoded.
 * @param[out] out  the list.
 * @param      path the manifest.
 * @param      o    options (NULL = the defaults).
 * @return as mlcl_dataset_load_image_csv(), without the image errors.
 */
MLCL_API int mlcl_image_list_load_csv(mlcl_image_list **out, const char *path,
                                      const mlcl_manifest_options *o);

/**
 * A list from a COCO instances JSON (the format and image folder rules of
 * mlcl_dataset_load_coco(); image_root and label_names of @p o apply).
 * @return as mlcl_dataset_load_coco(), without the image errors.
 */
MLCL_API int mlcl_image_list_load_coco(mlcl_image_list **out, const char *path,
                                       const mlcl_manifest_options *o);

/**
 * A list from a PASCAL VOC tree (the rules of mlcl_dataset_load_voc();
 * image_root, label_names and voc_difficult of @p o apply).
 * @return as mlcl_dataset_load_voc(), without the image errors.
 */
MLCL_API int mlcl_image_list_load_voc(mlcl_image_list **out, const char *root, const char *split,
                                      const mlcl_manifest_options *o);

/** Frees a list; NULL is a no-op. Not while a loader uses it. */
MLCL_API void mlcl_image_list_free(mlcl_image_list *list);

/**
 * Size of a list.
 * @param list the list.
 * @param[out] n images (nullable).
 * @param[out] n_labels labels (nullable).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_image_list_size(const mlcl_image_list *list, int *n, int *n_labels);

/**
 * The name of a label of a list (the manifest's, or "l<j+1>" for a list made
 * by mlcl_image_list_create()).
 * @param list the list.
 * @param j    the label, in [0, n_labels).
 * @param[out] name borrowed from the list (valid until mlcl_image_list_free()).
 * @return MLCL_OK or MLCL_EINVAL (NULL argument, j out of range).
 */
MLCL_API int mlcl_image_list_label_name(const mlcl_image_list *list, int j, const char **name);

/** The normalisation of a loader's images (mlcl_loader_options.normalize). */
typedef enum mlcl_normalize {
    MLCL_NORMALIZE_NONE = 0,     /**< no normalisation (values in [0, 1]) */
    MLCL_NORMALIZE_IMAGENET = 1, /**< ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224,
                                      0.225); one channel: mean 0.449, std 0.226 (their averages) */
    MLCL_NORMALIZE_CUSTOM = 2    /**< mlcl_loader_options.mean and .std */
} mlcl_normalize;

/** Version of mlcl_loader_options. */
#define MLCL_LOADER_OPTIONS_VERSION 1

/** Options of mlcl_loader_create(). Initialise with MLCL_LOADER_OPTIONS_INIT or mlcl_loader_options_init(). */
typedef struct mlcl_loader_options {
    unsigned int version; /**< MLCL_LOADER_OPTIONS_VERSION */
    int batch;            /**< images per batch (64), > 0 */
    int height;           /**< rows after resize + centre crop (224), > 0 */
    int width;            /**< columns after resize + centre crop (224), > 0 */
    int resize;           /**< 0 (default): the image is resized to just cover height x width, then
                               centre-cropped (mlcl_image_resize_crop()); > 0: its shorter side is
                               resized to this (>= height and width), then the centre height x width
                               is cropped (torchvision Resize(resize) + CenterCrop, e.g. 256 for 224) */
    int channels;         /**< 1 or 3 (3) */
    int threads;          /**< loader threads: 0 (default) = online CPUs, at most 16 */
    int prefetch;         /**< batches in the ring (4), >= 1 */
    uint64_t seed;        /**< order and augmentations (0) */
    int shuffle;          /**< 1 (default): a permutation per epoch; 0: list order */
    int drop_last;        /**< 1: leave out the short last batch of an epoch (0) */
    int views;            /**< 0 (default): the resized image; 1 or 2: SimCLR views of it */
    mlcl_simclr_options simclr; /**< the views' augmentation (SimCLR defaults; out_h/out_w 0 = height/width) */
    mlcl_normalize normalize; /**< MLCL_NORMALIZE_IMAGENET (default), _NONE or _CUSTOM (applied after augmentation) */
    float mean[3];        /**< per-channel means for MLCL_NORMALIZE_CUSTOM */
    float std[3];         /**< per-channel standard deviations (> 0) for MLCL_NORMALIZE_CUSTOM */
    int skip_bad_images;  /**< 1: an unreadable image is left out of its batch and counted; 0
                               (default): mlcl_loader_next() fails naming the file */
} mlcl_loader_options;

/** The defaults. */
#define MLCL_LOADER_OPTIONS_INIT                                                            \
    { MLCL_LOADER_OPTIONS_VERSION, 64, 224, 224, 0, 3, 0, 4, 0, 1, 0, 0, MLCL_SIMCLR_OPTIONS_INIT, \
      MLCL_NORMALIZE_IMAGENET, { 0.485f, 0.456f, 0.406f }, { 0.229f, 0.224f, 0.225f }, 0 }

/**
 * Fills @p o with MLCL_LOADER_OPTIONS_INIT.
 * @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION.
 */
MLCL_API int mlcl_loader_options_init(mlcl_loader_options *o, unsigned int version);

/** The opaque loader. */
typedef struct mlcl_loader mlcl_loader;

/** One batch, borrowed from the loader until the next mlcl_loader_next(), _seek() or _free(). */
/** Version of mlcl_loader_batch. */
#define MLCL_LOADER_BATCH_VERSION 1

typedef struct mlcl_loader_batch {
    unsigned int version; /**< MLCL_LOADER_BATCH_VERSION (set by the caller; the library fills the rest) */
    int n;            /**< images in the batch (< batch size for a short last batch or skipped images) */
    int epoch;        /**< the batch's epoch */
    long long index;  /**< the batch's index within the epoch */
    int d;            /**< floats per image: channels x out_h x out_w */
    const float *x;   /**< n x d: the image, or its first view */
    const float *x2;  /**< n x d: the second view (views = 2), else NULL */
    const uint8_t *y; /**< n x n_labels, 0/1 */
    const int *rows;  /**< n indices into the list */
    int skipped;      /**< images of this batch left out (skip_bad_images) */
} mlcl_loader_batch;

/** Static initialiser: the version, everything else 0 / NULL. */
#define MLCL_LOADER_BATCH_INIT { MLCL_LOADER_BATCH_VERSION, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0 }

/** Fills @p batch with MLCL_LOADER_BATCH_INIT. @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION. */
MLCL_API int mlcl_loader_batch_init(mlcl_loader_batch *batch, unsigned int version);

/**
 * Creates a loader over @p list (borrowed) and starts its threads at
 * epoch 0, batch 0.
 * @param[out] out  the loader; free with mlcl_loader_free().
 * @param      list the images.
 * @param      o    the options (copied; NULL = the defaults).
 * @return MLCL_OK, MLCL_EINVAL (an option named), MLCL_EVERSION, MLCL_EOVERFLOW,
 *         MLCL_ENOMEM (also when a thread cannot start).
 */
MLCL_API int mlcl_loader_create(mlcl_loader **out, const mlcl_image_list *list, const mlcl_loader_options *o);

/**
 * Stops the threads (waiting for the image each is working on) and frees the
 * loader; NULL is a no-op.
 */
MLCL_API void mlcl_loader_free(mlcl_loader *loader);

/**
 * The next batch, waiting for it when it is not ready yet; after an epoch's
 * last batch comes batch 0 of the next epoch.
 * @param loader the loader.
 * @param[out] b the batch (borrowed views into the ring).
 * @return MLCL_OK; MLCL_EFORMAT / MLCL_EIO naming the image file that could not
 *         be read (without skip_bad_images; the loader then stays at that
 *         batch and returns the error again until mlcl_loader_seek());
 *         MLCL_EFORMAT when every image of a batch was skipped; MLCL_ENOMEM.
 */
MLCL_API int mlcl_loader_next(mlcl_loader *loader, mlcl_loader_batch *b);

/**
 * The position of the next batch mlcl_loader_next() returns.
 * @param loader the loader.
 * @param[out] epoch its epoch (nullable).
 * @param[out] batch its index within the epoch (nullable).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loader_position(const mlcl_loader *loader, int *epoch, long long *batch);

/**
 * Restarts the loader at (epoch, batch): the batches then are those an
 * uninterrupted loader with the same list and options returns from there.
 * @param loader the loader.
 * @param epoch >= 0.
 * @param batch in [0, mlcl_loader_batches_per_epoch()).
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM (a thread could not start).
 */
MLCL_API int mlcl_loader_seek(mlcl_loader *loader, int epoch, long long batch);

/**
 * Batches per epoch: ceil(n / batch), or floor(n / batch) with drop_last.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loader_batches_per_epoch(const mlcl_loader *loader, long long *batches);

/** Counters of a loader (mlcl_loader_stats()). */
/** Version of mlcl_loader_stats. */
#define MLCL_LOADER_STATS_VERSION 1

typedef struct mlcl_loader_stats {
    unsigned int version;  /**< MLCL_LOADER_STATS_VERSION (set by the caller; the library fills the rest) */
    long long images;      /**< images decoded (and resized, augmented, normalised) so far */
    long long skipped;     /**< images left out (skip_bad_images) */
    double busy_seconds;   /**< seconds the threads spent on images, summed over threads */
    double wait_seconds;   /**< seconds mlcl_loader_next() waited for a batch */
    long long batches;     /**< batches returned */
    int threads;           /**< loader threads */
    size_t ring_bytes;     /**< bytes of the prefetch ring */
} mlcl_loader_stats;

/** Static initialiser: the version, every counter 0. */
#define MLCL_LOADER_STATS_INIT { MLCL_LOADER_STATS_VERSION, 0, 0, 0.0, 0.0, 0, 0, 0 }

/** Fills @p stats with MLCL_LOADER_STATS_INIT. @return MLCL_OK, MLCL_EINVAL or MLCL_EVERSION. */
MLCL_API int mlcl_loader_stats_init(mlcl_loader_stats *stats, unsigned int version);

/**
 * The loader's counters since its creation (images / busy_seconds is the
 * rate of one thread).
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loader_stats_get(const mlcl_loader *loader, mlcl_loader_stats *s);

/**
 * The normalisation the loader applies (x - mean) / std per channel, so that
 * a model can record it; identity (0, 1) with MLCL_NORMALIZE_NONE.
 * @param loader the loader.
 * @param[out] mean channels floats.
 * @param[out] std channels floats.
 * @return MLCL_OK or MLCL_EINVAL.
 */
MLCL_API int mlcl_loader_normalization(const mlcl_loader *loader, float *mean, float *std);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_LOADER_H */

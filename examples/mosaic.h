/* The Fashion-MNIST multi-label mosaic set: example-local code (not part of
 * libmlcl), compiled into mlcl-train (its default job) and mlcl-predict
 * (--mosaic), and into the tests that use it. Built on the public API only. */
#ifndef MLCL_EXAMPLES_MOSAIC_H
#define MLCL_EXAMPLES_MOSAIC_H

#include <stdint.h>
#include "mlcl.h"

/** Debian's dataset-fashion-mnist. */
#define MOSAIC_DIR_DEFAULT "/usr/share/datasets/fashion-mnist"

/**
 * The Fashion-MNIST multi-label mosaic set. Each sample is a grid x grid
 * mosaic of Fashion-MNIST items drawn uniformly with replacement (seeded PCG:
 * the same seed gives the same set on every machine); its labels are the set
 * of the 10 classes present (c = 10, names "T-shirt/top" ... "Ankle boot").
 * Cell (r, s) holds the (r * grid + s)-th item drawn for that sample; features
 * are the (28 grid) x (28 grid) pixels row-major, each pixel / 255; the image
 * shape is (1, 28 grid, 28 grid).
 * @param[out] out       the new dataset; free with mlcl_dataset_free().
 * @param      dir       directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz;
 *                       NULL = MOSAIC_DIR_DEFAULT.
 * @param      train     1: draw from the 60000 training items; 0: from the 10000 test items.
 * @param      n_samples mosaics to build, > 0.
 * @param      seed      RNG seed.
 * @param      grid      items per side, 1..8 (2 -> 56 x 56 = 3136 features).
 * @return MLCL_OK or an MLCL_* status: the message is mlcl_last_error() for
 *         the library's errors (unreadable or malformed IDX files), else
 *         mosaic_last_error() (bad arguments, files that disagree).
 */
int fashion_mosaic(mlcl_dataset **out, const char *dir, int train, int n_samples, uint64_t seed, int grid);

/** The message of the last failed fashion_mosaic() call of this thread. */
const char *mosaic_last_error(void);

#endif

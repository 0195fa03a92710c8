/* Internal to src/data/image.c, exposed for the tests. */
#ifndef MLCL_IMAGE_INTERNAL_H
#define MLCL_IMAGE_INTERNAL_H
#include "core/internal.h"
#include "mlcl/image.h"

/* Stream constant of the per-image generators ("simclr"). */
#define MLCL__SIMCLR_STREAM 0x73696d636c72ULL

/* torchvision's RandomResizedCrop.get_params on an h x w image: the crop's
 * top, left, height and width, drawn from r (the options are valid). */
MLCL_INTERNAL void mlcl__simclr_crop(mlcl__pcg *r, int h, int w, const mlcl_simclr_options *o,
                                     int *top, int *left, int *ch, int *cw);
#endif

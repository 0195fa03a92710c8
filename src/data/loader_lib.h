/* A *_lib.h header: functions a layer offers the layers above it inside the
 * library, no handle layout (docs/architecture.md, "Internal headers"). */
/* Internal to the library: what the trainer's streaming mode
 * (mlcl_trainer_create_stream, src/train/trainer.c) reads of a loader. */
#ifndef MLCL_DATA_LOADER_LIB_H
#define MLCL_DATA_LOADER_LIB_H
#include <stdint.h>
#include "core/internal.h"
#include "mlcl/loader.h"

/* The loader's options as resolved (simclr.out_h/out_w set to the output size). */
MLCL_INTERNAL const mlcl_loader_options *mlcl__loader_options(const mlcl_loader *L);
MLCL_INTERNAL const mlcl_image_list *mlcl__loader_list(const mlcl_loader *L);
/* Output height and width of the loader's images. */
MLCL_INTERNAL void mlcl__loader_out_size(const mlcl_loader *L, int *h, int *w);
/* The list's labels as n x c bytes (y zeroed first). */
MLCL_INTERNAL void mlcl__image_list_labels(const mlcl_image_list *l, uint8_t *y);
/* CRC-32 of the list's paths and labels, continuing crc. */
MLCL_INTERNAL uint32_t mlcl__image_list_crc(const mlcl_image_list *l, uint32_t crc);
#endif

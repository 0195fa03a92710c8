/**
 * @file
 * libmlcl — multi-label supervised contrastive learning with label
 * distributions (MulSupCon, MulSupCon_RLD, MulSupCon_CLD).
 *
 * The umbrella header: includes every public header of the stable API.
 * See docs/ for the guides and the mathematics.
 */
#ifndef MLCL_H
#define MLCL_H

#include "mlcl/core.h"
#include "mlcl/labels.h"
#include "mlcl/queue.h"
#include "mlcl/mask.h"
#include "mlcl/loss.h"
#include "mlcl/metrics.h"
#include "mlcl/encoder.h"
#include "mlcl/models.h"
#include "mlcl/ops.h"
#include "mlcl/optim.h"
#include "mlcl/dataset.h"
#include "mlcl/batch.h"
#include "mlcl/augment.h"
#include "mlcl/readers.h"
#include "mlcl/moco.h"
#include "mlcl/image.h"
#include "mlcl/comm.h"
#include "mlcl/train.h"
#include "mlcl/model.h"
#include "mlcl/loader.h"

#endif

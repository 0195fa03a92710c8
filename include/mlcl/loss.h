/* libmlcl: loss (API being written; see docs/). */
#ifndef MLCL_LOSS_H
#define MLCL_LOSS_H
#include "core.h"
#endif

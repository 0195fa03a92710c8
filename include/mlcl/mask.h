/* libmlcl: mask (API being written; see docs/). */
#ifndef MLCL_MASK_H
#define MLCL_MASK_H
#include "core.h"
#endif

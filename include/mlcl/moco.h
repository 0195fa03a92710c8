/* libmlcl: moco (API being written; see docs/). */
#ifndef MLCL_MOCO_H
#define MLCL_MOCO_H
#include "core.h"
#endif

/* libmlcl: nn (API being written; see docs/). */
#ifndef MLCL_NN_H
#define MLCL_NN_H
#include "core.h"
#endif

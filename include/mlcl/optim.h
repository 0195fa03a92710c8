/* libmlcl: optim (API being written; see docs/). */
#ifndef MLCL_OPTIM_H
#define MLCL_OPTIM_H
#include "core.h"
#endif

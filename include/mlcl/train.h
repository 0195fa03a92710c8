/* libmlcl: train (API being written; see docs/). */
#ifndef MLCL_TRAIN_H
#define MLCL_TRAIN_H
#include "core.h"
#endif

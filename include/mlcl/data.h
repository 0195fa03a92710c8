/* libmlcl: data (API being written; see docs/). */
#ifndef MLCL_DATA_H
#define MLCL_DATA_H
#include "core.h"
#endif

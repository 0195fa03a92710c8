/* libmlcl: metrics (API being written; see docs/). */
#ifndef MLCL_METRICS_H
#define MLCL_METRICS_H
#include "core.h"
#endif

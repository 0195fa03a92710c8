/* libmlcl: queue (API being written; see docs/). */
#ifndef MLCL_QUEUE_H
#define MLCL_QUEUE_H
#include "core.h"
#endif

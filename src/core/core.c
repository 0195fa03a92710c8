/* Status strings, thread-local errors, versions, allocation hooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "internal.h"

#define MLCL_ERRBUF 512
static _Thread_local char tl_error[MLCL_ERRBUF];
static _Thread_local mlcl_allocator tl_alloc; /* zero = default */

const char *mlcl_status_str(int status)
{
    switch (status) {
    case MLCL_OK: return "success";
    case MLCL_EINVAL: return "invalid argument";
    case MLCL_ENOMEM: return "out of memory";
    case MLCL_EIO: return "input/output error";
    case MLCL_EFORMAT: return "malformed file";
    case MLCL_EVERSION: return "unsupported version";
    case MLCL_ESTATE: return "invalid state";
    case MLCL_ENUMERIC: return "non-finite value";
    case MLCL_EBACKEND: return "backend (OpenBLAS/oneDNN) error";
    case MLCL_EOVERFLOW: return "size overflow";
    case MLCL_EUNSUPPORTED: return "unsupported";
    case MLCL_ECHECKSUM: return "checksum mismatch";
    case MLCL_EINTERRUPTED: return "interrupted";
    default: return "unknown status";
    }
}

const char *mlcl_last_error(void) { return tl_error; }
void mlcl_clear_error(void) { tl_error[0] = '\0'; }

int mlcl__verr(int status, const char *fmt, va_list ap)
{
    if (status == MLCL_ENOMEM && fmt == NULL) {
        snprintf(tl_error, sizeof tl_error, "out of memory");
        return status;
    }
    vsnprintf(tl_error, sizeof tl_error, fmt, ap);
    return status;
}

int mlcl__err(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mlcl__verr(status, fmt, ap);
    va_end(ap);
    return status;
}

unsigned int mlcl_version_number(void) { return MLCL_VERSION_NUMBER; }

#define MLCL_STR2(x) #x
#define MLCL_STR(x) MLCL_STR2(x)
const char *mlcl_version_string(void)
{
    return MLCL_STR(MLCL_VERSION_MAJOR) "." MLCL_STR(MLCL_VERSION_MINOR) "." MLCL_STR(MLCL_VERSION_PATCH);
}

int mlcl_set_allocator(const mlcl_allocator *a)
{
    if (a == NULL) { memset(&tl_alloc, 0, sizeof tl_alloc); return MLCL_OK; }
    if ((a->alloc == NULL) != (a->free == NULL))
        return mlcl__err(MLCL_EINVAL, "mlcl_set_allocator: allocator->alloc and allocator->free must both be set or both NULL");
    tl_alloc = *a;
    return MLCL_OK;
}

void *mlcl__malloc(size_t size)
{
    if (size == 0) size = 1;
    if (tl_alloc.alloc) return tl_alloc.alloc(size, tl_alloc.ctx);
    void *p = NULL;
    size_t rounded = (size + 63) & ~(size_t)63;
    if (rounded < size) return NULL;
    if (posix_memalign(&p, 64, rounded) != 0) return NULL;
    return p;
}

void *mlcl__calloc(size_t count, size_t size)
{
    size_t total;
    if (mlcl__mul_size(count, size, &total) != 0) return NULL;
    void *p = mlcl__malloc(total);
    if (p) memset(p, 0, total ? total : 1);
    return p;
}

void mlcl__free(void *p)
{
    if (p == NULL) return;
    if (tl_alloc.free) tl_alloc.free(p, tl_alloc.ctx);
    else free(p);
}

int mlcl__alloc_array(void **out, size_t count, size_t size, const char *what)
{
    size_t total;
    *out = NULL;
    if (mlcl__mul_size(count, size, &total) != 0)
        return mlcl__err(MLCL_EOVERFLOW, "%s: %zu x %zu bytes overflows size_t", what, count, size);
    *out = mlcl__calloc(count, size);
    if (*out == NULL)
        return mlcl__err(MLCL_ENOMEM, "%s: cannot allocate %zu bytes", what, total);
    return MLCL_OK;
}

int mlcl_set_num_threads(int n)
{
    if (n < 1) return mlcl__err(MLCL_EINVAL, "mlcl_set_num_threads: n must be >= 1 (got %d)", n);
    openblas_set_num_threads(n);
    return MLCL_OK;
}

/* Status strings, thread-local errors, versions, allocation hooks. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
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
    case MLCL_EBUSY: return "handle is in use by another call";
    default: return "unknown status";
    }
}

const char *mlcl_last_error(void) { return tl_error; }
void mlcl_clear_error(void) { tl_error[0] = '\0'; }

/* The message is composed in a scratch buffer and copied afterwards, so an
 * argument may be mlcl_last_error() itself ("step 5: %s", mlcl_last_error()). */
int mlcl__verr(int status, const char *fmt, va_list ap)
{
    char scratch[MLCL_ERRBUF];
    if (status == MLCL_ENOMEM && fmt == NULL) {
        snprintf(tl_error, sizeof tl_error, "out of memory");
        return status;
    }
    vsnprintf(scratch, sizeof scratch, fmt, ap);
    memcpy(tl_error, scratch, strlen(scratch) + 1);
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

int mlcl_allocator_init(mlcl_allocator *allocator, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_allocator_init", allocator, version, MLCL_ALLOCATOR_VERSION, mlcl_allocator, MLCL_ALLOCATOR_INIT);
}

int mlcl_set_allocator(const mlcl_allocator *a)
{
    if (a == NULL) { memset(&tl_alloc, 0, sizeof tl_alloc); return MLCL_OK; }
    MLCL_CHECK_VERSION("mlcl_set_allocator", a, MLCL_ALLOCATOR_VERSION);
    if ((a->alloc == NULL) != (a->free == NULL))
        return mlcl__err(MLCL_EINVAL, "mlcl_set_allocator: allocator->alloc and allocator->free must both be set or both NULL");
    tl_alloc = *a;
    return MLCL_OK;
}

void mlcl__alloc_get(mlcl_allocator *out) { *out = tl_alloc; }
void mlcl__alloc_set(const mlcl_allocator *a) { tl_alloc = *a; }

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

int mlcl__cpus_available(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    long cpus = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
    if (cpus < 1) cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus >= 1 ? (int)(cpus < MLCL_MAX_THREADS ? cpus : MLCL_MAX_THREADS) : 1;
}

void mlcl__est_add(mlcl__mem_est *e, double bytes, const char *purpose, const char *who_fmt, ...)
{
    e->total += bytes;
    if (bytes > e->big) {
        va_list ap;
        va_start(ap, who_fmt);
        e->big = bytes;
        vsnprintf(e->who, sizeof e->who, who_fmt, ap);
        va_end(ap);
        snprintf(e->purpose, sizeof e->purpose, "%s", purpose);
    }
}

double mlcl__mem_available(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double avail = pages > 0 && psz > 0 ? (double)pages * (double)psz : 1e300;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        /* the address space already mapped counts against the limit */
        double lim = (double)rl.rlim_cur, used = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f) {
            unsigned long long vm = 0;
            if (fscanf(f, "%llu", &vm) == 1 && psz > 0) used = (double)vm * (double)psz;
            fclose(f);
        }
        lim = lim > used ? lim - used : 0;
        if (lim < avail) avail = lim;
    }
    return avail;
}

int mlcl__mem_check(const mlcl__mem_est *e, const char *fn)
{
    double avail = mlcl__mem_available();
    if (e->total <= avail) return MLCL_OK;
    const double G = 1e9;
    return mlcl__err(MLCL_ENOMEM, "%s: %s needs %.1f GB for %s (%.1f GB in all), more than the %.1f GB this process "
                     "may still use (the smaller of physical memory and RLIMIT_AS)", fn, e->who, e->big / G, e->purpose,
                     e->total / G, avail / G);
}

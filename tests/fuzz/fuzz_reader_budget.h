/* For the reader fuzz targets: the memory budget of docs/formats.md ("Limits")
 * as a crash. A fuzz input is far below 1 MB, so no reader may hold more than
 * 512 MiB at once before it refuses the input: every allocation is counted
 * and one that would pass 512 MiB live aborts (a finding for libFuzzer).
 * Also writes a gzip copy of the input for the plain-vs-gzip comparison. */
#ifndef MLCL_FUZZ_READER_BUDGET_H
#define MLCL_FUZZ_READER_BUDGET_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "mlcl.h"

#define FUZZ_BUDGET ((size_t)512 << 20)
static size_t fuzz_live;

static void *fuzz_budget_alloc(size_t n, void *ctx)
{
    (void)ctx;
    if (n > FUZZ_BUDGET || fuzz_live + n > FUZZ_BUDGET) {
        fprintf(stderr, "reader budget: allocating %zu bytes with %zu live passes 512 MiB\n", n, fuzz_live);
        abort();
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, n + 64) != 0) return NULL;
    *(size_t *)p = n;
    fuzz_live += n;
    return (char *)p + 64;
}

static void fuzz_budget_free(void *p, void *ctx)
{
    (void)ctx;
    if (!p) return;
    char *b = (char *)p - 64;
    fuzz_live -= *(size_t *)b;
    free(b);
}

static void fuzz_budget_install(void)
{
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, fuzz_budget_alloc, fuzz_budget_free, NULL };
    if (mlcl_set_allocator(&a) != MLCL_OK) abort();
}

/* The input gzip'd next to path (path + ".gz"); NULL when the input itself
 * starts with the gzip magic (then the two files would not hold the same text). */
static const char *fuzz_write_gz(const char *path, const uint8_t *data, size_t size)
{
    static char gz[300];
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return NULL;
    snprintf(gz, sizeof gz, "%s.gz", path);
    gzFile g = gzopen(gz, "wb1");
    if (!g) abort();
    if (size && gzwrite(g, data, (unsigned)size) != (int)size) abort();
    if (gzclose(g) != Z_OK) abort();
    return gz;
}
#endif

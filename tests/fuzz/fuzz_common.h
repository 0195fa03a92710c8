/* Shared helper of the libFuzzer targets: the public loaders take file
 * names, so each input is written to a per-process temporary file first. */
#ifndef MLCL_FUZZ_COMMON_H
#define MLCL_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "mlcl.h"

/* The harness caps single allocations at 256 MiB through the allocator hook,
 * as a host application with a memory budget would: the library must then
 * fail cleanly with MLCL_ENOMEM (dense storage makes e.g. a LIBSVM file with
 * one feature index of 10^9 ask for gigabytes, by design). */
#define FUZZ_ALLOC_CAP ((size_t)256 << 20)
static void *fuzz_alloc(size_t n, void *ctx)
{
    (void)ctx;
    void *p = NULL;
    if (n > FUZZ_ALLOC_CAP || posix_memalign(&p, 64, (n + 63) & ~(size_t)63) != 0) return NULL;
    return p;
}
static void fuzz_free(void *p, void *ctx) { (void)ctx; free(p); }
static void fuzz_install_allocator(void)
{
    static int done;
    if (done) return;
    mlcl_allocator a = { MLCL_ALLOCATOR_VERSION, fuzz_alloc, fuzz_free, NULL };
    if (mlcl_set_allocator(&a) != MLCL_OK) abort();
    done = 1;
}

static const char *fuzz_path(const char *suffix)
{
    static char path[256];
    if (!path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/mlcl_fuzz_%d%s", dir, (int)getpid(), suffix);
    }
    return path;
}

static const char *fuzz_write(const uint8_t *data, size_t size, const char *suffix)
{
    const char *p = fuzz_path(suffix);
    fuzz_install_allocator();
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return p;
}

/* Every failure must carry a message. */
static void fuzz_check_rc(int rc)
{
    if (rc > 0) abort();
    if (rc < 0 && mlcl_last_error()[0] == '\0') abort();
}
#endif

/* OpenBLAS's kernel choice on CPUs it does not know: see blascore.h. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "blascore.h"

const char *mlcl_cli_blas_core_name(void)
{
    /* libopenblas is loaded with libmlcl; asked through dlsym so that the
     * program does not link OpenBLAS itself */
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    const char *s = corename ? corename() : NULL;
    return s ? s : "?";
}

static const char *cpu_core(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

void mlcl_cli_blas_core(char **argv, const char *prog)
{
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's (or the machine's) choice */
    if (strcasecmp(mlcl_cli_blas_core_name(), "Prescott") != 0) return;
    const char *want = cpu_core();
    if (!want) return;
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
    int quiet = 0;
    for (char **a = argv + 1; *a; a++)
        if (!strcmp(*a, "--quiet") || !strcmp(*a, "-q")) quiet = 1;
    if (!quiet)
        fprintf(stderr, "%s: OpenBLAS does not know this CPU and chose its generic Prescott kernels; "
                    "running with OPENBLAS_CORETYPE=%s (set OPENBLAS_CORETYPE to choose)\n", prog, want);
    fflush(NULL);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* could not re-execute: go on with what OpenBLAS chose */
}

/*
 * blascore.h: choose OpenBLAS's kernels when OpenBLAS does not know the CPU
 * (program-local, used by mlcl-train and mlcl-predict; not part of the library).
 */
#ifndef MLCL_CLI_BLASCORE_H
#define MLCL_CLI_BLASCORE_H

/* Call first thing in main(). Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks
 * its kernels once, when it is loaded, from the CPU model; a CPU newer than
 * the build (e.g. Xeon model 207) gets the generic "Prescott" SSE3 kernels,
 * 4-5x slower than the AVX2/AVX-512 ones the CPU has. When OpenBLAS reports
 * Prescott, OPENBLAS_CORETYPE is not set, and the CPU has AVX-512 (F, BW, DQ,
 * VL: OpenBLAS's "SkylakeX") or AVX2 + FMA ("Haswell"), the program re-executes
 * itself (/proc/self/exe, same arguments) with OPENBLAS_CORETYPE set, after one
 * line on stderr (none with --quiet or -q). A set OPENBLAS_CORETYPE is always respected (set it to
 * Prescott to keep the generic kernels). Returns only when nothing is done or
 * the re-execution failed (then the program goes on as it is). */
void mlcl_cli_blas_core(char **argv, const char *prog);

/* The core OpenBLAS runs with ("?" when it cannot be asked). */
const char *mlcl_cli_blas_core_name(void);

#endif

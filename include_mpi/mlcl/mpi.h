/**
 * @file
 * libmlcl_mpi: an mlcl_comm (comm.h) over MPI, for data-parallel training
 * with `mpirun -np N`. A separate library (libmlcl_mpi.so.1, pkg-config
 * mlcl-mpi) so that libmlcl itself never depends on MPI.
 *
 * Two ways in:
 *  - with an MPI program of your own: mlcl_mpi_comm_create() on any
 *    communicator (duplicated inside), mlcl_mpi_comm_free() before MPI_Finalize;
 *  - without including <mpi.h> (mlcl-train dlopen()s this library):
 *    mlcl_mpi_open() initialises MPI when needed and returns a communicator
 *    over MPI_COMM_WORLD; mlcl_mpi_close() frees it and finalises MPI when
 *    mlcl_mpi_open() initialised it.
 *
 * The collectives are blocking (MPI_Allreduce / MPI_Allgather / MPI_Bcast,
 * split into pieces of at most INT_MAX elements) and are called from one
 * thread: MPI_THREAD_FUNNELED is enough.
 */
#ifndef MLCL_MPI_H
#define MLCL_MPI_H

#include <mpi.h>
#include "mlcl/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A communicator over @p comm (duplicated: collectives of the library never
 * mix with yours). MPI must be initialised.
 * @param[out] out the communicator; free with mlcl_mpi_comm_free().
 * @param comm an MPI communicator (e.g. MPI_COMM_WORLD).
 * @return MLCL_OK, MLCL_EINVAL (NULL, MPI not initialised), MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_mpi_comm_create(mlcl_comm **out, MPI_Comm comm);

/** Frees a communicator of mlcl_mpi_comm_create() (collective: frees the duplicate); NULL is a no-op. */
MLCL_API void mlcl_mpi_comm_free(mlcl_comm *comm);

/**
 * Initialises MPI if it is not yet (MPI_Init_thread, FUNNELED) and returns a
 * communicator over MPI_COMM_WORLD. For programs that do not include <mpi.h>.
 * @param[out] out the communicator; free with mlcl_mpi_close().
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENOMEM or MLCL_EBACKEND.
 */
MLCL_API int mlcl_mpi_open(mlcl_comm **out);

/** Frees a communicator of mlcl_mpi_open() and calls MPI_Finalize when mlcl_mpi_open() initialised MPI. */
MLCL_API void mlcl_mpi_close(mlcl_comm *comm);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_MPI_H */

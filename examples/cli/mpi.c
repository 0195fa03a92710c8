/*
 * mpi.c: data-parallel runs under mpirun (libmlcl_mpi loaded with dlopen)
 */
#include "cli.h"

/* ---- data-parallel runs: `mpirun -np N mlcl-train ...` (docs/distributed.md).
 * This program does not link MPI: under mpirun (OMPI_COMM_WORLD_SIZE or
 * PMI_SIZE > 1) it dlopen()s libmlcl_mpi.so.1, whose mlcl_mpi_open() returns
 * an mlcl_comm over MPI_COMM_WORLD, and installs it on the trainer. Only rank
 * 0 prints, logs and writes files (checkpoints: mlcl_trainer_save does that). */
mlcl_comm *g_comm;
static void (*g_mpi_close)(mlcl_comm *);

static void mpi_at_exit(int status, void *arg)
{
    (void)arg;
    if (!g_comm) return;
    if (status == 0 || status == 130) { g_mpi_close(g_comm); return; }
    /* a rank that fails alone must not wait for the others in MPI_Finalize */
    fprintf(stderr, "mlcl-train: rank %d exits with status %d: aborting the other ranks\n", g_comm->rank, status);
    _exit(status);
}

static int mpi_world_size(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("PMI_SIZE");
    long long n;
    return v && parse_int(v, 1, 1e7, &n) == 0 ? (int)n : 1;
}

/* returns 0 (single process, or attached), 1 on error (message printed) */
int mpi_attach(app *a, const char **log_path, const char **json_path)
{
    if (mpi_world_size() <= 1) return 0;
    void *h = dlopen("libmlcl_mpi.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        fprintf(stderr, "mlcl-train: running under mpirun but libmlcl_mpi.so.1 cannot be loaded (%s); "
                "build it with `make mpi` and put it next to libmlcl\n", dlerror());
        return 1;
    }
    int (*open_fn)(mlcl_comm **) = (int (*)(mlcl_comm **))dlsym(h, "mlcl_mpi_open");
    g_mpi_close = (void (*)(mlcl_comm *))dlsym(h, "mlcl_mpi_close");
    if (!open_fn || !g_mpi_close || open_fn(&g_comm) != MLCL_OK) {
        fprintf(stderr, "mlcl-train: libmlcl_mpi: MPI could not be initialised\n");
        return 1;
    }
    on_exit(mpi_at_exit, NULL);
    if (mlcl_trainer_set_comm(a->trainer, g_comm) != MLCL_OK) {
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        return 1;
    }
    if (g_comm->rank == 0) {
        if (!a->quiet) fprintf(stderr, "mlcl-train: data-parallel over %d ranks\n", g_comm->size);
    } else {
        a->quiet = 1;
        a->silent = 1;
        a->plot_dir = NULL;
        *log_path = NULL;
        *json_path = NULL;
        if (!freopen("/dev/null", "w", stdout)) return 1;
    }
    return 0;
}

/* every rank stops at the same step (a signal reaches the ranks at different times) */
int mpi_progress_cb(const mlcl_progress *p, void *ctx)
{
    double stop = progress_cb(p, ctx) != 0;
    if (g_comm->allreduce_f64(g_comm->ctx, &stop, 1) != 0) return 1;
    return stop != 0;
}


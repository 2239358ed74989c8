/* Data parallelism over MPI (compiled with SCFM_HAVE_MPI). MPI is initialized only when
 * the process was started by mpirun; otherwise everything acts as one rank. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "scfm/train.h"

#ifdef SCFM_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_active = 0;

static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int scfm_dist_init(int *argc, char ***argv) {
    if (g_active || !launched_by_mpirun()) return SCFM_OK;
#ifdef SCFM_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(argc, argv) != MPI_SUCCESS)
        return scfm_error(SCFM_EIO, "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_active = 1;
    return SCFM_OK;
#else
    (void)argc;
    (void)argv;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (n && strcmp(n, "1") != 0)
        return scfm_error(SCFM_EINVAL, "launched by mpirun with %s ranks, but this scfm was built without MPI", n);
    return SCFM_OK;
#endif
}

void scfm_dist_finalize(void) {
#ifdef SCFM_HAVE_MPI
    if (g_active) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin) MPI_Finalize();
    }
#endif
    g_active = 0;
    g_rank = 0;
    g_size = 1;
}

int scfm_dist_rank(void) { return g_rank; }
int scfm_dist_size(void) { return g_size; }
int scfm_dist_active(void) { return g_active; }

#ifdef SCFM_HAVE_MPI
static int allreduce(void *buf, size_t n, MPI_Datatype t, size_t elem) {
    char *p = buf;
    while (n > 0) {
        int k = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        if (MPI_Allreduce(MPI_IN_PLACE, p, k, t, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return scfm_error(SCFM_EIO, "MPI_Allreduce failed");
        p += (size_t)k * elem;
        n -= (size_t)k;
    }
    return SCFM_OK;
}
#endif

int scfm_dist_allreduce_f32(float *buf, size_t n) {
#ifdef SCFM_HAVE_MPI
    if (g_active && g_size > 1) return allreduce(buf, n, MPI_FLOAT, sizeof(float));
#endif
    (void)buf;
    (void)n;
    return SCFM_OK;
}

int scfm_dist_allreduce_f64(double *buf, size_t n) {
#ifdef SCFM_HAVE_MPI
    if (g_active && g_size > 1) return allreduce(buf, n, MPI_DOUBLE, sizeof(double));
#endif
    (void)buf;
    (void)n;
    return SCFM_OK;
}

int scfm_dist_bcast(void *buf, size_t n, int root) {
#ifdef SCFM_HAVE_MPI
    if (g_active && g_size > 1) {
        char *p = buf;
        while (n > 0) {
            int k = n > (size_t)INT_MAX ? INT_MAX : (int)n;
            if (MPI_Bcast(p, k, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
                return scfm_error(SCFM_EIO, "MPI_Bcast failed");
            p += k;
            n -= (size_t)k;
        }
    }
#endif
    (void)buf;
    (void)n;
    (void)root;
    return SCFM_OK;
}

int scfm_dist_barrier(void) {
#ifdef SCFM_HAVE_MPI
    if (g_active && g_size > 1 && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        return scfm_error(SCFM_EIO, "MPI_Barrier failed");
#endif
    return SCFM_OK;
}

int scfm_dist_agree(int status) {
#ifdef SCFM_HAVE_MPI
    if (g_active && g_size > 1) {
        /* (failed?, rank) minimised: lowest failing rank wins. */
        int mine[2] = {status ? 0 : 1, g_rank}, best[2];
        if (MPI_Allreduce(mine, best, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD) != MPI_SUCCESS)
            return scfm_error(SCFM_EIO, "MPI_Allreduce failed");
        if (best[0] == 1) return SCFM_OK;
        int code = status;
        if (MPI_Bcast(&code, 1, MPI_INT, best[1], MPI_COMM_WORLD) != MPI_SUCCESS)
            return scfm_error(SCFM_EIO, "MPI_Bcast failed");
        if (status) return status; /* keep this rank's own message */
        return scfm_error(code, "rank %d failed (see its message)", best[1]);
    }
#endif
    return status;
}

void scfm_dist_abort(int code) {
#ifdef SCFM_HAVE_MPI
    if (g_active && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#endif
    (void)code;
}

/* The communicator over MPI (see comm.h). */
#include "dist/comm.h"
#include "util/error.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

/* MPI counts are int: larger buffers go in pieces. */
#define STC_MPI_PIECE ((size_t)1 << 30)

static int mpi_fail(int err, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(err, msg, &len);
    return stc_errorf(STC_ERR_PEER, "%s failed: %s", what, msg);
}

int stc_comm_init(stc_comm *c, int *argc, char ***argv)
{
    memset(c, 0, sizeof *c);
    int inited = 0, err;
    MPI_Initialized(&inited);
    if (!inited && (err = MPI_Init(argc, argv)) != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Init");
    /* Errors come back to us as codes, so a failure is reported with its
     * reason and the rank, instead of MPI's default abort. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->world);
    MPI_Comm *local = malloc(sizeof *local);
    if (!local)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    if ((err = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, local)) != MPI_SUCCESS) {
        free(local);
        return mpi_fail(err, "MPI_Comm_split_type");
    }
    MPI_Comm_rank(*local, &c->local_rank);
    MPI_Comm_size(*local, &c->local_world);
    c->local_comm = local;
    return 0;
}

int stc_comm_finalize(stc_comm *c)
{
    if (c->local_comm) {
        MPI_Comm_free((MPI_Comm *)c->local_comm);
        free(c->local_comm);
        c->local_comm = NULL;
    }
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
    return 0;
}

static int allreduce(void *buf, size_t n, size_t elem, MPI_Datatype t)
{
    for (size_t off = 0; off < n; off += STC_MPI_PIECE) {
        size_t k = n - off < STC_MPI_PIECE ? n - off : STC_MPI_PIECE;
        int err = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)k, t, MPI_SUM, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS)
            return mpi_fail(err, "MPI_Allreduce");
    }
    return 0;
}

int stc_comm_allreduce_sum_f32(const stc_comm *c, float *buf, size_t n)
{
    return c->world == 1 ? 0 : allreduce(buf, n, sizeof(float), MPI_FLOAT);
}

int stc_comm_allreduce_sum_f64(const stc_comm *c, double *buf, size_t n)
{
    return c->world == 1 ? 0 : allreduce(buf, n, sizeof(double), MPI_DOUBLE);
}

int stc_comm_allgather_f32(const stc_comm *c, float *out, const float *in, size_t n)
{
    if (n > INT_MAX)
        return stc_errorf(STC_ERR_INTERNAL, "allgather of %zu floats exceeds MPI's int count", n);
    int err = MPI_Allgather(in, (int)n, MPI_FLOAT, out, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
    (void)c;
    return err == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Allgather");
}

int stc_comm_broadcast(const stc_comm *c, void *buf, size_t bytes, int root)
{
    (void)c;
    for (size_t off = 0; off < bytes; off += STC_MPI_PIECE) {
        size_t k = bytes - off < STC_MPI_PIECE ? bytes - off : STC_MPI_PIECE;
        int err = MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS)
            return mpi_fail(err, "MPI_Bcast");
    }
    return 0;
}

int stc_comm_barrier(const stc_comm *c)
{
    (void)c;
    int err = MPI_Barrier(MPI_COMM_WORLD);
    return err == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Barrier");
}

void stc_comm_abort(int code)
{
    int inited = 0, fin = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&fin);
    if (inited && !fin)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

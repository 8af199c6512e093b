/* The communicator over MPI (see comm.h). */
#include "dist/comm.h"
#include "util/error.h"
#include "util/clock.h"

#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The watchdog's view of this rank: the collective in progress (NULL when
 * none), since when, the timeout and the training step. */
static _Atomic(const char *) watch_op;
static _Atomic double watch_since;
static _Atomic double watch_timeout;
static _Atomic long long watch_step = -1;
static int watch_rank;
static pthread_t watch_thread;
static int watch_started;

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        usleep(200 * 1000);
        const char *op = atomic_load(&watch_op);
        double t = atomic_load(&watch_timeout);
        if (!op || t <= 0)
            continue;
        double waited = stc_now_s() - atomic_load(&watch_since);
        if (waited > t) {
            fprintf(stderr, "stc: rank %d: %s at step %lld timed out after %.0f s (a peer died or hangs)\n",
                    watch_rank, op, atomic_load(&watch_step), waited);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, STC_ERR_PEER);
            _exit(STC_ERR_PEER);
        }
    }
    return NULL;
}

static void watch_begin(const char *op)
{
    atomic_store(&watch_since, stc_now_s());
    atomic_store(&watch_op, op);
}

static void watch_end(void) { atomic_store(&watch_op, (const char *)NULL); }

int stc_comm_set_timeout(const stc_comm *c, double seconds)
{
    watch_rank = c->rank;
    atomic_store(&watch_timeout, seconds);
    if (!watch_started && seconds > 0) {
        if (pthread_create(&watch_thread, NULL, watchdog, NULL) != 0)
            return stc_errorf(STC_ERR_INTERNAL, "cannot start the collectives' watchdog thread");
        pthread_detach(watch_thread);
        watch_started = 1;
    }
    return 0;
}

void stc_comm_set_step(long long step) { atomic_store(&watch_step, step); }

/* MPI counts are int: larger buffers go in pieces of at most this many
 * elements. STC_TEST_MPI_PIECE (read at init) makes it small, so the tests
 * run the pieced paths on small buffers. */
static size_t mpi_piece = (size_t)1 << 30;

/* The reduce-scatter ring's partial sums in flight (more than two ranks),
 * kept across calls: (2 * ring_cap) floats. */
static float *ring_scratch;
static size_t ring_cap;

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
    const char *tp = getenv("STC_TEST_MPI_PIECE");
    if (tp && atol(tp) > 0 && atol(tp) < (1L << 30))
        mpi_piece = (size_t)atol(tp);
    MPI_Comm_rank(*local, &c->local_rank);
    MPI_Comm_size(*local, &c->local_world);
    c->local_comm = local;
    return 0;
}

int stc_comm_finalize(stc_comm *c)
{
    free(ring_scratch);
    ring_scratch = NULL;
    ring_cap = 0;
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

static int allreduce_op(void *buf, size_t n, size_t elem, MPI_Datatype t, MPI_Op op)
{
    for (size_t off = 0; off < n; off += mpi_piece) {
        size_t k = n - off < mpi_piece ? n - off : mpi_piece;
        watch_begin("allreduce");
        int err = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * elem, (int)k, t, op, MPI_COMM_WORLD);
        watch_end();
        if (err != MPI_SUCCESS)
            return mpi_fail(err, "MPI_Allreduce");
    }
    return 0;
}

static int allreduce(void *buf, size_t n, size_t elem, MPI_Datatype t)
{
    return allreduce_op(buf, n, elem, t, MPI_SUM);
}

int stc_comm_allreduce_min_f32(const stc_comm *c, float *buf, size_t n)
{
    return c->world == 1 ? 0 : allreduce_op(buf, n, sizeof(float), MPI_FLOAT, MPI_MIN);
}

int stc_comm_allreduce_max_f32(const stc_comm *c, float *buf, size_t n)
{
    return c->world == 1 ? 0 : allreduce_op(buf, n, sizeof(float), MPI_FLOAT, MPI_MAX);
}

int stc_comm_allreduce_sum_f32(const stc_comm *c, float *buf, size_t n)
{
    return c->world == 1 ? 0 : allreduce(buf, n, sizeof(float), MPI_FLOAT);
}

int stc_comm_allreduce_sum_f64(const stc_comm *c, double *buf, size_t n)
{
    return c->world == 1 ? 0 : allreduce(buf, n, sizeof(double), MPI_DOUBLE);
}

static int allgather(void *out, const void *in, size_t n, MPI_Datatype t)
{
    if (n > INT_MAX)
        return stc_errorf(STC_ERR_INTERNAL, "allgather of %zu values exceeds MPI's int count", n);
    watch_begin("allgather");
    int err = MPI_Allgather(in, (int)n, t, out, (int)n, t, MPI_COMM_WORLD);
    watch_end();
    return err == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Allgather");
}

int stc_comm_allgather_f32(const stc_comm *c, float *out, const float *in, size_t n)
{
    (void)c;
    return allgather(out, in, n, MPI_FLOAT);
}

int stc_comm_allgather_f64(const stc_comm *c, double *out, const double *in, size_t n)
{
    (void)c;
    return allgather(out, in, n, MPI_DOUBLE);
}

void stc_comm_block(size_t n, int world, int rank, size_t *begin, size_t *count)
{
    /* Rank r owns units [U r / P, U (r+1) / P) of U = ceil(n / align). */
    size_t units = (n + STC_COMM_BLOCK_ALIGN - 1) / STC_COMM_BLOCK_ALIGN, P = (size_t)world, r = (size_t)rank;
    size_t b = units * r / P * STC_COMM_BLOCK_ALIGN, e = units * (r + 1) / P * STC_COMM_BLOCK_ALIGN;
    b = b < n ? b : n;
    e = e < n ? e : n;
    *begin = b;
    *count = e - b;
}

/*
 * Reduce-scatter as a ring over point-to-point messages. Open MPI 4.1's
 * MPI_Reduce_scatter allocates and faults in slab-sized temporaries on
 * every call, which made it twice as slow as an all-reduce of the same slab
 * (bench/scaling, 2 ranks: 160 ms vs 70 ms for 91 MB); the ring moves each
 * block P - 1 times with no temporary for two ranks and two block-sized
 * scratch buffers (kept across calls) for more.
 *
 * Step s = 0 .. P-2: rank r sends its partial sum of block (r-s-1) mod P to
 * r+1 and receives the partial of block (r-s-2) mod P from r-1, then adds
 * its own contribution. The last block received is r's own, which thereby
 * sums every rank's contribution, in the order r+1, r+2, ..., r (fixed for
 * a given world size). Each message goes in pieces of int counts.
 * Messages of one link follow each other in order (MPI's non-overtaking
 * rule), so one tag serves every step.
 */
#define RING_TAG 7301

/* Where block q of a slab lies: equal blocks of n (n_per_rank) or
 * stc_comm_block's partition of n. */
typedef struct {
    size_t n;
    int world;
    int equal;
} ring_layout;

static void ring_block(const ring_layout *L, int q, size_t *begin, size_t *count)
{
    if (L->equal) {
        *begin = (size_t)q * L->n;
        *count = L->n;
    } else {
        stc_comm_block(L->n, L->world, q, begin, count);
    }
}

static int ring_reduce_scatter(const stc_comm *c, float *out, const float *in, const ring_layout *L)
{
    int P = c->world, r = c->rank, next = (r + 1) % P, prev = (r + P - 1) % P;
    if (P == 1) {
        size_t b, k;
        ring_block(L, 0, &b, &k);
        memcpy(out, in + b, sizeof(float) * k);
        return 0;
    }
    if (P > 2) {
        size_t need = 0, b, k;
        for (int q = 0; q < P; q++) {
            ring_block(L, q, &b, &k);
            need = k > need ? k : need;
        }
        if (need > ring_cap) {
            float *p = realloc(ring_scratch, sizeof(float) * 2 * need);
            if (!p)
                return stc_errorf(STC_ERR_NOMEM, "out of memory (reduce-scatter buffers of %zu floats)", 2 * need);
            ring_scratch = p;
            ring_cap = need;
        }
    }
    const float *send = NULL;
    for (int s = 0; s < P - 1; s++) {
        int sq = ((r - s - 1) % P + P) % P, rq = ((r - s - 2) % P + P) % P;
        size_t sb, sk, rb, rk;
        ring_block(L, sq, &sb, &sk);
        ring_block(L, rq, &rb, &rk);
        if (s == 0)
            send = in + sb;
        float *recv = s == P - 2 ? out : ring_scratch + (size_t)(s % 2) * ring_cap;
        /* Piece i of the block going to r+1 with piece i of the one coming
         * from r-1: each link sees the pieces of one block size. */
        size_t most = sk > rk ? sk : rk;
        for (size_t off = 0; off < most; off += mpi_piece) {
            MPI_Request req[2];
            int nreq = 0, err = MPI_SUCCESS;
            watch_begin("reduce_scatter");
            if (rk > off)
                err = MPI_Irecv(recv + off, (int)(rk - off < mpi_piece ? rk - off : mpi_piece), MPI_FLOAT, prev,
                                RING_TAG, MPI_COMM_WORLD, &req[nreq++]);
            if (err == MPI_SUCCESS && sk > off)
                err = MPI_Isend(send + off, (int)(sk - off < mpi_piece ? sk - off : mpi_piece), MPI_FLOAT, next,
                                RING_TAG, MPI_COMM_WORLD, &req[nreq++]);
            if (err == MPI_SUCCESS)
                err = MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE);
            watch_end();
            if (err != MPI_SUCCESS)
                return mpi_fail(err, "reduce-scatter (point-to-point ring)");
        }
        const float *own = in + rb;
        for (size_t i = 0; i < rk; i++)
            recv[i] += own[i];
        send = recv;
    }
    return 0;
}

int stc_comm_reduce_scatter_sum_f32(const stc_comm *c, float *out, const float *in, size_t n)
{
    ring_layout L = {.n = n, .world = c->world, .equal = 1};
    return ring_reduce_scatter(c, out, in, &L);
}

int stc_comm_reduce_scatter_block_sum_f32(const stc_comm *c, float *out, const float *in, size_t n)
{
    ring_layout L = {.n = n, .world = c->world, .equal = 0};
    return ring_reduce_scatter(c, out, in, &L);
}

/* The counts and displacements of stc_comm_block's partition, as MPI's ints
 * (n fits: the callers check n <= mpi_piece). NULL when out of memory. */
static int *block_layout(size_t n, int world, int **displs)
{
    int *counts = malloc(sizeof(int) * 2 * (size_t)world);
    if (!counts)
        return NULL;
    *displs = counts + world;
    for (int r = 0; r < world; r++) {
        size_t b, k;
        stc_comm_block(n, world, r, &b, &k);
        counts[r] = (int)k;
        (*displs)[r] = (int)b;
    }
    return counts;
}

int stc_comm_allgather_block_f32(const stc_comm *c, float *buf, size_t n)
{
    if (c->world == 1)
        return 0;
    if (n <= mpi_piece) {
        int *displs, *counts = block_layout(n, c->world, &displs);
        if (!counts)
            return stc_errorf(STC_ERR_NOMEM, "out of memory");
        watch_begin("allgather");
        int err = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
        watch_end();
        free(counts);
        return err == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Allgatherv");
    }
    /* Larger than an int count: each owner broadcasts its block in pieces. */
    for (int r = 0; r < c->world; r++) {
        size_t b, k;
        stc_comm_block(n, c->world, r, &b, &k);
        for (size_t off = 0; off < k; off += mpi_piece) {
            size_t m = k - off < mpi_piece ? k - off : mpi_piece;
            watch_begin("allgather");
            int err = MPI_Bcast(buf + b + off, (int)m, MPI_FLOAT, r, MPI_COMM_WORLD);
            watch_end();
            if (err != MPI_SUCCESS)
                return mpi_fail(err, "MPI_Bcast");
        }
    }
    return 0;
}

int stc_comm_broadcast(const stc_comm *c, void *buf, size_t bytes, int root)
{
    (void)c;
    for (size_t off = 0; off < bytes; off += mpi_piece) {
        size_t k = bytes - off < mpi_piece ? bytes - off : mpi_piece;
        watch_begin("broadcast");
        int err = MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        watch_end();
        if (err != MPI_SUCCESS)
            return mpi_fail(err, "MPI_Bcast");
    }
    return 0;
}

int stc_comm_barrier(const stc_comm *c)
{
    (void)c;
    watch_begin("barrier");
    int err = MPI_Barrier(MPI_COMM_WORLD);
    watch_end();
    return err == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Barrier");
}

int stc_comm_gather_bytes(const stc_comm *c, const void *in, size_t n, int root, void **out, size_t *sizes)
{
    if (n > INT_MAX)
        return stc_errorf(STC_ERR_INTERNAL, "gather of %zu bytes exceeds MPI's int count", n);
    int me = (int)n, *cnt = NULL, *disp = NULL;
    char *buf = NULL;
    if (c->rank == root) {
        cnt = malloc(sizeof(int) * (size_t)c->world);
        disp = malloc(sizeof(int) * (size_t)c->world);
        if (!cnt || !disp) {
            free(cnt);
            free(disp);
            return stc_errorf(STC_ERR_NOMEM, "out of memory for a gather");
        }
    }
    watch_begin("gather");
    int err = MPI_Gather(&me, 1, MPI_INT, cnt, 1, MPI_INT, root, MPI_COMM_WORLD);
    watch_end();
    if (err != MPI_SUCCESS) {
        free(cnt);
        free(disp);
        return mpi_fail(err, "MPI_Gather");
    }
    if (c->rank == root) {
        size_t total = 0;
        for (int r = 0; r < c->world; r++) {
            disp[r] = (int)total;
            sizes[r] = (size_t)cnt[r];
            total += (size_t)cnt[r];
        }
        buf = total > INT_MAX ? NULL : malloc(total ? total : 1);
        if (!buf) {
            free(cnt);
            free(disp);
            /* The others are already in the Gatherv below: end the job. */
            return stc_errorf(STC_ERR_NOMEM, "cannot gather %zu bytes on rank %d", total, root);
        }
    }
    watch_begin("gather");
    err = MPI_Gatherv(in, me, MPI_BYTE, buf, cnt, disp, MPI_BYTE, root, MPI_COMM_WORLD);
    watch_end();
    free(cnt);
    free(disp);
    if (err != MPI_SUCCESS) {
        free(buf);
        return mpi_fail(err, "MPI_Gatherv");
    }
    if (c->rank == root)
        *out = buf;
    return 0;
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

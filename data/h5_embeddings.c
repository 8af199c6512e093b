/* The embeddings output file, serial or parallel, resumable (see h5_embeddings.h). */
#include "data/h5_embeddings.h"
#include "data/h5_attrs.h"
#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* h5py's float16: IEEE half built from a copy of float32 (HDF5 1.10 has no
 * native half type). */
static hid_t make_f16_type(void)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0)
        return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static hid_t file_type(stc_precision prec)
{
    switch (prec) {
    case STC_PREC_FLOAT32: return H5Tcopy(H5T_IEEE_F32LE);
    case STC_PREC_FLOAT16: return make_f16_type();
    case STC_PREC_INT8:
    case STC_PREC_BINARY: return H5Tcopy(H5T_STD_I8LE);
    case STC_PREC_UINT8:
    case STC_PREC_UBINARY: return H5Tcopy(H5T_STD_U8LE);
    }
    return -1;
}

/* 1 if obj's string attribute `name` equals value. */
static int attr_string_is(hid_t obj, const char *name, const char *value)
{
    char *v = stc_h5_attr_read_string(obj, name);
    int same = v && !strcmp(v, value);
    free(v);
    return same;
}

static int attr_long_is(hid_t obj, const char *name, long long value)
{
    long long v;
    return stc_h5_attr_read_long(obj, name, &v) == 0 && v == value;
}

static hid_t file_access(const stc_h5_embeddings *w, const void *mpi_comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (mpi_comm)
        H5Pset_fapl_mpio(fapl, *(const MPI_Comm *)mpi_comm, MPI_INFO_NULL);
    else
        H5Pset_sieve_buf_size(fapl, 0); /* rows reach the file before their chunk is marked done */
    (void)w;
    return fapl;
}

/* Tries to resume an existing tmp file with exactly these settings; returns
 * 1 (resumed), 0 (not compatible or absent: create anew). */
static int try_resume(stc_h5_embeddings *w, const stc_h5_embeddings_info *info, const void *mpi_comm)
{
    if (access(w->tmp_path, F_OK) != 0)
        return 0;
    hid_t fapl = file_access(w, mpi_comm);
    hid_t f = H5Fopen(w->tmp_path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return 0;
    int ok = H5Lexists(f, "embeddings", H5P_DEFAULT) > 0 && H5Lexists(f, "chunks_done", H5P_DEFAULT) > 0;
    hid_t d = ok ? H5Dopen2(f, "embeddings", H5P_DEFAULT) : -1;
    hid_t c = ok ? H5Dopen2(f, "chunks_done", H5P_DEFAULT) : -1;
    ok = d >= 0 && c >= 0;
    if (ok) {
        hid_t sp = H5Dget_space(d), csp = H5Dget_space(c);
        hsize_t dims[2] = {0, 0}, cd[1] = {0};
        ok = H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_dims(sp, dims, NULL) == 2 &&
             dims[0] == w->n && dims[1] == w->cols && H5Sget_simple_extent_ndims(csp) == 1 &&
             H5Sget_simple_extent_dims(csp, cd, NULL) == 1 && cd[0] == w->n_chunks;
        H5Sclose(sp);
        H5Sclose(csp);
        hid_t t = H5Dget_type(d), want = file_type(w->prec);
        ok = ok && t >= 0 && want >= 0 && H5Tequal(t, want) > 0;
        if (t >= 0)
            H5Tclose(t);
        if (want >= 0)
            H5Tclose(want);
        ok = ok && attr_string_is(d, "model", info->model ? info->model : "") &&
             attr_string_is(d, "precision", stc_precision_name(w->prec)) &&
             attr_string_is(d, "prompt", info->prompt ? info->prompt : "") &&
             attr_string_is(d, "route", info->route ? info->route : "") &&
             attr_long_is(d, "normalize", info->normalize) && attr_long_is(d, "truncate_dim", info->truncate_dim) &&
             attr_long_is(d, "chunk_rows", (long long)w->chunk_rows);
        ok = ok && H5Dread(c, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->chunk_done) >= 0;
    }
    if (!ok) {
        if (d >= 0)
            H5Dclose(d);
        if (c >= 0)
            H5Dclose(c);
        H5Fclose(f);
        memset(w->chunk_done, 0, w->n_chunks);
        return 0;
    }
    w->file = f;
    w->dset = d;
    w->done = c;
    return 1;
}

int stc_h5_embeddings_open(stc_h5_embeddings *w, const char *path, size_t n, size_t cols, stc_precision prec,
                           size_t chunk_rows, const stc_h5_embeddings_info *info, const void *mpi_comm,
                           size_t *resumed_chunks)
{
    memset(w, 0, sizeof *w);
    w->file = w->dset = w->done = w->ftype = -1;
    w->n = n;
    w->cols = cols;
    w->prec = prec;
    w->chunk_rows = chunk_rows;
    w->n_chunks = (n + chunk_rows - 1) / chunk_rows;
    w->parallel = mpi_comm != NULL;
    if (mpi_comm)
        MPI_Comm_rank(*(const MPI_Comm *)mpi_comm, &w->rank);
    *resumed_chunks = 0;
    w->path = strdup(path);
    w->tmp_path = malloc(strlen(path) + 5);
    w->chunk_done = calloc(w->n_chunks ? w->n_chunks : 1, 1);
    if (!w->path || !w->tmp_path || !w->chunk_done) {
        stc_h5_embeddings_abort(w, 1);
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    sprintf(w->tmp_path, "%s.tmp", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported by us, once */
    w->ftype = file_type(prec);
    if (w->ftype < 0) {
        stc_h5_embeddings_abort(w, 1);
        return stc_errorf(STC_ERR_INTERNAL, "cannot build the HDF5 type for %s", stc_precision_name(prec));
    }
    if (try_resume(w, info, mpi_comm)) {
        for (size_t c = 0; c < w->n_chunks; c++)
            *resumed_chunks += w->chunk_done[c] != 0;
        return 0;
    }
    hid_t fapl = file_access(w, mpi_comm);
    w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (w->file < 0) {
        stc_h5_embeddings_abort(w, 1);
        return stc_errorf(STC_ERR_IO, "%s: cannot create HDF5 file", w->tmp_path);
    }
    hsize_t dims[2] = {n, cols}, cdims[1] = {w->n_chunks};
    hid_t sp = H5Screate_simple(2, dims, NULL), csp = H5Screate_simple(1, cdims, NULL);
    /* Space allocated (and chunks_done zero-filled) at creation: a run
     * killed later leaves a file whose records say what is finished. */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    uint8_t zero = 0;
    hid_t ccpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(ccpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_value(ccpl, H5T_NATIVE_UINT8, &zero);
    H5Pset_fill_time(ccpl, H5D_FILL_TIME_ALLOC);
    w->dset = H5Dcreate2(w->file, "embeddings", w->ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    w->done = w->dset < 0 ? -1 : H5Dcreate2(w->file, "chunks_done", H5T_STD_U8LE, csp, H5P_DEFAULT, ccpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Pclose(ccpl);
    H5Sclose(sp);
    H5Sclose(csp);
    if (w->dset < 0 || w->done < 0) {
        stc_h5_embeddings_abort(w, 0);
        return stc_errorf(STC_ERR_IO, "%s: cannot create dataset \"embeddings\" [%zu, %zu]", path, n, cols);
    }
    if (stc_h5_attr_write_string(w->dset, "model", info->model ? info->model : "") ||
        stc_h5_attr_write_string(w->dset, "precision", stc_precision_name(prec)) ||
        stc_h5_attr_write_string(w->dset, "prompt", info->prompt ? info->prompt : "") ||
        stc_h5_attr_write_string(w->dset, "route", info->route ? info->route : "") ||
        stc_h5_attr_write_long(w->dset, "normalize", info->normalize) ||
        stc_h5_attr_write_long(w->dset, "truncate_dim", info->truncate_dim) ||
        stc_h5_attr_write_long(w->dset, "chunk_rows", (long long)chunk_rows) || H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) {
        stc_h5_embeddings_abort(w, 0);
        return stc_errorf(STC_ERR_IO, "%s: cannot write attributes", path);
    }
    return 0;
}

int stc_h5_embeddings_write(stc_h5_embeddings *w, size_t row0, size_t nrows, const void *data)
{
    if (nrows == 0)
        return 0;
    hsize_t start[2] = {row0, 0}, count[2] = {nrows, w->cols};
    if (stc_h5_write_block(w->dset, w->ftype, 2, start, count, data) < 0)
        return stc_errorf(STC_ERR_IO, "%s: writing rows %zu..%zu failed", w->tmp_path, row0, row0 + nrows);
    return 0;
}

int stc_h5_embeddings_mark_done(stc_h5_embeddings *w, size_t c)
{
    uint8_t one = 1;
    hsize_t start[1] = {c}, count[1] = {1};
    if (stc_h5_write_block(w->done, H5T_NATIVE_UINT8, 1, start, count, &one) < 0)
        return stc_errorf(STC_ERR_IO, "%s: recording chunk %zu failed", w->tmp_path, c);
    w->chunk_done[c] = 1;
    return 0;
}

int stc_h5_embeddings_commit(stc_h5_embeddings *w)
{
    int rc = 0;
    if (stc_h5_attr_write_long(w->file, "complete", 1))
        rc = stc_errorf(STC_ERR_IO, "%s: cannot mark complete", w->tmp_path);
    H5Dclose(w->dset);
    H5Dclose(w->done);
    H5Tclose(w->ftype);
    w->dset = w->done = w->ftype = -1;
    if (H5Fclose(w->file) < 0 && !rc)
        rc = stc_errorf(STC_ERR_IO, "%s: closing the HDF5 file failed", w->tmp_path);
    w->file = -1;
    if (!rc && w->rank == 0) {
        if (rename(w->tmp_path, w->path) != 0)
            rc = stc_errorf(STC_ERR_IO, "%s: cannot rename into place: %s", w->path, strerror(errno));
        else
            rc = stc_fsync_parent_dir(w->path);
    }
    free(w->path);
    free(w->tmp_path);
    free(w->chunk_done);
    w->path = w->tmp_path = NULL;
    w->chunk_done = NULL;
    return rc;
}

void stc_h5_embeddings_abort(stc_h5_embeddings *w, int keep_tmp)
{
    if (w->dset >= 0)
        H5Dclose(w->dset);
    if (w->done >= 0)
        H5Dclose(w->done);
    if (w->ftype >= 0)
        H5Tclose(w->ftype);
    if (w->file >= 0)
        H5Fclose(w->file);
    if (w->tmp_path && !keep_tmp && w->rank == 0)
        unlink(w->tmp_path);
    free(w->path);
    free(w->tmp_path);
    free(w->chunk_done);
    memset(w, 0, sizeof *w);
    w->file = w->dset = w->done = w->ftype = -1;
}

int stc_h5_embeddings_read(const char *path, float **out, size_t *n, size_t *cols)
{
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported by us, once */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return stc_errorf(STC_ERR_DATA, "%s: not an HDF5 file (or unreadable)", path);
    hid_t d = H5Dopen2(f, "embeddings", H5P_DEFAULT), s = -1, t = -1;
    int rc = 0;
    hsize_t dims[2] = {0, 0};
    if (d < 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: no dataset \"embeddings\" (as `stc encode` writes)", path);
    if (!rc && ((s = H5Dget_space(d)) < 0 || H5Sget_simple_extent_ndims(s) != 2 ||
                H5Sget_simple_extent_dims(s, dims, NULL) < 0))
        rc = stc_errorf(STC_ERR_DATA, "%s: \"embeddings\" is not a 2-D array [rows, dimensions]", path);
    /* Quantised embeddings (int8, uint8, binary) are not float vectors. */
    if (!rc && ((t = H5Dget_type(d)) < 0 || H5Tget_class(t) != H5T_FLOAT))
        rc = stc_errorf(STC_ERR_DATA, "%s: \"embeddings\" is not float32 or float16 (quantised embeddings cannot be "
                        "used here)", path);
    float *buf = NULL;
    size_t count = (size_t)(dims[0] * dims[1]);
    if (!rc && !(buf = malloc(sizeof *buf * (count ? count : 1))))
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory (%s: %llu x %llu floats)", path, (unsigned long long)dims[0],
                        (unsigned long long)dims[1]);
    if (!rc && count > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = stc_errorf(STC_ERR_DATA, "%s: reading \"embeddings\" failed", path);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    if (d >= 0)
        H5Dclose(d);
    H5Fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *n = (size_t)dims[0];
    *cols = (size_t)dims[1];
    return 0;
}

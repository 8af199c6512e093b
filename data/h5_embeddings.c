/* The embeddings output file (see h5_embeddings.h). */
#include "data/h5_embeddings.h"
#include "util/error.h"
#include "util/fileio.h"

#include <errno.h>
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

static int attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, strlen(value) + 1);
    H5Tset_strpad(st, H5T_STR_NULLTERM);
    H5Tset_cset(st, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, st, value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(st);
    return e < 0 ? -1 : 0;
}

static int attr_int(hid_t obj, const char *name, int value)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return e < 0 ? -1 : 0;
}

int stc_h5_embeddings_create(stc_h5_embeddings *w, const char *path, size_t n, size_t cols, stc_precision prec,
                             const stc_h5_embeddings_info *info)
{
    memset(w, 0, sizeof *w);
    w->file = w->dset = w->ftype = -1;
    w->n = n;
    w->cols = cols;
    w->prec = prec;
    w->path = strdup(path);
    w->tmp_path = malloc(strlen(path) + 5);
    if (!w->path || !w->tmp_path) {
        stc_h5_embeddings_abort(w);
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    sprintf(w->tmp_path, "%s.tmp", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported by us, once */
    w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        stc_h5_embeddings_abort(w);
        return stc_errorf(STC_ERR_IO, "%s: cannot create HDF5 file", path);
    }
    switch (prec) {
    case STC_PREC_FLOAT32: w->ftype = H5Tcopy(H5T_IEEE_F32LE); break;
    case STC_PREC_FLOAT16: w->ftype = make_f16_type(); break;
    case STC_PREC_INT8:
    case STC_PREC_BINARY: w->ftype = H5Tcopy(H5T_STD_I8LE); break;
    case STC_PREC_UINT8:
    case STC_PREC_UBINARY: w->ftype = H5Tcopy(H5T_STD_U8LE); break;
    }
    hsize_t dims[2] = {n, cols};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    w->dset = (w->ftype < 0 || sp < 0) ? -1
            : H5Dcreate2(w->file, "embeddings", w->ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (sp >= 0)
        H5Sclose(sp);
    if (w->dset < 0) {
        stc_h5_embeddings_abort(w);
        return stc_errorf(STC_ERR_IO, "%s: cannot create dataset \"embeddings\" [%zu, %zu]", path, n, cols);
    }
    if (attr_string(w->dset, "model", info->model ? info->model : "") ||
        attr_string(w->dset, "precision", stc_precision_name(prec)) ||
        attr_string(w->dset, "prompt", info->prompt ? info->prompt : "") ||
        attr_int(w->dset, "normalize", info->normalize) ||
        attr_int(w->dset, "truncate_dim", info->truncate_dim)) {
        stc_h5_embeddings_abort(w);
        return stc_errorf(STC_ERR_IO, "%s: cannot write attributes", path);
    }
    return 0;
}

int stc_h5_embeddings_write(stc_h5_embeddings *w, size_t row0, size_t nrows, const void *data)
{
    if (nrows == 0)
        return 0;
    hsize_t start[2] = {row0, 0}, count[2] = {nrows, w->cols};
    hid_t fs = H5Dget_space(w->dset);
    hid_t ms = H5Screate_simple(2, count, NULL);
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0)
        e = H5Dwrite(w->dset, w->ftype, ms, fs, H5P_DEFAULT, data);
    H5Sclose(ms);
    H5Sclose(fs);
    if (e < 0)
        return stc_errorf(STC_ERR_IO, "%s: writing rows %zu..%zu failed", w->tmp_path, row0, row0 + nrows);
    return 0;
}

int stc_h5_embeddings_commit(stc_h5_embeddings *w)
{
    int rc = 0;
    if (attr_int(w->file, "complete", 1))
        rc = stc_errorf(STC_ERR_IO, "%s: cannot mark complete", w->tmp_path);
    H5Dclose(w->dset);
    H5Tclose(w->ftype);
    w->dset = w->ftype = -1;
    if (H5Fclose(w->file) < 0 && !rc)
        rc = stc_errorf(STC_ERR_IO, "%s: closing the HDF5 file failed", w->tmp_path);
    w->file = -1;
    if (!rc && rename(w->tmp_path, w->path) != 0)
        rc = stc_errorf(STC_ERR_IO, "%s: cannot rename into place: %s", w->path, strerror(errno));
    if (!rc)
        rc = stc_fsync_parent_dir(w->path);
    if (rc)
        unlink(w->tmp_path);
    free(w->path);
    free(w->tmp_path);
    w->path = w->tmp_path = NULL;
    return rc;
}

void stc_h5_embeddings_abort(stc_h5_embeddings *w)
{
    if (w->dset >= 0)
        H5Dclose(w->dset);
    if (w->ftype >= 0)
        H5Tclose(w->ftype);
    if (w->file >= 0)
        H5Fclose(w->file);
    if (w->tmp_path)
        unlink(w->tmp_path);
    free(w->path);
    free(w->tmp_path);
    memset(w, 0, sizeof *w);
    w->file = w->dset = w->ftype = -1;
}

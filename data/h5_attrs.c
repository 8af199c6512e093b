/* HDF5 attributes of stc's files (see h5_attrs.h). */
#include "data/h5_attrs.h"

#include <stdlib.h>
#include <string.h>

int stc_h5_attr_write_string(hid_t obj, const char *name, const char *value)
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

int stc_h5_attr_write_long(hid_t obj, const char *name, long long value)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_LLONG, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return e < 0 ? -1 : 0;
}

char *stc_h5_attr_read_string(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0)
        return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    char *buf = NULL;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t)) {
        buf = calloc(H5Tget_size(t) + 1, 1);
        if (buf && H5Aread(a, t, buf) < 0) {
            free(buf);
            buf = NULL;
        }
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return buf;
}

int stc_h5_attr_read_long(hid_t obj, const char *name, long long *value)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    int ok = a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, value) >= 0;
    if (a >= 0)
        H5Aclose(a);
    return ok ? 0 : -1;
}

herr_t stc_h5_write_block(hid_t d, hid_t mtype, int rank, const hsize_t *start, const hsize_t *count,
                          const void *data)
{
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0)
        e = H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, data);
    H5Sclose(ms);
    H5Sclose(fs);
    return e;
}

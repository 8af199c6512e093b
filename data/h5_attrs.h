/*
 * Attributes of HDF5 objects as stc's files use them (embeddings output,
 * prepared datasets): UTF-8 fixed-length strings and int64 scalars, which
 * h5py reads as bytes and int; and the one hyperslab write both files use.
 */
#ifndef STC_DATA_H5_ATTRS_H
#define STC_DATA_H5_ATTRS_H

#include <hdf5.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Write: 0, or -1 when HDF5 refuses (HDF5's own error stack is silenced by
 * the callers, which report the file). */
int stc_h5_attr_write_string(hid_t obj, const char *name, const char *value);
int stc_h5_attr_write_long(hid_t obj, const char *name, long long value);

/* Read: a malloc'd copy of a fixed-length string attribute, or NULL when it
 * is absent or of another type. */
char *stc_h5_attr_read_string(hid_t obj, const char *name);
/* 0 with *value, or -1 when absent or unreadable as an integer. */
int stc_h5_attr_read_long(hid_t obj, const char *name, long long *value);

/* Writes count elements (memory type mtype) of dataset d starting at start
 * (rank 1 or 2); a negative value when HDF5 refuses. */
herr_t stc_h5_write_block(hid_t d, hid_t mtype, int rank, const hsize_t *start, const hsize_t *count,
                          const void *data);

#ifdef __cplusplus
}
#endif

#endif

/*
 * NumPy's .npy files (format versions 1-3, as np.save writes them): a 2-D
 * little-endian float32 or float64 array in C order, read as float32.
 */
#ifndef STC_DATA_NPY_H
#define STC_DATA_NPY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads path into *out ([rows, cols] float32, malloc'd). Another dtype,
 * Fortran order, another number of dimensions or a short file is an
 * STC_ERR_DATA error naming path. */
int stc_npy_read_f32(const char *path, float **out, size_t *rows, size_t *cols);

#ifdef __cplusplus
}
#endif

#endif

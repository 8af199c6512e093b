/*
 * The embeddings output file: HDF5 dataset "embeddings" [N, D] (row i = input
 * record i) of float32, float16 (h5py's '<f2' layout), int8 or uint8, which
 * h5py reads as a numpy array. Written to "<path>.tmp", marked with a
 * "complete" attribute last, closed and renamed: a crash never leaves a
 * file that looks finished.
 *
 * Attributes on the dataset: model, precision, normalize, truncate_dim,
 * prompt; on the file: complete (1).
 */
#ifndef STC_DATA_H5_EMBEDDINGS_H
#define STC_DATA_H5_EMBEDDINGS_H

#include "model/quantize.h"

#include <hdf5.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *path, *tmp_path;
    hid_t file, dset, ftype;
    size_t n, cols;
    stc_precision prec;
} stc_h5_embeddings;

/* Describes how the embeddings were made (stored as attributes). */
typedef struct {
    const char *model;
    const char *prompt;   /* NULL: none */
    int normalize;
    int truncate_dim;     /* 0: none */
} stc_h5_embeddings_info;

int stc_h5_embeddings_create(stc_h5_embeddings *w, const char *path, size_t n, size_t cols, stc_precision prec,
                             const stc_h5_embeddings_info *info);

/* Writes rows [row0, row0 + nrows) from data (nrows x cols elements of the
 * precision's type). */
int stc_h5_embeddings_write(stc_h5_embeddings *w, size_t row0, size_t nrows, const void *data);

/* Marks complete, closes and renames into place. */
int stc_h5_embeddings_commit(stc_h5_embeddings *w);

/* Closes and removes the temporary file (after an error). */
void stc_h5_embeddings_abort(stc_h5_embeddings *w);

#ifdef __cplusplus
}
#endif

#endif

/*
 * The embeddings output file: HDF5 dataset "embeddings" [N, D] (row i = input
 * record i) of float32, float16 (h5py's '<f2' layout), int8 or uint8, which
 * h5py reads as a numpy array. Written to "<path>.tmp", marked with a
 * "complete" attribute last, closed and renamed: a crash never leaves a
 * file that looks finished.
 *
 * The rows are written in chunks of chunk_rows; dataset "chunks_done"
 * [n_chunks] (uint8) records each finished chunk. Opening a "<path>.tmp"
 * left by an interrupted run with the same shape and settings resumes it:
 * finished chunks are skipped and the final file equals an uninterrupted
 * run's. A "<path>.tmp" with other settings is replaced.
 *
 * Several ranks write one file through parallel HDF5 (MPI-IO): every call
 * here is collective (same arguments on every rank) except
 * stc_h5_embeddings_write and stc_h5_embeddings_mark_done, which a rank
 * calls for its own chunks. Without a communicator the file is written by
 * one process with the default driver.
 *
 * Attributes on the dataset: model, precision, normalize, truncate_dim,
 * prompt, chunk_rows; on the file: complete (1).
 */
#ifndef STC_DATA_H5_EMBEDDINGS_H
#define STC_DATA_H5_EMBEDDINGS_H

#include "model/quantize.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *path, *tmp_path;
    hid_t file, dset, done, ftype;
    size_t n, cols, chunk_rows, n_chunks;
    stc_precision prec;
    uint8_t *chunk_done;  /* (n_chunks) as found when opened (1: skip) */
    int parallel;         /* 1: opened with MPI-IO */
    int rank;
} stc_h5_embeddings;

/* Describes how the embeddings were made (stored as attributes). */
typedef struct {
    const char *model;
    const char *prompt;   /* NULL: none */
    const char *route;    /* a Router model's route ("query"); NULL: none */
    int normalize;
    int truncate_dim;     /* 0: none */
} stc_h5_embeddings_info;

/* Opens "<path>.tmp" for writing: resumes a compatible one (*resumed_chunks
 * gets the number of finished chunks), else creates it. mpi_comm: a pointer
 * to an MPI_Comm for a parallel write, or NULL. */
int stc_h5_embeddings_open(stc_h5_embeddings *w, const char *path, size_t n, size_t cols, stc_precision prec,
                           size_t chunk_rows, const stc_h5_embeddings_info *info, const void *mpi_comm,
                           size_t *resumed_chunks);

/* Writes rows [row0, row0 + nrows) from data (nrows x cols elements of the
 * precision's type). */
int stc_h5_embeddings_write(stc_h5_embeddings *w, size_t row0, size_t nrows, const void *data);

/* Records chunk c as finished (after its rows are written). */
int stc_h5_embeddings_mark_done(stc_h5_embeddings *w, size_t c);

/* Marks complete, closes and renames into place (rank 0 renames). */
int stc_h5_embeddings_commit(stc_h5_embeddings *w);

/* Closes without completing. keep_tmp: leave "<path>.tmp" for a resume
 * (the chunks already recorded stay valid); else remove it. */
void stc_h5_embeddings_abort(stc_h5_embeddings *w, int keep_tmp);

/* Reads a finished file's "embeddings" [N, D] (float32 or float16; any
 * 2-D float dataset of that name, e.g. one h5py wrote) into *out ([N, D]
 * float32, malloc'd). Quantised files are refused. */
int stc_h5_embeddings_read(const char *path, float **out, size_t *n, size_t *cols);

#ifdef __cplusplus
}
#endif

#endif

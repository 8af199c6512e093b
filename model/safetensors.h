/*
 * safetensors reader and writer.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"k": "v"}}, then the data buffer (offsets relative to it).
 *
 * The reader treats the file as untrusted (RELIABILITY.md, "Untrusted
 * input"): every length, offset, shape and dtype is validated before use and
 * any violation is an error naming the file and tensor, never a crash.
 */
#ifndef STC_MODEL_SAFETENSORS_H
#define STC_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STC_DT_F64, STC_DT_F32, STC_DT_F16, STC_DT_BF16,
    STC_DT_I64, STC_DT_I32, STC_DT_I16, STC_DT_I8, STC_DT_U8, STC_DT_BOOL,
    STC_DT_COUNT
} stc_dtype;

enum { STC_ST_MAX_DIMS = 8 };

typedef struct {
    char *name;                        /* tensor name as in the file */
    stc_dtype dtype;
    int ndim;
    int64_t shape[STC_ST_MAX_DIMS];
    size_t nbytes;                     /* byte length of the data */
    const void *data;                  /* points into the mapped file */
} stc_st_tensor;

typedef struct {
    char *path;                        /* for error messages */
    void *map;                         /* the whole file (mmap'd or owned buffer) */
    size_t map_len;
    int owns_buffer;                   /* 1: map is malloc'd; 0: mmap'd or borrowed */
    int mmapped;
    int n_tensors;
    stc_st_tensor *tensors;            /* in file (header) order */
    int n_meta;
    char **meta_keys, **meta_vals;     /* __metadata__, string -> string */
} stc_safetensors;

/* Element size in bytes; name as in the format ("F32", ...). */
size_t stc_dtype_size(stc_dtype dt);
const char *stc_dtype_name(stc_dtype dt);

/* IEEE binary16 / bfloat16 bits to float32 (exact: subnormals, inf and NaN
 * included). */
float stc_f16_to_f32(uint16_t h);
float stc_bf16_to_f32(uint16_t h);

/* Opens and validates path (read-only mmap, unmapped by close). Any defect
 * of the file is STC_ERR_DATA naming the file and, where one is at fault,
 * the tensor; st is then left zeroed (closing it again is harmless). */
int stc_safetensors_open(stc_safetensors *st, const char *path);

/* Validates an in-memory file image of len bytes (borrowed, must outlive st).
 * `name` is used in error messages. This is the fuzzing entry point. */
int stc_safetensors_parse(stc_safetensors *st, const void *buf, size_t len, const char *name);

void stc_safetensors_close(stc_safetensors *st);

/* The tensor with this name, or NULL. */
const stc_st_tensor *stc_safetensors_find(const stc_safetensors *st, const char *name);

/* Metadata value for key, or NULL. */
const char *stc_safetensors_meta(const stc_safetensors *st, const char *key);

/* Copies tensor `name` into out as float32 (from F32, F16, BF16 or F64).
 * The tensor's shape must equal (ndim, shape[0..ndim)) exactly; ndim 0 means
 * a scalar (shape may then be NULL). out holds the product of shape floats.
 * A missing tensor, another shape or a non-float dtype is STC_ERR_DATA with a
 * message naming the file and tensor (and both shapes). */
int stc_safetensors_read_f32(const stc_safetensors *st, const char *name,
                             float *out, int ndim, const int64_t *shape);

/* One tensor to write; data is in dtype's little-endian layout. */
typedef struct {
    const char *name;
    stc_dtype dtype;
    int ndim;
    int64_t shape[STC_ST_MAX_DIMS];
    const void *data;
} stc_st_write_tensor;

/* Writes a safetensors file atomically (tmp file, fsync, rename), streaming
 * the tensor data without copying it. Tensors are laid out in the order given
 * with contiguous offsets; the header is space-padded to a multiple of 8
 * bytes; metadata is n_meta key/value pairs (may be 0; Hugging Face
 * transformers expects {"format": "pt"}). Names and keys must be unique valid
 * UTF-8 and no tensor may be called "__metadata__": violations are
 * STC_ERR_INTERNAL (a caller bug); OS failures are STC_ERR_IO. */
int stc_safetensors_write(const char *path, const stc_st_write_tensor *tensors, int n_tensors,
                          const char *const *meta_keys, const char *const *meta_vals, int n_meta);

#ifdef __cplusplus
}
#endif

#endif

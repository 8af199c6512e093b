/*
 * Embedding quantisation with Sentence Transformers' rules
 * (quantization.py::quantize_embeddings, 6.x): int8/uint8 buckets from
 * per-column ranges over the whole call (floor, clipped), binary/ubinary by
 * packing sign bits MSB first per row, and float16 by round-to-nearest-even.
 */
#ifndef STC_MODEL_QUANTIZE_H
#define STC_MODEL_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STC_PREC_FLOAT32,
    STC_PREC_FLOAT16,
    STC_PREC_INT8,
    STC_PREC_UINT8,
    STC_PREC_BINARY,
    STC_PREC_UBINARY
} stc_precision;

/* Parses "float32", "float16", "int8", "uint8", "binary", "ubinary". */
int stc_precision_parse(const char *s, stc_precision *out);
const char *stc_precision_name(stc_precision p);

/* Columns of the quantised output for dim float columns (ceil(dim/8) for
 * the binary kinds). */
int stc_precision_columns(stc_precision p, int dim, int *cols);

/* Bytes per output element. */
size_t stc_precision_elem_size(stc_precision p);

/* Per-column running ranges for int8/uint8 calibration. */
typedef struct {
    int dim;
    float *min, *max; /* (dim) */
} stc_quant_ranges;

int stc_quant_ranges_init(stc_quant_ranges *r, int dim);
void stc_quant_ranges_free(stc_quant_ranges *r);
/* Folds rows emb[n, dim] into the ranges. */
void stc_quant_ranges_update(stc_quant_ranges *r, const float *emb, size_t n);

/* Quantises emb[n, dim] into out (n x columns elements of the precision's
 * type). ranges is needed for int8/uint8 (from the whole call) and ignored
 * otherwise. float32 copies. */
void stc_quantize(stc_precision p, const stc_quant_ranges *ranges, const float *emb, size_t n, int dim, void *out);

/* IEEE half from float, round to nearest even (numpy's astype(float16)). */
uint16_t stc_f32_to_f16(float f);

#ifdef __cplusplus
}
#endif

#endif

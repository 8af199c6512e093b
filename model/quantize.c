/* Embedding quantisation with Sentence Transformers' rules (see quantize.h). */
#include "model/quantize.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const prec_names[] = {"float32", "float16", "int8", "uint8", "binary", "ubinary"};

int stc_precision_parse(const char *s, stc_precision *out)
{
    for (int i = 0; i < (int)(sizeof prec_names / sizeof prec_names[0]); i++) {
        if (!strcmp(s, prec_names[i])) {
            *out = (stc_precision)i;
            return 0;
        }
    }
    return stc_errorf(STC_ERR_USAGE, "unknown precision \"%s\" (float32, float16, int8, uint8, binary, ubinary)", s);
}

const char *stc_precision_name(stc_precision p) { return prec_names[p]; }

int stc_precision_columns(stc_precision p, int dim, int *cols)
{
    /* Sign bits are packed per row, the last byte zero-padded
     * (np.packbits(x > 0, axis=-1)). */
    *cols = (p == STC_PREC_BINARY || p == STC_PREC_UBINARY) ? (dim + 7) / 8 : dim;
    return 0;
}

size_t stc_precision_elem_size(stc_precision p)
{
    switch (p) {
    case STC_PREC_FLOAT32: return 4;
    case STC_PREC_FLOAT16: return 2;
    default: return 1;
    }
}

int stc_quant_ranges_init(stc_quant_ranges *r, int dim)
{
    r->dim = dim;
    r->min = stc_malloc(sizeof(float) * (size_t)dim, "quantisation ranges");
    r->max = stc_malloc(sizeof(float) * (size_t)dim, "quantisation ranges");
    if (!r->min || !r->max) {
        stc_quant_ranges_free(r);
        return STC_ERR_NOMEM;
    }
    for (int c = 0; c < dim; c++) {
        r->min[c] = INFINITY;
        r->max[c] = -INFINITY;
    }
    return 0;
}

void stc_quant_ranges_free(stc_quant_ranges *r)
{
    free(r->min);
    free(r->max);
    r->min = r->max = NULL;
}

void stc_quant_ranges_update(stc_quant_ranges *r, const float *emb, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float *x = emb + i * (size_t)r->dim;
        for (int c = 0; c < r->dim; c++) {
            r->min[c] = x[c] < r->min[c] ? x[c] : r->min[c];
            r->max[c] = x[c] > r->max[c] ? x[c] : r->max[c];
        }
    }
}

uint16_t stc_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xffu) /* inf or nan (keep a quiet nan) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal half, or zero */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t h = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* may carry into the exponent, up to inf: correct */
    return (uint16_t)(sign | h);
}

/* The bucket of v: floor, clipped to [0, 255] (NaN cannot occur: a
 * constant column gets step 1). */
static int bucket(float v)
{
    float f = floorf(v);
    return f < 0.0f ? 0 : (f > 255.0f ? 255 : (int)f);
}

void stc_quantize(stc_precision p, const stc_quant_ranges *ranges, const float *emb, size_t n, int dim, void *out)
{
    switch (p) {
    case STC_PREC_FLOAT32:
        memcpy(out, emb, sizeof(float) * n * (size_t)dim);
        return;
    case STC_PREC_FLOAT16: {
        uint16_t *o = out;
        for (size_t i = 0; i < n * (size_t)dim; i++)
            o[i] = stc_f32_to_f16(emb[i]);
        return;
    }
    case STC_PREC_INT8:
    case STC_PREC_UINT8: {
        /* starts = min; steps = (max - min) / 255 (1 where that is 0), all in
         * float32 as numpy; value = clip(floor((x - start) / step), 0, 255),
         * minus 128 for int8 (sentence-transformers 6.x; 5.x truncated
         * (x - start) / step - 128 toward zero instead). */
        for (size_t i = 0; i < n; i++) {
            for (int c = 0; c < dim; c++) {
                float start = ranges->min[c];
                float step = (ranges->max[c] - ranges->min[c]) / 255.0f;
                if (step == 0.0f)
                    step = 1.0f;
                int q = bucket((emb[i * (size_t)dim + c] - start) / step);
                if (p == STC_PREC_UINT8)
                    ((uint8_t *)out)[i * (size_t)dim + c] = (uint8_t)q;
                else
                    ((int8_t *)out)[i * (size_t)dim + c] = (int8_t)(q - 128);
            }
        }
        return;
    }
    case STC_PREC_BINARY:
    case STC_PREC_UBINARY: {
        int cols = (dim + 7) / 8;
        for (size_t i = 0; i < n; i++) {
            const float *x = emb + i * (size_t)dim;
            for (int k = 0; k < cols; k++) {
                unsigned byte = 0;
                for (int bit = 0; bit < 8; bit++) {
                    int c = k * 8 + bit;
                    byte = (byte << 1) | (c < dim && x[c] > 0.0f);
                }
                if (p == STC_PREC_UBINARY)
                    ((uint8_t *)out)[i * (size_t)cols + k] = (uint8_t)byte;
                else
                    ((int8_t *)out)[i * (size_t)cols + k] = (int8_t)((int)byte - 128);
            }
        }
        return;
    }
    }
}

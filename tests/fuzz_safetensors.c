/*
 * libFuzzer harness for the safetensors reader (RELIABILITY.md, "Untrusted
 * input"). Built two ways by tests/cmake/safetensors.cmake: with clang as
 * the `fuzz_safetensors` libFuzzer binary (`cmake --build B --target fuzz`),
 * and with any compiler linked to tests/fuzz_replay.c, which replays the seed
 * corpus under ASan/UBSan in ctest.
 *
 * Besides "no crash, no out-of-bounds read" it checks what an accepted file
 * promises its users, and aborts (a finding) if a promise is broken:
 *   - every tensor's bytes lie inside the input and the tensors tile the data
 *     after the header exactly (their sizes add up to it);
 *   - find() returns each tensor and read_f32() succeeds with its own shape
 *     for every float dtype (exercising the conversions on the data);
 * and for a rejected input, that the error message names the input.
 */
#include "model/safetensors.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz-input"

/* Keeps the byte reads below from being optimised away. */
static volatile unsigned fuzz_sink;

/* Reads every byte of every tensor and checks the accepted file's promises. */
static void fuzz_check_accepted(const stc_safetensors *st, const uint8_t *data, size_t size)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | data[i];
    size_t total = 0;
    unsigned sum = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        const stc_st_tensor *t = &st->tensors[i];
        const uint8_t *p = t->data;
        if (p < data + 8 + hlen || p > data + size || t->nbytes > (size_t)(data + size - p))
            abort();
        for (size_t k = 0; k < t->nbytes; k++)
            sum += p[k];
        total += t->nbytes;
        if (!stc_safetensors_find(st, t->name))
            abort();
        if (t->dtype == STC_DT_F32 || t->dtype == STC_DT_F16 || t->dtype == STC_DT_BF16 ||
            t->dtype == STC_DT_F64) {
            size_t count = t->nbytes / stc_dtype_size(t->dtype);
            float *out = malloc((count ? count : 1) * sizeof *out);
            if (!out)
                abort();
            /* A duplicate name would make find() return another tensor;
             * the reader rejects duplicates, so this must succeed. */
            if (stc_safetensors_read_f32(st, t->name, out, t->ndim, t->shape) != 0)
                abort();
            free(out);
        }
    }
    fuzz_sink = sum;
    if (total != size - 8 - hlen)
        abort();
    for (int i = 0; i < st->n_meta; i++)
        if (stc_safetensors_meta(st, st->meta_keys[i]) == NULL)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stc_safetensors st;
    if (stc_safetensors_parse(&st, data, size, FUZZ_NAME) == 0)
        fuzz_check_accepted(&st, data, size);
    else if (!strstr(stc_error_message(), FUZZ_NAME))
        abort();
    stc_safetensors_close(&st);
    return 0;
}

/* The text hash of NO_DUPLICATES and of prepared datasets (data/sampler.h's
 * stc_sampler_hash_text), alone in its file so the dataset readers (and
 * their fuzz harness) need nothing else of the samplers. */
#include "data/sampler.h"
#include "data/sampler_internal.h"

#include <string.h>

/* Little-endian 8-byte word, whatever the machine's byte order. */
static uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

/* Eight bytes at a time: multiply, rotate, multiply (a MurmurHash-style
 * block step), the tail zero-padded, the length mixed in, then the
 * finalizer. Equal bytes give equal hashes on every machine. */
uint64_t stc_sampler_hash_text(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x243F6A8885A308D3ull ^ ((uint64_t)len * STC_GOLDEN);
    size_t n = len;
    while (n >= 8) {
        uint64_t k = load_le64(p) * 0x87C37B91114253D5ull;
        k = (k << 31) | (k >> 33);
        h ^= k * 0x4CF5AD432745937Full;
        h = ((h << 27) | (h >> 37)) * 5 + 0x52DCE729;
        p += 8;
        n -= 8;
    }
    if (n) {
        unsigned char tail[8] = {0};
        memcpy(tail, p, n);
        uint64_t k = load_le64(tail) * 0x87C37B91114253D5ull;
        k = (k << 31) | (k >> 33);
        h ^= k * 0x4CF5AD432745937Full;
    }
    return stc_sampler_fmix64(h ^ (uint64_t)len);
}

/*
 * PNG encoder (RFC 2083 / PNG spec 1.2): signature, IHDR, one IDAT, IEND.
 * zlib supplies deflate and the chunk CRC. Every row uses filter 0 (None):
 * plots are mostly flat colour, which deflate already squeezes well, so the
 * adaptive filters would buy little for their code.
 */
#include "util/png.h"

#include "util/error.h"
#include "util/fileio.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes chunk `type` with len bytes of data (already at p + 8) at p:
 * length, type, data, CRC over type and data. Returns the chunk's size. */
static size_t put_chunk(uint8_t *p, const char type[4], size_t len)
{
    put_be32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    put_be32(p + 8 + len, (uint32_t)crc32(0L, p + 4, (uInt)(len + 4)));
    return len + 12;
}

int stc_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height)
{
    /* 16384 per side keeps every size below in 32 bits (PNG's chunk length). */
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384)
        return stc_errorf(STC_ERR_INTERNAL, "%s: PNG size %dx%d out of range", path, width, height);
    size_t stride = 1 + 3 * (size_t)width; /* filter byte, then the row */
    size_t raw_len = stride * (size_t)height;
    uint8_t *raw = stc_malloc(raw_len, "PNG rows");
    if (!raw)
        return stc_error_prefix(STC_ERR_NOMEM, "%s", path);
    for (int y = 0; y < height; y++) {
        raw[y * stride] = 0;
        memcpy(raw + y * stride + 1, rgb + (size_t)y * 3 * (size_t)width, 3 * (size_t)width);
    }

    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uLongf z_len = compressBound((uLong)raw_len);
    size_t cap = sizeof signature + (12 + 13) + (12 + z_len) + 12;
    uint8_t *out = stc_malloc(cap, "PNG file");
    if (!out) {
        free(raw);
        return stc_error_prefix(STC_ERR_NOMEM, "%s", path);
    }
    size_t n = 0;
    memcpy(out, signature, sizeof signature);
    n += sizeof signature;

    uint8_t *ihdr = out + n + 8;
    put_be32(ihdr, (uint32_t)width);
    put_be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: truecolour RGB */
    ihdr[10] = 0; /* compression: deflate */
    ihdr[11] = 0; /* filter method: adaptive (each row names its filter) */
    ihdr[12] = 0; /* no interlace */
    n += put_chunk(out + n, "IHDR", 13);

    int zrc = compress2(out + n + 8, &z_len, raw, (uLong)raw_len, Z_BEST_COMPRESSION);
    free(raw);
    if (zrc != Z_OK) {
        free(out);
        return stc_errorf(STC_ERR_INTERNAL, "%s: zlib compress2 failed (%d)", path, zrc);
    }
    n += put_chunk(out + n, "IDAT", z_len);
    n += put_chunk(out + n, "IEND", 0);

    int rc = stc_write_file_atomic(path, out, n);
    free(out);
    return rc;
}

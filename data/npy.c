/* NumPy .npy reading (npy.h). */
#include "data/npy.h"
#include "util/error.h"
#include "util/fileio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value text after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    const char *k = strstr(h, key);
    if (!k)
        return NULL;
    k = strchr(k + strlen(key), ':');
    if (!k)
        return NULL;
    for (k++; *k == ' '; k++)
        ;
    return k;
}

int stc_npy_read_f32(const char *path, float **out, size_t *rows, size_t *cols)
{
    *out = NULL;
    char *data;
    size_t len;
    int rc = stc_read_file(path, &data, &len);
    if (rc)
        return rc;
    const unsigned char *u = (const unsigned char *)data;
    size_t hl = 0, off = 0;
    if (len >= 10 && !memcmp(data, "\x93NUMPY", 6)) {
        if (u[6] == 1) {
            hl = (size_t)u[8] | (size_t)u[9] << 8;
            off = 10;
        } else if (len >= 12) {
            hl = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
            off = 12;
        }
    }
    if (!off || off + hl > len) {
        free(data);
        return stc_errorf(STC_ERR_DATA, "%s: not a .npy file (np.save's format)", path);
    }
    char *h = malloc(hl + 1);
    if (!h) {
        free(data);
        return stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", path);
    }
    memcpy(h, data + off, hl);
    h[hl] = '\0';
    const char *descr = dict_value(h, "'descr'"), *fortran = dict_value(h, "'fortran_order'"),
               *shape = dict_value(h, "'shape'");
    int f8 = descr && !strncmp(descr, "'<f8'", 5), f4 = descr && !strncmp(descr, "'<f4'", 5);
    unsigned long long r = 0, c = 0;
    int two_d = shape && sscanf(shape, "(%llu, %llu)", &r, &c) == 2;
    if (!(f4 || f8) || !fortran || strncmp(fortran, "False", 5) || !two_d)
        rc = stc_errorf(STC_ERR_DATA, "%s: header %s: need a 2-D little-endian float32 or float64 array in C order "
                        "('<f4' or '<f8', fortran_order False, shape (rows, dimensions))", path, h);
    size_t esz = f8 ? 8 : 4, n = (size_t)r * (size_t)c;
    off += hl;
    if (!rc && len - off < n * esz)
        rc = stc_errorf(STC_ERR_DATA, "%s: %zu bytes of data, the shape (%llu, %llu) needs %zu", path, len - off, r,
                        c, n * esz);
    float *m = NULL;
    if (!rc && !(m = malloc(sizeof *m * (n ? n : 1))))
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory (%s)", path);
    for (size_t i = 0; i < n && !rc; i++) {
        if (f8) {
            double v;
            memcpy(&v, data + off + 8 * i, 8);
            m[i] = (float)v;
        } else {
            memcpy(&m[i], data + off + 4 * i, 4);
        }
    }
    free(h);
    free(data);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    *rows = (size_t)r;
    *cols = (size_t)c;
    return 0;
}

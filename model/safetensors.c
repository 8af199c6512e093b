/*
 * safetensors reader and writer (see safetensors.h).
 *
 * The reader validates a file image before handing out any pointer into it,
 * following the rules of the reference Rust crate (huggingface/safetensors)
 * and RELIABILITY.md, "Untrusted input":
 *   - at least 8 bytes; the little-endian header length N is at most 100 MB
 *     and 8 + N fits in the file (checked arithmetic);
 *   - the header is valid UTF-8 without NUL bytes, starts with '{', is one
 *     JSON object followed only by whitespace, and no object in it repeats a
 *     key (cJSON keeps duplicates silently, so we look ourselves);
 *   - `__metadata__` maps strings to strings (null is taken as "none", as
 *     the Rust crate's Option<HashMap> does);
 *   - every tensor has a known dtype, a shape of at most 8 integers in
 *     [0, 2^53], data_offsets [begin, end] with begin <= end inside the data
 *     buffer, and element count x dtype size (overflow-checked) == end - begin;
 *   - sorted by offset, the tensors tile the data buffer exactly: no gap, no
 *     overlap, the first starts at 0 and the last ends at the end of the file.
 * JSON numbers arrive as doubles; a dimension or offset must be a finite,
 * non-negative integral value no larger than 2^53 (cJSON cannot tell "3.0"
 * from "3", so both are accepted).
 *
 * The writer emits the layout the Rust crate writes: `__metadata__` first,
 * tensors in the caller's order with contiguous offsets, the header padded
 * with spaces to a multiple of 8 bytes so the data buffer is 8-aligned. It
 * streams header and tensor data into "<path>.tmp.<pid>", fsyncs, renames and
 * fsyncs the directory, so a multi-GB model is never copied in memory and a
 * crash never leaves a half-written file under the final name.
 *
 * Tensor data is stored little-endian; stc runs on little-endian hosts only
 * (x86-64, aarch64), which the #error below makes explicit.
 */
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "stc's safetensors I/O assumes a little-endian host"
#endif

/* The Rust crate's MAX_HEADER_SIZE: a larger header is corrupt or hostile. */
#define STC_ST_MAX_HEADER 100000000ull
/* Largest integer a double (hence cJSON) holds exactly. */
#define STC_ST_MAX_JSON_INT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} stc_dtype_table[STC_DT_COUNT] = {
    [STC_DT_F64] = {"F64", 8},  [STC_DT_F32] = {"F32", 4}, [STC_DT_F16] = {"F16", 2},
    [STC_DT_BF16] = {"BF16", 2}, [STC_DT_I64] = {"I64", 8}, [STC_DT_I32] = {"I32", 4},
    [STC_DT_I16] = {"I16", 2},  [STC_DT_I8] = {"I8", 1},   [STC_DT_U8] = {"U8", 1},
    [STC_DT_BOOL] = {"BOOL", 1},
};

size_t stc_dtype_size(stc_dtype dt)
{
    if ((int)dt < 0 || dt >= STC_DT_COUNT)
        return 0;
    return stc_dtype_table[dt].size;
}

const char *stc_dtype_name(stc_dtype dt)
{
    if ((int)dt < 0 || dt >= STC_DT_COUNT)
        return "?";
    return stc_dtype_table[dt].name;
}

/* The dtype spelled `name` in a header, or -1 if it is not one we support. */
static int stc_dtype_parse(const char *name)
{
    for (int i = 0; i < STC_DT_COUNT; i++)
        if (strcmp(name, stc_dtype_table[i].name) == 0)
            return i;
    return -1;
}

float stc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    float f;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24, exact in float32. */
        f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or NaN keeping its payload */
    else
        bits = sign | ((exp + 112) << 23) | (mant << 13); /* rebias 15 -> 127 */
    memcpy(&f, &bits, sizeof f);
    return f;
}

float stc_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Offset of the first byte of s[0..n) that is not valid UTF-8 (overlong
 * forms, surrogates and code points above U+10FFFF are invalid) or is NUL;
 * n if there is none. */
static size_t stc_utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; /* no overlongs */
            else if (c == 0xed)
                hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f; /* <= U+10FFFF */
        } else
            return i;
        if (n - i < len)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return i;
        i += len;
    }
    return n;
}

/* Writes "[d0, d1, ...]" into buf (truncated to cap). */
static void stc_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

/* Stores a JSON number that is an integer in [0, 2^53] into *out; returns 0,
 * or -1 if the item is anything else (string, fraction, negative, inf). */
static int stc_json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double d = item->valuedouble;
    if (!(d >= 0.0 && d <= STC_ST_MAX_JSON_INT)) /* also rejects NaN */
        return -1;
    uint64_t v = (uint64_t)d;
    if ((double)v != d)
        return -1;
    *out = v;
    return 0;
}

static int stc_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a key that occurs twice among the n strings names[] (sorted in place).
 * Returns it, or NULL if all are distinct. */
static const char *stc_find_duplicate(const char **names, size_t n)
{
    if (n < 2)
        return NULL;
    qsort(names, n, sizeof *names, stc_strcmp_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

/* Checks that no key of the JSON object obj occurs twice. On a duplicate,
 * records an error "<path>: <where>: duplicate key '<k>'" and returns
 * STC_ERR_DATA. `where` describes the object ("__metadata__", "tensor 'x'");
 * NULL means the header itself, whose keys are tensor names. */
static int stc_check_unique_keys(const cJSON *obj, const char *path, const char *where)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    if (n < 2)
        return 0;
    const char **names = stc_malloc(n * sizeof *names, "safetensors header keys");
    if (!names)
        return STC_ERR_NOMEM;
    size_t k = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        names[k++] = c->string ? c->string : "";
    const char *dup = stc_find_duplicate(names, n);
    int rc = 0;
    if (dup && !where) /* the header's top level: tensor names */
        rc = strcmp(dup, "__metadata__") == 0
                 ? stc_errorf(STC_ERR_DATA, "%s: header: duplicate key '__metadata__'", path)
                 : stc_errorf(STC_ERR_DATA, "%s: tensor '%.256s': duplicate key (the name occurs twice in the header)",
                              path, dup);
    else if (dup)
        rc = stc_errorf(STC_ERR_DATA, "%s: %s: duplicate key '%.256s'", path, where, dup);
    free(names);
    return rc;
}

/* Reads __metadata__ (a JSON object of strings, or null) into st. */
static int stc_parse_metadata(stc_safetensors *st, const cJSON *meta)
{
    const char *path = st->path;
    if (cJSON_IsNull(meta))
        return 0;
    if (!cJSON_IsObject(meta))
        return stc_errorf(STC_ERR_DATA, "%s: __metadata__ is not a JSON object of strings", path);
    int rc = stc_check_unique_keys(meta, path, "__metadata__");
    if (rc)
        return rc;
    size_t n = 0;
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return stc_errorf(STC_ERR_DATA, "%s: __metadata__ value for key '%.256s' is not a string",
                              path, c->string);
        n++;
    }
    if (n == 0)
        return 0;
    if (n > (size_t)INT32_MAX)
        return stc_errorf(STC_ERR_DATA, "%s: __metadata__ has too many keys", path);
    st->meta_keys = stc_calloc(n, sizeof *st->meta_keys, "safetensors metadata");
    st->meta_vals = stc_calloc(n, sizeof *st->meta_vals, "safetensors metadata");
    if (!st->meta_keys || !st->meta_vals)
        return STC_ERR_NOMEM;
    for (const cJSON *c = meta->child; c; c = c->next) {
        int i = st->n_meta;
        st->meta_keys[i] = strdup(c->string);
        st->meta_vals[i] = strdup(c->valuestring);
        if (!st->meta_keys[i] || !st->meta_vals[i]) {
            free(st->meta_keys[i]);
            free(st->meta_vals[i]);
            return stc_errorf(STC_ERR_NOMEM, "%s: out of memory copying __metadata__", path);
        }
        st->n_meta++;
    }
    return 0;
}

/* Byte range of one tensor inside the data buffer, for the tiling check. */
typedef struct {
    uint64_t begin, end;
    int index; /* into st->tensors */
} stc_st_range;

static int stc_range_cmp(const void *pa, const void *pb)
{
    const stc_st_range *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* Validates one tensor entry `e` (key e->string) against a data buffer of
 * data_len bytes and fills t and r. t->data is left as an offset (begin) to
 * be rebased by the caller. */
static int stc_parse_tensor(const char *path, const cJSON *e, size_t data_len,
                            stc_st_tensor *t, stc_st_range *r)
{
    const char *name = e->string;
    char where[320];
    snprintf(where, sizeof where, "tensor '%.256s'", name);
    if (!cJSON_IsObject(e))
        return stc_errorf(STC_ERR_DATA, "%s: %s: entry is not a JSON object", path, where);
    int rc = stc_check_unique_keys(e, path, where);
    if (rc)
        return rc;

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt))
        return stc_errorf(STC_ERR_DATA, "%s: %s: \"dtype\" is missing or not a string", path, where);
    int dtype = stc_dtype_parse(dt->valuestring);
    if (dtype < 0)
        return stc_errorf(STC_ERR_DATA,
                          "%s: %s: unknown dtype '%.32s' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
                          path, where, dt->valuestring);

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(shape))
        return stc_errorf(STC_ERR_DATA, "%s: %s: \"shape\" is missing or not an array", path, where);
    int ndim = 0;
    uint64_t nelem = 1;
    int overflow = 0;
    for (const cJSON *d = shape->child; d; d = d->next) {
        if (ndim == STC_ST_MAX_DIMS)
            return stc_errorf(STC_ERR_DATA, "%s: %s: shape has more than %d dimensions", path, where,
                              STC_ST_MAX_DIMS);
        uint64_t v;
        if (stc_json_uint(d, &v) != 0)
            return stc_errorf(STC_ERR_DATA,
                              "%s: %s: shape[%d] is not a non-negative integer (at most 2^53)", path,
                              where, ndim);
        t->shape[ndim++] = (int64_t)v;
        /* Like the Rust crate, any overflowing partial product is an error,
         * even if a later dimension is 0. */
        if (v != 0 && nelem > UINT64_MAX / v)
            overflow = 1;
        nelem *= v;
    }
    t->ndim = ndim;
    t->dtype = (stc_dtype)dtype;

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(off) || !off->child || !off->child->next || off->child->next->next ||
        stc_json_uint(off->child, &begin) != 0 || stc_json_uint(off->child->next, &end) != 0)
        return stc_errorf(STC_ERR_DATA,
                          "%s: %s: \"data_offsets\" is not [begin, end] (two non-negative integers)",
                          path, where);
    if (begin > end)
        return stc_errorf(STC_ERR_DATA, "%s: %s: data_offsets [%llu, %llu] has begin > end", path,
                          where, (unsigned long long)begin, (unsigned long long)end);

    char sh[160];
    stc_format_shape(sh, sizeof sh, ndim, t->shape);
    uint64_t esize = stc_dtype_table[dtype].size;
    if (overflow || nelem > UINT64_MAX / esize)
        return stc_errorf(STC_ERR_DATA, "%s: %s: byte size of shape %s x %s overflows", path, where,
                          sh, stc_dtype_table[dtype].name);
    if (nelem * esize != end - begin)
        return stc_errorf(STC_ERR_DATA,
                          "%s: %s: shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] span %llu",
                          path, where, sh, stc_dtype_table[dtype].name,
                          (unsigned long long)(nelem * esize), (unsigned long long)begin,
                          (unsigned long long)end, (unsigned long long)(end - begin));
    if (end > (uint64_t)data_len)
        return stc_errorf(STC_ERR_DATA,
                          "%s: %s: data_offsets [%llu, %llu] run past the end of the data (%zu bytes; file truncated?)",
                          path, where, (unsigned long long)begin, (unsigned long long)end, data_len);

    t->nbytes = (size_t)(end - begin);
    r->begin = begin;
    r->end = end;
    return 0;
}

/* Checks that the tensors, sorted by offset, tile [0, data_len) exactly. */
static int stc_check_tiling(const stc_safetensors *st, stc_st_range *r, size_t data_len)
{
    const char *path = st->path;
    int n = st->n_tensors;
    qsort(r, (size_t)n, sizeof *r, stc_range_cmp);
    uint64_t expect = 0;
    for (int i = 0; i < n; i++) {
        const char *name = st->tensors[r[i].index].name;
        if (r[i].begin < expect)
            return stc_errorf(STC_ERR_DATA,
                              "%s: tensor '%.256s': data_offsets [%llu, %llu] overlap tensor '%.256s', which ends at %llu",
                              path, name, (unsigned long long)r[i].begin, (unsigned long long)r[i].end,
                              st->tensors[r[i - 1].index].name, (unsigned long long)expect);
        if (r[i].begin > expect)
            return stc_errorf(STC_ERR_DATA,
                              "%s: tensor '%.256s': data_offsets [%llu, %llu] leave a gap of %llu bytes after offset %llu",
                              path, name, (unsigned long long)r[i].begin, (unsigned long long)r[i].end,
                              (unsigned long long)(r[i].begin - expect), (unsigned long long)expect);
        expect = r[i].end;
    }
    if (expect != (uint64_t)data_len) {
        if (n == 0)
            return stc_errorf(STC_ERR_DATA, "%s: header lists no tensors but %zu data bytes follow it",
                              path, data_len);
        return stc_errorf(STC_ERR_DATA,
                          "%s: tensor '%.256s': the last tensor ends at data offset %llu but the data is %zu bytes (%llu trailing bytes)",
                          path, st->tensors[r[n - 1].index].name, (unsigned long long)expect, data_len,
                          (unsigned long long)(data_len - expect));
    }
    return 0;
}

/* Validates the file image st->map[0..map_len) and fills st's tensor and
 * metadata tables. On error the caller frees st with stc_safetensors_close. */
static int stc_st_validate(stc_safetensors *st)
{
    const unsigned char *buf = st->map;
    size_t len = st->map_len;
    const char *path = st->path;
    char *text = NULL;
    cJSON *root = NULL;
    stc_st_range *ranges = NULL;
    int rc;

    if (len < 8)
        return stc_errorf(STC_ERR_DATA,
                          "%s: file is %zu bytes, too short for a safetensors header (8-byte length + JSON)",
                          path, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | buf[i];
    if (hlen > STC_ST_MAX_HEADER)
        return stc_errorf(STC_ERR_DATA,
                          "%s: header length %llu is over the 100 MB limit (corrupt or not a safetensors file)",
                          path, (unsigned long long)hlen);
    if (hlen > (uint64_t)(len - 8))
        return stc_errorf(STC_ERR_DATA,
                          "%s: header length %llu runs past the end of the file (%zu bytes; truncated?)",
                          path, (unsigned long long)hlen, len);
    const unsigned char *hdr = buf + 8;
    size_t data_off = 8 + (size_t)hlen;
    size_t data_len = len - data_off;
    if (hlen == 0 || hdr[0] != '{')
        return stc_errorf(STC_ERR_DATA, "%s: header does not start with '{' (not a safetensors file?)",
                          path);
    size_t bad = stc_utf8_invalid_at(hdr, (size_t)hlen);
    if (bad != (size_t)hlen)
        return stc_errorf(STC_ERR_DATA, "%s: header is not valid UTF-8 (%s at header byte %zu)", path,
                          hdr[bad] ? "invalid sequence" : "NUL byte", bad);

    /* cJSON wants a NUL-terminated string; the mapping has none. */
    text = stc_malloc((size_t)hlen + 1, "safetensors header");
    if (!text)
        return stc_error_prefix(STC_ERR_NOMEM, "%s", path);
    memcpy(text, hdr, (size_t)hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + hlen ? (size_t)(end - text) : 0;
        rc = stc_errorf(STC_ERR_DATA, "%s: header is not valid JSON (error near header byte %zu)", path,
                        at);
        goto out_free_text;
    }
    for (const char *p = end; p < text + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = stc_errorf(STC_ERR_DATA, "%s: header has data after its JSON object (header byte %zu)",
                            path, (size_t)(p - text));
            goto out_free_json;
        }
    }
    if (!cJSON_IsObject(root)) {
        rc = stc_errorf(STC_ERR_DATA, "%s: header is not a JSON object", path);
        goto out_free_json;
    }
    rc = stc_check_unique_keys(root, path, NULL);
    if (rc)
        goto out_free_json;

    size_t n = 0;
    for (const cJSON *c = root->child; c; c = c->next)
        if (strcmp(c->string, "__metadata__") != 0)
            n++;
    if (n > (size_t)INT32_MAX) {
        rc = stc_errorf(STC_ERR_DATA, "%s: header lists too many tensors", path);
        goto out_free_json;
    }
    st->tensors = stc_calloc(n, sizeof *st->tensors, "safetensors tensor table");
    ranges = stc_calloc(n, sizeof *ranges, "safetensors tensor table");
    if (!st->tensors || !ranges) {
        rc = stc_error_prefix(STC_ERR_NOMEM, "%s", path);
        goto out_free_json;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            rc = stc_parse_metadata(st, c);
            if (rc)
                goto out_free_json;
            continue;
        }
        int i = st->n_tensors;
        stc_st_tensor *t = &st->tensors[i];
        rc = stc_parse_tensor(path, c, data_len, t, &ranges[i]);
        if (rc)
            goto out_free_json;
        t->name = strdup(c->string);
        if (!t->name) {
            rc = stc_errorf(STC_ERR_NOMEM, "%s: out of memory copying tensor names", path);
            goto out_free_json;
        }
        t->data = buf + data_off + ranges[i].begin;
        ranges[i].index = i;
        st->n_tensors++;
    }
    rc = stc_check_tiling(st, ranges, data_len);

out_free_json:
    cJSON_Delete(root);
out_free_text:
    free(text);
    free(ranges);
    return rc;
}

/* Copies the name used in messages; NULL-safe. */
static int stc_st_set_path(stc_safetensors *st, const char *name)
{
    st->path = strdup(name ? name : "<buffer>");
    if (!st->path)
        return stc_errorf(STC_ERR_NOMEM, "out of memory copying a file name");
    return 0;
}

int stc_safetensors_parse(stc_safetensors *st, const void *buf, size_t len, const char *name)
{
    memset(st, 0, sizeof *st);
    int rc = stc_st_set_path(st, name);
    if (rc)
        return rc;
    st->map = (void *)buf; /* borrowed; never written through */
    st->map_len = len;
    if (!buf && len > 0) {
        rc = stc_errorf(STC_ERR_INTERNAL, "%s: NULL buffer of %zu bytes", st->path, len);
        goto err_close;
    }
    rc = stc_st_validate(st);
    if (rc)
        goto err_close;
    return 0;

err_close:
    stc_safetensors_close(st);
    return rc;
}

int stc_safetensors_open(stc_safetensors *st, const char *path)
{
    memset(st, 0, sizeof *st);
    int rc = stc_st_set_path(st, path);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = stc_errorf(STC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto err_close;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        rc = stc_errorf(STC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto err_close_fd;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = stc_errorf(STC_ERR_IO, "%s: not a regular file", path);
        goto err_close_fd;
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        rc = stc_errorf(STC_ERR_DATA, "%s: file too large to map", path);
        goto err_close_fd;
    }
    st->map_len = (size_t)sb.st_size;
    if (st->map_len >= 8) { /* mmap refuses length 0; shorter files fail validation */
        void *m = mmap(NULL, st->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = stc_errorf(STC_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, st->map_len,
                            strerror(errno));
            goto err_close_fd;
        }
        st->map = m;
        st->mmapped = 1;
    } else {
        st->map = (void *)"";
    }
    close(fd);
    rc = stc_st_validate(st);
    if (rc)
        goto err_close;
    return 0;

err_close_fd:
    close(fd);
err_close:
    stc_safetensors_close(st);
    return rc;
}

void stc_safetensors_close(stc_safetensors *st)
{
    if (!st)
        return;
    if (st->mmapped && st->map)
        munmap(st->map, st->map_len);
    else if (st->owns_buffer)
        free(st->map);
    for (int i = 0; i < st->n_tensors; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const stc_st_tensor *stc_safetensors_find(const stc_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *stc_safetensors_meta(const stc_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_vals[i];
    return NULL;
}

int stc_safetensors_read_f32(const stc_safetensors *st, const char *name, float *out, int ndim,
                             const int64_t *shape)
{
    const char *path = st->path ? st->path : "<safetensors>";
    if (ndim < 0 || ndim > STC_ST_MAX_DIMS || (ndim > 0 && !shape))
        return stc_errorf(STC_ERR_INTERNAL, "%s: tensor '%s': invalid expected shape (ndim %d)", path,
                          name, ndim);
    const stc_st_tensor *t = stc_safetensors_find(st, name);
    if (!t)
        return stc_errorf(STC_ERR_DATA, "%s: tensor '%s' not found (the file has %d tensors)", path,
                          name, st->n_tensors);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[160], have[160];
        stc_format_shape(want, sizeof want, ndim, shape);
        stc_format_shape(have, sizeof have, t->ndim, t->shape);
        return stc_errorf(STC_ERR_DATA, "%s: tensor '%s': shape %s in the file, expected %s", path,
                          name, have, want);
    }
    const unsigned char *src = t->data;
    size_t count = t->nbytes / stc_dtype_table[t->dtype].size;
    /* The data may sit at any byte offset: copy, never cast the pointer. */
    switch (t->dtype) {
    case STC_DT_F32:
        if (count)
            memcpy(out, src, t->nbytes);
        break;
    case STC_DT_F16:
    case STC_DT_BF16:
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = t->dtype == STC_DT_F16 ? stc_f16_to_f32(h) : stc_bf16_to_f32(h);
        }
        break;
    case STC_DT_F64:
        for (size_t i = 0; i < count; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            out[i] = (float)d;
        }
        break;
    default:
        return stc_errorf(STC_ERR_DATA, "%s: tensor '%s': dtype %s cannot be read as float32", path,
                          name, stc_dtype_name(t->dtype));
    }
    return 0;
}

/* ---- writer ---- */

/* A growable byte buffer for the header JSON. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} stc_sbuf;

static void stc_sb_put(stc_sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void stc_sb_str(stc_sbuf *b, const char *s) { stc_sb_put(b, s, strlen(s)); }

static void stc_sb_u64(stc_sbuf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    stc_sb_put(b, tmp, (size_t)n);
}

/* Appends s as a JSON string literal (s is valid UTF-8, passed through). */
static void stc_sb_json_string(stc_sbuf *b, const char *s)
{
    stc_sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            stc_sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            stc_sb_put(b, esc, 6);
        } else {
            stc_sb_put(b, (const char *)p, 1);
        }
    }
    stc_sb_put(b, "\"", 1);
}

/* Checks one string the writer is asked to store (a name, key or value). */
static int stc_check_write_string(const char *path, const char *what, const char *s)
{
    if (!s)
        return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: %s is NULL", path, what);
    size_t n = strlen(s);
    if (stc_utf8_invalid_at((const unsigned char *)s, n) != n)
        return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: %s '%.256s' is not valid UTF-8", path,
                          what, s);
    return 0;
}

/* Validates the writer's arguments and computes each tensor's byte size. */
static int stc_check_write_args(const char *path, const stc_st_write_tensor *tensors, int n_tensors,
                                const char *const *meta_keys, const char *const *meta_vals,
                                int n_meta, uint64_t *nbytes)
{
    int rc;
    for (int i = 0; i < n_tensors; i++) {
        const stc_st_write_tensor *t = &tensors[i];
        if ((rc = stc_check_write_string(path, "tensor name", t->name)))
            return rc;
        if (strcmp(t->name, "__metadata__") == 0)
            return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: '__metadata__' is not a tensor name",
                              path);
        if ((int)t->dtype < 0 || t->dtype >= STC_DT_COUNT)
            return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write tensor '%s': invalid dtype %d", path,
                              t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > STC_ST_MAX_DIMS)
            return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write tensor '%s': ndim %d not in 0..%d",
                              path, t->name, t->ndim, STC_ST_MAX_DIMS);
        uint64_t n = stc_dtype_table[t->dtype].size;
        for (int d = 0; d < t->ndim; d++) {
            int64_t v = t->shape[d];
            if (v < 0 || (double)v > STC_ST_MAX_JSON_INT)
                return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write tensor '%s': shape[%d] = %lld",
                                  path, t->name, d, (long long)v);
            if (v != 0 && n > UINT64_MAX / (uint64_t)v)
                return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write tensor '%s': size overflows", path,
                                  t->name);
            n *= (uint64_t)v;
        }
        if (n > 0 && !t->data)
            return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write tensor '%s': data is NULL", path,
                              t->name);
        nbytes[i] = n;
    }
    for (int i = 0; i < n_meta; i++) {
        if ((rc = stc_check_write_string(path, "metadata key", meta_keys[i])) ||
            (rc = stc_check_write_string(path, "metadata value", meta_vals[i])))
            return rc;
    }

    /* Duplicates: one sorted copy of the names per table. */
    int most = n_tensors > n_meta ? n_tensors : n_meta;
    const char **names = stc_malloc((size_t)(most > 0 ? most : 1) * sizeof *names, "tensor names");
    if (!names)
        return STC_ERR_NOMEM;
    for (int i = 0; i < n_tensors; i++)
        names[i] = tensors[i].name;
    const char *dup = stc_find_duplicate(names, (size_t)n_tensors);
    if (dup) {
        rc = stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: duplicate tensor name '%.256s'", path, dup);
        free(names);
        return rc;
    }
    for (int i = 0; i < n_meta; i++)
        names[i] = meta_keys[i];
    dup = stc_find_duplicate(names, (size_t)n_meta);
    rc = dup ? stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: duplicate metadata key '%.256s'", path,
                          dup)
             : 0;
    free(names);
    return rc;
}

/* Writes all n bytes to fd, retrying on EINTR and short writes. */
static int stc_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int stc_safetensors_write(const char *path, const stc_st_write_tensor *tensors, int n_tensors,
                          const char *const *meta_keys, const char *const *meta_vals, int n_meta)
{
    if (n_tensors < 0 || n_meta < 0 || (n_tensors > 0 && !tensors) ||
        (n_meta > 0 && (!meta_keys || !meta_vals)))
        return stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: invalid tensor or metadata list", path);
    stc_sbuf hb = {0};
    char *tmp = NULL;
    int fd = -1;
    int rc;
    uint64_t *nbytes = stc_calloc((size_t)(n_tensors > 0 ? n_tensors : 1), sizeof *nbytes,
                                  "tensor sizes");
    if (!nbytes)
        return STC_ERR_NOMEM;
    rc = stc_check_write_args(path, tensors, n_tensors, meta_keys, meta_vals, n_meta, nbytes);
    if (rc)
        goto out_free;

    /* Header: {"__metadata__":{...},"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...} */
    stc_sb_put(&hb, "{", 1);
    if (n_meta > 0) {
        stc_sb_str(&hb, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                stc_sb_put(&hb, ",", 1);
            stc_sb_json_string(&hb, meta_keys[i]);
            stc_sb_put(&hb, ":", 1);
            stc_sb_json_string(&hb, meta_vals[i]);
        }
        stc_sb_put(&hb, "}", 1);
    }
    uint64_t off = 0;
    for (int i = 0; i < n_tensors; i++) {
        const stc_st_write_tensor *t = &tensors[i];
        if (i || n_meta > 0)
            stc_sb_put(&hb, ",", 1);
        stc_sb_json_string(&hb, t->name);
        stc_sb_str(&hb, ":{\"dtype\":\"");
        stc_sb_str(&hb, stc_dtype_table[t->dtype].name);
        stc_sb_str(&hb, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d)
                stc_sb_put(&hb, ",", 1);
            stc_sb_u64(&hb, (uint64_t)t->shape[d]);
        }
        stc_sb_str(&hb, "],\"data_offsets\":[");
        stc_sb_u64(&hb, off);
        stc_sb_put(&hb, ",", 1);
        if (nbytes[i] > UINT64_MAX - off) {
            rc = stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: total size overflows", path);
            goto out_free;
        }
        off += nbytes[i];
        stc_sb_u64(&hb, off);
        stc_sb_str(&hb, "]}");
    }
    stc_sb_put(&hb, "}", 1);
    while (!hb.oom && hb.len % 8 != 0) /* 8-align the data, as the Rust crate does */
        stc_sb_put(&hb, " ", 1);
    if (hb.oom) {
        rc = stc_errorf(STC_ERR_NOMEM, "%s: out of memory building the safetensors header", path);
        goto out_free;
    }
    if (hb.len > STC_ST_MAX_HEADER) {
        rc = stc_errorf(STC_ERR_INTERNAL, "%s: cannot write: header of %zu bytes is over 100 MB", path,
                        hb.len);
        goto out_free;
    }

    size_t tlen = strlen(path) + 32;
    tmp = stc_malloc(tlen, "temporary path");
    if (!tmp) {
        rc = STC_ERR_NOMEM;
        goto out_free;
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = stc_errorf(STC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out_free;
    }
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)((uint64_t)hb.len >> (8 * i));
    if (stc_write_all(fd, lenbuf, 8) != 0 || stc_write_all(fd, hb.p, hb.len) != 0)
        goto err_write;
    for (int i = 0; i < n_tensors; i++)
        if (nbytes[i] > 0 && stc_write_all(fd, tensors[i].data, (size_t)nbytes[i]) != 0)
            goto err_write;
    if (fsync(fd) != 0)
        goto err_write;
    int cerr = close(fd);
    fd = -1;
    if (cerr != 0)
        goto err_write;
    if (rename(tmp, path) != 0) {
        rc = stc_errorf(STC_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        goto err_unlink;
    }
    rc = stc_fsync_parent_dir(path);
    goto out_free;

err_write:
    rc = stc_errorf(STC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
err_unlink:
    unlink(tmp);
out_free:
    free(tmp);
    free(hb.p);
    free(nbytes);
    return rc;
}

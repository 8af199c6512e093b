/*
 * model/safetensors: reader, writer and float conversions.
 *
 * Proves that
 *   - every dtype round-trips write -> open (mmap) -> read bit for bit, with
 *     metadata, names that need JSON escaping, a scalar, a zero-size and an
 *     8-dim tensor, and the file layout the Rust crate writes (8-aligned,
 *     space-padded header, contiguous offsets in the given order);
 *   - F16/BF16/F64 -> float32 conversion is exact, subnormals, inf and NaN
 *     included, also from unaligned data;
 *   - each kind of malformed file is rejected with STC_ERR_DATA and a message
 *     naming the file, the tensor at fault and the rule broken, through both
 *     stc_safetensors_open and stc_safetensors_parse;
 *   - the committed fuzz seed corpus (fixtures/safetensors/corpus) holds
 *     exactly these cases; `test_safetensors --write-corpus DIR` regenerates
 *     it after a case is added or changed.
 */
#include "tests/check.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CORPUS_DIR "fixtures/safetensors/corpus"

static char tmpdir[] = "/tmp/stc_test_safetensors_XXXXXX";

/* A file image in memory. */
typedef struct {
    unsigned char *p;
    size_t len;
} bytes;

/* One hand-made file: a header (with its 8-byte length) and data bytes.
 * Bad cases name the tensor the error must mention (or NULL) and a fragment
 * of the message that proves which rule fired; good cases have expect NULL. */
typedef struct {
    const char *file;      /* corpus file name: good_*.safetensors or bad_*.safetensors */
    const char *tensor;    /* tensor the error names, or NULL */
    const char *expect;    /* fragment of the error message; NULL for a good file */
    const char *header;    /* header text */
    size_t header_len;     /* bytes of header (0: strlen(header)) */
    size_t data_len;       /* data bytes after the header */
    int fake_len;          /* 1: store len_field as the header length */
    uint64_t len_field;
    long cut;              /* >= 0: the file is cut to this many bytes */
} st_case;

#define T(name, dtype, shape, b, e) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static const st_case cases[] = {
    /* good files */
    {"good_empty.safetensors", NULL, NULL, "{}      ", 0, 0, 0, 0, -1},
    {"good_small.safetensors", NULL, NULL,
     "{\"__metadata__\":{\"format\":\"pt\"}," T("w", "F32", "[2,2]", 0, 16) "," T("b", "F16", "[2]", 16, 20) "}",
     0, 20, 0, 0, -1},
    {"good_scalar_zero_size_unpadded.safetensors", NULL, NULL,
     "{" T("z", "I8", "[0,3]", 0, 0) "," T("s", "F32", "[]", 0, 4) "," T("z2", "BOOL", "[4,0]", 4, 4) "," T("u", "U8", "[3]", 4, 7) "}",
     0, 7, 0, 0, -1},
    {"good_metadata_null_trailing_ws.safetensors", NULL, NULL,
     "{\"__metadata__\":null," T("x", "BF16", "[1]", 0, 2) "}\n\t \r", 0, 2, 0, 0, -1},

    /* bad: the 8-byte length and the header bounds */
    {"bad_empty_file.safetensors", NULL, "too short", "{}", 0, 0, 0, 0, 0},
    {"bad_truncated_5_bytes.safetensors", NULL, "too short", "{}      ", 0, 0, 0, 0, 5},
    {"bad_header_len_beyond_file.safetensors", NULL, "past the end of the file", "{}", 0, 0, 1, 1000, -1},
    {"bad_header_len_one_past_file.safetensors", NULL, "past the end of the file", "{}  ", 0, 0, 1, 5, -1},
    {"bad_header_len_over_100mb.safetensors", NULL, "100 MB", "{}", 0, 0, 1, 100000001, -1},
    {"bad_header_len_uint64_max.safetensors", NULL, "100 MB", "{}", 0, 0, 1, UINT64_MAX, -1},
    {"bad_header_len_zero.safetensors", NULL, "does not start with '{'", "", 0, 0, 0, 0, -1},

    /* bad: header text */
    {"bad_header_not_object.safetensors", NULL, "does not start with '{'", "[]", 0, 0, 0, 0, -1},
    {"bad_header_leading_space.safetensors", NULL, "does not start with '{'", " {}", 0, 0, 0, 0, -1},
    {"bad_json_truncated.safetensors", NULL, "not valid JSON",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", 0, 4, 0, 0, -1},
    {"bad_json_trailing_garbage.safetensors", NULL, "after its JSON object", "{} x", 0, 0, 0, 0, -1},
    {"bad_json_trailing_comma.safetensors", NULL, "not valid JSON", "{\"a\":1,}", 0, 0, 0, 0, -1},
    {"bad_utf8_in_key.safetensors", NULL, "not valid UTF-8",
     "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, 0, 0, -1},
    {"bad_utf8_overlong.safetensors", NULL, "not valid UTF-8", "{\"\xc0\xaf\":1}", 0, 0, 0, 0, -1},
    {"bad_utf8_surrogate.safetensors", NULL, "not valid UTF-8", "{\"\xed\xa0\x80\":1}", 0, 0, 0, 0, -1},
    {"bad_nul_in_header.safetensors", NULL, "NUL byte", "{}\0     ", 8, 0, 0, 0, -1},
    {"bad_duplicate_tensor.safetensors", "w", "name occurs twice",
     "{" T("w", "F32", "[1]", 0, 4) "," T("w", "F32", "[1]", 0, 4) "}", 0, 4, 0, 0, -1},
    {"bad_duplicate_field.safetensors", "w", "duplicate key 'dtype'",
     "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, 0, 0, -1},
    {"bad_duplicate_metadata_key.safetensors", NULL, "__metadata__: duplicate key 'k'",
     "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, 0, 0, 0, -1},
    {"bad_duplicate_metadata.safetensors", NULL, "duplicate key '__metadata__'",
     "{\"__metadata__\":{},\"__metadata__\":{}}", 0, 0, 0, 0, -1},
    {"bad_metadata_not_string.safetensors", NULL, "value for key 'k' is not a string",
     "{\"__metadata__\":{\"k\":1}}", 0, 0, 0, 0, -1},
    {"bad_metadata_not_object.safetensors", NULL, "__metadata__ is not", "{\"__metadata__\":\"pt\"}", 0, 0,
     0, 0, -1},

    /* bad: one tensor entry */
    {"bad_entry_not_object.safetensors", "w", "not a JSON object", "{\"w\":5}", 0, 0, 0, 0, -1},
    {"bad_unknown_dtype.safetensors", "weight", "unknown dtype 'Q4'",
     "{" T("weight", "Q4", "[2]", 0, 1) "}", 0, 1, 0, 0, -1},
    {"bad_dtype_lowercase.safetensors", "w", "unknown dtype 'f32'", "{" T("w", "f32", "[1]", 0, 4) "}", 0, 4,
     0, 0, -1},
    {"bad_dtype_not_string.safetensors", "w", "\"dtype\" is missing",
     "{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, 0, 0, -1},
    {"bad_dtype_missing.safetensors", "w", "\"dtype\" is missing",
     "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, 0, 0, -1},
    {"bad_shape_not_array.safetensors", "w", "\"shape\" is missing or not an array",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 0, 4, 0, 0, -1},
    {"bad_shape_negative.safetensors", "w", "shape[0] is not a non-negative integer",
     "{" T("w", "F32", "[-1]", 0, 4) "}", 0, 4, 0, 0, -1},
    {"bad_shape_fraction.safetensors", "w", "shape[1] is not a non-negative integer",
     "{" T("w", "F32", "[1,1.5]", 0, 4) "}", 0, 4, 0, 0, -1},
    {"bad_shape_string.safetensors", "w", "shape[0] is not", "{" T("w", "F32", "[\"1\"]", 0, 4) "}", 0, 4,
     0, 0, -1},
    {"bad_shape_above_2p53.safetensors", "w", "shape[0] is not", "{" T("w", "U8", "[1e300]", 0, 4) "}", 0,
     4, 0, 0, -1},
    {"bad_shape_9_dims.safetensors", "w", "more than 8 dimensions",
     "{" T("w", "U8", "[1,1,1,1,1,1,1,1,1]", 0, 1) "}", 0, 1, 0, 0, -1},
    {"bad_shape_overflow.safetensors", "w", "overflows",
     "{" T("w", "F32", "[4294967296,4294967296,4294967296,0]", 0, 0) "}", 0, 0, 0, 0, -1},
    {"bad_offsets_one_value.safetensors", "w", "\"data_offsets\" is not [begin, end]",
     "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 0, 1, 0, 0, -1},
    {"bad_offsets_three_values.safetensors", "w", "\"data_offsets\" is not [begin, end]",
     "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 0, 1, 0, 0, -1},
    {"bad_offsets_negative.safetensors", "w", "\"data_offsets\" is not [begin, end]",
     "{" T("w", "U8", "[1]", -1, 0) "}", 0, 1, 0, 0, -1},
    {"bad_offsets_missing.safetensors", "w", "\"data_offsets\" is not [begin, end]",
     "{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", 0, 1, 0, 0, -1},
    {"bad_offsets_reversed.safetensors", "w", "begin > end", "{" T("w", "U8", "[0]", 8, 4) "}", 0, 8, 0, 0,
     -1},
    {"bad_size_mismatch.safetensors", "w", "needs 16 bytes but data_offsets [0, 12] span 12",
     "{" T("w", "F32", "[2,2]", 0, 12) "}", 0, 12, 0, 0, -1},
    {"bad_offsets_beyond_data.safetensors", "w", "run past the end of the data",
     "{" T("w", "F32", "[2]", 0, 8) "}", 0, 4, 0, 0, -1},

    /* bad: the tensors do not tile the data buffer */
    {"bad_overlap.safetensors", "b", "overlap tensor 'a'",
     "{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 4, 12) "}", 0, 12, 0, 0, -1},
    {"bad_overlap_zero_size_inside.safetensors", "z", "overlap tensor 'a'",
     "{" T("a", "F32", "[2]", 0, 8) "," T("z", "F32", "[0]", 4, 4) "}", 0, 8, 0, 0, -1},
    {"bad_gap.safetensors", "b", "gap of 4 bytes",
     "{" T("a", "F32", "[1]", 0, 4) "," T("b", "F32", "[1]", 8, 12) "}", 0, 12, 0, 0, -1},
    {"bad_first_not_at_zero.safetensors", "a", "gap of 4 bytes", "{" T("a", "F32", "[1]", 4, 8) "}", 0, 8,
     0, 0, -1},
    {"bad_trailing_data.safetensors", "a", "4 trailing bytes", "{" T("a", "F32", "[1]", 0, 4) "}", 0, 8, 0,
     0, -1},
    {"bad_no_tensors_but_data.safetensors", NULL, "no tensors but 8 data bytes", "{}", 0, 8, 0, 0, -1},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

/* Builds the file image of case c (malloc'd, exactly len bytes). */
static bytes build_case(const st_case *c)
{
    size_t hl = c->header_len ? c->header_len : strlen(c->header);
    size_t len = 8 + hl + c->data_len;
    bytes b = {malloc(len ? len : 1), len};
    uint64_t field = c->fake_len ? c->len_field : (uint64_t)hl;
    for (int i = 0; i < 8; i++)
        b.p[i] = (unsigned char)(field >> (8 * i));
    memcpy(b.p + 8, c->header, hl);
    for (size_t i = 0; i < c->data_len; i++)
        b.p[8 + hl + i] = (unsigned char)(i * 37 + 11);
    if (c->cut >= 0 && (size_t)c->cut < len)
        b.len = (size_t)c->cut;
    return b;
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* Checks that a rejected file reported STC_ERR_DATA naming `name`, the case's
 * tensor and the rule broken. */
static void check_rejection(const st_case *c, int rc, const char *name, const char *via)
{
    const char *msg = stc_error_message();
    CHECK_MSG(rc == STC_ERR_DATA, "%s via %s: rc %d (%s)", c->file, via, rc, msg);
    CHECK_MSG(strstr(msg, name) != NULL, "%s via %s: message lacks the file name: %s", c->file, via, msg);
    CHECK_MSG(strstr(msg, c->expect) != NULL, "%s via %s: expected '%s' in: %s", c->file, via, c->expect,
              msg);
    if (c->tensor) {
        char quoted[128];
        snprintf(quoted, sizeof quoted, "tensor '%s'", c->tensor);
        CHECK_MSG(strstr(msg, quoted) != NULL, "%s via %s: message lacks %s: %s", c->file, via, quoted, msg);
    }
}

/* Every hand-made case through open (file) and parse (exact-size buffer). */
static void test_cases(void)
{
    for (int i = 0; i < N_CASES; i++) {
        const st_case *c = &cases[i];
        bytes b = build_case(c);
        char *path = stc_path_join(tmpdir, c->file);
        CHECK(write_bytes(path, b.p, b.len) == 0);
        stc_safetensors st;
        stc_error_clear();
        int rc = stc_safetensors_open(&st, path);
        if (c->expect) {
            check_rejection(c, rc, path, "open");
            CHECK(st.n_tensors == 0 && st.tensors == NULL && st.map == NULL && st.path == NULL);
            stc_safetensors_close(&st); /* harmless after a failed open */
        } else {
            CHECK_MSG(rc == 0, "%s: %s", c->file, stc_error_message());
            stc_safetensors_close(&st);
        }
        stc_error_clear();
        rc = stc_safetensors_parse(&st, b.p, b.len, c->file);
        if (c->expect)
            check_rejection(c, rc, c->file, "parse");
        else
            CHECK_MSG(rc == 0, "%s: %s", c->file, stc_error_message());
        stc_safetensors_close(&st);
        free(path);
        free(b.p);
    }
}

/* Contents of the good hand-made files, including unaligned F32 reads. */
static void test_good_contents(void)
{
    stc_safetensors st;
    bytes b = build_case(&cases[1]); /* good_small */
    CHECK(stc_safetensors_parse(&st, b.p, b.len, "small") == 0);
    CHECK(st.n_tensors == 2 && st.n_meta == 1);
    CHECK(stc_safetensors_meta(&st, "format") && strcmp(stc_safetensors_meta(&st, "format"), "pt") == 0);
    CHECK(stc_safetensors_meta(&st, "missing") == NULL);
    const stc_st_tensor *w = stc_safetensors_find(&st, "w");
    CHECK(w && w->dtype == STC_DT_F32 && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 2 &&
          w->nbytes == 16);
    /* The header is not 8-aligned here, so the data is not either. */
    size_t hl = strlen(cases[1].header);
    CHECK(w && (const unsigned char *)w->data == b.p + 8 + hl);
    float out[4];
    int64_t shape[2] = {2, 2};
    CHECK(stc_safetensors_read_f32(&st, "w", out, 2, shape) == 0);
    for (int i = 0; i < 4; i++) {
        float want;
        memcpy(&want, b.p + 8 + hl + 4 * i, 4);
        CHECK(memcmp(&out[i], &want, 4) == 0);
    }
    stc_safetensors_close(&st);
    free(b.p);

    b = build_case(&cases[2]); /* scalar, zero-size, unpadded */
    CHECK(stc_safetensors_parse(&st, b.p, b.len, "scalar") == 0);
    CHECK(st.n_tensors == 4 && st.n_meta == 0);
    CHECK(st.n_tensors == 4 && strcmp(st.tensors[0].name, "z") == 0 && strcmp(st.tensors[1].name, "s") == 0);
    const stc_st_tensor *s = stc_safetensors_find(&st, "s");
    CHECK(s && s->ndim == 0 && s->nbytes == 4);
    const stc_st_tensor *z = stc_safetensors_find(&st, "z2");
    CHECK(z && z->ndim == 2 && z->nbytes == 0);
    float one;
    CHECK(stc_safetensors_read_f32(&st, "s", &one, 0, NULL) == 0);
    CHECK(memcmp(&one, s->data, 4) == 0);
    stc_safetensors_close(&st);
    free(b.p);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half and bfloat16 patterns with their float32 values (bit exact). */
static const struct {
    uint16_t h;
    uint32_t f;
} f16_table[] = {
    {0x0000, 0x00000000}, /* +0 */
    {0x8000, 0x80000000}, /* -0 */
    {0x3c00, 0x3f800000}, /* 1 */
    {0xc000, 0xc0000000}, /* -2 */
    {0x3555, 0x3eaaa000}, /* 0.333251953125 */
    {0x7bff, 0x477fe000}, /* 65504, largest finite */
    {0x0400, 0x38800000}, /* 2^-14, smallest normal */
    {0x0001, 0x33800000}, /* 2^-24, smallest subnormal */
    {0x8001, 0xb3800000}, /* -2^-24 */
    {0x03ff, 0x387fc000}, /* 1023 * 2^-24, largest subnormal */
    {0x0200, 0x38000000}, /* 2^-15 */
    {0x7c00, 0x7f800000}, /* +inf */
    {0xfc00, 0xff800000}, /* -inf */
    {0x7e00, 0x7fc00000}, /* quiet NaN */
    {0x7c01, 0x7f802000}, /* signalling NaN payload kept */
};

static const struct {
    uint16_t h;
    uint32_t f;
} bf16_table[] = {
    {0x3f80, 0x3f800000}, {0xc000, 0xc0000000}, {0x0001, 0x00010000}, /* smallest subnormal */
    {0x7f80, 0x7f800000}, {0xff80, 0xff800000}, {0x7fc0, 0x7fc00000}, {0x8000, 0x80000000},
    {0x3eab, 0x3eab0000},
};

enum { N_F16 = sizeof f16_table / sizeof f16_table[0], N_BF16 = sizeof bf16_table / sizeof bf16_table[0] };

/* Conversions directly and through files (F16, BF16, F64, with an odd
 * offset so every element is unaligned). */
static void test_conversions(void)
{
    for (int i = 0; i < N_F16; i++)
        CHECK_MSG(f32_bits(stc_f16_to_f32(f16_table[i].h)) == f16_table[i].f, "f16 %04x -> %08x, want %08x",
                  f16_table[i].h, f32_bits(stc_f16_to_f32(f16_table[i].h)), f16_table[i].f);
    CHECK(stc_f16_to_f32(0x0001) == 0x1p-24f && stc_f16_to_f32(0x7bff) == 65504.0f);
    for (int i = 0; i < N_BF16; i++)
        CHECK_MSG(f32_bits(stc_bf16_to_f32(bf16_table[i].h)) == bf16_table[i].f, "bf16 %04x", bf16_table[i].h);

    uint16_t h16[N_F16], b16[N_BF16];
    for (int i = 0; i < N_F16; i++)
        h16[i] = f16_table[i].h;
    for (int i = 0; i < N_BF16; i++)
        b16[i] = bf16_table[i].h;
    double d64[5] = {1.0, -0.1, 1e-40 /* float subnormal */, 1e300 /* -> inf */, 3.0e38};
    unsigned char odd = 7;
    stc_st_write_tensor wt[4] = {
        {"odd", STC_DT_U8, 1, {1}, &odd},
        {"h", STC_DT_F16, 1, {N_F16}, h16},
        {"b", STC_DT_BF16, 2, {2, N_BF16 / 2}, b16},
        {"d", STC_DT_F64, 1, {5}, d64},
    };
    char *path = stc_path_join(tmpdir, "conv.safetensors");
    CHECK(stc_safetensors_write(path, wt, 4, NULL, NULL, 0) == 0);
    stc_safetensors st;
    CHECK_MSG(stc_safetensors_open(&st, path) == 0, "%s", stc_error_message());
    CHECK(st.n_tensors == 4 && ((uintptr_t)st.tensors[1].data & 1) == 1); /* unaligned */

    float out[16];
    int64_t shape[2] = {N_F16};
    CHECK(stc_safetensors_read_f32(&st, "h", out, 1, shape) == 0);
    for (int i = 0; i < N_F16; i++)
        CHECK_MSG(f32_bits(out[i]) == f16_table[i].f, "file f16 %04x", f16_table[i].h);
    shape[0] = 2;
    shape[1] = N_BF16 / 2;
    CHECK(stc_safetensors_read_f32(&st, "b", out, 2, shape) == 0);
    for (int i = 0; i < N_BF16; i++)
        CHECK(f32_bits(out[i]) == bf16_table[i].f);
    shape[0] = 5;
    CHECK(stc_safetensors_read_f32(&st, "d", out, 1, shape) == 0);
    for (int i = 0; i < 5; i++)
        CHECK(f32_bits(out[i]) == f32_bits((float)d64[i]));
    CHECK(out[2] != 0.0f && out[2] < 0x1p-126f && out[3] == bits_f32(0x7f800000));

    /* Errors: missing tensor, other shape, other rank, integer dtype. */
    stc_error_clear();
    CHECK(stc_safetensors_read_f32(&st, "nope", out, 1, shape) == STC_ERR_DATA);
    CHECK(strstr(stc_error_message(), path) && strstr(stc_error_message(), "tensor 'nope' not found"));
    shape[0] = N_BF16 / 2;
    shape[1] = 2;
    CHECK(stc_safetensors_read_f32(&st, "b", out, 2, shape) == STC_ERR_DATA);
    CHECK_MSG(strstr(stc_error_message(), path) && strstr(stc_error_message(), "tensor 'b'") &&
                  strstr(stc_error_message(), "shape [2, 4] in the file, expected [4, 2]"),
              "%s", stc_error_message());
    shape[0] = 2 * (N_BF16 / 2);
    CHECK(stc_safetensors_read_f32(&st, "b", out, 1, shape) == STC_ERR_DATA);
    CHECK(strstr(stc_error_message(), "expected [8]") != NULL);
    shape[0] = 1;
    CHECK(stc_safetensors_read_f32(&st, "odd", out, 1, shape) == STC_ERR_DATA);
    CHECK(strstr(stc_error_message(), "tensor 'odd'") && strstr(stc_error_message(), "dtype U8"));
    stc_safetensors_close(&st);
    free(path);
}

/* Deterministic pseudo-random bytes. */
static void fill(unsigned char *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (unsigned char)(seed >> 24);
    }
}

/* The number of entries in tmpdir whose name starts with prefix. */
static int count_files(const char *prefix)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* Every dtype written, reopened (mmap and buffer) and compared bit for bit;
 * checks the on-disk layout too. */
static void test_round_trip(void)
{
    enum { NT = 11 };
    static unsigned char buf[NT][256];
    stc_st_write_tensor wt[NT] = {
        {"embeddings.word_embeddings.weight", STC_DT_F32, 2, {3, 5}, buf[0]},
        {"f64", STC_DT_F64, 2, {2, 3}, buf[1]},
        {"f16", STC_DT_F16, 2, {2, 2}, buf[2]},
        {"bf16", STC_DT_BF16, 1, {4}, buf[3]},
        {"i64", STC_DT_I64, 1, {2}, buf[4]},
        {"i32.eight_dims", STC_DT_I32, 8, {1, 1, 1, 1, 1, 1, 1, 2}, buf[5]},
        {"i16", STC_DT_I16, 1, {3}, buf[6]},
        {"i8.zero_size", STC_DT_I8, 2, {0, 4}, NULL},
        {"u8 odd \"quoted\\\" name\n\x01", STC_DT_U8, 1, {5}, buf[8]},
        {"bool.scalar", STC_DT_BOOL, 0, {0}, buf[9]},
        {"\xc3\xa9t\xc3\xa9.\xe2\x82\xac", STC_DT_F32, 1, {1}, buf[10]},
    };
    for (int i = 0; i < NT; i++)
        fill(buf[i], sizeof buf[i], (uint32_t)i + 1);
    buf[9][0] = 1;
    const char *keys[] = {"format", "note \"q\"", "empty"};
    const char *vals[] = {"pt", "tab\there\nand \\ \xe2\x82\xac", ""};
    char *path = stc_path_join(tmpdir, "round_trip.safetensors");

    for (int pass = 0; pass < 2; pass++) { /* the second pass overwrites the file */
        CHECK_MSG(stc_safetensors_write(path, wt, NT, keys, vals, 3) == 0, "%s", stc_error_message());
        CHECK(count_files("round_trip.safetensors.tmp") == 0);
        stc_safetensors st;
        CHECK_MSG(stc_safetensors_open(&st, path) == 0, "%s", stc_error_message());
        CHECK(st.mmapped == 1 && st.n_tensors == NT && st.n_meta == 3);
        for (int i = 0; i < NT && i < st.n_tensors; i++) {
            const stc_st_tensor *t = &st.tensors[i];
            CHECK_MSG(strcmp(t->name, wt[i].name) == 0, "tensor %d is '%s'", i, t->name);
            CHECK(t->dtype == wt[i].dtype && t->ndim == wt[i].ndim);
            size_t n = stc_dtype_size(wt[i].dtype);
            for (int d = 0; d < wt[i].ndim; d++) {
                CHECK(t->shape[d] == wt[i].shape[d]);
                n *= (size_t)wt[i].shape[d];
            }
            CHECK(t->nbytes == n);
            CHECK(n == 0 || memcmp(t->data, wt[i].data, n) == 0);
            CHECK(stc_safetensors_find(&st, wt[i].name) == t);
        }
        for (int i = 0; i < 3; i++)
            CHECK(stc_safetensors_meta(&st, keys[i]) && strcmp(stc_safetensors_meta(&st, keys[i]), vals[i]) == 0);

        /* Layout: 8-aligned space-padded header, metadata first, contiguous
         * data in the given order ending at the end of the file. */
        const unsigned char *m = st.map;
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--)
            hl = (hl << 8) | m[i];
        CHECK(hl % 8 == 0);
        CHECK(memcmp(m + 8, "{\"__metadata__\":{\"format\":\"pt\"", 30) == 0);
        size_t e = (size_t)hl;
        while (e > 0 && m[8 + e - 1] == ' ')
            e--;
        CHECK(e > 0 && m[8 + e - 1] == '}' && hl - e < 8);
        const unsigned char *p = m + 8 + hl;
        for (int i = 0; i < st.n_tensors; i++) {
            CHECK(st.tensors[i].data == p);
            p += st.tensors[i].nbytes;
        }
        CHECK(p == m + st.map_len);
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == st.map_len);

        /* The same image through the buffer entry point. */
        char *data;
        size_t len;
        CHECK(stc_read_file(path, &data, &len) == 0);
        stc_safetensors st2;
        CHECK(stc_safetensors_parse(&st2, data, len, "copy") == 0);
        CHECK(st2.n_tensors == NT && st2.mmapped == 0);
        for (int i = 0; i < NT && i < st2.n_tensors; i++)
            CHECK(st2.tensors[i].nbytes == st.tensors[i].nbytes &&
                  (st2.tensors[i].nbytes == 0 ||
                   memcmp(st2.tensors[i].data, st.tensors[i].data, st2.tensors[i].nbytes) == 0));
        stc_safetensors_close(&st2);
        free(data);
        stc_safetensors_close(&st);
    }

    /* No tensors, no metadata: "{}" padded to 8. */
    char *empty = stc_path_join(tmpdir, "empty.safetensors");
    CHECK(stc_safetensors_write(empty, NULL, 0, NULL, NULL, 0) == 0);
    char *data;
    size_t len;
    CHECK(stc_read_file(empty, &data, &len) == 0);
    CHECK(len == 16 && memcmp(data + 8, "{}      ", 8) == 0 && data[0] == 8);
    free(data);
    free(empty);
    free(path);
}

/* Writer argument errors: no file is created and the message says why. */
static void test_write_errors(void)
{
    char *path = stc_path_join(tmpdir, "bad_write.safetensors");
    float x[2] = {1, 2};
    stc_st_write_tensor dup[2] = {{"w", STC_DT_F32, 1, {1}, x}, {"w", STC_DT_F32, 1, {1}, x + 1}};
    CHECK(stc_safetensors_write(path, dup, 2, NULL, NULL, 0) == STC_ERR_INTERNAL);
    CHECK(strstr(stc_error_message(), "duplicate tensor name 'w'") && strstr(stc_error_message(), path));
    stc_st_write_tensor meta_name = {"__metadata__", STC_DT_F32, 1, {1}, x};
    CHECK(stc_safetensors_write(path, &meta_name, 1, NULL, NULL, 0) == STC_ERR_INTERNAL);
    stc_st_write_tensor neg = {"n", STC_DT_F32, 1, {-1}, x};
    CHECK(stc_safetensors_write(path, &neg, 1, NULL, NULL, 0) == STC_ERR_INTERNAL);
    stc_st_write_tensor nine = {"n", STC_DT_F32, 9, {1}, x};
    CHECK(stc_safetensors_write(path, &nine, 1, NULL, NULL, 0) == STC_ERR_INTERNAL);
    stc_st_write_tensor badutf = {"n\xff", STC_DT_F32, 1, {1}, x};
    CHECK(stc_safetensors_write(path, &badutf, 1, NULL, NULL, 0) == STC_ERR_INTERNAL);
    stc_st_write_tensor nodata = {"n", STC_DT_F32, 1, {2}, NULL};
    CHECK(stc_safetensors_write(path, &nodata, 1, NULL, NULL, 0) == STC_ERR_INTERNAL);
    const char *k[2] = {"a", "a"}, *v[2] = {"1", "2"};
    CHECK(stc_safetensors_write(path, dup, 1, k, v, 2) == STC_ERR_INTERNAL);
    CHECK(strstr(stc_error_message(), "duplicate metadata key 'a'") != NULL);
    CHECK(!stc_is_file(path) && count_files("bad_write") == 0);

    char *nodir = stc_path_join(tmpdir, "no/such/dir.safetensors");
    CHECK(stc_safetensors_write(nodir, dup, 1, NULL, NULL, 0) == STC_ERR_IO);
    free(nodir);

    /* Opening what is not there or not a file is an I/O error. */
    stc_safetensors st;
    CHECK(stc_safetensors_open(&st, path) == STC_ERR_IO && strstr(stc_error_message(), path));
    CHECK(stc_safetensors_open(&st, tmpdir) == STC_ERR_IO);
    free(path);
}

/* The committed seed corpus holds exactly the hand-made cases, and the
 * round-trip file written by the writer is in it too. */
static void test_corpus(void)
{
    int missing = 0;
    for (int i = 0; i < N_CASES; i++) {
        char *path = stc_path_join(CORPUS_DIR, cases[i].file);
        char *data = NULL;
        size_t len = 0;
        bytes b = build_case(&cases[i]);
        int ok = stc_read_file(path, &data, &len) == 0 && len == b.len && memcmp(data, b.p, len) == 0;
        if (!ok)
            missing++;
        CHECK_MSG(ok, "%s is missing or stale", path);
        free(data);
        free(b.p);
        free(path);
    }
    /* Every corpus file is judged as its name says. */
    DIR *d = opendir(CORPUS_DIR);
    CHECK_MSG(d != NULL, "cannot open %s", CORPUS_DIR);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        int good = strncmp(e->d_name, "good_", 5) == 0;
        if (!good && strncmp(e->d_name, "bad_", 4) != 0)
            continue;
        char *path = stc_path_join(CORPUS_DIR, e->d_name);
        stc_safetensors st;
        int rc = stc_safetensors_open(&st, path);
        CHECK_MSG(good ? rc == 0 : rc == STC_ERR_DATA, "%s: rc %d: %s", path, rc, stc_error_message());
        stc_safetensors_close(&st);
        free(path);
        n++;
    }
    if (d)
        closedir(d);
    CHECK(n >= N_CASES + 1);
    if (missing)
        fprintf(stderr, "regenerate with: test_safetensors --write-corpus tests/" CORPUS_DIR
                        " (from the source root)\n");
}

/* Writes the cases and a writer-made file with every dtype into dir. */
static int write_corpus(const char *dir)
{
    for (int i = 0; i < N_CASES; i++) {
        bytes b = build_case(&cases[i]);
        char *path = stc_path_join(dir, cases[i].file);
        int rc = write_bytes(path, b.p, b.len);
        free(path);
        free(b.p);
        if (rc) {
            fprintf(stderr, "cannot write into %s\n", dir);
            return 1;
        }
    }
    unsigned char data[64];
    fill(data, sizeof data, 42);
    stc_st_write_tensor wt[] = {
        {"f64", STC_DT_F64, 1, {1}, data},      {"f32", STC_DT_F32, 2, {1, 2}, data},
        {"f16", STC_DT_F16, 1, {3}, data},      {"bf16", STC_DT_BF16, 1, {1}, data},
        {"i64", STC_DT_I64, 1, {1}, data},      {"i32", STC_DT_I32, 0, {0}, data},
        {"i16", STC_DT_I16, 1, {0}, NULL},      {"i8", STC_DT_I8, 1, {3}, data},
        {"u8", STC_DT_U8, 1, {1}, data},        {"bool", STC_DT_BOOL, 3, {1, 1, 2}, data},
    };
    const char *k[] = {"format"}, *v[] = {"pt"};
    char *path = stc_path_join(dir, "good_writer_all_dtypes.safetensors");
    int rc = stc_safetensors_write(path, wt, (int)(sizeof wt / sizeof wt[0]), k, v, 1);
    free(path);
    if (rc) {
        fprintf(stderr, "%s\n", stc_error_message());
        return 1;
    }
    printf("wrote %d files into %s\n", N_CASES + 1, dir);
    return 0;
}

/* Removes tmpdir and what the tests left in it. */
static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = stc_path_join(tmpdir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK(stc_dtype_size(STC_DT_BF16) == 2 && stc_dtype_size(STC_DT_F64) == 8 &&
          stc_dtype_size(STC_DT_BOOL) == 1 && stc_dtype_size(STC_DT_COUNT) == 0);
    CHECK(strcmp(stc_dtype_name(STC_DT_BF16), "BF16") == 0 && strcmp(stc_dtype_name(STC_DT_I16), "I16") == 0);
    test_cases();
    test_good_contents();
    test_conversions();
    test_round_trip();
    test_write_errors();
    test_corpus();
    remove_tmpdir();
    return check_report("test_safetensors");
}

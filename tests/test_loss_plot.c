/*
 * trainer/loss_plot.h and util/png.h: synthetic log histories are plotted,
 * and the PNGs are decoded here (own reader over zlib: chunk CRCs, IHDR,
 * inflate, row filters) so the checks are about pixels: each curve's colour,
 * where its end points land under the frame's axis mapping, what is left out.
 */
#include "tests/check.h"
#include "trainer/loss_plot.h"
#include "util/error.h"
#include "util/fileio.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A decoded image: rgb (h, w, 3). */
typedef struct {
    int w, h;
    uint8_t *rgb;
} image;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undoes the per-row filters (all five types) of 8-bit RGB rows in place:
 * raw is h rows of (filter byte, 3w bytes); rgb gets the pixels. */
static int unfilter(uint8_t *rgb, const uint8_t *raw, int w, int h)
{
    size_t row = 3 * (size_t)w;
    for (int y = 0; y < h; y++) {
        const uint8_t *in = raw + (size_t)y * (row + 1) + 1;
        uint8_t *out = rgb + (size_t)y * row;
        const uint8_t *up = y ? out - row : NULL;
        for (size_t i = 0; i < row; i++) {
            int a = i >= 3 ? out[i - 3] : 0, b = up ? up[i] : 0, c = up && i >= 3 ? up[i - 3] : 0;
            int pred;
            switch (in[-1]) {
            case 0: pred = 0; break;
            case 1: pred = a; break;
            case 2: pred = b; break;
            case 3: pred = (a + b) / 2; break;
            case 4: pred = paeth(a, b, c); break;
            default: return -1;
            }
            out[i] = (uint8_t)(in[i] + pred);
        }
    }
    return 0;
}

/* Reads an 8-bit RGB, non-interlaced PNG, checking its structure as it goes
 * (CHECK failures count); 0 when the pixels could be decoded. */
static int png_read(const char *path, image *im)
{
    char *data;
    size_t len;
    im->w = im->h = 0;
    im->rgb = NULL;
    if (stc_read_file(path, &data, &len))
        return -1;
    const uint8_t *p = (const uint8_t *)data;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int rc = -1;
    uint8_t *idat = NULL, *raw = NULL;
    size_t idat_len = 0, off = 8;
    int chunks = 0, ended = 0;
    CHECK(len > 8 && memcmp(p, sig, 8) == 0);
    while (!ended && off + 12 <= len) {
        uint32_t n = be32(p + off);
        const char *type = (const char *)p + off + 4;
        const uint8_t *body = p + off + 8;
        if (n > len - off - 12) {
            CHECK_MSG(0, "%s: chunk overruns the file", path);
            goto out;
        }
        CHECK_MSG(crc32(0L, p + off + 4, n + 4) == be32(body + n), "%s: bad CRC of %.4s", path, type);
        if (chunks++ == 0) {
            CHECK(!memcmp(type, "IHDR", 4) && n == 13);
            im->w = (int)be32(body);
            im->h = (int)be32(body + 4);
            CHECK(body[8] == 8 && body[9] == 2); /* 8-bit RGB */
            CHECK(body[10] == 0 && body[11] == 0 && body[12] == 0);
        } else if (!memcmp(type, "IDAT", 4)) {
            uint8_t *grown = realloc(idat, idat_len + n + 1);
            if (!grown)
                goto out;
            idat = grown;
            memcpy(idat + idat_len, body, n);
            idat_len += n;
        } else if (!memcmp(type, "IEND", 4)) {
            ended = 1;
            CHECK(n == 0 && off + 12 == len);
        }
        off += 12 + (size_t)n;
    }
    CHECK(ended && idat_len > 0);
    if (!ended || im->w <= 0 || im->h <= 0 || im->w > 16384 || im->h > 16384)
        goto out;
    uLongf raw_len = (uLongf)im->h * (1 + 3 * (uLongf)im->w), want = raw_len;
    raw = malloc(raw_len);
    im->rgb = malloc((size_t)want);
    if (!raw || !im->rgb)
        goto out;
    CHECK(uncompress(raw, &raw_len, idat, (uLong)idat_len) == Z_OK && raw_len == want);
    if (raw_len == want && unfilter(im->rgb, raw, im->w, im->h) == 0)
        rc = 0;
out:
    free(raw);
    free(idat);
    free(data);
    return rc;
}

/* Pixels of colour in the square of radius r around (x, y), clipped. */
static int count_near(const image *im, uint32_t color, int x, int y, int r)
{
    int n = 0;
    for (int j = y - r; j <= y + r; j++)
        for (int i = x - r; i <= x + r; i++) {
            if (i < 0 || j < 0 || i >= im->w || j >= im->h)
                continue;
            const uint8_t *q = im->rgb + ((size_t)j * (size_t)im->w + (size_t)i) * 3;
            n += ((uint32_t)q[0] << 16 | (uint32_t)q[1] << 8 | q[2]) == color;
        }
    return n;
}

static int count_all(const image *im, uint32_t color)
{
    return count_near(im, color, im->w / 2, im->h / 2, im->w > im->h ? im->w : im->h);
}

/* The frame's documented data -> pixel mapping (loss_plot.h). */
static int col(const stc_loss_plot_frame *f, double x)
{
    return (int)lround(f->left + (x - f->x0) / (f->x1 - f->x0) * (f->right - f->left));
}

static int row(const stc_loss_plot_frame *f, double y)
{
    return (int)lround(f->bottom - (y - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top));
}

/* Appends {"step": step, key: value, ...} (NULL-terminated pairs) to h; a
 * NaN value is stored as null, as log.jsonl has it. */
static cJSON *add_line(cJSON *h, double step, ...)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", step);
    va_list ap;
    va_start(ap, step);
    for (const char *key; (key = va_arg(ap, const char *));) {
        double v = va_arg(ap, double);
        if (isnan(v))
            cJSON_AddNullToObject(o, key);
        else
            cJSON_AddNumberToObject(o, key, v);
    }
    va_end(ap);
    cJSON_AddItemToArray(h, o);
    return o;
}

static double train_loss(int k) { return 0.1 + 2.0 * exp(-k / 10.0); }

/* Steps 10..500, decreasing loss; other training keys are not losses. */
static cJSON *training_history(void)
{
    cJSON *h = cJSON_CreateArray();
    for (int k = 1; k <= 50; k++)
        add_line(h, 10.0 * k, "epoch", k / 50.0, "loss", train_loss(k), "grad_norm", 5.0, "learning_rate", 2e-5,
                 (const char *)NULL);
    return h;
}

static char *path_in(const char *dir, const char *name)
{
    char *p = stc_path_join(dir, name);
    if (!p)
        abort();
    return p;
}

/* Plots h to dir/name, decodes it and checks the frame matches the image. */
static int plot(const cJSON *h, const char *dir, const char *name, stc_loss_plot_frame *f, image *im)
{
    char *path = path_in(dir, name);
    int rc = stc_loss_plot_write(h, path);
    CHECK_MSG(rc == 0, "%s", stc_error_message());
    CHECK(stc_loss_plot_layout(h, f) == 0);
    int dec = png_read(path, im);
    CHECK_MSG(dec == 0, "%s: not decoded", path);
    if (!dec)
        CHECK(im->w == f->width && im->h == f->height && f->left < f->right && f->top < f->bottom);
    free(path);
    return rc || dec;
}

static void test_training(const char *dir)
{
    cJSON *h = training_history();
    stc_loss_plot_frame f;
    image im;
    if (!plot(h, dir, "train.png", &f, &im)) {
        uint32_t c0 = stc_loss_plot_color(0);
        CHECK(im.w >= 600 && im.h >= 400);
        CHECK(f.x0 <= 10 && f.x1 >= 500 && f.x1 - f.x0 <= 1000);
        CHECK(f.y0 <= train_loss(50) && f.y1 >= train_loss(1) && f.y1 < 5.0); /* grad_norm is no loss */
        CHECK(count_all(&im, c0) > 300);
        CHECK(count_all(&im, stc_loss_plot_color(1)) == 0);
        CHECK_MSG(count_near(&im, c0, col(&f, 10), row(&f, train_loss(1)), 2) > 0, "first point");
        CHECK_MSG(count_near(&im, c0, col(&f, 500), row(&f, train_loss(50)), 2) > 0, "last point");
        /* Not everywhere: the curve starts high, so the lower left is clear. */
        CHECK(count_near(&im, c0, col(&f, 10), row(&f, train_loss(50)), 2) == 0);
    }
    free(im.rgb);
    cJSON_Delete(h);
}

static void test_eval(const char *dir)
{
    cJSON *h = training_history();
    for (int s = 0; s <= 500; s += 100)
        add_line(h, s, "eval_loss", 2.5 - s / 1000.0, "eval_dev_loss", 1.5, "eval_dev_cosine_accuracy", 0.9,
                 "eval_runtime", 1000.0, "eval_samples_per_second", 300.0, "epoch", s / 500.0, (const char *)NULL);
    stc_loss_plot_frame f;
    image im;
    if (!plot(h, dir, "eval.png", &f, &im)) {
        CHECK(f.n_series == 3); /* loss, eval_loss, eval_dev_loss */
        CHECK(f.y1 >= 2.5 && f.y1 < 5.0);
        CHECK(count_all(&im, stc_loss_plot_color(0)) > 300);
        CHECK(count_all(&im, stc_loss_plot_color(1)) > 50);
        CHECK(count_all(&im, stc_loss_plot_color(2)) > 50);
        CHECK(count_all(&im, stc_loss_plot_color(3)) == 0); /* accuracy is not plotted */
        CHECK(count_near(&im, stc_loss_plot_color(1), col(&f, 0), row(&f, 2.5), 2) > 0);
        CHECK(count_near(&im, stc_loss_plot_color(2), col(&f, 300), row(&f, 1.5), 2) > 0);
        CHECK_MSG(count_near(&im, stc_loss_plot_color(0), col(&f, 500), row(&f, train_loss(50)), 2) > 0,
                  "last training point");
    }
    free(im.rgb);
    cJSON_Delete(h);
}

/* Nothing to plot: no file, no error. */
static void test_empty(const char *dir)
{
    char *path = path_in(dir, "empty.png");
    cJSON *h = cJSON_CreateArray();
    CHECK(stc_loss_plot_write(h, path) == 0 && !stc_is_file(path));
    CHECK(stc_loss_plot_write(NULL, path) == 0 && !stc_is_file(path));
    add_line(h, 10, "loss", NAN, "grad_norm", 1.0, (const char *)NULL);
    add_line(h, 10, "eval_runtime", 3.0, "eval_dev_cosine_accuracy", 0.5, (const char *)NULL);
    CHECK(stc_loss_plot_write(h, path) == 0 && !stc_is_file(path));
    stc_loss_plot_frame f;
    CHECK(stc_loss_plot_layout(h, &f) == 0 && f.width == 0 && f.height == 0);
    cJSON_Delete(h);
    free(path);
}

/* null (logged NaN), non-finite and non-number losses and step-less lines
 * are skipped; the rest is plotted. */
static void test_nan(const char *dir)
{
    cJSON *h = cJSON_CreateArray();
    add_line(h, 10, "loss", 1.0, (const char *)NULL);
    add_line(h, 20, "loss", NAN, (const char *)NULL);
    cJSON_AddItemToObject(add_line(h, 30, (const char *)NULL), "loss", cJSON_CreateString("nan"));
    cJSON_AddNumberToObject(add_line(h, 40, (const char *)NULL), "loss", INFINITY);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "loss", 50.0);
    cJSON_AddItemToArray(h, o);
    cJSON_AddItemToArray(h, cJSON_CreateString("not a line"));
    add_line(h, 50, "loss", 0.5, "eval_loss", NAN, (const char *)NULL);
    stc_loss_plot_frame f;
    image im;
    if (!plot(h, dir, "nan.png", &f, &im)) {
        CHECK(f.y0 <= 0.5 && f.y1 >= 1.0 && f.y1 < 10.0);
        CHECK(count_near(&im, stc_loss_plot_color(0), col(&f, 10), row(&f, 1.0), 2) > 0);
        CHECK(count_near(&im, stc_loss_plot_color(0), col(&f, 50), row(&f, 0.5), 2) > 0);
        CHECK(count_all(&im, stc_loss_plot_color(1)) == 0); /* eval_loss was only null */
    }
    free(im.rgb);
    cJSON_Delete(h);
}

/* One point, and a flat line: both ranges get padded around the values. */
static void test_degenerate(const char *dir)
{
    cJSON *h = cJSON_CreateArray();
    add_line(h, 0, "loss", 0.5, (const char *)NULL);
    stc_loss_plot_frame f;
    image im;
    if (!plot(h, dir, "single.png", &f, &im)) {
        CHECK(f.x0 <= 0 && f.x1 > f.x0 && f.y0 < 0.5 && f.y1 > 0.5);
        CHECK(count_near(&im, stc_loss_plot_color(0), col(&f, 0), row(&f, 0.5), 2) > 0);
    }
    free(im.rgb);
    cJSON_Delete(h);

    h = cJSON_CreateArray();
    for (int k = 0; k < 10; k++)
        add_line(h, 100 + k, "loss", 0.7, (const char *)NULL);
    if (!plot(h, dir, "flat.png", &f, &im)) {
        CHECK(f.y0 < 0.7 && f.y1 > 0.7 && f.y1 - f.y0 < 1.0);
        CHECK(count_near(&im, stc_loss_plot_color(0), col(&f, 109), row(&f, 0.7), 2) > 0);
        CHECK(count_near(&im, stc_loss_plot_color(0), col(&f, 100), row(&f, 0.7), 2) > 0);
    }
    free(im.rgb);
    cJSON_Delete(h);
}

/* Extreme values still give a finite frame and a file. */
static void test_extreme(const char *dir)
{
    static const double pairs[][2] = {{0, 0}, {5e-324, 5e-324}, {1e-300, 1e300}, {-1e308, 1e308}, {1e15, 1e15 + 1}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        cJSON *h = cJSON_CreateArray();
        add_line(h, 1e12, "loss", pairs[i][0], (const char *)NULL);
        add_line(h, 1e12 + 1, "loss", pairs[i][1], (const char *)NULL);
        stc_loss_plot_frame f;
        image im;
        if (!plot(h, dir, "extreme.png", &f, &im)) {
            CHECK_MSG(isfinite(f.y0) && isfinite(f.y1) && f.y0 < f.y1 && f.y0 <= pairs[i][0] && f.y1 >= pairs[i][1],
                      "losses %g, %g: y axis %g..%g", pairs[i][0], pairs[i][1], f.y0, f.y1);
            CHECK(count_all(&im, stc_loss_plot_color(0)) > 0);
        }
        free(im.rgb);
        cJSON_Delete(h);
    }
}

/* Nice ticks and their labels at the scales runs have. */
static void test_ticks(const char *dir)
{
    cJSON *h = cJSON_CreateArray();
    for (int k = 0; k <= 100; k++)
        add_line(h, 1000.0 * k, "loss", 1e-5 + 4e-5 * k / 100.0, (const char *)NULL);
    stc_loss_plot_frame f;
    image im;
    if (!plot(h, dir, "ticks.png", &f, &im)) {
        CHECK(f.x0 == 0 && f.x1 == 100000 && f.x_step == 20000);
        CHECK_NEAR(f.y_step, 1e-5, 1e-12);
        CHECK_NEAR(f.y0, 1e-5, 1e-12);
        CHECK_NEAR(f.y1, 5e-5, 1e-12);
    }
    free(im.rgb);
    cJSON_Delete(h);

    static const struct {
        double v, step;
        const char *want;
    } cases[] = {
        {40000, 20000, "40000"}, {0, 20000, "0"},         {1e-5, 1e-5, "1e-05"},   {3e-5, 1e-5, "3e-05"},
        {2e-4, 1e-4, "0.0002"},  {4e-4, 2e-4, "0.0004"}, {1.5, 0.5, "1.5"},       {-1e-17, 0.5, "0.0"},
        {0, 1e-5, "0"},          {1.5e-4, 5e-5, "1.5e-04"}, {0.35, 0.05, "0.35"}, {2e6, 1e6, "2e+06"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        stc_loss_plot_tick_label(buf, sizeof buf, cases[i].v, cases[i].step);
        CHECK_MSG(!strcmp(buf, cases[i].want), "label(%g, %g) = \"%s\", want \"%s\"", cases[i].v, cases[i].step, buf,
                  cases[i].want);
    }
}

static void test_bad_path(const char *dir)
{
    char *path = path_in(dir, "no-such-dir/loss.png");
    cJSON *h = training_history();
    stc_error_clear();
    CHECK(stc_loss_plot_write(h, path) == STC_ERR_IO);
    CHECK_MSG(strstr(stc_error_message(), path) != NULL, "message \"%s\" does not name %s", stc_error_message(), path);
    cJSON_Delete(h);
    free(path);
}

/* An independent reader, where the machine has one: Python's PIL. */
static void test_pil(const char *dir)
{
    if (system("python3 -c 'import PIL' >/dev/null 2>&1") != 0) {
        printf("test_loss_plot: skipping the PIL check: python3 has no PIL (pip install pillow)\n");
        return;
    }
    char *path = path_in(dir, "eval.png");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); "
             "sys.exit(0 if im.mode == \"RGB\" and im.size == (800, 500) else 1)' '%s'",
             path);
    CHECK_MSG(system(cmd) == 0, "PIL cannot open %s as 800x500 RGB", path);
    free(path);
}

int main(void)
{
    char dir[] = "/tmp/stc_test_loss_plot_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_training(dir);
    test_eval(dir);
    test_empty(dir);
    test_nan(dir);
    test_degenerate(dir);
    test_extreme(dir);
    test_ticks(dir);
    test_bad_path(dir);
    test_pil(dir);
    if (check_failures)
        printf("test_loss_plot: images kept in %s\n", dir);
    else
        stc_remove_tree(dir);
    return check_report("test_loss_plot");
}

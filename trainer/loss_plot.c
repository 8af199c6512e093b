/*
 * Loss curve PNG (loss_plot.h). Three steps: collect the series from the log
 * history, lay out the frame (tick-aligned axis ranges, margins sized by the
 * labels), draw on a util/canvas.h raster and write it with util/png.h.
 *
 * Image layout (pixels):
 *
 *            title "loss"
 *   y tick  +--------------------+   legend
 *   labels  |   plot area        |   -- loss
 *           |                    |   -o- eval_loss
 *           +--------------------+
 *            x tick labels, "step"
 */
#include "trainer/loss_plot.h"

#include "util/canvas.h"
#include "util/error.h"
#include "util/png.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    WIDTH = 800,
    HEIGHT = 500,
    TICKS = 6,       /* about this many tick intervals per axis */
    INSET = 6,       /* the frame is drawn this far outside the plot area: end points stay clear of it */
    TICK_LEN = 5,    /* tick marks stick out of the frame this far */
    TEXT = 1,        /* font scale of tick labels and legend */
    TITLE = 2,       /* font scale of the title */
    SWATCH = 20,     /* legend: length of the line sample */
    LEGEND_ROW = 16, /* legend: pixels per entry */
    LABEL_MAX = 32    /* legend: longer series names are cut */
};

#define WHITE 0xFFFFFFu
#define BLACK 0x000000u
#define GRID 0xE5E5E5u

/* One curve. */
typedef struct {
    const char *name; /* legend label: "loss", or the eval key (points into the history) */
    double *x, *y;    /* (n) step, loss */
    int n, cap;       /* points held, allocated */
} series;

/* All curves of a history: [0] the training loss (possibly empty), then the
 * eval losses in order of first appearance, so colours stay the same from
 * one plot of a run to the next. */
typedef struct {
    series *s; /* (n) */
    int n;
} curves;

/* matplotlib's default colour cycle (tab10), which users know from their
 * Python loss plots, less its grey: the grid is grey. */
static const uint32_t palette[] = {0x1F77B4, 0xFF7F0E, 0x2CA02C, 0xD62728, 0x9467BD,
                                   0x8C564B, 0xE377C2, 0xBCBD22, 0x17BECF};

uint32_t stc_loss_plot_color(int i)
{
    return palette[(size_t)i % (sizeof palette / sizeof palette[0])];
}

/* eval_loss and eval_<name>_loss; not eval_runtime nor an evaluator metric. */
static int is_eval_loss(const char *key)
{
    size_t n = strlen(key);
    return n >= strlen("eval_loss") && !strncmp(key, "eval_", 5) && !strcmp(key + n - 5, "_loss");
}

static void curves_free(curves *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->s[i].x);
        free(c->s[i].y);
    }
    free(c->s);
    c->s = NULL;
    c->n = 0;
}

static int series_add(series *s, double x, double y)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (nx)
            s->x = nx;
        double *ny = nx ? realloc(s->y, (size_t)cap * sizeof *ny) : NULL;
        if (!ny)
            return stc_errorf(STC_ERR_NOMEM, "out of memory (loss plot points)");
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 0;
}

/* The series named key, added at the end if new (NULL when out of memory). */
static series *curves_get(curves *c, const char *key)
{
    for (int i = 1; i < c->n; i++)
        if (!strcmp(c->s[i].name, key))
            return &c->s[i];
    series *ns = realloc(c->s, (size_t)(c->n + 1) * sizeof *ns);
    if (!ns) {
        stc_errorf(STC_ERR_NOMEM, "out of memory (loss plot series)");
        return NULL;
    }
    c->s = ns;
    memset(&c->s[c->n], 0, sizeof c->s[c->n]);
    c->s[c->n].name = key;
    return &c->s[c->n++];
}

/* Every finite loss of the history's lines that have a finite step. NaN is
 * logged as null (cJSON has no NaN), so non-numbers are skipped too. */
static int collect(const cJSON *history, curves *c)
{
    c->n = 0;
    c->s = NULL;
    if (!curves_get(c, "loss"))
        return STC_ERR_NOMEM;
    const cJSON *line;
    cJSON_ArrayForEach(line, history) {
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(line, "step");
        if (!cJSON_IsNumber(step) || !isfinite(step->valuedouble))
            continue;
        const cJSON *e;
        cJSON_ArrayForEach(e, line) {
            if (!e->string || !cJSON_IsNumber(e) || !isfinite(e->valuedouble))
                continue;
            series *s = NULL;
            if (!strcmp(e->string, "loss"))
                s = &c->s[0];
            else if (is_eval_loss(e->string) && !(s = curves_get(c, e->string)))
                return STC_ERR_NOMEM;
            if (s && series_add(s, step->valuedouble, e->valuedouble))
                return STC_ERR_NOMEM;
        }
    }
    return 0;
}

/* [lo, hi] widened to whole ticks, the step being 1, 2 or 5 x 10^k for about
 * TICKS intervals (integer: at least 1, for steps). An empty range (one
 * point, all-equal losses) is padded first so that it has a height. */
static void nice_axis(double lo, double hi, int integer, double *a0, double *a1, double *step)
{
    if (!(hi - lo > 1e-9 * fmax(fabs(lo), fabs(hi)))) {
        double pad = 0.1 * fabs(lo);
        if (!(pad > 1e-300))
            pad = 1; /* 0, or so small that it would not widen the range */
        lo -= pad;
        hi += pad;
    }
    double raw = hi / TICKS - lo / TICKS; /* not (hi - lo) / TICKS: no overflow near DBL_MAX */
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double s = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    if (integer && s < 1)
        s = 1;
    /* The 1e-9 keeps a bound that is a tick up to rounding from gaining a
     * whole empty interval. */
    *a0 = floor(lo / s + 1e-9) * s;
    *a1 = ceil(hi / s - 1e-9) * s;
    *step = s;
}

void stc_loss_plot_tick_label(char *buf, size_t n, double v, double step)
{
    int e_step = (int)floor(log10(step) + 1e-9);
    if (fabs(v) < 1e-6 * step)
        v = 0; /* k * step rounding to -1e-17 is the 0 tick, not "-0.00" */
    if (e_step >= -4 && e_step < 6) {
        snprintf(buf, n, "%.*f", e_step < 0 ? -e_step : 0, v);
    } else if (v == 0) {
        snprintf(buf, n, "0");
    } else {
        int digits = (int)floor(log10(fabs(v)) + 1e-9) - e_step;
        snprintf(buf, n, "%.*e", digits > 0 ? digits : 0, v);
    }
}

/* Tick intervals on an axis (counted, not stepped to: rounding could lose
 * the last tick). */
static int n_ticks(double a0, double a1, double step)
{
    return (int)lround((a1 - a0) / step);
}

/* The legend's text for a series: its name, cut to LABEL_MAX characters. */
static void legend_label(char buf[LABEL_MAX + 1], const series *s)
{
    snprintf(buf, LABEL_MAX + 1, "%s", s->name);
}

static void layout(const curves *c, stc_loss_plot_frame *f)
{
    memset(f, 0, sizeof *f);
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int legend_w = 0;
    for (int i = 0; i < c->n; i++) {
        const series *s = &c->s[i];
        for (int k = 0; k < s->n; k++) {
            xmin = fmin(xmin, s->x[k]);
            xmax = fmax(xmax, s->x[k]);
            ymin = fmin(ymin, s->y[k]);
            ymax = fmax(ymax, s->y[k]);
        }
        char name[LABEL_MAX + 1];
        legend_label(name, s);
        if (s->n && stc_canvas_text_width(name, TEXT) > legend_w)
            legend_w = stc_canvas_text_width(name, TEXT);
    }
    if (xmin > xmax)
        return; /* no point at all: 0 x 0 */
    f->width = WIDTH;
    f->height = HEIGHT;
    f->n_series = c->n;
    nice_axis(xmin, xmax, 1, &f->x0, &f->x1, &f->x_step);
    nice_axis(ymin, ymax, 0, &f->y0, &f->y1, &f->y_step);

    /* The left margin fits the widest y tick label. */
    int label_w = 0;
    for (int i = 0; i <= n_ticks(f->y0, f->y1, f->y_step); i++) {
        char buf[64];
        stc_loss_plot_tick_label(buf, sizeof buf, f->y0 + i * f->y_step, f->y_step);
        int w = stc_canvas_text_width(buf, TEXT);
        label_w = w > label_w ? w : label_w;
    }
    f->left = label_w + TICK_LEN + 12 + INSET;
    f->right = WIDTH - 1 - (SWATCH + 6 + legend_w + 16 + INSET);
    f->top = 16 + STC_CANVAS_GLYPH_HEIGHT * TITLE + 12 + INSET;
    f->bottom = HEIGHT - 1 - (TICK_LEN + 2 * STC_CANVAS_GLYPH_HEIGHT * TEXT + 20 + INSET);
}

int stc_loss_plot_layout(const cJSON *history, stc_loss_plot_frame *frame)
{
    curves c;
    int rc = collect(history, &c);
    if (!rc)
        layout(&c, frame);
    curves_free(&c);
    return rc;
}

/* A pixel coordinate from a double, clamped first: converting a NaN or a
 * value beyond int to int is undefined behaviour. */
static int to_px(double v)
{
    if (!(v > -1e6))
        v = -1e6;
    if (!(v < 1e6))
        v = 1e6;
    return (int)lround(v);
}

static int col_of(const stc_loss_plot_frame *f, double x)
{
    return to_px(f->left + (x - f->x0) / (f->x1 - f->x0) * (f->right - f->left));
}

static int row_of(const stc_loss_plot_frame *f, double y)
{
    return to_px(f->bottom - (y - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top));
}

/* Grid lines, the frame, tick marks and their labels, title and axis name. */
static void draw_axes(stc_canvas *cv, const stc_loss_plot_frame *f)
{
    char buf[64];
    int gh = STC_CANVAS_GLYPH_HEIGHT * TEXT;
    int l = f->left - INSET, r = f->right + INSET, t = f->top - INSET, b = f->bottom + INSET; /* the frame */
    int nx = n_ticks(f->x0, f->x1, f->x_step), ny = n_ticks(f->y0, f->y1, f->y_step);
    for (int i = 0; i <= nx; i++) {
        double v = f->x0 + i * f->x_step;
        int x = col_of(f, v);
        stc_canvas_fill_rect(cv, x, t, x, b, GRID);
        stc_canvas_fill_rect(cv, x, b, x, b + TICK_LEN, BLACK);
        stc_loss_plot_tick_label(buf, sizeof buf, v, f->x_step);
        stc_canvas_text(cv, x - stc_canvas_text_width(buf, TEXT) / 2, b + TICK_LEN + 4, buf, TEXT, BLACK);
    }
    for (int i = 0; i <= ny; i++) {
        double v = f->y0 + i * f->y_step;
        int y = row_of(f, v);
        stc_canvas_fill_rect(cv, l, y, r, y, GRID);
        stc_canvas_fill_rect(cv, l - TICK_LEN, y, l, y, BLACK);
        stc_loss_plot_tick_label(buf, sizeof buf, v, f->y_step);
        stc_canvas_text(cv, l - TICK_LEN - 4 - stc_canvas_text_width(buf, TEXT), y - 3 * TEXT, buf, TEXT, BLACK);
    }
    stc_canvas_fill_rect(cv, l, t, r, t, BLACK);
    stc_canvas_fill_rect(cv, l, b, r, b, BLACK);
    stc_canvas_fill_rect(cv, l, t, l, b, BLACK);
    stc_canvas_fill_rect(cv, r, t, r, b, BLACK);

    const char *title = "loss";
    stc_canvas_text(cv, (l + r - stc_canvas_text_width(title, TITLE)) / 2, 16, title, TITLE, BLACK);
    const char *xname = "step";
    stc_canvas_text(cv, (l + r - stc_canvas_text_width(xname, TEXT)) / 2, b + TICK_LEN + 4 + gh + 8, xname, TEXT,
                    BLACK);
}

/* Series i: a 2 px polyline; eval series (and lone points) get markers. */
static void draw_series(stc_canvas *cv, const stc_loss_plot_frame *f, const series *s, int i)
{
    uint32_t color = stc_loss_plot_color(i);
    for (int k = 1; k < s->n; k++)
        stc_canvas_line(cv, col_of(f, s->x[k - 1]), row_of(f, s->y[k - 1]), col_of(f, s->x[k]), row_of(f, s->y[k]),
                        2, color);
    if (i > 0 || s->n == 1)
        for (int k = 0; k < s->n; k++)
            stc_canvas_disc(cv, col_of(f, s->x[k]), row_of(f, s->y[k]), 3, color);
}

/* One legend row per non-empty series, right of the plot area. */
static void draw_legend(stc_canvas *cv, const stc_loss_plot_frame *f, const curves *c)
{
    int x = f->right + INSET + 16, y = f->top - INSET;
    for (int i = 0; i < c->n; i++) {
        if (!c->s[i].n)
            continue;
        uint32_t color = stc_loss_plot_color(i);
        int mid = y + 3 * TEXT;
        stc_canvas_line(cv, x, mid, x + SWATCH - 1, mid, 2, color);
        if (i > 0)
            stc_canvas_disc(cv, x + SWATCH / 2, mid, 3, color);
        char name[LABEL_MAX + 1];
        legend_label(name, &c->s[i]);
        stc_canvas_text(cv, x + SWATCH + 6, y, name, TEXT, BLACK);
        y += LEGEND_ROW;
    }
}

int stc_loss_plot_write(const cJSON *history, const char *path)
{
    curves c;
    int rc = collect(history, &c);
    if (rc)
        goto out_free_curves;
    stc_loss_plot_frame f;
    layout(&c, &f);
    if (!f.width)
        goto out_free_curves; /* nothing to plot: no file */

    stc_canvas cv;
    if ((rc = stc_canvas_init(&cv, f.width, f.height, WHITE)))
        goto out_free_curves;
    draw_axes(&cv, &f);
    for (int i = 0; i < c.n; i++)
        draw_series(&cv, &f, &c.s[i], i);
    draw_legend(&cv, &f, &c);
    rc = stc_png_write_rgb(path, cv.rgb, cv.width, cv.height);
    stc_canvas_free(&cv);
out_free_curves:
    curves_free(&c);
    if (rc)
        stc_error_prefix(rc, "loss plot");
    return rc;
}

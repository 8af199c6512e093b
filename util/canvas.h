/*
 * A small RGB raster for plots: filled rectangles, thick lines, discs and
 * text in an embedded 5x7 bitmap font. Everything clips to the canvas, so
 * callers may draw partly (or wholly) outside it. Colours are 0xRRGGBB.
 */
#ifndef STC_UTIL_CANVAS_H
#define STC_UTIL_CANVAS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One glyph cell at scale 1: 5 columns plus a blank one between letters;
 * 7 rows above the baseline and 1 below it (descenders of g, j, p, q, y). */
#define STC_CANVAS_GLYPH_ADVANCE 6
#define STC_CANVAS_GLYPH_HEIGHT 8

typedef struct {
    int width, height; /* pixels */
    uint8_t *rgb;      /* (height, width, 3), rows top to bottom */
} stc_canvas;

/* Allocates a width x height canvas filled with colour. 0 or STC_ERR_NOMEM. */
int stc_canvas_init(stc_canvas *c, int width, int height, uint32_t color);
void stc_canvas_free(stc_canvas *c);

/* The rectangle with corners (x0, y0) and (x1, y1), both included. */
void stc_canvas_fill_rect(stc_canvas *c, int x0, int y0, int x1, int y1, uint32_t color);

/* A line from (x0, y0) to (x1, y1), `thickness` pixels wide (Bresenham,
 * stamping a thickness x thickness square at each step). */
void stc_canvas_line(stc_canvas *c, int x0, int y0, int x1, int y1, int thickness, uint32_t color);

/* A filled disc of radius r centred on (cx, cy). */
void stc_canvas_disc(stc_canvas *c, int cx, int cy, int r, uint32_t color);

/* Text with its top-left corner at (x, y), each font pixel a scale x scale
 * block. Upper case is drawn as lower case, characters the font lacks as
 * '?'. */
void stc_canvas_text(stc_canvas *c, int x, int y, const char *s, int scale, uint32_t color);

/* Width in pixels that stc_canvas_text gives s (no trailing blank column). */
int stc_canvas_text_width(const char *s, int scale);

#ifdef __cplusplus
}
#endif

#endif

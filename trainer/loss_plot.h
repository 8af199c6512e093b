/*
 * The loss curve as a PNG (DESIGN.md, "Files users touch": logs): the
 * training loss and every eval loss of a run's log history against the step.
 */
#ifndef STC_TRAINER_LOSS_PLOT_H
#define STC_TRAINER_LOSS_PLOT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Draws history (a list of log lines as in output_dir/log.jsonl) to a PNG
 * at path, written atomically. Plotted: "loss" of the lines that have it
 * (training), and each "eval_*_loss" key (eval_loss, eval_<name>_loss) as a
 * series of its own with markers; other keys, and null or non-finite values,
 * are skipped. A history with nothing to plot (NULL, empty, no losses)
 * writes no file and returns 0. Otherwise 0 or an stc_status whose message
 * names path. */
int stc_loss_plot_write(const cJSON *history, const char *path);

/* How stc_loss_plot_write maps data to pixels; exposed for tests. A data
 * point (x, y) lands at column left + (x - x0) / (x1 - x0) * (right - left)
 * and row bottom - (y - y0) / (y1 - y0) * (bottom - top), rounded. */
typedef struct {
    int width, height;              /* image size; 0 x 0 when nothing would be plotted */
    int left, top, right, bottom;   /* plot area's edges (pixel columns / rows); the frame is drawn a few pixels outside */
    double x0, x1, x_step;          /* x axis (steps): range and tick spacing */
    double y0, y1, y_step;          /* y axis (loss): range and tick spacing */
    int n_series;                   /* series drawn: the training loss, then each eval loss */
} stc_loss_plot_frame;

/* The frame stc_loss_plot_write would use for history. 0 or STC_ERR_NOMEM. */
int stc_loss_plot_layout(const cJSON *history, stc_loss_plot_frame *frame);

/* The colour (0xRRGGBB) of series i: 0 is the training loss, 1.. the eval
 * losses in the order they first appear in the history. */
uint32_t stc_loss_plot_color(int i);

/* The label of tick value v on an axis whose ticks are step apart: as many
 * decimals as step needs ("0.0002", "40000"), or exponent form ("1e-05")
 * for very small or large steps. */
void stc_loss_plot_tick_label(char *buf, size_t n, double v, double step);

#ifdef __cplusplus
}
#endif

#endif

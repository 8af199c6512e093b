/*
 * PNG output: an 8-bit RGB image, written the way every other stc output is
 * (atomically, errors naming the file). Enough PNG for plots; no reader.
 */
#ifndef STC_UTIL_PNG_H
#define STC_UTIL_PNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes rgb (height, width, 3), rows top to bottom, as a truecolour PNG at
 * path (tmp file + rename, util/fileio.h). Returns 0 or an stc_status whose
 * message names path. */
int stc_png_write_rgb(const char *path, const uint8_t *rgb, int width, int height);

#ifdef __cplusplus
}
#endif

#endif

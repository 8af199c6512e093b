/*
 * Whole-file reads and crash-safe writes.
 *
 * Writes never leave a half-written file under the final name: data goes to
 * "<path>.tmp.<pid>", is fsynced, renamed over <path>, and the directory is
 * fsynced (RELIABILITY.md, "Checkpoints").
 */
#ifndef STC_UTIL_FILEIO_H
#define STC_UTIL_FILEIO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the whole file into a malloc'd buffer with a trailing NUL (not
 * counted in *len). Returns 0 or an stc_status with a message naming path. */
int stc_read_file(const char *path, char **data, size_t *len);

/* Writes len bytes atomically to path (tmp file, fsync, rename, dir fsync). */
int stc_write_file_atomic(const char *path, const void *data, size_t len);

/* Fsyncs the directory that holds path (after a rename into it). */
int stc_fsync_parent_dir(const char *path);

/* 1 if path exists and is a regular file / directory, else 0. */
int stc_is_file(const char *path);
int stc_is_dir(const char *path);

/* Creates dir and its missing parents (mkdir -p). */
int stc_mkdir_p(const char *dir);

/* Removes path and everything under it (rm -rf); a missing path is not an
 * error. */
int stc_remove_tree(const char *path);

/* Joins dir and name with one '/', into a malloc'd string (NULL on OOM). */
char *stc_path_join(const char *dir, const char *name);

#ifdef __cplusplus
}
#endif

#endif

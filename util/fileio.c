/* Whole-file reads and crash-safe writes (see fileio.h). */
#include "util/fileio.h"
#include "util/error.h"

#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int stc_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return stc_errorf(STC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return stc_errorf(STC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return stc_errorf(STC_ERR_IO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = stc_malloc(n + 1, path);
    if (!buf) {
        fclose(f);
        return STC_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != n || rerr) {
        free(buf);
        return stc_errorf(STC_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int stc_fsync_parent_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        int rc = stc_errorf(STC_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    /* Some file systems refuse fsync on directories (EINVAL); the rename is
     * still as durable as they allow, so that is not an error. */
    if (fsync(fd) != 0 && errno != EINVAL) {
        int rc = stc_errorf(STC_ERR_IO, "%s: fsync failed: %s", dir, strerror(errno));
        close(fd);
        free(dir);
        return rc;
    }
    close(fd);
    free(dir);
    return 0;
}

int stc_write_file_atomic(const char *path, const void *data, size_t len)
{
    size_t tlen = strlen(path) + 32;
    char *tmp = stc_malloc(tlen, "temporary path");
    if (!tmp)
        return STC_ERR_NOMEM;
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int rc = stc_errorf(STC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto err_write;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto err_write;
    if (close(fd) != 0) {
        fd = -1;
        goto err_write;
    }
    if (rename(tmp, path) != 0) {
        int rc = stc_errorf(STC_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    return stc_fsync_parent_dir(path);

err_write:;
    int rc = stc_errorf(STC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

int stc_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int stc_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *stc_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *out = malloc(a + b + 2);
    if (!out)
        return NULL;
    memcpy(out, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/')
        out[k++] = '/';
    memcpy(out + k, name, b + 1);
    return out;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    return r != 0 && errno != ENOENT ? -1 : 0;
}

int stc_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : stc_errorf(STC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    /* Depth first, without following links: a link inside is removed, not
     * what it points to. */
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return stc_errorf(STC_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int stc_mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int rc = stc_errorf(STC_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return rc;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        rc = stc_errorf(STC_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
    free(p);
    return rc;
}

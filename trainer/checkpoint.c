/* Atomic checkpoint folders, their manifest, listing and rotation (see
 * checkpoint.h). */
#include "trainer/checkpoint.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/json.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#define MANIFEST "manifest.json"
#define HASH_HEX 32

/* One file of a checkpoint: "size\thash\tpath\n" records travel between
 * ranks in this form. */
typedef struct {
    char *path;
    uint64_t size;
    char hash[HASH_HEX + 1];
} file_rec;

struct stc_ckpt_writer {
    const stc_comm *comm;
    int64_t step;
    char *output_dir;
    char *tmp;
    char *final;
    char *recs;          /* this rank's records, "size\thash\tpath\n" each */
    size_t recs_len, recs_cap;
};

static void hash_hex(XXH128_hash_t h, char out[HASH_HEX + 1])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
}

/* XXH3-128 of a whole file, streamed. */
static int hash_file(const char *path, uint64_t *size, char out[HASH_HEX + 1])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return stc_errorf(STC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    XXH3_state_t *st = XXH3_createState();
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!st || !buf) {
        fclose(f);
        free(buf);
        XXH3_freeState(st);
        return stc_errorf(STC_ERR_NOMEM, "out of memory hashing %s", path);
    }
    XXH3_128bits_reset(st);
    uint64_t n = 0;
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        XXH3_128bits_update(st, buf, got);
        n += got;
    }
    int err = ferror(f);
    fclose(f);
    free(buf);
    if (err) {
        XXH3_freeState(st);
        return stc_errorf(STC_ERR_IO, "%s: read error", path);
    }
    hash_hex(XXH3_128bits_digest(st), out);
    XXH3_freeState(st);
    *size = n;
    return 0;
}

static char *dir_path(const char *output_dir, const char *prefix, int64_t step)
{
    char name[64];
    snprintf(name, sizeof name, "%scheckpoint-%" PRId64, prefix, step);
    return stc_path_join(output_dir, name);
}

void stc_ckpt_shard_name(char *buf, size_t cap, const char *stem, int rank, int world)
{
    snprintf(buf, cap, "%s-rank%05d-of-%05d.bin", stem, rank, world);
}

/* 1 when every rank passes ok != 0. */
static int all_ok(const stc_comm *comm, int ok, int *agreed)
{
    double bad = ok ? 0.0 : 1.0;
    if (comm->world > 1) {
        int rc = stc_comm_allreduce_sum_f64(comm, &bad, 1);
        if (rc)
            return rc;
    }
    *agreed = bad == 0.0;
    return 0;
}

int stc_ckpt_begin(stc_ckpt_writer **out, const stc_comm *comm, const char *output_dir, int64_t step)
{
    *out = NULL;
    stc_ckpt_writer *w = stc_calloc(1, sizeof *w, "checkpoint writer");
    if (!w)
        return STC_ERR_NOMEM;
    w->comm = comm;
    w->step = step;
    w->output_dir = strdup(output_dir);
    w->tmp = dir_path(output_dir, ".tmp-", step);
    w->final = dir_path(output_dir, "", step);
    int rc = 0;
    if (!w->output_dir || !w->tmp || !w->final)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    /* A leftover of an earlier, interrupted save of the same step is
     * replaced, never merged into. */
    if (!rc && comm->rank == 0 && !(rc = stc_remove_tree(w->tmp)) && mkdir(w->tmp, 0755) != 0)
        rc = stc_errorf(STC_ERR_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
    int ok = 0, rc2 = all_ok(comm, rc == 0, &ok);
    if (!rc && rc2)
        rc = rc2;
    if (!rc && !ok)
        rc = stc_errorf(STC_ERR_IO, "%s: rank 0 could not create the checkpoint folder", w->tmp);
    if (rc) {
        free(w->output_dir);
        free(w->tmp);
        free(w->final);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

const char *stc_ckpt_tmp_dir(const stc_ckpt_writer *w)
{
    return w->tmp;
}

static int add_rec(stc_ckpt_writer *w, const char *name, uint64_t size, const char *hash)
{
    size_t need = strlen(name) + HASH_HEX + 32;
    if (w->recs_len + need > w->recs_cap) {
        size_t cap = (w->recs_cap + need) * 2;
        char *p = realloc(w->recs, cap);
        if (!p)
            return stc_errorf(STC_ERR_NOMEM, "out of memory");
        w->recs = p;
        w->recs_cap = cap;
    }
    w->recs_len += (size_t)sprintf(w->recs + w->recs_len, "%" PRIu64 "\t%s\t%s\n", size, hash, name);
    return 0;
}

int stc_ckpt_put(stc_ckpt_writer *w, const char *name, const void *data, size_t len)
{
    char *p = stc_path_join(w->tmp, name);
    if (!p)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    int rc = stc_write_file_atomic(p, data, len);
    free(p);
    if (rc)
        return rc;
    char hash[HASH_HEX + 1];
    hash_hex(XXH3_128bits(data, len), hash);
    return add_rec(w, name, (uint64_t)len, hash);
}

/* Parses "size\thash\tpath\n" records into recs (appended). */
static int parse_recs(const char *buf, size_t len, file_rec **recs, int *n, int *cap)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *t1 = memchr(p, '\t', (size_t)(end - p));
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(end - t1 - 1)) : NULL;
        if (!nl || !t1 || !t2 || t2 > nl || t2 - t1 - 1 != HASH_HEX)
            return stc_errorf(STC_ERR_INTERNAL, "checkpoint: malformed file record from a rank");
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            file_rec *r = realloc(*recs, sizeof **recs * (size_t)*cap);
            if (!r)
                return stc_errorf(STC_ERR_NOMEM, "out of memory");
            *recs = r;
        }
        file_rec *r = &(*recs)[(*n)++];
        r->size = strtoull(p, NULL, 10);
        memcpy(r->hash, t1 + 1, HASH_HEX);
        r->hash[HASH_HEX] = 0;
        r->path = strndup(t2 + 1, (size_t)(nl - t2 - 1));
        if (!r->path)
            return stc_errorf(STC_ERR_NOMEM, "out of memory");
        p = nl + 1;
    }
    return 0;
}

static void recs_free(file_rec *recs, int n)
{
    for (int i = 0; i < n; i++)
        free(recs[i].path);
    free(recs);
}

/* nftw has no user argument: the walk of rank 0's files uses these. */
static struct {
    const char *root;
    file_rec *recs;
    int n, cap;
    int rc;
} walk;

static int walk_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    const char *rel = path + strlen(walk.root) + 1;
    if (!strcmp(rel, MANIFEST))
        return 0;
    for (int i = 0; i < walk.n; i++)
        if (!strcmp(walk.recs[i].path, rel))
            return 0; /* hashed by the rank that wrote it */
    file_rec r = {0};
    if ((walk.rc = hash_file(path, &r.size, r.hash)))
        return -1;
    if (walk.n == walk.cap) {
        walk.cap = walk.cap ? walk.cap * 2 : 16;
        file_rec *p = realloc(walk.recs, sizeof *p * (size_t)walk.cap);
        if (!p) {
            walk.rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
            return -1;
        }
        walk.recs = p;
    }
    r.path = strdup(rel);
    if (!r.path) {
        walk.rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        return -1;
    }
    walk.recs[walk.n++] = r;
    return 0;
}

static int rec_cmp(const void *a, const void *b)
{
    return strcmp(((const file_rec *)a)->path, ((const file_rec *)b)->path);
}

/* Rank 0: the manifest over every rank's records and its own other files,
 * written last, then the rename. */
static int finish_on_root(stc_ckpt_writer *w, const char *all, size_t all_len)
{
    memset(&walk, 0, sizeof walk);
    walk.root = w->tmp;
    int rc = parse_recs(all, all_len, &walk.recs, &walk.n, &walk.cap);
    /* Every rank's file must be here, as its rank wrote it: on a file
     * system rank 0 does not share with the others it is not, and a
     * checkpoint listing it could never be resumed. */
    for (int i = 0; !rc && i < walk.n; i++) {
        char *fp = stc_path_join(w->tmp, walk.recs[i].path);
        struct stat st;
        if (!fp)
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        else if (stat(fp, &st) != 0 || (uint64_t)st.st_size != walk.recs[i].size)
            rc = stc_errorf(STC_ERR_IO, "%s: another rank wrote it, but rank 0 %s: output_dir must be on a file "
                            "system every rank shares", fp, stat(fp, &st) != 0 ? "does not see it" : "sees another size");
        free(fp);
    }
    if (!rc && nftw(w->tmp, walk_entry, 16, FTW_PHYS) != 0)
        rc = walk.rc ? walk.rc : stc_errorf(STC_ERR_IO, "%s: cannot walk: %s", w->tmp, strerror(errno));
    cJSON *m = rc ? NULL : cJSON_CreateObject();
    if (!rc && !m)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    char *text = NULL;
    if (!rc) {
        qsort(walk.recs, (size_t)walk.n, sizeof *walk.recs, rec_cmp);
        cJSON_AddStringToObject(m, "format", STC_CKPT_FORMAT);
        cJSON_AddNumberToObject(m, "version", STC_CKPT_VERSION);
        cJSON_AddNumberToObject(m, "global_step", (double)w->step);
        cJSON_AddNumberToObject(m, "world_size", w->comm->world);
        cJSON *files = cJSON_AddArrayToObject(m, "files");
        for (int i = 0; i < walk.n; i++) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "path", walk.recs[i].path);
            cJSON_AddNumberToObject(f, "size", (double)walk.recs[i].size);
            cJSON_AddStringToObject(f, "xxh3_128", walk.recs[i].hash);
            cJSON_AddItemToArray(files, f);
        }
        text = cJSON_Print(m);
        if (!text)
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    }
    char *mp = rc ? NULL : stc_path_join(w->tmp, MANIFEST);
    if (!rc && !mp)
        rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = stc_write_file_atomic(mp, text, strlen(text));
    /* checkpoint-STEP may exist from an earlier run into the same
     * output_dir: it is replaced only once the new one is complete. */
    char *old = rc ? NULL : dir_path(w->output_dir, ".old-", w->step);
    if (!rc && stc_is_dir(w->final)) {
        if ((rc = stc_remove_tree(old)) == 0 && rename(w->final, old) != 0)
            rc = stc_errorf(STC_ERR_IO, "%s: cannot move aside: %s", w->final, strerror(errno));
    }
    if (!rc && rename(w->tmp, w->final) != 0)
        rc = stc_errorf(STC_ERR_IO, "%s -> %s: cannot rename: %s", w->tmp, w->final, strerror(errno));
    if (!rc)
        rc = stc_fsync_parent_dir(w->final);
    if (!rc && old)
        rc = stc_remove_tree(old);
    free(old);
    free(mp);
    free(text);
    cJSON_Delete(m);
    recs_free(walk.recs, walk.n);
    memset(&walk, 0, sizeof walk);
    return rc;
}

int stc_ckpt_commit(stc_ckpt_writer *w, int ok, char **final_dir)
{
    const stc_comm *comm = w->comm;
    if (final_dir)
        *final_dir = NULL;
    int agreed = 0;
    int rc = all_ok(comm, ok, &agreed);
    if (!rc && agreed) {
        /* Every rank's records on rank 0. */
        void *all = NULL;
        size_t *sizes = comm->rank == 0 ? stc_calloc((size_t)comm->world, sizeof *sizes, "record sizes") : NULL;
        if (comm->world > 1)
            rc = stc_comm_gather_bytes(comm, w->recs ? w->recs : "", w->recs_len, 0, &all, sizes);
        int code = 0;
        if (comm->rank == 0) {
            if (!rc) {
                size_t n = 0;
                if (comm->world > 1)
                    for (int r = 0; r < comm->world; r++)
                        n += sizes[r];
                else
                    n = w->recs_len;
                code = finish_on_root(w, comm->world > 1 ? all : (w->recs ? w->recs : ""), n);
                if (code && stc_is_dir(w->tmp))
                    stc_remove_tree(w->tmp); /* not renamed: nothing of it is kept */
            } else {
                code = rc;
            }
        }
        free(all);
        free(sizes);
        /* Rank 0's verdict is everyone's. */
        int32_t c32 = code;
        if (comm->world > 1 && !rc)
            rc = stc_comm_broadcast(comm, &c32, sizeof c32, 0);
        if (!rc && c32)
            rc = comm->rank == 0 ? c32
                                 : stc_errorf(c32, "%s: rank 0 could not complete the checkpoint", w->final);
    } else if (!rc) {
        if (comm->rank == 0)
            stc_remove_tree(w->tmp);
        rc = ok ? stc_errorf(STC_ERR_IO, "%s: another rank failed to write its part; no checkpoint written",
                             w->final)
                : STC_ERR_IO; /* this rank's own error is already recorded */
    }
    if (!rc && final_dir)
        *final_dir = strdup(w->final);
    free(w->output_dir);
    free(w->tmp);
    free(w->final);
    free(w->recs);
    free(w);
    return rc;
}

/* --- reading --- */

/* The manifest of dir: its step, world size and files. check_hash: hash
 * every file too (else sizes only). */
static int read_manifest(const char *dir, int check_hash, int64_t *step, int *world)
{
    char *mp = stc_path_join(dir, MANIFEST);
    if (!mp)
        return stc_errorf(STC_ERR_NOMEM, "out of memory");
    cJSON *m = NULL;
    int rc = stc_is_file(mp) ? stc_json_load(mp, &m)
                             : stc_errorf(STC_ERR_DATA, "%s: no %s (an incomplete checkpoint)", dir, MANIFEST);
    const cJSON *fmt = m ? cJSON_GetObjectItemCaseSensitive(m, "format") : NULL;
    const cJSON *ver = m ? cJSON_GetObjectItemCaseSensitive(m, "version") : NULL;
    const cJSON *gs = m ? cJSON_GetObjectItemCaseSensitive(m, "global_step") : NULL;
    const cJSON *ws = m ? cJSON_GetObjectItemCaseSensitive(m, "world_size") : NULL;
    const cJSON *files = m ? cJSON_GetObjectItemCaseSensitive(m, "files") : NULL;
    if (!rc && (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, STC_CKPT_FORMAT) != 0 || !cJSON_IsNumber(gs) ||
                !cJSON_IsNumber(ws) || !cJSON_IsArray(files) || !cJSON_IsNumber(ver)))
        rc = stc_errorf(STC_ERR_DATA, "%s: not an stc checkpoint manifest", mp);
    if (!rc && ver->valueint != STC_CKPT_VERSION)
        rc = stc_errorf(STC_ERR_DATA, "%s: checkpoint format version %d; this stc reads %d", mp, ver->valueint,
                        STC_CKPT_VERSION);
    const cJSON *f, *listed = rc ? NULL : files;
    cJSON_ArrayForEach(f, listed)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(f, "size");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(f, "xxh3_128");
        if (!cJSON_IsString(p) || !cJSON_IsNumber(sz) || !cJSON_IsString(h) || strstr(p->valuestring, "..")) {
            rc = stc_errorf(STC_ERR_DATA, "%s: malformed file entry", mp);
            break;
        }
        char *fp = stc_path_join(dir, p->valuestring);
        struct stat st;
        if (!fp) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
        } else if (stat(fp, &st) != 0 || !S_ISREG(st.st_mode)) {
            rc = stc_errorf(STC_ERR_DATA, "%s: missing (listed in the manifest)", fp);
        } else if ((double)st.st_size != sz->valuedouble) {
            rc = stc_errorf(STC_ERR_DATA, "%s: %lld bytes, the manifest says %.0f", fp, (long long)st.st_size,
                            sz->valuedouble);
        } else if (check_hash) {
            uint64_t n;
            char hash[HASH_HEX + 1];
            if (!(rc = hash_file(fp, &n, hash)) && strcmp(hash, h->valuestring) != 0)
                rc = stc_errorf(STC_ERR_DATA, "%s: content does not match the manifest's hash (corrupted)", fp);
        }
        free(fp);
        if (rc)
            break;
    }
    if (!rc) {
        *step = (int64_t)gs->valuedouble;
        *world = ws->valueint;
    }
    cJSON_Delete(m);
    free(mp);
    return rc;
}

int stc_ckpt_verify(const char *dir, int64_t *step, int *world)
{
    return read_manifest(dir, 1, step, world);
}

static int entry_cmp(const void *a, const void *b)
{
    int64_t x = ((const stc_ckpt_entry *)a)->step, y = ((const stc_ckpt_entry *)b)->step;
    return (x > y) - (x < y);
}

/* 1 if name is "<prefix><digits>". */
static int is_ckpt_name(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0 || !name[pl])
        return 0;
    for (const char *p = name + pl; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

int stc_ckpt_list(const char *output_dir, stc_ckpt_entry **out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(output_dir);
    if (!d)
        return errno == ENOENT ? 0 : stc_errorf(STC_ERR_IO, "%s: cannot list: %s", output_dir, strerror(errno));
    stc_ckpt_entry *e = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_ckpt_name(de->d_name, "checkpoint-"))
            continue;
        char *p = stc_path_join(output_dir, de->d_name);
        if (!p) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
            break;
        }
        int64_t step;
        int world;
        if (!stc_is_dir(p) || read_manifest(p, 0, &step, &world) != 0) {
            if (stc_is_dir(p))
                fprintf(stderr, "stc: %s is not a complete checkpoint (%s); ignored\n", p, stc_error_message());
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            stc_ckpt_entry *q = realloc(e, sizeof *e * (size_t)cap);
            if (!q) {
                free(p);
                rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
                break;
            }
            e = q;
        }
        e[n++] = (stc_ckpt_entry){.step = step, .world = world, .path = p};
    }
    closedir(d);
    if (rc) {
        stc_ckpt_entries_free(e, n);
        return rc;
    }
    if (n > 1)
        qsort(e, (size_t)n, sizeof *e, entry_cmp);
    *out = e;
    *n_out = n;
    return 0;
}

void stc_ckpt_entries_free(stc_ckpt_entry *e, int n)
{
    for (int i = 0; i < n; i++)
        free(e[i].path);
    free(e);
}

int stc_ckpt_clean_stale(const char *output_dir)
{
    DIR *d = opendir(output_dir);
    if (!d)
        return 0; /* nothing written there yet */
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_ckpt_name(de->d_name, ".tmp-checkpoint-") && !is_ckpt_name(de->d_name, ".old-checkpoint-"))
            continue;
        char *p = stc_path_join(output_dir, de->d_name);
        if (!p) {
            rc = stc_errorf(STC_ERR_NOMEM, "out of memory");
            break;
        }
        fprintf(stderr, "stc: removing %s, the leftover of an interrupted checkpoint save\n", p);
        rc = stc_remove_tree(p);
        free(p);
        if (rc)
            break;
    }
    closedir(d);
    return rc;
}

/* Same folder? (best_dir may be spelled differently from the listing.) */
static int same_dir(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int stc_ckpt_rotate(const char *output_dir, int save_total_limit, const char *best_dir)
{
    stc_ckpt_entry *e;
    int n;
    int rc = stc_ckpt_list(output_dir, &e, &n);
    if (rc)
        return rc;
    /* The best checkpoint moves to the second-to-last place, so it outlives
     * every older one (transformers' _sorted_checkpoints). */
    int best = -1;
    for (int i = 0; i < n; i++)
        if (same_dir(e[i].path, best_dir))
            best = i;
    if (best >= 0)
        for (int j = best; j < n - 2; j++) {
            stc_ckpt_entry t = e[j];
            e[j] = e[j + 1];
            e[j + 1] = t;
        }
    if (save_total_limit > 0 && n > save_total_limit) {
        int limit = save_total_limit;
        /* Keeping the best and the newest needs two slots. */
        if (best >= 0 && save_total_limit == 1 && !same_dir(e[n - 1].path, best_dir))
            limit = 2;
        for (int i = 0; i < n - limit && !rc; i++)
            rc = stc_remove_tree(e[i].path);
    }
    stc_ckpt_entries_free(e, n);
    return rc;
}

int stc_ckpt_keep_only(const char *output_dir, const char *keep_dir)
{
    stc_ckpt_entry *e;
    int n;
    int rc = stc_ckpt_list(output_dir, &e, &n);
    for (int i = 0; !rc && i < n; i++)
        if (!same_dir(e[i].path, keep_dir))
            rc = stc_remove_tree(e[i].path);
    stc_ckpt_entries_free(e, n);
    return rc;
}

/* Sampler inputs from the training datasets (see sampler_inputs.h). */
#include "trainer/sampler_inputs.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows per metadata read. */
enum { SCAN_ROWS = 65536 };

static int scan(stc_dataset *ds, const char *name, uint64_t *hashes, double *labels)
{
    size_t n = stc_dataset_num_rows(ds);
    int cols = stc_dataset_num_text_columns(ds);
    if (labels && stc_dataset_label_dim(ds) != 1)
        return stc_errorf(STC_ERR_DATA, "%s: group_by_label needs a scalar \"label\" or \"score\" column", name);
    float *lab = labels ? stc_malloc(sizeof(float) * SCAN_ROWS, "labels") : NULL;
    if (labels && !lab)
        return STC_ERR_NOMEM;
    int rc = 0;
    for (size_t start = 0; !rc && start < n; start += SCAN_ROWS) {
        size_t k = n - start < SCAN_ROWS ? n - start : SCAN_ROWS;
        if ((rc = stc_dataset_read_meta(ds, start, k, hashes ? hashes + start * (size_t)cols : NULL, lab)))
            break;
        for (size_t i = 0; labels && i < k; i++)
            labels[start + i] = lab[i];
    }
    free(lab);
    return rc;
}

int stc_sampler_inputs_build(stc_sampler_inputs *in, stc_dataset *const *dss, const char *const *names, int n,
                             int need_hashes, int need_labels)
{
    memset(in, 0, sizeof *in);
    in->n = n;
    in->sds = stc_calloc((size_t)n, sizeof *in->sds, "sampler inputs");
    in->hashes = stc_calloc((size_t)n, sizeof *in->hashes, "sampler inputs");
    in->labels = stc_calloc((size_t)n, sizeof *in->labels, "sampler inputs");
    if (!in->sds || !in->hashes || !in->labels) {
        stc_sampler_inputs_free(in);
        return STC_ERR_NOMEM;
    }
    for (int k = 0; k < n; k++) {
        stc_sampler_dataset *d = &in->sds[k];
        size_t rows = stc_dataset_num_rows(dss[k]);
        int cols = stc_dataset_num_text_columns(dss[k]);
        d->name = names[k];
        d->n_rows = rows;
        if (need_hashes) {
            in->hashes[k] = stc_malloc(sizeof(uint64_t) * rows * (size_t)cols, "text hashes");
            if (!in->hashes[k])
                goto oom;
            d->n_hash_columns = cols;
            d->hashes = in->hashes[k];
        }
        if (need_labels) {
            if (stc_dataset_label_kind(dss[k]) != STC_LABEL_SCALAR) {
                int rc = stc_errorf(STC_ERR_DATA, "%s: group_by_label needs a scalar \"label\" or \"score\" column",
                                    stc_dataset_path(dss[k]));
                stc_sampler_inputs_free(in);
                return rc;
            }
            in->labels[k] = stc_malloc(sizeof(double) * (rows ? rows : 1), "labels");
            if (!in->labels[k])
                goto oom;
            d->labels_f64 = in->labels[k];
        }
        if (need_hashes || need_labels) {
            int rc = scan(dss[k], stc_dataset_path(dss[k]), in->hashes[k], in->labels[k]);
            if (rc) {
                stc_sampler_inputs_free(in);
                return rc;
            }
        }
    }
    return 0;
oom:
    stc_sampler_inputs_free(in);
    return STC_ERR_NOMEM;
}

void stc_sampler_inputs_free(stc_sampler_inputs *in)
{
    for (int k = 0; in->hashes && k < in->n; k++)
        free(in->hashes[k]);
    for (int k = 0; in->labels && k < in->n; k++)
        free(in->labels[k]);
    free(in->hashes);
    free(in->labels);
    free(in->sds);
    memset(in, 0, sizeof *in);
}

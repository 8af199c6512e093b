/* The data-parallel optimizer step (see dp_step.h). */
#include "trainer/dp_step.h"
#include "util/clock.h"
#include "util/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int stc_dp_step_init(stc_dp_step *s, const stc_comm *comm, size_t total)
{
    memset(s, 0, sizeof *s);
    s->comm = comm;
    s->total = total;
    stc_comm_block(total, comm->world, comm->rank, &s->begin, &s->count);
    s->red = stc_calloc(STC_DP_MAX_SCALARS + (size_t)comm->world, sizeof(double), "step scalars");
    if (!s->red)
        return STC_ERR_NOMEM;
    if (comm->world > 1) {
        s->grad_shard = stc_malloc(sizeof(float) * (s->count ? s->count : 1), "gradient shard");
        if (!s->grad_shard) {
            stc_dp_step_free(s);
            return STC_ERR_NOMEM;
        }
    }
    return 0;
}

void stc_dp_step_free(stc_dp_step *s)
{
    free(s->grad_shard);
    free(s->red);
    memset(s, 0, sizeof *s);
}

int stc_dp_step_run(stc_dp_step *s, stc_adamw *opt, stc_param_table *params, const float *grads,
                    const unsigned char *has_grad, double *scalars, int n_scalars, double max_norm,
                    double lr_factor, double *norm, int *updated)
{
    const stc_comm *c = s->comm;
    int P = c->world, rc;
    if (n_scalars < 1 || n_scalars > STC_DP_MAX_SCALARS)
        return stc_errorf(STC_ERR_INTERNAL, "optimizer step: %d scalars (1 to %d)", n_scalars, STC_DP_MAX_SCALARS);
    /* The block's gradient, and the factor that averages it: DDP's
     * all-reduce then divide, with the division done as AdamW reads it. */
    const float *g = grads;
    float pre = 1.0f;
    double t0 = stc_now_s();
    if (P > 1) {
        if ((rc = stc_comm_reduce_scatter_block_sum_f32(c, s->grad_shard, grads, s->total)))
            return rc;
        g = s->grad_shard;
        pre = 1.0f / (float)P;
    }
    double t1 = stc_now_s();
    double sq;
    if ((rc = stc_grad_sum_squares_shard(params, g, has_grad, s->begin, s->count, pre, &sq)))
        return rc;
    double t2 = stc_now_s();
    if (P > 1) {
        memset(s->red, 0, sizeof(double) * (STC_DP_MAX_SCALARS + (size_t)P));
        memcpy(s->red, scalars, sizeof(double) * (size_t)n_scalars);
        s->red[STC_DP_MAX_SCALARS + c->rank] = sq;
        if ((rc = stc_comm_allreduce_sum_f64(c, s->red, STC_DP_MAX_SCALARS + (size_t)P)))
            return rc;
        for (int i = 0; i < n_scalars; i++)
            scalars[i] = s->red[i] / P;
        /* Other slots hold exact zeros, so each slot is one rank's sum, and
         * the total is added in rank order on every rank alike. */
        sq = 0.0;
        for (int r = 0; r < P; r++)
            sq += s->red[STC_DP_MAX_SCALARS + r];
    }
    double t3 = stc_now_s();
    *norm = sqrt(sq);
    *updated = isfinite(scalars[0]) && isfinite(*norm);
    double t4 = t3, t5 = t3;
    if (*updated) {
        stc_adamw_slab slab = {.param = params->slab, .grad = g, .has_grad = has_grad};
        if ((rc = stc_adamw_step_scaled(opt, &slab, lr_factor, pre, stc_clip_coef(*norm, max_norm))))
            return rc;
        t4 = stc_now_s();
        if (P > 1 && (rc = stc_comm_allgather_block_f32(c, params->slab, s->total)))
            return rc;
        t5 = stc_now_s();
    }
    s->t_reduce += (t1 - t0) + (t3 - t2);
    s->t_update += (t2 - t1) + (t4 - t3);
    s->t_gather += t5 - t4;
    return 0;
}

/*
 * AdamW with torch.optim.AdamW's semantics (ST_SPEC.md section 1) over the
 * param groups of param_groups.h, and gradient clipping by global norm with
 * torch.nn.utils.clip_grad_norm_'s semantics. The CPU code here is the
 * readable specification a device implementation mirrors.
 *
 * For each parameter that has a gradient this step, with t its own step
 * count (from 1), lr = group lr x scheduler factor, wd = group weight decay:
 *   p *= 1 - lr*wd
 *   m  = m + (1-b1)(g - m)          (torch: exp_avg.lerp_(g, 1-b1))
 *   v  = b2 v + (1-b2) g g
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * in float32, element by element, in torch's operation order (scalars in
 * double, rounded to float where torch rounds them). A parameter without a
 * gradient (torch: grad None, e.g. BERT's pooler, or a loss-owned classifier
 * on a step its dataset did not run) is skipped entirely: no decay, no
 * moment update, and its step count does not advance — as in torch, whose
 * step counts are per parameter.
 *
 * Moments live in float32 slabs shaped like each source's parameter slab
 * (param_groups.h, sources). Elementwise work is spread over OpenMP threads;
 * the result does not depend on the thread count.
 */
#ifndef STC_TRAINER_OPTIMIZER_H
#define STC_TRAINER_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include "model/params.h"
#include "trainer/param_groups.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A contiguous run of one parameter's elements, the unit of parallel work. */
typedef struct {
    int param;     /* global parameter index */
    size_t begin;  /* first element, in its source's slab */
    size_t count;
} stc_adamw_chunk;

typedef struct {
    double beta1, beta2, eps;
    const stc_param_groups *pg; /* borrowed; must outlive the optimizer */
    int n_sources;
    float **m;                  /* (n_sources) first moments, each shaped like that source's slab */
    float **v;                  /* (n_sources) second moments, likewise */
    int64_t *step;              /* (pg->n_params) completed updates of each parameter (torch's state["step"]) */
    int n_chunks;
    stc_adamw_chunk *chunks;    /* (n_chunks) every parameter's elements, in slab order */
} stc_adamw;

/* What one source contributes to a step. */
typedef struct {
    float *param;                  /* the source's parameter slab (updated) */
    const float *grad;             /* its gradient slab, same layout */
    const unsigned char *has_grad; /* (table->n) 0: no gradient this step (skipped); NULL: all have one */
} stc_adamw_slab;

/* Zeroed moments and step counts for pg's parameters. */
int stc_adamw_init(stc_adamw *opt, const stc_param_groups *pg, double beta1, double beta2, double eps);
void stc_adamw_free(stc_adamw *opt);

/* One optimizer step. slabs has pg->n_sources entries; lr_factor is the
 * scheduler's multiplier for this step (every group's lr is scaled by it). */
int stc_adamw_step(stc_adamw *opt, const stc_adamw_slab *slabs, double lr_factor);

/* The learning rate group g uses at a step with this factor (what the
 * trainer logs as learning_rate for g = 0). */
double stc_adamw_group_lr(const stc_adamw *opt, int g, double lr_factor);

/*
 * Checkpoint state as one flat little-endian buffer: a header (magic
 * "STCADAMW", version, betas, eps, sources and their sizes, parameter
 * count), each parameter's step count, then m and v of every source.
 * Loading checks that the layout matches this optimizer (an error names
 * what differs) and, like torch's load_state_dict, adopts the saved betas
 * and eps.
 */
size_t stc_adamw_state_bytes(const stc_adamw *opt);
int stc_adamw_state_save(const stc_adamw *opt, void *buf, size_t cap);
/* what names the buffer's origin (a file path) in messages. */
int stc_adamw_state_load(stc_adamw *opt, const void *buf, size_t len, const char *what);

/*
 * clip_grad_norm_ over one parameter table's gradients (the ST model only;
 * loss-owned parameters are not clipped): the 2-norm of every gradient whose
 * has_grad flag is set (NULL: all), accumulated in double in a fixed order
 * (the same for any thread count); if max_norm > 0 every such gradient is
 * scaled by min(1, max_norm / (norm + 1e-6)). *norm_out gets the norm before
 * clipping (the trainer's grad_norm). A non-finite norm leaves the gradients
 * untouched (torch would fill them with NaN); the caller checks *norm_out.
 */
int stc_clip_grad_norm(const stc_param_table *t, float *grad, const unsigned char *has_grad,
                       double max_norm, double *norm_out);

#ifdef __cplusplus
}
#endif

#endif

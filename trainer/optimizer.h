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
/* Parameter sources (slabs) one optimizer can hold. */
#define STC_ADAMW_MAX_SOURCES 16

typedef struct {
    int param;     /* global parameter index */
    size_t begin;  /* first element, in its source's slab */
    size_t count;
} stc_adamw_chunk;

typedef struct {
    double beta1, beta2, eps;
    const stc_param_groups *pg; /* borrowed; must outlive the optimizer */
    int n_sources;
    size_t *shard_begin;        /* (n_sources) first slab element this optimizer updates (0 unsharded) */
    size_t *shard_count;        /* (n_sources) elements it updates (the source's total unsharded) */
    float **m;                  /* (n_sources) first moments of each source's shard ([shard_count]) */
    float **v;                  /* (n_sources) second moments, likewise */
    int64_t *step;              /* (pg->n_params) completed updates of each parameter (torch's state["step"]) */
    int n_chunks;
    stc_adamw_chunk *chunks;    /* (n_chunks) every parameter's elements in the shard, in slab order */
} stc_adamw;

/* What one source contributes to a step. */
typedef struct {
    float *param;                  /* the source's whole parameter slab (the shard's part is updated) */
    const float *grad;             /* the shard's gradient: grad[i - shard_begin] for slab element i
                                      (unsharded: the gradient slab, same layout as param) */
    const unsigned char *has_grad; /* (table->n) 0: no gradient this step (skipped); NULL: all have one */
} stc_adamw_slab;

/* Zeroed moments and step counts for pg's parameters. */
int stc_adamw_init(stc_adamw *opt, const stc_param_groups *pg, double beta1, double beta2, double eps);
void stc_adamw_free(stc_adamw *opt);

/*
 * A sharded optimizer (ZeRO-1): it updates only elements
 * [shard_begin[s], shard_begin[s] + shard_count[s]) of each source's slab,
 * and holds moments for those only; a parameter may straddle shards (its
 * elements are independent). Step counts are kept for every parameter, so
 * every rank's bias corrections agree. The update of an element is the
 * unsharded one, bit for bit: the ranks together make one unsharded step.
 */
int stc_adamw_init_shard(stc_adamw *opt, const stc_param_groups *pg, double beta1, double beta2, double eps,
                         const size_t *shard_begin, const size_t *shard_count);

/* One optimizer step. slabs has pg->n_sources entries; lr_factor is the
 * scheduler's multiplier for this step (every group's lr is scaled by it). */
int stc_adamw_step(stc_adamw *opt, const stc_adamw_slab *slabs, double lr_factor);

/* The same step on gradients scaled as they are read: (g * grad_pre) *
 * grad_post in float32, rounded exactly as two in-place scalings of the
 * gradient would be (the sharded trainer's 1/world average, then the clip
 * coefficient) without two more passes over memory. 1.0f leaves g exact. */
int stc_adamw_step_scaled(stc_adamw *opt, const stc_adamw_slab *slabs, double lr_factor, float grad_pre,
                          float grad_post);

/* The learning rate group g uses at a step with this factor (what the
 * trainer logs as learning_rate for g = 0). */
double stc_adamw_group_lr(const stc_adamw *opt, int g, double lr_factor);

/*
 * Checkpoint state as one flat little-endian buffer: a header (magic
 * "STCADAMW", version, betas, eps, sources and their sizes, parameter
 * count), each parameter's step count, then m and v of every source.
 * Loading checks that the layout matches this optimizer (an error names
 * what differs) and, like torch's load_state_dict, adopts the saved betas
 * and eps. A sharded optimizer's buffer holds its shard's moments (one
 * buffer per rank, as DeepSpeed's ZeRO checkpoints); only the sizes are
 * checked, so it loads back into the same rank of the same world size.
 */
size_t stc_adamw_state_bytes(const stc_adamw *opt);
int stc_adamw_state_save(const stc_adamw *opt, void *buf, size_t cap);
/* what names the buffer's origin (a file path) in messages. */
int stc_adamw_state_load(stc_adamw *opt, const void *buf, size_t len, const char *what);

/* Re-sharding (a checkpoint resumed on another number of ranks): buf is the
 * state of an optimizer whose shard of source s was [buf_begin[s],
 * buf_begin[s] + buf_count[s]) (checked against the buffer);
 * the moments it holds for elements of this optimizer's shard are copied
 * in, with the step counts, betas and eps. Called once per saved shard
 * that overlaps this one, the saved shards cover it whole. */
int stc_adamw_state_load_range(stc_adamw *opt, const void *buf, size_t len, const size_t *buf_begin,
                               const size_t *buf_count, const char *what);

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

/* clip_grad_norm_'s multiplier for a total norm: min(1, max_norm / (norm +
 * 1e-6)) as a float, or 1 when max_norm <= 0 or the norm is not finite. */
float stc_clip_coef(double norm, double max_norm);

/* A sharded clip_grad_norm_'s part: *sumsq gets the sum over slab elements
 * [begin, begin + count) of tensors with has_grad (NULL: all) of
 * (grad[i - begin] * pre)^2, the product rounded to float first (as if the
 * gradient had been scaled in place), squared and summed in double in a
 * fixed order. The ranks' sums added give the squared total norm. */
int stc_grad_sum_squares_shard(const stc_param_table *t, const float *grad, const unsigned char *has_grad,
                               size_t begin, size_t count, float pre, double *sumsq);

#ifdef __cplusplus
}
#endif

#endif

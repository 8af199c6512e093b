/*
 * Learning-rate schedules with transformers' get_scheduler semantics
 * (optimization.py): each is a LambdaLR multiplier lambda(k) of the number k
 * of completed optimizer steps, applied to every param group's base lr.
 * The update made as step k+1 uses lr = group lr x lambda(k); so with a
 * warmup the first update uses lr 0 (ST_SPEC.md section 1).
 *
 * With W warmup steps and T training steps, for k < W every schedule but
 * constant gives k / max(1, W); after the warmup:
 *   linear                max(0, (T-k) / max(1, T-W))
 *   cosine                max(0, (1 + cos(pi * 2 num_cycles * progress)) / 2),
 *                         progress = (k-W) / max(1, T-W), num_cycles 0.5
 *   cosine_with_restarts  0 once progress >= 1, else
 *                         max(0, (1 + cos(pi * ((num_cycles * progress) mod 1))) / 2), num_cycles 1
 *   polynomial            k > T: lr_end / lr_init; else
 *                         ((lr_init - lr_end) (1 - (k-W)/(T-W))^power + lr_end) / lr_init,
 *                         lr_end 1e-7, power 1, lr_init = args.learning_rate (the
 *                         optimizer's default lr, whatever each group's own lr)
 *   constant              1 (also during the "warmup": it has none)
 *   constant_with_warmup  1
 */
#ifndef STC_TRAINER_SCHEDULER_H
#define STC_TRAINER_SCHEDULER_H

#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STC_SCHED_LINEAR,
    STC_SCHED_COSINE,
    STC_SCHED_COSINE_WITH_RESTARTS,
    STC_SCHED_POLYNOMIAL,
    STC_SCHED_CONSTANT,
    STC_SCHED_CONSTANT_WITH_WARMUP
} stc_sched_type;

/* Schedule-specific arguments (lr_scheduler_kwargs); NAN = the default. */
typedef struct {
    double num_cycles; /* cosine: 0.5, cosine_with_restarts: 1 */
    double lr_end;     /* polynomial: 1e-7 */
    double power;      /* polynomial: 1.0 */
} stc_sched_kwargs;

typedef struct {
    stc_sched_type type;
    int64_t total_steps;  /* T */
    int64_t warmup_steps; /* W */
    double num_cycles;
    double lr_end, power;
    double lr_init;       /* polynomial: the base learning rate */
} stc_scheduler;

/* Parses transformers' SchedulerType name ("linear", "cosine", ...). */
int stc_sched_type_parse(const char *name, stc_sched_type *out);
const char *stc_sched_type_name(stc_sched_type type);

/* All-default kwargs (every field NAN). */
stc_sched_kwargs stc_sched_kwargs_default(void);

/* Reads lr_scheduler_kwargs (a JSON object, or NULL) for this schedule:
 * num_cycles for cosine / cosine_with_restarts, lr_end and power for
 * polynomial; any other key is an error naming it (Python raises
 * TypeError). constant and constant_with_warmup ignore the kwargs, as
 * get_scheduler does. what names the config in messages. */
int stc_sched_kwargs_from_json(const cJSON *obj, stc_sched_type type, const char *what, stc_sched_kwargs *out);

/* Warmup steps from the training arguments, for T training steps.
 * transformers v4: warmup_steps if warmup_steps > 0 else ceil(T * warmup_ratio).
 * transformers v5: int(warmup_steps) if warmup_steps >= 1 else ceil(T * warmup_steps). */
int64_t stc_sched_warmup_steps_v4(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);
int64_t stc_sched_warmup_steps_v5(double warmup_steps, int64_t total_steps);

/* Sets up a schedule. base_lr is args.learning_rate (polynomial divides by
 * it). Errors: negative T or W, polynomial with lr_end >= base_lr (as
 * transformers), non-finite kwargs. */
int stc_scheduler_init(stc_scheduler *s, stc_sched_type type, int64_t total_steps, int64_t warmup_steps,
                       double base_lr, const stc_sched_kwargs *kwargs);

/* lambda(k) for k completed optimizer steps (k >= 0). Polynomial at
 * k == T == W, where Python divides by zero, gives lr_end / lr_init. */
double stc_scheduler_lambda(const stc_scheduler *s, int64_t k);

/* The learning rate a group with base lr group_lr uses for the update made
 * after k completed steps: group_lr * lambda(k). */
double stc_scheduler_lr(const stc_scheduler *s, double group_lr, int64_t k);

#ifdef __cplusplus
}
#endif

#endif

/*
 * Learning-rate schedules (see scheduler.h), written to follow
 * transformers' optimization.py operation by operation so lambda(k) agrees
 * with Python's to the last bit or close to it.
 */
#include "trainer/scheduler.h"

#include <math.h>
#include <string.h>

#include "util/error.h"

static const struct {
    const char *name;
    stc_sched_type type;
} sched_names[] = {
    {"linear", STC_SCHED_LINEAR},
    {"cosine", STC_SCHED_COSINE},
    {"cosine_with_restarts", STC_SCHED_COSINE_WITH_RESTARTS},
    {"polynomial", STC_SCHED_POLYNOMIAL},
    {"constant", STC_SCHED_CONSTANT},
    {"constant_with_warmup", STC_SCHED_CONSTANT_WITH_WARMUP},
};

int stc_sched_type_parse(const char *name, stc_sched_type *out)
{
    for (size_t i = 0; i < sizeof sched_names / sizeof sched_names[0]; i++)
        if (!strcmp(name, sched_names[i].name)) {
            *out = sched_names[i].type;
            return 0;
        }
    return stc_errorf(STC_ERR_USAGE,
                      "lr_scheduler_type '%s' is not supported (use linear, cosine, cosine_with_restarts, "
                      "polynomial, constant or constant_with_warmup)", name);
}

const char *stc_sched_type_name(stc_sched_type type)
{
    for (size_t i = 0; i < sizeof sched_names / sizeof sched_names[0]; i++)
        if (sched_names[i].type == type)
            return sched_names[i].name;
    return "?";
}

stc_sched_kwargs stc_sched_kwargs_default(void)
{
    stc_sched_kwargs k = {NAN, NAN, NAN};
    return k;
}

int stc_sched_kwargs_from_json(const cJSON *obj, stc_sched_type type, const char *what, stc_sched_kwargs *out)
{
    *out = stc_sched_kwargs_default();
    if (!obj || cJSON_IsNull(obj))
        return 0;
    if (!cJSON_IsObject(obj))
        return stc_errorf(STC_ERR_USAGE, "%s: lr_scheduler_kwargs must be an object", what);
    /* get_scheduler hands no kwargs to these two. */
    if (type == STC_SCHED_CONSTANT || type == STC_SCHED_CONSTANT_WITH_WARMUP)
        return 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        double *dst = NULL;
        if (!strcmp(it->string, "num_cycles") &&
            (type == STC_SCHED_COSINE || type == STC_SCHED_COSINE_WITH_RESTARTS))
            dst = &out->num_cycles;
        else if (!strcmp(it->string, "lr_end") && type == STC_SCHED_POLYNOMIAL)
            dst = &out->lr_end;
        else if (!strcmp(it->string, "power") && type == STC_SCHED_POLYNOMIAL)
            dst = &out->power;
        if (!dst)
            return stc_errorf(STC_ERR_USAGE, "%s: lr_scheduler_kwargs: '%s' is not an argument of the %s schedule",
                              what, it->string, stc_sched_type_name(type));
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
            return stc_errorf(STC_ERR_USAGE, "%s: lr_scheduler_kwargs: '%s' must be a finite number", what,
                              it->string);
        *dst = it->valuedouble;
    }
    return 0;
}

int64_t stc_sched_warmup_steps_v4(int64_t warmup_steps, double warmup_ratio, int64_t total_steps)
{
    return warmup_steps > 0 ? warmup_steps : (int64_t)ceil((double)total_steps * warmup_ratio);
}

int64_t stc_sched_warmup_steps_v5(double warmup_steps, int64_t total_steps)
{
    return warmup_steps >= 1.0 ? (int64_t)warmup_steps : (int64_t)ceil((double)total_steps * warmup_steps);
}

int stc_scheduler_init(stc_scheduler *s, stc_sched_type type, int64_t total_steps, int64_t warmup_steps,
                       double base_lr, const stc_sched_kwargs *kwargs)
{
    memset(s, 0, sizeof *s);
    stc_sched_kwargs kw = kwargs ? *kwargs : stc_sched_kwargs_default();
    if (total_steps < 0 || warmup_steps < 0)
        return stc_errorf(STC_ERR_USAGE, "scheduler: negative step counts (total %lld, warmup %lld)",
                          (long long)total_steps, (long long)warmup_steps);
    s->type = type;
    s->total_steps = total_steps;
    s->warmup_steps = warmup_steps;
    s->lr_init = base_lr;
    s->num_cycles = !isnan(kw.num_cycles) ? kw.num_cycles : type == STC_SCHED_COSINE_WITH_RESTARTS ? 1.0 : 0.5;
    s->lr_end = !isnan(kw.lr_end) ? kw.lr_end : 1e-7;
    s->power = !isnan(kw.power) ? kw.power : 1.0;
    if (!isfinite(s->num_cycles) || !isfinite(s->lr_end) || !isfinite(s->power))
        return stc_errorf(STC_ERR_USAGE, "scheduler: non-finite lr_scheduler_kwargs");
    if (type == STC_SCHED_POLYNOMIAL && !(base_lr > s->lr_end))
        return stc_errorf(STC_ERR_USAGE, "polynomial schedule: lr_end (%g) must be smaller than the learning rate (%g)",
                          s->lr_end, base_lr);
    return 0;
}

/* Python's float % 1.0 (result in [0, 1) for any sign). */
static double py_mod1(double x)
{
    double r = fmod(x, 1.0);
    if (r != 0.0 && r < 0.0)
        r += 1.0;
    return r;
}

static double max0(double x) { return x > 0.0 ? x : 0.0; }

double stc_scheduler_lambda(const stc_scheduler *s, int64_t k)
{
    const int64_t T = s->total_steps, W = s->warmup_steps;
    if (s->type == STC_SCHED_CONSTANT)
        return 1.0;
    if (k < W) {
        if (s->type == STC_SCHED_CONSTANT_WITH_WARMUP) /* float(max(1.0, W)) */
            return (double)k / ((double)W > 1.0 ? (double)W : 1.0);
        return (double)k / (double)(W > 1 ? W : 1);
    }
    double den = (double)(T - W > 1 ? T - W : 1);
    switch (s->type) {
    case STC_SCHED_LINEAR:
        return max0((double)(T - k) / den);
    case STC_SCHED_COSINE: {
        double progress = (double)(k - W) / den;
        return max0(0.5 * (1.0 + cos(M_PI * s->num_cycles * 2.0 * progress)));
    }
    case STC_SCHED_COSINE_WITH_RESTARTS: {
        double progress = (double)(k - W) / den;
        if (progress >= 1.0)
            return 0.0;
        return max0(0.5 * (1.0 + cos(M_PI * py_mod1(s->num_cycles * progress))));
    }
    case STC_SCHED_POLYNOMIAL: {
        if (k > T || T == W) /* T == W (so k == T): Python divides by zero */
            return s->lr_end / s->lr_init;
        double lr_range = s->lr_init - s->lr_end;
        double pct_remaining = 1.0 - (double)(k - W) / (double)(T - W);
        double decay = lr_range * pow(pct_remaining, s->power) + s->lr_end;
        return decay / s->lr_init;
    }
    case STC_SCHED_CONSTANT_WITH_WARMUP:
        return 1.0;
    case STC_SCHED_CONSTANT:
        return 1.0;
    }
    return 1.0;
}

double stc_scheduler_lr(const stc_scheduler *s, double group_lr, int64_t k)
{
    return group_lr * stc_scheduler_lambda(s, k);
}

/*
 * Optimizer parameter groups, built exactly as Sentence Transformers'
 * trainer builds them (ST_SPEC.md section 1, trainer.py::
 * get_optimizer_cls_and_kwargs): a decay / no-decay split by transformers'
 * get_decay_parameter_names rules, then one pair of groups per
 * learning_rate_mapping entry, whose regex is searched (unanchored, like
 * Python's re.search) in every parameter's loss-module name.
 *
 * Names are those of the loss module's named_parameters(): the ST model's
 * own names behind the prefix the loss adds ("model." for one loss,
 * "<first dataset>.model." for a dict of losses), then parameters the loss
 * owns (SoftmaxLoss: "classifier.weight", or "<dataset>.classifier.weight").
 * A caller describes each run of names as a source: one parameter table and
 * the prefix its names get. Sources are concatenated in the order given,
 * which must be named_parameters() order; a parameter's global index is its
 * position in that concatenation.
 *
 * Every parameter is taken to require grad (ST never freezes by default).
 * Parameters that get no gradient (BERT's pooler) still belong to a group, as
 * in torch; the optimizer skips them at each step (optimizer.h, has_grad).
 *
 * Python `re` versus PCRE2 (the regex engine here). Patterns are compiled
 * with PCRE2_UTF | PCRE2_UCP, so \d \w \s \b are Unicode-aware like Python's
 * str patterns, after stc_python_regex_to_pcre2() rewrites the Python
 * spellings PCRE2 reads differently:
 *   - \Z (Python: end of string only) becomes \z (PCRE2's \Z also matches
 *     before a final newline);
 *   - {,n} and {,} (Python: {0,n}, {0,}) become {0,n} / {0,} (PCRE2 before
 *     10.43 reads them as literal text);
 *   - \uXXXX and \UXXXXXXXX become \x{...} (PCRE2 rejects \u, \U);
 *   - \v (Python: the VT character) becomes \x0b (PCRE2: any vertical space);
 *   - '[' inside a character class becomes \[ (Python: a literal '[';
 *     PCRE2 would start a POSIX class such as [:alpha:]).
 * The rewrite tracks escapes and [...] sets but not (?x) comments: a '[' in
 * a verbose-mode comment would hide later {,n} from it (harmless otherwise).
 * Accepted alike: (?P<name>...), (?P=name), (?i) and other inline flags
 * except Python's (?a) (?L) (?u), which PCRE2 rejects; lookarounds, atomic
 * groups and possessive quantifiers. \N{NAME} is rejected (compile error).
 * Patterns Python rejects but PCRE2 accepts (\K, (?R), \p{..}, \Q..\E, \h,
 * \x{..}) work in stc instead of failing. $ is the same in both (end, or
 * before a final newline); names hold no newlines, so \Z vs \z never differs
 * in practice. The decay-name test lower-cases names in ASCII only, where
 * Python's str.lower() is Unicode-wide (differs only for non-ASCII names).
 */
#ifndef STC_TRAINER_PARAM_GROUPS_H
#define STC_TRAINER_PARAM_GROUPS_H

#include <stddef.h>

#include "model/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One run of named parameters: a table and the prefix its names get. */
typedef struct {
    const stc_param_table *table;      /* tensors in named_parameters() order */
    const char *prefix;                /* e.g. "model.", "<dataset>.model.", "<dataset>." ("" allowed) */
    const unsigned char *in_layernorm; /* (table->n) 1: inside an nn.LayerNorm module, never
                                          decayed whatever its name; NULL: none (BERT's LayerNorm
                                          modules are caught by their names) */
} stc_param_source;

/* One learning_rate_mapping entry, in the dict's insertion order. */
typedef struct {
    const char *pattern; /* Python regex, searched in each full name */
    double lr;
} stc_lr_mapping_entry;

/* One optimizer param group. */
typedef struct {
    double lr;           /* the group's base learning rate (before the scheduler factor) */
    double weight_decay; /* args.weight_decay, or 0.0 for a no-decay group */
    int mapping_idx;     /* -1: the two base groups; else the mapping entry that made it */
    int decay;           /* 1: the decay half of its pair */
    int n;               /* members (may be 0: a group emptied by a later pattern stays) */
    int *members;        /* (n) global parameter indices, ascending (= named_parameters order) */
} stc_param_group;

/* The groups and, per parameter, where it went. */
typedef struct {
    int n_sources;
    int *source_first;   /* (n_sources + 1) global index of each source's first parameter */
    size_t *source_total;/* (n_sources) elements in each source's slab */
    int n_params;
    char **names;        /* (n_params) full loss-module names, e.g. "model.0.auto_model.pooler.dense.bias" */
    int *source;         /* (n_params) the source of each parameter */
    int *index;          /* (n_params) its index in that source's table */
    size_t *offset;      /* (n_params) its first element in the source's slab */
    size_t *count;       /* (n_params) its element count */
    unsigned char *decay;/* (n_params) 1: in transformers' decay set */
    int *group_of;       /* (n_params) its group */
    int n_groups;
    stc_param_group *groups; /* (n_groups) [decay, no-decay, p1-decay, p1-no-decay, ...] */
} stc_param_groups;

/*
 * Builds the groups. learning_rate is args.learning_rate (the base groups'
 * lr), weight_decay args.weight_decay; mapping may be NULL when n_mapping is
 * 0. Errors (STC_ERR_USAGE): a pattern that fails to compile (its text,
 * PCRE2's message and the offset) or that matches no parameter (its text).
 */
int stc_param_groups_build(stc_param_groups *pg, const stc_param_source *sources, int n_sources,
                           double learning_rate, double weight_decay,
                           const stc_lr_mapping_entry *mapping, int n_mapping);

void stc_param_groups_free(stc_param_groups *pg);

/* Global index of the parameter with this full name, or -1. */
int stc_param_groups_find(const stc_param_groups *pg, const char *full_name);

/* 1 if transformers' get_decay_parameter_names would decay a parameter of
 * this full name (outside LayerNorm modules): none of bias, layernorm,
 * rmsnorm, (?:^|\.)norm(?:$|\.), _norm(?:$|\.) found in the lower-cased
 * name. */
int stc_param_name_decays(const char *full_name);

/* Rewrites a Python `re` pattern into the PCRE2 pattern that matches the
 * same strings (see the list above). Returns a malloc'd string, or NULL
 * with STC_ERR_NOMEM recorded. */
char *stc_python_regex_to_pcre2(const char *pattern);

#ifdef __cplusplus
}
#endif

#endif

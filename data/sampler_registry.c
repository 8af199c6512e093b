/*
 * The sampler registry: the built-in samplers plus those a user registers
 * (stc_sampler_register, or STC_SAMPLER_REGISTER before main()). Names are
 * matched case-insensitively ("NO_DUPLICATES" in a config is the Python
 * enum's name for "no_duplicates"). Registration is not thread-safe: it
 * happens at start-up, before any thread or rank does work.
 */
#include "data/sampler.h"
#include "data/sampler_internal.h"
#include "util/error.h"

#include <stdio.h>
#include <string.h>

enum { STC_SAMPLER_MAX_USER = 64 };

static const stc_sampler_ops *const builtin_ops[] = {
    &stc_sampler_builtin_batch,
    &stc_sampler_builtin_no_duplicates,
    &stc_sampler_builtin_no_duplicates_hashed,
    &stc_sampler_builtin_group_by_label,
    &stc_sampler_builtin_proportional,
    &stc_sampler_builtin_round_robin,
};

static const stc_sampler_ops *user_ops[STC_SAMPLER_MAX_USER]; /* registered, in order */
static int n_user_ops;
/* The first failed registration made before main() (STC_SAMPLER_REGISTER
 * cannot return it): its code and message, reported by stc_sampler_create. */
static int startup_code;
static char startup_message[512];

/* ASCII case-insensitive equality (locale-free, unlike strcasecmp). */
static int name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y - 'A' + 'a');
        if (x != y)
            return 0;
        if (!x)
            return 1;
    }
}

/* Any registered sampler with this name, of either kind. */
static const stc_sampler_ops *find_any(const char *name)
{
    for (size_t i = 0; i < sizeof builtin_ops / sizeof *builtin_ops; i++)
        if (name_eq(builtin_ops[i]->name, name))
            return builtin_ops[i];
    for (int i = 0; i < n_user_ops; i++)
        if (name_eq(user_ops[i]->name, name))
            return user_ops[i];
    return NULL;
}

const stc_sampler_ops *stc_sampler_find(const char *name, stc_sampler_kind kind)
{
    if (!name)
        return NULL;
    const stc_sampler_ops *ops = find_any(name);
    return ops && ops->kind == kind ? ops : NULL;
}

int stc_sampler_register(const stc_sampler_ops *ops)
{
    if (!ops || !ops->name || !ops->name[0])
        return stc_errorf(STC_ERR_USAGE, "sampler registration: the sampler has no name");
    if (ops->kind == STC_SAMPLER_BATCH ? !ops->plan_batches
        : ops->kind == STC_SAMPLER_MULTI ? !ops->plan_order
                                         : 1)
        return stc_errorf(STC_ERR_USAGE,
                          "sampler registration: \"%s\": kind must be STC_SAMPLER_BATCH with "
                          "plan_batches or STC_SAMPLER_MULTI with plan_order",
                          ops->name);
    const stc_sampler_ops *old = find_any(ops->name);
    if (old == ops)
        return 0;
    if (old)
        return stc_errorf(STC_ERR_USAGE, "sampler registration: the name \"%s\" is already taken",
                          ops->name);
    if (n_user_ops == STC_SAMPLER_MAX_USER)
        return stc_errorf(STC_ERR_USAGE, "sampler registration: \"%s\": more than %d custom samplers",
                          ops->name, STC_SAMPLER_MAX_USER);
    user_ops[n_user_ops++] = ops;
    return 0;
}

void stc_sampler_register_at_start(const stc_sampler_ops *ops)
{
    int rc = stc_sampler_register(ops);
    if (rc && !startup_code) {
        startup_code = rc;
        snprintf(startup_message, sizeof startup_message, "%s", stc_error_message());
    }
}

int stc_sampler_startup_error(void)
{
    if (startup_code)
        stc_errorf(startup_code, "%s", startup_message);
    return startup_code;
}

void stc_sampler_list_names(stc_sampler_kind kind, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    size_t nb = sizeof builtin_ops / sizeof *builtin_ops;
    for (size_t i = 0; i < nb + (size_t)n_user_ops; i++) {
        const stc_sampler_ops *ops = i < nb ? builtin_ops[i] : user_ops[i - nb];
        if (ops->kind != kind)
            continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", ops->name);
        if (w < 0 || (size_t)w >= size - used)
            return; /* cut short; the message stays readable */
        used += (size_t)w;
    }
}

int stc_sampler_parse_choice(const cJSON *value, const char *key, const char **name,
                             const cJSON **params)
{
    *name = NULL;
    *params = NULL;
    if (cJSON_IsString(value) && value->valuestring[0]) {
        *name = value->valuestring;
        return 0;
    }
    if (cJSON_IsObject(value)) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(value, "type");
        if (!cJSON_IsString(type) || !type->valuestring[0])
            return stc_errorf(STC_ERR_USAGE,
                              "config: %s: an object needs \"type\": the sampler's name", key);
        *name = type->valuestring;
        *params = value;
        return 0;
    }
    return stc_errorf(STC_ERR_USAGE,
                      "config: %s: expected a sampler name or {\"type\": name, ...parameters}", key);
}

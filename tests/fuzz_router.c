/*
 * libFuzzer harness for the Router's router_config.json parser and route
 * resolution (RELIABILITY.md, "Untrusted input"). Built by
 * tests/cmake/router.cmake as fuzz_replay_router (the seed corpus replayed
 * under ASan/UBSan in ctest, any compiler) and, with clang, the fuzz_router
 * libFuzzer binary.
 *
 * A rejected file must be STC_ERR_DATA with a message naming it (or an
 * allocation failure). An accepted one must keep its promises, else the
 * harness aborts (a finding): at least one route, every route non-empty with
 * module indices inside "types", ids that stay inside the model folder, a
 * default route and mapping targets that are routes, and every task either
 * resolving to a route or failing with a message naming the task.
 */
#include "model/router.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz-input"

static void fuzz_check_accepted(const stc_router_config *rc)
{
    if (rc->n_routes < 1 || rc->n_entries < 1)
        abort();
    for (int r = 0; r < rc->n_routes; r++) {
        if (rc->routes[r].n < 1 || stc_router_find_route(rc, rc->routes[r].name) != r)
            abort();
        for (int i = 0; i < rc->routes[r].n; i++)
            if (rc->routes[r].entries[i] < 0 || rc->routes[r].entries[i] >= rc->n_entries)
                abort();
    }
    for (int i = 0; i < rc->n_entries; i++) {
        const char *id = rc->entries[i].id;
        size_t n = strlen(id);
        if (!n || id[0] == '/' || !strcmp(id, "..") || !strncmp(id, "../", 3) || strstr(id, "/../") ||
            (n >= 3 && !strcmp(id + n - 3, "/..")) || !rc->entries[i].type)
            abort();
    }
    if (rc->default_route < -1 || rc->default_route >= rc->n_routes)
        abort();
    for (int i = 0; i < rc->n_mappings; i++)
        if (rc->mappings[i].route < 0 || rc->mappings[i].route >= rc->n_routes)
            abort();
    /* Tasks: none, the usual ones, every route's name and an unknown one. */
    const char *tasks[] = {NULL, "", "query", "document", "text", "no such task"};
    for (int t = 0; t < (int)(sizeof tasks / sizeof tasks[0]) + rc->n_routes; t++) {
        const char *task = t < 6 ? tasks[t] : rc->routes[t - 6].name;
        int route = -1;
        int r = stc_router_resolve(rc, task, &route);
        if (r == 0 && (route < 0 || route >= rc->n_routes))
            abort();
        if (r != 0 && (r != STC_ERR_USAGE || (task && !strstr(stc_error_message(), task))))
            abort();
        /* A route's own name always resolves (perhaps through a mapping),
         * except "", which Python never looks up (`if task and ...`). */
        if (t >= 6 && task[0] && r != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stc_router_config rc;
    int r = stc_router_config_parse(&rc, (const char *)data, size, FUZZ_NAME);
    if (r == 0) {
        fuzz_check_accepted(&rc);
        stc_router_config_free(&rc);
    } else if (r != STC_ERR_NOMEM && (r != STC_ERR_DATA || !strstr(stc_error_message(), FUZZ_NAME))) {
        abort();
    }
    return 0;
}

/*
 * Bounded best-k lists (eval_internal.h): a heap with the worst entry at the
 * root, so a new entry costs one comparison unless it belongs in the list.
 */
#include "trainer/eval_internal.h"

static int better(stc_eval_hit a, stc_eval_hit b, const size_t *rank)
{
    if (a.s != b.s)
        return a.s > b.s;
    return rank ? rank[a.doc] < rank[b.doc] : a.doc < b.doc;
}

static void sift_down(stc_eval_hit *h, int n, int i, const size_t *rank)
{
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(h[w], h[l], rank))
            w = l;
        if (r < n && better(h[w], h[r], rank))
            w = r;
        if (w == i)
            return;
        stc_eval_hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

void stc_eval_topk_push(stc_eval_hit *h, int *n, int cap, stc_eval_hit x, const size_t *rank)
{
    if (*n < cap) {
        int i = (*n)++;
        h[i] = x;
        while (i > 0 && better(h[(i - 1) / 2], h[i], rank)) { /* parent must be the worse */
            stc_eval_hit t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (better(x, h[0], rank)) {
        h[0] = x;
        sift_down(h, *n, 0, rank);
    }
}

void stc_eval_topk_sort(stc_eval_hit *h, int n, const size_t *rank)
{
    for (int m = n; m > 1; m--) {
        stc_eval_hit t = h[0]; /* the worst of h[0..m) goes to the back */
        h[0] = h[m - 1];
        h[m - 1] = t;
        sift_down(h, m - 1, 0, rank);
    }
}


/* kernels/dropout: the keep rate, the scaling, masks that backward
 * regenerates exactly, and independence from thread count. */
#include "kernels/dropout.h"
#include "tests/check.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    size_t n = 1 << 20;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *y2 = malloc(sizeof(float) * n);
    float *g = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f + (float)(i % 7);
    float p = 0.1f;
    uint64_t seed = stc_dropout_site_seed(42, 0, 3, 5);
    stc_dropout_forward(y, x, n, p, seed, 1000);
    size_t dropped = 0, misscaled = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] == 0.0f)
            dropped++;
        else
            misscaled += y[i] != x[i] * (1.0f / (1.0f - p));
    }
    CHECK_MSG(misscaled == 0, "%zu kept elements scaled wrong", misscaled);
    /* Binomial(n, 0.1): sd ~ 307; allow 5 sd. */
    CHECK_MSG(labs((long)dropped - (long)(n / 10)) < 1600, "dropped %zu of %zu", dropped, n);

    /* Backward drops exactly the same elements. */
    for (size_t i = 0; i < n; i++)
        g[i] = 1.0f;
    stc_dropout_backward(g, g, n, p, seed, 1000);
    size_t mismatch = 0;
    for (size_t i = 0; i < n; i++)
        mismatch += (g[i] == 0.0f) != (y[i] == 0.0f);
    CHECK(mismatch == 0);

    /* Same stream at an offset: element i of a later slice sees the same
     * decision as in one long call. */
    stc_dropout_forward(y2, x + 500, 1000, p, seed, 1500);
    CHECK(memcmp(y2, y + 500, 1000 * sizeof(float)) == 0);

    /* Thread count does not matter. */
    omp_set_num_threads(1);
    stc_dropout_forward(y2, x, n, p, seed, 1000);
    CHECK(memcmp(y, y2, n * sizeof(float)) == 0);
    omp_set_num_threads(2);

    /* Another site or step gives another mask; p = 0 is the identity. */
    stc_dropout_forward(y2, x, n, p, stc_dropout_site_seed(42, 0, 3, 6), 1000);
    CHECK(memcmp(y, y2, n * sizeof(float)) != 0);
    stc_dropout_forward(y2, x, n, p, stc_dropout_site_seed(42, 1, 3, 5), 1000);
    CHECK(memcmp(y, y2, n * sizeof(float)) != 0);
    stc_dropout_forward(y2, x, n, 0.0f, seed, 0);
    CHECK(memcmp(x, y2, n * sizeof(float)) == 0);
    free(x); free(y); free(y2); free(g);
    return check_report("test_dropout");
}

/*
 * model/bert_train: the encoder's training forward equals the inference
 * forward, and its backward (all layers composed, with and without dropout:
 * hidden dropout, attention-probability dropout, both) matches finite
 * differences of the forward for every parameter tensor and a sample of its
 * elements.
 *
 * The kernels are float32, so the finite differences are too: with step
 * 1e-2 on a loss of order 1 the truncation error is O(1e-4 * f''') and the
 * rounding error O(1e-7 / 1e-2) = 1e-5; a tolerance of 2e-3 relative to
 * max(1, |g|) leaves room for both and still catches any wrong term (those
 * are O(|g|)).
 */
#include "kernels/dropout.h"
#include "model/bert.h"
#include "model/bert_train.h"
#include "tests/check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 0x243F6A8885A308D3ull;
static float frand(void)
{
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    return (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

enum { B = 3 };
static const int lens[B] = {3, 1, 5};
static int32_t ids[9], pos[9], types[9];
static int cu[B + 1];

static double loss_of(const stc_bert *m, stc_param_table *t, stc_bert_train_acts *a, const float *R,
                      stc_bert_dropout d)
{
    stc_bert_train_forward(m, t, stc_ops_cpu(), a, ids, pos, types, cu, B, d);
    double l = 0;
    for (int i = 0; i < cu[B] * m->cfg.hidden_size; i++)
        l += (double)a->out[i] * R[i];
    return l;
}

/* One model, one pass seed d (0: eval), the config's dropout
 * probabilities p_hidden and p_attn (applied only when d.seed is set). */
static void run(stc_bert_dropout d, float p_hidden, float p_attn, const char *what)
{
    stc_bert_config cfg = {.vocab_size = 20, .hidden_size = 8, .num_hidden_layers = 2, .num_attention_heads = 2,
                           .intermediate_size = 12, .max_position_embeddings = 16, .type_vocab_size = 2,
                           .layer_norm_eps = 1e-12f, .hidden_act = STC_ACT_GELU, .hidden_dropout_prob = p_hidden,
                           .attention_probs_dropout_prob = p_attn};
    stc_param_table t;
    stc_params_init(&t);
    stc_bert m;
    CHECK(stc_bert_register(&m, &cfg, &t, 0, "0.auto_model.") == 0);
    CHECK(stc_params_alloc(&t) == 0);
    for (size_t i = 0; i < t.total; i++)
        t.slab[i] = 0.5f * frand();
    for (int i = 0; i < t.n; i++) /* LayerNorm weights near 1, as trained models have */
        if (strstr(t.params[i].name, "LayerNorm.weight"))
            for (size_t k = 0; k < t.params[i].count; k++)
                stc_params_data(&t, i)[k] += 1.0f;
    int T = cu[B], C = cfg.hidden_size;
    float *R = malloc(sizeof(float) * T * C), *dout = malloc(sizeof(float) * T * C);
    for (int i = 0; i < T * C; i++)
        R[i] = frand();
    stc_bert_train_acts a;
    CHECK(stc_bert_train_acts_alloc(&a, &cfg, 16, 8) == 0);

    /* Without dropout the training forward is the inference forward; with
     * it, the output differs (the masks are applied). */
    {
        stc_bert_acts inf;
        CHECK(stc_bert_acts_alloc(&inf, &cfg, 16, 8) == 0);
        stc_bert_forward(&m, &t, stc_ops_cpu(), &inf, ids, pos, types, cu, B);
        stc_bert_train_forward(&m, &t, stc_ops_cpu(), &a, ids, pos, types, cu, B, d);
        int same = memcmp(inf.x, a.out, sizeof(float) * T * C) == 0;
        if (!d.seed || (p_hidden <= 0.0f && p_attn <= 0.0f))
            CHECK_MSG(same, "%s: training forward differs from inference", what);
        else
            CHECK_MSG(!same, "%s: dropout changed nothing", what);
        stc_bert_acts_free(&inf);
    }

    float *grads = calloc(t.total, sizeof(float));
    loss_of(&m, &t, &a, R, d);
    memcpy(dout, R, sizeof(float) * T * C);
    stc_bert_train_backward(&m, &t, stc_ops_cpu(), &a, grads, dout, ids, pos, types, cu, B, d);

    double worst = 0;
    const char *worst_name = "";
    for (int p = 0; p < t.n; p++) {
        if (strstr(t.params[p].name, "pooler"))
            continue; /* not part of the encoder's output */
        size_t n = t.params[p].count;
        for (int k = 0; k < 6; k++) {
            size_t e = (size_t)((double)(frand() * 0.5f + 0.5f) * (double)n) % n;
            float *w = stc_params_data(&t, p) + e, keep = *w;
            *w = keep + 1e-2f;
            double lp = loss_of(&m, &t, &a, R, d);
            *w = keep - 1e-2f;
            double lm = loss_of(&m, &t, &a, R, d);
            *w = keep;
            double fd = (lp - lm) / 2e-2, g = grads[t.params[p].offset + e];
            double err = fabs(fd - g) / fmax(1.0, fabs(g));
            if (err > worst) {
                worst = err;
                worst_name = t.params[p].name;
            }
        }
    }
    CHECK_MSG(worst < 2e-3, "%s: worst relative error %.3g at %s", what, worst, worst_name);
    printf("  %s: worst relative error %.3g (%s)\n", what, worst, worst_name);

    /* Parameter gradients accumulate: a second backward doubles them (up to
     * rounding: sgemm with beta = 1 adds its partial sums into the old
     * value in its own order). */
    float *g2 = malloc(sizeof(float) * t.total);
    memcpy(g2, grads, sizeof(float) * t.total);
    loss_of(&m, &t, &a, R, d);
    memcpy(dout, R, sizeof(float) * T * C);
    stc_bert_train_backward(&m, &t, stc_ops_cpu(), &a, grads, dout, ids, pos, types, cu, B, d);
    size_t bad = 0;
    for (size_t i = 0; i < t.total; i++)
        bad += fabsf(grads[i] - 2.0f * g2[i]) > 1e-6f * fmaxf(1.0f, fabsf(g2[i]));
    CHECK_MSG(bad == 0, "%zu gradients did not accumulate exactly", bad);
    free(g2);
    free(grads);
    free(R);
    free(dout);
    stc_bert_train_acts_free(&a);
    stc_bert_free(&m);
    stc_params_free(&t);
}

int main(void)
{
    int T = 0;
    cu[0] = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < lens[b]; i++) {
            ids[T + i] = (int32_t)((T * 7 + i * 3) % 20);
            pos[T + i] = i;
            types[T + i] = i % 2;
        }
        T += lens[b];
        cu[b + 1] = T;
    }
    run((stc_bert_dropout){.seed = 0}, 0.2f, 0.2f, "no dropout (eval)");
    run((stc_bert_dropout){.seed = 1234}, 0.2f, 0.0f, "hidden dropout 0.2");
    run((stc_bert_dropout){.seed = 1234}, 0.0f, 0.2f, "attention dropout 0.2");
    run((stc_bert_dropout){.seed = 1234}, 0.2f, 0.2f, "hidden + attention dropout 0.2");
    return check_report("test_bert_train");
}

/*
 * The op API: every numeric kernel the model runs, behind one table of
 * function pointers per backend (CPU now; CUDA fills the same table later),
 * so that a test can run an op on two backends in one binary and compare.
 *
 * Kernels know nothing of modules, files or MPI: they see pointers and sizes.
 *
 * Shapes (llm.c's legend):
 *   T  tokens of a packed batch (all sequences back to back, no padding)
 *   B  sequences in the batch; cu_seqlens[B+1] gives each one's token range
 *   C  channels (hidden size)   H heads   D = C / H head size
 *   OC output channels          V vocabulary   P positions
 *
 * Packed ("varlen") layout: sequence b owns rows cu_seqlens[b] ..
 * cu_seqlens[b+1]-1 of every [T, *] activation. No compute is spent on
 * padding, and attention of one sequence never sees another's tokens, which
 * equals a padded batch with an additive -inf key mask.
 *
 * Conventions: outputs first, then saved-for-backward buffers, then inputs,
 * then dimensions. A gradient carries its tensor's name with a `d` prefix.
 *
 * The accumulation contract (every backend, every op):
 *   - forward ops ASSIGN (=) their outputs;
 *   - backward ops ACCUMULATE (+=) into PARAMETER gradients (dwte, dweight,
 *     dbias, ...), so micro-batches, gradient accumulation and GradCache's
 *     second pass add up in one gradient slab that the trainer zeroes once
 *     per optimizer step;
 *   - backward ops ASSIGN (=) ACTIVATION gradients (dinp, dqkv): the caller
 *     adds a residual stream's two branches itself (residual_forward).
 *   - parameter-gradient pointers may be NULL (a frozen parameter): that
 *     gradient is then skipped; activation-gradient pointers may be NULL
 *     only where an op says so.
 *   - results are deterministic and bit-identical for any OpenMP thread
 *     count: reductions that feed gradients use no atomics and a partition
 *     of the work that does not depend on the number of threads.
 */
#ifndef STC_KERNELS_OPS_H
#define STC_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    STC_ACT_IDENTITY,
    STC_ACT_TANH,
    STC_ACT_RELU,
    STC_ACT_GELU,     /* erf form, as BERT and torch.nn.GELU() */
    STC_ACT_SIGMOID
} stc_activation;

typedef struct stc_ops {
    const char *name; /* "cpu", "cuda" */

    /* out[T,C] = wte[ids[t]] + wpe[pos[t]] + wtt[type_ids[t]] */
    void (*embeddings_forward)(float *out, const int32_t *ids, const int32_t *pos,
                               const int32_t *type_ids, const float *wte, const float *wpe,
                               const float *wtt, int T, int C);

    /* out[N,C] = LayerNorm(inp) * weight + bias; mean/rstd[N] saved if non-NULL.
     * out may alias inp. */
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C, float eps);

    /* out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC] (bias may be NULL). */
    void (*matmul_forward)(float *out, const float *inp, const float *weight, const float *bias,
                           int N, int C, int OC);

    /* Multi-head self-attention over packed sequences.
     * out[T,C]: per head h, dropout(softmax(q_h k_h^T / sqrt(D))) v_h, heads
     *      concatenated.
     * qkv[T,3C]: q in columns [0,C), k in [C,2C), v in [2C,3C).
     * att: if non-NULL, the softmax probabilities (before dropout) are saved
     *      for backward, sequence b's H blocks of [L_b, L_b] at att_offsets
     *      (computed by the caller as H * sum of L^2 of earlier sequences).
     * p_drop, seed: attention-probability dropout (BERT's
     *      attention_probs_dropout_prob, torch.nn.Dropout in training):
     *      probability (b, h, i, j) is kept when
     *      stc_dropout_uniform(seed, ctr) >= p_drop (kernels/dropout.h), then scaled by
     *      1 / (1 - p_drop), else zeroed, with ctr = that element's offset in
     *      the att layout above, att_offset(b) + (h * L_b + i) * L_b + j,
     *      whether or not att is saved. The mask is a pure function of
     *      (seed, the batch's cu_seqlens, b, h, i, j): independent of thread
     *      count and scheduling, and backward regenerates it. p_drop <= 0
     *      (inference, eval) is exactly the op without dropout; seed is then
     *      unused.
     * scratch: stc_attention_scratch_floats(max_len) floats. */
    void (*attention_forward)(float *out, float *att, const float *qkv, const int *cu_seqlens,
                              int B, int C, int H, float p_drop, uint64_t seed, float *scratch);

    /* out[n] = act(inp[n]); out may alias inp. */
    void (*activation_forward)(float *out, const float *inp, size_t n, stc_activation act);

    /* out[n] = a[n] + b[n]; out may alias a or b. */
    void (*residual_forward)(float *out, const float *a, const float *b, size_t n);

    /* Row-wise L2 normalisation, x / max(||x||, 1e-12) (torch F.normalize).
     * out[N,C], inp[N,C]; out may alias inp. */
    void (*l2_normalize_forward)(float *out, const float *inp, int N, int C);

    /* ---- Backward passes (contract at the top of this file) ---- */

    /* dwte[V,C] += sum over t with ids[t] = v of dout[t]; likewise
     * dwpe[P,C] (by pos) and dwtt[types,C] (by type_ids). dout[T,C].
     * Tokens are summed in order 0..T-1 for every element. */
    void (*embeddings_backward)(float *dwte, float *dwpe, float *dwtt, const float *dout,
                                const int32_t *ids, const int32_t *pos, const int32_t *type_ids,
                                int T, int C);

    /* From dout[N,C] of layernorm_forward: dinp[N,C] = (assigned),
     * dweight[C] +=, dbias[C] +=. mean/rstd[N] are the values forward saved;
     * inp is forward's input (so forward must not have run in place on it).
     * dinp may alias dout. */
    void (*layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C);

    /* From dout[N,OC] of matmul_forward: dinp[N,C] = dout @ weight (assigned;
     * may be NULL when the input needs no gradient), dweight[OC,C] +=
     * dout^T @ inp, dbias[OC] += column sums of dout. No aliasing. */
    void (*matmul_backward)(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int N, int C, int OC);

    /* From dout[T,C] of attention_forward: dqkv[T,3C] (assigned; q, k, v
     * columns as qkv). att holds the softmax probabilities forward saved
     * (layout as attention_forward's att: before dropout); qkv is forward's
     * input; p_drop and seed must be forward's, so that the same dropout
     * mask is regenerated (dV = P_dropped^T dO, dP = mask / (1 - p) * dO V^T,
     * then the softmax backward with the saved P).
     * scratch: stc_attention_backward_scratch_floats(max_len) floats. */
    void (*attention_backward)(float *dqkv, const float *dout, const float *qkv, const float *att,
                               const int *cu_seqlens, int B, int C, int H, float p_drop,
                               uint64_t seed, float *scratch);

    /* dinp[n] = dout[n] * act'(inp[n]) (assigned; dinp may alias dout).
     * inp is forward's input. GELU: 0.5 (1 + erf(x/sqrt 2)) + x phi(x);
     * ReLU'(0) = 0 as torch. */
    void (*activation_backward)(float *dinp, const float *dout, const float *inp, size_t n,
                                stc_activation act);

    /* From dout[N,C] of l2_normalize_forward: dinp[N,C] (assigned; may alias
     * dout), torch semantics: where ||x|| >= 1e-12, (dout - y (y . dout)) /
     * ||x|| with y = x / ||x||; elsewhere dout / 1e-12 (the clamp's branch). */
    void (*l2_normalize_backward)(float *dinp, const float *dout, const float *inp, int N, int C);
} stc_ops;

/* Floats of scratch that attention_forward needs for sequences of at most
 * max_len tokens (one [max_len, max_len] score block per worker thread).
 * Sized with omp_get_max_threads(): call it under the thread count the op
 * will run with. */
size_t stc_attention_scratch_floats(int max_len);

/* Floats of scratch that attention_backward needs for sequences of at most
 * max_len tokens (one [max_len, max_len] dP block per worker thread; same
 * thread-count rule). Never more than stc_attention_scratch_floats(max_len),
 * so one buffer serves both passes. */
size_t stc_attention_backward_scratch_floats(int max_len);

/* The CPU backend (always available; the oracle for every other backend). */
const stc_ops *stc_ops_cpu(void);

#ifdef __cplusplus
}
#endif

#endif

/* ops.h — every numerical op drum runs, forward and backward, as one table.
 *
 * A backend (backend.h) fills a `drum_ops` with its implementations: kernels/cpu/NAME.c
 * and kernels/cuda/NAME.cu hold the two versions of an op, with the same name and
 * signature. Conventions shared by every op:
 *   - Tensors are float32, row-major, contiguous, in backend memory. Sizes are explicit
 *     (llm.c style): N rows, C channels, B batch, T tokens, NH heads, V vocabulary.
 *   - Forward ops overwrite every element of their outputs.
 *   - Backward ops ACCUMULATE (+=) into every gradient they produce, so a tensor used
 *     twice (residual streams) gets the sum. A NULL gradient pointer skips that gradient.
 *   - Index tensors (ids, targets, positions) are int32 in backend memory.
 *   - Reductions are deterministic: fixed order, no float atomics, the same bytes
 *     from run to run (and on the CPU, for any thread count).
 *   - On `cuda` ops are asynchronous on the backend's stream; errors are recorded in the
 *     backend (sticky), never printed.
 * Activations are float32 today; a bf16 variant of an op will be a second table entry
 * with a `_bf16` suffix, so these signatures stay as they are.
 */
#ifndef DRUM_OPS_H
#define DRUM_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drum_backend drum_backend;

typedef enum {
    DRUM_ACT_QUICK_GELU = 0, /* x * sigmoid(1.702 x)                 (HF "quick_gelu") */
    DRUM_ACT_GELU = 1,       /* x * Phi(x), exact erf form            (HF "gelu") */
    DRUM_ACT_GELU_TANH = 2   /* tanh approximation                    (HF "gelu_new") */
} drum_act;

typedef struct drum_ops {
    /* ---- matmul.c/.cu -------------------------------------------------------
     * C(M,N) = alpha * op(A) op(B) + bias[N] + beta * C, beta in {0, 1}.
     * op(A) is (M,K): A is stored (M,K), or (K,M) when transA. op(B) is (K,N): B is stored
     * (K,N), or (N,K) when transB (an nn.Linear weight (out,in) is transB = 1). bias may be NULL. */
    void (*matmul_forward)(drum_backend *be, float *C, const float *A, const float *B,
                           const float *bias, int M, int N, int K, int transA, int transB,
                           float alpha, float beta);
    /* dA += alpha * dC op(B)^T (in A's stored layout), dB += alpha * op(A)^T dC (in B's
     * stored layout), dbias += column sums of dC. */
    void (*matmul_backward)(drum_backend *be, float *dA, float *dB, float *dbias,
                            const float *dC, const float *A, const float *B, int M, int N,
                            int K, int transA, int transB, float alpha);

    /* ---- layernorm ----------------------------------------------------------
     * out(N,C) = (inp - mean) * rstd * w + b per row; saves mean(N), rstd(N). */
    void (*layernorm_forward)(drum_backend *be, float *out, float *mean, float *rstd,
                              const float *inp, const float *w, const float *b, int N, int C,
                              float eps);
    void (*layernorm_backward)(drum_backend *be, float *dinp, float *dw, float *db,
                               const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, int N, int C);

    /* ---- act: quick_gelu / gelu / gelu_tanh, elementwise over n ------------- */
    void (*act_forward)(drum_backend *be, float *out, const float *inp, size_t n, drum_act act);
    void (*act_backward)(drum_backend *be, float *dinp, const float *dout, const float *inp,
                         size_t n, drum_act act);

    /* ---- residual: out = a + b ---------------------------------------------- */
    void (*residual_forward)(drum_backend *be, float *out, const float *a, const float *b,
                             size_t n);
    void (*residual_backward)(drum_backend *be, float *da, float *db, const float *dout,
                              size_t n);

    /* ---- embedding: out[n,:] = table[ids[n],:], table (V,C). Out-of-range ids are an
     * error recorded in the backend. Backward scatter-adds without atomics. */
    void (*embedding_forward)(drum_backend *be, float *out, const int *ids, const float *table,
                              int N, int V, int C);
    void (*embedding_backward)(drum_backend *be, float *dtable, const float *dout,
                               const int *ids, int N, int V, int C);

    /* ---- positions: out[b,t,:] = inp[b,t,:] + pos[t,:]; dpos sums over b. ---- */
    void (*add_positions_forward)(drum_backend *be, float *out, const float *inp,
                                  const float *pos, int B, int T, int C);
    void (*add_positions_backward)(drum_backend *be, float *dinp, float *dpos,
                                   const float *dout, int B, int T, int C);

    /* ---- patchify: img (B,Cin,H,W) -> out (B, 1+NP, Cin*P*P), NP = (H/P)*(W/P),
     * patches in raster order, each row in Conv2d weight order (c, ky, kx), so the patch
     * embedding is one GEMM against the (width, Cin*P*P) conv weight. Row 0 of every
     * image is zero: the class token's slot. H and W are multiples of P. */
    void (*patchify_forward)(drum_backend *be, float *out, const float *img, int B, int Cin,
                             int H, int W, int P);
    void (*patchify_backward)(drum_backend *be, float *dimg, const float *dout, int B, int Cin,
                              int H, int W, int P);

    /* ---- levels: out (B, 3, plane) = lut[c][levels (B, 3, plane)], the normalised pixels
     * of images kept as uint8 levels (prepare.h); lut (3, 256) float in backend memory.
     * No backward: pixels are not differentiated. Tested in tests/test_image.c (not the op
     * table: its tensors are float or int32), cuda against cpu when a GPU is visible. */
    void (*levels_forward)(drum_backend *be, float *out, const uint8_t *levels,
                           const float *lut, int B, size_t plane);

    /* ---- attention: qkv (B,T,3C) packed [q | k | v], NH heads of C/NH, scores scaled
     * by 1/sqrt(C/NH); causal masks keys after the query; key_mask (B,T) (1 = attend,
     * 0 = padding) or NULL. Saves att (B,NH,T,T) probabilities; out (B,T,C). A query row
     * whose keys are all masked gets zero probabilities and a zero output.
     * Backward needs a scratch datt of the same size as att. */
    void (*attention_forward)(drum_backend *be, float *out, float *att, const float *qkv,
                              const int *key_mask, int B, int T, int C, int NH, int causal);
    void (*attention_backward)(drum_backend *be, float *dqkv, float *datt, const float *dout,
                               const float *qkv, const float *att, const int *key_mask, int B,
                               int T, int C, int NH, int causal);

    /* ---- pool: out[b,:] = inp[b, idx[b], :] (class token, EOS token) -------- */
    void (*pool_forward)(drum_backend *be, float *out, const float *inp, const int *idx, int B,
                         int T, int C);
    void (*pool_backward)(drum_backend *be, float *dinp, const float *dout, const int *idx,
                          int B, int T, int C);

    /* ---- l2norm: out[n] = inp[n] / ||inp[n]||, saves norm(N) ---------------- */
    void (*l2norm_forward)(drum_backend *be, float *out, float *norm, const float *inp, int N,
                           int C);
    void (*l2norm_backward)(drum_backend *be, float *dinp, const float *dout, const float *out,
                            const float *norm, int N, int C);

    /* ---- concat along features: out(N, Ca+Cb) = [wa * a | wb * b] ------------ */
    void (*concat_forward)(drum_backend *be, float *out, const float *a, const float *b, int N,
                           int Ca, int Cb, float wa, float wb);
    void (*concat_backward)(drum_backend *be, float *da, float *db, const float *dout, int N,
                            int Ca, int Cb, float wa, float wb);

    /* ---- similarity: out(M,N) = exp(*log_scale) * a(M,C) b(N,C)^T, log_scale a
     * one-element backend tensor (CLIP's logit_scale; log(1/tau) for a fixed tau). */
    void (*similarity_forward)(drum_backend *be, float *out, const float *a, const float *b,
                               const float *log_scale, int M, int N, int C);
    void (*similarity_backward)(drum_backend *be, float *da, float *db, float *dlog_scale,
                                const float *dout, const float *out, const float *a,
                                const float *b, const float *log_scale, int M, int N, int C);

    /* ---- softmax cross-entropy over rows: loss[n] = -log softmax(logits[n])[t[n]],
     * probs (N,V) saved. Targets out of range are an error. Also DRUM's in-batch
     * contrastive term (the positive candidate is the target). */
    void (*softmax_xent_forward)(drum_backend *be, float *loss, float *probs,
                                 const float *logits, const int *targets, int N, int V);
    void (*softmax_xent_backward)(drum_backend *be, float *dlogits, const float *dloss,
                                  const float *probs, const int *targets, int N, int V);

    /* ---- listwise: DRUM's rank term and the ablation losses, per query row.
     * sim (Q,L): retriever similarities already divided by tau; fb (Q,L): LVLM feedback
     * scores (higher = better). Candidates with fb = -INFINITY are absent (padding).
     * rank:    loss[q] = mean over pairs (i,j), fb_i > fb_j, of
     *          |1/pi(i) - 1/pi(j)| * log(1 + exp(-(sim_i - sim_j))), pi = 1-based position
     *          in the sim-descending order (ties by index); 0 when no pair exists.
     * listnet: loss[q] = KL(softmax(fb/tau_t) || softmax(sim)).
     * listmle: loss[q] = -log Plackett-Luce probability of the fb-descending order. */
    void (*listwise_rank_forward)(drum_backend *be, float *loss, const float *sim,
                                  const float *fb, int Q, int L);
    void (*listwise_rank_backward)(drum_backend *be, float *dsim, const float *dloss,
                                   const float *sim, const float *fb, int Q, int L);
    void (*listnet_forward)(drum_backend *be, float *loss, const float *sim, const float *fb,
                            int Q, int L, float tau_t);
    void (*listnet_backward)(drum_backend *be, float *dsim, const float *dloss,
                             const float *sim, const float *fb, int Q, int L, float tau_t);
    void (*listmle_forward)(drum_backend *be, float *loss, const float *sim, const float *fb,
                            int Q, int L);
    void (*listmle_backward)(drum_backend *be, float *dsim, const float *dloss,
                             const float *sim, const float *fb, int Q, int L);

    /* ---- optimizer and gradient utilities (nothing differentiates through these) ----
     * adamw: decoupled weight decay (PyTorch AdamW), step counts from 1. */
    void (*adamw_update)(drum_backend *be, float *param, const float *grad, float *m, float *v,
                         size_t n, float lr, float beta1, float beta2, float eps,
                         float weight_decay, int step);
    /* *out (a one-element backend tensor) = sum of x^2, in float64 internally. */
    void (*sum_squares)(drum_backend *be, float *out, const float *x, size_t n);
    /* x *= s (gradient clipping, loss scaling). */
    void (*scale)(drum_backend *be, float *x, size_t n, float s);

    /* ---- topk per row: the k largest of inp (N,V), descending, ties broken by the lower
     * index; exclude (N) or NULL: column exclude[n] of row n is skipped (a query's own
     * entry in the pool; -1 = none). k <= V (minus one when excluding). */
    void (*topk_forward)(drum_backend *be, float *vals, int *idx, const float *inp,
                         const int *exclude, int N, int V, int k);
} drum_ops;

/* The CPU table (kernels/cpu/), always present. */
void drum_cpu_ops_fill(drum_ops *ops);
/* The CUDA table (kernels/cuda/), present when built with nvcc. */
void drum_cuda_ops_fill(drum_ops *ops);

#ifdef __cplusplus
}
#endif
#endif

/* cuda_ops.h — the cuda backend's op functions, one per drum_ops entry, in table order (see
 * include/drum/ops.h for each contract). A new op adds a line here and in the fill function. */
#ifndef DRUM_CUDA_OPS_H
#define DRUM_CUDA_OPS_H

#include "drum/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

void cuda_matmul_forward(drum_backend *be, float *C, const float *A, const float *B, const float *bias, int M, int N, int K, int transA, int transB, float alpha, float beta);
void cuda_matmul_backward(drum_backend *be, float *dA, float *dB, float *dbias, const float *dC, const float *A, const float *B, int M, int N, int K, int transA, int transB, float alpha);
void cuda_layernorm_forward(drum_backend *be, float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b, int N, int C, float eps);
void cuda_layernorm_backward(drum_backend *be, float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w, const float *mean, const float *rstd, int N, int C);
void cuda_act_forward(drum_backend *be, float *out, const float *inp, size_t n, drum_act act);
void cuda_act_backward(drum_backend *be, float *dinp, const float *dout, const float *inp, size_t n, drum_act act);
void cuda_residual_forward(drum_backend *be, float *out, const float *a, const float *b, size_t n);
void cuda_residual_backward(drum_backend *be, float *da, float *db, const float *dout, size_t n);
void cuda_embedding_forward(drum_backend *be, float *out, const int *ids, const float *table, int N, int V, int C);
void cuda_embedding_backward(drum_backend *be, float *dtable, const float *dout, const int *ids, int N, int V, int C);
void cuda_add_positions_forward(drum_backend *be, float *out, const float *inp, const float *pos, int B, int T, int C);
void cuda_add_positions_backward(drum_backend *be, float *dinp, float *dpos, const float *dout, int B, int T, int C);
void cuda_patchify_forward(drum_backend *be, float *out, const float *img, int B, int Cin, int H, int W, int P);
void cuda_patchify_backward(drum_backend *be, float *dimg, const float *dout, int B, int Cin, int H, int W, int P);
void cuda_levels_forward(drum_backend *be, float *out, const uint8_t *levels, const float *lut, int B, size_t plane);
void cuda_attention_forward(drum_backend *be, float *out, float *att, const float *qkv, const int *key_mask, int B, int T, int C, int NH, int causal);
void cuda_attention_backward(drum_backend *be, float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, const int *key_mask, int B, int T, int C, int NH, int causal);
void cuda_pool_forward(drum_backend *be, float *out, const float *inp, const int *idx, int B, int T, int C);
void cuda_pool_backward(drum_backend *be, float *dinp, const float *dout, const int *idx, int B, int T, int C);
void cuda_l2norm_forward(drum_backend *be, float *out, float *norm, const float *inp, int N, int C);
void cuda_l2norm_backward(drum_backend *be, float *dinp, const float *dout, const float *out, const float *norm, int N, int C);
void cuda_concat_forward(drum_backend *be, float *out, const float *a, const float *b, int N, int Ca, int Cb, float wa, float wb);
void cuda_concat_backward(drum_backend *be, float *da, float *db, const float *dout, int N, int Ca, int Cb, float wa, float wb);
void cuda_similarity_forward(drum_backend *be, float *out, const float *a, const float *b, const float *log_scale, int M, int N, int C);
void cuda_similarity_backward(drum_backend *be, float *da, float *db, float *dlog_scale, const float *dout, const float *out, const float *a, const float *b, const float *log_scale, int M, int N, int C);
void cuda_softmax_xent_forward(drum_backend *be, float *loss, float *probs, const float *logits, const int *targets, int N, int V);
void cuda_softmax_xent_backward(drum_backend *be, float *dlogits, const float *dloss, const float *probs, const int *targets, int N, int V);
void cuda_listwise_rank_forward(drum_backend *be, float *loss, const float *sim, const float *fb, int Q, int L);
void cuda_listwise_rank_backward(drum_backend *be, float *dsim, const float *dloss, const float *sim, const float *fb, int Q, int L);
void cuda_listnet_forward(drum_backend *be, float *loss, const float *sim, const float *fb, int Q, int L, float tau_t);
void cuda_listnet_backward(drum_backend *be, float *dsim, const float *dloss, const float *sim, const float *fb, int Q, int L, float tau_t);
void cuda_listmle_forward(drum_backend *be, float *loss, const float *sim, const float *fb, int Q, int L);
void cuda_listmle_backward(drum_backend *be, float *dsim, const float *dloss, const float *sim, const float *fb, int Q, int L);
void cuda_adamw_update(drum_backend *be, float *param, const float *grad, float *m, float *v, size_t n, float lr, float beta1, float beta2, float eps, float weight_decay, int step);
void cuda_sum_squares(drum_backend *be, float *out, const float *x, size_t n);
void cuda_scale(drum_backend *be, float *x, size_t n, float s);
void cuda_topk_forward(drum_backend *be, float *vals, int *idx, const float *inp, const int *exclude, int N, int V, int k);

#ifdef __cplusplus
}
#endif
#endif

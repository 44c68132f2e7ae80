/* backend.c (cpu) — host memory and the CPU op table. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "common.h"

static void *cpu_alloc(drum_backend *be, size_t bytes) {
    if (bytes == 0) bytes = 1;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) {
        DRUM_FAIL(be, "allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    void *p = aligned_alloc(64, rounded);
    if (!p) DRUM_FAIL(be, "out of host memory allocating %zu bytes", bytes);
    return p;
}

static void cpu_free(drum_backend *be, void *p) {
    (void)be;
    free(p);
}

/* After an error these are no-ops, as backend.h says and cuda's are: a buffer whose
 * allocation failed is NULL, and a copy into it would crash before the caller checks */
static void cpu_memcpy(drum_backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes && drum_backend_ok(be)) memmove(dst, src, bytes);
}

static void cpu_memset0(drum_backend *be, void *p, size_t bytes) {
    if (bytes && drum_backend_ok(be)) memset(p, 0, bytes);
}

static void cpu_synchronize(drum_backend *be) { (void)be; }

/* The backend's scratch (common.h): one buffer, grown to the largest an op has asked for. */
typedef struct {
    void *scratch;
    size_t bytes;
} cpu_state;

void *cpu_scratch(drum_backend *be, size_t bytes, const char *op) {
    cpu_state *st = be->impl;
    if (!st) {
        DRUM_FAIL(be, "%s: the backend has no cpu scratch", op);
        return NULL;
    }
    if (bytes <= st->bytes && st->scratch) return st->scratch;
    free(st->scratch);
    st->bytes = 0;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    st->scratch = rounded >= bytes ? aligned_alloc(64, rounded ? rounded : 64) : NULL;
    if (!st->scratch) {
        DRUM_FAIL(be, "%s: out of host memory for %zu bytes of scratch", op, bytes);
        return NULL;
    }
    st->bytes = rounded;
    return st->scratch;
}

static void cpu_destroy(drum_backend *be) {
    cpu_state *st = be->impl;
    if (st) free(st->scratch);
    free(st);
    free(be);
}

drum_backend *drum_cpu_backend_create(char *errbuf, size_t errlen) {
    drum_backend *be = calloc(1, sizeof *be);
    cpu_state *st = calloc(1, sizeof *st);
    if (!be || !st) {
        free(be);
        free(st);
        snprintf(errbuf, errlen, "out of memory creating the cpu backend");
        return NULL;
    }
    be->impl = st;
    be->kind = DRUM_BACKEND_CPU;
    be->name = "cpu";
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->to_device = cpu_memcpy;
    be->to_host = cpu_memcpy;
    be->copy = cpu_memcpy;
    be->memset0 = cpu_memset0;
    be->synchronize = cpu_synchronize;
    be->destroy = cpu_destroy;
    drum_cpu_ops_fill(&be->op);
    drum_blas_advise_once();
    return be;
}

void drum_cpu_ops_fill(drum_ops *ops) {
    ops->matmul_forward = cpu_matmul_forward;
    ops->matmul_backward = cpu_matmul_backward;
    ops->layernorm_forward = cpu_layernorm_forward;
    ops->layernorm_backward = cpu_layernorm_backward;
    ops->act_forward = cpu_act_forward;
    ops->act_backward = cpu_act_backward;
    ops->residual_forward = cpu_residual_forward;
    ops->residual_backward = cpu_residual_backward;
    ops->embedding_forward = cpu_embedding_forward;
    ops->embedding_backward = cpu_embedding_backward;
    ops->add_positions_forward = cpu_add_positions_forward;
    ops->add_positions_backward = cpu_add_positions_backward;
    ops->patchify_forward = cpu_patchify_forward;
    ops->patchify_backward = cpu_patchify_backward;
    ops->levels_forward = cpu_levels_forward;
    ops->attention_forward = cpu_attention_forward;
    ops->attention_backward = cpu_attention_backward;
    ops->pool_forward = cpu_pool_forward;
    ops->pool_backward = cpu_pool_backward;
    ops->l2norm_forward = cpu_l2norm_forward;
    ops->l2norm_backward = cpu_l2norm_backward;
    ops->concat_forward = cpu_concat_forward;
    ops->concat_backward = cpu_concat_backward;
    ops->similarity_forward = cpu_similarity_forward;
    ops->similarity_backward = cpu_similarity_backward;
    ops->softmax_xent_forward = cpu_softmax_xent_forward;
    ops->softmax_xent_backward = cpu_softmax_xent_backward;
    ops->listwise_rank_forward = cpu_listwise_rank_forward;
    ops->listwise_rank_backward = cpu_listwise_rank_backward;
    ops->listnet_forward = cpu_listnet_forward;
    ops->listnet_backward = cpu_listnet_backward;
    ops->listmle_forward = cpu_listmle_forward;
    ops->listmle_backward = cpu_listmle_backward;
    ops->adamw_update = cpu_adamw_update;
    ops->sum_squares = cpu_sum_squares;
    ops->scale = cpu_scale;
    ops->topk_forward = cpu_topk_forward;
}

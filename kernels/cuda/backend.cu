/* backend.cu — device memory, the stream, cuBLAS/cuBLASLt handles and the CUDA op table. */
#include <stdio.h>
#include <stdlib.h>

#include "common.cuh"
#include "drum/comm.h"

static void *cuda_alloc(drum_backend *be, size_t bytes) {
    if (!drum_backend_ok(be)) return NULL;
    void *p = NULL;
    if (CUDA_CHECK(be, cudaMalloc(&p, bytes ? bytes : 1))) return NULL;
    return p;
}

static void cuda_free(drum_backend *be, void *p) {
    if (p) CUDA_CHECK(be, cudaFree(p));
}

static void cuda_to_device(drum_backend *be, void *dst, const void *src, size_t bytes) {
    if (!drum_backend_ok(be) || bytes == 0) return;
    CUDA_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream(be)));
    CUDA_CHECK(be, cudaStreamSynchronize(cuda_stream(be)));
}

/* After the stream has drained: a bad index a kernel recorded becomes the backend's error. */
static void check_index_error(drum_backend *be) {
    drum_cuda_state *st = cuda_state(be);
    drum_cuda_index_error e;
    if (CUDA_CHECK(be, cudaMemcpyAsync(&e, st->idx_err, sizeof e, cudaMemcpyDeviceToHost,
                                       st->stream)) ||
        CUDA_CHECK(be, cudaStreamSynchronize(st->stream)) || e.op == DRUM_IDX_ERR_NONE)
        return;
    if (e.op == DRUM_IDX_ERR_POOL)
        DRUM_FAIL(be, "pool_forward: idx[%d] = %d is outside [0, %d)", e.row, e.value, e.limit);
    else
        DRUM_FAIL(be, "softmax_xent_forward: targets[%d] = %d is outside [0, %d)", e.row, e.value,
                  e.limit);
    CUDA_CHECK(be, cudaMemsetAsync(st->idx_err, 0, sizeof e, st->stream));
}

static void cuda_to_host(drum_backend *be, void *dst, const void *src, size_t bytes) {
    if (!drum_backend_ok(be) || bytes == 0) return;
    CUDA_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream(be)));
    CUDA_CHECK(be, cudaStreamSynchronize(cuda_stream(be)));
    if (drum_backend_ok(be)) check_index_error(be);
}

static void cuda_copy(drum_backend *be, void *dst, const void *src, size_t bytes) {
    if (!drum_backend_ok(be) || bytes == 0) return;
    CUDA_CHECK(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream(be)));
}

static void cuda_memset0(drum_backend *be, void *p, size_t bytes) {
    if (!drum_backend_ok(be) || bytes == 0) return;
    CUDA_CHECK(be, cudaMemsetAsync(p, 0, bytes, cuda_stream(be)));
}

static void cuda_synchronize(drum_backend *be) {
    if (!CUDA_CHECK(be, cudaStreamSynchronize(cuda_stream(be))) && drum_backend_ok(be))
        check_index_error(be);
}

static void cuda_destroy(drum_backend *be) {
    drum_cuda_state *st = cuda_state(be);
    if (st) {
        if (st->lt_workspace) cudaFree(st->lt_workspace);
        if (st->scratch) cudaFree(st->scratch);
        if (st->idx_err) cudaFree(st->idx_err);
        if (st->lt) cublasLtDestroy(st->lt);
        if (st->blas) cublasDestroy(st->blas);
        if (st->stream) cudaStreamDestroy(st->stream);
        free(st);
    }
    free(be);
}

void *cuda_scratch(drum_backend *be, size_t bytes) {
    drum_cuda_state *st = cuda_state(be);
    if (!drum_backend_ok(be)) return NULL;
    if (bytes <= st->scratch_bytes) return st->scratch;
    size_t want = bytes + bytes / 2;
    if (st->scratch) {
        if (CUDA_CHECK(be, cudaStreamSynchronize(st->stream))) return NULL;
        cudaFree(st->scratch);
        st->scratch = NULL;
        st->scratch_bytes = 0;
    }
    if (CUDA_CHECK(be, cudaMalloc(&st->scratch, want))) return NULL;
    st->scratch_bytes = want;
    return st->scratch;
}

extern "C" int drum_backend_cuda_compiled(void) { return 1; }

extern "C" drum_backend *drum_cuda_backend_create(char *errbuf, size_t errlen) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        snprintf(errbuf, errlen, "backend 'cuda': no usable GPU (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found 0 devices");
        return NULL;
    }
    /* one GPU per rank: a data-parallel run's local rank picks its node's device */
    int local = drum_comm_local_rank();
    if (local >= 0 && count > 1 && (e = cudaSetDevice(local % count)) != cudaSuccess) {
        snprintf(errbuf, errlen, "backend 'cuda': cudaSetDevice(%d) for local rank %d: %s",
                 local % count, local, cudaGetErrorString(e));
        return NULL;
    }
    drum_backend *be = (drum_backend *)calloc(1, sizeof *be);
    drum_cuda_state *st = (drum_cuda_state *)calloc(1, sizeof *st);
    if (!be || !st) {
        free(be);
        free(st);
        snprintf(errbuf, errlen, "out of memory creating the cuda backend");
        return NULL;
    }
    be->kind = DRUM_BACKEND_CUDA;
    be->name = "cuda";
    be->impl = st;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->to_device = cuda_to_device;
    be->to_host = cuda_to_host;
    be->copy = cuda_copy;
    be->memset0 = cuda_memset0;
    be->synchronize = cuda_synchronize;
    be->destroy = cuda_destroy;
    drum_cuda_ops_fill(&be->op);

    st->lt_workspace_bytes = (size_t)32 << 20;
    if (CUDA_CHECK(be, cudaGetDevice(&st->device)) ||
        CUDA_CHECK(be, cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking)) ||
        CUBLAS_CHECK(be, cublasCreate(&st->blas)) ||
        CUBLAS_CHECK(be, cublasSetStream(st->blas, st->stream)) ||
        CUBLAS_CHECK(be, cublasLtCreate(&st->lt)) ||
        CUDA_CHECK(be, cudaMalloc(&st->lt_workspace, st->lt_workspace_bytes)) ||
        CUDA_CHECK(be, cudaMalloc(&st->idx_err, sizeof(drum_cuda_index_error))) ||
        /* on the backend's stream (a non-blocking one, which the legacy default stream's
         * cudaMemset would not order before the first kernel that reads it) */
        CUDA_CHECK(be, cudaMemsetAsync(st->idx_err, 0, sizeof(drum_cuda_index_error), st->stream)) ||
        CUDA_CHECK(be, cudaStreamSynchronize(st->stream))) {
        snprintf(errbuf, errlen, "backend 'cuda': %s", be->err);
        cuda_destroy(be);
        return NULL;
    }
    return be;
}

extern "C" void drum_cuda_ops_fill(drum_ops *ops) {
    ops->matmul_forward = cuda_matmul_forward;
    ops->matmul_backward = cuda_matmul_backward;
    ops->layernorm_forward = cuda_layernorm_forward;
    ops->layernorm_backward = cuda_layernorm_backward;
    ops->act_forward = cuda_act_forward;
    ops->act_backward = cuda_act_backward;
    ops->residual_forward = cuda_residual_forward;
    ops->residual_backward = cuda_residual_backward;
    ops->embedding_forward = cuda_embedding_forward;
    ops->embedding_backward = cuda_embedding_backward;
    ops->add_positions_forward = cuda_add_positions_forward;
    ops->add_positions_backward = cuda_add_positions_backward;
    ops->patchify_forward = cuda_patchify_forward;
    ops->patchify_backward = cuda_patchify_backward;
    ops->levels_forward = cuda_levels_forward;
    ops->attention_forward = cuda_attention_forward;
    ops->attention_backward = cuda_attention_backward;
    ops->pool_forward = cuda_pool_forward;
    ops->pool_backward = cuda_pool_backward;
    ops->l2norm_forward = cuda_l2norm_forward;
    ops->l2norm_backward = cuda_l2norm_backward;
    ops->concat_forward = cuda_concat_forward;
    ops->concat_backward = cuda_concat_backward;
    ops->similarity_forward = cuda_similarity_forward;
    ops->similarity_backward = cuda_similarity_backward;
    ops->softmax_xent_forward = cuda_softmax_xent_forward;
    ops->softmax_xent_backward = cuda_softmax_xent_backward;
    ops->listwise_rank_forward = cuda_listwise_rank_forward;
    ops->listwise_rank_backward = cuda_listwise_rank_backward;
    ops->listnet_forward = cuda_listnet_forward;
    ops->listnet_backward = cuda_listnet_backward;
    ops->listmle_forward = cuda_listmle_forward;
    ops->listmle_backward = cuda_listmle_backward;
    ops->adamw_update = cuda_adamw_update;
    ops->sum_squares = cuda_sum_squares;
    ops->scale = cuda_scale;
    ops->topk_forward = cuda_topk_forward;
}

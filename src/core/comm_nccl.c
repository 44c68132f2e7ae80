/* comm_nccl.c — the nccl communicator (comm.h): the host collectives go to the MPI (or single)
 * communicator it wraps; the gradient all-reduce runs on the GPUs through NCCL.
 *
 * libnccl is loaded with dlopen when a job asks for DRUM_COMM=nccl, not linked: a drum built
 * here runs on machines without NCCL (every other path), and says so only when NCCL is
 * wanted. nccl.h gives the types and signatures. DRUM_NCCL_LIB names the library file when
 * the loader's search (the CUDA toolkit's lib64 is on drum's run path) does not find it, e.g.
 * the one a PyTorch wheel ships (site-packages/nvidia/nccl/lib/libnccl.so.2). */
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/comm.h"

/* The NCCL functions drum calls, resolved from libnccl.so.2. */
typedef struct {
    void *lib;
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t,
                               ncclComm_t, cudaStream_t);
    ncclResult_t (*destroy)(ncclComm_t);
    ncclResult_t (*abort)(ncclComm_t);
    ncclResult_t (*async_error)(ncclComm_t, ncclResult_t *);
    const char *(*error_string)(ncclResult_t);
} nccl_api;

typedef struct {
    drum_comm *host;
    nccl_api api;
    ncclComm_t nccl;
    cudaStream_t stream;
    int device;
} nccl_impl;

static int load_api(nccl_api *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    const char *path = getenv("DRUM_NCCL_LIB");
    if (path && *path) {
        if (!(a->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
            snprintf(err, errlen, "cannot load NCCL from DRUM_NCCL_LIB=%s: %s", path, dlerror());
            return -1;
        }
    } else if (!(a->lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL))) {
        snprintf(err, errlen, "cannot load NCCL (libnccl.so.2; set DRUM_NCCL_LIB to its file): %s",
                 dlerror());
        return -1;
    }
    struct {
        void **fn;
        const char *name;
    } want[] = {{(void **)&a->get_unique_id, "ncclGetUniqueId"},
                {(void **)&a->init_rank, "ncclCommInitRank"},
                {(void **)&a->all_reduce, "ncclAllReduce"},
                {(void **)&a->destroy, "ncclCommDestroy"},
                {(void **)&a->abort, "ncclCommAbort"},
                {(void **)&a->async_error, "ncclCommGetAsyncError"},
                {(void **)&a->error_string, "ncclGetErrorString"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!(*want[i].fn = dlsym(a->lib, want[i].name))) {
            snprintf(err, errlen, "libnccl has no %s", want[i].name);
            dlclose(a->lib);
            a->lib = NULL;
            return -1;
        }
    return 0;
}

static drum_comm *host_of(drum_comm *c) { return ((nccl_impl *)c->impl)->host; }

static int nccl_allreduce_host(drum_comm *c, float *data, size_t n, char *err, size_t errlen) {
    drum_comm *h = host_of(c);
    return h->allreduce_sum(h, data, n, err, errlen);
}

static int nccl_allgatherv(drum_comm *c, const void *send, void *recv, const size_t *bytes,
                           const size_t *displ, char *err, size_t errlen) {
    drum_comm *h = host_of(c);
    return h->allgatherv(h, send, recv, bytes, displ, err, errlen);
}

static int nccl_share(drum_comm *c, size_t bytes, void **out, char *why, size_t whylen,
                      char *err, size_t errlen) {
    drum_comm *h = host_of(c);
    return h->share(h, bytes, out, why, whylen, err, errlen);
}

static int nccl_allgatherv_shared(drum_comm *c, void *buf, const size_t *bytes,
                                  const size_t *displ, char *err, size_t errlen) {
    drum_comm *h = host_of(c);
    return h->allgatherv_shared(h, buf, bytes, displ, err, errlen);
}

static int nccl_any(drum_comm *c, int flag, char *err, size_t errlen) {
    drum_comm *h = host_of(c);
    return h->any(h, flag, err, errlen);
}

static int nccl_barrier(drum_comm *c, char *err, size_t errlen) {
    drum_comm *h = host_of(c);
    return h->barrier(h, err, errlen);
}

static int nccl_allreduce_device(drum_comm *c, float *data, size_t n, char *err,
                                 size_t errlen) {
    nccl_impl *im = c->impl;
    cudaError_t ce = cudaSetDevice(im->device);
    if (ce != cudaSuccess) {
        snprintf(err, errlen, "nccl: cudaSetDevice(%d): %s", im->device, cudaGetErrorString(ce));
        return -1;
    }
    ncclResult_t r = im->api.all_reduce(data, data, n, ncclFloat, ncclSum, im->nccl, im->stream);
    if (r == ncclSuccess && (ce = cudaStreamSynchronize(im->stream)) != cudaSuccess) {
        snprintf(err, errlen, "nccl: all-reduce of %zu floats: %s", n, cudaGetErrorString(ce));
        return -1;
    }
    ncclResult_t async = ncclSuccess;
    if (r == ncclSuccess) im->api.async_error(im->nccl, &async);
    if (r != ncclSuccess || async != ncclSuccess) {
        snprintf(err, errlen, "nccl: all-reduce of %zu floats on rank %d: %s", n, c->rank,
                 im->api.error_string(r != ncclSuccess ? r : async));
        return -1;
    }
    return 0;
}

/* Frees what open made; the host communicator is destroyed last. */
static void release(nccl_impl *im, int abort_comm) {
    if (im->nccl) (abort_comm ? im->api.abort : im->api.destroy)(im->nccl);
    if (im->stream) cudaStreamDestroy(im->stream);
    if (im->api.lib) dlclose(im->api.lib);
    drum_comm *h = im->host;
    free(im);
    if (h) h->destroy(h);
}

static void nccl_abort(drum_comm *c, int code) {
    nccl_impl *im = c->impl;
    if (im->nccl) im->api.abort(im->nccl);
    im->nccl = NULL;
    im->host->abort(im->host, code);
}

static void nccl_destroy(drum_comm *c) {
    release(c->impl, 0);
    free(c);
}

int drum_comm_nccl_compiled(void) { return 1; }

int drum_comm_nccl_open(drum_comm **out, drum_comm *host, int device, char *err,
                        size_t errlen) {
    *out = NULL;
    nccl_impl *im = calloc(1, sizeof *im);
    drum_comm *c = calloc(1, sizeof *c);
    if (!im || !c) {
        free(c);
        free(im);
        host->destroy(host);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    im->host = host;
    /* What this rank can do alone, agreed on by all ranks before any NCCL collective, so a
     * rank without a GPU or NCCL makes every rank fail instead of leaving them waiting. */
    char why[400] = "";
    int count = 0;
    cudaError_t ce = cudaGetDeviceCount(&count);
    if (ce != cudaSuccess || count == 0)
        snprintf(why, sizeof why, "no GPU is visible (%s)",
                 ce != cudaSuccess ? cudaGetErrorString(ce) : "0 devices");
    else {
        int local = drum_comm_local_rank();
        /* the cuda backend's choice (backend.cu): local rank % count, else GPU 0 */
        im->device = device >= 0 ? device : local >= 0 ? local % count : 0;
        if (im->device >= count)
            snprintf(why, sizeof why, "GPU %d does not exist (%d visible)", im->device, count);
        else if ((ce = cudaSetDevice(im->device)) != cudaSuccess)
            snprintf(why, sizeof why, "cudaSetDevice(%d): %s", im->device, cudaGetErrorString(ce));
        else
            load_api(&im->api, why, sizeof why);
    }
    /* The one unique id is a list of one item: drum_comm_slice gives it to the last rank,
     * which creates it, and drum_comm_gather_slices hands it to every rank. */
    ncclUniqueId mine, id;
    memset(&mine, 0, sizeof mine);
    memset(&id, 0, sizeof id);
    if (!why[0] && host->rank == host->size - 1) {
        ncclResult_t r = im->api.get_unique_id(&mine);
        if (r != ncclSuccess)
            snprintf(why, sizeof why, "ncclGetUniqueId: %s", im->api.error_string(r));
    }
    int failed = host->any(host, why[0] != 0, err, errlen);
    if (failed != 0) {
        if (failed > 0)
            snprintf(err, errlen, "nccl: %s", why[0] ? why : "another rank could not start NCCL");
        goto fail;
    }
    if (drum_comm_gather_slices(host, &mine, &id, 1, sizeof id, err, errlen)) goto fail;
    ncclResult_t r = im->api.init_rank(&im->nccl, host->size, id, host->rank);
    if (r != ncclSuccess) {
        snprintf(why, sizeof why, "ncclCommInitRank (rank %d of %d, GPU %d): %s", host->rank,
                 host->size, im->device, im->api.error_string(r));
        im->nccl = NULL;
    } else if ((ce = cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking)) !=
               cudaSuccess) {
        snprintf(why, sizeof why, "cudaStreamCreate: %s", cudaGetErrorString(ce));
        im->stream = NULL;
    }
    /* agreed again: a rank failing alone here would finalize MPI while the others went on
     * into the job's collectives, and hang (found by an audit; not run: it needs two GPUs) */
    failed = host->any(host, why[0] != 0, err, errlen);
    if (failed != 0) {
        if (failed > 0)
            snprintf(err, errlen, "nccl: %s", why[0] ? why : "another rank could not start NCCL");
        goto fail;
    }
    snprintf(c->name, sizeof c->name, "nccl");
    c->rank = host->rank;
    c->size = host->size;
    c->allreduce_sum = nccl_allreduce_host;
    c->allgatherv = nccl_allgatherv;
    c->any = nccl_any;
    c->barrier = nccl_barrier;
    c->share = host->share ? nccl_share : NULL;
    c->allgatherv_shared = host->allgatherv_shared ? nccl_allgatherv_shared : NULL;
    c->abort = nccl_abort;
    c->destroy = nccl_destroy;
    c->allreduce_sum_device = nccl_allreduce_device;
    c->impl = im;
    *out = c;
    return 0;
fail:
    release(im, 1); /* aborts the NCCL communicator if it was made */
    free(c);
    return -1;
}

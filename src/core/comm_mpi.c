/* comm_mpi.c — the MPI communicator (comm.h): CPU ranks over MPI_COMM_WORLD, and memory
 * shared by the ranks of a node (an anonymous memfd file; the node's ranks from
 * MPI_Comm_split_type). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "drum/comm.h"

typedef struct {
    float *scratch; /* size * (largest chunk) floats for the reduce-scatter */
    size_t scap;
    int *counts;    /* 4 * size ints for the v-collectives */
    /* sharing within a node (share): the node's ranks, and one rank of each node with this
     * rank's place in its node (cross), whose world ranks are cross_world */
    MPI_Comm node, cross;
    int node_rank, node_size, nodes_even, share_off;
    int *cross_world;
} mpi_impl;

static int mpi_fail(int code, const char *what, char *err, size_t errlen) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, s, &len);
    snprintf(err, errlen, "MPI %s: %.*s", what, len, s);
    return -1;
}

/* Rank order, whoever sums: a reduce-scatter (all-to-all of chunks, each rank summing its
 * chunk over ranks 0, 1, ...) then an all-gather of the summed chunks; n <= INT_MAX. */
static int allreduce_block(drum_comm *c, float *data, size_t n, char *err, size_t errlen) {
    mpi_impl *im = c->impl;
    int P = c->size;
    int *cnt = im->counts, *dsp = cnt + P, *rcnt = cnt + 2 * P, *rdsp = cnt + 3 * P;
    long lo, hi;
    for (int r = 0; r < P; r++) {
        drum_comm_slice((long)n, r, P, &lo, &hi);
        cnt[r] = (int)(hi - lo);
        dsp[r] = (int)lo;
    }
    drum_comm_slice((long)n, c->rank, P, &lo, &hi);
    size_t mine = (size_t)(hi - lo);
    if ((size_t)P * mine > im->scap) {
        float *s = realloc(im->scratch, (size_t)P * mine * sizeof(float));
        if (!s) {
            snprintf(err, errlen, "out of memory for an allreduce of %zu floats", n);
            return -1;
        }
        im->scratch = s;
        im->scap = (size_t)P * mine;
    }
    for (int r = 0; r < P; r++) {
        rcnt[r] = (int)mine;
        rdsp[r] = (int)(r * mine);
    }
    int e = MPI_Alltoallv(data, cnt, dsp, MPI_FLOAT, im->scratch, rcnt, rdsp, MPI_FLOAT,
                          MPI_COMM_WORLD);
    if (e != MPI_SUCCESS) return mpi_fail(e, "all-to-all", err, errlen);
    float *out = data + lo;
    for (size_t i = 0; i < mine; i++) {
        float s = im->scratch[i];
        for (int r = 1; r < P; r++) s += im->scratch[(size_t)r * mine + i];
        out[i] = s;
    }
    e = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, cnt, dsp, MPI_FLOAT,
                       MPI_COMM_WORLD);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "all-gather", err, errlen);
}

#ifndef DRUM_MPI_ALLREDUCE_BLOCK
#define DRUM_MPI_ALLREDUCE_BLOCK ((size_t)1 << 30) /* floats; smaller in a test build */
#endif

/* In blocks whose counts and offsets fit MPI's ints (one count was checked, the offsets of
 * a model past 2^31 floats wrapped; found by an audit). Every element is still summed over
 * the ranks in rank order, so the bits do not depend on the blocks. */
static int mpi_allreduce(drum_comm *c, float *data, size_t n, char *err, size_t errlen) {
    const size_t block = DRUM_MPI_ALLREDUCE_BLOCK;
    for (size_t at = 0; at < n; at += block)
        if (allreduce_block(c, data + at, n - at < block ? n - at : block, err, errlen))
            return -1;
    return 0;
}

/* An all-gather's byte counts and offsets as MPI's ints: cnt[j], dsp[j] = bytes[w], displ[w]
 * for world rank w = ranks[j] (ranks NULL: w = j), j < n. -1 with a message past INT_MAX. */
static int int_counts(const size_t *bytes, const size_t *displ, const int *ranks, int n,
                      int *cnt, int *dsp, char *err, size_t errlen) {
    for (int j = 0; j < n; j++) {
        int w = ranks ? ranks[j] : j;
        if (bytes[w] > INT_MAX || displ[w] > INT_MAX) {
            snprintf(err, errlen, "all-gather of %zu bytes at %zu: over INT_MAX", bytes[w],
                     displ[w]);
            return -1;
        }
        cnt[j] = (int)bytes[w];
        dsp[j] = (int)displ[w];
    }
    return 0;
}

static int mpi_allgatherv(drum_comm *c, const void *send, void *recv, const size_t *bytes,
                          const size_t *displ, char *err, size_t errlen) {
    mpi_impl *im = c->impl;
    int P = c->size, *cnt = im->counts, *dsp = cnt + P;
    if (int_counts(bytes, displ, NULL, P, cnt, dsp, err, errlen)) return -1;
    /* a rank's block already in place in recv (the usual case) must be named so: MPI
     * forbids a send buffer that overlaps the receive buffer */
    int in_place = (const char *)send == (const char *)recv + displ[c->rank];
    int e = MPI_Allgatherv(in_place ? MPI_IN_PLACE : send, in_place ? 0 : cnt[c->rank],
                           in_place ? MPI_DATATYPE_NULL : MPI_BYTE, recv, cnt, dsp, MPI_BYTE,
                           MPI_COMM_WORLD);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "all-gather", err, errlen);
}

/* What rank 0 of a node tells the others about the memory it made: its process and file
 * descriptor, which they open through /proc. */
typedef struct {
    int ok, errnum, pid, fd;
} shm_msg;

static int mpi_share(drum_comm *c, size_t bytes, void **out, char *why, size_t whylen,
                     char *err, size_t errlen) {
    mpi_impl *im = c->impl;
    *out = NULL;
    why[0] = '\0';
    if (im->share_off) {
        snprintf(why, whylen, "DRUM_SHARE=0: each rank keeps its own copy");
        return 1;
    }
    if (!im->nodes_even) {
        snprintf(why, whylen, "the nodes run different numbers of ranks: each rank keeps its own "
                 "copy");
        return 1;
    }
    if (im->node_size == 1) return 1;
    /* an anonymous file (memfd: no name, so nothing outlives the processes, and no /dev/shm
     * size limit), reserved whole by rank 0 */
    shm_msg m = {0, 0, (int)getpid(), -1};
    if (im->node_rank == 0) {
        m.fd = memfd_create("drum-shared", MFD_CLOEXEC);
        m.errnum = m.fd < 0 ? errno : posix_fallocate(m.fd, 0, (off_t)bytes);
        m.ok = m.fd >= 0 && m.errnum == 0;
    }
    int e = MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, 0, im->node);
    if (e != MPI_SUCCESS) {
        if (im->node_rank == 0 && m.fd >= 0) close(m.fd);
        return mpi_fail(e, "broadcast", err, errlen);
    }
    int fd = im->node_rank == 0 ? m.fd : -1, failed = !m.ok, errnum = m.errnum;
    if (m.ok && im->node_rank != 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd/%d", m.pid, m.fd);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            failed = 2;
            errnum = errno;
        }
    }
    void *p = MAP_FAILED;
    if (!failed) p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!failed && p == MAP_FAILED) {
        failed = 3;
        errnum = errno;
    }
    /* rank 0 keeps its descriptor open until every rank of the node has opened its own */
    e = MPI_Barrier(im->node);
    if (fd >= 0) close(fd);
    if (e != MPI_SUCCESS) {
        if (p != MAP_FAILED) munmap(p, bytes);
        return mpi_fail(e, "barrier", err, errlen);
    }
    int any = 0;
    e = MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (e != MPI_SUCCESS || any) {
        if (p != MAP_FAILED) munmap(p, bytes);
        if (e != MPI_SUCCESS) return mpi_fail(e, "all-reduce", err, errlen);
        static const char *const what[] = {"", "reserve", "open the first rank's", "map"};
        if (failed)
            snprintf(why, whylen, "could not %s %.1f MB of shared memory (%s): each rank keeps "
                     "its own copy", what[failed], (double)bytes / 1e6, strerror(errnum));
        else
            snprintf(why, whylen, "another rank could not share %.1f MB of memory: each rank "
                     "keeps its own copy", (double)bytes / 1e6);
        return 1;
    }
    *out = p;
    return im->node_size;
}

static int mpi_allgatherv_shared(drum_comm *c, void *buf, const size_t *bytes,
                                 const size_t *displ, char *err, size_t errlen) {
    mpi_impl *im = c->impl;
    int X = c->size / im->node_size, *cnt = im->counts, *dsp = cnt + X;
    if (int_counts(bytes, displ, im->cross_world, X, cnt, dsp, err, errlen)) return -1;
    int e = X > 1 ? MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, dsp, MPI_BYTE,
                                   im->cross)
                  : MPI_SUCCESS;
    if (e != MPI_SUCCESS) return mpi_fail(e, "all-gather", err, errlen);
    e = MPI_Barrier(im->node); /* every rank of the node has written its share */
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "barrier", err, errlen);
}

/* The node and cross communicators of share (DRUM_NODE_SIZE, DRUM_SHARE: comm.h). */
static int open_nodes(drum_comm *c, mpi_impl *im, char *err, size_t errlen) {
    const char *off = getenv("DRUM_SHARE"), *k = getenv("DRUM_NODE_SIZE");
    im->share_off = off && strcmp(off, "0") == 0;
    int want = k ? atoi(k) : 0, e;
    /* every rank must read the same two (mpirun passes the environment to another node's
     * ranks only with -x): else ranks split differently, or skip the node's collectives, and
     * the job hangs (found by an audit) */
    int env[4] = {im->share_off, want, -im->share_off, -want}, top[4];
    e = MPI_Allreduce(env, top, 4, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (e != MPI_SUCCESS) return mpi_fail(e, "all-reduce", err, errlen);
    if (top[0] != -top[2] || top[1] != -top[3]) {
        snprintf(err, errlen,
                 "the ranks disagree on DRUM_SHARE or DRUM_NODE_SIZE (rank %d has DRUM_SHARE=%s, "
                 "DRUM_NODE_SIZE=%s): set them for every rank (mpirun -x VAR)",
                 c->rank, off ? off : "(unset)", k ? k : "(unset)");
        return -1;
    }
    if (want > 0)
        e = MPI_Comm_split(MPI_COMM_WORLD, c->rank / want, c->rank, &im->node);
    else
        e = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL,
                                &im->node);
    if (e != MPI_SUCCESS) return mpi_fail(e, "splitting the ranks by node", err, errlen);
    MPI_Comm_rank(im->node, &im->node_rank);
    MPI_Comm_size(im->node, &im->node_size);
    int sizes[2] = {im->node_size, -im->node_size}, most[2];
    e = MPI_Allreduce(sizes, most, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (e == MPI_SUCCESS) e = MPI_Comm_split(MPI_COMM_WORLD, im->node_rank, c->rank, &im->cross);
    if (e != MPI_SUCCESS) return mpi_fail(e, "splitting the ranks by node", err, errlen);
    im->nodes_even = most[0] == -most[1];
    int X = 0;
    MPI_Comm_size(im->cross, &X);
    im->cross_world = malloc((size_t)X * sizeof(int));
    if (!im->cross_world) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e = MPI_Allgather(&c->rank, 1, MPI_INT, im->cross_world, 1, MPI_INT, im->cross);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "all-gather", err, errlen);
}

static int mpi_any(drum_comm *c, int flag, char *err, size_t errlen) {
    int in = flag != 0, out = 0;
    int e = MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return e == MPI_SUCCESS ? out : mpi_fail(e, "all-reduce", err, errlen);
}

static int mpi_barrier(drum_comm *c, char *err, size_t errlen) {
    int e = MPI_Barrier(MPI_COMM_WORLD);
    return e == MPI_SUCCESS ? 0 : mpi_fail(e, "barrier", err, errlen);
}

static void mpi_abort(drum_comm *c, int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static void mpi_destroy(drum_comm *c) {
    mpi_impl *im = c->impl;
    if (im->cross != MPI_COMM_NULL) MPI_Comm_free(&im->cross);
    if (im->node != MPI_COMM_NULL) MPI_Comm_free(&im->node);
    free(im->cross_world);
    free(im->scratch);
    free(im->counts);
    free(im);
    free(c);
    MPI_Finalize();
}

int drum_comm_mpi_compiled(void) { return 1; }

int drum_comm_mpi_open(drum_comm **out, int *argc, char ***argv, char *err, size_t errlen) {
    *out = NULL;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init_thread failed");
        return -1;
    }
    /* errors come back as codes, so drum can say which collective failed */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    drum_comm *c = calloc(1, sizeof *c);
    mpi_impl *im = calloc(1, sizeof *im);
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int *counts = malloc(4 * (size_t)size * sizeof(int));
    if (!c || !im || !counts) {
        free(c);
        free(im);
        free(counts);
        MPI_Finalize();
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(c->name, sizeof c->name, "mpi");
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    c->size = size;
    im->counts = counts;
    c->allreduce_sum = mpi_allreduce;
    c->allgatherv = mpi_allgatherv;
    c->any = mpi_any;
    c->barrier = mpi_barrier;
    c->abort = mpi_abort;
    c->destroy = mpi_destroy;
    c->share = mpi_share;
    c->allgatherv_shared = mpi_allgatherv_shared;
    c->impl = im;
    im->node = im->cross = MPI_COMM_NULL;
    if (open_nodes(c, im, err, errlen)) {
        mpi_destroy(c);
        return -1;
    }
    *out = c;
    return 0;
}

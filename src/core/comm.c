/* comm.c — the one-process communicator and the helpers every backend shares (comm.h). */
#include "drum/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/rng.h"

static int single_allreduce(drum_comm *c, float *data, size_t n, char *err, size_t errlen) {
    return 0;
}

static int single_allgatherv(drum_comm *c, const void *send, void *recv, const size_t *bytes,
                             const size_t *displ, char *err, size_t errlen) {
    if (bytes[0] && (const char *)recv + displ[0] != send)
        memmove((char *)recv + displ[0], send, bytes[0]);
    return 0;
}

static int single_any(drum_comm *c, int flag, char *err, size_t errlen) { return flag != 0; }

static int single_barrier(drum_comm *c, char *err, size_t errlen) { return 0; }

static void single_abort(drum_comm *c, int code) { exit(code); }

static void single_destroy(drum_comm *c) {}

static drum_comm single_comm = {.name = "single",
                                .rank = 0,
                                .size = 1,
                                .allreduce_sum = single_allreduce,
                                .allgatherv = single_allgatherv,
                                .any = single_any,
                                .barrier = single_barrier,
                                .abort = single_abort,
                                .destroy = single_destroy};

drum_comm *drum_comm_single(void) { return &single_comm; }

/* The first of the environment variables vars[0..n) that holds a number >= min, or -1. */
static int env_number(const char *const *vars, size_t n, int min) {
    for (size_t i = 0; i < n; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v >= '0' && *v <= '9' && atoi(v) >= min) return atoi(v);
    }
    return -1;
}

/* Open MPI's mpirun, then MPICH's and Intel MPI's mpiexec (PMI) */
int drum_comm_launcher_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    int n = env_number(vars, 2, 1);
    return n > 0 ? n : 0;
}

int drum_comm_launcher_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK"};
    return env_number(vars, 2, 0);
}

int drum_comm_local_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                                       "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "PMIX_LOCAL_RANK"};
    return env_number(vars, sizeof vars / sizeof vars[0], 0);
}

#ifndef DRUM_GATHER_ROUND_BYTES
#define DRUM_GATHER_ROUND_BYTES ((size_t)1 << 30) /* smaller in a test build */
#endif

int drum_comm_gather_slices(drum_comm *c, const void *local, void *all, long n, size_t item,
                            char *err, size_t errlen) {
    size_t *bytes = malloc(2 * (size_t)c->size * sizeof(size_t));
    if (!bytes) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t *displ = bytes + c->size;
    /* in rounds of items [a, b) of at most 1 GB, as MPI counts bytes in ints (a large pool's
     * embeddings, gathered whole, failed past 2 GB; found by an audit) */
    const size_t round = DRUM_GATHER_ROUND_BYTES;
    long per = item < round ? (long)(round / item) : 1, mylo, myhi;
    drum_comm_slice(n, c->rank, c->size, &mylo, &myhi);
    int rc = 0;
    for (long a = 0; a < n && rc == 0; a += per) {
        long b = n - a < per ? n : a + per;
        for (int r = 0; r < c->size; r++) {
            long lo, hi;
            drum_comm_slice(n, r, c->size, &lo, &hi);
            lo = lo > a ? lo : a; /* the part of rank r's slice in this round */
            hi = hi < b ? hi : b;
            bytes[r] = hi > lo ? (size_t)(hi - lo) * item : 0;
            displ[r] = hi > lo ? (size_t)(lo - a) * item : 0;
        }
        long from = mylo > a ? mylo : a;
        rc = c->allgatherv(c, (const char *)local + (size_t)(from - mylo) * item,
                           (char *)all + (size_t)a * item, bytes, displ, err, errlen);
    }
    free(bytes);
    return rc;
}

uint64_t drum_comm_digest(const void *p, size_t bytes) {
    return drum_fnv1a(p, bytes, DRUM_FNV1A_INIT);
}

int drum_comm_check_same(drum_comm *c, uint64_t digest, const char *what, const char *why,
                         char *err, size_t errlen) {
    if (c->size == 1) return 0;
    uint64_t *all = malloc((size_t)c->size * sizeof *all);
    if (!all) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = drum_comm_gather_slices(c, &digest, all, c->size, sizeof digest, err, errlen);
    for (int r = 1; r < c->size && rc == 0; r++)
        if (all[r] != all[0]) {
            snprintf(err, errlen, "rank %d's %s differ from rank 0's (digest %016llx vs %016llx): "
                     "%s", r, what, (unsigned long long)all[r], (unsigned long long)all[0], why);
            rc = -1;
        }
    free(all);
    return rc;
}

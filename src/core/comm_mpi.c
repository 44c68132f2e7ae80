/* comm_mpi.c — the MPI communicator (comm.h): CPU ranks over MPI_COMM_WORLD. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/comm.h"

typedef struct {
    float *scratch; /* size * (largest chunk) floats for the reduce-scatter */
    size_t scap;
    int *counts;    /* 4 * size ints for the v-collectives */
} mpi_impl;

static int mpi_fail(int code, const char *what, char *err, size_t errlen) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, s, &len);
    snprintf(err, errlen, "MPI %s: %.*s", what, len, s);
    return -1;
}

/* Rank order, whoever sums: a reduce-scatter (all-to-all of chunks, each rank summing its
 * chunk over ranks 0, 1, ...) then an all-gather of the summed chunks. */
static int mpi_allreduce(drum_comm *c, float *data, size_t n, char *err, size_t errlen) {
    mpi_impl *im = c->impl;
    int P = c->size;
    if (n / (size_t)P + 1 > (size_t)INT_MAX) {
        snprintf(err, errlen, "allreduce of %zu floats: more than INT_MAX per rank", n);
        return -1;
    }
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

static int mpi_allgatherv(drum_comm *c, const void *send, void *recv, const size_t *bytes,
                          const size_t *displ, char *err, size_t errlen) {
    mpi_impl *im = c->impl;
    int P = c->size, *cnt = im->counts, *dsp = cnt + P;
    for (int r = 0; r < P; r++) {
        if (bytes[r] > INT_MAX || displ[r] > INT_MAX) {
            snprintf(err, errlen, "all-gather of %zu bytes at %zu: over INT_MAX", bytes[r],
                     displ[r]);
            return -1;
        }
        cnt[r] = (int)bytes[r];
        dsp[r] = (int)displ[r];
    }
    /* a rank's block already in place in recv (the usual case) must be named so: MPI
     * forbids a send buffer that overlaps the receive buffer */
    int in_place = (const char *)send == (const char *)recv + displ[c->rank];
    int e = MPI_Allgatherv(in_place ? MPI_IN_PLACE : send, in_place ? 0 : cnt[c->rank],
                           in_place ? MPI_DATATYPE_NULL : MPI_BYTE, recv, cnt, dsp, MPI_BYTE,
                           MPI_COMM_WORLD);
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
    c->impl = im;
    *out = c;
    return 0;
}

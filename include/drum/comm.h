/* comm.h — the ranks of a data-parallel run (docs/ARCHITECTURE.md, "Data parallel").
 *
 * Every rank runs the same program on the same inputs (SPMD) and calls the collectives in
 * the same order. Backends: `single` (one process, every call a copy or nothing), `mpi`
 * (CPU ranks launched by mpirun/srun; src/core/comm_mpi.c, or a stub that says drum was
 * built without MPI) and `nccl` (GPU ranks: an MPI communicator for the host collectives plus
 * an NCCL one, bootstrapped over it, for the gradient all-reduce in device memory;
 * src/core/comm_nccl.c, or a stub without NCCL). Buffers are host memory, except those of
 * allreduce_sum_device.
 *
 * What drum shards (trainer.h, job.h): the LVLM's scoring and generation (sharded_scorer),
 * the pool embedding, and each training batch's queries, with the batch's features
 * all-gathered so the list-wise loss sees the whole batch, and the gradients summed in one
 * call per step. Rank 0 alone writes files (the score cache, checkpoints, results).
 *
 * allreduce_sum is deterministic: element e is summed in rank order, ((x0 + x1) + x2) + ...,
 * whichever rank computes it, so a run's result depends on its number of ranks, never on
 * message timing. allreduce_sum_device (nccl) sums in the order NCCL's algorithm chooses:
 * the same on every rank, but not rank order, so its results differ in the last bits from
 * the host path's.
 */
#ifndef DRUM_COMM_H
#define DRUM_COMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drum_comm drum_comm;
struct drum_comm {
    char name[16]; /* "single", "mpi" */
    int rank, size;
    /* data[0..n) <- the sum over ranks, in rank order. 0 or -1 with a message. */
    int (*allreduce_sum)(drum_comm *c, float *data, size_t n, char *err, size_t errlen);
    /* Rank r's `bytes[r]` bytes (send, of length bytes[rank]) land at recv + displ[r] on
     * every rank. */
    int (*allgatherv)(drum_comm *c, const void *send, void *recv, const size_t *bytes,
                      const size_t *displ, char *err, size_t errlen);
    /* 1 on every rank when any rank passes a nonzero flag, else 0; -1 on error. */
    int (*any)(drum_comm *c, int flag, char *err, size_t errlen);
    int (*barrier)(drum_comm *c, char *err, size_t errlen);
    /* Ends every rank (after a rank reported an error the others may wait forever). */
    void (*abort)(drum_comm *c, int code);
    void (*destroy)(drum_comm *c);
    void *impl;
    /* Node-shared memory (mpi, and nccl through its host communicator; NULL elsewhere).
     * share maps `bytes` (zero-filled) that the other ranks of this node map too: an
     * anonymous file (memfd) the node's first rank makes and reserves whole (posix_fallocate,
     * so that a node without the memory fails here rather than as a SIGBUS on first touch),
     * which the others open through /proc/<pid>/fd; it has no name, so nothing outlives the
     * processes. *out is this rank's mapping (munmap it with `bytes`). Returns the number
     * of ranks sharing it (> 1); 1 when it is not shared (*out NULL: the caller allocates
     * its own; *why says why when there is more to say than "one rank a node"); -1 with a
     * message. Every rank gets the same answer. Collective. */
    int (*share)(drum_comm *c, size_t bytes, void **out, char *why, size_t whylen, char *err,
                 size_t errlen);
    /* On a mapping from share: rank r's bytes[r] at buf + displ[r], which rank r wrote into
     * its node's mapping, reach every node's (buf: this rank's mapping, the same offsets);
     * the ranks of a node see one another's bytes when it returns. Collective. */
    int (*allgatherv_shared)(drum_comm *c, void *buf, const size_t *bytes, const size_t *displ,
                             char *err, size_t errlen);
    /* nccl only (else NULL): data[0..n), device memory of this rank's GPU, <- the sum over
     * ranks. The caller has finished writing data (its stream synchronised); data holds the
     * sum when the call returns. 0 or -1 with a message. */
    int (*allreduce_sum_device)(drum_comm *c, float *data, size_t n, char *err, size_t errlen);
};

/* The one-process communicator (static; destroy is a no-op). */
drum_comm *drum_comm_single(void);

/* 1 when this build can open an MPI communicator. */
int drum_comm_mpi_compiled(void);

/* Initialises MPI (MPI_Init_thread, funneled) and returns a communicator over its world.
 * Returns 0, or -1 with a message (built without MPI; MPI failed to start). destroy calls
 * MPI_Finalize. */
int drum_comm_mpi_open(drum_comm **out, int *argc, char ***argv, char *err, size_t errlen);

/* 1 when this build can open an NCCL communicator (built with CUDA and nccl.h). */
int drum_comm_nccl_compiled(void);

/* Wraps `host` (an mpi communicator, or single for one rank) in an nccl communicator over the
 * same ranks: the last rank creates NCCL's unique id and sends it over host, then every rank
 * joins on GPU `device`; -1 picks the one drum's cuda backend uses (drum_comm_local_rank() %
 * count, GPU 0 when no launcher announces a local rank). The host collectives go to `host`,
 * which the new communicator owns from then on (its destroy destroys host too), also when
 * this fails. A collective call: every rank must make it.
 * Returns 0, or -1 with a message (built without NCCL, no GPU, NCCL failed). */
int drum_comm_nccl_open(drum_comm **out, drum_comm *host, int device, char *err, size_t errlen);

/* The world size a launcher announces in the environment (Open MPI's mpirun, MPICH's or
 * Intel MPI's mpiexec), or 0 when none does (srun with PMIx announces none: set
 * DRUM_COMM=mpi there). */
int drum_comm_launcher_size(void);

/* This process's rank as the same launchers announce it, or -1 when none does. */
int drum_comm_launcher_rank(void);

/* DRUM_NODE_SIZE=k groups ranks into nodes of k consecutive ranks for share instead of
 * asking MPI which share a machine (for tests of several nodes on one machine; every group
 * must then be on one machine); DRUM_SHARE=0 turns sharing off. */

/* This process's rank among those on its node, as the launcher announces it (Open MPI,
 * Slurm, MPICH, PMIx), or -1 when none does. The cuda backend takes GPU local_rank % count. */
int drum_comm_local_rank(void);

/* Rank r's share [*lo, *hi) of n items split in contiguous, near-equal, ordered blocks. */
static inline void drum_comm_slice(long n, int rank, int size, long *lo, long *hi) {
    *lo = n * rank / size;
    *hi = n * (rank + 1) / size;
}

/* Every rank's slice of n items of `item` bytes each: `local` holds this rank's slice
 * (drum_comm_slice), all[0..n) gets every slice in order. */
int drum_comm_gather_slices(drum_comm *c, const void *local, void *all, long n, size_t item,
                            char *err, size_t errlen);

/* A 64-bit digest of a buffer (FNV-1a), for checking that ranks hold the same weights. */
uint64_t drum_comm_digest(const void *p, size_t bytes);

/* 0 when every rank passes the same digest; -1 with a message naming the first rank whose
 * `what` differs from rank 0's, then `why` (or a communication error). */
int drum_comm_check_same(drum_comm *c, uint64_t digest, const char *what, const char *why,
                         char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

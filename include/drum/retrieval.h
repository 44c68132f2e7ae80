/* retrieval.h — embedding sets, their file format, and the retrieval strategies.
 *
 * Strategies (docs/METHOD.md): RS (seeded random), FIXED (the same k for every query),
 * SI (cosine of image embeddings), ST (cosine of text embeddings), SIT and DRUM (the
 * concatenation [w_i * v ; w_t * t] of the two L2-normalised embeddings; DRUM is SIT
 * computed with the fine-tuned retriever's embeddings). A query never retrieves itself
 * (exclude index). Results are ordered by similarity, most similar first; callers that
 * want "most similar last" reverse them.
 */
#ifndef DRUM_RETRIEVAL_H
#define DRUM_RETRIEVAL_H

#include <stddef.h>
#include <stdint.h>

#include "drum/backend.h"
#include "drum/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DRUM_STRATEGY_RS = 0,
    DRUM_STRATEGY_FIXED,
    DRUM_STRATEGY_SI,
    DRUM_STRATEGY_ST,
    DRUM_STRATEGY_SIT,
    DRUM_STRATEGY_DRUM,
    DRUM_STRATEGY_COUNT
} drum_strategy;

const char *drum_strategy_name(drum_strategy s);
/* Parses "RS", "FIXED", "SI", "ST", "SIT", "DRUM" (case-insensitive); -1 if unknown. */
int drum_strategy_parse(const char *name, drum_strategy *out);

/* n rows of L2-normalised image and text embeddings (host memory), with their ids.
 * Either matrix may be absent (NULL, dim 0). */
typedef struct {
    int n;
    int dim_img, dim_txt;
    char **ids;
    float *img; /* (n, dim_img) */
    float *txt; /* (n, dim_txt) */
} drum_embeddings;

/* Allocates n rows (ids NULL until set, matrices zeroed). Returns 0 or -1. */
int drum_embeddings_alloc(drum_embeddings *e, int n, int dim_img, int dim_txt, char *err,
                          size_t errlen);
void drum_embeddings_free(drum_embeddings *e);
/* Scales every present row of img and txt to unit L2 norm (zero rows stay zero). */
void drum_embeddings_normalize(drum_embeddings *e);

/* Data parallel: each rank holds its rows (drum_comm_slice of e->n) of e->img and e->txt in
 * place; afterwards every rank holds all of them. A no-op with one rank. Returns 0 or -1. */
int drum_embeddings_gather(drum_comm *comm, drum_embeddings *e, char *err, size_t errlen);

/* Embedding file (docs/FORMATS.md): "DRUMEMB1", u32 version = 1, u32 n, u32 dim_img,
 * u32 dim_txt, then n ids (u32 length + bytes), then img rows, then txt rows (float32
 * little-endian). Written to path.tmp, fsynced, renamed: never half a file. */
int drum_embeddings_save(const drum_embeddings *e, const char *path, char *err, size_t errlen);
int drum_embeddings_load(drum_embeddings *e, const char *path, char *err, size_t errlen);

typedef struct {
    drum_strategy strategy;
    float w_img, w_txt;   /* SIT/DRUM weights */
    uint64_t seed;        /* RS and FIXED */
    int query_chunk;      /* queries per similarity block on the backend (0 = 256) */
} drum_retrieval_opts;

/* For each of the q->n queries, the k most similar pool rows (most similar first):
 * idx (q->n, k) and sim (q->n, k). exclude (q->n) or NULL: exclude[i] is the pool row
 * of query i itself (-1 = none). RS/FIXED report sim 0. Runs the similarity and top-k
 * on `be`. Returns 0, or -1 with a message. */
int drum_retrieve(drum_backend *be, const drum_embeddings *q, const drum_embeddings *pool,
                  const drum_retrieval_opts *opts, const int *exclude, int k, int *idx,
                  float *sim, char *err, size_t errlen);

/* As drum_retrieve, but a query only retrieves pool rows of its own group — one support
 * pool per task family, as in the paper. q_group (q->n) and p_group (pool->n) hold labels
 * in [0, n_groups). A group whose pool is too small for k is an error naming it. */
int drum_retrieve_grouped(drum_backend *be, const drum_embeddings *q, const drum_embeddings *pool,
                          const int *q_group, const int *p_group, int n_groups,
                          const drum_retrieval_opts *opts, const int *exclude, int k, int *idx,
                          float *sim, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

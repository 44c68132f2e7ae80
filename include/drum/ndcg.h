/* ndcg.h — agreement between a retriever's ranking and a scorer's: NDCG@k, and the
 * scorer's own top-k (the oracle a retriever is measured against).
 *
 * Gains come from the scorer's feedback s(x, c) for one query over its candidate set,
 * min-max scaled to [0, 1] (the best candidate 1, the worst 0), so NDCG does not depend on
 * the scale of a backend's log-likelihoods. DCG@k = sum_{i<k} gain(r_i) / log2(i + 2).
 */
#ifndef DRUM_NDCG_H
#define DRUM_NDCG_H

#include <stddef.h>

#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

/* NDCG@k of a ranked list: gains[i] is the gain of the i-th retrieved item (i < n_ret),
 * cand_gains the gains of all n_cand candidates, in any order (the ideal list is their
 * k largest). *out is DCG/IDCG in [0, 1]; 1 when every candidate's gain is 0. Returns 0,
 * or -1 with a message (k < 1, n_ret > n_cand, a negative or non-finite gain). */
int drum_ndcg(const double *gains, int n_ret, const double *cand_gains, int n_cand, int k,
              double *out, char *err, size_t errlen);

/* Scores query against every candidate, scales the scores to gains and returns in *ndcg
 * the NDCG@k of `retrieved` (indices into cands, best first). Returns 0 or -1. */
int drum_ndcg_scored(drum_scorer *s, const drum_example *query,
                     const drum_example *const *cands, int n_cand, const int *retrieved,
                     int n_ret, int k, double *ndcg, char *err, size_t errlen);

/* The indices of the k candidates the scorer rates highest, best first (ties: lower index
 * first), and their scores when scores is not NULL. k is clamped to n_cand; returns the
 * number written, or -1 with a message. */
int drum_score_topk(drum_scorer *s, const drum_example *query,
                    const drum_example *const *cands, int n_cand, int k, int *out,
                    double *scores, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

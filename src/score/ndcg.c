/* ndcg.c — NDCG@k against a scorer's feedback, and the scorer's top-k (see ndcg.h). */
#include "drum/ndcg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int drum_ndcg(const double *gains, int n_ret, const double *cand_gains, int n_cand, int k,
              double *out, char *err, size_t errlen) {
    if (k < 1 || n_ret < 0 || n_cand < 0 || n_ret > n_cand) {
        snprintf(err, errlen, "ndcg: bad sizes (k %d, %d retrieved of %d candidates)", k, n_ret,
                 n_cand);
        return -1;
    }
    for (int i = 0; i < n_cand; i++)
        if (!(cand_gains[i] >= 0) || !isfinite(cand_gains[i])) {
            snprintf(err, errlen, "ndcg: candidate gain %d is %g (must be finite, >= 0)", i,
                     cand_gains[i]);
            return -1;
        }
    for (int i = 0; i < n_ret; i++)
        if (!(gains[i] >= 0) || !isfinite(gains[i])) {
            snprintf(err, errlen, "ndcg: gain %d is %g (must be finite, >= 0)", i, gains[i]);
            return -1;
        }
    /* the ideal ranking's head: the min(k, n_cand) largest gains, descending, kept by
     * insertion (O(n_cand k), k = 10; a sort of every candidate made NDCG over a pool of N
     * cost N log N a query) */
    int m = k < n_cand ? k : n_cand, have = 0;
    double *ideal = malloc(((size_t)m + 1) * sizeof *ideal);
    if (!ideal) {
        snprintf(err, errlen, "ndcg: out of memory");
        return -1;
    }
    for (int i = 0; i < n_cand; i++) {
        double g = cand_gains[i];
        if (have == m && !(g > ideal[m - 1])) continue;
        int p = have < m ? have++ : m - 1;
        for (; p > 0 && ideal[p - 1] < g; p--) ideal[p] = ideal[p - 1];
        ideal[p] = g;
    }
    double dcg = 0, idcg = 0;
    for (int i = 0; i < k && i < n_ret; i++) dcg += gains[i] / log2(i + 2.0);
    for (int i = 0; i < k && i < n_cand; i++) idcg += ideal[i] / log2(i + 2.0);
    free(ideal);
    *out = idcg > 0 ? dcg / idcg : 1.0;
    if (*out > 1.0) *out = 1.0;
    return 0;
}

typedef struct {
    double score;
    int index;
} scored;

/* Best score first; ties by index, so the order never depends on qsort. */
static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->index > y->index) - (x->index < y->index);
}

/* s(query, c) for every candidate, in one call to the backend. */
static double *score_all(drum_scorer *s, const drum_example *query,
                         const drum_example *const *cands, int n, char *err, size_t errlen) {
    drum_score_pair *pairs = malloc(((size_t)n + 1) * sizeof *pairs);
    double *sc = malloc(((size_t)n + 1) * sizeof *sc);
    if (!pairs || !sc) {
        snprintf(err, errlen, "ndcg: out of memory for %d candidates", n);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        pairs[i].query = query;
        pairs[i].demo = cands[i];
    }
    if (n > 0 && s->score(s, pairs, n, sc, err, errlen) != 0) goto fail;
    free(pairs);
    return sc;
fail:
    free(pairs);
    free(sc);
    return NULL;
}

int drum_ndcg_scored(drum_scorer *s, const drum_example *query,
                     const drum_example *const *cands, int n_cand, const int *retrieved,
                     int n_ret, int k, double *ndcg, char *err, size_t errlen) {
    for (int i = 0; i < n_ret; i++)
        if (retrieved[i] < 0 || retrieved[i] >= n_cand) {
            snprintf(err, errlen, "ndcg: retrieved index %d is outside 0..%d", retrieved[i],
                     n_cand - 1);
            return -1;
        }
    if (n_ret > n_cand) {
        snprintf(err, errlen, "ndcg: %d retrieved of %d candidates", n_ret, n_cand);
        return -1;
    }
    double *sc = score_all(s, query, cands, n_cand, err, errlen);
    if (!sc) return -1;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n_cand; i++) {
        if (!isfinite(sc[i])) {
            snprintf(err, errlen, "ndcg: score of candidate %d is %g", i, sc[i]);
            free(sc);
            return -1;
        }
        if (sc[i] < lo) lo = sc[i];
        if (sc[i] > hi) hi = sc[i];
    }
    double *gains = malloc(((size_t)n_ret + 1) * sizeof *gains);
    if (!gains) {
        free(sc);
        snprintf(err, errlen, "ndcg: out of memory");
        return -1;
    }
    for (int i = 0; i < n_cand; i++) sc[i] = hi > lo ? (sc[i] - lo) / (hi - lo) : 0.0;
    for (int i = 0; i < n_ret; i++) gains[i] = sc[retrieved[i]];
    int rc = drum_ndcg(gains, n_ret, sc, n_cand, k, ndcg, err, errlen);
    free(gains);
    free(sc);
    return rc;
}

int drum_score_topk(drum_scorer *s, const drum_example *query,
                    const drum_example *const *cands, int n_cand, int k, int *out,
                    double *scores, char *err, size_t errlen) {
    if (k < 0 || n_cand < 0) {
        snprintf(err, errlen, "topk: bad sizes (k %d, %d candidates)", k, n_cand);
        return -1;
    }
    if (k > n_cand) k = n_cand;
    double *sc = score_all(s, query, cands, n_cand, err, errlen);
    if (!sc) return -1;
    scored *order = malloc(((size_t)n_cand + 1) * sizeof *order);
    if (!order) {
        free(sc);
        snprintf(err, errlen, "topk: out of memory");
        return -1;
    }
    for (int i = 0; i < n_cand; i++) {
        order[i].score = sc[i];
        order[i].index = i;
    }
    qsort(order, (size_t)n_cand, sizeof *order, cmp_scored);
    for (int t = 0; t < k; t++) {
        out[t] = order[t].index;
        if (scores) scores[t] = order[t].score;
    }
    free(order);
    free(sc);
    return k;
}

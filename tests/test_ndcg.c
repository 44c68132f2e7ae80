/* test_ndcg — NDCG@k against hand-computed values, min-max gains from a scorer, the
 * scorer's top-k (order, ties, clamping) and the error paths, with a fake scorer whose
 * score of (x, c) is a known function of the two ids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/ndcg.h"

/* score(x, c) = -|x - c| for ids "e<number>"; "fail" as a demo id makes the call fail. */
static int fake_score(drum_scorer *s, const drum_score_pair *pairs, int n, double *out,
                      char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        if (strcmp(pairs[i].demo->id, "fail") == 0) {
            snprintf(err, errlen, "fake: cannot score");
            return -1;
        }
        int x = atoi(pairs[i].query->id + 1), c = atoi(pairs[i].demo->id + 1);
        out[i] = -abs(x - c);
    }
    return 0;
}

static void fake_destroy(drum_scorer *s) {
    (void)s;
}

static int desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The ideal DCG takes the k largest gains of the candidates (drum_ndcg keeps them by
 * insertion, not by sorting all): equal, bit for bit, to a full sort's, over random gains
 * with ties, k below, at and past the candidate count. */
static void test_ndcg_ideal_head(void) {
    enum { N = 997 };
    static double cand[N], sorted[N];
    double gains[10], v = 0;
    char err[256] = "";
    unsigned x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        cand[i] = (double)((x >> 16) % 200) / 199.0; /* 200 levels: many ties */
        sorted[i] = cand[i];
    }
    qsort(sorted, N, sizeof *sorted, desc);
    for (int i = 0; i < 10; i++) gains[i] = cand[(i * 37) % N];
    const int ks[] = {1, 3, 10, N, N + 5};
    int bad = 0;
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int k = ks[t];
        double dcg = 0, idcg = 0;
        for (int i = 0; i < k && i < 10; i++) dcg += gains[i] / log2(i + 2.0);
        for (int i = 0; i < k && i < N; i++) idcg += sorted[i] / log2(i + 2.0);
        double want = idcg > 0 ? dcg / idcg : 1.0;
        bad += drum_ndcg(gains, 10, cand, N, k, &v, err, sizeof err) != 0 || v != want;
    }
    CHECK(bad == 0, "NDCG against a fully sorted ideal list: %d of 5 k differ (%s)", bad, err);
}

static void test_ndcg_values(void) {
    char err[256] = "";
    double v = -1;
    const double cand[4] = {0.2, 1.0, 0.0, 0.5};
    const double perfect[3] = {1.0, 0.5, 0.2};
    CHECK(drum_ndcg(perfect, 3, cand, 4, 3, &v, err, sizeof err) == 0 && fabs(v - 1) < 1e-15,
          "perfect ranking: %g", v);
    const double mixed[3] = {1.0, 0.0, 0.5};
    double dcg = 1.0 + 0.0 / log2(3.0) + 0.5 / 2.0;
    double idcg = 1.0 + 0.5 / log2(3.0) + 0.2 / 2.0;
    CHECK(drum_ndcg(mixed, 3, cand, 4, 3, &v, err, sizeof err) == 0 &&
              fabs(v - dcg / idcg) < 1e-15,
          "mixed: %.15f want %.15f", v, dcg / idcg);
    /* k cuts both lists; a short retrieved list is padded with zero gain. */
    CHECK(drum_ndcg(mixed, 3, cand, 4, 1, &v, err, sizeof err) == 0 && fabs(v - 1) < 1e-15,
          "k = 1: %g", v);
    CHECK(drum_ndcg(mixed, 1, cand, 4, 3, &v, err, sizeof err) == 0 &&
              fabs(v - 1.0 / idcg) < 1e-15,
          "one retrieved: %g", v);
    const double zeros[2] = {0, 0};
    CHECK(drum_ndcg(zeros, 2, zeros, 2, 2, &v, err, sizeof err) == 0 && v == 1.0,
          "all-zero gains: %g", v);
    const double neg[1] = {-0.1}, nan_gain[1] = {NAN};
    CHECK(drum_ndcg(mixed, 3, cand, 4, 0, &v, err, sizeof err) == -1 && strstr(err, "k 0"),
          "k = 0 accepted: %s", err);
    CHECK(drum_ndcg(mixed, 3, cand, 2, 3, &v, err, sizeof err) == -1, "n_ret > n_cand");
    CHECK(drum_ndcg(neg, 1, cand, 4, 3, &v, err, sizeof err) == -1 && strstr(err, "gain 0"),
          "negative gain: %s", err);
    CHECK(drum_ndcg(mixed, 1, nan_gain, 1, 3, &v, err, sizeof err) == -1, "NaN gain");
}

static void test_scored(void) {
    char err[256] = "";
    drum_scorer s = {.score = fake_score, .destroy = fake_destroy};
    enum { N = 9 };
    char ids[N][8];
    drum_example ex[N], q;
    const drum_example *cands[N];
    memset(ex, 0, sizeof ex);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "e%d", i * 10); /* e0 e10 ... e80 */
        ex[i].id = ids[i];
        cands[i] = &ex[i];
    }
    memset(&q, 0, sizeof q);
    q.id = "e40";
    /* Scores -40 -30 -20 -10 0 -10 -20 -30 -40: top-4 is 4, then 3 and 5 (tie: lower index
     * first), then 2. */
    int top[N];
    double sc[N];
    int n = drum_score_topk(&s, &q, cands, N, 4, top, sc, err, sizeof err);
    CHECK(n == 4 && top[0] == 4 && top[1] == 3 && top[2] == 5 && top[3] == 2,
          "top-4: %d: %d %d %d %d", n, top[0], top[1], top[2], top[3]);
    CHECK(sc[0] == 0 && sc[1] == -10 && sc[3] == -20, "top scores %g %g %g", sc[0], sc[1], sc[3]);
    CHECK(drum_score_topk(&s, &q, cands, N, 50, top, NULL, err, sizeof err) == N,
          "k clamps to the pool");
    CHECK(top[N - 2] == 0 && top[N - 1] == 8, "full order ends with the ties 0, 8");

    /* Gains: (score + 40) / 40, so e40 -> 1, e30/e50 -> 0.75, e20/e60 -> 0.5, ... */
    int ret[3] = {3, 4, 0};
    double v = -1;
    CHECK(drum_ndcg_scored(&s, &q, cands, N, ret, 3, 3, &v, err, sizeof err) == 0, "%s", err);
    double dcg = 0.75 + 1.0 / log2(3.0) + 0.0 / 2.0;
    double idcg = 1.0 + 0.75 / log2(3.0) + 0.75 / 2.0;
    CHECK(fabs(v - dcg / idcg) < 1e-12, "ndcg %.12f want %.12f", v, dcg / idcg);
    int best[3] = {4, 5, 3};
    CHECK(drum_ndcg_scored(&s, &q, cands, N, best, 3, 3, &v, err, sizeof err) == 0 &&
              fabs(v - 1) < 1e-12,
          "ideal list: %g", v);
    int out_of_range[1] = {N};
    CHECK(drum_ndcg_scored(&s, &q, cands, N, out_of_range, 1, 3, &v, err, sizeof err) == -1 &&
              strstr(err, "outside"),
          "index out of range: %s", err);
    ex[2].id = "fail";
    CHECK(drum_ndcg_scored(&s, &q, cands, N, ret, 3, 3, &v, err, sizeof err) == -1 &&
              strstr(err, "cannot score"),
          "scorer failure not carried: %s", err);
    CHECK(drum_score_topk(&s, &q, cands, N, 3, top, NULL, err, sizeof err) == -1,
          "topk carries scorer failure");
    CHECK(drum_score_topk(&s, &q, cands, N, -1, top, NULL, err, sizeof err) == -1, "k < 0");
}

int main(void) {
    test_ndcg_values();
    test_ndcg_ideal_head();
    test_scored();
    return check_summary();
}

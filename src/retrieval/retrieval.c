/* retrieval.c — the retrieval strategies over embedding sets (see retrieval.h). */
#include "drum/retrieval.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drum/rng.h"

static const char *const strategy_names[DRUM_STRATEGY_COUNT] = {"RS", "FIXED", "SI",
                                                                "ST", "SIT",   "DRUM"};

const char *drum_strategy_name(drum_strategy s) {
    return (unsigned)s < DRUM_STRATEGY_COUNT ? strategy_names[s] : "?";
}

int drum_strategy_parse(const char *name, drum_strategy *out) {
    for (int s = 0; s < DRUM_STRATEGY_COUNT; s++) {
        if (strcasecmp(name, strategy_names[s]) == 0) {
            *out = (drum_strategy)s;
            return 0;
        }
    }
    return -1;
}

int drum_embeddings_alloc(drum_embeddings *e, int n, int dim_img, int dim_txt, char *err,
                          size_t errlen) {
    memset(e, 0, sizeof *e);
    e->n = n;
    e->dim_img = dim_img;
    e->dim_txt = dim_txt;
    e->ids = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    e->img = dim_img ? calloc((size_t)n * dim_img + 1, sizeof(float)) : NULL;
    e->txt = dim_txt ? calloc((size_t)n * dim_txt + 1, sizeof(float)) : NULL;
    if (!e->ids || (dim_img && !e->img) || (dim_txt && !e->txt)) {
        drum_embeddings_free(e);
        snprintf(err, errlen, "out of memory for %d embeddings", n);
        return -1;
    }
    return 0;
}

void drum_embeddings_free(drum_embeddings *e) {
    if (e->ids)
        for (int i = 0; i < e->n; i++) free(e->ids[i]);
    free(e->ids);
    free(e->img);
    free(e->txt);
    memset(e, 0, sizeof *e);
}

static void normalize_rows(float *x, int n, int d) {
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * d;
        double s = 0;
        for (int c = 0; c < d; c++) s += (double)r[c] * r[c];
        if (s <= 0) continue;
        float inv = (float)(1.0 / sqrt(s));
        for (int c = 0; c < d; c++) r[c] *= inv;
    }
}

int drum_embeddings_gather(drum_comm *comm, drum_embeddings *e, char *err, size_t errlen) {
    if (comm->size == 1) return 0;
    long lo, hi;
    drum_comm_slice(e->n, comm->rank, comm->size, &lo, &hi);
    size_t ri = (size_t)e->dim_img * sizeof(float), rt = (size_t)e->dim_txt * sizeof(float);
    if (e->dim_img && drum_comm_gather_slices(comm, e->img + lo * e->dim_img, e->img, e->n, ri,
                                              err, errlen))
        return -1;
    if (e->dim_txt && drum_comm_gather_slices(comm, e->txt + lo * e->dim_txt, e->txt, e->n, rt,
                                              err, errlen))
        return -1;
    return 0;
}

void drum_embeddings_normalize(drum_embeddings *e) {
    if (e->img) normalize_rows(e->img, e->n, e->dim_img);
    if (e->txt) normalize_rows(e->txt, e->n, e->dim_txt);
}

/* The feature rows a similarity strategy compares, img, txt, or [w_i img ; w_t txt], of e's
 * rows `rows` (n of them; NULL: rows 0..n-1), gathered straight from e: a task family's rows
 * take no copy of their own embeddings first. */
static float *strategy_features(const drum_embeddings *e, const int *rows, int n,
                                const drum_retrieval_opts *o, int *dim, char *err,
                                size_t errlen) {
    int use_img = o->strategy != DRUM_STRATEGY_ST, use_txt = o->strategy != DRUM_STRATEGY_SI;
    if ((use_img && !e->img) || (use_txt && !e->txt)) {
        snprintf(err, errlen, "strategy %s needs %s embeddings, which this set lacks",
                 drum_strategy_name(o->strategy), use_img && !e->img ? "image" : "text");
        return NULL;
    }
    int di = use_img ? e->dim_img : 0, dt = use_txt ? e->dim_txt : 0;
    *dim = di + dt;
    float *f = malloc((size_t)n * (size_t)(*dim) * sizeof(float) + 1);
    if (!f) {
        snprintf(err, errlen, "out of memory for %d x %d retrieval features", n, *dim);
        return NULL;
    }
    float wi = (use_img && use_txt) ? o->w_img : 1.0f, wt = (use_img && use_txt) ? o->w_txt : 1.0f;
    for (int i = 0; i < n; i++) {
        size_t r = rows ? (size_t)rows[i] : (size_t)i;
        float *row = f + (size_t)i * (*dim);
        for (int c = 0; c < di; c++) row[c] = wi * e->img[r * e->dim_img + c];
        for (int c = 0; c < dt; c++) row[di + c] = wt * e->txt[r * e->dim_txt + c];
    }
    return f;
}

/* RS: k distinct pool rows per query by a partial Fisher-Yates shuffle of the identity,
 * seeded per query (its swaps are undone afterwards, so a query costs O(k), not O(pool));
 * FIXED: the first k rows of one seeded permutation that are not the query itself. */
static int retrieve_random(const drum_retrieval_opts *o, int nq, int np, const int *exclude,
                           int k, int *idx, float *sim, char *err, size_t errlen) {
    int *perm = malloc((size_t)np * sizeof(int));
    int *swap = malloc((size_t)(k + 1) * sizeof(int)); /* RS: position j went to swap[j] */
    if (!perm || !swap) {
        free(perm);
        free(swap);
        snprintf(err, errlen, "out of memory for a permutation of %d", np);
        return -1;
    }
    for (int j = 0; j < np; j++) perm[j] = j;
    drum_rng rng = {0, 1};
    if (o->strategy == DRUM_STRATEGY_FIXED) {
        drum_rng_seed(&rng, o->seed, 0xF1ED);
        for (int j = 0; j < k + 1 && j < np; j++) {
            int r = j + (int)drum_rng_below(&rng, (uint32_t)(np - j));
            int t = perm[j];
            perm[j] = perm[r];
            perm[r] = t;
        }
    }
    int rs = o->strategy == DRUM_STRATEGY_RS;
    for (int i = 0; i < nq; i++) {
        int ex = exclude ? exclude[i] : -1;
        if (rs) drum_rng_seed(&rng, drum_hash64(o->seed, (uint64_t)i), 0x5EED);
        int got = 0, j = 0;
        for (; got < k && j < np; j++) {
            if (rs) { /* at most k + 1 swaps: the query itself is skipped once */
                int r = j + (int)drum_rng_below(&rng, (uint32_t)(np - j));
                int t = perm[j];
                perm[j] = perm[r];
                perm[r] = t;
                swap[j] = r;
            }
            if (perm[j] == ex) continue;
            idx[(size_t)i * k + got] = perm[j];
            sim[(size_t)i * k + got] = 0.0f;
            got++;
        }
        while (rs && j-- > 0) { /* back to the identity, in reverse order */
            int t = perm[j];
            perm[j] = perm[swap[j]];
            perm[swap[j]] = t;
        }
    }
    free(perm);
    free(swap);
    return 0;
}

/* drum_retrieve over rows qrows of q (nq of them) and prows of pool (np): NULL for all.
 * exclude and the results are per listed query row; exclude and idx name listed pool rows
 * (0..np-1). */
static int retrieve_rows(drum_backend *be, const drum_embeddings *q, const int *qrows, int nq,
                         const drum_embeddings *pool, const int *prows, int np,
                         const drum_retrieval_opts *o, const int *exclude, int k, int *idx,
                         float *sim, char *err, size_t errlen) {
    int need = k + (exclude ? 1 : 0);
    if (k <= 0 || np < need) {
        snprintf(err, errlen, "cannot retrieve %d demonstrations from a pool of %d%s", k, np,
                 exclude ? " (the query itself excluded)" : "");
        return -1;
    }
    if (o->strategy == DRUM_STRATEGY_RS || o->strategy == DRUM_STRATEGY_FIXED)
        return retrieve_random(o, nq, np, exclude, k, idx, sim, err, errlen);

    int dq = 0, dp = 0, rc = -1;
    float *fq = strategy_features(q, qrows, nq, o, &dq, err, errlen);
    float *fp = fq ? strategy_features(pool, prows, np, o, &dp, err, errlen) : NULL;
    if (!fq || !fp) goto out_host;
    if (dq != dp) {
        snprintf(err, errlen, "query features have %d dims but pool features %d", dq, dp);
        goto out_host;
    }
    int chunk = o->query_chunk > 0 ? o->query_chunk : 256;
    if (chunk > nq) chunk = nq > 0 ? nq : 1;
    float zero = 0.0f;
    float *d_pool = be->alloc(be, (size_t)np * dp * sizeof(float));
    float *d_q = be->alloc(be, (size_t)chunk * dp * sizeof(float));
    float *d_sim = be->alloc(be, (size_t)chunk * np * sizeof(float));
    float *d_vals = be->alloc(be, (size_t)chunk * k * sizeof(float));
    int *d_idx = be->alloc(be, (size_t)chunk * k * sizeof(int));
    int *d_ex = exclude ? be->alloc(be, (size_t)chunk * sizeof(int)) : NULL;
    float *d_logscale = be->alloc(be, sizeof(float));
    if (!drum_backend_ok(be)) { /* a large pool's features or similarity block did not fit */
        snprintf(err, errlen, "retrieval on %s: out of memory for the pool's %d x %d features "
                 "and a block of %d x %d similarities (%s)", be->name, np, dp, chunk, np, be->err);
        goto out_device;
    }
    be->to_device(be, d_pool, fp, (size_t)np * dp * sizeof(float));
    be->to_device(be, d_logscale, &zero, sizeof zero);
    for (int i0 = 0; i0 < nq && drum_backend_ok(be); i0 += chunk) {
        int m = nq - i0 < chunk ? nq - i0 : chunk;
        be->to_device(be, d_q, fq + (size_t)i0 * dq, (size_t)m * dq * sizeof(float));
        if (d_ex) be->to_device(be, d_ex, exclude + i0, (size_t)m * sizeof(int));
        // (m, D) x (N, D)^T -> (m, N) cosine similarities (rows are unit vectors)
        be->op.similarity_forward(be, d_sim, d_q, d_pool, d_logscale, m, np, dp);
        // (m, N) -> (m, k) best first, ties by lower index
        be->op.topk_forward(be, d_vals, d_idx, d_sim, d_ex, m, np, k);
        be->to_host(be, sim + (size_t)i0 * k, d_vals, (size_t)m * k * sizeof(float));
        be->to_host(be, idx + (size_t)i0 * k, d_idx, (size_t)m * k * sizeof(int));
    }
    if (drum_backend_ok(be)) {
        rc = 0;
    } else {
        snprintf(err, errlen, "retrieval on %s: %s", be->name, be->err);
    }
out_device:
    be->free(be, d_pool);
    be->free(be, d_q);
    be->free(be, d_sim);
    be->free(be, d_vals);
    be->free(be, d_idx);
    be->free(be, d_ex);
    be->free(be, d_logscale);
out_host:
    free(fq);
    free(fp);
    return rc;
}

int drum_retrieve(drum_backend *be, const drum_embeddings *q, const drum_embeddings *pool,
                  const drum_retrieval_opts *o, const int *exclude, int k, int *idx, float *sim,
                  char *err, size_t errlen) {
    return retrieve_rows(be, q, NULL, q->n, pool, NULL, pool->n, o, exclude, k, idx, sim, err,
                         errlen);
}

int drum_retrieve_grouped(drum_backend *be, const drum_embeddings *q, const drum_embeddings *pool,
                          const int *q_group, const int *p_group, int n_groups,
                          const drum_retrieval_opts *opts, const int *exclude, int k, int *idx,
                          float *sim, char *err, size_t errlen) {
    int *qrows = malloc((size_t)(q->n + 1) * sizeof(int));
    int *prows = malloc((size_t)(pool->n + 1) * sizeof(int));
    int *pmap = malloc((size_t)(pool->n + 1) * sizeof(int)); /* pool row -> row in its group */
    int *sub_ex = malloc((size_t)(q->n + 1) * sizeof(int));
    int *sub_idx = malloc((size_t)(q->n + 1) * k * sizeof(int));
    float *sub_sim = malloc((size_t)(q->n + 1) * k * sizeof(float));
    int rc = -1;
    if (!qrows || !prows || !pmap || !sub_ex || !sub_idx || !sub_sim) {
        snprintf(err, errlen, "out of memory for grouped retrieval");
        goto out;
    }
    for (int g = 0; g < n_groups; g++) {
        int nq = 0, np = 0;
        for (int i = 0; i < q->n; i++)
            if (q_group[i] == g) qrows[nq++] = i;
        if (nq == 0) continue;
        for (int j = 0; j < pool->n; j++) {
            pmap[j] = -1;
            if (p_group[j] == g) {
                pmap[j] = np;
                prows[np++] = j;
            }
        }
        /* a group none of whose queries leaves an example out retrieves with no exclusion,
         * needing k examples, not k + 1 */
        int excludes = 0;
        for (int i = 0; i < nq; i++) {
            sub_ex[i] = exclude && exclude[qrows[i]] >= 0 ? pmap[exclude[qrows[i]]] : -1;
            excludes |= sub_ex[i] >= 0;
        }
        drum_retrieval_opts o = *opts;
        o.seed = drum_hash64(opts->seed, (uint64_t)g);
        char sub_err[512];
        int r = retrieve_rows(be, q, qrows, nq, pool, prows, np, &o, excludes ? sub_ex : NULL, k,
                              sub_idx, sub_sim, sub_err, sizeof sub_err);
        if (r) {
            snprintf(err, errlen, "group %d: %s", g, sub_err);
            goto out;
        }
        for (int i = 0; i < nq; i++)
            for (int t = 0; t < k; t++) {
                idx[(size_t)qrows[i] * k + t] = prows[sub_idx[(size_t)i * k + t]];
                sim[(size_t)qrows[i] * k + t] = sub_sim[(size_t)i * k + t];
            }
    }
    rc = 0;
out:
    free(qrows);
    free(prows);
    free(pmap);
    free(sub_ex);
    free(sub_idx);
    free(sub_sim);
    return rc;
}

/* test_retrieval — strategies against a brute-force float64 ranking, self exclusion,
 * seeded RS/FIXED, and the embedding file (round trip and corrupt files). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/retrieval.h"
#include "drum/rng.h"

static void fill(drum_embeddings *e, test_rng *r) {
    for (int i = 0; i < e->n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "ex%04d", i);
        e->ids[i] = strdup(buf);
        for (int c = 0; c < e->dim_img; c++)
            e->img[(size_t)i * e->dim_img + c] = test_rng_uniform(r, -1, 1);
        for (int c = 0; c < e->dim_txt; c++)
            e->txt[(size_t)i * e->dim_txt + c] = test_rng_uniform(r, -1, 1);
    }
    drum_embeddings_normalize(e);
}

/* float64 ranking of pool rows for query i: [w_i img ; w_t txt] dot products. */
static void brute_force(const drum_embeddings *q, const drum_embeddings *p, int i, float wi,
                        float wt, int ex, int k, int *out) {
    double *s = malloc((size_t)p->n * sizeof(double));
    for (int j = 0; j < p->n; j++) {
        double a = 0, b = 0;
        for (int c = 0; c < p->dim_img; c++)
            a += (double)q->img[(size_t)i * q->dim_img + c] * p->img[(size_t)j * p->dim_img + c];
        for (int c = 0; c < p->dim_txt; c++)
            b += (double)q->txt[(size_t)i * q->dim_txt + c] * p->txt[(size_t)j * p->dim_txt + c];
        s[j] = (double)wi * wi * a + (double)wt * wt * b;
    }
    for (int t = 0; t < k; t++) {
        int best = -1;
        for (int j = 0; j < p->n; j++) {
            if (j == ex) continue;
            int used = 0;
            for (int u = 0; u < t; u++) used |= out[u] == j;
            if (!used && (best < 0 || s[j] > s[best])) best = j;
        }
        out[t] = best;
    }
    free(s);
}

static void test_similarity_strategies(drum_backend *be, test_rng *r) {
    char err[512];
    drum_embeddings pool, q;
    CHECK(drum_embeddings_alloc(&pool, 203, 13, 9, err, sizeof err) == 0, "%s", err);
    fill(&pool, r);
    q = pool; /* queries are the pool itself: exclusion matters */
    int k = 7, *ex = malloc(sizeof(int) * pool.n), *idx = malloc(sizeof(int) * pool.n * k);
    float *sim = malloc(sizeof(float) * pool.n * k);
    for (int i = 0; i < pool.n; i++) ex[i] = i;
    struct { drum_strategy s; float wi, wt; } cases[] = {
        {DRUM_STRATEGY_SI, 1, 0}, {DRUM_STRATEGY_ST, 0, 1}, {DRUM_STRATEGY_SIT, 1, 1},
        {DRUM_STRATEGY_SIT, 0.6f, 1.3f}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        drum_retrieval_opts o = {cases[c].s, cases[c].wi, cases[c].wt, 1, 37};
        if (cases[c].s != DRUM_STRATEGY_SIT) o.w_img = o.w_txt = 1;
        int rc = drum_retrieve(be, &q, &pool, &o, ex, k, idx, sim, err, sizeof err);
        CHECK(rc == 0, "%s: %s", drum_strategy_name(cases[c].s), err);
        if (rc) continue;
        int mismatches = 0, self = 0, order = 1;
        for (int i = 0; i < pool.n; i++) {
            int want[16];
            brute_force(&q, &pool, i, cases[c].wi, cases[c].wt, i, k, want);
            for (int t = 0; t < k; t++) {
                mismatches += idx[i * k + t] != want[t];
                self += idx[i * k + t] == i;
                if (t && sim[i * k + t] > sim[i * k + t - 1]) order = 0;
            }
        }
        CHECK(mismatches == 0, "%s w=(%g,%g): %d of %d retrieved ids differ from brute force",
              drum_strategy_name(cases[c].s), cases[c].wi, cases[c].wt, mismatches, pool.n * k);
        CHECK(self == 0, "a query retrieved itself %d times", self);
        CHECK(order, "similarities not in descending order");
    }
    drum_embeddings_free(&pool);
    free(ex);
    free(idx);
    free(sim);
}

static void test_random_strategies(drum_backend *be, test_rng *r) {
    char err[512];
    drum_embeddings pool;
    CHECK(drum_embeddings_alloc(&pool, 50, 4, 4, err, sizeof err) == 0, "%s", err);
    fill(&pool, r);
    int k = 8, n = pool.n, ex[50];
    int *a = malloc(sizeof(int) * n * k), *b = malloc(sizeof(int) * n * k);
    float *s = malloc(sizeof(float) * n * k);
    for (int i = 0; i < n; i++) ex[i] = i;
    drum_retrieval_opts o = {DRUM_STRATEGY_RS, 1, 1, 42, 0};
    CHECK(drum_retrieve(be, &pool, &pool, &o, ex, k, a, s, err, sizeof err) == 0, "%s", err);
    CHECK(drum_retrieve(be, &pool, &pool, &o, ex, k, b, s, err, sizeof err) == 0, "%s", err);
    CHECK(memcmp(a, b, sizeof(int) * n * k) == 0, "RS is not deterministic for a seed");
    int bad = 0;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < k; t++) {
            bad += a[i * k + t] == i || a[i * k + t] < 0 || a[i * k + t] >= n;
            for (int u = 0; u < t; u++) bad += a[i * k + t] == a[i * k + u];
        }
    CHECK(bad == 0, "RS gave %d self, out-of-range or repeated ids", bad);
    /* RS is query i's partial Fisher-Yates shuffle of the identity, seeded by (seed, i): the
     * retriever undoes each query's swaps instead of rebuilding the whole permutation (which
     * made RS cost queries x pool), and must draw exactly what a fresh permutation gives */
    int mismatched = 0, perm[50];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) perm[j] = j;
        drum_rng rng;
        drum_rng_seed(&rng, drum_hash64(42, (uint64_t)i), 0x5EED);
        for (int j = 0, got = 0; got < k; j++) {
            int to = j + (int)drum_rng_below(&rng, (uint32_t)(n - j)), t = perm[j];
            perm[j] = perm[to];
            perm[to] = t;
            if (perm[j] != i) mismatched += a[i * k + got++] != perm[j];
        }
    }
    CHECK(mismatched == 0, "RS differs from a fresh permutation per query in %d draws", mismatched);
    o.seed = 43;
    CHECK(drum_retrieve(be, &pool, &pool, &o, ex, k, b, s, err, sizeof err) == 0, "%s", err);
    CHECK(memcmp(a, b, sizeof(int) * n * k) != 0, "RS ignores its seed");

    o.strategy = DRUM_STRATEGY_FIXED;
    CHECK(drum_retrieve(be, &pool, &pool, &o, ex, k, a, s, err, sizeof err) == 0, "%s", err);
    /* every query gets the same set, except that a query in that set gets a substitute */
    int same = 0;
    for (int i = 0; i < n; i++) {
        int contains_self = 0;
        for (int t = 0; t < k; t++) contains_self |= a[i * k + t] == i;
        CHECK(!contains_self, "FIXED retrieved query %d itself", i);
        same += memcmp(a + i * k, a, sizeof(int) * (k - 1)) == 0;
    }
    CHECK(same >= n - k - 1, "FIXED differs across queries (%d of %d agree)", same, n);
    CHECK(drum_retrieve(be, &pool, &pool, &o, ex, n, a, s, err, sizeof err) != 0,
          "retrieving the whole pool with self exclusion should fail");
    CHECK(strstr(err, "pool of 50") != NULL, "message: %s", err);
    drum_embeddings_free(&pool);
    free(a);
    free(b);
    free(s);
}

static void test_file(test_rng *r) {
    char err[512], dir[] = "/tmp/drum_emb_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[600], bad[600];
    snprintf(path, sizeof path, "%s/e.emb", dir);
    snprintf(bad, sizeof bad, "%s/bad.emb", dir);
    drum_embeddings e, back;
    drum_embeddings_alloc(&e, 11, 5, 3, err, sizeof err);
    fill(&e, r);
    CHECK(drum_embeddings_save(&e, path, err, sizeof err) == 0, "%s", err);
    CHECK(drum_embeddings_load(&back, path, err, sizeof err) == 0, "%s", err);
    CHECK(back.n == 11 && back.dim_img == 5 && back.dim_txt == 3, "header round trip");
    CHECK(back.n == 11 && memcmp(back.img, e.img, sizeof(float) * 55) == 0 &&
              memcmp(back.txt, e.txt, sizeof(float) * 33) == 0,
          "rows round trip");
    CHECK(back.n == 11 && strcmp(back.ids[10], "ex0010") == 0, "ids round trip");
    drum_embeddings_free(&back);

    /* truncated at every length: always an error naming the file, never a crash */
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int all_fail = 1, named = 1;
    for (size_t cut = 0; cut < len; cut += 7) {
        f = fopen(bad, "wb");
        fwrite(buf, 1, cut, f);
        fclose(f);
        if (drum_embeddings_load(&back, bad, err, sizeof err) == 0) {
            all_fail = 0;
            drum_embeddings_free(&back);
        } else if (!strstr(err, bad)) {
            named = 0;
        }
    }
    CHECK(all_fail, "a truncated embedding file loaded");
    CHECK(named, "an error message does not name the file: %s", err);
    buf[0] = 'X';
    f = fopen(bad, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    CHECK(drum_embeddings_load(&back, bad, err, sizeof err) != 0 && strstr(err, "magic"),
          "bad magic: %s", err);
    CHECK(drum_embeddings_load(&back, "/nonexistent/x.emb", err, sizeof err) != 0 &&
              strstr(err, "/nonexistent/x.emb"),
          "missing file: %s", err);
    drum_embeddings_free(&e);
    unlink(path);
    unlink(bad);
    rmdir(dir);
}

/* A backend whose allocations of `fail_from` bytes or more fail, as a large pool's on a full
 * host or GPU would: retrieval says so (it wrote through the NULL buffers: SIGSEGV). */
static void *(*real_alloc)(drum_backend *be, size_t bytes);
static size_t fail_from;
static void *failing_alloc(drum_backend *be, size_t bytes) {
    if (bytes >= fail_from) {
        DRUM_FAIL(be, "out of host memory allocating %zu bytes (test)", bytes);
        return NULL;
    }
    return real_alloc(be, bytes);
}

static void test_out_of_memory(test_rng *r) {
    char err[512];
    drum_embeddings pool;
    CHECK(drum_embeddings_alloc(&pool, 300, 16, 16, err, sizeof err) == 0, "%s", err);
    fill(&pool, r);
    int k = 5, idx[5 * 300];
    float sim[5 * 300];
    size_t sizes[] = {300 * 32 * sizeof(float), 256 * 300 * sizeof(float)}; /* pool, block */
    for (int c = 0; c < 2; c++) {
        drum_backend *be = drum_backend_create("cpu", err, sizeof err);
        if (!be) continue;
        real_alloc = be->alloc;
        be->alloc = failing_alloc;
        fail_from = sizes[c];
        drum_retrieval_opts o = {DRUM_STRATEGY_SIT, 1, 1, 1, 0};
        int rc = drum_retrieve(be, &pool, &pool, &o, NULL, k, idx, sim, err, sizeof err);
        CHECK(rc == -1 && strstr(err, "retrieval on cpu: out of memory for the pool's 300 x 32 "
                                      "features and a block of 256 x 300 similarities") &&
                  strstr(err, "(test)"),
              "retrieval whose %s cannot be allocated: rc %d, %s", c ? "similarities" : "pool",
              rc, rc ? err : "");
        drum_backend_destroy(be);
    }
    drum_embeddings_free(&pool);
}

int main(void) {
    test_rng r;
    test_rng_seed(&r, test_seed());
    char err[512];
    drum_backend *cpu = drum_backend_create("cpu", err, sizeof err);
    test_similarity_strategies(cpu, &r);
    test_random_strategies(cpu, &r);
    test_file(&r);
    test_out_of_memory(&r);
    drum_backend *cuda = drum_backend_create("cuda", err, sizeof err);
    if (cuda) {
        test_similarity_strategies(cuda, &r);
        drum_backend_destroy(cuda);
    } else {
        SKIP("retrieval on cuda: %s", err);
    }
    drum_backend_destroy(cpu);
    return check_summary();
}

/* test_icl — how drum_icl_evaluate answers each kind of query, against a fake LVLM whose
 * answers and log-likelihoods are fixed functions of the prompt: VQA and captions (and, by
 * default, classification) through generate(); classification with rank_cls through rank()
 * over the class names (every distinct "cls" response of pool and queries, byte order, ties
 * to the first); "binary" queries always through rank(), scored by the ROC-AUC of
 * P(yes) = 1 / (1 + exp(ll(no) - ll(yes))). Also the errors: a scorer without rank(), a
 * binary query whose gold answer is not yes/no, one class only, a failing rank(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/icl.h"
#include "drum/metrics.h"

enum { NP = 6, NQ = 9, K = 2 };

/* The fake: generate answers the last demonstration's response; rank gives a choice
 * 1 + (query index) * 0.1 when it is the last demonstration's response, else -(its length),
 * so "cat" beats "zebra" and "no" beats "yes" unless a demonstration says otherwise. */
typedef struct {
    const drum_example *queries;
    int calls, prompts, fail;
} fake_impl;

static int fake_generate(drum_scorer *s, const drum_icl_prompt *p, int n, char **out, char *err,
                         size_t errlen) {
    fake_impl *im = s->impl;
    im->calls++;
    im->prompts += n;
    for (int i = 0; i < n; i++) out[i] = strdup(p[i].k ? p[i].demos[p[i].k - 1]->response : "");
    return 0;
}

static int fake_rank(drum_scorer *s, const drum_icl_prompt *p, int n, const char *const *choices,
                     int n_choices, double *out, char *err, size_t errlen) {
    fake_impl *im = s->impl;
    if (im->fail) {
        snprintf(err, errlen, "the fake was told to fail rank");
        return -1;
    }
    im->calls++;
    im->prompts += n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n_choices; j++) {
            int last = p[i].k && strcmp(p[i].demos[p[i].k - 1]->response, choices[j]) == 0;
            out[i * n_choices + j] =
                last ? 1 + 0.1 * (double)(p[i].query - im->queries) : -(double)strlen(choices[j]);
        }
    return 0;
}

static void fake_destroy(drum_scorer *s) { (void)s; }

static drum_example ex(const char *id, const char *response, const char *task) {
    drum_example e = {0};
    e.id = (char *)id;
    e.image = (char *)"x.png";
    e.prompt = (char *)"p";
    e.response = (char *)response;
    e.task = (char *)task;
    return e;
}

static drum_example pool_ex[NP], query_ex[NQ];
static drum_dataset pool = {(char *)"pool.jsonl", pool_ex, NP, NULL};
static drum_dataset queries = {(char *)"queries.jsonl", query_ex, NQ, NULL};
/* retrieved demonstrations, most similar first (shown most similar last) */
static int retrieved[NQ * K];

static double task_score(const drum_icl_result *r, const char *task) {
    for (int t = 0; t < r->n_tasks; t++)
        if (strcmp(r->task[t], task) == 0) return r->score[t];
    return NAN;
}

static void setup(void) {
    pool_ex[0] = ex("p0", "zebra", "cls");
    pool_ex[1] = ex("p1", "cat", "cls");
    pool_ex[2] = ex("p2", "yes", "binary");
    pool_ex[3] = ex("p3", "no", "binary");
    pool_ex[4] = ex("p4", "red", "vqa");
    pool_ex[5] = ex("p5", "ant", "cls");
    /* cls: gold, the most similar demonstration; "ox" is a class only a query has */
    query_ex[0] = ex("q0", "zebra", "cls");
    query_ex[1] = ex("q1", "cat", "cls");
    query_ex[2] = ex("q2", "ox", "cls");
    query_ex[3] = ex("q3", "yes", "binary");
    query_ex[4] = ex("q4", "no", "binary");
    query_ex[5] = ex("q5", "yes", "binary");
    query_ex[6] = ex("q6", "no", "binary");
    query_ex[7] = ex("q7", "Yes", "binary");
    query_ex[8] = ex("q8", "red", "vqa");
    const int nearest[NQ] = {0, 0, 4, 2, 3, 3, 2, 4, 4};
    for (int i = 0; i < NQ; i++) {
        retrieved[i * K] = nearest[i];
        retrieved[i * K + 1] = (nearest[i] + 1) % NP; /* shown first: not the last demo */
    }
}

static void test_answers(void) {
    char err[512] = "";
    fake_impl im = {query_ex, 0, 0, 0};
    drum_scorer s = {.score = NULL, .generate = fake_generate, .rank = fake_rank,
                     .destroy = fake_destroy, .impl = &im};
    snprintf(s.id, sizeof s.id, "fake");
    drum_icl_result gen, rnk;
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 0, NULL, &gen, err,
                            sizeof err) == 0,
          "generate: %s", err);
    /* generate: cls answers are the nearest demo's response: zebra (right), zebra (wrong),
     * red (wrong) */
    CHECK(fabs(task_score(&gen, "cls") - 1.0 / 3) < 1e-12, "generated cls accuracy %.6f",
          task_score(&gen, "cls"));
    CHECK(task_score(&gen, "vqa") == 1, "vqa %.6f (the nearest demo says red)",
          task_score(&gen, "vqa"));
    /* binary: (ll yes, ll no) by query: q3 and q6 show yes last (1.3 and 1.6, no -2), q4 and
     * q5 show no last (1.4 and 1.5, yes -3), q7 shows red last (yes -3, no -2). Positives
     * q3 .96, q5 .011, q7 .27 against negatives q4 .012 and q6 .97: 2 of 6 pairs ordered */
    double p_yes[5], want;
    double ll[5][2] = {{1.3, -2}, {-3, 1.4}, {-3, 1.5}, {1.6, -2}, {-3, -2}};
    int label[5] = {1, 0, 1, 0, 1};
    for (int i = 0; i < 5; i++) p_yes[i] = 1 / (1 + exp(ll[i][1] - ll[i][0]));
    CHECK(drum_roc_auc(5, p_yes, label, &want, err, sizeof err) == 0, "roc: %s", err);
    CHECK(fabs(task_score(&gen, "binary") - want) < 1e-12 && fabs(want - 2.0 / 6) < 1e-12,
          "binary ROC-AUC %.6f, recomputed %.6f (want 1/3)", task_score(&gen, "binary"), want);
    CHECK(gen.n_tasks == 3 && strcmp(gen.task[0], "cls") == 0 && strcmp(gen.task[1], "binary") == 0,
          "tasks in order of first appearance: %d", gen.n_tasks);
    CHECK(fabs(gen.mean - (1.0 / 3 + 1 + want) / 3) < 1e-12, "mean %.6f", gen.mean);
    /* each query's own score: cls 1, 0, 0 (q0..q2), binary NaN (q3..q7), vqa 1 (q8); the
     * same evaluation otherwise */
    double each[NQ];
    drum_icl_result again;
    CHECK(drum_icl_evaluate_each(&s, &queries, &pool, retrieved, K, K, 0, 0, NULL, &again, each,
                                 err, sizeof err) == 0 &&
              memcmp(&again, &gen, sizeof gen) == 0,
          "evaluate_each: %s", err);
    int each_ok = each[0] == 1 && each[1] == 0 && each[2] == 0 && each[8] == 1;
    for (int i = 3; i < 8; i++) each_ok &= isnan(each[i]);
    CHECK(each_ok, "per-query scores %g %g %g | %g .. %g | %g", each[0], each[1], each[2],
          each[3], each[7], each[8]);

    /* rank_cls: classes ant, cat, ox, zebra; q0: the nearest demo says zebra (ll 1.0) ->
     * zebra; q1: zebra (1.1) -> zebra, wrong; q2: red is no class, so -(length): ox (-2),
     * right */
    im.calls = im.prompts = 0;
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 1, NULL, &rnk, err,
                            sizeof err) == 0,
          "rank: %s", err);
    CHECK(fabs(task_score(&rnk, "cls") - 2.0 / 3) < 1e-12, "ranked cls accuracy %.6f",
          task_score(&rnk, "cls"));
    CHECK(task_score(&rnk, "vqa") == 1 && task_score(&rnk, "binary") == task_score(&gen, "binary"),
          "the other tasks do not change: vqa %.6f, binary %.6f", task_score(&rnk, "vqa"),
          task_score(&rnk, "binary"));
    CHECK(im.calls == 3 && im.prompts == NQ, "one generate and two rank calls covering %d "
          "prompts once each: %d calls, %d prompts", NQ, im.calls, im.prompts);
    /* a demo that shows the class wins it: q2 with "ant" nearest (wrong, then right) */
    retrieved[2 * K] = 5;
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 1, NULL, &rnk, err,
                            sizeof err) == 0 &&
              fabs(task_score(&rnk, "cls") - 1.0 / 3) < 1e-12,
          "q2 answered ant: accuracy %.6f", task_score(&rnk, "cls"));
    query_ex[2].response = (char *)"ant";
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 1, NULL, &rnk, err,
                            sizeof err) == 0 &&
              fabs(task_score(&rnk, "cls") - 2.0 / 3) < 1e-12,
          "q2's gold ant: accuracy %.6f", task_score(&rnk, "cls"));
    /* q2's gold cat (so ox is no class any more) and "yes" nearest: ant and cat tie at -3,
     * the first (ant) is taken */
    query_ex[2].response = (char *)"cat";
    retrieved[2 * K] = 2;
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 1, NULL, &rnk, err,
                            sizeof err) == 0 &&
              fabs(task_score(&rnk, "cls") - 1.0 / 3) < 1e-12,
          "q2's gold cat, a tie of ant and cat: accuracy %.6f (ant, the first, is taken)",
          task_score(&rnk, "cls"));
    query_ex[2].response = (char *)"ox";
    retrieved[2 * K] = 4;

    /* errors */
    im.fail = 1;
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 0, NULL, &rnk, err,
                            sizeof err) == -1 &&
              strstr(err, "told to fail rank"),
          "a failing rank: %s", err);
    im.fail = 0;
    s.rank = NULL;
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 0, NULL, &rnk, err,
                            sizeof err) == -1 &&
              strstr(err, "does not rank") && strstr(err, "binary"),
          "binary queries and a scorer without rank: %s", err);
    drum_dataset no_binary = {(char *)"q.jsonl", query_ex, 3, NULL};
    CHECK(drum_icl_evaluate(&s, &no_binary, &pool, retrieved, K, K, 0, 1, NULL, &rnk, err,
                            sizeof err) == -1 &&
              strstr(err, "does not rank") && strstr(err, "eval.classify"),
          "rank_cls and a scorer without rank: %s", err);
    CHECK(drum_icl_evaluate(&s, &no_binary, &pool, retrieved, K, K, 0, 0, NULL, &rnk, err,
                            sizeof err) == 0,
          "generate only needs no rank: %s", err);
    s.generate = NULL;
    CHECK(drum_icl_evaluate(&s, &no_binary, &pool, retrieved, K, K, 0, 0, NULL, &rnk, err,
                            sizeof err) == -1 &&
              strstr(err, "scorer fake does not generate answers"),
          "a scorer without generate: %s", err);
    s.generate = fake_generate;
    /* what a job checks before its first evaluation: the calls these queries need */
    CHECK(drum_icl_answer_ops(&queries, 0) == (DRUM_LVLM_GENERATE | DRUM_LVLM_RANK) &&
              drum_icl_answer_ops(&no_binary, 0) == DRUM_LVLM_GENERATE &&
              drum_icl_answer_ops(&no_binary, 1) == DRUM_LVLM_RANK,
          "answer ops: %d, %d, %d", drum_icl_answer_ops(&queries, 0),
          drum_icl_answer_ops(&no_binary, 0), drum_icl_answer_ops(&no_binary, 1));
    s.rank = fake_rank;
    query_ex[4].response = (char *)"maybe";
    CHECK(drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 0, NULL, &rnk, err,
                            sizeof err) == -1 &&
              strstr(err, "queries.jsonl") && strstr(err, "\"q4\"") && strstr(err, "maybe"),
          "a binary query answered maybe: %s", err);
    query_ex[4].response = (char *)"no";
    drum_dataset one_class = {(char *)"q.jsonl", query_ex + 3, 1, NULL};
    CHECK(drum_icl_evaluate(&s, &one_class, &pool, retrieved, K, K, 0, 0, NULL, &rnk, err,
                            sizeof err) == -1 &&
              strstr(err, "one class"),
          "binary queries of one class: %s", err);
    char *answers[1] = {(char *)"yes"};
    CHECK(drum_icl_score_answers(&one_class, answers, NULL, &rnk, err, sizeof err) == -1 &&
              strstr(err, "ranked answers"),
          "binary answers without P(yes): %s", err);
}

/* drum_icl_paired_sd: hand-computed values, and over 4000 simulated evaluations of 300
 * queries the spread of the accuracy difference matches it, with one draw per query shared
 * by both retrievals and with independent draws. */
static void test_paired_sd(void) {
    double pa[3] = {0.5, 0.2, 0.9}, pb[3] = {0.3, 0.2, 0.4};
    int mask[3] = {1, 0, 1};
    double shared = drum_icl_paired_sd(pa, pb, NULL, 3, 1), indep = drum_icl_paired_sd(pa, pb, NULL, 3, 0);
    double masked = drum_icl_paired_sd(pa, pb, mask, 3, 1);
    CHECK(fabs(shared - sqrt(0.41) / 3) < 1e-12 && fabs(indep - sqrt(1.11) / 3) < 1e-12 &&
              fabs(masked - sqrt(0.41) / 2) < 1e-12 && drum_icl_paired_sd(pa, pb, (int[3]){0}, 3, 1) == 0,
          "paired sd: shared %.6f, independent %.6f, masked %.6f", shared, indep, masked);
    enum { NQS = 300, RUNS = 4000 };
    static double a[NQS], b[NQS];
    test_rng rng;
    test_rng_seed(&rng, 17);
    for (int i = 0; i < NQS; i++) {
        a[i] = test_rng_uniform(&rng, 0.1f, 0.9f);
        b[i] = i % 3 ? a[i] : test_rng_uniform(&rng, 0.1f, 0.9f); /* a third differ */
    }
    for (int share = 0; share < 2; share++) {
        double sum = 0, sum2 = 0;
        for (int run = 0; run < RUNS; run++) {
            int diff = 0;
            for (int i = 0; i < NQS; i++) {
                double u = test_rng_uniform(&rng, 0, 1), v = share ? u : test_rng_uniform(&rng, 0, 1);
                diff += (u < a[i]) - (v < b[i]);
            }
            sum += (double)diff / NQS;
            sum2 += (double)diff / NQS * diff / NQS;
        }
        double mean = sum / RUNS, sd = sqrt(sum2 / RUNS - mean * mean);
        double want = drum_icl_paired_sd(a, b, NULL, NQS, share);
        CHECK(fabs(sd / want - 1) < 0.06, "%s draws: simulated sd %.5f, formula %.5f",
              share ? "shared" : "independent", sd, want);
    }
}

/* progress.stop, counting how often it is asked and saying stop from the `at`-th time on */
typedef struct {
    int asked, at;
} stop_after;

static int stop_when(void *user) {
    stop_after *s = user;
    return ++s->asked >= s->at;
}

/* drum_progress's stop is asked before each chunk of LVLM calls: a stop before the first
 * asks the LVLM nothing and fails with "stopped"; one never given leaves the evaluation
 * whole. (Chunks are 256 prompts: these 9 queries are one generate and one rank chunk.) */
static void test_stop(void) {
    char err[512] = "";
    fake_impl im = {query_ex, 0, 0, 0};
    drum_scorer s = {.generate = fake_generate, .rank = fake_rank, .destroy = fake_destroy,
                     .impl = &im};
    snprintf(s.id, sizeof s.id, "fake");
    drum_icl_result r;
    stop_after st = {0, 1};
    drum_progress pr = {.stop = stop_when, .stop_user = &st};
    int rc = drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 0, &pr, &r, err,
                               sizeof err);
    CHECK(rc == -1 && strstr(err, "stopped") && im.calls == 0 && st.asked == 1,
          "a stop before the first chunk: rc %d, %d LVLM calls, asked %d times, '%s'", rc,
          im.calls, st.asked, err);
    st = (stop_after){0, 2};
    rc = drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 0, &pr, &r, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "stopped") && im.calls == 1 && st.asked == 2,
          "a stop before the rank chunk: rc %d, %d LVLM calls, asked %d times, '%s'", rc,
          im.calls, st.asked, err);
    st = (stop_after){0, 1000};
    im.calls = 0;
    rc = drum_icl_evaluate(&s, &queries, &pool, retrieved, K, K, 0, 0, &pr, &r, err, sizeof err);
    CHECK(rc == 0 && im.calls == 2 && st.asked == 2, "no stop: rc %d, %d calls, asked %d times",
          rc, im.calls, st.asked);
}

int main(void) {
    setup();
    test_answers();
    test_stop();
    test_paired_sd();
    return check_summary();
}

/* test_synthetic_lvlm — the simulated LVLM over a generated demo benchmark: deterministic
 * scores and answers, the relations it rewards (same type and answer beats random; other
 * tasks and conflicting answers score lower), and that it separates retrieval strategies
 * on held-out queries: random < text overlap < the simulator's own ranking (oracle), with
 * zero-shot drafts in a sane range. Also NDCG@10 against the simulator, bad inputs, and what
 * rules 2 add to rules 1 (resemblance, one right-or-wrong draw per query and k). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/data.h"
#include "drum/fileio.h"
#include "drum/icl.h"
#include "drum/ndcg.h"
#include "drum/rng.h"
#include "drum/synth.h"
#include "drum/synthetic_lvlm.h"

static char tmpdir[256];
static drum_dataset tr, ev;
static drum_scorer *sim;  /* the default rules (2) */
static drum_scorer *sim1; /* rules 1 */

/* Hidden attributes the tests need, by example (train then eval). */
typedef struct {
    char qtype[16];
    char gold[64];
    unsigned colors; /* the scene's object colours, one bit per name */
    int n_objects;
    int large;       /* the first object's colour (cls: the large one), -1 if unknown */
    int claim;       /* cls claim: the colour it names, else -1 */
} hidden;
static hidden *h_tr, *h_ev;

static const char *const color_names[8] = {"red",    "green",  "blue",  "yellow",
                                           "purple", "orange", "white", "black"};

static int color_index(const cJSON *c) {
    for (int k = 0; k < 8; k++)
        if (cJSON_IsString(c) && strcmp(c->valuestring, color_names[k]) == 0) return k;
    return -1;
}

/* The hidden attributes of a suite's meta.jsonl, for its train and eval sets (a and b). */
static int load_hidden_of(const char *path, const drum_dataset *a, hidden **ha,
                          const drum_dataset *b, hidden **hb) {
    char err[256];
    char *text = drum_read_file(path, NULL, err, sizeof err);
    if (!text) return -1;
    *ha = calloc((size_t)a->n, sizeof **ha);
    *hb = calloc((size_t)b->n, sizeof **hb);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "qtype");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "gold");
        int i = drum_dataset_find(a, id->valuestring);
        int j = drum_dataset_find(b, id->valuestring);
        hidden *h = i >= 0 ? &(*ha)[i] : j >= 0 ? &(*hb)[j] : NULL;
        if (h) {
            snprintf(h->qtype, sizeof h->qtype, "%s", cJSON_IsString(q) ? q->valuestring : "");
            drum_synthetic_canon(g->valuestring, h->gold, sizeof h->gold);
            h->claim = color_index(cJSON_GetObjectItemCaseSensitive(o, "claim"));
            h->large = -1;
            const cJSON *objs = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(o, "scene"), "objects");
            const cJSON *obj;
            cJSON_ArrayForEach(obj, objs) {
                int k = color_index(cJSON_GetObjectItemCaseSensitive(obj, "color"));
                if (k >= 0) h->colors |= 1u << k;
                if (h->n_objects++ == 0) h->large = k;
            }
        }
        cJSON_Delete(o);
    }
    free(text);
    return 0;
}

/* Generates cfg's suite into tmpdir/name and loads its train and eval sets and their hidden
 * attributes; *meta is its meta.jsonl (the caller frees it, even on failure). 0, or -1 with a
 * message in err. */
static int make_suite(const drum_synth_config *cfg, const char *name, drum_dataset *train,
                      drum_dataset *eval, hidden **h_train, hidden **h_eval, char **meta,
                      char *err, size_t errlen) {
    char *dir = drum_path_join(tmpdir, name);
    char *ptr = drum_path_join(dir, "train.jsonl"), *pev = drum_path_join(dir, "eval.jsonl");
    *meta = drum_path_join(dir, "meta.jsonl");
    int rc = drum_synth_generate(cfg, dir, NULL, err, errlen) == 0 &&
                     drum_dataset_load(train, ptr, err, errlen) == 0 &&
                     drum_dataset_load(eval, pev, err, errlen) == 0 &&
                     load_hidden_of(*meta, train, h_train, eval, h_eval) == 0
                 ? 0
                 : -1;
    free(dir);
    free(ptr);
    free(pev);
    return rc;
}

/* Rules 2's resemblance of two scenes: Jaccard of their colour sets, 0.3 for equal counts. */
static double resemblance_of(const hidden *x, const hidden *c) {
    return (double)__builtin_popcount(x->colors & c->colors) /
               __builtin_popcount(x->colors | c->colors) +
           (x->n_objects == c->n_objects ? 0.3 : 0.0);
}

/* The official VQA accuracy with canonicalised answers: the mean over the ten
 * leave-one-out subsets of min(1, matches / 3). */
static double vqa_accuracy(const char *answer, const drum_example *e) {
    char a[256], g[256];
    drum_synthetic_canon(answer, a, sizeof a);
    int match[64] = {0}, n = e->n_answers < 64 ? e->n_answers : 64, total = 0;
    for (int i = 0; i < n; i++) {
        drum_synthetic_canon(e->answers[i], g, sizeof g);
        match[i] = strcmp(a, g) == 0;
        total += match[i];
    }
    double acc = 0;
    for (int i = 0; i < n; i++) {
        double m = (total - match[i]) / 3.0;
        acc += m < 1 ? m : 1;
    }
    return acc / n;
}

/* Indices of the train examples of one task. */
static int task_pool(const char *task, int *out) {
    int n = 0;
    for (int i = 0; i < tr.n; i++)
        if (strcmp(tr.ex[i].task, task) == 0) out[n++] = i;
    return n;
}

/* Words of a text, lowercased, for the bag-of-words retriever. */
typedef struct {
    char w[40][24];
    int n;
} bow;

static void make_bow(bow *b, const char *x, const char *y) {
    char buf[768];
    snprintf(buf, sizeof buf, "%s %s", x, y);
    b->n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " ?.,:", &save); t && b->n < 40;
         t = strtok_r(NULL, " ?.,:", &save)) {
        for (char *p = t; *p; p++) *p = (char)tolower((unsigned char)*p);
        snprintf(b->w[b->n++], sizeof b->w[0], "%s", t);
    }
}

static double bow_cosine(const bow *a, const bow *b) {
    int m = 0;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++)
            if (strcmp(a->w[i], b->w[j]) == 0) {
                m++;
                break;
            }
    return a->n && b->n ? m / sqrt((double)a->n * b->n) : 0;
}

/* Mean over the references of the unigram F1 with the caption (a stand-in for CIDEr). */
static double caption_f1(const char *answer, const drum_example *e) {
    bow a, r;
    make_bow(&a, answer, "");
    double total = 0;
    for (int i = 0; i < e->n_answers; i++) {
        make_bow(&r, e->answers[i], "");
        double m = bow_cosine(&a, &r) * sqrt((double)a.n * r.n);
        total += a.n + r.n ? 2.0 * m / (a.n + r.n) : 0;
    }
    return e->n_answers ? total / e->n_answers : 0;
}

static char *generate1(drum_scorer *s, const drum_example *x, const drum_example *const *demos,
                       int k) {
    char err[256];
    drum_icl_prompt p = {x, demos, k};
    char *out = NULL;
    if (s->generate(s, &p, 1, &out, err, sizeof err) != 0) return NULL;
    return out;
}

static void test_open_errors(void) {
    char err[512] = "";
    drum_synthetic_config cfg;
    drum_synthetic_default_config(&cfg);
    drum_scorer *s = (drum_scorer *)1;
    char *missing = drum_path_join(tmpdir, "nope.jsonl");
    CHECK(drum_synthetic_open(&s, missing, &cfg, err, sizeof err) == -1 && s == NULL,
          "missing meta accepted");
    CHECK(strstr(err, "nope.jsonl") != NULL, "message names the file: %s", err);
    free(missing);
    static const char *const bad[][2] = {
        {"not json", "expected one JSON object"},
        {"{\"task\":\"vqa\"}", "\"id\""},
        {"{\"id\":\"a\",\"task\":\"poem\"}", "\"task\""},
        {"{\"id\":\"a\",\"task\":\"vqa\",\"qtype\":\"smell\"}", "\"qtype\""},
        {"{\"id\":\"a\",\"task\":\"cls\",\"gold\":\"star\",\"focus\":0,\"scene\":{\"objects\":[]}}",
         "\"objects\""},
        {"{\"id\":\"a\",\"task\":\"cls\",\"gold\":\"star\",\"focus\":0,\"scene\":{\"objects\":"
         "[{\"shape\":\"blob\",\"color\":\"red\",\"size\":\"small\",\"pos\":\"left\"}]}}",
         "known shape"},
        {"{\"id\":\"a\",\"task\":\"cls\",\"gold\":\"star\",\"focus\":3,\"scene\":{\"objects\":"
         "[{\"shape\":\"star\",\"color\":\"red\",\"size\":\"small\",\"pos\":\"left\"}]}}",
         "\"focus\""},
        {"{\"id\":\"a\",\"task\":\"vqa\",\"qtype\":\"exists\",\"gold\":\"no\",\"focus\":-1,"
         "\"scene\":{\"objects\":[{\"shape\":\"star\",\"color\":\"red\",\"size\":\"small\","
         "\"pos\":\"left\"}]}}",
         "\"ask\""},
        {"{\"id\":\"a\",\"task\":\"caption\",\"gold\":\"a red star.\",\"focus\":-1,\"style\":7,"
         "\"scene\":{\"objects\":[{\"shape\":\"star\",\"color\":\"red\",\"size\":\"small\","
         "\"pos\":\"left\"}]}}",
         "\"style\""},
        {"{\"id\":\"a\",\"task\":\"cls\",\"gold\":\"true\",\"focus\":0,\"claim\":\"mauve\","
         "\"scene\":{\"objects\":[{\"shape\":\"star\",\"color\":\"red\",\"size\":\"large\","
         "\"pos\":\"left\"}]}}",
         "\"claim\""},
        {"{\"id\":\"a\",\"task\":\"cls\",\"gold\":\"star\",\"focus\":0,\"claim\":\"red\","
         "\"scene\":{\"objects\":[{\"shape\":\"star\",\"color\":\"red\",\"size\":\"large\","
         "\"pos\":\"left\"}]}}",
         "true or false"},
    };
    char *path = drum_path_join(tmpdir, "badmeta.jsonl");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        fprintf(f, "\n%s\n", bad[i][0]);
        fclose(f);
        s = NULL;
        CHECK(drum_synthetic_open(&s, path, &cfg, err, sizeof err) == -1 && s == NULL,
              "accepted meta line %zu", i);
        char where[300];
        snprintf(where, sizeof where, "%s:2: ", path);
        CHECK(strstr(err, where) == err && strstr(err, bad[i][1]), "message \"%s\" (want %s%s)",
              err, where, bad[i][1]);
    }
    free(path);
    cfg.noise = -1;
    char *meta = drum_path_join(tmpdir, "demo/meta.jsonl");
    CHECK(drum_synthetic_open(&s, meta, &cfg, err, sizeof err) == -1, "negative noise");
    CHECK(strstr(err, "noise") != NULL, "message: %s", err);
    cfg.noise = 0.35;
    for (int rules = -1; rules <= 3; rules += 4) {
        cfg.rules = rules;
        CHECK(drum_synthetic_open(&s, meta, &cfg, err, sizeof err) == -1 && s == NULL &&
                  strstr(err, "rules"),
              "rules %d: %s", rules, err);
    }
    free(meta);
}

static void test_determinism(void) {
    char err[512] = "";
    enum { NQ = 30, ND = 200 };
    drum_score_pair *pairs = malloc(NQ * ND * sizeof *pairs);
    double *a = malloc(NQ * ND * sizeof *a), *b = malloc(NQ * ND * sizeof *b);
    double *c = malloc(NQ * ND * sizeof *c);
    for (int i = 0; i < NQ; i++)
        for (int j = 0; j < ND; j++) {
            pairs[i * ND + j].query = &ev.ex[(i * 7) % ev.n];
            pairs[i * ND + j].demo = &tr.ex[(j * 13) % tr.n];
        }
    CHECK(sim->score(sim, pairs, NQ * ND, a, err, sizeof err) == 0, "score: %s", err);
    CHECK(sim->score(sim, pairs, NQ * ND, b, err, sizeof err) == 0, "score: %s", err);
    drum_synthetic_config cfg;
    drum_synthetic_default_config(&cfg);
    drum_scorer *again = NULL, *other = NULL;
    char *meta = drum_path_join(tmpdir, "demo/meta.jsonl");
    CHECK(drum_synthetic_open(&again, meta, &cfg, err, sizeof err) == 0, "reopen: %s", err);
    cfg.seed = 2;
    CHECK(drum_synthetic_open(&other, meta, &cfg, err, sizeof err) == 0, "open: %s", err);
    free(meta);
    CHECK(strcmp(again->id, sim->id) == 0 && strcmp(other->id, sim->id) != 0,
          "scorer ids: %s / %s", sim->id, other->id);
    int same = 1, differ = 0, bad = 0;
    if (again && other) {
        again->score(again, pairs, NQ * ND, b + 0, err, sizeof err);
        other->score(other, pairs, NQ * ND, c, err, sizeof err);
    }
    for (int i = 0; i < NQ * ND; i++) {
        same &= a[i] == b[i];
        differ += a[i] != c[i];
        bad += !isfinite(a[i]) || a[i] > log(0.92) + 1e-12;
    }
    CHECK(same, "scores differ between calls or scorer instances");
    CHECK(differ > NQ * ND / 2, "another seed changed only %d of %d scores", differ, NQ * ND);
    CHECK(bad == 0, "%d scores outside (-inf, log 0.92]", bad);

    /* Answers: the same prompt gives the same text, alone or in a batch; the demos' order
     * is part of the prompt. */
    const drum_example *demos[NQ][4], *rev[NQ][4];
    drum_icl_prompt pr[NQ], prr[NQ];
    for (int i = 0; i < NQ; i++) {
        for (int j = 0; j < 4; j++) {
            demos[i][j] = &tr.ex[(i * 31 + j * 97) % tr.n];
            rev[i][3 - j] = demos[i][j];
        }
        pr[i] = (drum_icl_prompt){&ev.ex[(i * 11) % ev.n], demos[i], 4};
        prr[i] = (drum_icl_prompt){pr[i].query, rev[i], 4};
    }
    char *o1[NQ], *o2[NQ], *o3[NQ];
    CHECK(sim->generate(sim, pr, NQ, o1, err, sizeof err) == 0, "generate: %s", err);
    CHECK(again->generate(again, prr, NQ, o3, err, sizeof err) == 0, "generate: %s", err);
    int same_text = 1, order_matters = 0;
    for (int i = 0; i < NQ; i++) {
        CHECK(sim->generate(sim, &pr[i], 1, &o2[i], err, sizeof err) == 0, "generate: %s", err);
        same_text &= strcmp(o1[i], o2[i]) == 0;
        order_matters += strcmp(o1[i], o3[i]) != 0;
    }
    CHECK(same_text, "generate is not deterministic");
    CHECK(order_matters > 0, "reversing the demonstrations never changed an answer");
    for (int i = 0; i < NQ; i++) {
        free(o1[i]);
        free(o2[i]);
        free(o3[i]);
    }
    drum_scorer_destroy(again);
    drum_scorer_destroy(other);
    free(pairs);
    free(a);
    free(b);
    free(c);
}

/* Mean score gaps over the eval VQA queries. */
static void test_relations(void) {
    char err[256];
    double same_ans = 0, same_conf = 0, rnd = 0, cross = 0;
    int n_ans = 0, n_conf = 0, n_rnd = 0, n_cross = 0;
    drum_rng r;
    drum_rng_seed(&r, 5, 1);
    for (int i = 0; i < ev.n; i++) {
        const drum_example *x = &ev.ex[i];
        if (strcmp(x->task, "vqa") != 0) continue;
        for (int t = 0; t < 60; t++) {
            int j = (int)drum_rng_below(&r, (uint32_t)tr.n);
            const drum_example *c = &tr.ex[j];
            drum_score_pair p = {x, c};
            double s;
            if (sim->score(sim, &p, 1, &s, err, sizeof err) != 0) continue;
            char ans[64];
            drum_synthetic_canon(c->response, ans, sizeof ans);
            if (strcmp(c->task, "vqa") != 0) {
                cross += s;
                n_cross++;
            } else {
                rnd += s;
                n_rnd++;
                if (strcmp(h_tr[j].qtype, h_ev[i].qtype) == 0) {
                    if (strcmp(ans, h_ev[i].gold) == 0) {
                        same_ans += s;
                        n_ans++;
                    } else {
                        same_conf += s;
                        n_conf++;
                    }
                }
            }
        }
    }
    same_ans /= n_ans;
    same_conf /= n_conf;
    rnd /= n_rnd;
    cross /= n_cross;
    printf("mean score: same type+answer %.3f (%d), same type, other answer %.3f (%d), "
           "random same task %.3f, other task %.3f\n",
           same_ans, n_ans, same_conf, n_conf, rnd, cross);
    CHECK(n_ans > 100 && n_conf > 100, "too few pairs (%d, %d)", n_ans, n_conf);
    CHECK(same_ans > rnd + 0.5, "same type+answer %.3f vs random %.3f", same_ans, rnd);
    CHECK(same_ans > same_conf + 0.5, "same answer %.3f vs conflicting %.3f", same_ans,
          same_conf);
    CHECK(rnd > cross + 0.1, "same task %.3f vs other task %.3f", rnd, cross);
}

enum { K = 4 };

/* Accuracy of one task's eval queries under zero-shot, random, bag-of-words (prompt +
 * draft vs prompt + response) and oracle (the simulator's own top-k) demonstrations, all
 * from the task's train pool, most similar last. Also mean NDCG@10 of the random and the
 * bag-of-words rankings. */
static void run_strategies(const char *task, double acc[4], double ndcg[2], double pc[4]) {
    char err[256];
    int *pool = malloc((size_t)tr.n * sizeof(int)), np = task_pool(task, pool);
    const drum_example **cands = malloc((size_t)np * sizeof *cands);
    bow *pb = malloc((size_t)np * sizeof *pb);
    double *sim_t = malloc((size_t)np * sizeof *sim_t);
    for (int j = 0; j < np; j++) {
        cands[j] = &tr.ex[pool[j]];
        make_bow(&pb[j], cands[j]->prompt, cands[j]->response);
    }
    int nq = 0;
    drum_rng r;
    drum_rng_seed(&r, 99, 3);
    for (int s = 0; s < 4; s++) acc[s] = pc[s] = 0;
    ndcg[0] = ndcg[1] = 0;
    for (int i = 0; i < ev.n; i++) {
        const drum_example *x = &ev.ex[i];
        if (strcmp(x->task, task) != 0) continue;
        nq++;
        char *draft = generate1(sim, x, NULL, 0);
        bow qb;
        make_bow(&qb, x->prompt, draft ? draft : "");
        int pick[4][10];
        for (int t = 0; t < 10; t++) pick[1][t] = (int)drum_rng_below(&r, (uint32_t)np);
        for (int j = 0; j < np; j++) sim_t[j] = bow_cosine(&qb, &pb[j]);
        for (int t = 0; t < 10; t++) {
            int best = -1;
            for (int j = 0; j < np; j++) {
                int taken = 0;
                for (int u = 0; u < t; u++) taken |= pick[2][u] == j;
                if (!taken && (best < 0 || sim_t[j] > sim_t[best])) best = j;
            }
            pick[2][t] = best;
        }
        drum_score_topk(sim, x, cands, np, 10, pick[3], NULL, err, sizeof err);
        for (int s = 0; s < 4; s++) {
            const drum_example *d[K];
            int k = s == 0 ? 0 : K;
            for (int t = 0; t < k; t++) d[k - 1 - t] = cands[pick[s][t]]; /* best last */
            char *ans = s == 0 ? draft : generate1(sim, x, d, k);
            drum_icl_prompt p = {x, d, k};
            double pcorr = 0;
            drum_synthetic_p_correct(sim, &p, &pcorr, err, sizeof err);
            pc[s] += pcorr;
            if (!strcmp(task, "vqa")) acc[s] += ans ? vqa_accuracy(ans, x) : 0;
            else if (!strcmp(task, "cls")) acc[s] += ans && strcmp(ans, x->response) == 0;
            else acc[s] += ans ? caption_f1(ans, x) : 0;
            if (s > 0) free(ans);
        }
        for (int s = 0; s < 2; s++) {
            double v = 0;
            drum_ndcg_scored(sim, x, cands, np, pick[s + 1], 10, 10, &v, err, sizeof err);
            ndcg[s] += v;
        }
        double top = 0;
        drum_ndcg_scored(sim, x, cands, np, pick[3], 10, 10, &top, err, sizeof err);
        CHECK(fabs(top - 1.0) < 1e-12, "the simulator's own top-10 has NDCG %.6f", top);
        free(draft);
    }
    for (int s = 0; s < 4; s++) {
        acc[s] /= nq;
        pc[s] /= nq;
    }
    ndcg[0] /= nq;
    ndcg[1] /= nq;
    printf("%-7s %3d queries, %d-shot %s: zero-shot %.3f, random %.3f, text %.3f, "
           "oracle %.3f (P(correct) %.3f %.3f %.3f %.3f); NDCG@10 random %.3f, text %.3f\n",
           task, nq, K, strcmp(task, "caption") ? "accuracy" : "unigram F1", acc[0], acc[1], acc[2], acc[3], pc[0], pc[1], pc[2], pc[3], ndcg[0],
           ndcg[1]);
    free(pool);
    free(cands);
    free(pb);
    free(sim_t);
}

static void test_separation(void) {
    double acc[4], ndcg[2], pc[4];
    run_strategies("vqa", acc, ndcg, pc);
    CHECK(acc[0] > 0.25 && acc[0] < 0.65, "VQA zero-shot draft accuracy %.3f", acc[0]);
    CHECK(acc[1] > 0.25 && acc[1] < 0.60, "VQA random-demo accuracy %.3f", acc[1]);
    CHECK(acc[3] > 0.80, "VQA oracle-demo accuracy %.3f", acc[3]);
    CHECK(acc[3] > acc[1] + 0.30, "oracle %.3f vs random %.3f", acc[3], acc[1]);
    CHECK(acc[2] > acc[1] + 0.05 && acc[2] < acc[3] - 0.10,
          "text retrieval %.3f should sit between random %.3f and oracle %.3f", acc[2], acc[1],
          acc[3]);
    CHECK(ndcg[0] < 0.8 && ndcg[1] > ndcg[0] + 0.05, "NDCG@10 random %.3f, text %.3f", ndcg[0],
          ndcg[1]);

    run_strategies("cls", acc, ndcg, pc);
    /* 60 queries: the accuracies share each query's draw (rules 2), P(correct) has no noise */
    CHECK(acc[3] > acc[1] + 0.10 && pc[3] > pc[1] + 0.25,
          "cls oracle %.3f (P %.3f) vs random %.3f (P %.3f)", acc[3], pc[3], acc[1], pc[1]);
    CHECK(pc[3] > pc[2] && pc[2] > pc[1], "cls P(correct) oracle %.3f > text %.3f > random %.3f",
          pc[3], pc[2], pc[1]);

    run_strategies("caption", acc, ndcg, pc);
    CHECK(pc[3] > pc[1] + 0.2, "caption fidelity oracle %.3f vs random %.3f", pc[3], pc[1]);
    CHECK(acc[3] > acc[1] + 0.05, "caption F1 oracle %.3f vs random %.3f", acc[3], acc[1]);
}

/* Captions follow the style of the last captioning demonstration; a VQA answer copied
 * from a conflicting demonstration is that demonstration's response. */
static void test_answers(void) {
    int checked = 0, styled = 0;
    for (int i = 0; i < ev.n && checked < 40; i++) {
        const drum_example *x = &ev.ex[i];
        if (strcmp(x->task, "caption") != 0) continue;
        for (int j = 0; j < tr.n && checked < 40; j++) {
            const drum_example *c = &tr.ex[j];
            if (strcmp(c->task, "caption") != 0 || (j + i) % 5) continue;
            const drum_example *d[1] = {c};
            char *ans = generate1(sim, x, d, 1);
            int want = strncmp(c->response, "there is", 8) == 0 ? 1
                       : strchr(c->response, ':')               ? 2
                                                                : 0;
            int got = !ans                            ? -1
                      : strncmp(ans, "there is", 8) == 0 ? 1
                      : strchr(ans, ':')              ? 2
                                                      : 0;
            checked++;
            styled += got == want;
            free(ans);
        }
    }
    CHECK(checked == 40 && styled >= 36, "%d of %d captions in the demonstration's style",
          styled, checked);

    /* Unknown ids and bad k are errors. */
    char err[256] = "";
    drum_example fake = ev.ex[0];
    fake.id = "no-such-id";
    drum_score_pair p = {&fake, &tr.ex[0]};
    double s;
    CHECK(sim->score(sim, &p, 1, &s, err, sizeof err) == -1 && strstr(err, "no-such-id"),
          "unknown query id: %s", err);
    const drum_example *d[1] = {&fake};
    drum_icl_prompt pr = {&ev.ex[0], d, 1};
    char *out = (char *)1;
    CHECK(sim->generate(sim, &pr, 1, &out, err, sizeof err) == -1 && out == NULL,
          "unknown demo id accepted");
    pr.k = 65;
    double pc;
    CHECK(drum_synthetic_p_correct(sim, &pr, &pc, err, sizeof err) == -1 && strstr(err, "k ="),
          "k = 65: %s", err);
    drum_scorer other = *sim;
    other.destroy = NULL;
    pr.k = 0;
    CHECK(drum_synthetic_p_correct(&other, &pr, &pc, err, sizeof err) == -1,
          "p_correct on another scorer");
    char canon[32];
    drum_synthetic_canon("  Violet. ", canon, sizeof canon);
    CHECK(strcmp(canon, "purple") == 0, "canon: %s", canon);
    drum_synthetic_canon("The Middle", canon, sizeof canon);
    CHECK(strcmp(canon, "center") == 0, "canon: %s", canon);
    drum_synthetic_canon("two", canon, sizeof canon);
    CHECK(strcmp(canon, "2") == 0, "canon: %s", canon);
}

/* drum_icl_expected: per task, the mean of drum_synthetic_p_correct over the very prompts
 * drum_icl_evaluate builds (most similar last by default), recomputed here by hand. */
static void test_expected(void) {
    enum { SHOTS = 3 };
    int *idx = malloc((size_t)ev.n * SHOTS * sizeof(int));
    for (int i = 0; i < ev.n; i++)
        for (int j = 0; j < SHOTS; j++) idx[i * SHOTS + j] = (i * (7 + 6 * j) + j) % tr.n;
    char err[512] = "";
    double *each = malloc((size_t)ev.n * sizeof *each);
    for (int first = 0; first < 2; first++) {
        drum_icl_result r;
        memset(&r, 0, sizeof r);
        for (int i = 0; i < ev.n; i++) each[i] = -1;
        CHECK(drum_icl_expected(sim, drum_synthetic_p_correct, &ev, &tr, idx, SHOTS, SHOTS, first,
                                &r, each, err, sizeof err) == 0 && r.has_expected,
              "expected: %s", err);
        int each_bad = 0;
        double sum[DRUM_ICL_MAX_TASKS] = {0};
        int n[DRUM_ICL_MAX_TASKS] = {0};
        for (int i = 0; i < ev.n; i++) {
            const drum_example *d[SHOTS];
            for (int j = 0; j < SHOTS; j++) d[first ? j : SHOTS - 1 - j] = &tr.ex[idx[i * SHOTS + j]];
            drum_icl_prompt pr = {&ev.ex[i], d, SHOTS};
            double p = -1;
            CHECK(drum_synthetic_p_correct(sim, &pr, &p, err, sizeof err) == 0, "p: %s", err);
            each_bad += each[i] != p;
            for (int t = 0; t < r.n_tasks; t++)
                if (strcmp(r.task[t], ev.ex[i].task) == 0) {
                    sum[t] += p;
                    n[t]++;
                }
        }
        int total = 0;
        for (int t = 0; t < r.n_tasks; t++) {
            total += n[t];
            CHECK(n[t] > 0 && fabs(r.expected[t] - sum[t] / n[t]) < 1e-12,
                  "order %d, %s: %.6f, recomputed %.6f", first, r.task[t], r.expected[t],
                  n[t] ? sum[t] / n[t] : 0);
        }
        CHECK(r.n_tasks == 3 && total == ev.n, "%d tasks covering %d of %d queries", r.n_tasks,
              total, ev.n);
        CHECK(each_bad == 0, "order %d: %d queries' own P(correct) differ", first, each_bad);
    }
    free(each);
    idx[0] = tr.n; /* out of the pool */
    drum_icl_result r;
    memset(&r, 0, sizeof r);
    CHECK(drum_icl_expected(sim, drum_synthetic_p_correct, &ev, &tr, idx, SHOTS, SHOTS, 0, &r, NULL, err,
                            sizeof err) == -1 && strstr(err, "out of the pool"),
          "a bad index: %s", err);
    free(idx);
}

/* rank() for classification: exp(log-likelihood) is the distribution generate draws from.
 * With classification demonstrations only, the label gets exactly P(correct) and the seven
 * shapes share all the mass; over thousands of prompts, how often generate says each wrong
 * shape matches the probabilities rank gives it. Also: ranked evaluation picks the best
 * class, and rank refuses other families. */
static void test_rank(void) {
    enum { NS = 10, KR = 4, SETS = 40 };
    /* the seven shapes, a synonym, an answer never given, and (set per prompt) the response
     * of the VQA demonstration when there is one */
    const char *choices[NS] = {"circle", "square", "triangle", "cross", "star",
                               "diamond", "ring", "box", "banana", "banana"};
    char err[512] = "";
    int *cls = malloc((size_t)tr.n * sizeof(int)), *vqa = malloc((size_t)tr.n * sizeof(int));
    int ncls = task_pool("cls", cls), nvqa = task_pool("vqa", vqa);
    /* per wrong shape, then [7] the VQA demonstration's answer (a format error) */
    double expect[8] = {0}, var[8] = {0}, seen[8] = {0}, worst_sum = 0, worst_gold = 0;
    int prompts = 0, bad_gold = 0, bad_synonym = 0, bad_floor = 0;
    test_rng rng;
    test_rng_seed(&rng, 99);
    for (int i = 0; i < ev.n; i++) {
        if (strcmp(ev.ex[i].task, "cls") != 0) continue;
        for (int set = 0; set < SETS; set++) {
            const drum_example *d[KR];
            int other = set % 2 == 1; /* one VQA demonstration: format errors */
            for (int j = 0; j < KR; j++)
                d[j] = other && j == KR - 1 ? &tr.ex[vqa[test_rng_u32(&rng) % (uint32_t)nvqa]]
                                       : &tr.ex[cls[test_rng_u32(&rng) % (uint32_t)ncls]];
            char extra[64] = "banana";
            if (other) drum_synthetic_canon(d[KR - 1]->response, extra, sizeof extra);
            int extra_new = 1; /* the format error's answer is not a shape */
            for (int t = 0; t < 8; t++) extra_new &= strcmp(extra, choices[t]) != 0;
            choices[9] = other ? d[KR - 1]->response : "banana";
            drum_icl_prompt pr = {&ev.ex[i], d, KR};
            double ll[NS], p = -1, sum = 0;
            /* rules 1: every prompt draws afresh, so the counts are binomial */
            if (sim1->rank(sim1, &pr, 1, choices, NS, ll, err, sizeof err) != 0 ||
                drum_synthetic_p_correct(sim1, &pr, &p, err, sizeof err) != 0) {
                CHECK(0, "rank: %s", err);
                goto done;
            }
            int g = -1;
            char gold[64];
            drum_synthetic_canon(ev.ex[i].response, gold, sizeof gold);
            for (int t = 0; t < 7; t++) {
                if (ll[t] > log(1e-9) + 1e-9) sum += exp(ll[t]); /* not the floor */
                if (strcmp(choices[t], gold) == 0) g = t;
            }
            if (other && extra_new) sum += exp(ll[9]);
            bad_synonym += ll[7] != ll[1];               /* "box" is a square */
            bad_floor += fabs(ll[8] - log(1e-9)) > 1e-9; /* never said */
            /* every answer generate can give is among the choices: the mass sums to 1, and
             * with classification demonstrations only the label gets exactly P(correct) */
            if (!other || extra_new)
                if (fabs(sum - 1) > worst_sum) worst_sum = fabs(sum - 1);
            if (!other && (g < 0 || fabs(exp(ll[g]) - p) > worst_gold))
                worst_gold = g < 0 ? 1 : fabs(exp(ll[g]) - p);
            bad_gold += g < 0;
            char *a = generate1(sim1, &ev.ex[i], d, KR);
            char said[64];
            drum_synthetic_canon(a ? a : "", said, sizeof said);
            free(a);
            for (int t = 0; t < 8; t++) {
                if (t == g || (t == 7 && !(other && extra_new))) continue;
                double q = exp(ll[t == 7 ? 9 : t]);
                expect[t] += q;
                var[t] += q * (1 - q);
                seen[t] += strcmp(said, t == 7 ? extra : choices[t]) == 0;
            }
            prompts++;
        }
    }
    CHECK(prompts >= 1000, "%d prompts", prompts);
    CHECK(bad_gold == 0 && bad_synonym == 0 && bad_floor == 0,
          "labels not among the shapes %d, synonym scored apart %d, floor missed %d", bad_gold,
          bad_synonym, bad_floor);
    CHECK(worst_sum < 1e-12, "the answers' mass misses 1 by %.3g", worst_sum);
    CHECK(worst_gold < 1e-12, "classification demonstrations: P(label) differs from P(correct) by %.3g",
          worst_gold);
    for (int t = 0; t < 8; t++) {
        double z = (seen[t] - expect[t]) / sqrt(var[t] > 0 ? var[t] : 1);
        CHECK(expect[t] > 20 && fabs(z) < 4.5,
              "wrong answer %s: generate said it %.0f times, rank expects %.1f (z = %.2f)",
              t == 7 ? "(a VQA demonstration's)" : choices[t], seen[t], expect[t], z);
    }

    /* ranked evaluation: the best-scoring class name, VQA and captions still generated */
    enum { SHOTS = 2 };
    int *idx = malloc((size_t)ev.n * SHOTS * sizeof(int));
    for (int i = 0; i < ev.n; i++)
        for (int j = 0; j < SHOTS; j++) idx[i * SHOTS + j] = (i * 13 + 5 * j + 1) % tr.n;
    drum_icl_result by_gen, by_rank;
    CHECK(drum_icl_evaluate(sim, &ev, &tr, idx, SHOTS, SHOTS, 0, 0, NULL, &by_gen, err, sizeof err) == 0 &&
              drum_icl_evaluate(sim, &ev, &tr, idx, SHOTS, SHOTS, 0, 1, NULL, &by_rank, err, sizeof err) == 0,
          "evaluate: %s", err);
    /* the classes: every distinct cls response of pool and queries, in byte order */
    const char *names[64];
    int nn = 0;
    for (int pass = 0; pass < 2; pass++) {
        const drum_dataset *ds = pass ? &ev : &tr;
        for (int i = 0; i < ds->n; i++) {
            if (strcmp(ds->ex[i].task, "cls") != 0) continue;
            int known = 0;
            for (int t = 0; t < nn; t++) known |= strcmp(names[t], ds->ex[i].response) == 0;
            if (!known && nn < 64) names[nn++] = ds->ex[i].response;
        }
    }
    for (int a = 0; a < nn; a++)
        for (int b = a + 1; b < nn; b++)
            if (strcmp(names[b], names[a]) < 0) {
                const char *t = names[a];
                names[a] = names[b];
                names[b] = t;
            }
    int right = 0, ncq = 0;
    for (int i = 0; i < ev.n; i++) {
        if (strcmp(ev.ex[i].task, "cls") != 0) continue;
        const drum_example *d[SHOTS] = {&tr.ex[idx[i * SHOTS + 1]], &tr.ex[idx[i * SHOTS]]};
        drum_icl_prompt pr = {&ev.ex[i], d, SHOTS};
        double ll[64];
        CHECK(sim->rank(sim, &pr, 1, names, nn, ll, err, sizeof err) == 0, "rank: %s", err);
        int best = 0;
        for (int t = 1; t < nn; t++)
            if (ll[t] > ll[best]) best = t;
        right += strcmp(names[best], ev.ex[i].response) == 0;
        ncq++;
    }
    for (int t = 0; t < by_rank.n_tasks; t++) {
        if (strcmp(by_rank.task[t], "cls") == 0)
            CHECK(ncq > 0 && fabs(by_rank.score[t] - (double)right / ncq) < 1e-12,
                  "ranked classification accuracy %.6f, recomputed %d / %d", by_rank.score[t],
                  right, ncq);
        else
            CHECK(by_rank.score[t] == by_gen.score[t], "%s: %.6f ranked, %.6f generated",
                  by_rank.task[t], by_rank.score[t], by_gen.score[t]);
    }
    CHECK(nn == 7, "%d class names in the suite", nn);
    free(idx);

    /* other families are not simulated */
    const drum_example *d1[1] = {&tr.ex[cls[0]]};
    int v = -1;
    for (int i = 0; i < ev.n && v < 0; i++)
        if (strcmp(ev.ex[i].task, "vqa") == 0) v = i;
    drum_icl_prompt pv = {&ev.ex[v], d1, 1};
    double ll1[NS];
    CHECK(sim->rank(sim, &pv, 1, choices, NS, ll1, err, sizeof err) == -1 &&
              strstr(err, "classification queries only") && strstr(err, ev.ex[v].id),
          "rank of a VQA query: %s", err);
done:
    free(cls);
    free(vqa);
}

/* b(x, c) up to x's zero-shot logit, from score = log(0.92 sigmoid(a + b)). */
static double benefit_plus_a(double score) {
    double q = exp(score) / 0.92;
    return log(q / (1 - q));
}

/* Rules 2 against rules 1: a same-family demonstration gains exactly its resemblance
 * (Jaccard of the scenes' colour sets + 0.3 for the same object count), another family's
 * nothing; every k-shot prompt of a query shares one draw, so over demonstration sets an
 * answer is right exactly when P(correct) clears the query's threshold. */
static void test_rules2(void) {
    char err[512] = "";
    CHECK(strcmp(sim->id, "synthetic-v2:seed=1:noise=0.35") == 0 &&
              strcmp(sim1->id, "synthetic-v1:seed=1:noise=0.35") == 0,
          "scorer ids %s / %s", sim->id, sim1->id);
    enum { NQ = 60, ND = 120 };
    static drum_score_pair pairs[NQ * ND];
    static double s2[NQ * ND], s1[NQ * ND];
    for (int i = 0; i < NQ; i++)
        for (int j = 0; j < ND; j++)
            pairs[i * ND + j] = (drum_score_pair){&ev.ex[(i * 7) % ev.n], &tr.ex[(j * 13) % tr.n]};
    CHECK(sim->score(sim, pairs, NQ * ND, s2, err, sizeof err) == 0 &&
              sim1->score(sim1, pairs, NQ * ND, s1, err, sizeof err) == 0,
          "score: %s", err);
    double worst = 0;
    int same_family = 0, looked = 0;
    for (int i = 0; i < NQ; i++)
        for (int j = 0; j < ND; j++) {
            int qi = (i * 7) % ev.n, dj = (j * 13) % tr.n;
            const hidden *x = &h_ev[qi], *c = &h_tr[dj];
            double want = 0;
            if (strcmp(ev.ex[qi].task, tr.ex[dj].task) == 0) {
                same_family++;
                want = resemblance_of(x, c);
                looked += want > 0;
            }
            double got = benefit_plus_a(s2[i * ND + j]) - benefit_plus_a(s1[i * ND + j]);
            if (fabs(got - want) > worst) worst = fabs(got - want);
        }
    CHECK(same_family > 1000 && looked > 500 && worst < 1e-9,
          "resemblance: %d same-family pairs (%d resembling), worst error %.3g", same_family,
          looked, worst);

    /* One threshold per query and k: the highest P of a wrong answer stays below the lowest
     * P of a right one (rules 1 break this: each prompt draws afresh). */
    enum { SETS = 30, KS = 4 };
    int *cls = malloc((size_t)tr.n * sizeof(int)), *vqa = malloc((size_t)tr.n * sizeof(int));
    int pools[2] = {task_pool("cls", cls), task_pool("vqa", vqa)};
    int queries = 0, crossed[2] = {0, 0}, mixed = 0, failed = 0;
    test_rng rng;
    test_rng_seed(&rng, 5);
    for (int i = 0; i < ev.n; i++) {
        int fam = strcmp(ev.ex[i].task, "cls") == 0 ? 0 : strcmp(ev.ex[i].task, "vqa") == 0 ? 1 : -1;
        if (fam < 0) continue;
        queries++;
        for (int r = 0; r < 2; r++) {
            drum_scorer *s = r ? sim1 : sim;
            double wrong_max = -1, right_min = 2;
            for (int set = 0; set < SETS; set++) {
                const drum_example *d[KS];
                for (int j = 0; j < KS; j++) {
                    const int *pool = fam ? vqa : cls;
                    d[j] = &tr.ex[pool[test_rng_u32(&rng) % (uint32_t)pools[fam]]];
                }
                drum_icl_prompt pr = {&ev.ex[i], d, KS};
                double p = 0;
                char *a = generate1(s, &ev.ex[i], d, KS), said[64];
                failed += !a || drum_synthetic_p_correct(s, &pr, &p, err, sizeof err) != 0;
                drum_synthetic_canon(a ? a : "", said, sizeof said);
                free(a);
                int right = strcmp(said, h_ev[i].gold) == 0;
                if (right && p < right_min) right_min = p;
                if (!right && p > wrong_max) wrong_max = p;
            }
            crossed[r] += wrong_max > right_min;
            mixed += r == 0 && wrong_max >= 0 && right_min <= 1;
        }
    }
    CHECK(failed == 0, "%d prompts failed: %s", failed, err);
    CHECK(queries > 100 && mixed > 20 && crossed[0] == 0,
          "rules 2: %d of %d queries answered wrong at a higher P(correct) than right (%d with "
          "both)", crossed[0], queries, mixed);
    CHECK(crossed[1] > queries / 10, "rules 1 should draw per prompt: %d of %d crossed",
          crossed[1], queries);
    free(cls);
    free(vqa);

    /* Pins: the answers and scores of a fixed set of prompts under each rule set, so a change
     * that would alter the documented measurements (docs/DEMO_RESULTS.md: rules 1 must still
     * reproduce them) fails here first. Update only with a deliberate change of the rules. */
    static const uint64_t pinned[2] = {0x76e6c3f5efd0e999ULL, 0x58be5694f23dd732ULL};
    for (int r = 0; r < 2; r++) {
        drum_scorer *s = r ? sim1 : sim;
        uint64_t h = DRUM_FNV1A_INIT;
        for (int i = 0; i < ev.n; i += 3) {
            const drum_example *d[3];
            for (int j = 0; j < 3; j++) d[j] = &tr.ex[(i * 17 + j * 101) % tr.n];
            char *a = generate1(s, &ev.ex[i], d, i % 4 == 0 ? 0 : 3);
            drum_score_pair sp = {&ev.ex[i], d[0]};
            double sc = 0;
            s->score(s, &sp, 1, &sc, err, sizeof err);
            long long nano = llround(sc * 1e9); /* libm's last bits may differ by platform */
            h = drum_fnv1a(a ? a : "(null)", strlen(a ? a : "(null)") + 1, h);
            h = drum_fnv1a(&nano, sizeof nano, h);
            free(a);
        }
        CHECK(h == pinned[r], "rules %d: answers and scores changed (digest %016llx)", 2 - r,
              (unsigned long long)h);
    }
}

/* synth.classification: claim (the default). The suite's examples differ from the shape
 * suite's only in the classification prompts and labels ("Claim: the large shape is red.
 * True or false?"), whose label is true exactly when the claim names the large object's
 * colour: neither the claim nor the image decides it alone. The simulator scores a claim
 * query's demonstrations by label (+1.2 the same, -0.6 the other) with zero-shot logit 0.2,
 * answers wrong with the other label, and ranks true/false with the mass generate draws
 * from. */
static void test_claims(void) {
    char err[512] = "";
    drum_synth_config cfg;
    drum_synth_default_config(&cfg);
    cfg.classification = DRUM_SYNTH_CLAIM;
    char *meta = NULL;
    drum_dataset ctr = {0}, cev = {0};
    hidden *hc_tr = NULL, *hc_ev = NULL;
    drum_scorer *s2 = NULL, *s1 = NULL, *sn = NULL;
    int ok = make_suite(&cfg, "claim", &ctr, &cev, &hc_tr, &hc_ev, &meta, err, sizeof err) == 0;
    CHECK(ok, "claim suite: %s", err);
    drum_synthetic_config sc;
    drum_synthetic_default_config(&sc);
    ok = ok && drum_synthetic_open(&sn, meta, &sc, err, sizeof err) == 0;
    sc.noise = 0; /* the rules alone */
    ok = ok && drum_synthetic_open(&s2, meta, &sc, err, sizeof err) == 0;
    sc.rules = 1;
    ok = ok && drum_synthetic_open(&s1, meta, &sc, err, sizeof err) == 0;
    CHECK(ok, "claim simulators: %s", err);
    if (!ok) goto done;

    /* the examples: only the classification prompts and labels change */
    int same_rest = ctr.n == tr.n && cev.n == ev.n, n_cls = 0, n_true = 0, bad_label = 0;
    int templates[3] = {0, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        const drum_dataset *a = pass ? &cev : &ctr, *b = pass ? &ev : &tr;
        const hidden *h = pass ? hc_ev : hc_tr;
        for (int i = 0; same_rest && i < a->n; i++) {
            const drum_example *x = &a->ex[i], *y = &b->ex[i];
            const char *xi = strrchr(x->image, '/'), *yi = strrchr(y->image, '/');
            same_rest &= strcmp(x->id, y->id) == 0 && xi && yi && strcmp(xi, yi) == 0;
            if (strcmp(x->task, "cls") != 0) {
                same_rest &= strcmp(x->prompt, y->prompt) == 0 &&
                             strcmp(x->response, y->response) == 0;
                continue;
            }
            n_cls++;
            int truth = h[i].claim >= 0 && h[i].claim == h[i].large;
            n_true += truth;
            bad_label += h[i].claim < 0 || strcmp(x->response, truth ? "true" : "false") != 0 ||
                         strstr(x->prompt, color_names[h[i].claim]) == NULL;
            templates[0] += strncmp(x->prompt, "Claim:", 6) == 0;
            templates[1] += strncmp(x->prompt, "Is it true", 10) == 0;
            templates[2] += strncmp(x->prompt, "True or false:", 14) == 0;
        }
    }
    CHECK(same_rest, "the claim suite changes more than the classification examples");
    CHECK(n_cls == 300 && bad_label == 0 && templates[0] + templates[1] + templates[2] == n_cls &&
              templates[0] > 60 && templates[1] > 60 && templates[2] > 60,
          "%d claims, %d with a wrong label or a prompt without the claimed colour, templates "
          "%d/%d/%d", n_cls, bad_label, templates[0], templates[1], templates[2]);
    CHECK(n_true > 0.4 * n_cls && n_true < 0.6 * n_cls, "%d of %d claims true", n_true, n_cls);

    /* the rules, exactly (noise 0): a + label term (+ resemblance under rules 2) */
    int *pool = malloc((size_t)ctr.n * sizeof(int)), np = 0, nq = 0, pairs_seen = 0;
    for (int i = 0; i < ctr.n; i++)
        if (strcmp(ctr.ex[i].task, "cls") == 0) pool[np++] = i;
    double worst[2] = {0, 0};
    for (int i = 0; i < cev.n; i++) {
        if (strcmp(cev.ex[i].task, "cls") != 0) continue;
        nq++;
        for (int j = 0; j < np; j += 7) {
            const drum_example *c = &ctr.ex[pool[j]];
            drum_score_pair pr = {&cev.ex[i], c};
            double v[2];
            if (s1->score(s1, &pr, 1, &v[0], err, sizeof err) ||
                s2->score(s2, &pr, 1, &v[1], err, sizeof err)) {
                CHECK(0, "score: %s", err);
                goto done_pool;
            }
            double want = 0.2 + (strcmp(c->response, cev.ex[i].response) == 0 ? 1.2 : -0.6);
            for (int r = 0; r < 2; r++) {
                double w = want + (r ? resemblance_of(&hc_ev[i], &hc_tr[pool[j]]) : 0.0);
                double e = fabs(benefit_plus_a(v[r]) - w);
                if (e > worst[r]) worst[r] = e;
            }
            pairs_seen++;
        }
    }
    CHECK(nq == 60 && pairs_seen > 2000 && worst[0] < 1e-9 && worst[1] < 1e-9,
          "claim rules over %d pairs: worst error %.3g (rules 1), %.3g (rules 2)", pairs_seen,
          worst[0], worst[1]);

    /* zero-shot: P = 0.92 sigmoid(0.2); answers are labels; rank's mass is generate's */
    test_rng rng;
    test_rng_seed(&rng, 17);
    double expect_wrong = 0, var_wrong = 0, worst_mass = 0, worst_gold = 0;
    int wrong = 0, not_label = 0, prompts = 0, floor_missed = 0;
    const char *choices[3] = {"true", "false", "banana"};
    for (int i = 0; i < cev.n; i++) {
        if (strcmp(cev.ex[i].task, "cls") != 0) continue;
        drum_icl_prompt z = {&cev.ex[i], NULL, 0};
        double p0 = 0;
        drum_synthetic_p_correct(sn, &z, &p0, err, sizeof err);
        CHECK(fabs(p0 - 0.92 / (1 + exp(-0.2))) < 1e-12, "%s: zero-shot P %.6f",
              cev.ex[i].id, p0);
        for (int set = 0; set < 40; set++) {
            const drum_example *d[4];
            for (int j = 0; j < 4; j++) d[j] = &ctr.ex[pool[test_rng_u32(&rng) % (uint32_t)np]];
            drum_icl_prompt pr = {&cev.ex[i], d, 4};
            double ll[3], p = 0;
            if (sn->rank(sn, &pr, 1, choices, 3, ll, err, sizeof err) ||
                drum_synthetic_p_correct(sn, &pr, &p, err, sizeof err)) {
                CHECK(0, "rank: %s", err);
                goto done_pool;
            }
            int g = strcmp(cev.ex[i].response, "true") == 0 ? 0 : 1;
            double mass = exp(ll[0]) + exp(ll[1]);
            if (fabs(mass - 1) > worst_mass) worst_mass = fabs(mass - 1);
            if (fabs(exp(ll[g]) - p) > worst_gold) worst_gold = fabs(exp(ll[g]) - p);
            floor_missed += fabs(ll[2] - log(1e-9)) > 1e-9;
            /* rules 1 draw afresh per prompt, so wrong answers are binomial */
            char *a = generate1(s1, &cev.ex[i], d, 4), said[32];
            drum_synthetic_canon(a ? a : "", said, sizeof said);
            free(a);
            double q = 0;
            drum_synthetic_p_correct(s1, &pr, &q, err, sizeof err);
            not_label += strcmp(said, "true") != 0 && strcmp(said, "false") != 0;
            wrong += strcmp(said, choices[g]) != 0;
            expect_wrong += 1 - q;
            var_wrong += q * (1 - q);
            prompts++;
        }
    }
    double zw = (wrong - expect_wrong) / sqrt(var_wrong > 0 ? var_wrong : 1);
    CHECK(prompts == 2400 && not_label == 0 && fabs(zw) < 4.5,
          "%d prompts: %d answers not a label, %d wrong against %.1f expected (z = %.2f)",
          prompts, not_label, wrong, expect_wrong, zw);
    CHECK(worst_mass < 1e-12 && worst_gold < 1e-12 && floor_missed == 0,
          "rank: true + false miss 1 by %.3g, P(label) misses P(correct) by %.3g, %d unknown "
          "answers off the floor", worst_mass, worst_gold, floor_missed);

    /* neither half decides the label: demonstrations sharing the claimed colour, or the large
     * object's colour, agree with x's label about half the time; sharing both, always */
    double agree[3] = {0, 0, 0}, pc[3] = {0, 0, 0};
    int nshown[3] = {0, 0, 0}, queries = 0;
    for (int i = 0; i < cev.n; i++) {
        if (strcmp(cev.ex[i].task, "cls") != 0) continue;
        const drum_example *d[3][4];
        int k[3] = {0, 0, 0};
        for (int j = 0; j < np; j++) {
            const hidden *c = &hc_tr[pool[j]];
            int by[3] = {c->claim == hc_ev[i].claim, c->large == hc_ev[i].large, 0};
            by[2] = by[0] && by[1];
            for (int t = 0; t < 3; t++) {
                if (!by[t] || k[t] == 4) continue;
                d[t][k[t]++] = &ctr.ex[pool[j]];
                agree[t] += strcmp(ctr.ex[pool[j]].response, cev.ex[i].response) == 0;
                nshown[t]++;
            }
        }
        if (k[0] < 4 || k[1] < 4 || k[2] < 4) continue;
        queries++;
        for (int t = 0; t < 3; t++) {
            drum_icl_prompt pr = {&cev.ex[i], d[t], 4};
            double p = 0;
            drum_synthetic_p_correct(sn, &pr, &p, err, sizeof err);
            pc[t] += p;
        }
    }
    for (int t = 0; t < 3; t++) {
        agree[t] /= nshown[t] ? nshown[t] : 1;
        pc[t] /= queries ? queries : 1;
    }
    printf("claims: %d queries; label agreement and P(correct) of 4 demonstrations sharing the "
           "claim %.3f / %.3f, the large colour %.3f / %.3f, both %.3f / %.3f\n",
           queries, agree[0], pc[0], agree[1], pc[1], agree[2], pc[2]);
    CHECK(agree[0] > 0.25 && agree[0] < 0.75 && agree[1] > 0.25 && agree[1] < 0.75 &&
              agree[2] == 1.0,
          "label agreement: claim only %.3f, image only %.3f, both %.3f", agree[0], agree[1],
          agree[2]);
    CHECK(queries >= 10 && pc[2] > pc[0] + 0.1 && pc[2] > pc[1] + 0.1,
          "P(correct) over %d queries: both %.3f vs claim %.3f, image %.3f", queries, pc[2],
          pc[0], pc[1]);
done_pool:
    free(pool);
done:
    drum_scorer_destroy(s2);
    drum_scorer_destroy(s1);
    drum_scorer_destroy(sn);
    drum_dataset_free(&ctr);
    drum_dataset_free(&cev);
    free(hc_tr);
    free(hc_ev);
    free(meta);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/drum_test_lvlm_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return check_summary();
    }
    char err[512] = "";
    drum_synth_config cfg;
    drum_synth_default_config(&cfg);
    cfg.classification = DRUM_SYNTH_SHAPE; /* the suite the rules were written for (and pinned) */
    char *meta = NULL;
    int ok = make_suite(&cfg, "demo", &tr, &ev, &h_tr, &h_ev, &meta, err, sizeof err) == 0;
    CHECK(ok, "generate and load the suite: %s", err);
    drum_synthetic_config sc;
    drum_synthetic_default_config(&sc);
    ok = ok && drum_synthetic_open(&sim, meta, &sc, err, sizeof err) == 0;
    sc.rules = 1;
    ok = ok && drum_synthetic_open(&sim1, meta, &sc, err, sizeof err) == 0;
    CHECK(ok, "open: %s", err);
    if (ok) {
        test_open_errors();
        test_determinism();
        test_relations();
        test_separation();
        test_answers();
        test_expected();
        test_rank();
        test_rules2();
        test_claims();
    }
    drum_scorer_destroy(sim);
    drum_scorer_destroy(sim1);
    drum_dataset_free(&tr);
    drum_dataset_free(&ev);
    free(h_tr);
    free(h_ev);
    free(meta);
    CHECK(test_remove_tree(tmpdir) == 0, "cleanup of %s", tmpdir);
    return check_summary();
}

/* icl.c — k-shot in-context evaluation through a scorer's generate(). */
#include "drum/icl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drum/metrics.h"

static int task_slot(drum_icl_result *r, const char *task) {
    for (int t = 0; t < r->n_tasks; t++)
        if (strcmp(r->task[t], task) == 0) return t;
    if (r->n_tasks == DRUM_ICL_MAX_TASKS) return -1;
    snprintf(r->task[r->n_tasks], sizeof r->task[0], "%s", task);
    return r->n_tasks++;
}

/* ROC-AUC of P(yes) over the "binary" queries of slot t. */
static int binary_auc(const drum_dataset *queries, const int *slot, int t, const double *p_yes,
                      double *auc, char *err, size_t errlen) {
    int n = queries->n, m = 0, rc = -1;
    double *score = malloc((size_t)(n ? n : 1) * sizeof(double));
    int *label = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!score || !label) {
        snprintf(err, errlen, "out of memory scoring %d answers", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (slot[i] != t) continue;
        const drum_example *ex = &queries->ex[i];
        int yes = drum_cls_match(ex->response, "yes"), no = drum_cls_match(ex->response, "no");
        if (!yes && !no) {
            snprintf(err, errlen, "%s: query \"%s\" of task binary has the response \"%.40s\" "
                     "(expected yes or no)", queries->path, ex->id, ex->response);
            goto out;
        }
        score[m] = p_yes[i];
        label[m++] = yes;
    }
    if (drum_roc_auc(m, score, label, auc, err, errlen)) goto out;
    rc = 0;
out:
    free(score);
    free(label);
    return rc;
}

/* CIDEr-D of m raw captions as pycocoevalcap's COCOEvalCap scores them: hypotheses and
 * references through the PTB tokenizer first (lowercased, punctuation dropped), then Cider. */
static int cider_raw(int m, const char *const *hyps, const char *const *const *refs,
                     const int *nrefs, double *scores, double *mean, char *err, size_t errlen) {
    char **th = calloc((size_t)m, sizeof *th), ***tr = calloc((size_t)m, sizeof *tr);
    int ok = th && tr, rc = -1;
    for (int i = 0; ok && i < m; i++) {
        th[i] = drum_ptb_tokenize(hyps[i]);
        tr[i] = calloc((size_t)nrefs[i], sizeof **tr);
        ok = th[i] && tr[i];
        for (int j = 0; ok && j < nrefs[i]; j++)
            ok = (tr[i][j] = drum_ptb_tokenize(refs[i][j])) != NULL;
    }
    if (!ok)
        snprintf(err, errlen, "out of memory tokenizing %d captions", m);
    else
        rc = drum_cider_d(m, (const char *const *)th, (const char *const *const *)tr, nrefs,
                          scores, mean, err, errlen);
    for (int i = 0; i < m && th && tr; i++) {
        free(th[i]);
        for (int j = 0; tr[i] && j < nrefs[i]; j++) free(tr[i][j]);
        free(tr[i]);
    }
    free(th);
    free(tr);
    return rc;
}

int drum_icl_score_answers(const drum_dataset *queries, char *const *answers,
                           const double *p_yes, drum_icl_result *out, char *err,
                           size_t errlen) {
    return drum_icl_score_answers_each(queries, answers, p_yes, out, NULL, err, errlen);
}

int drum_icl_score_answers_each(const drum_dataset *queries, char *const *answers,
                                const double *p_yes, drum_icl_result *out, double *per_query,
                                char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    int n = queries->n, rc = -1;
    int *slot = malloc((size_t)(n ? n : 1) * sizeof(int));
    /* captions are scored together per task: CIDEr-D's document frequencies span the set */
    const char **hyps = malloc((size_t)(n ? n : 1) * sizeof(char *));
    const char *const **refs = malloc((size_t)(n ? n : 1) * sizeof(char **));
    int *nrefs = malloc((size_t)(n ? n : 1) * sizeof(int));
    double *cider = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!slot || !hyps || !refs || !nrefs || !cider) {
        snprintf(err, errlen, "out of memory scoring %d answers", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const drum_example *ex = &queries->ex[i];
        slot[i] = task_slot(out, ex->task);
        if (slot[i] < 0) {
            snprintf(err, errlen, "%s: more than %d tasks in one evaluation", queries->path,
                     DRUM_ICL_MAX_TASKS);
            goto out;
        }
        out->count[slot[i]]++;
    }
    for (int t = 0; t < out->n_tasks; t++) {
        int is_caption = strcmp(out->task[t], "caption") == 0;
        if (strcmp(out->task[t], "binary") == 0) {
            if (!p_yes) {
                snprintf(err, errlen, "%s: the binary task is scored by ROC-AUC of P(yes), which "
                         "needs ranked answers", queries->path);
                goto out;
            }
            if (binary_auc(queries, slot, t, p_yes, &out->score[t], err, errlen)) goto out;
            out->mean += out->score[t] / out->n_tasks;
            for (int i = 0; per_query && i < n; i++)
                if (slot[i] == t) per_query[i] = NAN; /* ROC-AUC is not a mean over queries */
            continue;
        }
        int m = 0;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            if (slot[i] != t) continue;
            const drum_example *ex = &queries->ex[i];
            const char *pred = answers[i] ? answers[i] : "";
            if (is_caption) {
                hyps[m] = pred;
                refs[m] = ex->n_answers ? (const char *const *)ex->answers
                                        : (const char *const *)&ex->response;
                nrefs[m] = ex->n_answers ? ex->n_answers : 1;
                m++;
            } else if (strcmp(out->task[t], "vqa") == 0 && ex->n_answers > 0) {
                double acc;
                if (drum_vqa_accuracy(pred, (const char *const *)ex->answers, ex->n_answers,
                                      DRUM_VQA_OPENFLAMINGO, &acc, err, errlen))
                    goto out;
                sum += acc;
                if (per_query) per_query[i] = acc;
            } else {
                double hit = drum_cls_match(pred, ex->response);
                sum += hit;
                if (per_query) per_query[i] = hit;
            }
        }
        if (is_caption) {
            double mean = 0;
            if (m && cider_raw(m, hyps, refs, nrefs, cider, &mean, err, errlen)) goto out;
            out->score[t] = mean;
            for (int i = 0, c = 0; per_query && i < n; i++) /* cider[] in query order */
                if (slot[i] == t) per_query[i] = cider[c++];
        } else {
            out->score[t] = out->count[t] ? sum / out->count[t] : 0;
        }
        out->mean += out->score[t] / out->n_tasks;
    }
    rc = 0;
out:
    free(slot);
    free(hyps);
    free(refs);
    free(nrefs);
    free(cider);
    return rc;
}

/* The k-shot prompts of every query (demos is n x k): retrieved is most similar first; shown
 * most similar last unless most_similar_first. Returns 0, or -1 on a bad index or k. */
static int build_prompts(const drum_dataset *queries, const drum_dataset *pool,
                         const int *retrieved, int kmax, int k, int most_similar_first,
                         drum_icl_prompt *prompts, const drum_example **demos, char *err,
                         size_t errlen) {
    if (k > kmax || k < 0) {
        snprintf(err, errlen, "%d-shot evaluation needs %d retrieved demonstrations, have %d", k,
                 k, kmax);
        return -1;
    }
    for (int i = 0; i < queries->n; i++) {
        for (int j = 0; j < k; j++) {
            int d = retrieved[(size_t)i * kmax + j];
            if (d < 0 || d >= pool->n) {
                snprintf(err, errlen, "retrieved index %d out of the pool (%d examples)", d, pool->n);
                return -1;
            }
            demos[(size_t)i * k + (most_similar_first ? j : k - 1 - j)] = &pool->ex[d];
        }
        prompts[i].query = &queries->ex[i];
        prompts[i].demos = demos + (size_t)i * k;
        prompts[i].k = k;
    }
    return 0;
}

/* How a query is answered: by generate, by the best-scoring class name, or by yes/no. */
enum { BY_GENERATE, BY_CLASS, BY_YES_NO };

static int answer_mode(const drum_example *ex, int rank_cls) {
    if (strcmp(ex->task, "binary") == 0) return BY_YES_NO;
    if (rank_cls && strcmp(ex->task, "cls") == 0) return BY_CLASS;
    return BY_GENERATE;
}

int drum_icl_answer_ops(const drum_dataset *queries, int rank_cls) {
    int ops = 0;
    for (int i = 0; i < queries->n; i++)
        ops |= answer_mode(&queries->ex[i], rank_cls) == BY_GENERATE ? DRUM_LVLM_GENERATE
                                                                      : DRUM_LVLM_RANK;
    return ops;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The class names of classification: every distinct response of a "cls" example of the pool
 * or the queries, in byte order (*names points into the datasets; free the array). */
static int class_names(const drum_dataset *pool, const drum_dataset *queries,
                       const char ***names, int *n, char *err, size_t errlen) {
    const drum_dataset *sets[2] = {pool, queries};
    const char **v = malloc((size_t)(pool->n + queries->n + 1) * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory for class names");
        return -1;
    }
    int m = 0;
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s]->n; i++)
            if (strcmp(sets[s]->ex[i].task, "cls") == 0) v[m++] = sets[s]->ex[i].response;
    qsort(v, (size_t)m, sizeof *v, cmp_str);
    int u = 0;
    for (int i = 0; i < m; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
    *names = v;
    *n = u;
    return 0;
}

/* Answers the queries whose mode is m, in chunks: generate's answers, or the best-scoring
 * choice (ties: the first) and, for yes/no, p_yes[i] = P(yes) from the two log-likelihoods. */
static int answer_by(drum_scorer *lvlm, const drum_icl_prompt *prompts, int n, const int *mode,
                     int m, const char *const *choices, int n_choices,
                     const drum_progress *progress, char **answers, double *p_yes, char *err,
                     size_t errlen) {
    enum { CHUNK = 256 };
    int total = 0, done = 0, rc = -1;
    for (int i = 0; i < n; i++) total += mode[i] == m;
    if (total == 0) return 0;
    if (m == BY_GENERATE && !lvlm->generate) {
        snprintf(err, errlen, "scorer %s does not generate answers, which k-shot evaluation "
                 "needs", lvlm->id);
        return -1;
    }
    if (m != BY_GENERATE && !lvlm->rank) {
        snprintf(err, errlen, "scorer %s does not rank answers, which %s needs", lvlm->id,
                 m == BY_CLASS ? "classification with eval.classify: rank" : "the binary task");
        return -1;
    }
    if (m != BY_GENERATE && n_choices < 1) {
        snprintf(err, errlen, "no class names to rank (no classification example has a response)");
        return -1;
    }
    drum_icl_prompt sub[CHUNK];
    int at[CHUNK];
    char *got[CHUNK];
    double *ll = m == BY_GENERATE ? NULL : malloc((size_t)CHUNK * n_choices * sizeof(double));
    if (m != BY_GENERATE && !ll) {
        snprintf(err, errlen, "out of memory for %d x %d log-likelihoods", CHUNK, n_choices);
        return -1;
    }
    drum_progress_begin(progress, m == BY_GENERATE ? "generate" : "rank", 0, total);
    for (int i = 0; done < total;) {
        if (drum_progress_stopped(progress, m == BY_GENERATE ? "k-shot answers" : "ranked answers",
                                  err, errlen))
            goto out;
        int c = 0;
        for (; i < n && c < CHUNK; i++)
            if (mode[i] == m) {
                at[c] = i;
                sub[c++] = prompts[i];
            }
        if (m == BY_GENERATE) {
            if (lvlm->generate(lvlm, sub, c, got, err, errlen)) goto out;
            for (int j = 0; j < c; j++) answers[at[j]] = got[j];
        } else {
            if (lvlm->rank(lvlm, sub, c, choices, n_choices, ll, err, errlen)) goto out;
            for (int j = 0; j < c; j++) {
                const double *row = ll + (size_t)j * n_choices;
                int best = 0;
                for (int t = 1; t < n_choices; t++)
                    if (row[t] > row[best]) best = t;
                if (!(answers[at[j]] = strdup(choices[best]))) {
                    snprintf(err, errlen, "out of memory");
                    goto out;
                }
                if (m == BY_YES_NO) p_yes[at[j]] = 1.0 / (1.0 + exp(row[1] - row[0]));
            }
        }
        done += c;
        drum_progress_report(progress, m == BY_GENERATE ? "generate" : "rank", done, total, NULL);
    }
    rc = 0;
out:
    free(ll);
    return rc;
}

int drum_icl_evaluate(drum_scorer *lvlm, const drum_dataset *queries, const drum_dataset *pool,
                      const int *retrieved, int kmax, int k, int most_similar_first,
                      int rank_cls, const drum_progress *progress, drum_icl_result *out,
                      char *err, size_t errlen) {
    return drum_icl_evaluate_each(lvlm, queries, pool, retrieved, kmax, k, most_similar_first,
                                  rank_cls, progress, out, NULL, err, errlen);
}

int drum_icl_evaluate_each(drum_scorer *lvlm, const drum_dataset *queries,
                           const drum_dataset *pool, const int *retrieved, int kmax, int k,
                           int most_similar_first, int rank_cls, const drum_progress *progress,
                           drum_icl_result *out, double *per_query, char *err, size_t errlen) {
    static const char *const yes_no[2] = {"yes", "no"};
    int n = queries->n, rc = -1, n_classes = 0;
    const char **classes = NULL;
    drum_icl_prompt *prompts = calloc((size_t)(n ? n : 1), sizeof *prompts);
    const drum_example **demos = calloc((size_t)(n ? n : 1) * (k > 0 ? k : 1), sizeof *demos);
    char **answers = calloc((size_t)(n ? n : 1), sizeof(char *));
    int *mode = malloc((size_t)(n ? n : 1) * sizeof(int));
    double *p_yes = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!prompts || !demos || !answers || !mode || !p_yes) {
        snprintf(err, errlen, "out of memory for %d prompts", n);
        goto out;
    }
    if (build_prompts(queries, pool, retrieved, kmax, k, most_similar_first, prompts, demos, err,
                      errlen))
        goto out;
    int any_class = 0;
    for (int i = 0; i < n; i++) {
        mode[i] = answer_mode(&queries->ex[i], rank_cls);
        any_class |= mode[i] == BY_CLASS;
    }
    if (any_class && class_names(pool, queries, &classes, &n_classes, err, errlen)) goto out;
    if (answer_by(lvlm, prompts, n, mode, BY_GENERATE, NULL, 0, progress, answers, NULL, err,
                  errlen) ||
        answer_by(lvlm, prompts, n, mode, BY_CLASS, classes, n_classes, progress, answers, NULL,
                  err, errlen) ||
        answer_by(lvlm, prompts, n, mode, BY_YES_NO, yes_no, 2, progress, answers, p_yes, err,
                  errlen))
        goto out;
    rc = drum_icl_score_answers_each(queries, answers, p_yes, out, per_query, err, errlen);
out:
    if (answers)
        for (int i = 0; i < n; i++) free(answers[i]);
    free(answers);
    free(prompts);
    free(demos);
    free(mode);
    free(p_yes);
    free(classes);
    return rc;
}

int drum_icl_expected(drum_scorer *sim, drum_icl_p_correct_fn p_correct,
                      const drum_dataset *queries, const drum_dataset *pool, const int *retrieved,
                      int kmax, int k, int most_similar_first, drum_icl_result *out,
                      double *per_query, char *err, size_t errlen) {
    int n = queries->n, rc = -1;
    drum_icl_prompt *prompts = calloc((size_t)(n ? n : 1), sizeof *prompts);
    const drum_example **demos = calloc((size_t)(n ? n : 1) * (k > 0 ? k : 1), sizeof *demos);
    double sum[DRUM_ICL_MAX_TASKS] = {0};
    int count[DRUM_ICL_MAX_TASKS] = {0};
    if (!prompts || !demos) {
        snprintf(err, errlen, "out of memory for %d prompts", n);
        goto out;
    }
    if (build_prompts(queries, pool, retrieved, kmax, k, most_similar_first, prompts, demos, err,
                      errlen))
        goto out;
    for (int i = 0; i < n; i++) {
        int t = task_slot(out, queries->ex[i].task);
        double p;
        if (t < 0) {
            snprintf(err, errlen, "more than %d task families", DRUM_ICL_MAX_TASKS);
            goto out;
        }
        if (p_correct(sim, &prompts[i], &p, err, errlen)) goto out;
        if (per_query) per_query[i] = p;
        sum[t] += p;
        count[t]++;
    }
    for (int t = 0; t < out->n_tasks; t++) out->expected[t] = count[t] ? sum[t] / count[t] : 0;
    out->has_expected = 1;
    rc = 0;
out:
    free(prompts);
    free(demos);
    return rc;
}

double drum_icl_paired_sd(const double *pa, const double *pb, const int *mask, int n,
                          int shared_draw) {
    double v = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        double d = pa[i] - pb[i];
        v += shared_draw ? fabs(d) - d * d : pa[i] * (1 - pa[i]) + pb[i] * (1 - pb[i]);
        m++;
    }
    return m ? sqrt(v > 0 ? v : 0) / m : 0;
}

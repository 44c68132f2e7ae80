/* icl.c — k-shot in-context evaluation through a scorer's generate(). */
#include "drum/icl.h"

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

int drum_icl_score_answers(const drum_dataset *queries, char *const *answers,
                           drum_icl_result *out, char *err, size_t errlen) {
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
            } else {
                sum += drum_cls_match(pred, ex->response);
            }
        }
        if (is_caption) {
            double mean = 0;
            if (m && drum_cider_d(m, hyps, refs, nrefs, cider, &mean, err, errlen)) goto out;
            out->score[t] = mean;
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

int drum_icl_evaluate(drum_scorer *lvlm, const drum_dataset *queries, const drum_dataset *pool,
                      const int *retrieved, int kmax, int k, int most_similar_first,
                      const drum_progress *progress, drum_icl_result *out, char *err,
                      size_t errlen) {
    int n = queries->n, rc = -1;
    drum_icl_prompt *prompts = calloc((size_t)(n ? n : 1), sizeof *prompts);
    const drum_example **demos = calloc((size_t)(n ? n : 1) * (k > 0 ? k : 1), sizeof *demos);
    char **answers = calloc((size_t)(n ? n : 1), sizeof(char *));
    if (!prompts || !demos || !answers) {
        snprintf(err, errlen, "out of memory for %d prompts", n);
        goto out;
    }
    if (build_prompts(queries, pool, retrieved, kmax, k, most_similar_first, prompts, demos, err,
                      errlen))
        goto out;
    const int chunk = 256;
    for (int i0 = 0; i0 < n; i0 += chunk) {
        int m = n - i0 < chunk ? n - i0 : chunk;
        if (lvlm->generate(lvlm, prompts + i0, m, answers + i0, err, errlen)) goto out;
        drum_progress_report(progress, "generate", i0 + m, n, NULL);
    }
    rc = drum_icl_score_answers(queries, answers, out, err, errlen);
out:
    if (answers)
        for (int i = 0; i < n; i++) free(answers[i]);
    free(answers);
    free(prompts);
    free(demos);
    return rc;
}

int drum_icl_expected(drum_scorer *sim, drum_icl_p_correct_fn p_correct,
                      const drum_dataset *queries, const drum_dataset *pool, const int *retrieved,
                      int kmax, int k, int most_similar_first, drum_icl_result *out, char *err,
                      size_t errlen) {
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

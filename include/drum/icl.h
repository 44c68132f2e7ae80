/* icl.h — k-shot in-context evaluation: retrieved demonstrations -> the LVLM's answers ->
 * the task metrics (VQA accuracy with the 10-answer rule, classification accuracy,
 * CIDEr-D for captions, ROC-AUC of P(yes) for the yes/no task "binary"). */
#ifndef DRUM_ICL_H
#define DRUM_ICL_H

#include <stddef.h>

#include "drum/data.h"
#include "drum/progress.h"
#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DRUM_ICL_MAX_TASKS 8

/* Scores of one evaluation: per task (in order of first appearance in the query set) and
 * their unweighted mean, each in [0, 1] (CIDEr-D is reported as is, usually 0..~3). */
typedef struct {
    int n_tasks;
    char task[DRUM_ICL_MAX_TASKS][16];
    int count[DRUM_ICL_MAX_TASKS];
    double score[DRUM_ICL_MAX_TASKS];
    double mean;
    /* drum_icl_expected: the simulator's mean P(correct) per task (has_expected = 1) */
    double expected[DRUM_ICL_MAX_TASKS];
    int has_expected;
} drum_icl_result;

/* Evaluates queries with the first k of each query's retrieved demonstrations (rows of
 * `retrieved` (nq, kmax), most similar first; -1 entries are not allowed). The
 * demonstrations are shown most similar last unless most_similar_first.
 *
 * Most queries are answered by the scorer's generate(). Two kinds are answered by its rank()
 * (OpenFlamingo's evaluation), and fail on a scorer without one:
 *   - "cls" queries when rank_cls: the answer is the class name with the highest
 *     log-likelihood (ties: the first), the class names being every distinct response of a
 *     "cls" example in the pool or the queries, in byte order;
 *   - "binary" queries (Hateful Memes: the gold response is "yes" or "no"), always: P(yes) =
 *     1 / (1 + exp(ll(no) - ll(yes))), and the task's score is the ROC-AUC of P(yes)
 *     against the gold answers (drum_roc_auc; both answers must occur among the queries). */
int drum_icl_evaluate(drum_scorer *lvlm, const drum_dataset *queries, const drum_dataset *pool,
                      const int *retrieved, int kmax, int k, int most_similar_first,
                      int rank_cls, const drum_progress *progress, drum_icl_result *out,
                      char *err, size_t errlen);

/* The calls drum_icl_evaluate asks of its scorer for these queries: DRUM_LVLM_GENERATE and
 * DRUM_LVLM_RANK bits (score.h), for a check before the first evaluation. */
int drum_icl_answer_ops(const drum_dataset *queries, int rank_cls);

/* drum_icl_evaluate, and per_query (NULL, or queries->n values) receives each query's own
 * score: its VQA accuracy, 0/1 match or CIDEr-D (against the whole set's document
 * frequencies), NaN for a binary query (ROC-AUC is not a mean over queries). The task's score
 * is the mean of its queries' values, except for binary. */
int drum_icl_evaluate_each(drum_scorer *lvlm, const drum_dataset *queries,
                           const drum_dataset *pool, const int *retrieved, int kmax, int k,
                           int most_similar_first, int rank_cls, const drum_progress *progress,
                           drum_icl_result *out, double *per_query, char *err, size_t errlen);

/* The probability a scorer's generate answers a prompt correctly (for VQA and classification;
 * for captions, that it describes each object correctly): drum_synthetic_p_correct. */
typedef int (*drum_icl_p_correct_fn)(drum_scorer *s, const drum_icl_prompt *prompt, double *p,
                                     char *err, size_t errlen);

/* The noise-free companion of drum_icl_evaluate for a simulator: the mean of p_correct over
 * each task's queries, for the same prompts, into out->expected (tasks matched by name, new
 * ones appended), has_expected = 1. generate samples from these probabilities, so at n
 * queries a sampled accuracy differs from them by about sqrt(p (1 - p) / n). per_query
 * (NULL, or queries->n values) receives each query's own P(correct), for paired comparisons
 * of two retrievals (drum_icl_paired_sd). */
int drum_icl_expected(drum_scorer *sim, drum_icl_p_correct_fn p_correct,
                      const drum_dataset *queries, const drum_dataset *pool, const int *retrieved,
                      int kmax, int k, int most_similar_first, drum_icl_result *out,
                      double *per_query, char *err, size_t errlen);

/* The standard deviation of the difference of two sampled accuracies over the n queries
 * with mask[i] set (mask NULL: all), given each query's P(correct) under retrievals a and b.
 * shared_draw: each query's answer is right when one uniform draw u < P, the same u for both
 * (the simulator's rules 2): sqrt(sum(|pa - pb| - (pa - pb)^2)) / n; else independent draws:
 * sqrt(sum(pa (1 - pa) + pb (1 - pb))) / n. 0 when no query is selected. */
double drum_icl_paired_sd(const double *pa, const double *pb, const int *mask, int n,
                          int shared_draw);

/* Scores given answers (answers[i] for queries->ex[i]) with each task's metric; p_yes[i]
 * (NULL when there is no "binary" query) is the LVLM's P(yes) for a binary query. Captions
 * are raw text, as an LVLM writes them and the benchmarks store them: they and their
 * references go through drum_ptb_tokenize before CIDEr-D, as in pycocoevalcap. */
int drum_icl_score_answers(const drum_dataset *queries, char *const *answers,
                           const double *p_yes, drum_icl_result *out, char *err,
                           size_t errlen);

/* The same, with each query's own score in per_query (as drum_icl_evaluate_each). */
int drum_icl_score_answers_each(const drum_dataset *queries, char *const *answers,
                                const double *p_yes, drum_icl_result *out, double *per_query,
                                char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

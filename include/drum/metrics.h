/* metrics.h — the benchmarks' task metrics, matching their official Python scorers.
 *
 *   VQA accuracy    the official VQA evaluation (vqaEval.py): answer normalisation, then
 *                   the mean over the n leave-one-out subsets of min(#matches / 3, 1).
 *   classification  exact match after trimming and lowercasing.
 *   CIDEr-D         pycocoevalcap's Cider scorer, with a C approximation of the Stanford PTB
 *                   tokenizer that pycocoevalcap runs first.
 *   ROC-AUC         sklearn.metrics.roc_auc_score on binary labels (Hateful Memes, scored
 *                   by P(yes) in OpenFlamingo's suite).
 *
 * Every quirk of the reference scorers is reproduced on purpose (listed in docs/METRICS.md
 * with the choices made where the references disagree); tests/test_metrics.c checks these
 * functions against fixtures written by tools/gen_metric_fixtures.py.
 * Strings are UTF-8. Returned strings are malloc'd (caller frees); NULL means out of memory.
 */
#ifndef DRUM_METRICS_H
#define DRUM_METRICS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How the ground-truth answers are normalised before matching. */
typedef enum {
    /* OpenFlamingo (open_flamingo/eval/vqa_metric.py), drum's default: every GT answer gets
     * the same cleaning and normalisation as the prediction. */
    DRUM_VQA_OPENFLAMINGO = 0,
    /* The official VQA code: GT answers get processPunctuation only, and only when they are
     * not all identical (the released annotations are already normalised). */
    DRUM_VQA_OFFICIAL = 1
} drum_vqa_gt_mode;

/* vqaEval.processPunctuation: each of ; / [ ] " { } ( ) = + \ _ - > < @ ` , ? ! is deleted
 * when it touches a space somewhere in s (or s holds digit,digit anywhere), else replaced
 * by a space; then the first 32 periods not followed by a digit are deleted. */
char *drum_vqa_process_punctuation(const char *s);

/* vqaEval.processDigitArticle: lowercase, split on whitespace, number words zero..ten and
 * "none" to digits, drop a/an/the, restore the official map's contractions ("dont" ->
 * "don't"), join with single spaces. */
char *drum_vqa_process_digit_article(const char *s);

/* The full prediction normalisation: newlines and tabs to spaces, strip, then
 * processPunctuation, then processDigitArticle. */
char *drum_vqa_normalize(const char *s);

/* VQA accuracy of one prediction against n >= 1 human answers, in [0, 1]: with m_i the
 * number of answers other than answer i equal to the normalised prediction, the mean of
 * min(m_i / 3, 1) over i. Each answer counts as distinct (the official behaviour when
 * answers carry answer_ids). Returns 0, or -1 with a message (n < 1, out of memory). */
int drum_vqa_accuracy(const char *pred, const char *const *answers, int n,
                      drum_vqa_gt_mode mode, double *acc, char *err, size_t errlen);

/* 1 when pred and label are equal after trimming whitespace and lowercasing, else 0. */
int drum_cls_match(const char *pred, const char *label);

/* Tokenizes a caption the way pycocoevalcap prepares it: Stanford PTBTokenizer
 * (-preserveLines -lowerCase) approximated in C, then the tokens '' ' `` ` . ? ! , : -
 * -- ... ; dropped. Returns the tokens joined by single spaces. The known differences from
 * the Java tokenizer are listed in docs/METRICS.md. */
char *drum_ptb_tokenize(const char *s);

/* CIDEr-D of n images exactly as pycocoevalcap's Cider (n-grams 1..4, sigma 6, document
 * frequencies over the references of these n images, idf log(n) - log(max(1, df)),
 * clipped tf-idf cosine, Gaussian length penalty on the bigram-count difference, x10,
 * averaged over n-gram orders and references). hyps[i] is image i's hypothesis and
 * refs[i][0..n_refs[i]) its references, all already tokenized (words split on whitespace;
 * use drum_ptb_tokenize on raw captions). scores (n values) may be NULL; *mean gets the
 * corpus score. Returns 0, or -1 with a message (n < 1, an image without references, out
 * of memory). */
int drum_cider_d(int n, const char *const *hyps, const char *const *const *refs,
                 const int *n_refs, double *scores, double *mean, char *err, size_t errlen);

/* Area under the ROC curve of scores against binary labels (1 = positive), as
 * sklearn.metrics.roc_auc_score(labels, scores) computes it: the probability that a random
 * positive scores above a random negative, a tie counting one half (sklearn's trapezoidal
 * rule over the ROC curve equals this Mann-Whitney U / (positives x negatives) with
 * mid-ranks). Only the order of the scores matters; -0.0 and 0.0 are tied. Computed from
 * integer pair counts and one final division (O(n log n), deterministic, independent of
 * the input order); the correctly rounded U / (positives x negatives) whenever n <= 2^27.
 * Returns 0, or -1 with a message: n < 1, a label other than 0 or 1 (sklearn would take any
 * two values, the larger one positive; drum asks for 0/1), a score that is NaN or
 * infinite, only one class present (older sklearn raises; 1.9.1 warns and returns nan),
 * out of memory (one n-element array is allocated). */
int drum_roc_auc(int n, const double *scores, const int *labels, double *auc, char *err,
                 size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

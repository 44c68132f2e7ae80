/* score.h — the LVLM side: one interface, two calls.
 *
 *   score(pairs)        -> feedback s(x, c): the length-normalised log-likelihood of query
 *                          x's gold response given demonstration c then x (higher = better)
 *   generate(prompts)   -> the LVLM's answer to a query given k demonstrations (in order,
 *                          the last one nearest the query); k = 0 gives a zero-shot draft.
 *   rank(prompts, choices) -> the length-normalised log-likelihood of each of a fixed list of
 *                          answers (class names, "yes"/"no") after the same k-shot prompt:
 *                          OpenFlamingo's way of evaluating classification (the best-scoring
 *                          class name) and Hateful Memes (ROC-AUC of P(yes)).
 *
 * Each call is NULL where a backend does not serve it (an exec LVLM whose hello lists the ops
 * it serves, exec_scorer.h): drum_scorer_ops says which it serves, and a job checks them
 * against what it will ask before it asks anything (job.h).
 *
 * Backends: `synthetic` (the demo's simulated LVLM, src/score/synthetic.c, synthetic_lvlm.h)
 * and `exec` (any LVLM behind a JSON-lines subprocess, exec_scorer.h: tools/lvlm_hf.py for
 * transformers models, tools/lvlm_openai.py for an OpenAI-compatible server such as vLLM).
 * The synthetic one serves all three.
 * Every backend can be wrapped by the persistent score cache (score_cache.h).
 */
#ifndef DRUM_SCORE_H
#define DRUM_SCORE_H

#include <stddef.h>
#include <string.h>

#include "drum/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const drum_example *query;
    const drum_example *demo;
} drum_score_pair;

typedef struct {
    const drum_example *query;
    const drum_example *const *demos; /* k demonstrations, most similar last */
    int k;
} drum_icl_prompt;

typedef struct drum_scorer drum_scorer;

/* The calls of a scorer, as bits (drum_scorer_ops). */
enum { DRUM_LVLM_SCORE = 1, DRUM_LVLM_GENERATE = 2, DRUM_LVLM_RANK = 4 };
typedef int (*drum_rank_fn)(drum_scorer *s, const drum_icl_prompt *prompts, int n,
                            const char *const *choices, int n_choices, double *out, char *err,
                            size_t errlen);
struct drum_scorer {
    /* Identifies the model and its settings; part of every cache key. */
    char id[128];
    /* The prompt template's name; part of every cache key. */
    char template_name[64];
    /* out[i] = s(pairs[i].query, pairs[i].demo). Returns 0 or -1 with a message. NULL: not
     * served. */
    int (*score)(drum_scorer *s, const drum_score_pair *pairs, int n, double *out, char *err,
                 size_t errlen);
    /* out[i] = a malloc'd answer for prompts[i] (caller frees). Returns 0 or -1. NULL: not
     * served. */
    int (*generate)(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                    char *err, size_t errlen);
    /* out[i * n_choices + j] = the length-normalised log-likelihood of choices[j] as the
     * answer to prompts[i] (its k demonstrations, then the query). NULL: not served.
     * Returns 0 or -1. */
    drum_rank_fn rank;
    void (*destroy)(drum_scorer *s);
    void *impl;
};

static inline void drum_scorer_destroy(drum_scorer *s) {
    if (s) s->destroy(s);
}

/* The calls s serves: DRUM_LVLM_* bits. */
static inline int drum_scorer_ops(const drum_scorer *s) {
    return (s->score ? DRUM_LVLM_SCORE : 0) | (s->generate ? DRUM_LVLM_GENERATE : 0) |
           (s->rank ? DRUM_LVLM_RANK : 0);
}

/* A wrapper scorer (cache, sharding) answers under its inner scorer's id and template, and
 * serves the calls its inner scorer serves. */
static inline void drum_scorer_wrap(drum_scorer *s, const drum_scorer *inner,
                                    int (*score)(drum_scorer *, const drum_score_pair *, int,
                                                 double *, char *, size_t),
                                    int (*generate)(drum_scorer *, const drum_icl_prompt *, int,
                                                    char **, char *, size_t),
                                    drum_rank_fn rank, void (*destroy)(drum_scorer *),
                                    void *impl) {
    memcpy(s->id, inner->id, sizeof s->id);
    memcpy(s->template_name, inner->template_name, sizeof s->template_name);
    s->score = inner->score ? score : NULL;
    s->generate = inner->generate ? generate : NULL;
    s->rank = inner->rank ? rank : NULL;
    s->destroy = destroy;
    s->impl = impl;
}

#ifdef __cplusplus
}
#endif
#endif

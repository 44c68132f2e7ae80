/* score.h — the LVLM side: one interface, two calls.
 *
 *   score(pairs)        -> feedback s(x, c): the length-normalised log-likelihood of query
 *                          x's gold response given demonstration c then x (higher = better)
 *   generate(prompts)   -> the LVLM's answer to a query given k demonstrations (in order,
 *                          the last one nearest the query); k = 0 gives a zero-shot draft.
 *
 * Backends: `synthetic` (the demo's simulated LVLM, src/score/synthetic.c, synthetic_lvlm.h)
 * and `exec` (any LVLM behind a JSON-lines subprocess, exec_scorer.h); `openai` is planned.
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
struct drum_scorer {
    /* Identifies the model and its settings; part of every cache key. */
    char id[128];
    /* The prompt template's name; part of every cache key. */
    char template_name[64];
    /* out[i] = s(pairs[i].query, pairs[i].demo). Returns 0 or -1 with a message. */
    int (*score)(drum_scorer *s, const drum_score_pair *pairs, int n, double *out, char *err,
                 size_t errlen);
    /* out[i] = a malloc'd answer for prompts[i] (caller frees). Returns 0 or -1. */
    int (*generate)(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                    char *err, size_t errlen);
    void (*destroy)(drum_scorer *s);
    void *impl;
};

static inline void drum_scorer_destroy(drum_scorer *s) {
    if (s) s->destroy(s);
}

/* A wrapper scorer (cache, sharding) answers under its inner scorer's id and template. */
static inline void drum_scorer_wrap(drum_scorer *s, const drum_scorer *inner,
                                    int (*score)(drum_scorer *, const drum_score_pair *, int,
                                                 double *, char *, size_t),
                                    int (*generate)(drum_scorer *, const drum_icl_prompt *, int,
                                                    char **, char *, size_t),
                                    void (*destroy)(drum_scorer *), void *impl) {
    memcpy(s->id, inner->id, sizeof s->id);
    memcpy(s->template_name, inner->template_name, sizeof s->template_name);
    s->score = score;
    s->generate = generate;
    s->destroy = destroy;
    s->impl = impl;
}

#ifdef __cplusplus
}
#endif
#endif

/* synthetic_lvlm.h — the `synthetic` scorer: the demo benchmark's simulated LVLM.
 *
 * It is a simulator with stated rules, not a model (docs/SIMULATOR.md has every rule and
 * constant). It reads the hidden attributes of each example from the generator's
 * meta.jsonl and looks examples up by id; it never sees drum's embeddings.
 *
 *   benefit b(x, c)  how much demonstration c helps query x: same task family, same
 *                    question type, same answer (what c's response says, canonicalised),
 *                    conflicting answers, overlap of c's scene with the attributes x asks
 *                    about, caption style, (rules 2) the two scenes' resemblance: shared
 *                    object colours and the same object count, plus a fixed per-pair
 *                    idiosyncrasy (a hash of the seed and both ids turned into
 *                    Gaussian-like noise).
 *   P(correct)       p_max * sigmoid(a_q + g(k) * sum_j w_j b(x, c_j)), with a_q the
 *                    zero-shot logit of x's question type, w_j growing with the position
 *                    (the last demonstration weighs most) and summing to 1, and
 *                    g(k) = 1 + 0.5 log2 k.
 *   score(x, c)      log P(correct) with c as the only demonstration: the simulator's
 *                    length-normalised log-likelihood of x's gold response.
 *   generate(x, D)   draws correct-or-not from P(correct); a wrong answer is copied from
 *                    an influential same-type demonstration, is another demonstration's
 *                    response (a format error) or a plausible distractor. Captions are
 *                    rendered in the style of the last captioning demonstration, each
 *                    object described correctly with probability P(correct). The draw is a
 *                    hash of (seed, query id, demonstration ids in order): deterministic.
 *                    Rules 2 take the right-or-wrong draw from (seed, query id, k) alone,
 *                    so all k-shot prompts of a query share it. k = 0 gives the zero-shot
 *                    draft.
 *   rank(x, D, A)    classification queries only: log of the probability that generate
 *                    answers each choice (canonicalised), i.e. the distribution it samples
 *                    from; an answer it never gives gets log 1e-9.
 *
 * score, generate and rank only read the scorer, so threads may call them concurrently.
 */
#ifndef DRUM_SYNTHETIC_LVLM_H
#define DRUM_SYNTHETIC_LVLM_H

#include <stddef.h>
#include <stdint.h>

#include "drum/data.h"
#include "drum/score.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t seed; /* the idiosyncrasy and the answer draws (default 1) */
    double noise;  /* standard deviation of the per-pair idiosyncrasy (default 0.35) */
    int rules;     /* 2 (default): resemblance terms and a fixed difficulty per query;
                      1: the rules before them (docs/SIMULATOR.md, "Rule sets") */
} drum_synthetic_config;

void drum_synthetic_default_config(drum_synthetic_config *cfg);

/* Opens the simulator over a generator's meta.jsonl. *out receives a scorer whose id
 * names the seed and the noise; free it with drum_scorer_destroy. Scoring or generating
 * for an example whose id meta.jsonl lacks is an error. Returns 0, or -1 with
 * "file:line: problem" in err. */
int drum_synthetic_open(drum_scorer **out, const char *meta_path,
                        const drum_synthetic_config *cfg, char *err, size_t errlen);

/* Every example of ds has a record in the scorer's meta.jsonl, of its task: what a job
 * checks when it opens, so that data from elsewhere fail at once, naming the file and line,
 * rather than at the first score. s must come from drum_synthetic_open. Returns 0, or -1
 * with "file:line: problem" in err. */
int drum_synthetic_check_examples(drum_scorer *s, const drum_dataset *ds, char *err,
                                  size_t errlen);

/* The probability that generate answers prompt correctly (VQA, classification) or
 * describes each object correctly (captioning): what generate samples from (for a caption
 * with other-family demonstrations shown, before the chance (1 - P) 0.5 W_other that it
 * answers in their format instead; docs/SIMULATOR.md). s must come
 * from drum_synthetic_open. Returns 0, or -1 with a message. */
int drum_synthetic_p_correct(drum_scorer *s, const drum_icl_prompt *prompt, double *p,
                             char *err, size_t errlen);

/* The canonical form of an answer as the simulator compares answers (lowercase, outer
 * punctuation stripped, synonyms mapped: "Violet." -> "purple", "two" -> "2"). */
void drum_synthetic_canon(const char *answer, char *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif

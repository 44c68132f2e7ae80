/* fuzz_answer_cache — an answer cache file (answers.jsonl): a read-only mirror of the bytes,
 * then the writer's open (a torn tail cut, a damaged line refused), a generate and a rank
 * that miss and are appended, and a reopen that must answer both from the file. */
#include <stdlib.h>
#include <string.h>

#include "drum/answer_cache.h"
#include "fuzz_common.h"

static int calls;

static int gen(drum_scorer *s, const drum_icl_prompt *p, int n, char **out, char *err,
               size_t errlen) {
    calls++;
    for (int i = 0; i < n; i++) out[i] = strdup("an answer \"with\" a\nnewline");
    return 0;
}

static int rnk(drum_scorer *s, const drum_icl_prompt *p, int n, const char *const *c, int nc,
               double *out, char *err, size_t errlen) {
    calls++;
    for (int i = 0; i < n * nc; i++) out[i] = -0.1 * (i + 1) / 3.0;
    return 0;
}

static void destroy(drum_scorer *s) { free(s); }

static drum_scorer *inner(void) {
    drum_scorer *s = calloc(1, sizeof *s);
    strcpy(s->id, "fuzz");
    strcpy(s->template_name, "plain");
    s->generate = gen;
    s->rank = rnk;
    s->destroy = destroy;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".jsonl");
    char warn[512], err[1024], *answer = NULL;
    drum_example q = {.id = (char *)"q\x1f" "1", .task = (char *)"vqa"}, d = {.id = (char *)"d1"};
    const drum_example *demos[1] = {&d};
    drum_icl_prompt p = {&q, demos, 1};
    const char *choices[2] = {"yes", "no"};
    double ll[2], again[2];
    drum_scorer *in = inner();
    drum_scorer *m = drum_answer_cached_scorer_create(in, path, 1, NULL, 0, err, sizeof err);
    if (m) {
        if (m->generate(m, &p, 1, &answer, err, sizeof err) == 0) free(answer);
        drum_scorer_destroy(m);
    } else {
        drum_scorer_destroy(in);
    }
    in = inner();
    drum_scorer *c = drum_answer_cached_scorer_create(in, path, 0, warn, sizeof warn, err, sizeof err);
    if (!c) {
        drum_scorer_destroy(in);
        return 0;
    }
    if (c->generate(c, &p, 1, &answer, err, sizeof err) == 0) free(answer);
    int ranked = c->rank(c, &p, 1, choices, 2, ll, err, sizeof err) == 0;
    drum_scorer_destroy(c);
    calls = 0;
    c = drum_answer_cached_scorer_create(inner(), path, 0, warn, sizeof warn, err, sizeof err);
    if (!c) abort(); /* what the writer left must open */
    if (c->generate(c, &p, 1, &answer, err, sizeof err) != 0 || !answer) abort();
    free(answer);
    if (ranked && (c->rank(c, &p, 1, choices, 2, again, err, sizeof err) != 0 ||
                   memcmp(ll, again, sizeof ll) != 0))
        abort(); /* the appended log-likelihoods come back exactly */
    drum_scorer_destroy(c);
    return 0;
}

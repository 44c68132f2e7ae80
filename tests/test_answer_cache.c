/* test_answer_cache — the evaluation answer cache (answer_cache.h) around a fake LVLM that
 * counts what it is asked: hits never reach it, misses reach it once and in order, answers
 * and log-likelihoods come back exactly (strings with quotes and newlines, doubles to the
 * last bit), the key is the whole prompt (query, demonstrations in order, choices), a
 * reopened file answers everything, a torn last line is cut off, a damaged line before good
 * ones is an error naming the line, a second writer is refused, and a mirror keeps its new
 * answers in memory only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/answer_cache.h"

enum { NQ = 6 };

typedef struct {
    const drum_example *base;
    int generate_calls, rank_calls, prompts_seen, fail;
} fake_impl;

static int fake_score(drum_scorer *s, const drum_score_pair *p, int n, double *out, char *err,
                      size_t errlen) {
    for (int i = 0; i < n; i++) out[i] = -0.5 * i;
    return 0;
}

/* prompt i's answer: its query index, its demonstrations' indices, a quote and a newline */
static int fake_generate(drum_scorer *s, const drum_icl_prompt *p, int n, char **out, char *err,
                         size_t errlen) {
    fake_impl *im = s->impl;
    if (im->fail) {
        snprintf(err, errlen, "the fake was told to fail");
        return -1;
    }
    im->generate_calls++;
    im->prompts_seen += n;
    for (int i = 0; i < n; i++) {
        char buf[128];
        int at = snprintf(buf, sizeof buf, "q%d \"", (int)(p[i].query - im->base));
        for (int j = 0; j < p[i].k; j++)
            at += snprintf(buf + at, sizeof buf - (size_t)at, "%d,", (int)(p[i].demos[j] - im->base));
        snprintf(buf + at, sizeof buf - (size_t)at, "\nü");
        out[i] = strdup(buf);
    }
    return 0;
}

/* Log-likelihoods that stress the file's printing: a subnormal step, and for choice 1 the
 * double just below an integer (-2.0000000000000004 for q = 1), which 15 significant digits
 * print as the integer and cJSON's own printing (which checks a round trip only to within
 * an epsilon) wrote that way. */
static double fake_ll(int q, int j) {
    if (j == 1) return nextafter(-1.0 - q, -INFINITY);
    return -1.0 / (3.0 + q) - j * 1e-300 + (j == 2 ? 0.1 : 0);
}

static int fake_rank(drum_scorer *s, const drum_icl_prompt *p, int n, const char *const *choices,
                     int n_choices, double *out, char *err, size_t errlen) {
    fake_impl *im = s->impl;
    im->rank_calls++;
    im->prompts_seen += n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n_choices; j++)
            out[i * n_choices + j] = fake_ll((int)(p[i].query - im->base), j) - (double)strlen(choices[j]);
    return 0;
}

static void fake_destroy(drum_scorer *s) { free(s); }

static drum_scorer *make_fake(fake_impl *im, const drum_example *base, int with_rank) {
    drum_scorer *s = calloc(1, sizeof *s);
    memset(im, 0, sizeof *im);
    im->base = base;
    snprintf(s->id, sizeof s->id, "fake-lvlm");
    snprintf(s->template_name, sizeof s->template_name, "chat");
    s->score = fake_score;
    s->generate = fake_generate;
    s->rank = with_rank ? fake_rank : NULL;
    s->destroy = fake_destroy;
    s->impl = im;
    return s;
}

static drum_example ex[NQ];
static char ids[NQ][16];
static const drum_example *demos[NQ][2];
static drum_icl_prompt prompts[NQ];

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int same_answers(char **a, const drum_icl_prompt *p, int n, const drum_example *base) {
    fake_impl im = {base, 0, 0, 0, 0};
    drum_scorer s = {.impl = &im};
    char *want[NQ];
    char err[64];
    fake_generate(&s, p, n, want, err, sizeof err);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        ok &= a[i] && strcmp(a[i], want[i]) == 0;
        free(want[i]);
    }
    return ok;
}

static void test_cache(const char *dir) {
    char path[512], err[512] = "", warn[512] = "";
    snprintf(path, sizeof path, "%s/answers.jsonl", dir);
    fake_impl im;
    drum_scorer *s = drum_answer_cached_scorer_create(make_fake(&im, ex, 1), path, 0, warn,
                                                      sizeof warn, err, sizeof err);
    CHECK(s && !warn[0] && strcmp(s->id, "fake-lvlm") == 0, "open: %s", err);
    if (!s) return;
    char *a[NQ];
    /* all misses, in one call */
    CHECK(s->generate(s, prompts, 4, a, err, sizeof err) == 0 && same_answers(a, prompts, 4, ex),
          "generate: %s", err);
    CHECK(im.generate_calls == 1 && im.prompts_seen == 4, "calls %d, prompts %d",
          im.generate_calls, im.prompts_seen);
    for (int i = 0; i < 4; i++) free(a[i]);
    /* 4 hits and 2 misses: only the misses reach the LVLM */
    im.prompts_seen = 0;
    CHECK(s->generate(s, prompts, NQ, a, err, sizeof err) == 0 && same_answers(a, prompts, NQ, ex),
          "generate again: %s", err);
    CHECK(im.generate_calls == 2 && im.prompts_seen == 2, "calls %d, prompts %d",
          im.generate_calls, im.prompts_seen);
    for (int i = 0; i < NQ; i++) free(a[i]);
    /* the demonstrations' order is part of the key */
    const drum_example *swapped[2] = {demos[0][1], demos[0][0]};
    drum_icl_prompt p0 = {prompts[0].query, swapped, 2};
    CHECK(s->generate(s, &p0, 1, a, err, sizeof err) == 0 && im.generate_calls == 3 &&
              same_answers(a, &p0, 1, ex),
          "other order: calls %d", im.generate_calls);
    free(a[0]);
    /* rank: doubles to the last bit; other choices are other keys */
    const char *ch[3] = {"yes", "no", "perhaps"}, *ch2[2] = {"yes", "no"};
    double ll[NQ * 3], again[NQ * 3];
    CHECK(s->rank(s, prompts, NQ, ch, 3, ll, err, sizeof err) == 0 && im.rank_calls == 1,
          "rank: %s", err);
    CHECK(s->rank(s, prompts, NQ, ch, 3, again, err, sizeof err) == 0 && im.rank_calls == 1 &&
              memcmp(ll, again, sizeof ll) == 0,
          "rank again: calls %d", im.rank_calls);
    CHECK(s->rank(s, prompts, 2, ch2, 2, again, err, sizeof err) == 0 && im.rank_calls == 2,
          "other choices: calls %d", im.rank_calls);
    /* more choices than are kept: asked every time, nothing written */
    enum { MANY = DRUM_ANSWER_CACHE_MAX_CHOICES + 1 };
    const char *many[MANY];
    for (int j = 0; j < MANY; j++) many[j] = "c";
    double *wide = malloc(2 * MANY * sizeof *wide);
    long size0 = file_size(path);
    int calls0 = im.rank_calls;
    CHECK(s->rank(s, prompts, 2, many, MANY, wide, err, sizeof err) == 0 &&
              s->rank(s, prompts, 2, many, MANY, wide, err, sizeof err) == 0 &&
              im.rank_calls == calls0 + 2 && file_size(path) == size0 &&
              wide[MANY + 1] == fake_ll(1, 1) - 1.0,
          "%d choices: rank calls %d (want %d), file %ld -> %ld", MANY, im.rank_calls, calls0 + 2,
          size0, file_size(path));
    free(wide);
    double sc[2];
    drum_score_pair pairs[2] = {{&ex[0], &ex[1]}, {&ex[1], &ex[2]}};
    CHECK(s->score(s, pairs, 2, sc, err, sizeof err) == 0 && sc[1] == -0.5, "score passes through");
    im.fail = 1;
    drum_icl_prompt p5 = {&ex[5], NULL, 0};
    long before = file_size(path);
    CHECK(s->generate(s, &p5, 1, a, err, sizeof err) == -1 && strstr(err, "told to fail") &&
              a[0] == NULL && file_size(path) == before,
          "a failing LVLM: '%s', nothing written", err);
    drum_answer_cache_stats st;
    CHECK(drum_answer_cached_scorer_stats(s, &st) == 0 && st.hits == 4 + 6 && st.records == 7 + 6 + 2,
          "stats: hits %ld, records %ld", st.hits, st.records);
    /* a second writer is refused while this one holds the file */
    fake_impl im2;
    drum_scorer *f2 = make_fake(&im2, ex, 1);
    drum_scorer *s2 = drum_answer_cached_scorer_create(f2, path, 0, NULL, 0, err, sizeof err);
    CHECK(s2 == NULL && strstr(err, "in use by another process"), "second writer: %s", err);
    drum_scorer_destroy(s2 ? s2 : f2);
    drum_scorer_destroy(s);

    /* reopened: everything is a hit */
    s = drum_answer_cached_scorer_create(make_fake(&im, ex, 1), path, 0, warn, sizeof warn, err,
                                         sizeof err);
    CHECK(s && !warn[0], "reopen: %s %s", err, warn);
    if (!s) return;
    CHECK(s->generate(s, prompts, NQ, a, err, sizeof err) == 0 && same_answers(a, prompts, NQ, ex) &&
              s->rank(s, prompts, NQ, ch, 3, again, err, sizeof err) == 0 &&
              memcmp(ll, again, sizeof ll) == 0 && im.generate_calls == 0 && im.rank_calls == 0,
          "reopened: generate calls %d, rank calls %d: %s", im.generate_calls, im.rank_calls, err);
    for (int i = 0; i < NQ; i++) free(a[i]);
    drum_scorer_destroy(s);

    /* a torn last line is cut off, the records before it kept */
    long good = file_size(path);
    FILE *f = fopen(path, "a");
    fputs("{\"k\": \"generate\\u001ffake-lvlm", f);
    fclose(f);
    s = drum_answer_cached_scorer_create(make_fake(&im, ex, 1), path, 0, warn, sizeof warn, err,
                                         sizeof err);
    CHECK(s && strstr(warn, "cut off a torn last line") && file_size(path) == good,
          "torn tail: %s / %s, size %ld (want %ld)", err, warn, file_size(path), good);
    if (s) {
        CHECK(s->generate(s, prompts, NQ, a, err, sizeof err) == 0 && im.generate_calls == 0,
              "after the cut: calls %d", im.generate_calls);
        for (int i = 0; i < NQ; i++) free(a[i]);
        /* a mirror of the writer's file: new answers in memory, never in the file */
        fake_impl imm;
        drum_scorer *m = drum_answer_cached_scorer_create(make_fake(&imm, ex, 1), path, 1, NULL, 0,
                                                          err, sizeof err);
        CHECK(m != NULL, "mirror: %s", err);
        if (m) {
            CHECK(m->generate(m, &p5, 1, a, err, sizeof err) == 0 && imm.generate_calls == 1, "mirror miss");
            free(a[0]);
            CHECK(m->generate(m, &p5, 1, a, err, sizeof err) == 0 && imm.generate_calls == 1 &&
                      file_size(path) == good,
                  "mirror hit from memory, file untouched (%ld)", file_size(path));
            free(a[0]);
            drum_scorer_destroy(m);
        }
        drum_scorer_destroy(s);
    }
    /* a damaged line followed by good ones: an error naming the line, the file untouched. A
     * line is damaged also when its value does not fit its key: an answer under a rank key,
     * log-likelihoods under a generate key, or a count other than the key's choices' (these
     * once opened, and failed at the lookup) */
    const char *damaged[] = {
        "{\"k\": 7}",
        "{\"k\": \"generate\\u001ffake-lvlm\\u001fplain\\u001fq\\u001fd\", \"r\": [-1]}",
        "{\"k\": \"rank\\u001ffake-lvlm\\u001fplain\\u001fq\\u001fd\\u001f2:00\", \"a\": \"x\"}",
        "{\"k\": \"rank\\u001ffake-lvlm\\u001fplain\\u001fq\\u001fd\\u001f2:00\", \"r\": [-1]}",
        "{\"k\": \"rank\\u001ffake-lvlm\\u001fplain\\u001fq\\u001fd\", \"r\": [-1]}"};
    char *text = test_slurp(path);
    char *nl = text ? strchr(text, '\n') : NULL;
    for (size_t d = 0; nl && d < sizeof damaged / sizeof damaged[0]; d++) {
        char bad[600];
        snprintf(bad, sizeof bad, "%s/damaged.jsonl", dir);
        f = fopen(bad, "w");
        if (f) {
            fwrite(text, 1, (size_t)(nl - text) + 1, f);
            fprintf(f, "%s\n", damaged[d]);
            fputs(nl + 1, f);
            fclose(f);
        }
        long bsize = file_size(bad);
        fake_impl imb;
        drum_scorer *fb = make_fake(&imb, ex, 1);
        s = drum_answer_cached_scorer_create(fb, bad, 0, NULL, 0, err, sizeof err);
        CHECK(!s && strstr(err, "damaged.jsonl:2: not an answer record") && file_size(bad) == bsize,
              "damaged line %s: %s", damaged[d], err);
        drum_scorer_destroy(s ? s : fb);
    }
    CHECK(nl != NULL, "the cache file has a first line");
    free(text);
    /* no rank in the inner scorer: none in the wrapper */
    s = drum_answer_cached_scorer_create(make_fake(&im, ex, 0), path, 0, NULL, 0, err, sizeof err);
    CHECK(s && s->rank == NULL, "an inner scorer without rank: %s", err);
    drum_scorer_destroy(s);
}

/* Examples loaded from a file carry a content id ("id#digest", data.h) and the cache keys
 * prompts by it: a query or a demonstration edited under the same id is asked again, and the
 * first version is still a hit. Restores ex[0] and ex[1]. */
static void test_content_ids(const char *dir) {
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/content.jsonl", dir);
    fake_impl im;
    drum_scorer *s = drum_answer_cached_scorer_create(make_fake(&im, ex, 1), path, 0, NULL, 0,
                                                      err, sizeof err);
    CHECK(s != NULL, "open: %s", err);
    if (!s) return;
    const drum_example *shot[1] = {&ex[1]};
    drum_icl_prompt p = {&ex[0], shot, 1};
    const char *versions[][2] = {{"e0#01", "e1#01"}, {"e0#01", "e1#01"}, {"e0#02", "e1#01"},
                                 {"e0#02", "e1#02"}, {"e0#01", "e1#01"}, {NULL, NULL}};
    const int want[] = {1, 1, 2, 3, 3, 4};
    for (int i = 0; i < 6; i++) {
        ex[0].content_id = (char *)versions[i][0];
        ex[1].content_id = (char *)versions[i][1];
        char *a[1] = {NULL};
        CHECK(s->generate(s, &p, 1, a, err, sizeof err) == 0, "generate: %s", err);
        free(a[0]);
        CHECK(im.prompts_seen == want[i], "version %d (%s, %s): the LVLM saw %d prompts, want %d",
              i, versions[i][0] ? versions[i][0] : "ids", versions[i][1] ? versions[i][1] : "ids",
              im.prompts_seen, want[i]);
    }
    ex[0].content_id = ex[1].content_id = NULL;
    drum_scorer_destroy(s);
}

int main(void) {
    for (int i = 0; i < NQ; i++) {
        snprintf(ids[i], sizeof ids[i], "e%d", i);
        ex[i].id = ids[i];
        ex[i].task = (char *)"vqa";
    }
    for (int i = 0; i < NQ; i++) {
        demos[i][0] = &ex[(i + 1) % NQ];
        demos[i][1] = &ex[(i + 3) % NQ];
        prompts[i] = (drum_icl_prompt){&ex[i], demos[i], i % 3};
    }
    char dir[] = "/tmp/drum_answer_cache_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return check_summary();
    }
    test_cache(dir);
    test_content_ids(dir);
    CHECK(test_remove_tree(dir) == 0, "cleanup of %s", dir);
    return check_summary();
}

/* test_metrics.c — VQA accuracy, classification, PTB tokenization and CIDEr-D against the
 * Python references. The fixtures come from
 *     /work/venv/bin/python tools/gen_metric_fixtures.py
 * (official VQA logic re-implemented in Python; pycocoevalcap's CiderScorer; the Java
 * Stanford PTBTokenizer). Run from the repository root. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/fileio.h"
#include "drum/metrics.h"

#define FIXTURES "tests/fixtures/metrics/"

static char *read_file(const char *path) {
    char err[256];
    return drum_read_file(path, NULL, err, sizeof err);
}

/* Checks that fn(in) == want, printing both on failure. */
static void check_str(const char *what, const char *in, char *got, const char *want) {
    CHECK(got && strcmp(got, want) == 0, "%s(\"%s\") = \"%s\", want \"%s\"", what, in,
          got ? got : "(null)", want);
    free(got);
}

static void test_vqa_fixtures(void) {
    char *text = read_file(FIXTURES "vqa.jsonl");
    CHECK(text != NULL, "cannot read " FIXTURES "vqa.jsonl (run from the repository root)");
    if (!text) return;
    int n_norm = 0, n_acc = 0;
    double max_err = 0.0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *c = cJSON_Parse(line);
        CHECK(c != NULL, "bad fixture line: %.80s", line);
        if (!c) continue;
        const char *kind = cJSON_GetObjectItem(c, "kind")->valuestring;
        if (strcmp(kind, "norm") == 0) {
            const char *in = cJSON_GetObjectItem(c, "in")->valuestring;
            const char *punct = cJSON_GetObjectItem(c, "punct")->valuestring;
            const char *digit = cJSON_GetObjectItem(c, "digit")->valuestring;
            const char *norm = cJSON_GetObjectItem(c, "norm")->valuestring;
            /* The punct and digit columns are computed on the cleaned input. */
            const char *clean = cJSON_GetObjectItem(c, "clean")->valuestring;
            check_str("normalize", in, drum_vqa_normalize(in), norm);
            check_str("process_punctuation", clean, drum_vqa_process_punctuation(clean), punct);
            check_str("process_digit_article", clean, drum_vqa_process_digit_article(clean),
                      digit);
            n_norm++;
        } else {
            const char *pred = cJSON_GetObjectItem(c, "pred")->valuestring;
            cJSON *answers = cJSON_GetObjectItem(c, "answers");
            int n = cJSON_GetArraySize(answers);
            const char *ans[16];
            for (int i = 0; i < n && i < 16; i++) ans[i] = cJSON_GetArrayItem(answers, i)->valuestring;
            const char *key[2] = {"acc_openflamingo", "acc_official"};
            drum_vqa_gt_mode mode[2] = {DRUM_VQA_OPENFLAMINGO, DRUM_VQA_OFFICIAL};
            for (int m = 0; m < 2; m++) {
                double want = cJSON_GetObjectItem(c, key[m])->valuedouble, got = -1.0;
                char err[256];
                int rc = drum_vqa_accuracy(pred, ans, n, mode[m], &got, err, sizeof err);
                double e = fabs(got - want);
                if (e > max_err) max_err = e;
                CHECK(rc == 0 && e <= 1e-9, "%s: pred \"%s\" (first answer \"%s\"): %.12f, want %.12f",
                      key[m], pred, ans[0], got, want);
            }
            n_acc++;
        }
        cJSON_Delete(c);
    }
    free(text);
    printf("vqa: %d normalisation cases, %d accuracy cases x 2 modes, max |err| %.3g\n", n_norm,
           n_acc, max_err);
    CHECK(n_norm >= 150 && n_acc >= 200, "fixture too small: %d norm, %d acc", n_norm, n_acc);
}

static void test_vqa_direct(void) {
    /* Hand-checked values that would catch a wrong leave-one-out or a wrong denominator. */
    const char *ten_yes[10] = {"yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes", "yes"};
    const char *mixed[10] = {"yes", "yes", "no", "no", "no", "no", "no", "no", "no", "no"};
    const char *three[10] = {"2", "two", "2", "x", "x", "x", "x", "x", "x", "x"};
    double acc;
    char err[128];
    CHECK(drum_vqa_accuracy("Yes.", ten_yes, 10, DRUM_VQA_OPENFLAMINGO, &acc, err, sizeof err) == 0 &&
              acc == 1.0, "all ten match: %f", acc);
    /* m = 2 matches: answers 0,1 see 1 other (1/3), answers 2..9 see 2 (2/3): 0.6. */
    CHECK(drum_vqa_accuracy("yes", mixed, 10, DRUM_VQA_OPENFLAMINGO, &acc, err, sizeof err) == 0 &&
              fabs(acc - 0.6) < 1e-15, "two matches: %f", acc);
    /* "two" -> "2": three GT answers match after normalisation: 7*(1) + 3*(2/3) = 9/10. */
    CHECK(drum_vqa_accuracy("Two", three, 10, DRUM_VQA_OPENFLAMINGO, &acc, err, sizeof err) == 0 &&
              fabs(acc - 0.9) < 1e-15, "three matches: %f", acc);
    /* Official: GT gets no number-word mapping, so "two" in the GT never matches "2". */
    CHECK(drum_vqa_accuracy("Two", three, 10, DRUM_VQA_OFFICIAL, &acc, err, sizeof err) == 0 &&
              fabs(acc - 0.6) < 1e-15, "official keeps GT 'two': %f", acc);
    CHECK(drum_vqa_accuracy("yes", ten_yes, 0, DRUM_VQA_OPENFLAMINGO, &acc, err, sizeof err) == -1 &&
              strstr(err, "0 ground-truth") != NULL, "n = 0 must fail: %s", err);
    CHECK(drum_vqa_accuracy("yes", ten_yes, 10, (drum_vqa_gt_mode)7, &acc, err, sizeof err) == -1,
          "unknown mode must fail");
    char x40[81];
    for (int i = 0; i < 40; i++) memcpy(x40 + 2 * i, "x.", 2);
    x40[80] = '\0';
    char *s = drum_vqa_process_punctuation(x40);
    /* 40 periods, none before a digit: only the first 32 go (the count-argument quirk). */
    CHECK(s && strcmp(s, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x.x.x.x.x.x.x.") == 0, "period cap: %s", s);
    free(s);
}

static void test_cls(void) {
    CHECK(drum_cls_match("  Cat\n", "cat"), "trim + lowercase");
    CHECK(drum_cls_match("CAF\xc3\x89", "caf\xc3\xa9"), "non-ASCII lowercase");
    CHECK(!drum_cls_match("cats", "cat"), "different words must not match");
    CHECK(!drum_cls_match("a cat", "cat"), "no article removal in classification");
    CHECK(drum_cls_match("", " \t"), "empty equals blank");
}

static void test_ptb_fixtures(void) {
    char *text = read_file(FIXTURES "ptb_tokens.jsonl");
    CHECK(text != NULL, "cannot read " FIXTURES "ptb_tokens.jsonl");
    if (!text) return;
    int n = 0, bad = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *c = cJSON_Parse(line);
        if (!c) continue;
        const char *raw = cJSON_GetObjectItem(c, "raw")->valuestring;
        const char *want = cJSON_GetObjectItem(c, "tokens")->valuestring;
        char *got = drum_ptb_tokenize(raw);
        int ok = got && strcmp(got, want) == 0;
        bad += !ok;
        check_str("ptb_tokenize", raw, got, want);
        n++;
        cJSON_Delete(c);
    }
    free(text);
    printf("ptb: %d captions, %d differ from the Java tokenizer\n", n, bad);
    CHECK(n >= 200, "ptb fixture too small: %d", n);
}

static void test_ptb_direct(void) {
    char *s = drum_ptb_tokenize("A man's dog (brown) isn't running... Mr. Smith said \"hi\"!");
    CHECK(s && strcmp(s, "a man 's dog -lrb- brown -rrb- is n't running mr. smith said hi") == 0,
          "tokenize: %s", s);
    free(s);
    s = drum_ptb_tokenize("");
    CHECK(s && s[0] == '\0', "empty caption gives no tokens");
    free(s);
}

/* Reads one set of cider.json into arrays and compares drum_cider_d with the reference. */
static void check_cider_set(cJSON *set, int from_raw) {
    const char *name = cJSON_GetObjectItem(set, "name")->valuestring;
    cJSON *hyps = cJSON_GetObjectItem(set, from_raw ? "raw_hyps" : "hyps");
    cJSON *refs = cJSON_GetObjectItem(set, from_raw ? "raw_refs" : "refs");
    if (!hyps) return;
    int n = cJSON_GetArraySize(hyps);
    char **h = calloc((size_t)n, sizeof *h);
    const char ***r = calloc((size_t)n, sizeof *r);
    int *nr = calloc((size_t)n, sizeof *nr);
    double *scores = calloc((size_t)n, sizeof *scores);
    for (int i = 0; i < n; i++) {
        const char *hs = cJSON_GetArrayItem(hyps, i)->valuestring;
        h[i] = from_raw ? drum_ptb_tokenize(hs) : strdup(hs);
        cJSON *ri = cJSON_GetArrayItem(refs, i);
        nr[i] = cJSON_GetArraySize(ri);
        r[i] = calloc((size_t)nr[i], sizeof **r);
        for (int j = 0; j < nr[i]; j++) {
            const char *rs = cJSON_GetArrayItem(ri, j)->valuestring;
            r[i][j] = from_raw ? drum_ptb_tokenize(rs) : strdup(rs);
        }
    }
    double mean = -1;
    char err[256];
    int rc = drum_cider_d(n, (const char *const *)h, (const char *const *const *)r, nr, scores,
                          &mean, err, sizeof err);
    CHECK(rc == 0, "cider %s: %s", name, err);
    double want_mean = cJSON_GetObjectItem(set, "mean")->valuedouble;
    CHECK(fabs(mean - want_mean) <= 1e-6, "cider %s%s mean %.9f, want %.9f", name,
          from_raw ? " (raw)" : "", mean, want_mean);
    cJSON *ws = cJSON_GetObjectItem(set, "scores");
    double max_err = 0;
    for (int i = 0; i < n; i++) {
        double want = cJSON_GetArrayItem(ws, i)->valuedouble;
        double e = fabs(scores[i] - want);
        if (e > max_err) max_err = e;
        CHECK(e <= 1e-6, "cider %s image %d: %.9f, want %.9f", name, i, scores[i], want);
    }
    printf("cider %-16s %s n=%-3d mean %.6f (ref %.6f) max |err| %.2g\n", name,
           from_raw ? "raw" : "tok", n, mean, want_mean, max_err);
    for (int i = 0; i < n; i++) {
        free(h[i]);
        for (int j = 0; j < nr[i]; j++) free((char *)r[i][j]);
        free(r[i]);
    }
    free(h);
    free(r);
    free(nr);
    free(scores);
}

static void test_cider_fixtures(void) {
    char *text = read_file(FIXTURES "cider.json");
    CHECK(text != NULL, "cannot read " FIXTURES "cider.json");
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL, "cider.json does not parse");
    cJSON *sets = cJSON_GetObjectItem(root, "sets");
    int n = cJSON_GetArraySize(sets);
    CHECK(n >= 2, "cider.json has %d sets", n);
    for (int s = 0; s < n; s++) {
        check_cider_set(cJSON_GetArrayItem(sets, s), 0);
        check_cider_set(cJSON_GetArrayItem(sets, s), 1);
    }
    cJSON_Delete(root);
    free(text);
}

static void test_cider_errors(void) {
    const char *h[1] = {"a dog"};
    const char *r0[1] = {"a dog"};
    const char *const *r[1] = {r0};
    int nr[1] = {0};
    double mean;
    char err[128] = "";
    CHECK(drum_cider_d(1, h, r, nr, NULL, &mean, err, sizeof err) == -1 &&
              strstr(err, "no reference") != NULL, "image without references must fail: %s", err);
    CHECK(drum_cider_d(0, h, r, nr, NULL, &mean, err, sizeof err) == -1, "n = 0 must fail");
}

int main(void) {
    test_vqa_fixtures();
    test_vqa_direct();
    test_cls();
    test_ptb_fixtures();
    test_ptb_direct();
    test_cider_fixtures();
    test_cider_errors();
    return check_summary();
}

/* test_metrics.c — VQA accuracy, classification, PTB tokenization, CIDEr-D and ROC-AUC
 * against the Python references. The fixtures come from
 *     /work/venv/bin/python tools/gen_metric_fixtures.py [--only roc]
 * (official VQA logic re-implemented in Python; pycocoevalcap's CiderScorer; the Java
 * Stanford PTBTokenizer; sklearn.metrics.roc_auc_score). Run from the repository root. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/fileio.h"
#include "drum/icl.h"
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

/* The evaluation's scoring (drum_icl_score_answers_each) of a raw set as caption queries:
 * the LVLM's answers and the references are untokenized text there, as the benchmarks and an
 * LVLM give them, so it must tokenize as pycocoevalcap does to give pycocoevalcap's scores. */
static void check_eval_captions(cJSON *set, const char *name, int n, cJSON *want_scores,
                                double want_mean) {
    cJSON *hyps = cJSON_GetObjectItem(set, "raw_hyps"), *refs = cJSON_GetObjectItem(set, "raw_refs");
    drum_example *ex = calloc((size_t)n, sizeof *ex);
    char **answers = calloc((size_t)n, sizeof *answers);
    double *per = calloc((size_t)n, sizeof *per);
    drum_dataset ds = {"cider.json", ex, n, NULL};
    for (int i = 0; i < n; i++) {
        cJSON *ri = cJSON_GetArrayItem(refs, i);
        ex[i].task = "caption";
        ex[i].n_answers = cJSON_GetArraySize(ri);
        ex[i].answers = calloc((size_t)ex[i].n_answers, sizeof(char *));
        for (int j = 0; j < ex[i].n_answers; j++)
            ex[i].answers[j] = cJSON_GetArrayItem(ri, j)->valuestring;
        ex[i].response = ex[i].answers[0];
        answers[i] = cJSON_GetArrayItem(hyps, i)->valuestring;
    }
    drum_icl_result r;
    char err[256] = "";
    int rc = drum_icl_score_answers_each(&ds, answers, NULL, &r, per, err, sizeof err);
    double max_err = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        max_err = fmax(max_err, fabs(per[i] - cJSON_GetArrayItem(want_scores, i)->valuedouble));
    CHECK(rc == 0 && r.n_tasks == 1 && r.score[0] == want_mean && max_err == 0,
          "cider %s through the evaluation: %s mean %.9f, want %.9f; per query |err| %.2g",
          name, err, rc == 0 ? r.score[0] : NAN, want_mean, max_err);
    for (int i = 0; i < n; i++) free(ex[i].answers);
    free(ex);
    free(answers);
    free(per);
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
    /* to the last bit: pycocoevalcap's np.e ** x penalty and np.mean's pairwise sum */
    CHECK(mean == want_mean, "cider %s%s mean %.17g, want %.17g", name,
          from_raw ? " (raw)" : "", mean, want_mean);
    cJSON *ws = cJSON_GetObjectItem(set, "scores");
    double max_err = 0;
    for (int i = 0; i < n; i++) {
        double want = cJSON_GetArrayItem(ws, i)->valuedouble;
        double e = fabs(scores[i] - want);
        if (e > max_err) max_err = e;
        CHECK(e == 0, "cider %s image %d: %.17g, want %.17g", name, i, scores[i], want);
    }
    printf("cider %-16s %s n=%-3d mean %.6f (ref %.6f) max |err| %.2g\n", name,
           from_raw ? "raw" : "tok", n, mean, want_mean, max_err);
    if (from_raw) check_eval_captions(set, name, n, ws, want_mean);
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

/* ---- ROC-AUC ---- */

/* drum_roc_auc that must succeed; NaN (never a valid AUC) when it does not. */
static double roc(int n, const double *s, const int *y) {
    double auc = -1.0;
    char err[256] = "";
    int rc = drum_roc_auc(n, s, y, &auc, err, sizeof err);
    CHECK(rc == 0, "drum_roc_auc(n = %d) failed: %s", n, err);
    return rc == 0 ? auc : NAN;
}

/* The definition, pair by pair, O(n^2): P(positive > negative) + P(tie) / 2. */
static double roc_pairwise(int n, const double *s, const int *y) {
    long long u2 = 0, pos = 0, neg = 0;
    for (int i = 0; i < n; i++) {
        pos += y[i] == 1;
        neg += y[i] == 0;
        if (y[i] != 1) continue;
        for (int j = 0; j < n; j++)
            if (y[j] == 0) u2 += s[i] > s[j] ? 2 : s[i] == s[j] ? 1 : 0;
    }
    return (double)u2 / (2.0 * (double)pos * (double)neg);
}

/* n scores and n labels: 0, or -1 after a failed check with both NULL. */
static int alloc_scored(int n, double **s, int **y) {
    *s = malloc((size_t)(n > 0 ? n : 1) * sizeof **s);
    *y = malloc((size_t)(n > 0 ? n : 1) * sizeof **y);
    CHECK(*s && *y, "out of memory for %d scores", n);
    if (*s && *y) return 0;
    free(*s);
    free(*y);
    *s = NULL;
    *y = NULL;
    return -1;
}

/* Fisher-Yates over (score, label) pairs together. */
static void shuffle_scored(test_rng *rng, int n, double *s, int *y) {
    for (int i = n - 1; i > 0; i--) {
        int j = test_rng_int(rng, 0, i + 1);
        double ts = s[i];
        s[i] = s[j];
        s[j] = ts;
        int ty = y[i];
        y[i] = y[j];
        y[j] = ty;
    }
}

/* The checks every data set must pass: the pairwise definition, AUC(-s) = 1 - AUC(s), a
 * strictly increasing transform and a permutation change nothing. The transforms: 2s (exact
 * in floating point, so strictly increasing, unless it overflows) always; 3s + 7 and exp(s)
 * only when `grid` says the scores are k / levels * 4 - 2 for some levels <= 10^6 (these
 * transforms would round distinct neighbouring doubles together, and exp(s) to 1.0 near 0,
 * on arbitrary data). `what` names the data in failures. */
static void check_roc_invariances(const char *what, int n, const double *s, const int *y,
                                  double auc, int grid, test_rng *rng) {
    double *t = malloc((size_t)n * sizeof *t);
    double *ps = malloc((size_t)n * sizeof *ps);
    int *py = malloc((size_t)n * sizeof *py);
    CHECK(t && ps && py, "out of memory");
    if (!t || !ps || !py) goto done;
    if (n <= 4000) {
        double want = roc_pairwise(n, s, y);
        CHECK(auc == want, "%s: %.17g, pairwise definition %.17g", what, auc, want);
    }
    for (int i = 0; i < n; i++) t[i] = -s[i];
    double flipped = roc(n, t, y);
    CHECK(fabs(flipped - (1.0 - auc)) <= 1e-15, "%s: AUC(-s) = %.17g, 1 - AUC(s) = %.17g",
          what, flipped, 1.0 - auc);
    int big = 0;
    for (int i = 0; i < n; i++) big |= fabs(s[i]) > 1e307;
    if (!big) {
        for (int i = 0; i < n; i++) t[i] = 2.0 * s[i];
        double twice = roc(n, t, y);
        CHECK(twice == auc, "%s: AUC(2s) = %.17g, AUC(s) = %.17g", what, twice, auc);
    }
    if (grid) {
        for (int i = 0; i < n; i++) t[i] = 3.0 * s[i] + 7.0;
        double affine = roc(n, t, y);
        CHECK(affine == auc, "%s: AUC(3s + 7) = %.17g, AUC(s) = %.17g", what, affine, auc);
        for (int i = 0; i < n; i++) t[i] = exp(s[i]);
        double expo = roc(n, t, y);
        CHECK(expo == auc, "%s: AUC(exp(s)) = %.17g, AUC(s) = %.17g", what, expo, auc);
    }
    memcpy(ps, s, (size_t)n * sizeof *ps);
    memcpy(py, y, (size_t)n * sizeof *py);
    shuffle_scored(rng, n, ps, py);
    double perm = roc(n, ps, py);
    CHECK(perm == auc, "%s: permuted %.17g, in order %.17g", what, perm, auc);
done:
    free(t);
    free(ps);
    free(py);
}

/* The error drum_roc_auc must report for these inputs, as a substring of its message. */
static const char *roc_expected_error(int n, const double *s, const int *y, char *buf,
                                      size_t len) {
    int pos = 0;
    for (int i = 0; i < n; i++)
        if (y[i] != 0 && y[i] != 1) return "not 0 or 1";
    for (int i = 0; i < n; i++)
        if (!isfinite(s[i])) return "not finite";
    for (int i = 0; i < n; i++) pos += y[i];
    snprintf(buf, len, "only one class present in the labels (%d positives, %d negatives)", pos,
             n - pos);
    return buf;
}

static void check_roc_error(const char *what, int n, const double *s, const int *y) {
    char want_buf[128], err[256] = "";
    const char *want =
        n < 1 ? "need at least 1" : roc_expected_error(n, s, y, want_buf, sizeof want_buf);
    double auc = 0.25;
    int rc = drum_roc_auc(n, s, y, &auc, err, sizeof err);
    CHECK(rc == -1 && strstr(err, want) != NULL,
          "%s: rc %d, auc %g, message \"%s\", want -1 and \"%s\"", what, rc, auc, err, want);
}

static void test_roc_fixtures(void) {
    char *text = read_file(FIXTURES "roc_auc.jsonl");
    CHECK(text != NULL, "cannot read " FIXTURES "roc_auc.jsonl");
    if (!text) return;
    test_rng rng;
    test_rng_seed(&rng, 20261201);
    int n_auc = 0, n_err = 0, n_tied = 0, n_log = 0;
    double max_err = 0.0;
    /* probabilities_N is followed by log_probabilities_N, the same data through log(): a
     * strictly increasing transform of real P(yes) scores, so the AUCs must be identical. */
    char prob_name[64] = "";
    double prob_auc = NAN;
    char version[64] = "?";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *c = cJSON_Parse(line);
        CHECK(c != NULL, "bad fixture line: %.80s", line);
        if (!c) continue;
        const char *kind = cJSON_GetObjectItem(c, "kind")->valuestring;
        if (strcmp(kind, "meta") == 0) {
            snprintf(version, sizeof version, "%s", cJSON_GetObjectItem(c, "sklearn")->valuestring);
            cJSON_Delete(c);
            continue;
        }
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        cJSON *js = cJSON_GetObjectItem(c, "scores"), *jy = cJSON_GetObjectItem(c, "labels");
        int n = cJSON_GetArraySize(js);
        CHECK(n == cJSON_GetArraySize(jy), "%s: %d scores, %d labels", name, n,
              cJSON_GetArraySize(jy));
        double *s;
        int *y;
        alloc_scored(n, &s, &y);
        for (int i = 0; s && y && i < n; i++) {
            const char *str = cJSON_GetArrayItem(js, i)->valuestring;
            char *end;
            s[i] = strtod(str, &end);
            CHECK(*str && *end == '\0', "%s: score \"%s\" does not parse", name, str);
            y[i] = cJSON_GetArrayItem(jy, i)->valueint;
        }
        if (s && y && strcmp(kind, "auc") == 0) {
            double want = cJSON_GetObjectItem(c, "auc")->valuedouble;
            double got = roc(n, s, y);
            double e = fabs(got - want);
            if (e > max_err || e != e) max_err = e;
            CHECK(e <= 1e-12, "roc %s (n = %d): %.17g, sklearn %.17g", name, n, got, want);
            check_roc_invariances(name, n, s, y, got, 0, &rng);
            if (strncmp(name, "probabilities_", 14) == 0) {
                snprintf(prob_name, sizeof prob_name, "%s", name);
                prob_auc = got;
            } else if (strncmp(name, "log_", 4) == 0) {
                CHECK(strcmp(name + 4, prob_name) == 0 && got == prob_auc,
                      "roc %s: %.17g, but %s gave %.17g", name, got, prob_name, prob_auc);
                n_log++;
            }
            int distinct = 1;
            for (int i = 1; i < n && distinct; i++)
                for (int j = 0; j < i && distinct; j++) distinct = s[i] != s[j] || y[i] == y[j];
            n_tied += !distinct; /* a positive and a negative share a score */
            n_auc++;
        } else if (s && y) {
            check_roc_error(name, n, s, y);
            n_err++;
        }
        free(s);
        free(y);
        cJSON_Delete(c);
    }
    free(text);
    printf("roc: %d cases (%d with a positive and a negative tied, %d log-probability "
           "twins) vs sklearn %s, max |err| %.3g; %d error cases\n",
           n_auc, n_tied, n_log, version, max_err, n_err);
    CHECK(n_auc >= 40 && n_tied >= 10 && n_log >= 3 && n_err >= 7,
          "roc fixture too small: %d cases, %d tied, %d log twins, %d errors", n_auc, n_tied,
          n_log, n_err);
}

static void test_roc_direct(void) {
    /* Pairs (positive, negative): (0.35, 0.1) (0.35, 0.4) (0.8, 0.1) (0.8, 0.4): 3 of 4. */
    const double s1[4] = {0.1, 0.4, 0.35, 0.8};
    const int y1[4] = {0, 0, 1, 1};
    CHECK(roc(4, s1, y1) == 0.75, "sklearn's doc example: %.17g", roc(4, s1, y1));
    const double s2[2] = {0.5, 0.5};
    const int y2[2] = {1, 0};
    CHECK(roc(2, s2, y2) == 0.5, "one tied pair counts one half: %.17g", roc(2, s2, y2));
    /* Positive 0.5 beats 0.2 and ties 0.5 (1.5); positive 0.9 beats both (2): 3.5 / 4. */
    const double s3[4] = {0.2, 0.5, 0.5, 0.9};
    const int y3[4] = {0, 1, 0, 1};
    CHECK(roc(4, s3, y3) == 0.875, "half credit for the tie: %.17g", roc(4, s3, y3));
    /* Positives 2, 1, 3 against negatives 1, 2: (1 + 0.5) + (0.5 + 0) + 2 = 4 of 6. */
    const double s4[5] = {2, 1, 2, 1, 3};
    const int y4[5] = {1, 0, 0, 1, 1};
    CHECK(roc(5, s4, y4) == 2.0 / 3.0, "two tied groups: %.17g", roc(5, s4, y4));
    /* -0.0 == 0.0: a tie, as in numpy, whichever the positive is. */
    const double s5[4] = {-0.0, 0.0, 0.0, -0.0};
    const int y5[4] = {1, 0, 1, 0};
    CHECK(roc(2, s5, y5) == 0.5 && roc(2, s5 + 2, y5 + 2) == 0.5, "-0.0 and 0.0 tie: %g %g",
          roc(2, s5, y5), roc(2, s5 + 2, y5 + 2));
    const double s6[3] = {-1e300, 5e-324, 1e300};
    const int y6[3] = {0, 1, 0};
    CHECK(roc(3, s6, y6) == 0.5, "extreme finite scores are ordinary: %.17g", roc(3, s6, y6));
    const int y7[3] = {1, 0, 0};
    CHECK(roc(3, s6, y7) == 0.0, "lowest positive: %.17g", roc(3, s6, y7));

    /* Errors. */
    const double bad_nan[3] = {0.1, NAN, 0.3}, bad_inf[3] = {0.1, 0.2, INFINITY},
                 bad_ninf[3] = {-INFINITY, 0.2, 0.3};
    const int y01[3] = {0, 1, 0}, y02[3] = {0, 2, 0}, ym1[3] = {-1, 1, 0}, yall1[3] = {1, 1, 1},
              yall0[3] = {0, 0, 0};
    const double ok3[3] = {0.1, 0.2, 0.3};
    check_roc_error("n = 0", 0, ok3, y01);
    check_roc_error("n = -3", -3, ok3, y01);
    check_roc_error("label 2", 3, ok3, y02);
    check_roc_error("label -1", 3, ok3, ym1);
    check_roc_error("NaN score", 3, bad_nan, y01);
    check_roc_error("inf score", 3, bad_inf, y01);
    check_roc_error("-inf score", 3, bad_ninf, y01);
    check_roc_error("positives only", 3, ok3, yall1);
    check_roc_error("negatives only", 3, ok3, yall0);
    check_roc_error("one example", 1, ok3, y01 + 1);
    char err[256] = "";
    double auc;
    CHECK(drum_roc_auc(3, NULL, y01, &auc, err, sizeof err) == -1 && err[0],
          "NULL scores must fail: \"%s\"", err);
    CHECK(drum_roc_auc(3, ok3, y01, &auc, NULL, 0) == 0 && auc == 0.5,
          "err may be NULL: %.17g", auc);

    /* Random data with many ties, small n: the invariances and the pairwise definition. */
    test_rng rng;
    test_rng_seed(&rng, 7);
    for (int trial = 0; trial < 40; trial++) {
        int n = test_rng_int(&rng, 2, 300);
        int levels = trial % 4 == 0 ? 1000000 : test_rng_int(&rng, 2, 20);
        double *s;
        int *y;
        if (alloc_scored(n, &s, &y)) return;
        for (int i = 0; i < n; i++) {
            y[i] = i < 2 ? i : (int)(test_rng_u32(&rng) % 3 == 0);
            /* The label shifts the score up by a few levels, so AUCs spread over (0.5, 1). */
            int lvl = test_rng_int(&rng, 0, levels) + y[i] * (levels / 4);
            s[i] = (double)lvl / (double)levels * 4.0 - 2.0;
        }
        char what[64];
        snprintf(what, sizeof what, "random trial %d (n = %d, %d levels)", trial, n, levels);
        check_roc_invariances(what, n, s, y, roc(n, s, y), 1, &rng);
        free(s);
        free(y);
    }
}

/* n = 10^6: pos * neg > 2^31 (int products would overflow); groups of 4 tied scores, each
 * with 0 to 4 positives, shuffled so that the sort does the work. The expected value is
 * counted group by group, without sorting. */
static void test_roc_large(void) {
    const int n = 1000000, groups = n / 4;
    double *s;
    int *y;
    if (alloc_scored(n, &s, &y)) return;
    unsigned long long u2 = 0, neg_below = 0, pos = 0;
    for (int g = 0; g < groups; g++) {
        /* Positives in this group: 0..2 cycling, 2..4 in the upper half of the scores. */
        int k = g % 3 + (g >= groups / 2 ? 2 : 0);
        for (int j = 0; j < 4; j++) {
            s[4 * g + j] = (double)g * 0.25 - 1000.0;
            y[4 * g + j] = j < k;
        }
        u2 += (unsigned long long)k * (2 * neg_below + (unsigned long long)(4 - k));
        neg_below += (unsigned long long)(4 - k);
        pos += (unsigned long long)k;
    }
    double want = (double)u2 / (2.0 * (double)pos * (double)neg_below);
    test_rng rng;
    test_rng_seed(&rng, 11);
    shuffle_scored(&rng, n, s, y);
    double got = roc(n, s, y);
    CHECK(got == want, "n = 10^6 in tied groups: %.17g, want %.17g", got, want);
    CHECK(pos * neg_below > 2147483647ULL, "the large case must overflow an int: %llu",
          pos * neg_below);
    for (int i = 0; i < n; i++) s[i] = 0.125;
    got = roc(n, s, y);
    CHECK(got == 0.5, "n = 10^6 all tied: %.17g", got);
    for (int i = 0; i < n; i++) s[i] = y[i] ? 1.0 + i * 1e-6 : -(double)i; /* separated */
    got = roc(n, s, y);
    CHECK(got == 1.0, "n = 10^6 separated: %.17g", got);
    printf("roc: n = 10^6, %llu positives, AUC %.12f\n", pos, want);
    free(s);
    free(y);
}

int main(void) {
    test_vqa_fixtures();
    test_vqa_direct();
    test_cls();
    test_ptb_fixtures();
    test_ptb_direct();
    test_cider_fixtures();
    test_cider_errors();
    test_roc_fixtures();
    test_roc_direct();
    test_roc_large();
    return check_summary();
}

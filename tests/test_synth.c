/* test_synth — the demo benchmark generator: byte-identical output for a seed, different
 * output for another seed, files the dataset loader accepts with the configured counts,
 * images of the right size, a CLIP tokenizer that makes every corpus word one token
 * (checked by an independent BPE replay), and the configuration errors. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/data.h"
#include "drum/fileio.h"
#include "drum/synth.h"
#include "data/synth_world.h"

/* A private copy of stb_image (static, so it cannot clash with the library's); GCC reports
 * unused static functions at the end of the file, so that warning stays off. */
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

static char tmpdir[256];

static void small_config(drum_synth_config *c, uint64_t seed) {
    drum_synth_default_config(c);
    c->seed = seed;
    c->image_size = 40;
    c->n_train[0] = 61; /* odd: the last VQA image gets one question */
    c->n_train[1] = 20;
    c->n_train[2] = 15;
    c->n_eval[0] = 20;
    c->n_eval[1] = 8;
    c->n_eval[2] = 6;
}

static char *file_in(const char *dir, const char *name) {
    return drum_path_join(dir, name);
}

/* 1 when both files exist and hold the same bytes. */
static int same_file(const char *a, const char *b) {
    char err[256];
    size_t na = 0, nb = 0;
    char *x = drum_read_file(a, &na, err, sizeof err), *y = drum_read_file(b, &nb, err, sizeof err);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static const char *const outputs[] = {"train.jsonl", "eval.jsonl",  "meta.jsonl", "captions.jsonl",
                                      "vocab.json",  "merges.txt", "synth.json"};

static void test_determinism(const char *a, const char *b, const char *c) {
    int n_img = 0;
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        char *fa = file_in(a, outputs[i]), *fb = file_in(b, outputs[i]);
        CHECK(same_file(fa, fb), "%s differs between two runs with the same seed", outputs[i]);
        free(fa);
        free(fb);
    }
    for (int i = 0;; i++, n_img++) {
        char name[64];
        snprintf(name, sizeof name, "images/img-%05d.png", i);
        char *fa = file_in(a, name), *fb = file_in(b, name);
        FILE *f = fopen(fa, "rb");
        if (f) fclose(f);
        int same = f && same_file(fa, fb);
        free(fa);
        free(fb);
        if (!f) break;
        CHECK(same, "%s differs between two runs with the same seed", name);
    }
    /* 31 VQA images (2 questions each, the last 1) + 20 + 15 train, 10 + 8 + 6 eval. */
    CHECK(n_img == 31 + 20 + 15 + 10 + 8 + 6, "%d images", n_img);
    char *ta = file_in(a, "train.jsonl"), *tc = file_in(c, "train.jsonl");
    char *ia = file_in(a, "images/img-00003.png"), *ic = file_in(c, "images/img-00003.png");
    CHECK(!same_file(ta, tc), "another seed gives the same train.jsonl");
    CHECK(!same_file(ia, ic), "another seed gives the same image");
    free(ta);
    free(tc);
    free(ia);
    free(ic);
}

/* A generation stopped part way (here eval.jsonl cannot be written: a directory holds its
 * name) leaves no synth.json, even over a whole suite's: a job then generates it again. */
static void test_stopped_part_way(const char *dir, const char *whole,
                                  const drum_synth_config *cfg) {
    char err[512] = "";
    char *eval = file_in(dir, "eval.jsonl"), *config = file_in(dir, "synth.json");
    char *inside = file_in(eval, "x"), *want = file_in(whole, "synth.json");
    CHECK(access(config, F_OK) == 0, "%s missing before the test", config);
    FILE *f = NULL;
    if (unlink(eval) == 0 && mkdir(eval, 0777) == 0) f = fopen(inside, "w");
    if (f) fclose(f);
    CHECK(f != NULL, "cannot put a directory at %s", eval);
    int rc = drum_synth_generate(cfg, dir, NULL, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "eval.jsonl") && access(config, F_OK) != 0,
          "a generation that cannot write eval.jsonl: rc %d, %s, synth.json %s", rc, err,
          access(config, F_OK) == 0 ? "left" : "gone");
    unlink(inside);
    rmdir(eval);
    rc = drum_synth_generate(cfg, dir, NULL, err, sizeof err);
    CHECK(rc == 0 && same_file(config, want), "generating again: %s", err);
    free(eval);
    free(config);
    free(inside);
    free(want);
}

static int count_images(const char *dir) {
    int n = 0;
    for (;; n++) {
        char name[64];
        snprintf(name, sizeof name, "images/img-%05d.png", n);
        char *path = file_in(dir, name);
        int there = path && access(path, F_OK) == 0;
        free(path);
        if (!there) return n;
    }
}

/* A progress that records the image counts it hears and says stop at its stop_at-th ask. */
typedef struct {
    long done[64], total;
    int n, asks, stop_at, monotone;
} heard;

static void heard_update(void *user, const char *stage, long done, long total, const char *note) {
    heard *h = user;
    h->monotone &= h->n == 0 || done >= h->done[h->n - 1];
    if (h->n < 64) h->done[h->n++] = done;
    h->total = total;
}

static int heard_stop(void *user) {
    heard *h = user;
    return ++h->asks == h->stop_at;
}

/* Generation reports the images made, every 256, from 0 to all of them (the total known at
 * the start), and a stop between images leaves the suite without synth.json (not whole). */
static void test_progress_and_stop(const char *dir, const drum_synth_config *cfg) {
    char err[512] = "";
    drum_synth_config big = *cfg;
    big.n_train[DRUM_SYNTH_CLS] = 600; /* 600 more images: the report every 256 shows */
    heard h = {.monotone = 1};
    drum_progress p = {.update = heard_update, .user = &h, .stop = heard_stop, .stop_user = &h};
    int rc = drum_synth_generate(&big, dir, &p, err, sizeof err);
    int images = count_images(dir);
    CHECK(rc == 0 && h.n >= 3 && h.done[0] == 0 && h.done[h.n - 1] == images &&
              h.total == images && h.monotone,
          "progress: rc %d (%s), %d reports from %ld to %ld of %ld, %d images", rc, err, h.n,
          h.n ? h.done[0] : -1, h.n ? h.done[h.n - 1] : -1, h.total, images);
    heard s = {.monotone = 1, .stop_at = 2};
    p.user = p.stop_user = &s;
    char *config = file_in(dir, "synth.json");
    rc = drum_synth_generate(&big, dir, &p, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "stopped (a signal) before the rest of the synthetic suite") &&
              access(config, F_OK) != 0 && s.done[s.n - 1] == 256,
          "a stop at the second check (256 images): rc %d, %s, synth.json %s", rc, err,
          access(config, F_OK) == 0 ? "left" : "gone");
    free(config);
}

/* A smaller suite generated over a larger one leaves none of the larger one's images. */
static void test_smaller_over(const char *dir) {
    char err[512] = "";
    drum_synth_config small;
    small_config(&small, 9);
    small.n_train[0] = 10;
    small.n_eval[0] = 4;
    int before = count_images(dir);
    CHECK(drum_synth_generate(&small, dir, NULL, err, sizeof err) == 0, "generate: %s", err);
    /* 5 VQA images (2 questions each) + 20 + 15 train, 2 + 8 + 6 eval */
    int after = count_images(dir);
    char name[64];
    snprintf(name, sizeof name, "images/img-%05d.png", before - 1);
    char *last = file_in(dir, name);
    CHECK(after == 5 + 20 + 15 + 2 + 8 + 6 && access(last, F_OK) != 0,
          "%d images before, %d after (want %d), the old last %s", before, after,
          5 + 20 + 15 + 2 + 8 + 6, access(last, F_OK) == 0 ? "still there" : "gone");
    free(last);
}

static void test_files(const char *dir, const drum_synth_config *cfg) {
    char err[512] = "";
    drum_dataset tr, ev;
    char *pt = file_in(dir, "train.jsonl"), *pe = file_in(dir, "eval.jsonl");
    int rt = drum_dataset_load(&tr, pt, err, sizeof err);
    CHECK(rt == 0, "train.jsonl: %s", err);
    int re = drum_dataset_load(&ev, pe, err, sizeof err);
    CHECK(re == 0, "eval.jsonl: %s", err);
    free(pt);
    free(pe);
    if (rt || re) return;
    static const char *const tasks[3] = {"vqa", "cls", "caption"};
    for (int s = 0; s < 2; s++) {
        drum_dataset *d = s ? &ev : &tr;
        const int *want = s ? cfg->n_eval : cfg->n_train;
        int count[3] = {0}, bad_split = 0, bad_answers = 0, bad_image = 0, bad_text = 0;
        for (int i = 0; i < d->n; i++) {
            const drum_example *e = &d->ex[i];
            int t = 0;
            while (t < 3 && strcmp(e->task, tasks[t]) != 0) t++;
            if (t == 3) continue;
            count[t]++;
            bad_split += !e->split || strcmp(e->split, s ? "eval" : "train") != 0;
            int want_answers = t == 0 ? cfg->n_answers : t == 2 ? cfg->n_refs : 0;
            bad_answers += e->n_answers != want_answers;
            if (t == 2 && e->n_answers) bad_answers += strcmp(e->response, e->answers[0]) != 0;
            if (t == 0 && e->n_answers) bad_answers += strcmp(e->response, e->answers[0]) != 0;
            bad_text += !e->prompt[0] || !e->response[0];
            int w = 0, h = 0, comp = 0;
            if (!stbi_info(e->image, &w, &h, &comp) || w != cfg->image_size ||
                h != cfg->image_size || comp != 3)
                bad_image++;
        }
        for (int t = 0; t < 3; t++)
            CHECK(count[t] == want[t], "%s %s: %d examples, want %d", s ? "eval" : "train",
                  tasks[t], count[t], want[t]);
        CHECK(count[0] + count[1] + count[2] == d->n, "unknown tasks");
        CHECK(bad_split == 0, "%d examples with a wrong split", bad_split);
        CHECK(bad_answers == 0, "%d examples with wrong answers/references", bad_answers);
        CHECK(bad_image == 0, "%d images missing or not %dx%d RGB", bad_image, cfg->image_size,
              cfg->image_size);
        CHECK(bad_text == 0, "%d empty prompts or responses", bad_text);
    }
    /* Images have content: objects and noise, not one flat colour. */
    int w, h, comp;
    unsigned char *px = stbi_load(tr.ex[0].image, &w, &h, &comp, 3);
    CHECK(px != NULL, "decode %s", tr.ex[0].image);
    if (px) {
        int lo = 255, hi = 0;
        for (int i = 0; i < w * h * 3; i++) {
            if (px[i] < lo) lo = px[i];
            if (px[i] > hi) hi = px[i];
        }
        CHECK(hi - lo > 60, "flat image (range %d..%d)", lo, hi);
        stbi_image_free(px);
    }
    /* meta.jsonl: one line per example, same ids, and the hidden attributes. */
    char *pm = file_in(dir, "meta.jsonl");
    char *meta = drum_read_file(pm, NULL, err, sizeof err);
    CHECK(meta != NULL, "meta.jsonl: %s", err);
    int lines = 0, unknown = 0, no_scene = 0;
    for (char *line = meta ? strtok(meta, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scene");
        lines++;
        if (!cJSON_IsString(id) || (drum_dataset_find(&tr, id->valuestring) < 0 &&
                                    drum_dataset_find(&ev, id->valuestring) < 0))
            unknown++;
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(sc, "objects"))) no_scene++;
        cJSON_Delete(o);
    }
    CHECK(lines == tr.n + ev.n, "meta.jsonl has %d lines for %d examples", lines, tr.n + ev.n);
    CHECK(unknown == 0 && no_scene == 0, "meta: %d unknown ids, %d without a scene", unknown,
          no_scene);
    free(meta);
    free(pm);
    /* captions.jsonl: one caption per train image, images that exist. */
    char *pc = file_in(dir, "captions.jsonl");
    char *caps = drum_read_file(pc, NULL, err, sizeof err);
    int n_caps = 0, bad_caps = 0;
    for (char *line = caps ? strtok(caps, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *img = cJSON_GetObjectItemCaseSensitive(o, "image");
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(o, "caption");
        n_caps++;
        char *ip = cJSON_IsString(img) ? file_in(dir, img->valuestring) : NULL;
        int w2, h2, c2;
        if (!ip || !stbi_info(ip, &w2, &h2, &c2) || !cJSON_IsString(cap) || !cap->valuestring[0])
            bad_caps++;
        free(ip);
        cJSON_Delete(o);
    }
    CHECK(n_caps == 31 + 20 + 15, "%d pre-training captions", n_caps);
    CHECK(bad_caps == 0, "%d bad caption lines", bad_caps);
    free(caps);
    free(pc);
    drum_dataset_free(&tr);
    drum_dataset_free(&ev);
}

/* ---- an independent replay of CLIP's BPE over the written files --------------------- */

typedef struct {
    char **a, **b; /* merge pairs in rank order */
    int n;
} merges_t;

static int rank_of(const merges_t *m, const char *a, const char *b) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->a[i], a) == 0 && strcmp(m->b[i], b) == 0) return i;
    return -1;
}

/* The bytes_to_unicode symbol of byte b, UTF-8. */
static void byte_symbol(int b, char *out) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int x = 0; x < b; x++)
            n += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255));
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* Number of tokens CLIP's BPE makes of word. */
static int bpe_count(const merges_t *m, const char *word) {
    char sym[64][160];
    int n = 0, len = (int)strlen(word);
    for (int i = 0; i < len && n < 64; i++) {
        byte_symbol((unsigned char)word[i], sym[n]);
        if (i == len - 1) strcat(sym[n], "</w>");
        n++;
    }
    for (;;) {
        int best = -1, bi = -1;
        for (int i = 0; i + 1 < n; i++) {
            int r = rank_of(m, sym[i], sym[i + 1]);
            if (r >= 0 && (best < 0 || r < best)) best = r, bi = i;
        }
        if (best < 0) break;
        char first[80], second[80];
        snprintf(first, sizeof first, "%s", sym[bi]);
        snprintf(second, sizeof second, "%s", sym[bi + 1]);
        int w = 0;
        for (int i = 0; i < n;) {
            if (i + 1 < n && strcmp(sym[i], first) == 0 && strcmp(sym[i + 1], second) == 0) {
                snprintf(sym[w++], sizeof sym[0], "%s%s", first, second);
                i += 2;
            } else {
                if (w != i) memcpy(sym[w], sym[i], sizeof sym[0]);
                w++;
                i++;
            }
        }
        n = w;
    }
    return n;
}

static void test_tokenizer(const char *dir) {
    char err[256];
    char *pv = file_in(dir, "vocab.json"), *pm = file_in(dir, "merges.txt");
    char *vtext = drum_read_file(pv, NULL, err, sizeof err);
    char *mtext = drum_read_file(pm, NULL, err, sizeof err);
    cJSON *vocab = vtext ? cJSON_Parse(vtext) : NULL;
    CHECK(cJSON_IsObject(vocab), "vocab.json is not a JSON object");
    CHECK(mtext && strncmp(mtext, "#version: 0.2\n", 14) == 0, "merges.txt header");
    if (!cJSON_IsObject(vocab) || !mtext) goto done;
    int nv = cJSON_GetArraySize(vocab);
    char *seen = calloc((size_t)nv, 1);
    int bad_ids = 0, i = 0;
    for (const cJSON *it = vocab->child; it; it = it->next, i++) {
        int id = cJSON_IsNumber(it) ? it->valueint : -1;
        if (id != i || seen[id]) bad_ids++;
        else seen[id] = 1;
    }
    free(seen);
    CHECK(bad_ids == 0, "%d vocabulary ids out of order", bad_ids);
    const cJSON *bos = cJSON_GetObjectItemCaseSensitive(vocab, "<|startoftext|>");
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(vocab, "<|endoftext|>");
    CHECK(bos && eos && bos->valueint == nv - 2 && eos->valueint == nv - 1, "special tokens");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(vocab, "!");
    /* The space byte maps to U+0120, after the 188 printable bytes: 220 (as in GPT-2). */
    const cJSON *space = cJSON_GetObjectItemCaseSensitive(vocab, "\xc4\xa0</w>");
    CHECK(first && first->valueint == 0 && space && space->valueint == 256 + 188 + 32,
          "byte symbols in bytes_to_unicode order");

    merges_t m = {0};
    int lines = 0;
    for (char *p = mtext; *p; p++) lines += *p == '\n';
    m.a = calloc((size_t)lines + 1, sizeof(char *));
    m.b = calloc((size_t)lines + 1, sizeof(char *));
    int bad_merges = 0;
    char *save = NULL;
    strtok_r(mtext, "\n", &save); /* header */
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp || strchr(sp + 1, ' ')) {
            bad_merges++;
            continue;
        }
        *sp = 0;
        m.a[m.n] = line;
        m.b[m.n] = sp + 1;
        char joined[256];
        snprintf(joined, sizeof joined, "%s%s", line, sp + 1);
        if (!cJSON_GetObjectItemCaseSensitive(vocab, line) ||
            !cJSON_GetObjectItemCaseSensitive(vocab, sp + 1) ||
            !cJSON_GetObjectItemCaseSensitive(vocab, joined))
            bad_merges++;
        m.n++;
    }
    CHECK(bad_merges == 0 && m.n > 50, "%d bad merges of %d", bad_merges, m.n);

    /* Every word of every text (CLIP's pre-tokenizer on the lowercased text) is a vocabulary
     * entry with </w> and BPE makes it one token. */
    int words = 0, missing = 0, split = 0;
    static const char *const files[] = {"train.jsonl", "eval.jsonl", "captions.jsonl"};
    for (int f = 0; f < 3; f++) {
        char *p = file_in(dir, files[f]);
        char *text = drum_read_file(p, NULL, err, sizeof err);
        free(p);
        for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
            cJSON *o = cJSON_Parse(line);
            for (const cJSON *it = o ? o->child : NULL; it; it = it->next) {
                if (!strcmp(it->string, "id") || !strcmp(it->string, "image") ||
                    !strcmp(it->string, "task") || !strcmp(it->string, "split"))
                    continue;
                const cJSON *v = cJSON_IsArray(it) ? it->child : it;
                for (; v; v = cJSON_IsArray(it) ? v->next : NULL) {
                    const char *s = v->valuestring;
                    for (size_t k = 0; s && s[k];) {
                        unsigned char ch = (unsigned char)s[k];
                        size_t e = k + 1;
                        if (isspace(ch)) {
                            k++;
                            continue;
                        }
                        if (isalpha(ch)) {
                            while (s[e] && isalpha((unsigned char)s[e])) e++;
                        } else if (!isdigit(ch)) {
                            while (s[e] && !isspace((unsigned char)s[e]) &&
                                   !isalnum((unsigned char)s[e]))
                                e++;
                        }
                        char word[64];
                        int wl = (int)(e - k) < 60 ? (int)(e - k) : 59;
                        for (int q = 0; q < wl; q++)
                            word[q] = (char)tolower((unsigned char)s[k + q]);
                        word[wl] = 0;
                        char key[80];
                        snprintf(key, sizeof key, "%s</w>", word);
                        words++;
                        if (!cJSON_GetObjectItemCaseSensitive(vocab, key)) missing++;
                        else if (bpe_count(&m, word) != 1) split++;
                        k = e;
                    }
                }
            }
            cJSON_Delete(o);
        }
        free(text);
    }
    CHECK(words > 1000, "only %d words checked", words);
    CHECK(missing == 0, "%d corpus words missing from vocab.json", missing);
    CHECK(split == 0, "%d corpus words that BPE splits into several tokens", split);
    free(m.a);
    free(m.b);
done:
    cJSON_Delete(vocab);
    free(vtext);
    free(mtext);
    free(pv);
    free(pm);
}

static void test_bpe_direct(void) {
    char err[256] = "";
    char *pv = file_in(tmpdir, "v.json"), *pm = file_in(tmpdir, "m.txt");
    const char *texts[] = {"abc abd ab a", "xxxy xxy xy", "Hello, world!! 42"};
    CHECK(drum_bpe_write_tokenizer(texts, 3, pv, pm, err, sizeof err) == 0, "bpe: %s", err);
    char *v = drum_read_file(pv, NULL, err, sizeof err);
    cJSON *vocab = v ? cJSON_Parse(v) : NULL;
    static const char *const want[] = {"abc</w>", "abd</w>", "ab</w>", "a</w>", "xxxy</w>",
                                       "xxy</w>", "xy</w>", "hello</w>", "world</w>",
                                       ",</w>", "!!</w>", "4</w>", "2</w>"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(cJSON_GetObjectItemCaseSensitive(vocab, want[i]) != NULL, "%s missing", want[i]);
    CHECK(cJSON_GetObjectItemCaseSensitive(vocab, "42</w>") == NULL, "digits are single");
    cJSON_Delete(vocab);
    free(v);
    char *bad = file_in(tmpdir, "no-such-dir/v.json");
    CHECK(drum_bpe_write_tokenizer(texts, 3, bad, pm, err, sizeof err) == -1, "bad path");
    CHECK(strstr(err, "no-such-dir") != NULL, "error names the file: %s", err);
    free(bad);
    free(pv);
    free(pm);
}

static void test_totals(void) {
    drum_synth_config c, d;
    drum_synth_default_config(&c);
    drum_synth_default_config(&d);
    drum_synth_set_totals(&c, 1200, 300);
    CHECK(memcmp(&c, &d, sizeof c) == 0, "totals 1200/300 differ from the defaults");
    drum_synth_set_totals(&c, 601, 7);
    CHECK(c.n_train[0] == 361 && c.n_train[1] == 120 && c.n_train[2] == 120, "601: %d %d %d",
          c.n_train[0], c.n_train[1], c.n_train[2]);
    CHECK(c.n_eval[0] == 5 && c.n_eval[1] == 1 && c.n_eval[2] == 1, "7: %d %d %d", c.n_eval[0],
          c.n_eval[1], c.n_eval[2]);
}

/* 1 when some caption of captions.jsonl names a colour. */
static int captions_name_colours(const char *dir, int *n_captions) {
    char *path = file_in(dir, "captions.jsonl"), err[256];
    size_t n = 0;
    char *s = drum_read_file(path, &n, err, sizeof err);
    int found = 0;
    *n_captions = 0;
    for (char *line = s; s && line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        cJSON *o = cJSON_ParseWithOpts(line, NULL, 0);
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(o, "caption");
        if (cJSON_IsString(cap)) {
            (*n_captions)++;
            for (int c = 0; c < SW_COLORS; c++) found |= strstr(cap->valuestring, sw_color_names[c]) != NULL;
        }
        cJSON_Delete(o);
    }
    free(s);
    free(path);
    return found;
}

/* synth.n_pretrain and shape_captions: extra caption-only images after every split image,
 * train and eval untouched; with shape_captions 1 no pre-training caption names a colour. */
static void test_pretrain_images(const char *plain_dir) {
    drum_synth_config c;
    small_config(&c, 7); /* the configuration of plain_dir */
    c.n_pretrain = 12;
    c.shape_captions = 1.0f;
    char *dir = file_in(tmpdir, "pretrain"), err[512] = "";
    CHECK(drum_synth_generate(&c, dir, NULL, err, sizeof err) == 0, "generate: %s", err);
    const char *same[] = {"train.jsonl", "eval.jsonl", "meta.jsonl"};
    for (int i = 0; i < 3; i++) {
        char *a = file_in(plain_dir, same[i]), *b = file_in(dir, same[i]);
        CHECK(same_file(a, b), "%s changed with n_pretrain", same[i]);
        free(a);
        free(b);
    }
    char *pc = file_in(plain_dir, "captions.jsonl"), *xc = file_in(dir, "captions.jsonl");
    long plain = test_count_lines(pc), extra = test_count_lines(xc);
    /* train images: 31 VQA + 20 + 15; the 12 pre-training images are numbered after the 90
     * train and eval images */
    CHECK(plain == 66 && extra == 66 + 12, "captions: %ld plain, %ld with 12 pre-training images",
          plain, extra);
    char *last = file_in(dir, "images/img-00101.png"), *beyond = file_in(dir, "images/img-00102.png");
    FILE *f = fopen(last, "rb"), *g = fopen(beyond, "rb");
    CHECK(f && !g, "pre-training images are img-00090..img-00101");
    if (f) fclose(f);
    if (g) fclose(g);
    int n_plain = 0, n_shape = 0;
    CHECK(captions_name_colours(plain_dir, &n_plain), "plain captions name no colour");
    CHECK(!captions_name_colours(dir, &n_shape) && n_shape == 78,
          "shape_captions 1: %d captions, some naming a colour", n_shape);
    free(pc);
    free(xc);
    free(last);
    free(beyond);
    free(dir);
}

/* The grid layout puts every object, of every shape and size, inside its cell of a 5 x 5
 * grid (what makes it visible to one ViT patch); the free layout does not. "Inside": every
 * pixel the object covers by more than half (darker than halfway between the grey
 * background and the black object; the largest object at its largest jitter reaches 0.6
 * pixel over the cell edge, which covers no pixel by more than half). */
static void test_grid_layout(void) {
    enum { SIDE = 80 };
    static unsigned char rgb[SIDE * SIDE * 3];
    /* the cell of each position: left, right, top, bottom, center */
    static const int cell[SW_POSITIONS][2] = {{0, 2}, {4, 2}, {2, 0}, {2, 4}, {2, 2}};
    int outside[2] = {0, 0}, half = 0;
    for (int c = 0; c < 3; c++) half += sw_background_rgb[0][c];
    half /= 2; /* the black object is within 3 x 16 of 0 */
    for (int grid = 0; grid < 2; grid++)
        for (int pos = 0; pos < SW_POSITIONS; pos++)
            for (int shape = 0; shape < SW_SHAPES; shape++)
                for (int size = 0; size < SW_SIZES; size++)
                    for (int seed = 0; seed < 4; seed++) {
                        sw_scene s = {.n = 1, .bg = {0, 0}, .gradient = 0, .stripes = 0, .noise = 0};
                        s.obj[0] = (sw_object){shape, 7 /* black */, size, pos};
                        sw_render(&s, (uint64_t)seed * 977 + 1, SIDE, grid, rgb);
                        int ink = 0;
                        for (int y = 0; y < SIDE; y++)
                            for (int x = 0; x < SIDE; x++) {
                                const unsigned char *px = rgb + 3 * (y * SIDE + x);
                                if (px[0] + px[1] + px[2] >= half) continue;
                                ink++;
                                outside[grid] += x / (SIDE / 5) != cell[pos][0] || y / (SIDE / 5) != cell[pos][1];
                            }
                        CHECK(ink > 0, "layout %d: nothing drawn for shape %d at %d", grid, shape, pos);
                    }
    CHECK(outside[1] == 0, "grid layout: %d object pixels outside their cell", outside[1]);
    CHECK(outside[0] > 0, "free layout: every object inside a grid cell (the test cannot tell)");
}

static void test_config_errors(void) {
    char err[256] = "";
    drum_synth_config c;
    char *out = file_in(tmpdir, "bad");
    struct {
        int field, value;
        const char *what;
    } cases[] = {{0, 8, "image_size"},      {0, 1000, "image_size"}, {1, 0, "n_answers"},
                 {2, 0, "n_refs"},          {3, 6, "questions_per_image"},
                 {4, -1, "example counts"}, {5, -1, "n_pretrain"}, {6, 2, "shape_captions"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        drum_synth_default_config(&c);
        switch (cases[i].field) {
        case 0: c.image_size = cases[i].value; break;
        case 1: c.n_answers = cases[i].value; break;
        case 2: c.n_refs = cases[i].value; break;
        case 3: c.questions_per_image = cases[i].value; break;
        case 5: c.n_pretrain = cases[i].value; break;
        case 6: c.shape_captions = (float)cases[i].value; break;
        default: c.n_eval[1] = cases[i].value; break;
        }
        err[0] = 0;
        CHECK(drum_synth_generate(&c, out, NULL, err, sizeof err) == -1, "accepted bad %s",
              cases[i].what);
        CHECK(strstr(err, cases[i].what) != NULL, "message \"%s\" lacks %s", err, cases[i].what);
    }
    /* An output directory under a regular file cannot be created. */
    char *file = file_in(tmpdir, "plainfile");
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    char *under = file_in(file, "out");
    small_config(&c, 1);
    CHECK(drum_synth_generate(&c, under, NULL, err, sizeof err) == -1, "wrote under a file");
    CHECK(strstr(err, "plainfile") != NULL, "message names the path: %s", err);
    free(under);
    free(file);
    free(out);
}

/* The hashes pinned: FNV-1a's published vectors, and the id hash the simulator's per-pair
 * draws are made of (its historic start, DRUM_STR_HASH_INIT): a change to either changes
 * every demo result, which no other check compares with a fixed value. */
static void test_hashes(void) {
    CHECK(drum_fnv1a("a", 1, DRUM_FNV1A_INIT) == 0xaf63dc4c8601ec8cULL &&
              drum_fnv1a("foobar", 6, DRUM_FNV1A_INIT) == 0x85944171f73967e8ULL,
          "FNV-1a test vectors");
    CHECK(drum_fnv1a("bar", 3, drum_fnv1a("foo", 3, DRUM_FNV1A_INIT)) == 0x85944171f73967e8ULL,
          "FNV-1a continued over two pieces");
    CHECK(drum_str_hash("q-00017") == 0xeee91a5c21ddaeebULL, "drum_str_hash: %016llx",
          (unsigned long long)drum_str_hash("q-00017"));
}

int main(void) {
    test_hashes();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/drum_test_synth_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return check_summary();
    }
    char err[512] = "";
    drum_synth_config cfg, other;
    small_config(&cfg, 7);
    small_config(&other, 8);
    char *a = file_in(tmpdir, "a"), *b = file_in(tmpdir, "b/nested"), *c = file_in(tmpdir, "c");
    int ok = drum_synth_generate(&cfg, a, NULL, err, sizeof err) == 0;
    CHECK(ok, "generate: %s", err);
    ok = ok && drum_synth_generate(&cfg, b, NULL, err, sizeof err) == 0;
    ok = ok && drum_synth_generate(&other, c, NULL, err, sizeof err) == 0;
    CHECK(ok, "generate: %s", err);
    if (ok) {
        test_determinism(a, b, c);
        test_files(a, &cfg);
        test_tokenizer(a);
        test_pretrain_images(a);
        test_stopped_part_way(b, a, &cfg);
        test_smaller_over(c);
        test_progress_and_stop(c, &cfg);
    }
    test_grid_layout();
    test_bpe_direct();
    test_totals();
    test_config_errors();
    free(a);
    free(b);
    free(c);
    CHECK(test_remove_tree(tmpdir) == 0, "cleanup of %s", tmpdir);
    return check_summary();
}

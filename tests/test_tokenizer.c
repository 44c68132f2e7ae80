/* test_tokenizer — the CLIP tokenizer against Hugging Face CLIPTokenizer outputs.
 *
 * Fixtures: tests/fixtures/tokenizer/ (regenerate: /work/venv/bin/python
 * tools/gen_tokenizer_fixtures.py). Every case's ids, attention mask and EOS position must
 * match exactly. DRUM_TOKENIZER_EXTRA=dir also checks dir/cases.jsonl against the
 * vocabulary in dir (the generator's --real-out writes OpenAI's real vocabulary there). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/tokenizer.h"

#define FIXDIR "tests/fixtures/tokenizer"

typedef struct {
    char *text;
    int ctx, n, eos, eosl;
    int *ids;
} tcase;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static char *unhex(const char *h) {
    size_t n = strlen(h) / 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        s[i] = (char)v;
    }
    s[n] = 0;
    return s;
}

/* Reads cases.jsonl: header {bos, eos, pad, vocab} then one case per line. */
static int read_cases(const char *path, tcase **out, int *pad, int *eos_id, int *vocab) {
    char *buf = slurp(path);
    if (!buf) return -1;
    int cap = 2048, n = 0, line = 0;
    tcase *cs = calloc((size_t)cap, sizeof(*cs));
    for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"), line++) {
        cJSON *j = cJSON_Parse(p);
        if (!j) {
            fprintf(stderr, "%s:%d: bad JSON\n", path, line + 1);
            exit(1);
        }
        if (line == 0) {
            *pad = cJSON_GetObjectItem(j, "pad")->valueint;
            *eos_id = cJSON_GetObjectItem(j, "eos")->valueint;
            *vocab = cJSON_GetObjectItem(j, "vocab")->valueint;
            cJSON_Delete(j);
            continue;
        }
        if (n == cap) cs = realloc(cs, (size_t)(cap *= 2) * sizeof(*cs));
        tcase *c = &cs[n++];
        cJSON *t = cJSON_GetObjectItem(j, "t"), *x = cJSON_GetObjectItem(j, "x");
        c->text = t ? strdup(t->valuestring) : unhex(x->valuestring);
        c->ctx = cJSON_GetObjectItem(j, "c")->valueint;
        c->eos = cJSON_GetObjectItem(j, "eos")->valueint;
        c->eosl = cJSON_GetObjectItem(j, "eosl")->valueint;
        cJSON *ids = cJSON_GetObjectItem(j, "ids");
        c->n = cJSON_GetArraySize(ids);
        c->ids = malloc((size_t)c->n * sizeof(int));
        for (int i = 0; i < c->n; i++) c->ids[i] = cJSON_GetArrayItem(ids, i)->valueint;
        cJSON_Delete(j);
    }
    free(buf);
    *out = cs;
    return n;
}

static void print_row(const char *what, const int *v, int n) {
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", v[i]);
    fputc('\n', stderr);
}

/* Runs every case through drum_tokenize_batch, one batch per context length. */
static void check_cases(const char *dir, const char *cases_path, const char *config) {
    char v[512], m[512], err[512];
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    drum_tokenizer *tok;
    int rc = drum_tokenizer_load_files(v, m, config, &tok, err, sizeof err);
    CHECK(rc == 0, "load %s: %s", dir, err);
    if (rc != 0) return;
    tcase *cs;
    int pad, eos_id, vocab;
    int n = read_cases(cases_path, &cs, &pad, &eos_id, &vocab);
    CHECK(n >= 1, "%s: no cases", cases_path);
    if (n < 1) return;
    drum_tokenizer_info info = drum_tokenizer_get_info(tok);
    CHECK(info.pad_id == pad && info.eos_id == eos_id && info.vocab_size == vocab,
          "%s: pad %d eos %d vocab %d, HF says %d %d %d", dir, info.pad_id, info.eos_id,
          info.vocab_size, pad, eos_id, vocab);

    int mismatched = 0, compared = 0;
    for (int ctx = 2; ctx <= 77; ctx++) {
        int nb = 0;
        for (int i = 0; i < n; i++) nb += cs[i].ctx == ctx;
        if (nb == 0) continue;
        const char **texts = malloc((size_t)nb * sizeof(*texts));
        int *which = malloc((size_t)nb * sizeof(int));
        int *ids = malloc((size_t)nb * ctx * sizeof(int)), *mask = malloc((size_t)nb * ctx * sizeof(int));
        int *eos = malloc((size_t)nb * sizeof(int));
        nb = 0;
        for (int i = 0; i < n; i++)
            if (cs[i].ctx == ctx) {
                which[nb] = i;
                texts[nb++] = cs[i].text;
            }
        rc = drum_tokenize_batch(tok, texts, nb, ctx, ids, mask, eos, err, sizeof err);
        CHECK(rc == 0, "batch ctx %d: %s", ctx, err);
        for (int b = 0; b < nb && rc == 0; b++) {
            const tcase *c = &cs[which[b]];
            const int *row = ids + (size_t)b * ctx, *mrow = mask + (size_t)b * ctx;
            int ok = eos[b] == c->eos;
            for (int i = 0; i < ctx; i++) {
                int want = i < c->n ? c->ids[i] : pad;
                ok &= row[i] == want && mrow[i] == (i < c->n);
            }
            ok &= drum_tokenizer_pool_index(row, ctx, 2) == c->eosl;
            ok &= drum_tokenizer_pool_index(row, ctx, eos_id) == c->eos;
            compared++;
            if (!ok && ++mismatched <= 8) {
                fprintf(stderr, "mismatch (%s) ctx %d text \"%s\"\n", dir, ctx, c->text);
                print_row("want", c->ids, c->n);
                print_row("got ", row, ctx);
                fprintf(stderr, "  eos want %d got %d\n", c->eos, eos[b]);
            }
        }
        free(texts);
        free(which);
        free(ids);
        free(mask);
        free(eos);
    }
    CHECK(mismatched == 0, "%s: %d of %d cases differ from HF", cases_path, mismatched, compared);
    printf("%s: %d cases, %d identical to HF (ids, mask, eos position)\n", cases_path, compared,
           compared - mismatched);
    for (int i = 0; i < n; i++) {
        free(cs[i].text);
        free(cs[i].ids);
    }
    free(cs);
    drum_tokenizer_free(tok);
}

/* Truncated encodings are prefixes of the full one; cap 0 writes nothing. */
static void check_prefix(void) {
    char err[512];
    drum_tokenizer *tok;
    if (drum_tokenizer_load(FIXDIR, &tok, err, sizeof err) != 0) {
        CHECK(0, "load: %s", err);
        return;
    }
    const char *text = "A long caption: two dogs, 3 cats & a 🐶 — naïve café; 東京タワー!";
    int full[256], part[256];
    int n = drum_tokenize(tok, text, full, 256);
    CHECK(n > 10, "encoded %d ids", n);
    int prefix_ok = 1;
    for (int cap = 1; cap < n; cap++) {
        int k = drum_tokenize(tok, text, part, cap);
        prefix_ok &= k == cap && memcmp(part, full, (size_t)cap * sizeof(int)) == 0;
    }
    CHECK(prefix_ok, "a truncated encoding is not a prefix of the full one");
    CHECK(drum_tokenize(tok, text, part, 0) == 0, "cap 0");
    int ids[4];
    CHECK(drum_tokenize_batch(tok, &text, 1, 1, ids, NULL, NULL, err, sizeof err) == -1 &&
              strstr(err, "context length 1"),
          "ctx 1 accepted: %s", err);
    drum_tokenizer_info info = drum_tokenizer_get_info(tok);
    CHECK(info.context == 77, "default context %d", info.context);
    int row[77];
    CHECK(drum_tokenize_batch(tok, &text, 1, 0, row, NULL, NULL, err, sizeof err) == 0 &&
              row[0] == info.bos_id,
          "ctx 0 = default: %s", err);
    drum_tokenizer_free(tok);
}

static void write_file(const char *path, const char *content) {
    FILE *f = fopen(path, "wb");
    fputs(content, f);
    fclose(f);
}

/* Every load failure names the file (and line). */
static void check_errors(void) {
    char err[512], dir[] = "/tmp/drum_tok_XXXXXX";
    drum_tokenizer *tok = (drum_tokenizer *)1;
    int rc = drum_tokenizer_load("/nonexistent/dir", &tok, err, sizeof err);
    CHECK(rc == -1 && tok == NULL && strstr(err, "/nonexistent/dir/vocab.json"), "missing: %s", err);
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char v[600], m[600], c[600];
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    snprintf(c, sizeof c, "%s/tokenizer_config.json", dir);

    write_file(v, "{\"a\": 0, ");
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, v) && strstr(err, "not a JSON object"), "corrupt vocab: %s", err);

    write_file(v, "{\"a\": 0}");
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, v) && strstr(err, "byte 0x00"), "not byte-level: %s", err);

    write_file(v, "{\"a\": \"zero\"}");
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "token \"a\" has no valid id"), "string id: %s", err);

    /* a valid vocabulary: the fixture's; broken merges and configs beside it */
    char *fix = slurp(FIXDIR "/vocab.json");
    CHECK(fix != NULL, "fixture vocab missing");
    if (!fix) return;
    write_file(v, fix);
    free(fix);
    /* the first two merges of the fixture, then broken lines */
    char *fm = slurp(FIXDIR "/merges.txt"), good[256], buf[512];
    CHECK(fm != NULL, "fixture merges missing");
    if (!fm) return;
    char *l1 = strchr(fm, '\n') + 1, *l3 = strchr(strchr(l1, '\n') + 1, '\n') + 1;
    snprintf(good, sizeof good, "#version: 0.2\n%.*s", (int)(l3 - l1), l1);
    free(fm);
    snprintf(buf, sizeof buf, "%sq zzz\n", good);
    write_file(m, buf);
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "merges.txt:4:") && strstr(err, "\"zzz\""), "bad merge: %s", err);
    snprintf(buf, sizeof buf, "%sthe\n", good);
    write_file(m, buf);
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "merges.txt:4:") && strstr(err, "two tokens"), "one token: %s", err);
    unlink(m);
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, m) && strstr(err, "cannot open"), "missing merges: %s", err);

    write_file(m, good);
    write_file(c, "{\"pad_token\": \"<pad>\"}");
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, c) && strstr(err, "pad_token \"<pad>\""), "bad pad: %s", err);
    write_file(c, "{\"pad_token\": null}");
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "pad_token is null"), "null pad: %s", err);
    write_file(c, "[1, 2]");
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == -1 && strstr(err, c), "config array: %s", err);

    /* a good config: pad from added_tokens_decoder, model_max_length honoured */
    write_file(c, "{\"model_max_length\": 32, \"pad_token\": \"<pad>\", \"added_tokens_decoder\": "
                  "{\"5000\": {\"content\": \"<pad>\", \"special\": true}}}");
    rc = drum_tokenizer_load(dir, &tok, err, sizeof err);
    CHECK(rc == 0, "added pad: %s", err);
    if (rc == 0) {
        drum_tokenizer_info info = drum_tokenizer_get_info(tok);
        CHECK(info.pad_id == 5000 && info.vocab_size == 5001 && info.context == 32,
              "pad %d vocab %d context %d", info.pad_id, info.vocab_size, info.context);
        int ids[8];
        int k = drum_tokenize(tok, "the<pad>", ids, 8);
        CHECK(k >= 2 && ids[k - 1] == 5000, "added token in text: %d ids, last %d", k,
              k > 0 ? ids[k - 1] : -1);
        drum_tokenizer_free(tok);
    }
    unlink(c);
    unlink(m);
    unlink(v);
    rmdir(dir);
}

int main(void) {
    check_cases(FIXDIR, FIXDIR "/cases.jsonl", NULL);
    check_cases(FIXDIR, FIXDIR "/alt_config/cases.jsonl", FIXDIR "/alt_config/tokenizer_config.json");
    /* openai/clip-vit-*'s shape: pad's plain string leaves "<|endoftext|>" not normalized */
    check_cases(FIXDIR, FIXDIR "/openai_config/cases.jsonl",
                FIXDIR "/openai_config/tokenizer_config.json");
    check_prefix();
    check_errors();
    const char *extra = getenv("DRUM_TOKENIZER_EXTRA");
    if (extra) {
        char p[512];
        snprintf(p, sizeof p, "%s/cases.jsonl", extra);
        check_cases(extra, p, NULL);
    }
    return check_summary();
}

/* test_dataset — the strict JSONL loader (fields, image paths, every error path), the id
 * index, save (relative image paths, split filter, byte-stable round trip) and the drafts
 * file a job writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/data.h"
#include "drum/fileio.h"
#include "drum/prepare.h"
#include "drum/rng.h"

static char tmpdir[256];

static char *path_in(const char *name) {
    return drum_path_join(tmpdir, name);
}

static void write_text(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(text, 1, n, f);
    fclose(f);
}

static const char *good =
    "{\"id\":\"q1\",\"image\":\"img/a.png\",\"prompt\":\"What color is the circle?\","
    "\"response\":\"red\",\"answers\":[\"red\",\"red\",\"orange\"],\"task\":\"vqa\","
    "\"split\":\"train\"}\n"
    "\n"
    "{\"task\":\"cls\",\"id\":\"c1\",\"image\":\"/abs/b.png\",\"prompt\":\"Shape?\","
    "\"response\":\"square\"}\r\n"
    "   \n"
    "{\"id\":\"p1\",\"image\":\"../c.png\",\"prompt\":\"\",\"response\":\"a red circle.\","
    "\"task\":\"caption\",\"split\":\"eval\"}";

static void test_load_good(void) {
    char err[512] = "";
    char *sub = path_in("sub");
    mkdir(sub, 0777);
    char *p = path_in("sub/good.jsonl");
    write_text(p, good, strlen(good));
    drum_dataset ds;
    int rc = drum_dataset_load(&ds, p, err, sizeof err);
    CHECK(rc == 0, "load failed: %s", err);
    if (rc == 0) {
        CHECK(ds.n == 3, "n = %d", ds.n);
        CHECK(strcmp(ds.path, p) == 0, "path %s", ds.path);
        drum_example *a = &ds.ex[0], *b = &ds.ex[1], *c = &ds.ex[2];
        char *want = drum_path_join(sub, "img/a.png");
        CHECK(strcmp(a->image, want) == 0, "image %s, want %s", a->image, want);
        free(want);
        CHECK(strcmp(a->prompt, "What color is the circle?") == 0, "prompt %s", a->prompt);
        CHECK(a->n_answers == 3 && strcmp(a->answers[2], "orange") == 0, "answers");
        CHECK(strcmp(a->split, "train") == 0 && a->line == 1, "split/line");
        CHECK(strcmp(b->image, "/abs/b.png") == 0, "absolute image kept: %s", b->image);
        CHECK(b->answers == NULL && b->n_answers == 0 && b->split == NULL, "optional keys");
        CHECK(strcmp(b->response, "square") == 0 && b->line == 3, "CRLF line: %s line %d",
              b->response, b->line);
        CHECK(c->line == 5 && c->prompt[0] == '\0', "last line without newline");
        CHECK(drum_dataset_find(&ds, "p1") == 2, "find p1");
        CHECK(drum_dataset_find(&ds, "q1") == 0, "find q1");
        CHECK(drum_dataset_find(&ds, "nope") == -1, "find missing");
        CHECK(drum_dataset_find(&ds, "") == -1, "find empty");
        drum_dataset_free(&ds);
        CHECK(ds.n == 0 && ds.ex == NULL && ds.index == NULL, "free zeroes");
    }
    /* A file named without a directory keeps image paths as written. */
    char *cwd = getcwd(NULL, 0);
    if (chdir(sub) == 0) {
        rc = drum_dataset_load(&ds, "good.jsonl", err, sizeof err);
        CHECK(rc == 0 && strcmp(ds.ex[0].image, "img/a.png") == 0, "bare file name: %s",
              rc == 0 ? ds.ex[0].image : err);
        if (rc == 0) drum_dataset_free(&ds);
        CHECK(chdir(cwd) == 0, "chdir back");
    }
    free(cwd);
    free(sub);
    free(p);
}

/* Loads `text` from a file and expects an error containing "<file>:<line>:" and `what`. */
static void expect_error(const char *text, size_t n, int line, const char *what) {
    char err[512] = "";
    char *p = path_in("bad.jsonl");
    write_text(p, text, n);
    drum_dataset ds;
    memset(&ds, 0x55, sizeof ds);
    int rc = drum_dataset_load(&ds, p, err, sizeof err);
    char where[512];
    snprintf(where, sizeof where, "%s:%d: ", p, line);
    CHECK(rc == -1, "accepted bad input for %s", what);
    CHECK(strstr(err, where) == err, "message \"%s\" does not start with \"%s\"", err, where);
    CHECK(strstr(err, what) != NULL, "message \"%s\" lacks \"%s\"", err, what);
    CHECK(ds.n == 0 && ds.ex == NULL && ds.path == NULL && ds.index == NULL,
          "dataset not cleared after error (%s)", what);
    free(p);
}

#define LINE_OK                                                                            \
    "{\"id\":\"a\",\"image\":\"x.png\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}\n"

static void test_errors(void) {
    const char *cases[][3] = {
        {"{\"id\":\"b\",\"image\":", "2", "invalid JSON"},
        {"not json", "2", "invalid JSON"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"} x", "2",
         "unexpected text"},
        {"[1,2]", "2", "expected a JSON object"},
        {"\"str\"", "2", "expected a JSON object"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\","
         "\"extra\":1}",
         "2", "unknown key \"extra\""},
        {"{\"id\":\"b\",\"Image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}", "2",
         "unknown key \"Image\""},
        {"{\"id\":7,\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}", "2",
         "\"id\" must be a string"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":null,\"response\":\"r\",\"task\":\"t\"}", "2",
         "\"prompt\" must be a string"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":[\"r\"],\"task\":\"t\"}",
         "2", "\"response\" must be a string"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\","
         "\"split\":1}",
         "2", "\"split\" must be a string"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\","
         "\"answers\":\"r\"}",
         "2", "\"answers\" must be an array"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\","
         "\"answers\":[\"r\",3]}",
         "2", "\"answers\" element 1 must be a string"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\","
         "\"answers\":[]}",
         "2", "\"answers\" must not be empty"},
        {"{\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}", "2",
         "missing required key \"id\""},
        {"{\"id\":\"b\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}", "2",
         "missing required key \"image\""},
        {"{\"id\":\"b\",\"image\":\"x\",\"response\":\"r\",\"task\":\"t\"}", "2",
         "missing required key \"prompt\""},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"task\":\"t\"}", "2",
         "missing required key \"response\""},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\"}", "2",
         "missing required key \"task\""},
        {"{\"id\":\"\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}", "2",
         "\"id\" must not be empty"},
        {"{\"id\":\"b\",\"image\":\"\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}", "2",
         "\"image\" must not be empty"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"\"}", "2",
         "\"task\" must not be empty"},
        {"{\"id\":\"b\",\"id\":\"c\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\","
         "\"task\":\"t\"}",
         "2", "duplicate key \"id\""},
        {"\n\n{\"id\":\"a\",\"image\":\"y\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}",
         "4", "duplicate id \"a\" (first on line 1)"},
        /* what cJSON accepts but would read as another text */
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"x\\u0000y\",\"response\":\"r\",\"task\":\"t\"}",
         "2", "\\u0000 inside a string (drum's strings end at a NUL) at column 34"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\tq\",\"response\":\"r\",\"task\":\"t\"}",
         "2", "a raw control character inside a string (JSON has it escaped, as \\t, \\n or "
         "\\u00XX) at column 34"},
        {"{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"caf\xE9\",\"response\":\"r\",\"task\":\"t\"}",
         "2", "a byte sequence that is not UTF-8 at column 36"},
        {"\xEF\xBB\xBF{\"id\":\"b\",\"image\":\"x\",\"prompt\":\"p\",\"response\":\"r\",\"task\":\"t\"}",
         "2", "a byte-order mark (EF BB BF) starts the line; only the file's first line may"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        int n = snprintf(text, sizeof text, "%s%s\n", LINE_OK, cases[i][0]);
        expect_error(text, (size_t)n, atoi(cases[i][1]), cases[i][2]);
    }
    /* and what reads as it says: a BOM starting the file, an escaped backslash before
     * u0000, UTF-8 beyond ASCII, tabs between the tokens */
    char *okpath = path_in("strict_ok.jsonl");
    const char ok[] = "\xEF\xBB\xBF{\"id\":\"a\",\"image\":\"x.png\",\"prompt\":\"a\\\\u0000\","
                      "\"response\":\"caf\xC3\xA9 \xF0\x9F\x99\x82\",\t\"task\":\"t\"}\n";
    write_text(okpath, ok, sizeof ok - 1);
    drum_dataset gds;
    char gerr[256] = "";
    int grc = drum_dataset_load(&gds, okpath, gerr, sizeof gerr);
    CHECK(grc == 0 && gds.n == 1 && strcmp(gds.ex[0].prompt, "a\\u0000") == 0 &&
              strcmp(gds.ex[0].response, "caf\xC3\xA9 \xF0\x9F\x99\x82") == 0,
          "a strict but valid line: %s", grc ? gerr : gds.ex[0].prompt);
    if (grc == 0) drum_dataset_free(&gds);
    free(okpath);
    char nul[] = LINE_OK "{\"id\":\"b\"\0,\"image\":\"x\"}\n";
    expect_error(nul, sizeof nul - 1, 2, "NUL byte");

    char err[256] = "";
    drum_dataset ds;
    char *missing = path_in("does-not-exist.jsonl");
    CHECK(drum_dataset_load(&ds, missing, err, sizeof err) == -1, "missing file accepted");
    CHECK(strstr(err, missing) != NULL, "missing-file message names the file: %s", err);
    free(missing);
}

static void test_empty_and_index(void) {
    char err[256] = "";
    char *p = path_in("empty.jsonl");
    write_text(p, "\n\n", 2);
    drum_dataset ds;
    CHECK(drum_dataset_load(&ds, p, err, sizeof err) == 0 && ds.n == 0, "empty file: %s", err);
    CHECK(drum_dataset_find(&ds, "a") == -1, "find in empty");
    drum_dataset_free(&ds);
    free(p);

    /* Many ids: the hash index agrees with a scan. */
    p = path_in("many.jsonl");
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 2000; i++)
        fprintf(f, "{\"id\":\"ex-%d\",\"image\":\"i.png\",\"prompt\":\"\",\"response\":\"\","
                   "\"task\":\"t\"}\n", i * 7919 % 2003);
    fclose(f);
    int rc = drum_dataset_load(&ds, p, err, sizeof err);
    CHECK(rc == 0 && ds.n == 2000, "many: %s", err);
    int bad = 0;
    for (int i = 0; rc == 0 && i < ds.n; i++)
        if (drum_dataset_find(&ds, ds.ex[i].id) != i) bad++;
    CHECK(bad == 0, "%d ids not found at their index", bad);
    CHECK(drum_dataset_find(&ds, "ex-2002x") == -1, "absent id");
    /* Without the index (a dataset built in memory) find scans. */
    drum_dataset_index *ix = ds.index;
    ds.index = NULL;
    CHECK(drum_dataset_find(&ds, ds.ex[1234].id) == 1234, "scan find");
    ds.index = ix;
    drum_dataset_free(&ds);
    free(p);
}

static void test_save(void) {
    char err[512] = "";
    char *p = path_in("sub/good.jsonl");
    drum_dataset ds, back;
    CHECK(drum_dataset_load(&ds, p, err, sizeof err) == 0, "load: %s", err);
    char *outdir = path_in("out/deeper");
    drum_mkdirs(outdir, err, sizeof err);
    char *o1 = path_in("out/deeper/all.jsonl");
    CHECK(drum_dataset_save(&ds, o1, NULL, err, sizeof err) == 0, "save: %s", err);
    size_t n1 = 0;
    char *text = drum_read_file(o1, &n1, err, sizeof err);
    CHECK(text && strstr(text, "\"image\":\"../../sub/img/a.png\""), "relative image: %s",
          text ? text : err);
    /* tmpdir is /tmp/X, so out/deeper sits four levels below the root. */
    CHECK(text && strstr(text, "\"image\":\"../../../../abs/b.png\""), "absolute image");
    CHECK(text && strstr(text, "\"answers\":[\"red\",\"red\",\"orange\"],\"task\":\"vqa\","
                               "\"split\":\"train\"}\n"),
          "key order and answers");
    CHECK(drum_dataset_load(&back, o1, err, sizeof err) == 0 && back.n == 3, "reload: %s", err);
    for (int i = 0; i < back.n && i < ds.n; i++) {
        CHECK(strcmp(back.ex[i].id, ds.ex[i].id) == 0, "id %d", i);
        CHECK(strcmp(back.ex[i].prompt, ds.ex[i].prompt) == 0, "prompt %d", i);
        CHECK(strcmp(back.ex[i].response, ds.ex[i].response) == 0, "response %d", i);
        CHECK(back.ex[i].n_answers == ds.ex[i].n_answers, "answers %d", i);
        CHECK((back.ex[i].split == NULL) == (ds.ex[i].split == NULL), "split %d", i);
    }
    /* Saving the reloaded copy beside the first gives the same bytes. */
    char *o2 = path_in("out/deeper/again.jsonl");
    CHECK(drum_dataset_save(&back, o2, NULL, err, sizeof err) == 0, "save again: %s", err);
    size_t n2 = 0;
    char *text2 = drum_read_file(o2, &n2, err, sizeof err);
    CHECK(text && text2 && n1 == n2 && memcmp(text, text2, n1) == 0, "round trip differs");
    free(text2);
    drum_dataset_free(&back);

    char *o3 = path_in("out/eval.jsonl");
    CHECK(drum_dataset_save(&ds, o3, "eval", err, sizeof err) == 0, "save eval: %s", err);
    CHECK(drum_dataset_load(&back, o3, err, sizeof err) == 0, "reload eval: %s", err);
    CHECK(back.n == 1 && strcmp(back.ex[0].id, "p1") == 0, "split filter kept %d", back.n);
    char *want = path_in("out/../c.png");
    CHECK(back.n == 1 && strcmp(back.ex[0].image, want) == 0, "image %s want %s",
          back.n ? back.ex[0].image : "", want);
    free(want);
    drum_dataset_free(&back);

    char *o4 = path_in("no/such/dir/x.jsonl");
    CHECK(drum_dataset_save(&ds, o4, NULL, err, sizeof err) == -1, "save into missing dir");
    CHECK(strstr(err, "x.jsonl") != NULL, "save error names the file: %s", err);
    free(o4);
    free(text);
    free(o1);
    free(o2);
    free(o3);
    free(outdir);
    free(p);
    drum_dataset_free(&ds);
}

/* drum_drafts_load: one draft per example, matched by id in any order; ids of other
 * datasets ignored; a missing, doubled or malformed line is an error naming it. */
static void test_drafts(void) {
    char err[512] = "";
    char *p = path_in("sub/good.jsonl"), *d = path_in("drafts.jsonl");
    drum_dataset ds;
    int rc = drum_dataset_load(&ds, p, err, sizeof err);
    CHECK(rc == 0, "load: %s", err);
    if (rc != 0) goto out;
    const char *ok = "{\"id\": \"p1\", \"split\": \"eval\", \"draft\": \"a \\\"blue\\\" one\"}\n"
                     "{\"id\": \"other\", \"draft\": \"x\"}\n\n"
                     "{\"id\": \"q1\", \"draft\": \"red\"}\r\n"
                     "{\"id\": \"c1\", \"draft\": \"\"}";
    write_text(d, ok, strlen(ok));
    char **dr = NULL;
    rc = drum_drafts_load(&ds, d, &dr, err, sizeof err);
    CHECK(rc == 0, "drafts: %s", err);
    if (rc == 0) {
        CHECK(strcmp(dr[0], "red") == 0 && strcmp(dr[1], "") == 0 &&
                  strcmp(dr[2], "a \"blue\" one") == 0,
              "drafts by id: '%s' '%s' '%s'", dr[0], dr[1], dr[2]);
        for (int i = 0; i < ds.n; i++) free(dr[i]);
        free(dr);
    }
    const char *bad[][3] = {
        {"{\"id\": \"q1\", \"draft\": \"red\"}\n{\"id\": \"p1\", \"draft\": \"b\"}\n", "c1",
         "no draft for \"c1\""},
        {"{\"id\": \"q1\", \"draft\": \"red\"}\n\n{\"id\": \"q1\", \"draft\": \"blue\"}\n", ":3:",
         "a second draft for \"q1\" (first on line 1)"},
        {"{\"id\": \"q1\", \"draft\": \"red\"}\n{\"id\": \"p1\"", ":2:", "expected a JSON object"},
        {"{\"id\": \"q1\", \"draft\": 3}\n", ":1:", "string keys \"id\" and \"draft\""},
        {"[\"q1\", \"red\"]\n", ":1:", "expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(d, bad[i][0], strlen(bad[i][0]));
        dr = (char **)&rc;
        err[0] = '\0';
        rc = drum_drafts_load(&ds, d, &dr, err, sizeof err);
        CHECK(rc == -1 && dr == NULL, "case %zu accepted", i);
        CHECK(strstr(err, d) == err && strstr(err, bad[i][1]) && strstr(err, bad[i][2]),
              "case %zu: message \"%s\" lacks \"%s\" / \"%s\"", i, err, bad[i][1], bad[i][2]);
    }
    write_text(d, "{\"id\": \"q1\",\0 \"draft\": \"red\"}\n", 30);
    rc = drum_drafts_load(&ds, d, &dr, err, sizeof err);
    CHECK(rc == -1 && strstr(err, ":1: NUL byte"), "NUL byte: %s", err);
    rc = drum_drafts_load(&ds, "/nonexistent/drafts.jsonl", &dr, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "/nonexistent/drafts.jsonl"), "missing file: %s", err);
    drum_dataset_free(&ds);
out:
    free(p);
    free(d);
}

/* The fingerprint of one example, written as `line` to DIR/f.jsonl under tmpdir; 0 when it
 * does not load. Its content id, when cid is not NULL (cidlen bytes). */
static uint64_t fingerprint_cid(const char *dir, const char *line, char *cid, size_t cidlen) {
    char *d = path_in(dir);
    mkdir(d, 0777);
    char *p = drum_path_join(d, "f.jsonl");
    write_text(p, line, strlen(line));
    drum_dataset ds;
    char err[512];
    uint64_t h = 0;
    if (drum_dataset_load(&ds, p, err, sizeof err) == 0) {
        h = drum_dataset_fingerprint(&ds);
        if (cid) snprintf(cid, cidlen, "%s", ds.ex[0].content_id ? ds.ex[0].content_id : "");
        drum_dataset_free(&ds);
    }
    free(p);
    free(d);
    return h;
}


/* What a checkpoint was trained on: the same examples in a moved file or another split keep
 * the fingerprint; another id, image, prompt, answer or task, or a character moved from the
 * prompt to the response, changes it. Each example's content id, the name the caches file it
 * under, is "id#" and 16 hex digits, follows the fingerprint and keeps its id. */
static void test_fingerprint(void) {
#define EX(id, img, prompt, resp, answers, task, split)                                        \
    "{\"id\":\"" id "\",\"image\":\"" img "\",\"prompt\":\"" prompt "\",\"response\":\"" resp   \
    "\",\"answers\":[" answers "],\"task\":\"" task "\",\"split\":\"" split "\"}\n"
    char cid[64], cid2[64];
    uint64_t base = fingerprint_cid("fp_a", EX("q1", "img/a.png", "ab", "c", "\"x\",\"y\"", "vqa",
                                              "train"), cid, sizeof cid);
    CHECK(base != 0, "the base example loads");
    size_t hex = strspn(cid + 3, "0123456789abcdef");
    CHECK(strncmp(cid, "q1#", 3) == 0 && hex == 16 && cid[3 + hex] == '\0',
          "content id '%s' is the id, '#' and 16 hex digits", cid);
    CHECK(fingerprint_cid("fp_b", EX("q1", "img/a.png", "ab", "c", "\"x\",\"y\"", "vqa", "eval"),
                          cid2, sizeof cid2) == base &&
              strcmp(cid, cid2) == 0,
          "the same example in another directory and split keeps the fingerprint (%s, %s)",
          cid, cid2);
    const char *other[] = {
        EX("q2", "img/a.png", "ab", "c", "\"x\",\"y\"", "vqa", "train"),
        EX("q1", "img/b.png", "ab", "c", "\"x\",\"y\"", "vqa", "train"),
        EX("q1", "img/a.png", "abd", "c", "\"x\",\"y\"", "vqa", "train"),
        EX("q1", "img/a.png", "a", "bc", "\"x\",\"y\"", "vqa", "train"),
        EX("q1", "img/a.png", "ab", "c", "\"x\",\"z\"", "vqa", "train"),
        EX("q1", "img/a.png", "ab", "c", "\"x\"", "vqa", "train"),
        EX("q1", "img/a.png", "ab", "c", "\"x\",\"y\"", "cls", "train")};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        uint64_t h = fingerprint_cid("fp_c", other[i], cid2, sizeof cid2);
        CHECK(h != 0 && h != base, "variant %zu keeps the fingerprint: %s", i, other[i]);
        CHECK(strcmp(cid, cid2) != 0, "variant %zu keeps the content id %s", i, cid2);
    }
#undef EX
}

/* Loads DIR/f.jsonl (under tmpdir) into *ds and sets its image digests; 0 or -1. */
static int load_in(const char *dir, const uint64_t *digests, drum_dataset *ds) {
    char *d = path_in(dir), *p = d ? drum_path_join(d, "f.jsonl") : NULL, err[512];
    int rc = p ? drum_dataset_load(ds, p, err, sizeof err) : -1;
    if (rc == 0 && drum_dataset_set_image_digests(ds, digests, err, sizeof err)) {
        drum_dataset_free(ds);
        rc = -1;
    }
    if (rc) fprintf(stderr, "%s\n", err);
    free(p);
    free(d);
    return rc;
}

/* Image digests in content ids (drum_dataset_set_image_digests; drum_prepare reads them with
 * the pixels, test_image): they change the content id the texts alone gave; another digest
 * for a file changes its examples' ids alone (not the fingerprint, which is the texts'); the
 * same texts and digests in another directory keep both (image paths count relative to the
 * JSONL). */
static void test_image_digests(void) {
    const char *dirs[2] = {"imgd_a", "imgd_b"};
    const char *lines = "{\"id\":\"a\",\"image\":\"i/x.png\",\"prompt\":\"p\",\"response\":\"r\","
                        "\"task\":\"vqa\"}\n"
                        "{\"id\":\"b\",\"image\":\"i/x.png\",\"prompt\":\"q\",\"response\":\"r\","
                        "\"task\":\"vqa\"}\n"
                        "{\"id\":\"c\",\"image\":\"i/y.png\",\"prompt\":\"p\",\"response\":\"r\","
                        "\"task\":\"vqa\"}\n";
    for (int k = 0; k < 2; k++) {
        char *d = path_in(dirs[k]), *j = drum_path_join(d, "f.jsonl");
        mkdir(d, 0777);
        write_text(j, lines, strlen(lines));
        free(d);
        free(j);
    }
    const uint64_t xy[3] = {0x1111, 0x1111, 0x2222}, x2y[3] = {0x3333, 0x3333, 0x2222};
    drum_dataset t, a, b, c;
    char *d0 = path_in(dirs[0]), *p0 = drum_path_join(d0, "f.jsonl"), err[256];
    if (drum_dataset_load(&t, p0, err, sizeof err) || load_in(dirs[0], xy, &a) ||
        load_in(dirs[1], xy, &b) || load_in(dirs[1], x2y, &c)) {
        CHECK(0, "loading the image-digest datasets");
        free(d0);
        free(p0);
        return;
    }
    int changed = 1, same = 1;
    for (int e = 0; e < 3; e++) {
        changed &= strcmp(t.ex[e].content_id, a.ex[e].content_id) != 0;
        same &= strcmp(a.ex[e].content_id, b.ex[e].content_id) == 0;
    }
    CHECK(changed && a.ex[0].image_digest == 0x1111 && t.ex[0].image_digest == 0,
          "the digests renew every content id (a: %s, before: %s)", a.ex[0].content_id,
          t.ex[0].content_id);
    CHECK(same && drum_dataset_fingerprint(&a) == drum_dataset_fingerprint(&b),
          "the same texts and digests in another directory keep the content ids and the "
          "fingerprint");
    CHECK(strcmp(c.ex[0].content_id, a.ex[0].content_id) != 0 &&
              strcmp(c.ex[1].content_id, a.ex[1].content_id) != 0 &&
              strcmp(c.ex[2].content_id, a.ex[2].content_id) == 0 &&
              drum_dataset_fingerprint(&c) == drum_dataset_fingerprint(&a),
          "another x.png: a and b get new content ids (%s), c keeps its own, the texts' "
          "fingerprint stays",
          c.ex[0].content_id);
    drum_dataset *all[4] = {&t, &a, &b, &c};
    for (int k = 0; k < 4; k++) drum_dataset_free(all[k]);
    free(d0);
    free(p0);
}

/* drum_hash_bytes, the bulk digest of image levels: every single-bit flip of buffers of every
 * length up to 100 (the 32-byte lanes and the tail alike) changes it, so do the length and the
 * start value, its value is pinned (checkpoints written with it compare against it), and fed
 * in pieces it gives the same digest.
 * drum_prepared_image_fingerprint covers the shape as well as the levels, and
 * drum_prepared_text_fingerprint the shape as well as the ids, mask and eos positions. */
static void test_hash_bytes(void) {
    unsigned char b[100];
    for (int i = 0; i < 100; i++) b[i] = (unsigned char)(i * 37 + 11);
    int kept = 0;
    for (size_t n = 1; n <= sizeof b; n++) {
        uint64_t base = drum_hash_bytes(b, n, DRUM_FNV1A_INIT);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit++) {
                b[i] ^= (unsigned char)(1u << bit);
                kept += drum_hash_bytes(b, n, DRUM_FNV1A_INIT) == base;
                b[i] ^= (unsigned char)(1u << bit);
            }
    }
    CHECK(kept == 0, "%d single-bit flips kept the digest", kept);
    unsigned char zeros[65] = {0};
    int same_len = 0;
    for (size_t n = 0; n < sizeof zeros; n++)
        for (size_t m = 0; m < n; m++)
            same_len += drum_hash_bytes(zeros, n, 1) == drum_hash_bytes(zeros, m, 1);
    CHECK(same_len == 0, "%d pairs of zero runs of different lengths share a digest", same_len);
    CHECK(drum_hash_bytes(b, 100, 1) != drum_hash_bytes(b, 100, 2), "the start value counts");
    uint64_t pinned = drum_hash_bytes(b, 100, DRUM_FNV1A_INIT);
    CHECK(pinned == 0x09e7b7aa2a20fa60ULL, "drum_hash_bytes changed: %016llx",
          (unsigned long long)pinned);
    /* fed in pieces (drum_hash_update), the digest of the whole: every cut into three */
    int split_off = 0;
    for (size_t n = 0; n <= sizeof b; n += 7)
        for (size_t i = 0; i <= n; i++)
            for (size_t j = i; j <= n; j += 5) {
                drum_hash_state st;
                drum_hash_begin(&st, 3);
                drum_hash_update(&st, b, i);
                drum_hash_update(&st, b + i, j - i);
                drum_hash_update(&st, b + j, n - j);
                split_off += drum_hash_end(&st) != drum_hash_bytes(b, n, 3);
            }
    CHECK(split_off == 0, "%d cuts of a buffer change its digest", split_off);

    uint8_t levels[2 * 3 * 2 * 2];
    for (size_t i = 0; i < sizeof levels; i++) levels[i] = (uint8_t)(i * 5);
    drum_prepared p = {.n = 2, .S = 2, .levels = levels};
    uint64_t h = drum_prepared_image_fingerprint(&p, DRUM_FNV1A_INIT);
    levels[17] ^= 1;
    CHECK(drum_prepared_image_fingerprint(&p, DRUM_FNV1A_INIT) != h, "a level's change is kept");
    levels[17] ^= 1;
    drum_prepared q = {.n = 6, .S = 1, .levels = levels}; /* the same bytes, another shape */
    CHECK(drum_prepared_image_fingerprint(&q, DRUM_FNV1A_INIT) != h &&
              drum_prepared_image_fingerprint(&p, DRUM_FNV1A_INIT) == h,
          "the shape is part of the image fingerprint");
    /* the text fingerprint: each id, mask entry and eos position counts, and the shape */
    int ids[2 * 3] = {5, 9, 7, 5, 8, 7}, mask[2 * 3] = {1, 1, 1, 1, 1, 0}, eos[3] = {2, 1, 0};
    drum_prepared t = {.n = 2, .T = 3, .demo_ids = ids, .demo_mask = mask, .demo_eos = eos};
    uint64_t th = drum_prepared_text_fingerprint(&t, DRUM_FNV1A_INIT);
    int *cells[3] = {&ids[4], &mask[5], &eos[1]}, changed = 0;
    for (int k = 0; k < 3; k++) {
        ++*cells[k];
        changed += drum_prepared_text_fingerprint(&t, DRUM_FNV1A_INIT) != th;
        --*cells[k];
    }
    drum_prepared t2 = {.n = 3, .T = 2, .demo_ids = ids, .demo_mask = mask, .demo_eos = eos};
    CHECK(changed == 3 && drum_prepared_text_fingerprint(&t2, DRUM_FNV1A_INIT) != th &&
              drum_prepared_text_fingerprint(&t, DRUM_FNV1A_INIT) == th,
          "the text fingerprint follows %d of 3 changed cells, and the shape", changed);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/drum_test_dataset_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp failed");
        return check_summary();
    }
    test_load_good();
    test_errors();
    test_empty_and_index();
    test_save();
    test_drafts();
    test_fingerprint();
    test_hash_bytes();
    test_image_digests();
    CHECK(test_remove_tree(tmpdir) == 0, "cleanup of %s", tmpdir);
    return check_summary();
}

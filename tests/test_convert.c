/* test_convert — `drum convert` and convert.h on small files in the benchmarks' native
 * formats (docs/FORMATS.md, docs/METRICS.md): VQA questions + annotations (integer and string image ids),
 * Karpathy caption splits (COCO with filepath/cocoid, Flickr30K without), class folders
 * (ImageNet's layout, with and without a class-name map), Hateful Memes JSON lines, the
 * JSONL round trip through the loader, every error path, the CLI's exit codes, the JSON read
 * an entry at a time (against cJSON's whole tree on mutated files), and conversions in
 * little memory. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/check.h"
#include "data/jsonl.h"
#include "drum/convert.h"
#include "drum/data.h"
#include "drum/fileio.h"
#include "drum/pretrain.h"

static char tmp[64] = "/tmp/drum_convert_XXXXXX", drum_bin[PATH_MAX + 16];

static char *in_tmp(const char *name) {
    return drum_path_join(tmp, name);
}

static char *write_file(const char *name, const char *text) {
    char *p = in_tmp(name);
    FILE *f = p ? fopen(p, "w") : NULL;
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

#define ANS(a) "{\"answer\": \"" a "\", \"answer_confidence\": \"yes\", \"answer_id\": 1}"

static const char *questions =
    "{\"info\": {}, \"data_type\": \"mscoco\", \"questions\": [\n"
    "  {\"image_id\": 42, \"question\": \"What color is the bus?\", \"question_id\": 420},\n"
    "  {\"image_id\": 7, \"question\": \"How many dogs are there?\", \"question_id\": 70}]}\n";
static const char *annotations =
    "{\"annotations\": [\n"
    "  {\"question_type\": \"what color\", \"multiple_choice_answer\": \"red\",\n"
    "   \"answers\": [" ANS("red") ", " ANS("red") ", " ANS("dark red") ", " ANS("red") ", "
    ANS("red") ", " ANS("maroon") ", " ANS("red") ", " ANS("red") ", " ANS("red") ", "
    ANS("Red") "],\n"
    "   \"image_id\": 42, \"answer_type\": \"other\", \"question_id\": 420},\n"
    "  {\"answers\": [" ANS("2") ", " ANS("two") ", " ANS("2") "], \"image_id\": 7,\n"
    "   \"question_id\": 70}]}\n";

static void test_vqa(void) {
    char err[1024] = "";
    char *q = write_file("q.json", questions), *a = write_file("a.json", annotations);
    char *imgs = in_tmp("imgs");
    drum_vqa_source src = {q, a, imgs, "COCO_val2014_{id:012d}.jpg", "eval", NULL};
    drum_dataset ds;
    int rc = drum_convert_vqa(&src, &ds, err, sizeof err);
    CHECK(rc == 0, "vqa: %s", err);
    if (rc == 0) {
        CHECK(ds.n == 2, "%d examples", ds.n);
        drum_example *e = &ds.ex[0];
        char *want = drum_path_join(imgs, "COCO_val2014_000000000042.jpg");
        CHECK(strcmp(e->id, "420") == 0 && strcmp(e->prompt, "What color is the bus?") == 0 &&
                  strcmp(e->response, "red") == 0 && strcmp(e->task, "vqa") == 0 &&
                  strcmp(e->split, "eval") == 0,
              "example 0: %s / %s / %s / %s", e->id, e->prompt, e->response, e->task);
        CHECK(e->n_answers == 10 && strcmp(e->answers[2], "dark red") == 0 &&
                  strcmp(e->answers[9], "Red") == 0,
              "answers kept as written, in order (%d)", e->n_answers);
        CHECK(strcmp(e->image, want) == 0, "image %s, want %s", e->image, want);
        CHECK(strcmp(ds.ex[1].id, "70") == 0 && ds.ex[1].n_answers == 3 &&
                  strcmp(ds.ex[1].response, "2") == 0,
              "example 1");
        free(want);
        /* saved relative to the output file, loaded back by the strict loader */
        char *sub = in_tmp("out"), *out = in_tmp("out/vqa.jsonl");
        mkdir(sub, 0777);
        rc = drum_dataset_save(&ds, out, NULL, err, sizeof err);
        CHECK(rc == 0, "save: %s", err);
        size_t len = 0;
        char *text = drum_read_file(out, &len, err, sizeof err);
        CHECK(text && strstr(text, "\"image\":\"../imgs/COCO_val2014_000000000007.jpg\""),
              "relative image path in %s", text ? text : err);
        free(text);
        drum_dataset back;
        rc = drum_dataset_load(&back, out, err, sizeof err);
        CHECK(rc == 0 && back.n == 2 && back.ex[0].n_answers == 10 &&
                  strcmp(back.ex[0].answers[5], "maroon") == 0 &&
                  strcmp(back.ex[1].split, "eval") == 0,
              "round trip: %s", rc ? err : "fields differ");
        if (rc == 0) drum_dataset_free(&back);
        drum_dataset_free(&ds);
        free(sub);
        free(out);
    }
    /* string image ids (VizWiz/TextVQA-style files) with {id}; no split */
    char *q2 = write_file("q2.json",
                          "{\"questions\": [{\"image_id\": \"VizWiz_val_00000001.jpg\", "
                          "\"question\": \"What is this?\", \"question_id\": \"v1\"}]}");
    char *a2 = write_file("a2.json",
                          "{\"annotations\": [{\"question_id\": \"v1\", \"answers\": "
                          "[{\"answer\": \"a can\"}, {\"answer\": \"unanswerable\"}]}]}");
    drum_vqa_source s2 = {q2, a2, "viz", "{id}", NULL, NULL};
    rc = drum_convert_vqa(&s2, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 1 && strcmp(ds.ex[0].image, "viz/VizWiz_val_00000001.jpg") == 0 &&
              ds.ex[0].split == NULL && strcmp(ds.ex[0].id, "v1") == 0,
          "string ids: %s", rc ? err : ds.ex[0].image);
    if (rc == 0) drum_dataset_free(&ds);
    drum_vqa_source s3 = {q2, a2, "viz", "x_{id:08d}.jpg", NULL, NULL};
    rc = drum_convert_vqa(&s3, &ds, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "questions[0]") && strstr(err, "not an integer"),
          "padding a string id: %s", err);
    /* a prompt template: each {question} becomes the question; one without it is refused */
    drum_vqa_source s4 = {q2, a2, "viz", "{id}", NULL, "Q: {question} ({question}) Short answer:"};
    rc = drum_convert_vqa(&s4, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 1 &&
              strcmp(ds.ex[0].prompt, "Q: What is this? (What is this?) Short answer:") == 0,
          "prompt template: %s", rc ? err : ds.ex[0].prompt);
    if (rc == 0) drum_dataset_free(&ds);
    drum_vqa_source s5 = {q2, a2, "viz", "{id}", NULL, "Answer in one word."};
    rc = drum_convert_vqa(&s5, &ds, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "prompt template 'Answer in one word.': expected {question}"),
          "a template without {question}: %s", err);
    free(q);
    free(a);
    free(q2);
    free(a2);
    free(imgs);
}

/* Each case: questions, annotations, pattern, and what the message must contain. */
static void test_vqa_errors(void) {
    const char *qa = "{\"questions\": [{\"image_id\": 1, \"question\": \"Q?\", "
                     "\"question_id\": 10},"
                     " {\"image_id\": 2, \"question\": \"R?\", \"question_id\": 20}]}";
    const char *aa = "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]},"
                     " {\"question_id\": 20, \"answers\": [{\"answer\": \"y\"}]}]}";
    const char *cases[][4] = {
        {qa, "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}]}",
         "{id}", "has 2 questions but"},
        {qa, "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]},"
             " {\"question_id\": 21, \"answers\": [{\"answer\": \"y\"}]}]}",
         "{id}", "annotations[1] is for question 21, but questions[1] of"},
        {"{\"questions\": [{\"image_id\": 1, \"question_id\": 10}]}",
         "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}]}", "{id}",
         "questions[0]: expected a string \"question\""},
        {"{\"questions\": [{\"image_id\": 1.5, \"question\": \"Q\", \"question_id\": 10}]}",
         "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}]}", "{id}",
         "\"image_id\" must be an integer"},
        {qa, "{\"annotations\": [{\"question_id\": 10, \"answers\": []},"
             " {\"question_id\": 20, \"answers\": [{\"answer\": \"y\"}]}]}",
         "{id}", "annotations[0]: expected a non-empty array \"answers\""},
        {qa, "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]},"
             " {\"question_id\": 20, \"answers\": [{\"answer\": 3}]}]}",
         "{id}", "annotations[1]: answers[0]: expected a string \"answer\""},
        {"{\"questions\": [{\"image_id\": 1, \"question\": \"Q\", \"question_id\": 10},"
         " {\"image_id\": 1, \"question\": \"Q\", \"question_id\": 10}]}",
         "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]},"
         " {\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}]}",
         "{id}", "questions[0] and questions[1] have the same id \"10\""},
        {"{\"qs\": []}", aa, "{id}", "expected a JSON object with an array \"questions\""},
        {qa, "{\"annotations\": [\n{\"question_id\": 10,,}]}", "{id}", ":2: invalid JSON"},
        {"{\"questions\": [{\"image_id\": 1, \"question\": \"Q?\", \"question_id\": 10}]}", aa,
         "{id}", "has 1 questions but"},
        {"{\"questions\": [{\"image_id\": 1, \"question\": \"Q?\", \"question_id\": 10}]}",
         "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}, 7, 8]}",
         "{id}", "has 3 annotations; they pair by position"},
        {"{\"questions\": [{\"image_id\": 1, \"question\": \"Q?\", \"question_id\": 10}]}",
         "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}, 7\n 8]}",
         "{id}", "ea.json:2: invalid JSON at column 2"},
        {qa, "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}, "
             "{\"question_id\": 20, \"answers\": [{\"answer\": \"y\"}]}]}}",
         "{id}", ":1: invalid JSON at column 120"},
        /* what cJSON would read as another text: "Q\u0000?" as "Q" */
        {"{\"questions\": [{\"image_id\": 1, \"question\": \"Q\\u0000?\", \"question_id\": 10}]}",
         "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}]}", "{id}",
         "eq.json:1: \\u0000 inside a string (drum's strings end at a NUL) at column 46"},
        /* a 140-byte string id would have been cut to 127 bytes, meeting its twin */
        {"{\"questions\": [{\"image_id\": 1, \"question\": \"Q?\", \"question_id\": \""
         "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
         "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqa\"}]}",
         "{\"annotations\": [{\"question_id\": 10, \"answers\": [{\"answer\": \"x\"}]}]}", "{id}",
         "\"question_id\" must be an integer or a non-empty string (under 128 bytes)"},
        {qa, aa, "img.jpg", "expected exactly one {id}"},
        {qa, aa, "{id}_{id}.jpg", "expected exactly one {id}"},
        {qa, aa, "{id:0d}.jpg", "expected exactly one {id}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = write_file("eq.json", cases[i][0]), *a = write_file("ea.json", cases[i][1]);
        drum_vqa_source src = {q, a, "imgs", cases[i][2], NULL, NULL};
        drum_dataset ds;
        char err[1024] = "";
        memset(&ds, 0x55, sizeof ds);
        int rc = drum_convert_vqa(&src, &ds, err, sizeof err);
        CHECK(rc == -1 && strstr(err, cases[i][3]), "case %zu: rc %d, \"%s\" lacks \"%s\"", i,
              rc, err, cases[i][3]);
        CHECK(rc == 0 || (ds.n == 0 && ds.ex == NULL), "case %zu: dataset not cleared", i);
        int names_file = strstr(cases[i][3], "exactly one") || strstr(err, q) || strstr(err, a);
        CHECK(names_file, "case %zu: \"%s\" names neither file", i, err);
        free(q);
        free(a);
    }
}

static const char *karpathy =
    "{\"dataset\": \"coco\", \"images\": [\n"
    " {\"filepath\": \"val2014\", \"sentids\": [1, 2],"
    "  \"filename\": \"COCO_val2014_000000000042.jpg\","
    "  \"imgid\": 0, \"split\": \"test\", \"cocoid\": 42, \"sentences\": [{\"tokens\": [\"a\"],"
    "  \"raw\": \"A red bus.\", \"imgid\": 0, \"sentid\": 1}, {\"raw\": \"A bus on a road.\"}]},\n"
    " {\"filepath\": \"train2014\", \"filename\": \"COCO_train2014_000000000009.jpg\","
    "  \"split\": \"train\", \"cocoid\": 9, \"sentences\": [{\"raw\": \"Food on a plate.\"}]},\n"
    " {\"filepath\": \"val2014\", \"filename\": \"COCO_val2014_000000000005.jpg\","
    "  \"split\": \"restval\", \"cocoid\": 5, \"sentences\": [{\"raw\": \"A cat.\"}]}]}\n";

/* One test-split image, as test_karpathy's malformed files hold it (67 columns). */
#define IM "{\"filename\": \"a.jpg\", \"split\": \"test\", \"sentences\": [{\"raw\": \"x\"}]}"

static void test_karpathy(void) {
    char err[1024] = "";
    char *k = write_file("k.json", karpathy);
    drum_karpathy_source src = {k, "coco", "test", "Output:"};
    drum_dataset ds;
    int rc = drum_convert_karpathy(&src, &ds, err, sizeof err);
    CHECK(rc == 0, "karpathy: %s", err);
    if (rc == 0) {
        drum_example *e = &ds.ex[0];
        CHECK(ds.n == 1 && strcmp(e->id, "42") == 0 &&
                  strcmp(e->image, "coco/val2014/COCO_val2014_000000000042.jpg") == 0 &&
                  strcmp(e->response, "A red bus.") == 0 && e->n_answers == 2 &&
                  strcmp(e->answers[1], "A bus on a road.") == 0 &&
                  strcmp(e->task, "caption") == 0 && strcmp(e->split, "test") == 0 &&
                  strcmp(e->prompt, "Output:") == 0,
              "test split: %d examples, %s %s", ds.n, e->id, e->image);
        drum_dataset_free(&ds);
    }
    src.split = "train";
    src.prompt = NULL;
    rc = drum_convert_karpathy(&src, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 1 && strcmp(ds.ex[0].id, "9") == 0 && ds.ex[0].prompt[0] == '\0',
          "train split leaves restval out: %s", rc ? err : ds.ex[0].id);
    if (rc == 0) drum_dataset_free(&ds);
    src.split = "train,restval";
    rc = drum_convert_karpathy(&src, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 2 && strcmp(ds.ex[0].id, "9") == 0 &&
              strcmp(ds.ex[0].split, "train") == 0 && strcmp(ds.ex[1].id, "5") == 0 &&
              strcmp(ds.ex[1].split, "restval") == 0,
          "train,restval: each image keeps its split: %s", rc ? err : "fields");
    if (rc == 0) drum_dataset_free(&ds);
    src.split = "val";
    rc = drum_convert_karpathy(&src, &ds, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "no image has split \"val\""), "empty split: %s", err);
    /* Flickr30K: no filepath, no cocoid: the id is the file name's stem */
    char *f = write_file("f.json", "{\"images\": [{\"filename\": \"1000092795.jpg\", \"split\": "
                                   "\"test\", \"sentences\": [{\"raw\": \"Two men.\"}]}]}");
    drum_karpathy_source fs = {f, "flickr", "test", NULL};
    rc = drum_convert_karpathy(&fs, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 1 && strcmp(ds.ex[0].id, "1000092795") == 0 &&
              strcmp(ds.ex[0].image, "flickr/1000092795.jpg") == 0,
          "flickr: %s", rc ? err : ds.ex[0].image);
    if (rc == 0) drum_dataset_free(&ds);
    const char *bad[][2] = {
        {"{\"images\": [{\"filename\": \"a.jpg\", \"split\": \"test\"}]}",
         "images[0] (a.jpg): expected a non-empty array \"sentences\""},
        {"{\"images\": [{\"filename\": \"a.jpg\", \"split\": \"test\", \"sentences\": [{}]}]}",
         "images[0] (a.jpg): sentences[0]: expected a string \"raw\""},
        {"{\"images\": [{\"split\": \"test\", \"sentences\": [{\"raw\": \"x\"}]}]}",
         "images[0]: expected strings \"split\" and \"filename\""},
        {"{\"images\": [{\"filename\": \"a.jpg\", \"split\": \"test\", \"cocoid\": 3, "
         "\"sentences\": [{\"raw\": \"x\"}]}, {\"filename\": \"b.jpg\", \"split\": \"train\", "
         "\"cocoid\": 3, \"sentences\": [{\"raw\": \"y\"}]}, {\"filename\": \"c.jpg\", \"split\": "
         "\"test\", \"cocoid\": 3, \"sentences\": [{\"raw\": \"z\"}]}]}",
         "images[0] and images[2] have the same id \"3\""},
        {"[]", "expected a JSON object with an array \"images\""},
        /* read an image at a time, the file is still checked as one JSON text */
        {"{\"images\": [" IM "]}\n x", ":2: invalid JSON at column 2"},
        {"{\"images\": [" IM ",\n]}", ":2: invalid JSON at column 1"},
        {"{\"images\": [" IM "\n " IM "]}", ":2: invalid JSON at column 2"},
        {"{\"images\": [" IM "],\n}", ":2: invalid JSON at column 1"},
        {"{\"images\": [" IM "],\n \"x\": [tru]}", ":2: invalid JSON at column "},
        {"{\"images\": [" IM ",\n " IM, ":2: invalid JSON at column 69"},
        {"{\"images\" []}", ":1: invalid JSON at column 11"},
        {"{images: []}", ":1: invalid JSON at column 2"},
        {"", ":1: invalid JSON at column 1"},
        {"{\"images\": {}}", "expected a JSON object with an array \"images\""},
        {"{\"dataset\": \"coco\"}", "expected a JSON object with an array \"images\""},
        {"{\"images\": 1, \"images\": [" IM "]}", "with an array \"images\""}, /* the first */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *p = write_file("bad.json", bad[i][0]);
        drum_karpathy_source b = {p, "x", "test", NULL};
        rc = drum_convert_karpathy(&b, &ds, err, sizeof err);
        CHECK(rc == -1 && strstr(err, p) && strstr(err, bad[i][1]),
              "karpathy case %zu: \"%s\" lacks \"%s\"", i, err, bad[i][1]);
        free(p);
    }
    /* a byte-order mark, and a second "images" after the first (cJSON reads the first) */
    char *m = write_file("m.json", "\xEF\xBB\xBF {\"images\": [" IM "], \"images\": []}");
    drum_karpathy_source ms = {m, "x", "test", NULL};
    rc = drum_convert_karpathy(&ms, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 1 && strcmp(ds.ex[0].id, "a") == 0, "a BOM: %s", rc ? err : "");
    if (rc == 0) drum_dataset_free(&ds);
    free(k);
    free(f);
    free(m);
}

/* Whether bytes b[0..n) hold a byte below 0x20 other than JSON's spaces (which cJSON skips
 * between values as it does spaces, and the stream does not). */
static int has_control(const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)b[i] < 0x20 && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' &&
            b[i] != '\r')
            return 1;
    return 0;
}

/* Reads path's "images" an element at a time and as one cJSON tree. Returns 1 when the
 * stream accepted the file, 0 when it rejected it, -1 when the two disagree (why in `why`). */
static int stream_agrees(const char *path, const char *text, size_t n, char *why, size_t whylen) {
    const char *end = NULL;
    cJSON *whole = drum_json_parse(text, n, &end, NULL);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(whole, "images");
    int tree_ok = cJSON_IsObject(whole) && cJSON_IsArray(arr);
    for (const char *p = end; tree_ok && p < text + n; p++)
        tree_ok = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
    drum_json_stream s;
    char err[1024] = "";
    int same = 1, k = 0;
    const cJSON *want = tree_ok ? arr->child : NULL;
    cJSON *e = NULL;
    if (drum_json_stream_open(&s, path, "images", err, sizeof err) == 0) {
        while (drum_json_stream_next(&s, &e, err, sizeof err) == 1) {
            same &= want && cJSON_Compare(e, want, 1);
            want = want ? want->next : NULL;
            cJSON_Delete(e);
            k++;
        }
        drum_json_stream_close(&s);
    }
    int rc = !err[0];
    /* what drum_json_strict refuses (a raw tab or newline inside a string), the stream
     * refuses first, with its message */
    char serr[1024] = "";
    int strict = drum_json_strict(text, n, path, 1, serr, sizeof serr) != 0 && strcmp(err, serr) == 0;
    if (rc && !(tree_ok && same && !want && k == cJSON_GetArraySize(arr)))
        rc = -1, snprintf(why, whylen, "the stream read %d elements that the tree %s", k,
                          tree_ok ? "does not hold" : "rejects");
    else if (!rc && !(strstr(err, path) && (!tree_ok || has_control(text, n) || strict)))
        rc = -1, snprintf(why, whylen, "the stream says \"%s\" of a file the tree reads", err);
    cJSON_Delete(whole);
    return rc;
}

/* The stream against cJSON's whole tree on 4,000 seeded mutations of a Karpathy file (up to
 * four bytes replaced, deleted or inserted from JSON's punctuation, spaces, a control byte,
 * letters and digits): the stream accepts a file only when cJSON reads it as an object
 * whose first "images" is an array, with only spaces after it, and then hands out exactly
 * that array's elements; it rejects one that cJSON reads only where the file holds a control
 * byte that cJSON skips as a space, or what drum_json_strict refuses (a raw tab or newline
 * inside a string). */
static void test_stream_against_tree(void) {
    static const char alphabet[] = "{}[],:\"\\ \n\t\x01\x00atrue0-1.5e";
    const size_t base = strlen(karpathy);
    char *path = in_tmp("mut.json"), text[1024], why[1200] = "";
    test_rng rng;
    test_rng_seed(&rng, 20261128);
    int accepted = 0, disagree = 0, first = -1;
    for (int t = 0; t < 4000; t++) {
        size_t n = base;
        memcpy(text, karpathy, n);
        for (int m = test_rng_int(&rng, 1, 5); m > 0; m--) {
            size_t at = (size_t)test_rng_int(&rng, 0, (int)n);
            char c = alphabet[test_rng_int(&rng, 0, (int)sizeof alphabet - 1)];
            switch (test_rng_int(&rng, 0, 3)) {
            case 0: text[at] = c; break;
            case 1: memmove(text + at, text + at + 1, n - at - 1), n--; break;
            default: memmove(text + at + 1, text + at, n - at), text[at] = c, n++;
            }
        }
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(text, 1, n, f) != n || fclose(f)) {
            CHECK(0, "writing %s", path);
            break;
        }
        char msg[1200];
        int rc = stream_agrees(path, text, n, msg, sizeof msg);
        accepted += rc == 1;
        if (rc < 0 && disagree++ == 0) first = t, memcpy(why, msg, sizeof why);
    }
    CHECK(disagree == 0, "%d of 4000 mutations read differently; the first, %d: %s", disagree,
          first, why);
    /* both outcomes occur often enough to have been compared */
    CHECK(accepted > 200 && accepted < 3800, "%d of 4000 mutations accepted", accepted);
    free(path);
}

/* tmp/cls/<folder>/<file> for each "folder/file" */
static void make_tree(const char *root, const char *const *paths, int n) {
    char *r = in_tmp(root);
    mkdir(r, 0777);
    for (int i = 0; i < n; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%.*s", r, (int)(strchr(paths[i], '/') - paths[i]), paths[i]);
        mkdir(sub, 0777);
        char file[600];
        snprintf(file, sizeof file, "%s/%s", r, paths[i]);
        FILE *f = fopen(file, "w");
        if (f) fclose(f);
    }
    free(r);
}

static void test_folders(void) {
    const char *tree[] = {"n02/b.JPEG", "n01/z.jpg", "n01/a.jpg", "n01/.hidden.jpg", "n02/c.png"};
    make_tree("cls", tree, 5);
    char *root = in_tmp("cls"), err[1024] = "";
    char *map = write_file("map.txt", "n01 tench, Tinca tinca\n\n  n02   goldfish\r\nn09 other\n");
    drum_folders_source src = {root, map, "eval", "What is this?"};
    drum_dataset ds;
    int rc = drum_convert_folders(&src, &ds, err, sizeof err);
    CHECK(rc == 0, "folders: %s", err);
    if (rc == 0) {
        char *want = drum_path_join(root, "n01/a.jpg");
        CHECK(ds.n == 4 && strcmp(ds.ex[0].id, "n01/a") == 0 && strcmp(ds.ex[1].id, "n01/z") == 0 &&
                  strcmp(ds.ex[2].id, "n02/b") == 0 && strcmp(ds.ex[3].id, "n02/c") == 0,
              "%d examples in byte order, hidden files skipped", ds.n);
        CHECK(strcmp(ds.ex[0].response, "tench, Tinca tinca") == 0 &&
                  strcmp(ds.ex[3].response, "goldfish") == 0 && strcmp(ds.ex[0].task, "cls") == 0 &&
                  ds.ex[0].answers == NULL && strcmp(ds.ex[2].prompt, "What is this?") == 0 &&
                  strcmp(ds.ex[1].split, "eval") == 0 && strcmp(ds.ex[0].image, want) == 0,
              "fields: %s / %s / %s", ds.ex[0].response, ds.ex[3].response, ds.ex[0].image);
        free(want);
        drum_dataset_free(&ds);
    }
    drum_folders_source plain = {root, NULL, NULL, NULL};
    rc = drum_convert_folders(&plain, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 4 && strcmp(ds.ex[2].response, "n02") == 0 &&
              ds.ex[2].split == NULL && ds.ex[2].prompt[0] == '\0',
          "no map: the folder is the class: %s", rc ? err : ds.ex[2].response);
    if (rc == 0) drum_dataset_free(&ds);
    const char *bad_maps[][2] = {
        {"n01 tench\n", "folder \"n02\" has no line in"},
        {"n01 tench\nn02\n", ":2: expected \"<folder> <class name>\""},
        {"n01 tench\nn02 goldfish\nn01 carp\n", ":3: folder \"n01\" is named twice"},
    };
    for (size_t i = 0; i < sizeof bad_maps / sizeof bad_maps[0]; i++) {
        char *m = write_file("badmap.txt", bad_maps[i][0]);
        drum_folders_source b = {root, m, NULL, NULL};
        rc = drum_convert_folders(&b, &ds, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad_maps[i][1]), "map case %zu: \"%s\"", i, err);
        free(m);
    }
    const char *dup[] = {"k/a.jpg", "k/a.png"};
    make_tree("dup", dup, 2);
    char *droot = in_tmp("dup"), *empty = in_tmp("empty");
    drum_folders_source d = {droot, NULL, NULL, NULL};
    rc = drum_convert_folders(&d, &ds, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "have the same id \"k/a\""), "same stem: %s", err);
    mkdir(empty, 0777);
    drum_folders_source e = {empty, NULL, NULL, NULL};
    rc = drum_convert_folders(&e, &ds, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "no class folders"), "no folders: %s", err);
    drum_folders_source none = {"/nonexistent/dir", NULL, NULL, NULL};
    rc = drum_convert_folders(&none, &ds, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "/nonexistent/dir: cannot open"), "missing dir: %s", err);
    free(root);
    free(map);
    free(droot);
    free(empty);
}

/* Three memes: an integer id, a string id with quotes and non-ASCII text (a JSON escape
 * and raw UTF-8) and an extra key, a blank line, a CRLF line with its keys reordered and
 * empty text. */
static const char *hateful =
    "{\"id\": 42953, \"img\": \"img/42953.png\", \"label\": 0, "
    "\"text\": \"its their character not their color that matters\"}\n"
    "{\"id\": \"01235\", \"img\": \"img/01235.png\", \"label\": 1, "
    "\"text\": \"don't say \\\"it's fine\\\" to a na\\u00efve \xf0\x9f\x99\x82\", \"x\": [1]}\n"
    "  \t\n"
    "{\"img\":\"img/07.png\",\"text\":\"\",\"label\":1,\"id\":7}\r\n";

static void test_hateful_memes(void) {
    char err[1024] = "";
    char *p = write_file("hm.jsonl", hateful), *imgs = in_tmp("hm");
    drum_hateful_memes_source src = {p, imgs, "dev_seen"};
    drum_dataset ds;
    int rc = drum_convert_hateful_memes(&src, &ds, err, sizeof err);
    CHECK(rc == 0, "hateful memes: %s", err);
    if (rc == 0) {
        CHECK(ds.n == 3, "%d examples", ds.n);
        CHECK(ds.n == 3 && strcmp(ds.ex[0].id, "42953") == 0 &&
                  strcmp(ds.ex[1].id, "01235") == 0 && strcmp(ds.ex[2].id, "7") == 0,
              "ids as written: %s %s %s", ds.ex[0].id, ds.n > 1 ? ds.ex[1].id : "",
              ds.n > 2 ? ds.ex[2].id : "");
        char *want0 = drum_path_join(imgs, "img/42953.png");
        char *want2 = drum_path_join(imgs, "img/07.png");
        CHECK(ds.n == 3 && strcmp(ds.ex[0].image, want0) == 0 &&
                  strcmp(ds.ex[2].image, want2) == 0,
              "images: %s, %s", ds.ex[0].image, ds.n > 2 ? ds.ex[2].image : "");
        free(want0);
        free(want2);
        CHECK(strcmp(ds.ex[0].prompt, "is an image with: 'its their character not their color "
                                      "that matters' written on it. Is it hateful?") == 0,
              "prompt 0: %s", ds.ex[0].prompt);
        CHECK(ds.n == 3 &&
                  strcmp(ds.ex[1].prompt, "is an image with: 'don't say \"it's fine\" to a "
                                          "na\xc3\xaf" "ve \xf0\x9f\x99\x82' written on it. "
                                          "Is it hateful?") == 0 &&
                  strcmp(ds.ex[2].prompt, "is an image with: '' written on it. Is it hateful?") ==
                      0,
              "prompts: %s | %s", ds.n > 1 ? ds.ex[1].prompt : "", ds.n > 2 ? ds.ex[2].prompt : "");
        CHECK(ds.n == 3 && strcmp(ds.ex[0].response, "no") == 0 &&
                  strcmp(ds.ex[1].response, "yes") == 0 && strcmp(ds.ex[2].response, "yes") == 0,
              "responses: label 0 -> no, 1 -> yes");
        int same = 1;
        for (int i = 0; i < ds.n; i++)
            same &= strcmp(ds.ex[i].task, "binary") == 0 && ds.ex[i].answers == NULL &&
                    ds.ex[i].n_answers == 0 && ds.ex[i].split &&
                    strcmp(ds.ex[i].split, "dev_seen") == 0;
        CHECK(same, "task binary, no answers, split dev_seen on every example");
        CHECK(ds.n == 3 && ds.ex[0].line == 1 && ds.ex[1].line == 2 && ds.ex[2].line == 4,
              "file lines %d %d %d (the blank line counted)", ds.ex[0].line,
              ds.n > 1 ? ds.ex[1].line : 0, ds.n > 2 ? ds.ex[2].line : 0);
        /* saved and loaded back by the strict loader */
        char *sub = in_tmp("out"), *out = in_tmp("out/hm.jsonl");
        mkdir(sub, 0777);
        rc = drum_dataset_save(&ds, out, NULL, err, sizeof err);
        CHECK(rc == 0, "save: %s", err);
        drum_dataset back;
        rc = drum_dataset_load(&back, out, err, sizeof err);
        CHECK(rc == 0 && back.n == 3 && strcmp(back.ex[1].prompt, ds.ex[1].prompt) == 0 &&
                  strcmp(back.ex[1].response, "yes") == 0 &&
                  strcmp(back.ex[2].task, "binary") == 0 && back.ex[0].answers == NULL &&
                  back.ex[0].split && strcmp(back.ex[0].split, "dev_seen") == 0,
              "round trip: %s", rc ? err : "fields differ");
        if (rc == 0) drum_dataset_free(&back);
        drum_dataset_free(&ds);
        free(sub);
        free(out);
    }
    drum_hateful_memes_source nosplit = {p, "memes", NULL};
    rc = drum_convert_hateful_memes(&nosplit, &ds, err, sizeof err);
    CHECK(rc == 0 && ds.n == 3 && ds.ex[0].split == NULL &&
              strcmp(ds.ex[1].image, "memes/img/01235.png") == 0,
          "no split: %s", rc ? err : ds.ex[1].image);
    if (rc == 0) drum_dataset_free(&ds);
    free(p);
    free(imgs);
}

#define HM_OK(id) "{\"id\": " id ", \"img\": \"img/a.png\", \"label\": 0, \"text\": \"t\"}\n"

/* Each case: the file, and what the message must contain after the file's name. */
static void test_hateful_memes_errors(void) {
    const char *cases[][2] = {
        {HM_OK("1") "{\"id\": 2, \"img\": \"b.png\", label: 1, \"text\": \"x\"}\n",
         ":2: invalid JSON at column "},
        {HM_OK("1") "\n" HM_OK("2") "{\"id\": 3, \"img\": \"c.png\", \"text\": \"x\"}\n",
         ":4: missing key \"label\""},
        {"{\"id\": 1, \"img\": \"a.png\", \"label\": 2, \"text\": \"x\"}\n",
         ":1: \"label\" must be 0 or 1"},
        {HM_OK("1") "{\"id\": 2, \"img\": \"a.png\", \"label\": \"1\", \"text\": \"x\"}",
         ":2: \"label\" must be 0 or 1"},
        {"{\"id\": 1, \"img\": \"a.png\", \"label\": true, \"text\": \"x\"}",
         ":1: \"label\" must be 0 or 1"},
        {"{\"id\": 1, \"img\": \"a.png\", \"label\": 0.5, \"text\": \"x\"}",
         ":1: \"label\" must be 0 or 1"},
        {HM_OK("1") HM_OK("2") "{\"id\": 3, \"img\": \"a.png\", \"label\": 1, \"text\": 3}\n",
         ":3: \"text\" must be a string"},
        {"{\"id\": 1, \"img\": \"a.png\", \"label\": 1, \"text\": null}",
         ":1: \"text\" must be a string"},
        {"{\"id\": 1, \"img\": \"a.png\", \"label\": 1}", ":1: missing key \"text\""},
        {HM_OK("5") HM_OK("\"6\"") HM_OK("\"5\"") HM_OK("6"),
         ":3: duplicate id \"5\" (first on line 1)"},
        {HM_OK("1") HM_OK("2") HM_OK("1") HM_OK("1"), ":3: duplicate id \"1\" (first on line 1)"},
        {HM_OK("1.5"), ":1: \"id\" must be an integer or a non-empty string"},
        {HM_OK("\"\""), ":1: \"id\" must be an integer or a non-empty string"},
        {"{\"img\": \"a.png\", \"label\": 1, \"text\": \"x\"}", ":1: missing key \"id\""},
        {"{\"id\": 1, \"img\": \"\", \"label\": 1, \"text\": \"x\"}",
         ":1: \"img\" must be a non-empty string"},
        {"{\"id\": 1, \"img\": 4, \"label\": 1, \"text\": \"x\"}",
         ":1: \"img\" must be a non-empty string"},
        {"{\"id\": 1, \"id\": 2, \"img\": \"a.png\", \"label\": 1, \"text\": \"x\"}",
         ":1: duplicate key \"id\""},
        {HM_OK("1") "[1, 2]\n", ":2: expected a JSON object"},
        {HM_OK("1") "\"text\"\n", ":2: expected a JSON object"},
        {"{\"id\": 1, \"img\": \"a.png\", \"label\": 1, \"text\": \"x\"} {}\n",
         ":1: unexpected text after the JSON object at column 52"},
        {"", ": no examples"},
        {"\n  \n\r\n", ": no examples"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = write_file("ehm.jsonl", cases[i][0]);
        drum_hateful_memes_source src = {p, "imgs", NULL};
        drum_dataset ds;
        char err[1024] = "", want[1200];
        snprintf(want, sizeof want, "%s%s", p, cases[i][1]);
        memset(&ds, 0x55, sizeof ds);
        int rc = drum_convert_hateful_memes(&src, &ds, err, sizeof err);
        CHECK(rc == -1 && strstr(err, want), "hateful case %zu: rc %d, \"%s\" lacks \"%s\"", i,
              rc, err, want);
        CHECK(rc == 0 || (ds.n == 0 && ds.ex == NULL), "hateful case %zu: dataset not cleared",
              i);
        free(p);
    }
    drum_hateful_memes_source none = {"/nonexistent/test.jsonl", "imgs", NULL};
    drum_dataset ds;
    char err[1024] = "";
    int rc = drum_convert_hateful_memes(&none, &ds, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "/nonexistent/test.jsonl"), "missing file: %s", err);
}

static int run(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' convert %s > cli.log 2>&1", tmp, drum_bin, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *log_text(void) {
    char *p = in_tmp("cli.log");
    size_t len;
    char err[256];
    char *t = drum_read_file(p, &len, err, sizeof err);
    free(p);
    return t;
}

static void test_cli(void) {
    int rc = run("vqa --questions q.json --annotations a.json --images imgs "
                 "--image-pattern 'COCO_val2014_{id:012d}.jpg' --split train --out out/cli.jsonl "
                 "--prompt '{question} Answer in a word.'");
    char *t = log_text();
    CHECK(rc == 0 && t && strstr(t, "wrote 2 examples"), "convert vqa: exit %d: %s", rc, t);
    free(t);
    char *out = in_tmp("out/cli.jsonl"), err[512];
    drum_dataset ds;
    int lrc = drum_dataset_load(&ds, out, err, sizeof err);
    CHECK(lrc == 0 && ds.n == 2 && strcmp(ds.ex[0].split, "train") == 0 &&
              strcmp(ds.ex[0].prompt, "What color is the bus? Answer in a word.") == 0,
          "cli output: %s", lrc ? err : ds.ex[0].prompt);
    if (lrc == 0) drum_dataset_free(&ds);
    free(out);
    rc = run("folders --images cls --classes map.txt --out out/f.jsonl");
    t = log_text();
    CHECK(rc == 0 && t && strstr(t, "wrote 4 examples"), "convert folders: exit %d: %s", rc, t);
    free(t);
    rc = run("karpathy --karpathy k.json --images coco --split test --out out/k.jsonl");
    t = log_text();
    CHECK(rc == 0 && t && strstr(t, "wrote 1 examples"), "convert karpathy: exit %d: %s", rc, t);
    free(t);
    rc = run("hateful-memes --jsonl hm.jsonl --images hm --split dev_seen --out out/hm2.jsonl");
    t = log_text();
    CHECK(rc == 0 && t && strstr(t, "wrote 3 examples to out/hm2.jsonl"),
          "convert hateful-memes: exit %d: %s", rc, t);
    free(t);
    out = in_tmp("out/hm2.jsonl");
    char *img = in_tmp("out/../hm/img/01235.png"); /* as the loader resolves it */
    lrc = drum_dataset_load(&ds, out, err, sizeof err);
    CHECK(lrc == 0 && ds.n == 3 && strcmp(ds.ex[1].image, img) == 0 &&
              strcmp(ds.ex[1].response, "yes") == 0 && ds.ex[1].split &&
              strcmp(ds.ex[1].split, "dev_seen") == 0 &&
              strcmp(ds.ex[1].task, "binary") == 0,
          "cli hateful-memes output: %s", lrc ? err : ds.ex[1].image);
    if (lrc == 0) drum_dataset_free(&ds);
    free(out);
    free(img);
    char *unlabelled = write_file("hm_test.jsonl", HM_OK("1")
                                  "{\"id\": 2, \"img\": \"img/2.png\", \"text\": \"x\"}\n");
    free(unlabelled);
    const struct {
        const char *args;
        int code;
        const char *says;
    } bad[] = {
        {"vqa --questions q.json --annotations a.json --images imgs --out o.jsonl", 2,
         "--image-pattern is required"},
        {"vqa --questions q.json --annotations a.json --images imgs --image-pattern x.jpg "
         "--out o.jsonl", 2, "exactly one {id}"},
        {"karpathy --karpathy k.json --images coco --out o.jsonl", 2, "--split is required"},
        {"coco --out o.jsonl", 2,
         "unknown format 'coco' (expected vqa, karpathy, folders or hateful-memes)"},
        {"hateful-memes --images hm --out o.jsonl", 2, "--jsonl is required"},
        {"hateful-memes --jsonl hm.jsonl --out o.jsonl", 2, "--images is required"},
        {"hateful-memes --jsonl hm_test.jsonl --images hm --out o.jsonl", 1,
         "drum convert hateful-memes: hm_test.jsonl:2: missing key \"label\""},
        {"folders --out o.jsonl", 2, "--images is required"},
        {"vqa --questions nope.json --annotations a.json --images i --image-pattern '{id}' "
         "--out o.jsonl", 1, "nope.json"},
        {"karpathy --karpathy k.json --images coco --split val --out o.jsonl", 1,
         "no image has split"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = run(bad[i].args);
        t = log_text();
        CHECK(rc == bad[i].code && t && strstr(t, bad[i].says), "cli case %zu: exit %d: %s", i,
              rc, t ? t : "");
        free(t);
    }
    struct stat st;
    char *o = in_tmp("o.jsonl");
    CHECK(stat(o, &st) != 0, "a failed conversion left %s", o);
    free(o);
}

/* big_q*.json with its big_a*.json */
static int parse_vqa(const char *questions_path, char *err, size_t errlen) {
    char a[PATH_MAX];
    snprintf(a, sizeof a, "%s", questions_path);
    strstr(a, "big_q")[4] = 'a';
    drum_vqa_source src = {questions_path, a, "imgs", "{id}.jpg", NULL, NULL};
    drum_dataset ds;
    int rc = drum_convert_vqa(&src, &ds, err, errlen);
    if (rc == 0) drum_dataset_free(&ds);
    return rc;
}

static int parse_jsonl(const char *path, char *err, size_t errlen) {
    drum_dataset ds;
    int rc = drum_dataset_load(&ds, path, err, errlen);
    if (rc == 0) drum_dataset_free(&ds);
    return rc;
}

static int parse_captions(const char *path, char *err, size_t errlen) {
    drum_dataset ds;
    int rc = drum_captions_load(&ds, path, err, errlen);
    if (rc == 0) drum_dataset_free(&ds);
    return rc;
}

/* A file whose parsed JSON does not fit the memory left is reported as that, not as invalid
 * JSON (cJSON alone tells the two apart by neither): a VQA questions file with a 13 MB
 * question, a JSONL line with a 13 MB prompt and a captions line with a 13 MB caption, each
 * read with 24 MB to spare. With all the memory they want, all parse. A VQA conversion of
 * 100,000 questions (two files of ~6 MB) converts in 64 MB: it reads the files a question
 * at a time (~50 MB); as two cJSON trees it took ~130 MB. */
static void test_out_of_memory(void) {
#ifdef __SANITIZE_ADDRESS__
    SKIP("out-of-memory parses: AddressSanitizer's allocator does not run under RLIMIT_AS");
    return;
#endif
    char *q = in_tmp("big_q.json"), *a = in_tmp("big_a.json"), *d = in_tmp("big.jsonl");
    char *c = in_tmp("big_captions.jsonl"), *q1 = in_tmp("big_q1.json");
    char *a1 = in_tmp("big_a1.json");
    FILE *fq = fopen(q, "w"), *fa = fopen(a, "w"), *fd = fopen(d, "w"), *fc = fopen(c, "w");
    FILE *fq1 = fopen(q1, "w"), *fa1 = fopen(a1, "w");
    const int nq = 100000, nd = 16 << 20 >> 4;
    if (fq && fa && fd) {
        fputs("{\"questions\": [", fq);
        fputs("{\"annotations\": [", fa);
        for (int i = 0; i < nq; i++) {
            fprintf(fq, "%s{\"image_id\": %d, \"question\": \"Q%d?\", \"question_id\": %d}",
                    i ? ", " : "", i, i, i);
            fprintf(fa, "%s{\"question_id\": %d, \"answers\": [{\"answer\": \"a\"}]}",
                    i ? ", " : "", i);
        }
        fputs("]}\n", fq);
        fputs("]}\n", fa);
        /* the file is read whole (16 MB); the line's prompt string is a second 16 MB */
        fputs("{\"id\": \"e\", \"image\": \"i.png\", \"response\": \"x\", \"prompt\": \"", fd);
        for (int i = 0; i < nd; i++) fputs("What is this?", fd);
        fputs("\", \"task\": \"vqa\"}\n", fd);
    }
    if (fc) { /* pre-training's captions: the same long text as a caption */
        fputs("{\"id\": \"c\", \"image\": \"i.png\", \"caption\": \"", fc);
        for (int i = 0; i < nd; i++) fputs("What is this?", fc);
        fputs("\"}\n", fc);
        fclose(fc);
    }
    if (fq1) { /* and as a VQA question */
        fputs("{\"questions\": [{\"image_id\": 0, \"question_id\": 0, \"question\": \"", fq1);
        for (int i = 0; i < nd; i++) fputs("What is this?", fq1);
        fputs("\"}]}\n", fq1);
        fclose(fq1);
    }
    if (fa1) {
        fputs("{\"annotations\": [{\"question_id\": 0, \"answers\": [{\"answer\": \"a\"}]}]}", fa1);
        fclose(fa1);
    }
    if (fq) fclose(fq);
    if (fa) fclose(fa);
    if (fd) fclose(fd);
    char err[1024];
    test_in_little_memory(parse_vqa, q, 64L << 20, err, sizeof err);
    CHECK(err[0] == '\0', "100,000 vqa questions in 64 MB: '%s'", err);
    test_in_little_memory(parse_vqa, q1, 24L << 20, err, sizeof err);
    CHECK(strstr(err, "out of memory parsing questions[0]") && !strstr(err, "invalid JSON"),
          "a long vqa question in little memory: '%s'", err);
    test_in_little_memory(parse_vqa, q1, 4L << 30, err, sizeof err);
    CHECK(err[0] == '\0', "a long vqa question with room: '%s'", err);
    /* wherever an allocation fails, the conversion says so and frees what it made */
    int fails = 0, passes = 0;
    for (long room = 16; room <= 160; room += 8) {
        test_in_little_memory(parse_vqa, q, room << 20, err, sizeof err);
        CHECK(!err[0] || (strstr(err, "out of memory") && strstr(err, "big_")),
              "100,000 vqa questions in %ld MB: '%s'", room, err);
        fails += err[0] != '\0';
        passes += err[0] == '\0';
    }
    CHECK(fails >= 3 && passes >= 3, "in 16..160 MB: %d failed, %d converted", fails, passes);
    test_in_little_memory(parse_jsonl, d, 24L << 20, err, sizeof err);
    CHECK(strstr(err, "out of memory") && !strstr(err, "invalid JSON"),
          "a JSONL dataset in little memory: '%s'", err);
    test_in_little_memory(parse_captions, c, 24L << 20, err, sizeof err);
    CHECK(strstr(err, "out of memory") && !strstr(err, "expected a JSON object"),
          "captions in little memory: '%s'", err);
    test_in_little_memory(parse_captions, c, 4L << 30, err, sizeof err);
    CHECK(err[0] == '\0', "captions with room: '%s'", err);
    test_in_little_memory(parse_vqa, q, 4L << 30, err, sizeof err);
    CHECK(err[0] == '\0', "vqa questions with room: '%s'", err);
    test_in_little_memory(parse_jsonl, d, 4L << 30, err, sizeof err);
    CHECK(err[0] == '\0', "a JSONL dataset with room: '%s'", err);
    free(q);
    free(a);
    free(d);
    free(c);
    free(q1);
    free(a1);
}

int main(void) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || !mkdtemp(tmp)) {
        CHECK(0, "setup");
        return check_summary();
    }
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(drum_bin, sizeof drum_bin, "%s/../drum", self);
    test_vqa();
    test_vqa_errors();
    test_karpathy();
    test_stream_against_tree();
    test_folders();
    test_hateful_memes();
    test_hateful_memes_errors();
    test_cli();
    test_out_of_memory();
    CHECK(test_remove_tree(tmp) == 0, "cleanup of %s", tmp);
    return check_summary();
}

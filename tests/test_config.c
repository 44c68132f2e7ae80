/* test_config.c — the strict YAML loader and drum's job config: experiments/demo.yaml
 * loads, defaults apply, every kind of mistake is reported at the right file:line:col,
 * overrides work, the writer round-trips, and docs/CONFIG.md documents every key. Run
 * from the repository root. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "drum/config.h"
#include "drum/synth.h"

static char tmpdir[64];

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Every config in experiments/ loads strictly; the real-LVLM templates name their data, a
 * Hugging Face CLIP and an exec LVLM, and the tool they run exists. */
static void test_experiment_templates(void) {
    glob_t g;
    int found = glob("experiments/*.yaml", 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    CHECK(found >= 5, "experiments/*.yaml: %d configs (demo + 4 templates expected)", found);
    for (int i = 0; i < found; i++) {
        const char *path = g.gl_pathv[i];
        drum_job_config c;
        char err[1024];
        int rc = drum_job_config_load(&c, path, err, sizeof err);
        CHECK(rc == 0, "%s: %s", path, err);
        if (rc == 0 && !strstr(path, "demo.yaml")) {
            CHECK(c.data.train[0] && c.data.eval[0] && strstr(c.model.config, "config.json") &&
                      strstr(c.model.checkpoint, ".safetensors") &&
                      c.scorer.backend == DRUM_SCORER_EXEC &&
                      strstr(c.scorer.command, "tools/lvlm_hf.py") &&
                      access("tools/lvlm_hf.py", R_OK) == 0 && c.train.candidates_k == 50 &&
                      c.train.scored_per_round == 10 && c.train.rounds == 3,
                  "%s: data, CLIP, exec LVLM and DESIGN's K=50, l=10, R=3 expected", path);
            /* classification is ranked over the class names, as OpenFlamingo does */
            CHECK(!strstr(path, "cls_") || c.eval.classify == DRUM_CLASSIFY_RANK,
                  "%s: eval.classify: rank expected", path);
        }
        if (rc == 0) drum_job_config_free(&c);
    }
    if (found) globfree(&g);
}

static void test_demo_yaml(void) {
    drum_job_config c;
    char err[1024];
    int rc = drum_job_config_load(&c, "experiments/demo.yaml", err, sizeof err);
    CHECK(rc == 0, "experiments/demo.yaml: %s", err);
    if (rc == 0) {
        CHECK(c.seed == 1234 && c.backend == 0 && c.threads == 0, "top level");
        CHECK(c.synth.n_train == 1500 && c.synth.n_eval == 1500 && c.synth.image_size == 64, "synth");
        CHECK(strcmp(c.model.config, "demo-tiny") == 0 && c.model.checkpoint[0] == '\0', "model");
        CHECK(c.model.pretrain.lr == 1e-3 && c.model.pretrain.epochs == 30, "pretrain");
        CHECK(strcmp(c.retrieval.demo_text, "{P} {R}") == 0 &&
                  c.retrieval.order == DRUM_ORDER_MOST_SIMILAR_LAST, "retrieval");
        CHECK(c.train.rounds == 3 && c.train.candidates_k == 20 && c.train.scored_per_round == 8 &&
                  c.train.lr == 5e-4 && c.train.loss == DRUM_LOSS_RANK && c.train.freeze.n == 0,
              "train");
        CHECK(c.scorer.backend == DRUM_SCORER_SYNTHETIC &&
                  strcmp(c.scorer.cache, "runs/demo/score_cache.bin") == 0 &&
                  strcmp(c.scorer.answers, "runs/demo/answers.jsonl") == 0,
              "scorer.cache and scorer.answers derived from train.out: %s, %s", c.scorer.cache,
              c.scorer.answers);
        CHECK(c.eval.shots.n == 3 && c.eval.shots.v[2] == 4, "eval.shots");
        CHECK(c.eval.strategies.n == 6 && strcmp(c.eval.strategies.v[5], "DRUM") == 0,
              "eval.strategies");
    }
    drum_job_config_free(&c);
}

static void test_defaults(void) {
    drum_job_config c;
    char err[512];
    CHECK(drum_job_config_init(&c, err, sizeof err) == 0, "init: %s", err);
    CHECK(drum_cfg_load_string(drum_job_config_schema, &c, "empty.yaml", "", 0, err, sizeof err) == 0,
          "an empty file is all defaults: %s", err);
    CHECK(c.seed == 1234 && c.backend == 0, "top-level defaults");
    CHECK(c.train.rounds == 3 && c.train.candidates_k == 50 && c.train.scored_per_round == 10 &&
              c.train.epochs == 1 && c.train.lambda == 1.0 && c.train.loss == DRUM_LOSS_RANK,
          "train defaults");
    CHECK(c.retrieval.w_image == 1.0 && c.retrieval.w_text == 1.0 &&
              strcmp(c.retrieval.demo_text, "{P} {R}") == 0 &&
              strcmp(c.retrieval.query_text, "{P} {D}") == 0 &&
              c.retrieval.order == DRUM_ORDER_MOST_SIMILAR_LAST,
          "retrieval defaults");
    CHECK(c.eval.shots.n == 4 && c.eval.shots.v[0] == 1 && c.eval.shots.v[3] == 8, "shots [1,2,4,8]");
    CHECK(c.eval.strategies.n == 6 && strcmp(c.eval.strategies.v[0], "RS") == 0, "all strategies");
    CHECK(c.model.text_length == DRUM_TEXT_CONTEXT, "model.text_length default %d",
          c.model.text_length);
    CHECK(c.synth.classification == DRUM_SYNTH_CLAIM && c.synth.layout == DRUM_LAYOUT_FREE,
          "synth.classification default %d", c.synth.classification);
    CHECK(strcmp(c.model.config, "demo-tiny") == 0 && strcmp(c.scorer.cache, "") == 0,
          "model.config demo-tiny; cache empty before finish");
    /* A partial file changes only what it names. */
    const char *partial = "train:\n  rounds: 5\n  freeze: [\"text_model.*\", 'logit_scale']\n";
    CHECK(drum_cfg_load_string(drum_job_config_schema, &c, "partial.yaml", partial, strlen(partial),
                               err, sizeof err) == 0, "partial: %s", err);
    CHECK(c.train.rounds == 5 && c.train.candidates_k == 50 && c.train.freeze.n == 2 &&
              strcmp(c.train.freeze.v[1], "logit_scale") == 0,
          "partial override keeps the other defaults");
    const char *shape = "synth: {classification: shape}\n";
    CHECK(drum_cfg_load_string(drum_job_config_schema, &c, "shape.yaml", shape, strlen(shape), err,
                               sizeof err) == 0 &&
              c.synth.classification == DRUM_SYNTH_SHAPE,
          "synth.classification shape: %s", err);
    CHECK(drum_job_config_finish(&c, err, sizeof err) == 0 &&
              strcmp(c.scorer.cache, "runs/demo/score_cache.bin") == 0, "finish: %s", c.scorer.cache);
    /* a file set is kept as set */
    const char *answers = "scorer: {answers: runs/x/answers.jsonl}\ntrain: {out: runs/y}\n";
    CHECK(drum_cfg_load_string(drum_job_config_schema, &c, "answers.yaml", answers,
                               strlen(answers), err, sizeof err) == 0 &&
              drum_job_config_finish(&c, err, sizeof err) == 0 &&
              strcmp(c.scorer.answers, "runs/x/answers.jsonl") == 0,
          "scorer.answers set: %s (%s)", c.scorer.answers, err);
    drum_job_config_free(&c);
    CHECK(c.train.out == NULL && c.eval.shots.v == NULL, "free clears the fields");
}

/* Writes text to a file, loads it over defaults, and expects an error that starts with
 * "path:line:col: " and contains every `want` substring. */
static void expect_error(const char *name, const char *text, int line, int col, const char *want1,
                         const char *want2) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s.yaml", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
    drum_job_config c;
    char err[1024] = "";
    int rc = drum_job_config_load(&c, path, err, sizeof err);
    char loc[192];
    if (line > 0)
        snprintf(loc, sizeof loc, "%s:%d:%d: ", path, line, col);
    else
        snprintf(loc, sizeof loc, "%s: ", path);
    CHECK(rc == -1, "%s: loaded without error", name);
    CHECK(strncmp(err, loc, strlen(loc)) == 0, "%s: error \"%s\" does not start with \"%s\"", name,
          err, loc);
    CHECK(!want1 || strstr(err, want1), "%s: \"%s\" lacks \"%s\"", name, err, want1);
    CHECK(!want2 || strstr(err, want2), "%s: \"%s\" lacks \"%s\"", name, err, want2);
    drum_job_config_free(&c);
}

static void test_errors(void) {
    expect_error("unknown_top", "seed: 1\nseeed: 2\n", 2, 1, "key 'seeed': unknown key",
                 "expected one of: seed, backend, threads, data");
    expect_error("unknown_nested", "train:\n  rounds: 2\n  lrr: 0.1\n", 3, 3, "key 'train.lrr'",
                 "expected one of: rounds, candidates_k");
    expect_error("unknown_deep", "model:\n  pretrain:\n    epoch: 3\n", 3, 5,
                 "key 'model.pretrain.epoch'", "unknown key");
    expect_error("int_word", "train:\n  rounds: two\n", 2, 11, "key 'train.rounds'",
                 "expected an integer in [0, 1000], got 'two'");
    expect_error("int_float", "train:\n  epochs: 1.5\n", 2, 11, "expected an integer", "'1.5'");
    expect_error("int_hex", "threads: 0x10\n", 1, 10, "expected an integer", NULL);
    expect_error("quoted_number", "train:\n  lr: \"0.1\"\n", 2, 7, "key 'train.lr'",
                 "got the quoted string \"0.1\"");
    expect_error("float_word", "retrieval:\n  w_text: heavy\n", 2, 11, "expected a number in [0, 1000]",
                 NULL);
    expect_error("float_nan", "train:\n  lr: .nan\n", 2, 7, "expected a number", NULL);
    expect_error("range_low", "train:\n  tau: 0\n", 2, 8, "key 'train.tau'",
                 "expected a number in [1e-06, 100], got '0'");
    expect_error("range_high", "synth:\n  image_size: 4096\n", 2, 15, "in [16, 512]", "'4096'");
    expect_error("u64_negative", "seed: -1\n", 1, 7, "key 'seed'", "non-negative integer");
    expect_error("null_int", "threads:\n", 1, 9, "key 'threads'", "got null");
    expect_error("null_tilde", "train:\n  lambda: ~\n", 2, 11, "got null", NULL);
    expect_error("enum", "backend: gpu\n", 1, 10, "key 'backend'", "expected one of: cpu, cuda, got 'gpu'");
    expect_error("enum_loss", "train:\n  loss: hinge\n", 2, 9, "one of: rank, listnet, listmle", NULL);
    expect_error("enum_layout", "synth:\n  layout: hex\n", 2, 11, "key 'synth.layout'",
                 "expected one of: free, grid, got 'hex'");
    expect_error("enum_text_length", "model:\n  text_length: short\n", 2, 16,
                 "key 'model.text_length'", "expected one of: context, longest, got 'short'");
    expect_error("shape_captions", "synth:\n  shape_captions: 1.5\n", 2, 19, "key 'synth.shape_captions'",
                 "in [0, 1]");
    expect_error("enum_classification", "synth:\n  classification: colour\n", 2, 19,
                 "key 'synth.classification'", "expected one of: shape, claim, got 'colour'");
    expect_error("list_scalar", "eval:\n  shots: 4\n", 2, 10, "key 'eval.shots'", "expected a list of integers");
    expect_error("list_item", "eval:\n  shots: [1, x, 4]\n", 2, 14, "key 'eval.shots[1]'", "got 'x'");
    expect_error("list_item_range", "eval:\n  shots:\n    - 1\n    - 999\n", 4, 7,
                 "key 'eval.shots[1]'", "in [0, 256]");
    expect_error("list_names", "eval:\n  strategies: [RS, RANDOM]\n", 2, 20, "key 'eval.strategies[1]'",
                 "expected a list of names from: RS, FIXED, SI, ST, SIT, DRUM");
    expect_error("list_dupes", "eval:\n  shots: [1, 2, 1]\n", 2, 10, "k = 1 appears twice", NULL);
    expect_error("list_empty", "eval:\n  strategies: []\n", 2, 15, "at least one strategy", NULL);
    expect_error("duplicate_key", "train:\n  lr: 0.1\n  rounds: 2\n  lr: 0.2\n", 4, 3,
                 "key 'train.lr': duplicate key", "first set at line 2");
    expect_error("duplicate_section", "train:\n  lr: 0.1\neval:\n  shots: [1]\ntrain:\n  rounds: 1\n",
                 5, 1, "key 'train': duplicate key", "line 1");
    expect_error("section_scalar", "train: 5\n", 1, 8, "key 'train'", "expected a mapping (section), got a scalar");
    expect_error("scalar_mapping", "seed:\n  a: 1\n", 2, 3, "key 'seed'", "got a mapping");
    expect_error("string_list", "data:\n  dir: [a, b]\n", 2, 8, "key 'data.dir'", "expected a string, got a list");
    expect_error("template", "retrieval:\n  demo_text: \"{P} {Q}\"\n", 2, 14, "key 'retrieval.demo_text'",
                 "expected {P} or {R}");
    expect_error("template_none", "retrieval:\n  query_text: plain text\n", 2, 15, "no placeholder", NULL);
    expect_error("syntax", "train:\n  lr: [1, 2\nseed: 3\n", 3, 5, "YAML syntax error", NULL);
    expect_error("syntax_indent", "train:\n  lr: 1\n bad: 2\n", 3, 2, "YAML syntax error", NULL);
    expect_error("two_documents", "seed: 1\n---\nseed: 2\n", 2, 1, "second YAML document", NULL);
    /* an empty second document is named at its "---", not past the end of the file */
    expect_error("empty_second_document", "seed: 1\n---\n", 2, 1, "second YAML document", NULL);
    /* a NUL escape would cut drum's C strings short: "seed\0junk" read as seed, "cuda\0x" as
     * cuda (an audit found both accepted) */
    expect_error("nul_key", "\"seed\\0junk\": 5\n", 1, 1, "a NUL character (\\0) in the key",
                 NULL);
    expect_error("nul_value", "backend: \"cuda\\0junk\"\n", 1, 10,
                 "key 'backend': a NUL character (\\0) in the value", NULL);
    expect_error("nul_item", "eval: {strategies: [\"RS\\0x\"]}\n", 1, 21,
                 "key 'eval.strategies[0]': a NUL character", NULL);
    /* tags: the key decides the type; !!str 5 read as 5 where "5" is refused */
    expect_error("tag_str", "seed: !!str 5\n", 1, 7, "the YAML tag 'tag:yaml.org,2002:str'",
                 "expected no tags");
    expect_error("tag_custom", "train:\n  lr: !foo 1\n", 2, 7, "the YAML tag '!foo'", NULL);
    expect_error("tag_section", "--- !!map\nseed: 1\n", 1, 5, "the YAML tag", NULL);
    /* an alias's error is where it is used, naming the anchor's line */
    expect_error("alias_use", "model:\n  config: &a foo\n\n\n\nseed: *a\n", 6, 1,
                 "key 'seed': expected a non-negative integer, got 'foo'",
                 "(in the value of the anchor at line 2)");
    expect_error("leading_zero", "seed: 017\n", 1, 7, "got '017' (a leading zero: YAML 1.1 reads "
                 "it as octal", NULL);
    expect_error("leading_zero_int", "threads: +010\n", 1, 10, "a leading zero", NULL);
    expect_error("underflow", "train:\n  lr: 1e-310\n", 2, 7, "got '1e-310' (below the smallest "
                 "normal double", NULL);
    /* bytes that are not UTF-8: line and column, counted from 1 */
    expect_error("not_utf8", "seed: 1\ndata: {dir: a\xff" "b}\n", 2, 14, "not UTF-8 text", NULL);
    expect_error("top_list", "- seed\n- 1\n", 1, 1, "expected a mapping of keys at the top level", NULL);
    expect_error("cross_field", "train:\n  candidates_k: 5\n  scored_per_round: 8\n", 0, 0,
                 "train.scored_per_round (8) exceeds train.candidates_k (5)", NULL);
    expect_error("half_data", "data:\n  train: a.jsonl\n", 0, 0, "data.train and data.eval", NULL);
    /* the scorer's settings fail at load, before a job reads its data */
    expect_error("exec_no_command", "scorer: {backend: exec}\n", 0, 0, "scorer.command",
                 "needs the command that runs the LVLM");
    expect_error("openai", "scorer: {backend: openai}\n", 0, 0, "not built into drum",
                 "tools/lvlm_openai.py --url");

    drum_job_config c;
    char err[512];
    /* what a plain integer may look like, and an alias where it reads right */
    const char *fine = "seed: +5\nretrieval: {w_image: &w 0.25, w_text: *w}\nthreads: 0\n";
    CHECK(drum_job_config_init(&c, err, sizeof err) == 0 &&
              drum_cfg_load_string(drum_job_config_schema, &c, "fine.yaml", fine, strlen(fine),
                                   err, sizeof err) == 0 &&
              c.seed == 5 && c.retrieval.w_text == 0.25,
          "+5 and an alias: %s", err);
    drum_job_config_free(&c);
    CHECK(drum_job_config_load(&c, "/nonexistent/x.yaml", err, sizeof err) == -1 &&
              strstr(err, "/nonexistent/x.yaml: cannot open"), "missing file: %s", err);
    drum_job_config_free(&c);
}

static void test_overrides(void) {
    drum_job_config c;
    char err[512];
    drum_job_config_init(&c, err, sizeof err);
    const char *ok[] = {"train.lr=3e-4", "eval.shots=[2, 8]", "backend=cuda", "data.train=",
                        "model.pretrain.batch=32", "train.freeze=[\"vision_model.*\"]",
                        "retrieval.demo_text={R}", "data.dir=a dir with spaces"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK(drum_cfg_set(drum_job_config_schema, &c, ok[i], err, sizeof err) == 0, "%s: %s", ok[i], err);
    CHECK(c.train.lr == 3e-4 && c.eval.shots.n == 2 && c.eval.shots.v[1] == 8 && c.backend == 1 &&
              c.data.train[0] == '\0' && c.model.pretrain.batch == 32 && c.train.freeze.n == 1 &&
              strcmp(c.retrieval.demo_text, "{R}") == 0 && strcmp(c.data.dir, "a dir with spaces") == 0,
          "overrides applied (strings taken as written)");
    struct {
        const char *set, *want;
    } bad[] = {{"train.lrr=1", "unknown key 'train.lrr'"},
               {"train.rounds=abc", "key 'train.rounds': expected an integer"},
               {"train.rounds.x=1", "unknown key"},
               {"noequals", "expected key=value"},
               {"eval.shots=[1, [2]]", "key 'eval.shots[1]'"},
               {"train.tau=-1", "in [1e-06, 100]"},
               {"retrieval.query_text={R}", "expected {P} or {D}"},
               {"train.lr.x=1", "unknown key 'train.lr.x'; 'train.lr' is a setting, not a section"},
               {"train.foo=1", "unknown key 'train.foo'; expected one of: rounds, candidates_k"},
               {"seed=[1", "override 'seed=[1': at the end of the value: YAML syntax error"},
               {"seed=a: b: c", "override 'seed=a: b: c': at column 5 of the value: YAML syntax"},
               {"seed=!!str 5", "the YAML tag"},
               {"model.config=", "key 'model.config': expected a config.json path or demo-tiny"},
               {"seed=\xff", "override 'seed=\\xFF': at column 1 of the value: not UTF-8"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(drum_cfg_set(drum_job_config_schema, &c, bad[i].set, err, sizeof err) == -1 &&
                  strstr(err, bad[i].want) && strstr(err, "override '"),
              "%s: \"%s\" lacks \"%s\"", bad[i].set, err, bad[i].want);
    }
    CHECK(c.train.rounds == 3 && c.train.tau == 0.05, "failed overrides change nothing");
    drum_job_config_free(&c);
}

static void test_round_trip(void) {
    drum_job_config a, b;
    char err[512];
    drum_job_config_load(&a, "experiments/demo.yaml", err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &a, "train.lr=0.1", err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &a, "data.dir=odd \"dir\" \\ name\ttab", err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &a, "train.freeze=[\"a*\", \"b\"]", err, sizeof err);
    char *t1 = drum_cfg_write_string(drum_job_config_schema, &a);
    drum_job_config_init(&b, err, sizeof err);
    int rc = drum_cfg_load_string(drum_job_config_schema, &b, "written.yaml", t1, strlen(t1), err,
                                  sizeof err);
    CHECK(rc == 0, "reading the written config: %s\n%s", err, t1);
    char *t2 = drum_cfg_write_string(drum_job_config_schema, &b);
    CHECK(strcmp(t1, t2) == 0, "write -> load -> write is stable:\n%s\n---\n%s", t1, t2);
    CHECK(b.train.lr == 0.1 && strcmp(b.data.dir, "odd \"dir\" \\ name\ttab") == 0 &&
              b.train.freeze.n == 2 && b.model.pretrain.lr == 1e-3,
          "values survive: dir=%s", b.data.dir);
    free(t1);
    free(t2);
    drum_job_config_free(&a);
    drum_job_config_free(&b);
}

/* Strings a YAML file can only hold escaped survive write -> load unchanged: C0 controls,
 * DEL, C1 controls (NEL, U+0090), a BOM, U+FFFE, the line and paragraph separators next to
 * printable non-ASCII of 2, 3 and 4 bytes; bytes that are not UTF-8 are refused by --set, naming the first. */
static void test_string_round_trip(void) {
    drum_job_config a, b;
    char err[512];
    drum_job_config_init(&a, err, sizeof err);
    const char *odd = "data.dir=t\tn\nr\rdel\x7f nel\xc2\x85 c1\xc2\x90 bom\xef\xbb\xbf "
                      "fffe\xef\xbf\xbe ls\xe2\x80\xa8 ps\xe2\x80\xa9 caf\xc3\xa9 \xe6\xbc\xa2 "
                      "\xf0\x9f\x99\x82 \"q\" \\";
    int rc = drum_cfg_set(drum_job_config_schema, &a, odd, err, sizeof err);
    CHECK(rc == 0, "setting an odd but UTF-8 string: %s", err);
    char *t = drum_cfg_write_string(drum_job_config_schema, &a);
    drum_job_config_init(&b, err, sizeof err);
    rc = drum_cfg_load_string(drum_job_config_schema, &b, "written.yaml", t, strlen(t), err,
                              sizeof err);
    CHECK(rc == 0 && strcmp(a.data.dir, b.data.dir) == 0, "the odd string reads back: %s\n%s",
          rc ? err : b.data.dir, t);
    free(t);
    err[0] = '\0';
    rc = drum_cfg_set(drum_job_config_schema, &a, "data.dir=ab\xff", err, sizeof err);
    CHECK(rc == -1 && strstr(err, "byte 3 is not UTF-8") && strstr(err, "data.dir"),
          "a string with a byte that is not UTF-8: %s", err);
    drum_job_config_free(&a);
    drum_job_config_free(&b);
}

/* drum_cfg_diff names each differing key with both values as written, in schema order, and
 * leaves out the skipped keys. */
static void test_diff(void) {
    drum_job_config a, b;
    char err[512], out[1024];
    drum_job_config_init(&a, err, sizeof err);
    drum_job_config_init(&b, err, sizeof err);
    int n = drum_cfg_diff(drum_job_config_schema, &a, &b, NULL, out, sizeof out);
    CHECK(n == 0 && out[0] == '\0', "two default configs differ: %d, '%s'", n, out);
    drum_cfg_set(drum_job_config_schema, &b, "train.lr=2e-5", err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &b, "eval.shots=[1, 4]", err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &b, "threads=3", err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &b, "data.dir=x \"y\"", err, sizeof err);
    n = drum_cfg_diff(drum_job_config_schema, &a, &b, NULL, out, sizeof out);
    CHECK(n == 4 && strcmp(out, "threads: 0 there, 3 here; data.dir: \"data/demo\" there, "
                                "\"x \\\"y\\\"\" here; train.lr: 1e-05 there, 2e-05 here; "
                                "eval.shots: [1, 2, 4, 8] there, [1, 4] here") == 0,
          "4 differences: %d, '%s'", n, out);
    const char *const skip[] = {"threads", "eval.shots", NULL};
    n = drum_cfg_diff(drum_job_config_schema, &a, &b, skip, out, sizeof out);
    CHECK(n == 2 && !strstr(out, "threads") && !strstr(out, "shots") && strstr(out, "train.lr"),
          "skipping threads and eval.shots: %d, '%s'", n, out);
    char small[40];
    n = drum_cfg_diff(drum_job_config_schema, &a, &b, NULL, small, sizeof small);
    CHECK(n == 4 && strlen(small) == sizeof small - 1, "a short buffer is cut, the count whole: %d",
          n);
    /* long values compare whole: two 2000-character paths that differ in the last one */
    char set_a[2100] = "data.dir=", set_b[2100];
    memset(set_a + 9, 'x', 2000);
    set_a[2009] = '\0';
    memcpy(set_b, set_a, sizeof set_a);
    set_b[2008] = 'y';
    drum_cfg_set(drum_job_config_schema, &a, set_a, err, sizeof err);
    drum_cfg_set(drum_job_config_schema, &b, set_b, err, sizeof err);
    n = drum_cfg_diff(drum_job_config_schema, &a, &b, NULL, out, sizeof out);
    CHECK(n == 4 && strstr(out, "data.dir: \"xxx"), "paths differing at character 2000: %d", n);
    drum_job_config_free(&a);
    drum_job_config_free(&b);
}

/* Every key of the schema appears in docs/CONFIG.md as `dotted.name`. */
static int doc_walk(const drum_cfg_field *t, const char *prefix, const char *doc) {
    int missing = 0;
    for (int i = 0; t[i].key; i++) {
        char full[256], tick[260];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", t[i].key);
        snprintf(tick, sizeof tick, "`%s`", full);
        if (!strstr(doc, tick)) {
            printf("docs/CONFIG.md does not document %s\n", tick);
            missing++;
        }
        if (t[i].type == DRUM_CFG_SECTION) missing += doc_walk(t[i].section, full, doc);
    }
    return missing;
}

static void test_docs(void) {
    char *doc = read_text("docs/CONFIG.md");
    CHECK(doc != NULL, "cannot read docs/CONFIG.md (run from the repository root)");
    if (!doc) return;
    CHECK(doc_walk(drum_job_config_schema, "", doc) == 0, "undocumented keys");
    free(doc);
}

/* A schema of every type, for the parts the job config does not use (bool). */
typedef struct {
    int flag;
    uint64_t big;
    drum_cfg_int_list any;
} mini;

static const drum_cfg_field MINI[] = {
    {.key = "flag", .type = DRUM_CFG_BOOL, .offset = offsetof(mini, flag), .def = "false"},
    {.key = "big", .type = DRUM_CFG_U64, .offset = offsetof(mini, big), .def = "18446744073709551615"},
    {.key = "any", .type = DRUM_CFG_INT_LIST, .offset = offsetof(mini, any), .def = ""},
    {.key = NULL},
};

static void test_mini_schema(void) {
    mini m = {0};
    char err[512];
    CHECK(drum_cfg_defaults(MINI, &m, err, sizeof err) == 0 && m.flag == 0 &&
              m.big == 18446744073709551615ULL && m.any.n == 0, "mini defaults: %s", err);
    const char *y = "flag: true\nbig: 5\nany: [-3, 0, 2147483647]\n";
    CHECK(drum_cfg_load_string(MINI, &m, "mini.yaml", y, strlen(y), err, sizeof err) == 0 &&
              m.flag == 1 && m.big == 5 && m.any.n == 3 && m.any.v[0] == -3, "mini load: %s", err);
    const char *bad[][2] = {{"flag: yes\n", "mini.yaml:1:7: key 'flag': expected true or false, got 'yes'"},
                            {"flag: \"true\"\n", "expected true or false, got the quoted string"},
                            {"big: 18446744073709551616\n", "key 'big': expected a non-negative integer"},
                            {"any: [2147483648]\n", "key 'any[0]'"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(drum_cfg_load_string(MINI, &m, "mini.yaml", bad[i][0], strlen(bad[i][0]), err,
                                   sizeof err) == -1 && strstr(err, bad[i][1]),
              "mini %s: \"%s\" lacks \"%s\"", bad[i][0], err, bad[i][1]);
    }
    drum_cfg_free(MINI, &m);
    static const drum_cfg_field BAD_DEFAULT[] = {
        {.key = "n", .type = DRUM_CFG_INT, .offset = 0, .def = "x", .ranged = 1, .min = 0, .max = 3},
        {.key = NULL}};
    int n;
    CHECK(drum_cfg_defaults(BAD_DEFAULT, &n, err, sizeof err) == -1 && strstr(err, "default of 'n'"),
          "a malformed default is reported: %s", err);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/drum_test_config_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        return check_summary();
    }
    test_demo_yaml();
    test_experiment_templates();
    test_defaults();
    test_errors();
    test_overrides();
    test_round_trip();
    test_diff();
    test_string_round_trip();
    test_docs();
    test_mini_schema();
    CHECK(test_remove_tree(tmpdir) == 0, "cleanup of %s", tmpdir);
    return check_summary();
}

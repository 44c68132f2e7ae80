/* config.h — strict YAML configuration: a declarative schema and drum's job config.
 *
 * A schema is a table of fields per section (key, type, offset into a C struct, default,
 * allowed range or names). The loader applies a YAML file to a struct that already holds
 * the defaults and rejects, with "file:line:col: key 'a.b': ... expected ..." messages:
 * unknown keys, duplicate keys, wrong types (a quoted "3" is a string, not an integer),
 * out-of-range numbers, names outside an enum, YAML syntax errors and a second document.
 * Scalars follow YAML 1.2's core schema narrowly: integers are decimal, floats are what
 * strtod reads and finite, booleans are true/false, a plain null/~/empty value is an empty
 * string for string fields and an error elsewhere.
 *
 * The job config (drum_job_config) is the one struct a drum run reads; each field is
 * documented in docs/CONFIG.md (experiments/demo.yaml sets most of them; the others keep
 * their defaults there).
 */
#ifndef DRUM_CONFIG_H
#define DRUM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the schema mechanism ----------------------------------------------------------------- */

typedef enum {
    DRUM_CFG_INT,         /* int */
    DRUM_CFG_U64,         /* uint64_t (seeds) */
    DRUM_CFG_FLOAT,       /* double */
    DRUM_CFG_BOOL,        /* int, 0 or 1 */
    DRUM_CFG_STRING,      /* char *, malloc'd, never NULL once defaults are set */
    DRUM_CFG_ENUM,        /* int: the index of the value in `names` */
    DRUM_CFG_INT_LIST,    /* drum_cfg_int_list */
    DRUM_CFG_STRING_LIST, /* drum_cfg_str_list */
    DRUM_CFG_SECTION      /* a nested struct at `offset`, described by `section` */
} drum_cfg_type;

typedef struct {
    int *v;
    int n;
} drum_cfg_int_list;

typedef struct {
    char **v;
    int n;
} drum_cfg_str_list;

typedef struct drum_cfg_field drum_cfg_field;
struct drum_cfg_field {
    const char *key;      /* NULL ends a table */
    drum_cfg_type type;
    size_t offset;        /* of the value inside the section's struct */
    /* The default, written as text: "3", "1e-4", "true", "cpu", "" for an empty string;
     * lists as comma-separated items ("1,2,4,8"; "" = empty). Ignored for sections. */
    const char *def;
    int ranged;           /* numbers and int-list items must lie in [min, max] */
    double min, max;
    /* ENUM: the allowed names, NULL-terminated. STRING_LIST: allowed items (NULL: any). */
    const char *const *names;
    const drum_cfg_field *section; /* SECTION: the nested table */
    /* Optional further validation of the value just set; returns 0, or -1 with a message
     * saying what was expected. */
    int (*check)(const void *value, char *msg, size_t msglen);
};

/* Sets every field described by schema to its default. obj must be zeroed or hold values
 * set by these functions (replaced strings and lists are freed). Returns 0, or -1 with a
 * message (a malformed default, out of memory). */
int drum_cfg_defaults(const drum_cfg_field *schema, void *obj, char *err, size_t errlen);

/* Applies the YAML file at path to obj (which holds defaults or an earlier load): only the
 * keys present change. Returns 0, or -1 with "path:line:col: ..." in err; on error obj may
 * be partly updated but stays valid to free. */
int drum_cfg_load_file(const drum_cfg_field *schema, void *obj, const char *path, char *err,
                       size_t errlen);

/* As drum_cfg_load_file for YAML text held in memory; `name` stands for the file name in
 * messages. */
int drum_cfg_load_string(const drum_cfg_field *schema, void *obj, const char *name,
                         const char *text, size_t len, char *err, size_t errlen);

/* Sets one field from "dotted.key=value" with the same checks as a file. For command-line
 * overrides: the value is YAML ("1e-4", "[1, 2]", "cuda") except for string fields, which
 * take the text as written ("retrieval.demo_text={R}"). Returns 0, or -1 with
 * "override 'key=value': key 'k': ... expected ..."; as with a file, a failed call may leave
 * the field changed, and the caller should stop. */
int drum_cfg_set(const drum_cfg_field *schema, void *obj, const char *assignment, char *err,
                 size_t errlen);

/* Writes obj as YAML that drum_cfg_load_* reads back to the same values (floats in the
 * shortest form that round-trips). Returns 0, or -1 on a write error. */
int drum_cfg_write(const drum_cfg_field *schema, const void *obj, FILE *f);
/* The same text in a malloc'd string, or NULL when out of memory. */
char *drum_cfg_write_string(const drum_cfg_field *schema, const void *obj);

/* Compares two objects of one schema field by field, as drum_cfg_write writes their values.
 * For each difference, appends "key: A there, B here" to out ("; " between them, cut to n),
 * skipping the dotted keys in skip (NULL-terminated; NULL for none). Returns the number of
 * differences found (skipped keys not counted). */
int drum_cfg_diff(const drum_cfg_field *schema, const void *there, const void *here,
                  const char *const *skip, char *out, size_t n);

/* Frees the strings and lists inside obj (not obj itself) and zeroes them. */
void drum_cfg_free(const drum_cfg_field *schema, void *obj);

/* ---- drum's job config ----------------------------------------------------------------------- */

/* retrieval.order: where the most similar demonstration goes in the prompt. */
typedef enum { DRUM_ORDER_MOST_SIMILAR_LAST = 0, DRUM_ORDER_MOST_SIMILAR_FIRST = 1 } drum_demo_order;
/* train.loss */
typedef enum { DRUM_LOSS_RANK = 0, DRUM_LOSS_LISTNET = 1, DRUM_LOSS_LISTMLE = 2 } drum_loss_kind;
/* scorer.backend */
typedef enum {
    DRUM_SCORER_SYNTHETIC = 0,
    DRUM_SCORER_OPENAI = 1,
    DRUM_SCORER_EXEC = 2
} drum_scorer_backend;

typedef struct {
    char *dir;   /* where datasets live (and where the synthetic suite is written) */
    char *train; /* JSONL of the support set; "" = the synthetic suite's train split */
    char *eval;  /* JSONL of the evaluation queries; "" = the synthetic suite's eval split */
} drum_data_config;

/* synth.layout: where the generator puts objects (include/drum/synth.h) */
typedef enum { DRUM_LAYOUT_FREE = 0, DRUM_LAYOUT_GRID = 1 } drum_synth_layout;

typedef struct {
    int n_train, n_eval, n_pretrain, image_size;
    int layout;            /* drum_synth_layout */
    double shape_captions; /* fraction of pre-training captions that name only the shapes */
    int classification;    /* drum_synth_classification (include/drum/synth.h): shape, claim */
    uint64_t seed;
} drum_job_synth_config;

typedef struct {
    int epochs, batch;
    double lr, weight_decay;
    int warmup_steps;
} drum_pretrain_config;

/* model.text_length: how long the token rows of a prepared dataset are */
typedef enum { DRUM_TEXT_CONTEXT = 0, DRUM_TEXT_LONGEST = 1 } drum_text_length;

typedef struct {
    char *config;     /* a Hugging Face config.json path, or "demo-tiny" */
    char *checkpoint; /* model.safetensors path; "" = random init, then pretrain */
    int text_length;  /* drum_text_length */
    drum_pretrain_config pretrain;
} drum_model_config;

typedef struct {
    char *demo_text;  /* template over {P}, {R} */
    char *query_text; /* template over {P}, {D} */
    double w_image, w_text;
    int order;        /* drum_demo_order */
} drum_retrieval_config;

typedef struct {
    int rounds, candidates_k, scored_per_round, epochs, batch_queries;
    int queries;              /* training queries: a seeded sample of the pool; 0 = all */
    int exclude_same_image;   /* mining skips candidates showing the query's image */
    int list_size;            /* candidate slots per query in a step */
    int micro_batch;          /* image-text pairs per tower pass in a step; 0 = all at once */
    double lr;
    int warmup_steps;
    double weight_decay, grad_clip, tau, lambda;
    int loss;                 /* drum_loss_kind */
    double listnet_tau;
    drum_cfg_str_list freeze; /* parameter-name patterns kept frozen */
    int checkpoint_every;     /* optimizer steps; 0 = at the end of each round */
    char *out;                /* run directory */
} drum_train_config;

typedef struct {
    int backend;  /* drum_scorer_backend */
    char *command; /* exec: the subprocess's command line (run with /bin/sh -c) */
    double timeout; /* exec: seconds a request may take; 0 = no limit */
    char *cache;  /* score cache file; "" is filled in as {train.out}/DRUM_SCORE_CACHE_NAME */
    char *answers; /* answer cache file (not the simulator's); "" is filled in as
                    * {train.out}/DRUM_ANSWERS_NAME */
    uint64_t seed;
    int rules;    /* synthetic: the simulator's rule set, 1 or 2 (docs/SIMULATOR.md) */
} drum_scorer_config;

/* The files the loader derives from train.out for an empty scorer.cache / scorer.answers
 * (drum_job_config_finish; train.out/config.yaml writes a derived path back as empty). */
#define DRUM_SCORE_CACHE_NAME "score_cache.bin"
#define DRUM_ANSWERS_NAME "answers.jsonl"


/* eval.classify: how classification queries are answered (icl.h) */
typedef enum { DRUM_CLASSIFY_GENERATE = 0, DRUM_CLASSIFY_RANK = 1 } drum_classify;

typedef struct {
    drum_cfg_int_list shots;      /* k values, each evaluated */
    drum_cfg_str_list strategies; /* names among RS, FIXED, SI, ST, SIT, DRUM */
    int classify;                 /* drum_classify */
    int exclude_same_image;       /* a query retrieves no demonstration showing its image */
} drum_eval_config;

typedef struct {
    uint64_t seed;
    int backend; /* drum_backend_kind: 0 cpu, 1 cuda */
    int threads; /* CPU threads; 0 = OpenMP's default */
    drum_data_config data;
    drum_job_synth_config synth;
    drum_model_config model;
    drum_retrieval_config retrieval;
    drum_train_config train;
    drum_scorer_config scorer;
    drum_eval_config eval;
} drum_job_config;

/* The job config's schema (top-level table). */
extern const drum_cfg_field drum_job_config_schema[];

/* Fills c with the defaults. Returns 0, or -1 with a message (out of memory). */
int drum_job_config_init(drum_job_config *c, char *err, size_t errlen);

/* Defaults, then the YAML file at path, then drum_job_config_finish. Returns 0, or -1 with
 * a message; c is valid to free either way. With command-line overrides, call
 * drum_job_config_init, drum_cfg_load_file, drum_cfg_set... and drum_job_config_finish. */
int drum_job_config_load(drum_job_config *c, const char *path, char *err, size_t errlen);

/* The checks across fields (scored_per_round <= candidates_k, an exec scorer's command,
 * ...) and the derived defaults (scorer.cache under train.out). Call after overrides
 * (drum_cfg_set); drum_job_open expects a config that passed. */
int drum_job_config_finish(drum_job_config *c, char *err, size_t errlen);

/* A text template (retrieval.demo_text, query_text, drum embed --text): only the
 * placeholders `allowed` names ("PR": {P} and {R}), at least one, no stray brace. Returns 0,
 * or -1 with "bad placeholder at character N; expected {P} or {R}" and the like in msg. */
int drum_text_template_check(const char *s, const char *allowed, char *msg, size_t len);

void drum_job_config_free(drum_job_config *c);

#ifdef __cplusplus
}
#endif
#endif

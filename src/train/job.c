/* job.c — a whole DRUM run from a job config (job.h). */
#include "drum/job.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drum/backend.h"
#include "drum/clip.h"
#include "drum/clip_io.h"
#include "drum/clip_model.h"
#include "drum/comm.h"
#include "drum/data.h"
#include "drum/demo.h"
#include "drum/exec_scorer.h"
#include "drum/fileio.h"
#include "drum/icl.h"
#include "drum/ndcg.h"
#include "drum/prepare.h"
#include "drum/pretrain.h"
#include "drum/retrieval.h"
#include "drum/rng.h"
#include "drum/safetensors.h"
#include "drum/answer_cache.h"
#include "drum/score_cache.h"
#include "drum/sharded_scorer.h"
#include "drum/synth.h"
#include "drum/synthetic_lvlm.h"
#include "drum/tokenizer.h"
#include "drum/trace.h"
#include "drum/trainer.h"

#define NDCG_K 10

typedef struct {
    char label[32];          /* "SIT", "DRUM r2" */
    drum_strategy strategy;
    int round;               /* DRUM: 1-based round; else 0 */
    int shots;
    drum_icl_result r;
    double *pq;              /* the simulator's P(correct) per held-out query; NULL when not
                              * computed here (another scorer, a row restored on --resume) */
    double *mq;              /* each held-out query's own task score (NaN: binary); NULL for a
                              * row restored on --resume */
} result_row;

typedef struct {
    int present;             /* evaluated in this run or restored */
    int round;               /* 0 = the un-tuned retriever (SIT), r = after DRUM round r */
    double ndcg;
    double loss;
    long steps;
} round_row;

struct drum_job {
    const drum_job_config *cfg;
    drum_comm *comm;          /* the ranks of a data-parallel run: rank 0 writes the files */
    drum_progress progress;
    int parts;                /* what the job was opened for: DRUM_JOB_* bits (job.h) */
    volatile sig_atomic_t *stop;
    int stopped;              /* a stop was agreed (progress.stop said so) */
    int checkpoint_failed;    /* training could not write its checkpoint */
    /* the data, image and text fingerprints a checkpoint of this job carries
     * (job_fingerprints), taken once: the resume checks and the trainer share them */
    uint64_t fingerprints[3];
    int fingerprinted;
    int alone_stopped;        /* a stop ended rank 0's work alone: the suite's generation or
                               * pre-training (several ranks; own_stop) */
    void (*log)(const char *line);
    drum_backend *be;
    char *data_dir, *train_path, *eval_path, *tok_dir;
    drum_dataset train, eval;
    drum_scorer *lvlm;        /* the raw scorer (owned by `scorer`): NDCG's oracle */
    int oracle_ndcg;          /* NDCG@10 is computed (synthetic scorer only: it scores every
                               * pool candidate of every query each round); else NaN */
    drum_scorer *scorer;      /* the score cache around lvlm */
    char **train_drafts, **eval_drafts;
    unsigned char *pool_queries; /* the pool's training queries (train.queries); NULL: all */
    drum_tokenizer *tok;
    drum_clip_config ccfg;
    drum_clip_params params;
    drum_clip_model *model;
    drum_prepared pool, queries;
    int *pool_group, *query_group; /* task family of each example: one pool per task */
    int *eval_self;               /* (eval.n) the pool row that is the same example as the
                                   * query (same id, image path and prompt), or -1; NULL when
                                   * no query is a pool example */
    int n_eval_self;
    int eval_most;                /* with eval.exclude_same_image: the most pool examples
                                   * showing one image, which a query may pass over; else 0 */
    int n_groups;
    const char *group_name[DRUM_ICL_MAX_TASKS]; /* each family's task (the datasets' strings) */
    result_row *rows;             /* the evaluations so far (next_row) */
    int n_rows, cap_rows;
    round_row *rounds;            /* [r]: round r's NDCG and loss, when present (round_slot) */
    int n_rounds, cap_rounds;
    char *report;
    char *prev_results;       /* results.jsonl as an earlier run left it, for --resume */
    char prev_error[256];     /* why it could not be read (prev_results NULL), else "" */
    /* a resumed run before training has restored the finished rounds' rows: results.jsonl
     * keeps prev_results' DRUM and NDCG rows meanwhile (a stop in a resumed demo's baselines
     * must not lose them) */
    int carry_prev;
    /* the pool's embeddings under the un-tuned weights, as the baselines left them: the
     * trainer's first mining takes them (drum_trainer_offer_pool) */
    drum_embeddings untuned_pool;
};

static void note(drum_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A zeroed row after the last evaluation's, the array grown as needed; j->n_rows++ takes it.
 * NULL out of memory. */
static result_row *next_row(drum_job *j) {
    if (j->n_rows == j->cap_rows) {
        int cap = j->cap_rows ? 2 * j->cap_rows : 64;
        result_row *rows = realloc(j->rows, (size_t)cap * sizeof *rows);
        if (!rows) return NULL;
        j->rows = rows;
        j->cap_rows = cap;
    }
    return memset(&j->rows[j->n_rows], 0, sizeof *j->rows);
}

/* Round r's NDCG row, the array grown (absent rows zeroed) to hold it and n_rounds past it;
 * NULL out of memory. */
static round_row *round_slot(drum_job *j, int r) {
    if (r >= j->cap_rounds) {
        int cap = j->cap_rounds ? j->cap_rounds : 4;
        while (cap <= r) cap *= 2;
        round_row *rounds = realloc(j->rounds, (size_t)cap * sizeof *rounds);
        if (!rounds) return NULL;
        memset(rounds + j->cap_rounds, 0, (size_t)(cap - j->cap_rounds) * sizeof *rounds);
        j->rounds = rounds;
        j->cap_rounds = cap;
    }
    if (j->n_rounds < r + 1) j->n_rounds = r + 1;
    return &j->rounds[r];
}

static int largest_shots(const drum_job_config *c);
static drum_progress alone_progress(drum_job *j);
static int alone_done(drum_job *j, int rc, const char *what, char *err, size_t errlen);
static int max_shots(const drum_job *j);
static drum_train_opts train_opts(const drum_job *j);
static const uint64_t *job_fingerprints(drum_job *j);
static void note(drum_job *j, const char *fmt, ...) {
    if (!j->log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    j->log(line);
}

/* Appends "key: X here, Y wanted" for each top-level key whose value differs between two
 * synth.json objects (a key missing from `have` reads "none"). */
static void synth_differences(const cJSON *have, const cJSON *want, char *out, size_t n) {
    size_t o = 0;
    out[0] = '\0';
    for (const cJSON *w = want ? want->child : NULL; w && o + 1 < n; w = w->next) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(have, w->string);
        char *hs = h ? cJSON_PrintUnformatted(h) : NULL, *ws = cJSON_PrintUnformatted(w);
        if (ws && (!hs || strcmp(hs, ws) != 0)) {
            int k = snprintf(out + o, n - o, "%s%s: %s here, %s wanted", o ? "; " : "",
                             w->string, hs ? hs : "none", ws);
            if (k > 0) o += (size_t)k < n - o ? (size_t)k : n - o - 1;
        }
        free(hs);
        free(ws);
    }
}

/* A suite already in dir must be the one this configuration's synth section describes: its
 * synth.json (when it has one) must read as drum_synth_generate would write it now. Otherwise
 * a changed synth setting would silently run on the old data. */
static int check_suite(const char *dir, const drum_synth_config *sc, char *err, size_t errlen) {
    char *path = drum_path_join(dir, "synth.json"), want[1024], why[256];
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *have = drum_read_file(path, NULL, why, sizeof why); /* NULL: no synth.json */
    drum_synth_config_json(sc, want, sizeof want);
    int rc = 0;
    if (have && strcmp(have, want) != 0) {
        cJSON *h = cJSON_Parse(have), *w = cJSON_Parse(want);
        char diff[512];
        synth_differences(h, w, diff, sizeof diff);
        snprintf(err, errlen,
                 "%s: the suite in %s was generated with other synth settings than this "
                 "configuration's (%s); remove the directory (drum regenerates it) or set "
                 "data.dir elsewhere",
                 path, dir, diff[0] ? diff : "not the JSON drum writes");
        cJSON_Delete(h);
        cJSON_Delete(w);
        rc = -1;
    }
    free(have);
    free(path);
    return rc;
}

/* Rank 0 writes the run's files; with one process, that is this one. */
static int writer(const drum_job *j) { return j->comm->rank == 0; }

/* ---------------------------------------------------------------- set-up ---- */

typedef struct {
    const char *id;
    int row;
} id_row;

static int cmp_id_row(const void *a, const void *b) {
    return strcmp(((const id_row *)a)->id, ((const id_row *)b)->id);
}

/* Evaluation queries that are pool examples (data.eval naming data.train, or part of it): the
 * same id and prompt, and an image file of the same bytes (the images read: a file written
 * elsewhere names them by other paths). Each is left out of its own retrieval, as mining
 * leaves out the query itself; else it would be its own first demonstration, answer and
 * all. */
static int find_eval_self(drum_job *j, char *err, size_t errlen) {
    id_row *pool = malloc((size_t)(j->train.n + 1) * sizeof *pool);
    if (!pool) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < j->train.n; i++) pool[i] = (id_row){j->train.ex[i].id, i};
    qsort(pool, (size_t)j->train.n, sizeof *pool, cmp_id_row);
    for (int q = 0; q < j->eval.n; q++) {
        const drum_example *e = &j->eval.ex[q];
        id_row key = {e->id, -1};
        const id_row *hit = bsearch(&key, pool, (size_t)j->train.n, sizeof *pool, cmp_id_row);
        const drum_example *p = hit ? &j->train.ex[hit->row] : NULL;
        if (!p || j->pool.image_digest[hit->row] != j->queries.image_digest[q] ||
            strcmp(p->prompt, e->prompt) != 0)
            continue;
        if (!j->eval_self) {
            j->eval_self = malloc((size_t)j->eval.n * sizeof *j->eval_self);
            if (!j->eval_self) {
                free(pool);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            for (int k = 0; k < j->eval.n; k++) j->eval_self[k] = -1;
        }
        j->eval_self[q] = hit->row;
        j->n_eval_self++;
    }
    free(pool);
    if (j->n_eval_self)
        note(j, "data: %d of the %d queries in %s are examples of the pool %s (the same id, "
             "prompt and image bytes): each is left out of its own retrieval, and of NDCG's "
             "ranking",
             j->n_eval_self, j->eval.n, j->eval.path, j->train.path);
    return 0;
}

typedef struct {
    uint64_t key; /* the prompt's digest and the image's, hashed together */
    int row;
} key_row;

static int cmp_key_row(const void *a, const void *b) {
    uint64_t x = ((const key_row *)a)->key, y = ((const key_row *)b)->key;
    return x < y ? -1 : x > y;
}

static uint64_t prompt_image_key(const drum_example *e, uint64_t image_digest) {
    return drum_hash64(drum_fnv1a(e->prompt, strlen(e->prompt) + 1, DRUM_FNV1A_INIT),
                       image_digest);
}

/* Queries that are not pool examples by id but have a pool example's prompt and image bytes:
 * the same examples under other ids (a second conversion, say) would each be retrieved as its
 * own demonstration, answer and all. The log says how many, with the first pair's lines; they
 * stay in (another question's example may share both legitimately). */
static int note_id_twins(drum_job *j, char *err, size_t errlen) {
    key_row *pool = malloc((size_t)(j->train.n + 1) * sizeof *pool);
    if (!pool) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < j->train.n; i++)
        pool[i] = (key_row){prompt_image_key(&j->train.ex[i], j->pool.image_digest[i]), i};
    qsort(pool, (size_t)j->train.n, sizeof *pool, cmp_key_row);
    int twins = 0, first_q = -1, first_p = -1;
    for (int q = 0; q < j->eval.n; q++) {
        if (j->eval_self && j->eval_self[q] >= 0) continue;
        const drum_example *e = &j->eval.ex[q];
        key_row key = {prompt_image_key(e, j->queries.image_digest[q]), -1};
        const key_row *hit = bsearch(&key, pool, (size_t)j->train.n, sizeof *pool, cmp_key_row);
        while (hit && hit > pool && hit[-1].key == key.key) hit--; /* the first of equal keys */
        for (; hit && hit < pool + j->train.n && hit->key == key.key; hit++) {
            const drum_example *p = &j->train.ex[hit->row];
            if (j->pool.image_digest[hit->row] == j->queries.image_digest[q] &&
                strcmp(p->prompt, e->prompt) == 0) {
                if (!twins++) {
                    first_q = q;
                    first_p = hit->row;
                }
                break;
            }
        }
    }
    free(pool);
    if (twins)
        note(j, "data: %d of the %d queries in %s have the prompt and image bytes of an example "
             "of the pool %s under another id (the first at line %d, id %s; the pool's line %d, "
             "id %s): they are not left out of their own retrieval; if they are the same "
             "examples, give them the pool's ids",
             twins, j->eval.n, j->eval.path, j->train.path, j->eval.ex[first_q].line,
             j->eval.ex[first_q].id, j->train.ex[first_p].line, j->train.ex[first_p].id);
    return 0;
}

/* Task family labels: a query retrieves from its own family's pool only. */
static int task_groups(drum_job *j, char *err, size_t errlen) {
    const char *names[DRUM_ICL_MAX_TASKS];
    j->pool_group = malloc((size_t)(j->train.n + 1) * sizeof(int));
    j->query_group = malloc((size_t)(j->eval.n + 1) * sizeof(int));
    if (!j->pool_group || !j->query_group) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const drum_dataset *sets[2] = {&j->train, &j->eval};
    int *labels[2] = {j->pool_group, j->query_group};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < sets[s]->n; i++) {
            const char *task = sets[s]->ex[i].task;
            int g = 0;
            while (g < j->n_groups && strcmp(names[g], task) != 0) g++;
            if (g == j->n_groups) {
                if (g == DRUM_ICL_MAX_TASKS) {
                    snprintf(err, errlen, "%s:%d: more than %d task families", sets[s]->path,
                             sets[s]->ex[i].line, DRUM_ICL_MAX_TASKS);
                    return -1;
                }
                names[j->n_groups++] = task;
            }
            labels[s][i] = g;
        }
    memcpy(j->group_name, names, (size_t)j->n_groups * sizeof *names);
    return 0;
}

/* Each query retrieves from its own task family's pool: every family with queries (group,
 * from queries) needs `need` pool examples, for `why`, and one more where one of its queries
 * is a pool example (self: per query, its pool row or -1; NULL: none), which retrieval
 * leaves out. */
static int check_families(const drum_job *j, const drum_dataset *queries, const int *group,
                          const int *self, int need, const char *why, char *err,
                          size_t errlen) {
    int pool[DRUM_ICL_MAX_TASKS] = {0}, asked[DRUM_ICL_MAX_TASKS] = {0};
    int selves[DRUM_ICL_MAX_TASKS] = {0};
    for (int i = 0; i < j->train.n; i++) pool[j->pool_group[i]]++;
    for (int i = 0; i < queries->n; i++) {
        asked[group[i]]++;
        selves[group[i]] += self && self[i] >= 0;
    }
    for (int g = 0; g < j->n_groups; g++)
        if (asked[g] && pool[g] < need + (selves[g] > 0)) {
            snprintf(err, errlen, "task '%s': %d queries in %s, but %d examples of that task in "
                     "the pool %s; each query retrieves from its own task's examples, and needs "
                     "%d (%s%s)", j->group_name[g], asked[g], queries->path, pool[g],
                     j->train.path, need + (selves[g] > 0), why,
                     selves[g] ? ", and the query itself, a pool example" : "");
            return -1;
        }
    return 0;
}

/* Evaluation retrieves the most shots asked (and NDCG's top 10) for every query from its
 * own task's pool; with eval.exclude_same_image, once the images are read (eval_most), up to
 * eval_most more, the examples showing the query's image; and one more in a family where
 * queries are pool examples (retrieval leaves each out: drum_retrieve_grouped). */
static int check_eval_families(const drum_job *j, char *err, size_t errlen) {
    char why[256];
    int n = snprintf(why, sizeof why, "eval.shots up to %d%s", largest_shots(j->cfg),
                     j->oracle_ndcg ? ", and NDCG@10's top 10" : "");
    if (j->eval_most)
        snprintf(why + n, sizeof why - (size_t)n,
                 ", and up to %d examples showing the query's image (eval.exclude_same_image)",
                 j->eval_most);
    return check_families(j, &j->eval, j->query_group, j->eval_self, max_shots(j) + j->eval_most,
                          why, err, errlen);
}

/* The job's parts mine: train's rounds, or drum mine. */
static int mines(const drum_job *j) { return (j->parts & (DRUM_JOB_ROUNDS | DRUM_JOB_MINE)) != 0; }

/* Mining retrieves train.candidates_k for every pool example from its own task's others;
 * with train.exclude_same_image (most: the most pool examples showing one image, known once
 * the images are read), from those of other images. */
static int check_mining_families(const drum_job *j, int most, char *err, size_t errlen) {
    char why[160];
    int k = j->cfg->train.candidates_k;
    if (most > 1)
        snprintf(why, sizeof why, "mining's train.candidates_k = %d, the query itself and up to "
                 "%d more showing its image (train.exclude_same_image)", k, most - 1);
    else
        snprintf(why, sizeof why, "mining's train.candidates_k = %d, and the query itself", k);
    return check_families(j, &j->train, j->pool_group, NULL, k + (most > 1 ? most : 1), why,
                          err, errlen);
}

/* Patches per image side of the demo CLIP: 5 x 5 for the generator's grid layout (one object
 * per patch), 4 x 4 otherwise. */
static int demo_patch_grid(const drum_job_config *c) {
    return c->synth.layout == DRUM_LAYOUT_GRID ? 5 : 4;
}

static int open_data(drum_job *j, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    int grid = demo_patch_grid(c);
    if (c->data.train[0] == '\0' && c->synth.image_size % grid) {
        snprintf(err, errlen, "synth.image_size %d must be a multiple of %d for synth.layout %s "
                 "(the demo CLIP's %d x %d patch grid)", c->synth.image_size, grid,
                 grid == 5 ? "grid" : "free", grid, grid);
        return -1;
    }
    j->data_dir = strdup(c->data.dir);
    if (!j->data_dir) goto oom;
    int synthetic = c->data.train[0] == '\0';
    if (synthetic) {
        j->train_path = drum_path_join(j->data_dir, "train.jsonl");
        j->eval_path = drum_path_join(j->data_dir, "eval.jsonl");
        if (!j->train_path || !j->eval_path) goto oom;
        drum_synth_config sc;
        drum_synth_default_config(&sc);
        sc.seed = c->synth.seed;
        sc.image_size = c->synth.image_size;
        drum_synth_set_totals(&sc, c->synth.n_train, c->synth.n_eval);
        sc.n_pretrain = c->synth.n_pretrain;
        sc.grid = c->synth.layout == DRUM_LAYOUT_GRID;
        sc.shape_captions = (float)c->synth.shape_captions;
        sc.classification = c->synth.classification;
        /* rank 0 generates the suite while the others wait (alone_done), then all read it; a
         * suite without synth.json, which drum_synth_generate writes last, is not whole */
        char *config = drum_path_join(j->data_dir, "synth.json");
        if (!config) goto oom;
        int there = drum_file_exists(j->train_path), whole = there && drum_file_exists(config);
        free(config);
        int part = there && !whole;
        int generate = j->comm->any(j->comm, writer(j) && !whole, err, errlen); /* rank 0's say */
        if (generate < 0) return -1;
        if (generate) {
            int rc = 0;
            if (writer(j)) {
                drum_progress pp = alone_progress(j);
                note(j, "generating the synthetic suite in %s (seed %llu, %d train, %d eval)%s",
                     j->data_dir, (unsigned long long)sc.seed, c->synth.n_train,
                     c->synth.n_eval,
                     part ? " again: it has no synth.json, which generation writes last (a "
                            "generation stopped part way)" : "");
                rc = drum_mkdirs(j->data_dir, err, errlen) ||
                     drum_synth_generate(&sc, j->data_dir, &pp, err, errlen);
            }
            if (alone_done(j, rc, "suite generation", err, errlen)) return -1;
        }
        if (j->comm->barrier(j->comm, err, errlen)) return -1;
        if (check_suite(j->data_dir, &sc, err, errlen)) return -1;
        if (!generate) note(j, "using the synthetic suite already in %s", j->data_dir);
    } else {
        j->train_path = strdup(c->data.train);
        j->eval_path = strdup(c->data.eval);
        if (!j->train_path || !j->eval_path) goto oom;
    }
    if (drum_dataset_load(&j->train, j->train_path, err, errlen) ||
        drum_dataset_load(&j->eval, j->eval_path, err, errlen))
        return -1;
    note(j, "pool %s: %d examples; queries %s: %d", j->train_path, j->train.n, j->eval_path,
         j->eval.n);
    return task_groups(j, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* The names of the calls in `ops` (DRUM_LVLM_* bits), e.g. "score, generate". */
static void ops_list(int ops, char *out, size_t n) {
    static const char *const names[] = {"score", "generate", "rank"}; /* DRUM_LVLM_*'s order */
    out[0] = '\0';
    for (int b = 0; b < 3; b++)
        if (ops & 1 << b)
            snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? ", " : "", names[b]);
}

/* 1 when the files at a and b hold the same bytes, 0 when not, -1 when either is unreadable. */
static int same_bytes(const char *a, const char *b) {
    char why[256];
    size_t na = 0, nb = 0;
    char *x = drum_read_file(a, &na, why, sizeof why);
    char *y = x ? drum_read_file(b, &nb, why, sizeof why) : NULL;
    int rc = x && y ? na == nb && memcmp(x, y, na) == 0 : -1;
    free(x);
    free(y);
    return rc;
}

/* The synthetic scorer's meta.jsonl: the hidden attributes of the suite the pool comes from,
 * beside data.train (data.dir's suite is the demo model's tokenizer and captions, which may
 * be another's). Queries from another directory that holds a meta.jsonl must be the same
 * suite's: one simulator judges every example by id. Returns the path, or NULL with a
 * message. */
static char *synthetic_meta(drum_job *j, char *err, size_t errlen) {
    char *dir = drum_path_dir(j->train_path), *edir = drum_path_dir(j->eval_path);
    char *meta = dir ? drum_path_join(dir, "meta.jsonl") : NULL;
    char *emeta = edir ? drum_path_join(edir, "meta.jsonl") : NULL;
    if (!meta || !emeta) {
        snprintf(err, errlen, "out of memory");
        free(meta); /* the caller takes NULL as the error */
        meta = NULL;
    } else if (!drum_file_exists(meta)) {
        snprintf(err, errlen,
                 "scorer.backend synthetic: no meta.jsonl beside %s (%s): the simulated LVLM "
                 "reads the hidden attributes drum synth writes beside its train.jsonl; keep the "
                 "suite's files together, or use scorer.backend exec for other data",
                 j->train_path, meta);
        free(meta);
        meta = NULL;
    } else if (strcmp(dir, edir) != 0 && drum_file_exists(emeta) && same_bytes(meta, emeta) != 1) {
        snprintf(err, errlen,
                 "scorer.backend synthetic: %s and %s are two suites' (their meta.jsonl differ): "
                 "the simulated LVLM judges every example by one suite's hidden attributes",
                 j->train_path, j->eval_path);
        free(meta);
        meta = NULL;
    }
    free(dir);
    free(edir);
    free(emeta);
    return meta;
}

/* The LVLM (its hello answered), without its caches. */
static int open_lvlm(drum_job *j, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    int rc;
    if (c->scorer.backend == DRUM_SCORER_EXEC) {
        rc = drum_exec_open(&j->lvlm, c->scorer.command, c->scorer.timeout, err, errlen);
    } else if (c->scorer.backend == DRUM_SCORER_SYNTHETIC) {
        char *meta = synthetic_meta(j, err, errlen);
        if (!meta) return -1;
        drum_synthetic_config sc;
        drum_synthetic_default_config(&sc);
        sc.seed = c->scorer.seed;
        sc.rules = c->scorer.rules;
        rc = drum_synthetic_open(&j->lvlm, meta, &sc, err, errlen);
        free(meta);
        if (rc == 0 && (drum_synthetic_check_examples(j->lvlm, &j->train, err, errlen) ||
                        drum_synthetic_check_examples(j->lvlm, &j->eval, err, errlen)))
            return -1;
    } else { /* drum_job_config_finish refuses it, naming the way through exec */
        snprintf(err, errlen, "scorer.backend: 'openai' is served through 'exec'");
        return -1;
    }
    if (rc) return -1;
    j->oracle_ndcg = c->scorer.backend == DRUM_SCORER_SYNTHETIC;
    char ops[64] = "", list[32];
    int served = drum_scorer_ops(j->lvlm);
    if (served != (DRUM_LVLM_SCORE | DRUM_LVLM_GENERATE | DRUM_LVLM_RANK)) {
        ops_list(served, list, sizeof list);
        snprintf(ops, sizeof ops, ", serving only [%s]", list);
    }
    note(j, "scorer: %s%s%s", j->lvlm->id, ops,
         j->oracle_ndcg ? "" : " (no NDCG@10: it would score every pool candidate per query)");
    return 0;
}

/* The directory of a cache file, created as train.out is (rank 0, before the others open). */
static int cache_dir(const char *path, char *err, size_t errlen) {
    char *dir = drum_path_dir(path);
    int rc = dir ? drum_mkdirs(dir, err, errlen) : -1;
    if (!dir) snprintf(err, errlen, "out of memory");
    free(dir);
    return rc;
}

/* The caches around the LVLM (score_cache.h, answer_cache.h): in train.out unless
 * scorer.cache or scorer.answers names another file, whose directory is created too. */
static int open_caches(drum_job *j, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    char warn[512] = "";
    if (drum_mkdirs(c->train.out, err, errlen)) return -1;
    if (writer(j) && (cache_dir(c->scorer.cache, err, errlen) ||
                      (c->scorer.backend != DRUM_SCORER_SYNTHETIC &&
                       cache_dir(c->scorer.answers, err, errlen))))
        return -1;
    /* several ranks: each its own LVLM, every call split over them (sharded_scorer.h);
     * rank 0 writes the cache file (opened first), the others mirror it */
    drum_scorer *inner = j->lvlm;
    if (j->comm->size > 1 && !(inner = drum_sharded_scorer_create(j->lvlm, j->comm, err, errlen))) {
        drum_scorer_destroy(j->lvlm);
        j->lvlm = NULL;
        return -1;
    }
    if (writer(j))
        j->scorer = drum_cached_scorer_create(inner, c->scorer.cache, 4096, warn, sizeof warn, err,
                                              errlen);
    if (j->comm->size > 1 && j->comm->barrier(j->comm, err, errlen)) return -1;
    if (!writer(j))
        j->scorer = drum_cached_scorer_create_mirror(inner, c->scorer.cache, 4096, err, errlen);
    if (!j->scorer) {
        drum_scorer_destroy(inner);
        j->lvlm = NULL;
        return -1;
    }
    if (warn[0]) note(j, "%s", warn);
    /* a real LVLM's evaluation answers are kept too (answer_cache.h): a re-run asks it nothing
     * twice; the simulator answers instantly, so it goes without */
    if (c->scorer.backend == DRUM_SCORER_SYNTHETIC) return 0;
    const char *path = c->scorer.answers;
    drum_scorer *cached = NULL;
    warn[0] = '\0';
    if (writer(j))
        cached = drum_answer_cached_scorer_create(j->scorer, path, 0, warn, sizeof warn, err,
                                                  errlen);
    int bad = j->comm->size > 1 && j->comm->barrier(j->comm, err, errlen);
    if (!bad && !writer(j))
        cached = drum_answer_cached_scorer_create(j->scorer, path, 1, NULL, 0, err, errlen);
    if (!cached) return -1; /* j->scorer is still the job's */
    j->scorer = cached;
    if (warn[0]) note(j, "%s", warn);
    return 0;
}

/* Whether the query texts show the zero-shot draft: only then is the LVLM asked for drafts. */
static int uses_drafts(const drum_job *j) {
    return strstr(j->cfg->retrieval.query_text, "{D}") != NULL;
}

/* The job's parts that evaluate: the baselines, and DRUM after each round. */
static int evaluates(const drum_job *j) {
    return (j->parts & (DRUM_JOB_BASELINES | DRUM_JOB_ROUNDS)) != 0;
}

/* A part the job was not opened for (drum_job_open's parts) has had nothing checked. */
static int opened_for(const drum_job *j, int parts, const char *what, char *err, size_t errlen) {
    if (j->parts & parts) return 0;
    snprintf(err, errlen, "%s: the job was not opened for it (drum_job_open's parts)", what);
    return -1;
}

/* The LVLM serves every call the job's parts will ask of it (an exec LVLM's hello may list
 * fewer, exec_scorer.h): checked before the first is asked, not hours into a run. */
static int check_ops(const drum_job *j, char *err, size_t errlen) {
    int answers = evaluates(j) ? drum_icl_answer_ops(&j->eval, j->cfg->eval.classify ==
                                                                   DRUM_CLASSIFY_RANK)
                               : 0;
    const struct {
        int op, asked;
        const char *name, *why;
    } need[] = {
        {DRUM_LVLM_SCORE, mines(j), "score", "mining's pair scores"},
        {DRUM_LVLM_GENERATE, uses_drafts(j), "generate",
         "the zero-shot drafts of retrieval.query_text's {D}"},
        {DRUM_LVLM_GENERATE, (answers & DRUM_LVLM_GENERATE) != 0, "generate", "k-shot answers"},
        {DRUM_LVLM_RANK, (answers & DRUM_LVLM_RANK) != 0, "rank",
         "ranked answers (task 'binary', or 'cls' with eval.classify: rank)"},
    };
    int served = drum_scorer_ops(j->lvlm);
    char list[32];
    ops_list(served, list, sizeof list);
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i].asked && !(served & need[i].op)) {
            snprintf(err, errlen, "scorer %s serves only [%s] (the ops of its hello), but this "
                     "job asks it to %s: %s", j->lvlm->id, list, need[i].name, need[i].why);
            return -1;
        }
    return 0;
}

/* The LVLM's zero-shot answers: D in the query template. With `only` (NULL: all), the
 * examples it marks alone are asked; the others' drafts are "" (never shown: they are not
 * queries). */
static int drafts_for(drum_job *j, const drum_dataset *ds, const unsigned char *only,
                      char ***out, char *err, size_t errlen) {
    size_t n1 = (size_t)(ds->n ? ds->n : 1);
    *out = calloc(n1, sizeof(char *));
    drum_icl_prompt *p = calloc(n1, sizeof *p);
    int *at = malloc(n1 * sizeof *at), n = 0, rc = 0;
    char **got = calloc(n1, sizeof(char *));
    if (!*out || !p || !at || !got) {
        snprintf(err, errlen, "out of memory for drafts");
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < ds->n; i++) {
        if (!only || only[i]) {
            p[n].query = &ds->ex[i];
            at[n++] = i;
        } else if (!((*out)[i] = strdup(""))) {
            snprintf(err, errlen, "out of memory for drafts");
            rc = -1;
        }
    }
    drum_trace_push("zero-shot drafts");
    if (rc == 0) drum_progress_begin(&j->progress, "zero-shot drafts", 0, n);
    for (int i0 = 0; i0 < n && rc == 0; i0 += 512) {
        int m = n - i0 < 512 ? n - i0 : 512;
        if (drum_progress_stopped(&j->progress, "zero-shot drafts", err, errlen)) {
            rc = -1;
            break;
        }
        rc = j->scorer->generate(j->scorer, p + i0, m, got + i0, err, errlen);
        drum_progress_report(&j->progress, "zero-shot drafts", i0 + m, n, NULL);
    }
    drum_trace_pop();
    for (int k = 0; rc == 0 && k < n; k++) (*out)[at[k]] = got[k];
    if (rc) /* none rather than some: a later call asks again */
        for (int k = 0; got && k < n; k++) free(got[k]);
    free(p);
    free(at);
    free(got);
    if (rc && *out) {
        for (int i = 0; i < ds->n; i++) free((*out)[i]);
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* drafts.jsonl in the run directory: every example's zero-shot draft, the {D} of the query
 * template, so `drum embed --drafts` reproduces the job's query texts outside it. The pool's
 * drafts are there once a job has trained or mined (an evaluation does not ask for them). */
static int write_drafts(drum_job *j, char *err, size_t errlen) {
    if (!writer(j)) return 0;
    char *path = drum_path_join(j->cfg->train.out, "drafts.jsonl"), *tmp = NULL;
    FILE *f = path ? drum_atomic_open(path, &tmp, err, errlen) : NULL;
    if (!f) {
        if (!path) snprintf(err, errlen, "out of memory");
        free(path);
        return -1;
    }
    const drum_dataset *ds[2] = {&j->train, &j->eval};
    char **drafts[2] = {j->train_drafts, j->eval_drafts};
    for (int s = 0; s < 2; s++)
        for (int i = 0; drafts[s] && i < ds[s]->n; i++) {
            if (s == 0 && j->pool_queries && !j->pool_queries[i]) continue; /* not asked */
            fprintf(f, "{\"id\": ");
            drum_json_write_string(f, ds[s]->ex[i].id);
            fprintf(f, ", \"split\": \"%s\", \"draft\": ", s ? "eval" : "train");
            drum_json_write_string(f, drafts[s][i]);
            fprintf(f, "}\n");
        }
    int rc = drum_atomic_commit(f, tmp, path, err, errlen);
    free(path);
    return rc;
}

/* 1 when train.out/clip0/ holds a whole export: its config.json, which export_model writes
 * last (a kill in the export leaves the weights without it, and that clip0/ is made again). */
static int clip0_whole(const drum_job *j) {
    char *c = drum_path_join(j->cfg->train.out, "clip0/config.json");
    int whole = drum_file_exists(c);
    free(c);
    return whole;
}

/* 1 when the job will pre-train its retriever: no model.checkpoint, and no earlier run's
 * train.out/clip0/ to start from (earlier_clip0). */
static int pretrains(const drum_job *j) {
    return !j->cfg->model.checkpoint[0] && !clip0_whole(j);
}

/* The images' levels a job holds (pool and queries), in MB. */
static double levels_mb(const drum_job *j) {
    return (double)(j->pool.n_images + j->queries.n_images) * 3 * j->pool.S * j->pool.S / 1e6;
}

/* 1 when the file at path lies in directory dir (the same directory by device and inode). */
static int beside_suite(const char *path, const char *dir) {
    char *d = drum_path_dir(path);
    struct stat a, b;
    int same = d && stat(d, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev &&
               a.st_ino == b.st_ino;
    free(d);
    return same;
}

/* The tokenizer beside model.config fits its text tower: every id has an embedding row, and
 * the pooled token (eos_token_id; 2 is transformers' legacy rule, the largest id) is the
 * tokenizer's end of text. Caught here, not as an op's error in the first batch. */
static int check_tokenizer(const drum_job *j, const drum_tokenizer_info *ti, char *err,
                           size_t errlen) {
    const drum_clip_tower_config *t = &j->ccfg.text;
    if (ti->vocab_size > t->vocab) {
        snprintf(err, errlen,
                 "%s: text_config.vocab_size is %d, but the tokenizer in %s has ids up to %d: "
                 "the model and its tokenizer files are not one checkpoint's",
                 j->cfg->model.config, t->vocab, j->tok_dir, ti->vocab_size - 1);
        return -1;
    }
    if (t->eos_id != 2 && t->eos_id != ti->eos_id) {
        snprintf(err, errlen,
                 "%s: text_config.eos_token_id is %d, but the tokenizer in %s ends texts with id "
                 "%d: the text feature would be read at a token that never comes",
                 j->cfg->model.config, t->eos_id, j->tok_dir, ti->eos_id);
        return -1;
    }
    return 0;
}

static int open_model(drum_job *j, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    int demo = strcmp(c->model.config, "demo-tiny") == 0;
    if (demo) {
        j->tok_dir = strdup(j->data_dir);
    } else {
        char *slash = strrchr(c->model.config, '/');
        j->tok_dir = slash ? strndup(c->model.config, (size_t)(slash - c->model.config)) : strdup(".");
    }
    if (!j->tok_dir) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (drum_tokenizer_load(j->tok_dir, &j->tok, err, errlen)) return -1;
    drum_tokenizer_info ti = drum_tokenizer_get_info(j->tok);
    if (demo) {
        drum_demo_tiny_config(&j->ccfg, ti.vocab_size, c->synth.image_size, demo_patch_grid(c),
                              32, ti.bos_id, ti.eos_id, ti.pad_id);
        if (!beside_suite(j->train_path, j->data_dir))
            note(j, "model: demo-tiny, the demo's tiny CLIP, reads texts with the tokenizer of the "
                 "synthetic suite in %s (and pre-trains on its captions), but the pool %s lies "
                 "elsewhere: for other data, name a CLIP config.json in model.config",
                 j->data_dir, j->train_path);
    } else if (drum_clip_config_load(&j->ccfg, c->model.config, err, errlen) ||
               check_tokenizer(j, &ti, err, errlen)) {
        return -1;
    }
    if (drum_clip_params_build(&j->params, &j->ccfg, err, errlen)) return -1;
    /* the arena holds one tower pass: a step's rows and pre-training's batch, and 64 rows at
     * least for the embedding passes; or the micro-batch a config sets to bound it (with
     * pre-training's batch unless the config names a checkpoint) */
    int rows = c->train.batch_queries * (1 + c->train.list_size), floor = 64;
    int pretrain = c->model.pretrain.batch;
    if (c->train.micro_batch > 0 && c->train.micro_batch < rows) {
        rows = c->train.micro_batch;
        floor = 1;
        if (c->model.checkpoint[0]) pretrain = 0;
    }
    if (rows < pretrain) rows = pretrain;
    if (rows < floor) rows = floor;
    /* a job that neither trains nor pre-trains (drum eval or drum mine of a named or earlier
     * retriever) needs no gradients, AdamW moments or per-layer activations: the same
     * forward ops, one layer's buffers reused */
    int train = (j->parts & DRUM_JOB_ROUNDS) || pretrains(j);
    j->model = drum_clip_model_create(j->be, &j->ccfg, &j->params, rows, rows, train, err, errlen);
    return j->model ? 0 : -1;
}

static int load_weights(drum_job *j, const char *path, char *err, size_t errlen) {
    float *host = malloc(j->params.total * sizeof(float));
    if (!host) {
        snprintf(err, errlen, "out of memory for %zu parameters", j->params.total);
        return -1;
    }
    int rc = drum_clip_load_safetensors(&j->params, host, path, err, errlen);
    if (rc == 0) rc = drum_clip_model_upload(j->model, host);
    if (rc == 0) rc = drum_clip_model_reset_optimizer(j->model);
    free(host);
    if (rc && !err[0]) snprintf(err, errlen, "%s", j->be->err);
    return rc;
}

static int export_model(drum_job *j, const char *dir, char *err, size_t errlen) {
    if (!writer(j)) return 0;
    float *host = malloc(j->params.total * sizeof(float));
    if (!host) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = drum_clip_model_download(j->model, host);
    if (rc) snprintf(err, errlen, "%s", j->be->err);
    if (rc == 0) rc = drum_mkdirs(dir, err, errlen);
    /* the tokenizer first: the export's config.json, written last, says the directory is whole */
    if (rc == 0) rc = drum_tokenizer_copy_files(j->tok_dir, dir, err, errlen);
    if (rc == 0) rc = drum_clip_export(&j->ccfg, &j->params, host, dir, err, errlen);
    free(host);
    return rc;
}

static drum_prepare_opts prepare_opts(drum_job *j) {
    drum_prepare_opts o = drum_prepare_opts_for(&j->ccfg, j->cfg->retrieval.demo_text,
                                                j->cfg->retrieval.query_text);
    o.longest = j->cfg->model.text_length == DRUM_TEXT_LONGEST;
    o.progress = &j->progress;
    o.comm = j->comm; /* the ranks share the decoding */
    return o;
}

/* One tick of rank 0's work alone with several ranks (the suite's generation, pre-training:
 * alone_done): every rank adds {its stop flag, done}, and *all_done (when not NULL) says
 * whether rank 0 was done. Returns 1 when any rank asked to stop, 0, or -1 on a
 * communication error. */
static int alone_tick(drum_job *j, int stop, int done, int *all_done, char *err,
                      size_t errlen) {
    float v[2] = {(float)stop, (float)done};
    if (j->comm->allreduce_sum(j->comm, v, 2, err, errlen)) return -1;
    if (all_done) *all_done = v[1] > 0;
    return v[0] > 0;
}

/* progress.stop of rank 0's work alone with several ranks: a tick, so that a signal to any
 * rank stops it at its next check (before an epoch, or 256 images; it once waited for rank
 * 0's own flag; an audit) */
static int own_stop(void *user) {
    drum_job *j = user;
    char err[256];
    if (alone_tick(j, (j->stop && *j->stop) || j->alone_stopped, 0, NULL, err, sizeof err) > 0)
        j->alone_stopped = 1;
    return j->alone_stopped;
}

/* The progress rank 0's work alone reports to: the job's, whose stop asks every rank (one
 * rank) or ticks with the waiting ones (own_stop). */
static drum_progress alone_progress(drum_job *j) {
    drum_progress pp = j->progress;
    if (j->comm->size > 1) pp.stop = own_stop;
    return pp;
}

/* The end of rank 0's work alone (rc, its result; the others pass 0). With several ranks
 * the others tick with it (alone_tick, at each of its progress.stop calls) until it is
 * done. A signal to any rank stops the work at its next check, and every rank then stops
 * (drum_job_stopped; err names `what`). Returns 0, or -1: that stop, an error of rank 0's
 * (the CLI's MPI_Abort releases the waiting ranks) or of the exchange. One rank: rc (its own
 * progress.stop, job_stop, has marked a stop). */
static int alone_done(drum_job *j, int rc, const char *what, char *err, size_t errlen) {
    if (j->comm->size == 1) return rc ? -1 : 0;
    int stop, done = 0;
    if (writer(j)) {
        if (rc && !j->alone_stopped) return -1;
        stop = alone_tick(j, j->alone_stopped, 1, NULL, err, errlen);
    } else {
        do stop = alone_tick(j, j->stop && *j->stop, 0, &done, err, errlen);
        while (stop >= 0 && !done);
    }
    if (stop < 0) return -1;
    if (stop) {
        j->stopped = 1;
        if (!j->alone_stopped) /* rank 0's own message says where it stopped */
            snprintf(err, errlen, "stopped (a signal) in rank 0's %s", what);
        return -1;
    }
    return 0;
}

/* An earlier run's retriever, train.out/clip0/model.safetensors, loaded when clip0/ is
 * whole (clip0_whole). Returns 1 (loaded), 0 (none) or -1. */
static int earlier_clip0(drum_job *j, char *err, size_t errlen) {
    char *w = drum_path_join(j->cfg->train.out, "clip0/model.safetensors");
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    if (clip0_whole(j)) {
        note(j, "retriever: %s (pre-trained by an earlier run)", w);
        rc = load_weights(j, w, err, errlen) ? -1 : 1;
    } else if (drum_file_exists(w)) {
        note(j, "%s has no config.json beside it (its export was cut short): it is not used, "
             "and pre-training makes it again", w);
    }
    free(w);
    return rc;
}

/* The un-tuned retriever: model.checkpoint, or train.out/clip0 from an earlier run, or a
 * fresh initialisation pre-trained contrastively on the suite's captions. */
static int first_weights(drum_job *j, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    if (c->model.checkpoint[0]) {
        note(j, "retriever: %s", c->model.checkpoint);
        return load_weights(j, c->model.checkpoint, err, errlen);
    }
    int found = earlier_clip0(j, err, errlen);
    if (found) return found < 0 ? -1 : 0;
    char *dir = drum_path_join(c->train.out, "clip0");
    int rc = -1;
    if (!dir) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (drum_clip_model_init(j->model, c->seed)) {
        snprintf(err, errlen, "init: %s", j->be->err);
        goto out;
    }
    char *cap_path = drum_path_join(j->data_dir, "captions.jsonl");
    drum_dataset caps;
    drum_prepared prep;
    /* with several ranks only rank 0 pre-trains, the others waiting: a collective stop check
     * would hang, so it ticks with them (alone_done) */
    drum_progress pp = alone_progress(j);
    drum_prepare_opts po = prepare_opts(j);
    po.demo_template = "{R}";
    po.query_template = NULL;
    po.progress = &pp;
    po.comm = NULL; /* rank 0 alone */
    if (!cap_path || drum_captions_load(&caps, cap_path, err, errlen)) {
        free(cap_path);
        goto out;
    }
    free(cap_path);
    rc = drum_prepare(&prep, &caps, NULL, j->tok, &po, err, errlen);
    if (rc == 0) {
        drum_pretrain_opts o = {c->model.pretrain.epochs, c->model.pretrain.batch,
                                (float)c->model.pretrain.lr, (float)c->model.pretrain.weight_decay,
                                1.0f, c->model.pretrain.warmup_steps, c->seed};
        double loss = 0;
        note(j, "pre-training the retriever from random weights on the %d captions of %s "
             "(%d epochs)", caps.n, caps.path, o.epochs);
        rc = drum_pretrain_clip(j->model, &prep, &o, &pp, &loss, err, errlen);
        if (rc == 0) rc = export_model(j, dir, err, errlen);
        if (rc == 0) note(j, "pre-training done: last-epoch loss %.4f; saved to %s", loss, dir);
        if (rc == 0) rc = drum_clip_model_reset_optimizer(j->model);
        drum_prepared_free(&prep);
    }
    drum_dataset_free(&caps);
out:
    free(dir);
    return rc;
}

/* Rank 0 finds or pre-trains the retriever (writing clip0/) while any others wait
 * (alone_done); then they find the clip0/ it wrote. A named model.checkpoint every rank
 * loads itself. */
static int initial_weights(drum_job *j, char *err, size_t errlen) {
    if (j->cfg->model.checkpoint[0]) return first_weights(j, err, errlen);
    int rc = writer(j) ? first_weights(j, err, errlen) : 0;
    if (alone_done(j, rc, "pre-training", err, errlen)) return -1;
    return writer(j) ? 0 : first_weights(j, err, errlen);
}

/* progress.stop: has any rank been signalled? (collective: every rank asks at the same
 * points). Once agreed, stays so. A failing exchange is not a stop: the next collective
 * call reports it. */
static int job_stop(void *user) {
    drum_job *j = user;
    if (!j->stopped) {
        char err[256];
        j->stopped = j->comm->any(j->comm, j->stop && *j->stop, err, sizeof err) > 0;
    }
    return j->stopped;
}

int drum_job_stopped(const drum_job *j) { return j && j->stopped && !j->checkpoint_failed; }

/* A job's fields from its arguments, and its backend. */
static int job_init(drum_job **out, const drum_job_config *cfg, int parts, drum_comm *comm,
                    const drum_progress *progress, volatile sig_atomic_t *stop,
                    void (*log)(const char *line), char *err, size_t errlen) {
    drum_job *j = calloc(1, sizeof *j);
    *out = j;
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    j->cfg = cfg;
    j->parts = parts;
    j->comm = comm ? comm : drum_comm_single();
    if (progress) j->progress = *progress;
    /* every rank asks, whether or not it reports progress */
    j->progress.stop = job_stop;
    j->progress.stop_user = j;
    char *prev = drum_path_join(cfg->train.out, "results.jsonl");
    size_t len;
    j->prev_results = prev ? drum_read_file(prev, &len, j->prev_error, sizeof j->prev_error)
                           : NULL;
    j->carry_prev = (parts & DRUM_JOB_RESUME) && j->prev_results;
    free(prev);
    j->stop = stop;
    j->log = log;
    if (cfg->threads > 0) omp_set_num_threads(cfg->threads);
    j->be = drum_backend_create(cfg->backend == 1 ? "cuda" : "cpu", err, errlen);
    if (!j->be) return -1;
    /* a training run's bits depend on both (OpenBLAS sums narrow GEMMs per thread) */
    if (j->be->kind == DRUM_BACKEND_CPU)
        note(j, "backend cpu: %d threads, OpenBLAS's %s kernels", omp_get_max_threads(),
             drum_blas_core());
    return 0;
}

/* With no model.checkpoint and no earlier clip0/, the job pre-trains its retriever on the
 * synthetic suite's captions in data.dir: a missing file fails here, before the LVLM's
 * drafts, naming the ways out. */
static int check_pretrain_captions(drum_job *j, char *err, size_t errlen) {
    if (!pretrains(j)) return 0;
    char *caps = drum_path_join(j->data_dir, "captions.jsonl");
    char *clip0 = drum_path_join(j->cfg->train.out, "clip0/model.safetensors");
    int rc = 0;
    if (!caps || !clip0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    } else if (!drum_file_exists(caps)) {
        snprintf(err, errlen,
                 "model.checkpoint is empty and %s is not there, so the job would pre-train its "
                 "retriever on the synthetic suite's captions, but %s is missing: name a CLIP "
                 "checkpoint in model.checkpoint, or a suite (drum synth) in data.dir",
                 clip0, caps);
        rc = -1;
    }
    free(caps);
    free(clip0);
    return rc;
}

/* Everything a job reads before the LVLM is asked anything, so that a wrong path, a missing
 * or broken image or a model that does not fit fails at once: the data (every image decoded
 * and prepared with the demonstrations' texts, its file's digest renewing the content ids),
 * the LVLM's hello, the tokenizer and model config, and a checkpoint the config names. clip0/
 * (found or pre-trained) waits: pre-training is long, and comes after the drafts. */
static int open_inputs(drum_job *j, char *err, size_t errlen) {
    if (open_data(j, err, errlen) || open_lvlm(j, err, errlen) || check_ops(j, err, errlen))
        return -1;
    /* after open_lvlm: whether NDCG@10 is measured */
    if (check_eval_families(j, err, errlen) ||
        (mines(j) && check_mining_families(j, 1, err, errlen)) ||
        open_model(j, err, errlen) ||
        drum_freeze_match(&j->params, j->cfg->train.freeze.v, j->cfg->train.freeze.n, NULL, err,
                          errlen))
        return -1;
    if (j->cfg->model.checkpoint[0] ? initial_weights(j, err, errlen)
                                    : check_pretrain_captions(j, err, errlen))
        return -1;
    drum_prepare_opts po = prepare_opts(j); /* after open_model: its sizes */
    po.query_template = NULL;
    /* the image files are read once, for their pixels and for the content ids' digests */
    if (drum_prepare(&j->pool, &j->train, NULL, j->tok, &po, err, errlen) ||
        drum_prepare(&j->queries, &j->eval, NULL, j->tok, &po, err, errlen) ||
        drum_dataset_set_image_digests(&j->train, j->pool.image_digest, err, errlen) ||
        drum_dataset_set_image_digests(&j->eval, j->queries.image_digest, err, errlen) ||
        find_eval_self(j, err, errlen) || note_id_twins(j, err, errlen))
        return -1;
    if (j->comm->size > 1) {
        if (j->pool.levels_shared_by > 1 && j->queries.levels_shared_by > 1)
            note(j, "images: %.1f MB of levels, one copy for the %d ranks of each node",
                 levels_mb(j), j->pool.levels_shared_by);
        else
            note(j, "images: %.1f MB of levels on every rank (%s)", levels_mb(j),
                 j->pool.levels_note[0] ? j->pool.levels_note : j->queries.levels_note[0]
                     ? j->queries.levels_note : "one rank a node");
    }
    int first, shown = drum_prepared_count_images_in(&j->queries, &j->pool, j->eval_self, &first);
    if (shown < 0) {
        snprintf(err, errlen, "out of memory comparing the queries' images with the pool's");
        return -1;
    }
    if (shown)
        note(j, "data: %d of the %d queries in %s show an image that another example of the pool "
             "%s holds (the same file bytes; the first at line %d, %s): %s",
             shown, j->eval.n, j->eval.path, j->train.path, j->eval.ex[first].line,
             j->eval.ex[first].image,
             j->cfg->eval.exclude_same_image
                 ? "eval.exclude_same_image leaves those out of their retrieval"
                 : "their retrieved demonstrations can show their own picture");
    /* room for the examples a query passes over: itself (a pool example, found by its
     * image's bytes), and with exclude_same_image the others showing its image */
    int for_eval = j->cfg->eval.exclude_same_image;
    int for_mining = mines(j) && j->cfg->train.exclude_same_image;
    int most = for_eval || for_mining ? drum_prepared_most_per_image(&j->pool) : 1;
    if (most < 0) {
        snprintf(err, errlen, "out of memory counting the pool's images");
        return -1;
    }
    j->eval_most = for_eval ? most : 0;
    if (((for_eval || j->eval_self) && check_eval_families(j, err, errlen)) ||
        (for_mining && check_mining_families(j, most, err, errlen)))
        return -1;
    return 0;
}

/* With --resume and a train.out/train.ckpt: 1 when it is this run's checkpoint (the options,
 * the data's, images' and texts' fingerprints, and with weights, the job's starting weights'),
 * with where it stands in *round and *phase; 0 with none to resume; -1 with the checkpoint's
 * refusal. Checked when the job opens, before drafts and baselines, and again with the
 * starting weights once it has them (header alone: training's load reads the file whole and
 * checks it all a last time); `whole` for --check. */
static int resume_matches(drum_job *j, int weights, int whole, int *round, int *phase,
                          char *err, size_t errlen) {
    if (!(j->parts & DRUM_JOB_RESUME)) return 0;
    char *ckpt = drum_path_join(j->cfg->train.out, "train.ckpt");
    if (!ckpt) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    if (drum_file_exists(ckpt)) {
        const uint64_t *fp = job_fingerprints(j);
        drum_checkpoint_run want = {train_opts(j), j->params.total, j->train.n, fp[0], fp[1],
                                    fp[2], 0};
        if (weights)
            want.model_fingerprint = drum_params_fingerprint(j->be, j->model->params,
                                                             j->params.total);
        if (weights && !want.model_fingerprint) {
            snprintf(err, errlen, "reading the starting weights back: %s", j->be->err);
            rc = -1;
        } else {
            rc = drum_checkpoint_verify(ckpt, &want, whole, round, phase, err, errlen) ? -1 : 1;
        }
    }
    free(ckpt);
    return rc;
}

/* The configured shot count's index, or -1. */
static int shots_index(const drum_job_config *c, int shots) {
    for (int i = 0; i < c->eval.shots.n; i++)
        if (c->eval.shots.v[i] == shots) return i;
    return -1;
}

enum { PREV_OTHER = 0, PREV_DRUM, PREV_NDCG };

/* What a line of results.jsonl (o, parsed; may be NULL) is to a resume over `rounds`
 * evaluated rounds: a DRUM row of round *r, that round's NDCG row, or neither (a baseline's
 * row, a later round's, or no row). check_prev_rows and restore_results read the same. */
static int finished_row(const cJSON *o, int rounds, int *r) {
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "strategy");
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(o, "round");
    const cJSON *nr = cJSON_GetObjectItemCaseSensitive(o, "ndcg_round");
    if (cJSON_IsString(st) && strcmp(st->valuestring, "DRUM") == 0 && cJSON_IsNumber(rd) &&
        rd->valueint >= 1 && rd->valueint <= rounds) {
        *r = rd->valueint;
        return PREV_DRUM;
    }
    if (cJSON_IsNumber(nr) && nr->valueint >= 1 && nr->valueint <= rounds) {
        *r = nr->valueint;
        return PREV_NDCG;
    }
    return PREV_OTHER;
}

/* --resume over a checkpoint that has evaluated `rounds` rounds: results.jsonl, as the run
 * left it, must hold their rows (DRUM at every shot count, and NDCG@10's), which the resume
 * reads back (restore_results) and never makes again. Returns 0, or -1 naming the rounds
 * whose rows are missing (the file removed, cut short or edited since); before the LVLM is
 * asked anything. */
static int check_prev_rows(const drum_job *j, int rounds, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    int w = c->eval.shots.n + 1; /* per round: each shot count's DRUM row, then NDCG's */
    unsigned char *have = calloc((size_t)rounds * w + 1, 1);
    if (!have) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (const char *l = j->prev_results, *nl; l && *l; l = nl ? nl + 1 : NULL) {
        nl = strchr(l, '\n');
        int oom;
        cJSON *o = drum_json_parse(l, nl ? (size_t)(nl - l) : strlen(l), NULL, &oom);
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shots");
        int r, k = cJSON_IsNumber(sh) ? shots_index(c, sh->valueint) : -1;
        int kind = finished_row(o, rounds, &r);
        if (kind == PREV_DRUM && k >= 0) have[(size_t)(r - 1) * w + k] = 1;
        if (kind == PREV_NDCG) have[(size_t)(r - 1) * w + w - 1] = 1;
        cJSON_Delete(o);
    }
    char missing[128] = "";
    size_t n = 0;
    int count = 0;
    for (int r = 0; r < rounds; r++) {
        int whole = 1;
        for (int k = 0; k < w; k++) whole &= have[(size_t)r * w + k];
        if (!whole && n < sizeof missing)
            n += (size_t)snprintf(missing + n, sizeof missing - n, "%s%d", count ? ", " : "",
                                  r + 1);
        count += !whole;
    }
    free(have);
    if (!count) return 0;
    char what[400];
    if (j->prev_results)
        snprintf(what, sizeof what, "%s/results.jsonl lacks", c->train.out);
    else
        snprintf(what, sizeof what, "%s; that file holds", j->prev_error);
    snprintf(err, errlen, "--resume: %s the rows of round%s %s, which train.ckpt has evaluated: "
             "a resume reads finished rounds' rows back and does not evaluate those rounds again. "
             "Put the run's results.jsonl back, or start over with --fresh",
             what, count > 1 ? "s" : "", missing);
    return -1;
}

int drum_job_open(drum_job **out, const drum_job_config *cfg, int parts, drum_comm *comm,
                  const drum_progress *progress, volatile sig_atomic_t *stop,
                  void (*log)(const char *line), char *err, size_t errlen) {
    if (job_init(out, cfg, parts, comm, progress, stop, log, err, errlen)) return -1;
    drum_job *j = *out;
    int round, phase, named = cfg->model.checkpoint[0] != 0; /* then open_inputs loads it */
    int resumes = open_inputs(j, err, errlen) ? -1
                                              : resume_matches(j, named, 0, &round, &phase, err,
                                                               errlen);
    if (resumes < 0 || (resumes && check_prev_rows(j, round, err, errlen)) ||
        open_caches(j, err, errlen))
        return -1;
    /* drafts only where a query text shows them (retrieval.query_text has {D}; a demonstration's
     * never does); the pool's wait until it becomes a set of training queries (pool_queries) */
    drum_prepare_opts po = prepare_opts(j);
    if ((uses_drafts(j) && drafts_for(j, &j->eval, NULL, &j->eval_drafts, err, errlen)) ||
        write_drafts(j, err, errlen) ||
        drum_prepare_query_texts(&j->queries, &j->eval, j->eval_drafts, j->tok, &po, err,
                                 errlen))
        return -1;
    if (!named && (initial_weights(j, err, errlen) ||
                   resume_matches(j, 1, 0, &round, &phase, err, errlen) < 0))
        return -1;
    return 0;
}

/* A file's size for the check's report. */
static void size_of(const char *path, char *out, size_t n) {
    struct stat st;
    if (stat(path, &st) != 0)
        snprintf(out, n, "none yet");
    else if (st.st_size < 1000)
        snprintf(out, n, "%ld bytes", (long)st.st_size);
    else if (st.st_size < 1000000)
        snprintf(out, n, "%.1f kB", (double)st.st_size / 1e3);
    else
        snprintf(out, n, "%.1f MB", (double)st.st_size / 1e6);
}

/* The check's count: at most, every prompt of every evaluation and every mined pair, none
 * cached. */
static void check_report(drum_job *j, int parts) {
    const drum_job_config *c = j->cfg;
    long nq = j->eval.n, np = j->train.n, shots = 0, zero = 0;
    if (c->train.queries > 0 && c->train.queries < np) np = c->train.queries; /* a sample */
    int baselines = 0, rounds = parts & DRUM_JOB_ROUNDS ? c->train.rounds : 0;
    int mining = parts & DRUM_JOB_MINE ? 1 : rounds, drafts = uses_drafts(j);
    for (int i = 0; (parts & DRUM_JOB_BASELINES) && i < c->eval.strategies.n; i++) {
        drum_strategy st;
        baselines += drum_strategy_parse(c->eval.strategies.v[i], &st) == 0 &&
                     st != DRUM_STRATEGY_DRUM;
    }
    for (int i = 0; i < c->eval.shots.n; i++) {
        if (c->eval.shots.v[i] > 0)
            shots++;
        else if ((baselines + rounds) && !drafts)
            zero = nq; /* the same prompts for every strategy, and the drafts' if asked */
    }
    long n_drafts = drafts ? nq + (mining ? np : 0) : 0;
    long kshot = shots * nq * (baselines + rounds) + zero;
    long scores = (long)mining * np * c->train.scored_per_round;
    note(j, "check: the LVLM would be asked at most %ld prompts (those cached in %s are not "
         "asked again):", n_drafts + kshot + scores, c->train.out);
    if (drafts)
        note(j, "  zero-shot drafts  %ld (%ld queries%s)", n_drafts, nq,
             !mining                  ? ""
             : np < j->train.n ? ", and train.queries of the pool as training queries"
                               : ", and the pool as training queries");
    else
        note(j, "  zero-shot drafts  0 (retrieval.query_text has no {D})");
    if (baselines + rounds) {
        char what[96] = "";
        size_t w = 0;
        if (baselines)
            w = (size_t)snprintf(what, sizeof what, "%d baseline%s", baselines,
                                 baselines == 1 ? "" : "s");
        if (rounds)
            snprintf(what + w, sizeof what - w, "%s%d DRUM round%s", baselines ? " and " : "",
                     rounds, rounds == 1 ? "" : "s");
        note(j, "  k-shot prompts    %ld (%s x %ld shot count%s x %ld queries%s)", kshot, what,
             shots, shots == 1 ? "" : "s", nq,
             zero ? "; the zero-shot ones once" : drafts && shots < c->eval.shots.n
                                                      ? "; the zero-shot ones are the drafts"
                                                      : "");
    }
    if (mining)
        note(j, "  pair scores       %ld (%d mining round%s x %ld pool queries x %d new pairs)",
             scores, mining, mining == 1 ? "" : "s", np, c->train.scored_per_round);
}

int drum_job_check(const drum_job_config *cfg, int parts, const drum_progress *progress,
                   void (*log)(const char *line), char *err, size_t errlen) {
    drum_job *j = NULL;
    int rc = job_init(&j, cfg, parts, NULL, progress, NULL, log, err, errlen);
    if (rc == 0) rc = open_inputs(j, err, errlen);
    /* the retriever the job would start from, when the config names none: an earlier run's
     * clip0/ is read too; pre-training is only announced */
    int found = rc == 0 && !cfg->model.checkpoint[0] ? earlier_clip0(j, err, errlen) : 1;
    if (found < 0) rc = -1;
    if (found == 0)
        note(j, "retriever: none yet; the job pre-trains one (%d epoch%s on %s/captions.jsonl)",
             cfg->model.pretrain.epochs, cfg->model.pretrain.epochs == 1 ? "" : "s",
             j->data_dir);
    /* --resume: the checkpoint must be this run's, on these data, images and texts, and from
     * these starting weights when the job has them already */
    int round, phase;
    int at_ckpt = rc == 0 ? resume_matches(j, found == 1, 1, &round, &phase, err, errlen) : 0;
    if (at_ckpt < 0 || (at_ckpt > 0 && check_prev_rows(j, round, err, errlen))) rc = -1;
    if (at_ckpt > 0) {
        char at[64];
        static const char *const what[] = {"mining", "training", "trained, its evaluation next"};
        if (phase >= DRUM_PHASE_MINE && phase < DRUM_PHASE_DONE)
            snprintf(at, sizeof at, "round %d, %s", round + 1, what[phase]);
        else
            snprintf(at, sizeof at, "every round done");
        note(j, "--resume: %s/train.ckpt is this run's, on these data, images and texts%s: %s",
             cfg->train.out, found == 1 ? ", from these starting weights" : "", at);
    }
    if (rc == 0) {
        int trains = j->model->grads != NULL;
        note(j, "model: %zu parameters, embeddings of %d dimensions, images of %d px; "
             "%.2f GB of activations for %d image-text pairs a pass%s and %.2f GB of %s on %s",
             j->params.total, j->ccfg.projection_dim, j->pool.S,
             (double)j->model->arena_bytes / 1e9, j->model->max_images,
             trains ? " (train.micro_batch bounds it)" : "",
             (double)j->params.total * (trains ? 16 : 4) / 1e9,
             trains ? "weights, gradients and AdamW moments" : "weights (nothing to train)",
             j->be->name);
        /* what the job holds for the run: examples naming one file share its levels */
        int most = drum_prepared_most_per_image(&j->pool);
        char shared[96] = "";
        if (most > 1)
            snprintf(shared, sizeof shared, "; at most %d pool examples show one image "
                     "(train/eval.exclude_same_image)", most);
        note(j, "images: pool %d examples over %d files, queries %d over %d; %.1f MB of "
             "levels in memory, once a node (its ranks share them where it can reserve them)%s",
             j->pool.n, j->pool.n_images, j->queries.n, j->queries.n_images, levels_mb(j),
             shared);
        check_report(j, parts);
        char caches[128], sc[32], an[32] = "";
        size_of(cfg->scorer.cache, sc, sizeof sc);
        if (cfg->scorer.backend != DRUM_SCORER_SYNTHETIC) /* the simulator's go uncached */
            size_of(cfg->scorer.answers, an, sizeof an);
        snprintf(caches, sizeof caches, "score cache %s%s%s", sc, an[0] ? ", answer cache " : "",
                 an);
        note(j, "check passed: %d + %d examples and their images, the tokenizer, the model and "
             "its weights if any, and the LVLM's hello; nothing asked, nothing written to %s "
             "(%s)", j->train.n, j->eval.n, cfg->train.out, caches);
    }
    drum_job_close(j);
    return rc;
}

/* The pool as training queries, for mining and training: its zero-shot drafts (asked now, the
 * first time) and its query texts. */
static int pool_queries(drum_job *j, char *err, size_t errlen) {
    if (j->pool.query_ids) return 0;
    drum_prepare_opts po = prepare_opts(j);
    /* train.queries: the sampled training queries alone are drafted (drum_sample_queries, as
     * the trainer samples them) */
    free(j->pool_queries);
    if (drum_sample_queries(j->train.n, j->cfg->train.queries, j->cfg->seed, &j->pool_queries,
                            err, errlen) ||
        (uses_drafts(j) &&
         (drafts_for(j, &j->train, j->pool_queries, &j->train_drafts, err, errlen) ||
          write_drafts(j, err, errlen))) ||
        drum_prepare_query_texts(&j->pool, &j->train, j->train_drafts, j->tok, &po, err, errlen))
        return -1;
    return 0;
}

static void free_strings(char **s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

void drum_job_close(drum_job *j) {
    if (!j) return;
    drum_prepared_free(&j->pool);
    drum_prepared_free(&j->queries);
    drum_clip_model_free(j->model);
    drum_clip_params_free(&j->params);
    drum_tokenizer_free(j->tok);
    free_strings(j->train_drafts, j->train.n);
    free(j->pool_queries);
    free_strings(j->eval_drafts, j->eval.n);
    drum_scorer_destroy(j->scorer ? j->scorer : j->lvlm); /* the caches own the LVLM */
    drum_dataset_free(&j->train);
    drum_dataset_free(&j->eval);
    drum_backend_destroy(j->be);
    free(j->data_dir);
    free(j->train_path);
    free(j->eval_path);
    free(j->tok_dir);
    free(j->report);
    for (int r = 0; r < j->n_rows; r++) {
        free(j->rows[r].pq);
        free(j->rows[r].mq);
    }
    free(j->rows);
    free(j->rounds);
    free(j->prev_results);
    free(j->pool_group);
    free(j->query_group);
    free(j->eval_self);
    drum_embeddings_free(&j->untuned_pool);
    free(j);
}

/* ------------------------------------------------------------ evaluation ---- */

/* The largest configured shot count (0 when none). */
static int largest_shots(const drum_job_config *c) {
    int k = 0;
    for (int i = 0; i < c->eval.shots.n; i++)
        if (c->eval.shots.v[i] > k) k = c->eval.shots.v[i];
    return k;
}

/* Demonstrations to retrieve per query: every shot count's, and NDCG@10's top 10. */
static int max_shots(const drum_job *j) {
    int k = largest_shots(j->cfg);
    if (k < 1) k = 1;
    if (j->oracle_ndcg && k < NDCG_K) k = NDCG_K;
    return k;
}

/* v printed with fmt, or `missing` when v is NaN (not measured). */
static void fmt_or(char *buf, size_t n, const char *fmt, double v, const char *missing) {
    if (isnan(v))
        snprintf(buf, n, "%s", missing);
    else
        snprintf(buf, n, fmt, v);
}

/* The lines of prev_results that a resumed run's training restores (restore_results), as
 * they are: the DRUM rows (ndcg 0) or the NDCG rows of rounds 1 on (ndcg 1). */
static void carry_rows(const drum_job *j, FILE *f, int ndcg) {
    const char *want = ndcg ? "{\"ndcg_round\": " : "{\"strategy\": \"DRUM\", ";
    const char *l = j->carry_prev ? j->prev_results : NULL;
    for (const char *nl; l && *l; l = nl ? nl + 1 : NULL) {
        nl = strchr(l, '\n');
        int len = nl ? (int)(nl - l) : (int)strlen(l);
        if (strncmp(l, want, strlen(want)) == 0 && strncmp(l, "{\"ndcg_round\": 0,", 17) != 0)
            fprintf(f, "%.*s\n", len, l);
    }
}

/* Rewrites results.jsonl from the rows so far (atomically). */
static int write_results(drum_job *j, char *err, size_t errlen) {
    if (!writer(j)) return 0;
    char *path = drum_path_join(j->cfg->train.out, "results.jsonl"), *tmp = NULL;
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    FILE *f = drum_atomic_open(path, &tmp, err, errlen);
    if (!f) {
        free(path);
        return -1;
    }
    for (int r = 0; r < j->n_rows; r++) {
        const result_row *x = &j->rows[r];
        fprintf(f, "{\"strategy\": \"%s\", \"round\": %d, \"shots\": %d, \"mean\": %.6f",
                drum_strategy_name(x->strategy), x->round, x->shots, x->r.mean);
        for (int t = 0; t < x->r.n_tasks; t++) {
            fprintf(f, ", ");
            drum_json_write_string(f, x->r.task[t]);
            fprintf(f, ": %.6f", x->r.score[t]);
        }
        if (x->r.has_expected) {
            fprintf(f, ", \"p_correct\": {");
            for (int t = 0; t < x->r.n_tasks; t++) {
                fprintf(f, "%s", t ? ", " : "");
                drum_json_write_string(f, x->r.task[t]);
                fprintf(f, ": %.6f", x->r.expected[t]);
            }
            fprintf(f, "}");
        }
        fprintf(f, "}\n");
    }
    carry_rows(j, f, 0);
    for (int r = 0; r < j->n_rounds; r++)
        if (j->rounds[r].present) {
            /* round 0 (the un-tuned SIT) has no training loss, a scorer other than the
             * simulator no NDCG: null, JSON has no NaN */
            char loss[32], ndcg[32];
            fmt_or(loss, sizeof loss, "%.6f", j->rounds[r].loss, "null");
            fmt_or(ndcg, sizeof ndcg, "%.6f", j->rounds[r].ndcg, "null");
            fprintf(f, "{\"ndcg_round\": %d, \"ndcg@%d\": %s, \"loss\": %s, \"steps\": %ld}\n",
                    j->rounds[r].round, NDCG_K, ndcg, loss, j->rounds[r].steps);
        }
    carry_rows(j, f, 1);
    int rc = drum_atomic_commit(f, tmp, path, err, errlen);
    free(path);
    return rc;
}

/* Mean NDCG@10 over the evaluation queries of `retrieved` (nq, kmax) against the
 * simulator's scores of every pool example. */
static int mean_ndcg(drum_job *j, const int *retrieved, int kmax, double *out, char *err,
                     size_t errlen) {
    const drum_example **cands = malloc((size_t)(j->train.n + 1) * sizeof *cands);
    int *local = malloc((size_t)(j->train.n + 1) * sizeof(int)); /* pool row -> row in group */
    int *ret = malloc((size_t)(NDCG_K + 1) * sizeof(int));
    if (!cands || !local || !ret) {
        free(cands);
        free(local);
        free(ret);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    double sum = 0;
    int rc = 0;
    drum_trace_push("NDCG@10");
    drum_progress_begin(&j->progress, "NDCG@10", 0, j->eval.n);
    for (int q = 0; q < j->eval.n && rc == 0; q++) {
        /* the query's candidates: its own task family's pool, as retrieval sees it */
        int n = 0, g = j->query_group[q];
        for (int i = 0; i < j->train.n; i++) {
            local[i] = -1;
            if (j->pool_group[i] == g && (!j->eval_self || j->eval_self[q] != i) &&
                (!j->eval_most || j->pool.image_digest[i] != j->queries.image_digest[q])) {
                local[i] = n;
                cands[n++] = &j->train.ex[i];
            }
        }
        for (int r = 0; r < NDCG_K; r++) ret[r] = local[retrieved[(size_t)q * kmax + r]];
        double v;
        rc = drum_ndcg_scored(j->lvlm, &j->eval.ex[q], cands, n, ret, NDCG_K, NDCG_K, &v, err,
                              errlen);
        sum += v;
        if ((q + 1) % 64 == 0 || q + 1 == j->eval.n)
            drum_progress_report(&j->progress, "NDCG@10", q + 1, j->eval.n, NULL);
    }
    drum_trace_pop();
    free(cands);
    free(local);
    free(ret);
    *out = j->eval.n ? sum / j->eval.n : 0;
    return rc;
}

/* Keeps, of each query's kr retrieved (idx, sim: nq rows of kr), the first kmax that do not
 * show its image, as nq rows of kmax in place. */
static int other_images(const drum_job *j, int *idx, float *sim, int kr, int kmax, char *err,
                        size_t errlen) {
    for (int q = 0; q < j->eval.n; q++) {
        int w = 0;
        for (int t = 0; t < kr && w < kmax; t++) {
            int d = idx[(size_t)q * kr + t];
            if (j->pool.image_digest[d] == j->queries.image_digest[q]) continue;
            idx[(size_t)q * kmax + w] = d; /* never past the row being read: kmax <= kr */
            sim[(size_t)q * kmax + w] = sim[(size_t)q * kr + t];
            w++;
        }
        if (w < kmax) {
            snprintf(err, errlen, "%s:%d: %d of its %d retrieved demonstrations show its image, "
                     "leaving %d of the %d asked (eval.exclude_same_image)",
                     j->eval.path, j->eval.ex[q].line, kr - w, kr, w, kmax);
            return -1;
        }
    }
    return 0;
}

/* Evaluates one strategy with the current retriever at every configured shot count;
 * ndcg (may be NULL) gets its NDCG@10. kept (may be NULL): {pool, queries} embeddings under
 * the current weights, taken at the first strategy that needs them and kept for the next
 * (the baselines' SI, ST and SIT share the un-tuned weights: one embedding, not three). */
static int evaluate_in(drum_job *j, drum_strategy s, int round, double *ndcg,
                       drum_embeddings *kept, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    /* with eval.exclude_same_image the ranking is read kr deep, then the examples showing the
     * query's image are passed over (check_eval_families made room) */
    int kmax = max_shots(j), kr = kmax + j->eval_most, nq = j->eval.n, rc = -1;
    drum_embeddings pool = {0}, q = {0}, own[2] = {{0}}, *e = kept ? kept : own;
    int *idx = malloc((size_t)nq * kr * sizeof(int));
    float *sim = malloc((size_t)nq * kr * sizeof(float));
    if (!idx || !sim) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (s != DRUM_STRATEGY_RS && s != DRUM_STRATEGY_FIXED) {
        int batch = j->model->max_images;
        if (!e[0].img &&
            (drum_embed_prepared(j->comm, j->model, &j->pool, &j->train, 0, batch,
                                 &j->progress, &e[0], err, errlen) ||
             drum_embed_prepared(j->comm, j->model, &j->queries, &j->eval, 1, batch,
                                 &j->progress, &e[1], err, errlen))) {
            drum_embeddings_free(&e[0]); /* kept whole or not at all */
            drum_embeddings_free(&e[1]);
            goto out;
        }
        pool = e[0]; /* borrowed: freed with own, or by the caller of kept */
        q = e[1];
    } else {
        pool.n = j->train.n;
        q.n = nq;
    }
    drum_answer_cache_stats before = {0}, after = {0};
    int cached = drum_answer_cached_scorer_stats(j->scorer, &before) == 0;
    drum_retrieval_opts ro = {s, (float)c->retrieval.w_image, (float)c->retrieval.w_text,
                              c->seed, 0};
    drum_trace_push("retrieve");
    int bad = drum_retrieve_grouped(j->be, &q, &pool, j->query_group, j->pool_group, j->n_groups,
                                    &ro, j->eval_self, kr, idx, sim, err, errlen);
    drum_trace_pop();
    if (bad || (kr > kmax && other_images(j, idx, sim, kr, kmax, err, errlen))) goto out;
    if (ndcg && !j->oracle_ndcg) *ndcg = NAN;
    if (ndcg && j->oracle_ndcg && mean_ndcg(j, idx, kmax, ndcg, err, errlen)) goto out;
    for (int i = 0; i < c->eval.shots.n; i++) {
        result_row *row = next_row(j);
        if (!row) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        row->strategy = s;
        row->round = round;
        row->shots = c->eval.shots.v[i];
        if (round)
            snprintf(row->label, sizeof row->label, "DRUM r%d", round);
        else
            snprintf(row->label, sizeof row->label, "%s", drum_strategy_name(s));
        int first = c->retrieval.order == DRUM_ORDER_MOST_SIMILAR_FIRST;
        /* each query's own score, and with the simulator its P(correct): results.md pairs them */
        row->mq = malloc((size_t)(nq ? nq : 1) * sizeof *row->mq);
        row->pq = j->oracle_ndcg ? malloc((size_t)(nq ? nq : 1) * sizeof *row->pq) : NULL;
        bad = !row->mq || (j->oracle_ndcg && !row->pq);
        if (bad) snprintf(err, errlen, "out of memory");
        drum_trace_push("k-shot answers");
        bad = bad || drum_icl_evaluate_each(j->scorer, &j->eval, &j->train, idx, kmax,
                                            row->shots, first,
                                            c->eval.classify == DRUM_CLASSIFY_RANK,
                                            &j->progress, &row->r, row->mq, err, errlen);
        drum_trace_pop();
        /* the simulator also says what the answers were drawn from: no sampling noise */
        bad = bad || (row->pq && drum_icl_expected(j->lvlm, drum_synthetic_p_correct, &j->eval,
                                                   &j->train, idx, kmax, row->shots, first,
                                                   &row->r, row->pq, err, errlen));
        if (bad) {
            free(row->mq);
            free(row->pq);
            row->mq = row->pq = NULL;
            goto out;
        }
        j->n_rows++;
        note(j, "%-8s %2d-shot: mean %.4f", row->label, row->shots, row->r.mean);
    }
    if (cached && drum_answer_cached_scorer_stats(j->scorer, &after) == 0)
        note(j, "answers: %ld prompts from %s, %ld asked", after.hits - before.hits,
             j->cfg->scorer.answers, after.misses - before.misses);
    rc = write_results(j, err, errlen);
out:
    drum_embeddings_free(&own[0]);
    drum_embeddings_free(&own[1]);
    free(idx);
    free(sim);
    return rc;
}

static int evaluate(drum_job *j, drum_strategy s, int round, double *ndcg,
                    drum_embeddings *kept, char *err, size_t errlen) {
    if (round)
        drum_trace_push("evaluate DRUM round %d", round);
    else
        drum_trace_push("evaluate %s", drum_strategy_name(s));
    int rc = evaluate_in(j, s, round, ndcg, kept, err, errlen);
    drum_trace_pop();
    return rc;
}

int drum_job_baselines(drum_job *j, char *err, size_t errlen) {
    const drum_cfg_str_list *names = &j->cfg->eval.strategies;
    if (opened_for(j, DRUM_JOB_BASELINES, "drum_job_baselines", err, errlen)) return -1;
    drum_embeddings kept[2] = {{0}}; /* the un-tuned weights' pool and queries, for all */
    int rc = 0;
    for (int i = 0; i < names->n && rc == 0; i++) {
        drum_strategy s;
        if (drum_strategy_parse(names->v[i], &s)) {
            snprintf(err, errlen, "eval.strategies: unknown strategy '%s'", names->v[i]);
            rc = -1;
            break;
        }
        if (s == DRUM_STRATEGY_DRUM) continue;
        double ndcg = 0;
        rc = evaluate(j, s, 0, s == DRUM_STRATEGY_SIT ? &ndcg : NULL, kept, err, errlen);
        round_row *r0 = rc == 0 && s == DRUM_STRATEGY_SIT ? round_slot(j, 0) : NULL;
        if (rc == 0 && s == DRUM_STRATEGY_SIT && !r0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else if (r0) {
            *r0 = (round_row){1, 0, ndcg, NAN, 0};
            char v[32];
            fmt_or(v, sizeof v, "%.4f", ndcg, "-");
            note(j, "round 0 (un-tuned SIT): NDCG@%d %s", NDCG_K, v);
        }
    }
    drum_embeddings_free(&j->untuned_pool);
    if (rc == 0 && (j->parts & DRUM_JOB_ROUNDS)) j->untuned_pool = kept[0];
    else drum_embeddings_free(&kept[0]);
    drum_embeddings_free(&kept[1]);
    return rc ? rc : write_results(j, err, errlen);
}

/* ---------------------------------------------------------------- training ---- */

/* Logs how many entries of the candidate lists show their query's image (the same file
 * bytes): the pairs train.exclude_same_image passes over. Silent when none do. */
static void note_same_image(drum_job *j, const drum_trainer *t) {
    long all = 0, same = 0;
    for (int i = 0; i < j->train.n; i++)
        for (int k = 0; k < t->cand[i].n; k++) {
            all++;
            same += j->pool.image_digest[t->cand[i].c[k].demo] == j->pool.image_digest[i];
        }
    if (same)
        note(j, "candidates: %ld of %ld (%.1f%%) show their query's image (the same file bytes), "
             "which an evaluation on images the pool lacks never offers; "
             "train.exclude_same_image passes over them",
             same, all, 100.0 * (double)same / (double)all);
}

typedef struct {
    drum_job *j;
    drum_trainer *t;
} round_ctx;

static int round_end(void *user, int round, char *err, size_t errlen) {
    round_ctx *rc = user;
    drum_job *j = rc->j;
    double ndcg = 0;
    drum_embeddings kept[2] = {{0}};
    if (evaluate(j, DRUM_STRATEGY_DRUM, round + 1, &ndcg, kept, err, errlen)) return -1;
    /* the next round's mining embeds the pool with these same weights: it takes these rows */
    if (round + 1 < rc->t->o.rounds) drum_trainer_offer_pool(rc->t, &kept[0]);
    drum_embeddings_free(&kept[0]);
    drum_embeddings_free(&kept[1]);
    round_row *slot = round_slot(j, round + 1);
    if (!slot) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *slot = (round_row){1, round + 1, ndcg, rc->t->last_loss, rc->t->step};
    char v[32];
    fmt_or(v, sizeof v, "%.4f", ndcg, "-");
    note(j, "round %d: NDCG@%d %s, last loss %.4f, %ld steps", round + 1, NDCG_K, v,
         rc->t->last_loss, rc->t->step);
    note_same_image(j, rc->t);
    char name[32];
    snprintf(name, sizeof name, "round%d", round + 1);
    char *dir = drum_path_join(j->cfg->train.out, name);
    int r = dir ? export_model(j, dir, err, errlen) : -1;
    free(dir);
    return r ? r : write_results(j, err, errlen);
}

static drum_train_opts train_opts(const drum_job *j) {
    const drum_job_config *c = j->cfg;
    const drum_train_config *tc = &c->train;
    drum_train_opts o = {tc->rounds, tc->candidates_k, tc->scored_per_round, tc->epochs,
                         tc->batch_queries, tc->list_size, (float)tc->lr, tc->warmup_steps,
                         (float)tc->weight_decay, (float)tc->grad_clip, (float)tc->tau,
                         (float)tc->lambda, (drum_loss_kind)tc->loss, (float)tc->listnet_tau,
                         (float)c->retrieval.w_image, (float)c->retrieval.w_text,
                         tc->freeze.v, tc->freeze.n, tc->checkpoint_every, c->seed,
                         tc->queries, tc->exclude_same_image, tc->micro_batch, NULL};
    return o;
}

/* The fingerprints a checkpoint of this job carries, {data, image, text}: the pool's
 * (drum_pool_fingerprints) continued with the evaluation queries' examples, prepared images
 * and texts. Taken once (a large pool's images take seconds to hash), after open_inputs:
 * nothing they cover changes later (a query text's drafts are not in them). */
static const uint64_t *job_fingerprints(drum_job *j) {
    uint64_t *fp = j->fingerprints;
    if (!j->fingerprinted) {
        drum_pool_fingerprints(&j->train, &j->pool, &fp[0], &fp[1], &fp[2]);
        uint64_t queries = drum_dataset_fingerprint(&j->eval);
        fp[0] = drum_fnv1a(&queries, sizeof queries, fp[0]);
        fp[1] = drum_prepared_image_fingerprint(&j->queries, fp[1]);
        fp[2] = drum_prepared_text_fingerprint(&j->queries, fp[2]);
        j->fingerprinted = 1;
    }
    return fp;
}

static int trainer_for(drum_job *j, drum_trainer *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t); /* drum_trainer_free-able whatever fails */
    if (pool_queries(j, err, errlen)) return -1;
    drum_train_opts o = train_opts(j);
    o.fingerprints = job_fingerprints(j); /* the pool's, gone on with its queries' */
    if (drum_trainer_init(t, &o, j->be, j->model, &j->params, &j->train, &j->pool, j->scorer,
                          j->comm, err, errlen))
        return -1;
    t->stop = j->stop;
    t->progress = j->progress;
    t->groups = j->pool_group;
    t->n_groups = j->n_groups;
    return 0;
}

/* best score first, equal scores by pool index, so the order never depends on qsort */
static int cand_by_score(const void *a, const void *b) {
    const drum_candidate *x = a, *y = b;
    int by_score = (x->fb < y->fb) - (x->fb > y->fb);
    return by_score ? by_score : (x->demo > y->demo) - (x->demo < y->demo);
}

int drum_job_mine(drum_job *j, const char *path, char *err, size_t errlen) {
    drum_trainer t;
    int rc = -1;
    if (opened_for(j, DRUM_JOB_MINE, "drum_job_mine", err, errlen)) return -1;
    if (trainer_for(j, &t, err, errlen) || drum_trainer_mine(&t, err, errlen)) goto out;
    note_same_image(j, &t);
    if (!writer(j)) {
        rc = 0;
        goto out;
    }
    char *tmp = NULL;
    FILE *f = drum_atomic_open(path, &tmp, err, errlen);
    if (!f) goto out;
    int written = 0;
    for (int i = 0; i < j->train.n; i++) {
        if (j->pool_queries && !j->pool_queries[i]) continue; /* not a training query */
        written++;
        drum_candidate_list *l = &t.cand[i];
        qsort(l->c, (size_t)l->n, sizeof *l->c, cand_by_score);
        fprintf(f, "{\"query\": ");
        drum_json_write_string(f, j->train.ex[i].id);
        fprintf(f, ", \"candidates\": [");
        for (int k = 0; k < l->n; k++) {
            fprintf(f, "%s{\"demo\": ", k ? ", " : "");
            drum_json_write_string(f, j->train.ex[l->c[k].demo].id);
            fprintf(f, ", \"score\": %.6f}", l->c[k].fb);
        }
        fprintf(f, "]}\n");
    }
    rc = drum_atomic_commit(f, tmp, path, err, errlen);
    if (rc == 0) note(j, "wrote the candidate lists of %d queries to %s", written, path);
out:
    drum_trainer_free(&t);
    return rc;
}

/* On --resume: the DRUM rows and NDCG rows of the rounds finished before the checkpoint,
 * read back from results.jsonl (this process did not evaluate them). */
static int restore_results(drum_job *j, int rounds_done, char *err, size_t errlen) {
    char *text = j->prev_results;
    j->carry_prev = 0; /* restored from here on (the loop cuts text into lines) */
    if (!text) return 0; /* nothing written before */
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        int oom;
        cJSON *o = drum_json_parse(line, strlen(line), NULL, &oom);
        if (oom) {
            snprintf(err, errlen, "out of memory reading the rows of results.jsonl");
            return -1;
        }
        int at, kind = finished_row(o, rounds_done, &at);
        int drum_row = kind == PREV_DRUM, ndcg_row = kind == PREV_NDCG;
        result_row *row = drum_row ? next_row(j) : NULL;
        round_row *r = ndcg_row ? round_slot(j, at) : NULL;
        if ((drum_row && !row) || (ndcg_row && !r)) {
            cJSON_Delete(o);
            snprintf(err, errlen, "out of memory reading the rows of results.jsonl");
            return -1;
        }
        if (row) {
            j->n_rows++;
            row->strategy = DRUM_STRATEGY_DRUM;
            row->round = at;
            snprintf(row->label, sizeof row->label, "DRUM r%d", row->round);
            for (const cJSON *c = o->child; c; c = c->next) {
                if (!cJSON_IsNumber(c)) continue;
                if (strcmp(c->string, "shots") == 0) {
                    row->shots = c->valueint;
                } else if (strcmp(c->string, "mean") == 0) {
                    row->r.mean = c->valuedouble;
                } else if (strcmp(c->string, "round") != 0 && row->r.n_tasks < DRUM_ICL_MAX_TASKS) {
                    snprintf(row->r.task[row->r.n_tasks], sizeof row->r.task[0], "%s", c->string);
                    row->r.score[row->r.n_tasks++] = c->valuedouble;
                }
            }
            const cJSON *pc = cJSON_GetObjectItemCaseSensitive(o, "p_correct");
            for (const cJSON *c = cJSON_IsObject(pc) ? pc->child : NULL; c; c = c->next)
                for (int t = 0; t < row->r.n_tasks; t++)
                    if (cJSON_IsNumber(c) && strcmp(c->string, row->r.task[t]) == 0) {
                        row->r.expected[t] = c->valuedouble;
                        row->r.has_expected = 1;
                    }
        } else if (r) {
            const cJSON *nd = cJSON_GetObjectItemCaseSensitive(o, "ndcg@10");
            const cJSON *ls = cJSON_GetObjectItemCaseSensitive(o, "loss");
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "steps");
            r->present = 1;
            r->round = at;
            r->ndcg = cJSON_IsNumber(nd) ? nd->valuedouble : NAN;
            r->loss = cJSON_IsNumber(ls) ? ls->valuedouble : NAN;
            r->steps = cJSON_IsNumber(sp) ? (long)sp->valuedouble : 0;
        }
        cJSON_Delete(o);
    }
    return write_results(j, err, errlen);
}

/* A resume after the last round was evaluated (its checkpoint written, then a kill before
 * results.md, or --resume over a finished run): that round's DRUM rows were read back from
 * results.jsonl without their per-query values, which results.md's paired tables need. The
 * final weights evaluate it again (the caches answer, the simulator draws the same), and its
 * rows take the read-back ones' place: results.jsonl and results.md as the uninterrupted run
 * wrote them (a chaos test of kills and resumes found the tables cut short). */
static int last_round_again(drum_job *j, char *err, size_t errlen) {
    int last = j->cfg->train.rounds, kept = 0, read_back = 0;
    for (int r = 0; r < j->n_rows; r++) {
        result_row *row = &j->rows[r];
        int stale = row->strategy == DRUM_STRATEGY_DRUM && row->round == last && !row->mq;
        read_back |= stale;
        if (!stale) j->rows[kept++] = *row; /* a read-back row holds no per-query arrays */
    }
    j->n_rows = kept;
    if (!read_back) return 0;
    note(j, "round %d's retriever is evaluated again: its rows were read back from "
         "results.jsonl, without the per-query scores results.md pairs", last);
    return evaluate(j, DRUM_STRATEGY_DRUM, last, NULL, NULL, err, errlen);
}

int drum_job_train(drum_job *j, int resume, char *err, size_t errlen) {
    const drum_train_config *tc = &j->cfg->train;
    if (opened_for(j, DRUM_JOB_ROUNDS, "drum_job_train", err, errlen)) return -1;
    if (tc->rounds == 0) return 0;
    drum_trainer t;
    if (trainer_for(j, &t, err, errlen)) {
        drum_trainer_free(&t);
        return -1;
    }
    char *ckpt = drum_path_join(tc->out, "train.ckpt");
    round_ctx rc = {j, &t};
    t.checkpoint_path = writer(j) ? ckpt : NULL;
    t.round_end = round_end;
    t.round_end_user = &rc;
    drum_trainer_offer_pool(&t, &j->untuned_pool); /* a checkpoint's load drops them */
    int r = 0;
    if (resume && ckpt && drum_file_exists(ckpt)) {
        r = drum_trainer_load_checkpoint(&t, ckpt, err, errlen);
        if (r == 0) note(j, "resuming from %s: %s", ckpt, t.saved_at);
        if (r == 0) r = restore_results(j, t.round, err, errlen);
    }
    j->carry_prev = 0; /* without a checkpoint the rounds start afresh */
    char *steps = writer(j) ? drum_path_join(tc->out, "steps.jsonl") : NULL;
    if (r == 0 && steps) {
        char msg[512];
        t.steps_log = drum_steps_log_open(steps, t.step, msg, sizeof msg, err, errlen);
        if (!t.steps_log) r = -1;
        if (msg[0]) note(j, "%s", msg);
    }
    if (r == 0) r = drum_trainer_run(&t, err, errlen);
    if (r == 0) r = last_round_again(j, err, errlen);
    if (r == 1) note(j, "stopped: checkpoint written to %s (continue with --resume)", ckpt);
    j->checkpoint_failed = t.checkpoint_failed;
    drum_steps_log_close(t.steps_log);
    drum_trainer_free(&t);
    free(steps);
    free(ckpt);
    return r;
}

/* ----------------------------------------------------------------- report ---- */

/* Appends the formatted text to s[0..n) of cap bytes, as far as it fits; returns the length
 * the whole would have, so a report can measure itself and be written again larger. */
static size_t put(char *s, size_t n, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t put(char *s, size_t n, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(n < cap ? s + n : NULL, n < cap ? cap - n : 0, fmt, ap);
    va_end(ap);
    return n + (w > 0 ? (size_t)w : 0);
}

/* The rest of a task table's header, after its first cell: a column a task family. */
static size_t task_header(const drum_icl_result *tasks, char *s, size_t n, size_t cap) {
    for (int t = 0; t < tasks->n_tasks; t++) n = put(s, n, cap, " %s |", tasks->task[t]);
    n = put(s, n, cap, "\n|---|");
    for (int t = 0; t < tasks->n_tasks; t++) n = put(s, n, cap, "---:|");
    return put(s, n, cap, "\n");
}

/* A row's per-query values: the task metric (metric = 1) or the simulator's P(correct). */
static const double *row_values(const result_row *r, int metric) { return metric ? r->mq : r->pq; }

/* The row of `label` at `shots` with per-query values of that kind, or NULL. */
static const result_row *row_with(const drum_job *j, const char *label, int shots, int metric) {
    for (int r = 0; r < j->n_rows; r++)
        if (j->rows[r].shots == shots && row_values(&j->rows[r], metric) &&
            strcmp(j->rows[r].label, label) == 0)
            return &j->rows[r];
    return NULL;
}

/* results.md's paired comparisons at `shots`: the last DRUM round against each baseline, and
 * SIT against SI and ST, per task, over the same queries. metric = 0: the difference of mean
 * P(correct) and the sd of the sampled accuracies' difference (drum_icl_paired_sd); metric =
 * 1: the difference of the task metric and its standard error, the spread of the per-query
 * differences over sqrt(n) (any scorer; not for binary, whose ROC-AUC is not a mean).
 * Appends to s (PUT). */
static size_t paired_table(const drum_job *j, int shots, int metric, char *s, size_t n,
                           size_t cap) {
#define PUT(...) n = put(s, n, cap, __VA_ARGS__)
    const result_row *drum = NULL;
    for (int r = 0; r < j->n_rows; r++)
        if (j->rows[r].strategy == DRUM_STRATEGY_DRUM && j->rows[r].shots == shots &&
            row_values(&j->rows[r], metric) && (!drum || j->rows[r].round > drum->round))
            drum = &j->rows[r];
    static const char *const base[] = {"RS", "FIXED", "SI", "ST", "SIT"};
    const result_row *a[8], *b[8];
    int m = 0;
    for (int i = 0; drum && i < 5; i++)
        if ((b[m] = row_with(j, base[i], shots, metric))) a[m++] = drum;
    const result_row *sit = row_with(j, "SIT", shots, metric);
    for (int i = 2; sit && i < 4; i++)
        if ((b[m] = row_with(j, base[i], shots, metric))) a[m++] = sit;
    int nq = j->eval.n, *mask = malloc((size_t)(nq ? nq : 1) * sizeof *mask);
    if (m == 0 || !mask) {
        if (m) PUT("\n(A paired table at %d-shot is left out: out of memory.)\n", shots);
        free(mask);
        return n;
    }
    const drum_icl_result *tasks = &a[0]->r;
    int shared = j->cfg->scorer.rules >= 2;
    if (metric)
        PUT("\nPaired task metrics at %d-shot, over the same queries: the difference of the two "
            "strategies' scores and, in brackets, its standard error (the spread of the "
            "per-query differences over sqrt(n)). A difference under about twice its bracket "
            "can be luck. Binary tasks (ROC-AUC) are not a mean over queries and get no "
            "entry.\n\n| |", shots);
    else
        PUT("\nPaired, query by query, at %d-shot: the difference of mean P(correct) and, in "
            "brackets, the standard deviation of the difference of the two sampled accuracies "
            "(%s). A difference under about twice its bracket can come from the draws alone. "
            "Captions get no bracket: CIDEr-D is not a count of right answers.\n\n| |", shots,
            shared ? "rules 2: both answers of a query share one draw, so only the queries "
                     "whose P(correct) differs can disagree"
                   : "rules 1: the two answers of a query are drawn independently");
    n = task_header(tasks, s, n, cap);
    for (int c = 0; c < m; c++) {
        const double *x = row_values(a[c], metric), *y = row_values(b[c], metric);
        PUT("| %s − %s |", a[c]->label, b[c]->label);
        for (int t = 0; t < tasks->n_tasks; t++) {
            double d = 0, d2 = 0;
            int count = 0;
            for (int i = 0; i < nq; i++) {
                mask[i] = strcmp(j->eval.ex[i].task, tasks->task[t]) == 0 && !isnan(x[i]) &&
                          !isnan(y[i]);
                if (mask[i]) d += x[i] - y[i], d2 += (x[i] - y[i]) * (x[i] - y[i]), count++;
            }
            double mean = count ? d / count : 0;
            if (count < 2)
                PUT(" - |");
            else if (metric)
                PUT(" %+.4f (%.4f) |", mean,
                    sqrt(fmax(d2 - count * mean * mean, 0) / ((double)count * (count - 1))));
            else if (strcmp(tasks->task[t], "caption") == 0)
                PUT(" %+.4f |", mean);
            else
                PUT(" %+.4f (%.4f) |", mean, drum_icl_paired_sd(x, y, mask, nq, shared));
        }
        PUT("\n");
    }
    free(mask);
    return n;
#undef PUT
}

/* results.md's text into s[0..cap); returns its whole length (cap or more: it did not fit). */
static size_t report_text(const drum_job *j, char *s, size_t cap) {
    const drum_job_config *c = j->cfg;
    size_t n = 0;
#define PUT(...) n = put(s, n, cap, __VA_ARGS__)
    PUT("Mean task score on %d held-out queries (VQA accuracy, classification accuracy and "
        "CIDEr-D averaged over task families), by retrieval strategy and shots.\n\n| strategy |",
        j->eval.n);
    for (int i = 0; i < c->eval.shots.n; i++) PUT(" %d-shot |", c->eval.shots.v[i]);
    PUT("\n|---|");
    for (int i = 0; i < c->eval.shots.n; i++) PUT("---:|");
    PUT("\n");
    for (int r = 0; r < j->n_rows; r++) {
        int dup = 0; /* one line a label */
        for (int q = 0; q < r; q++) dup |= strcmp(j->rows[q].label, j->rows[r].label) == 0;
        if (dup) continue;
        PUT("| %s |", j->rows[r].label);
        for (int i = 0; i < c->eval.shots.n; i++) {
            int found = 0;
            for (int q = 0; q < j->n_rows; q++)
                if (strcmp(j->rows[q].label, j->rows[r].label) == 0 &&
                    j->rows[q].shots == c->eval.shots.v[i]) {
                    PUT(" %.4f |", j->rows[q].r.mean);
                    found = 1;
                    break;
                }
            if (!found) PUT(" - |");
        }
        PUT("\n");
    }
    int kbig = largest_shots(c);
    n = paired_table(j, kbig, 1, s, n, cap);
    /* the simulator's P(correct) per task at the largest shot count */
    const drum_icl_result *tasks = NULL;
    for (int r = 0; r < j->n_rows; r++)
        if (j->rows[r].shots == kbig && j->rows[r].r.has_expected) tasks = &j->rows[r].r;
    if (tasks) {
        PUT("\nThe simulated LVLM's mean P(correct) per task family at %d-shot: the probability "
            "its answers above were drawn from (for captions: of describing each object right). "
            "The task metrics also weigh annotators and wording, so they differ from it; "
            "differences between strategies here carry no sampling noise (a sampled accuracy over "
            "n queries strays by about sqrt(p (1 - p) / n)).%s\n\n| strategy |", kbig,
            c->eval.classify == DRUM_CLASSIFY_RANK
                ? " Classification was ranked (eval.classify: rank): its answers are the single "
                  "most likely class, not draws, so its accuracy is not an estimate of this "
                  "number."
                : "");
        n = task_header(tasks, s, n, cap);
        for (int r = 0; r < j->n_rows; r++) {
            const drum_icl_result *x = &j->rows[r].r;
            int dup = 0; /* one line a label, as in the table above */
            for (int q = 0; q < r; q++)
                dup |= j->rows[q].shots == kbig && j->rows[q].r.has_expected &&
                       strcmp(j->rows[q].label, j->rows[r].label) == 0;
            if (j->rows[r].shots != kbig || !x->has_expected || dup) continue;
            PUT("| %s |", j->rows[r].label);
            for (int t = 0; t < tasks->n_tasks; t++) {
                int found = -1;
                for (int u = 0; u < x->n_tasks; u++)
                    if (strcmp(x->task[u], tasks->task[t]) == 0) found = u;
                if (found < 0)
                    PUT(" - |");
                else
                    PUT(" %.4f |", x->expected[found]);
            }
            PUT("\n");
        }
        n = paired_table(j, kbig, 0, s, n, cap);
    }
    if (j->n_rounds) {
        PUT("\nRetriever quality: NDCG@%d of the top %d against the simulated LVLM's ranking of "
            "the whole pool, mean over held-out queries%s.\n\n| round | NDCG@%d | last loss | "
            "steps |\n|---|---:|---:|---:|\n", NDCG_K, NDCG_K,
            j->oracle_ndcg ? "" : " (\"-\": not computed, the scorer is not the simulator)",
            NDCG_K);
        for (int r = 0; r < j->n_rounds; r++) {
            if (!j->rounds[r].present) continue;
            char v[32];
            fmt_or(v, sizeof v, "%.4f", j->rounds[r].ndcg, "-");
            if (isnan(j->rounds[r].loss))
                PUT("| %d (SIT) | %s | - | - |\n", j->rounds[r].round, v);
            else
                PUT("| %d | %s | %.4f | %ld |\n", j->rounds[r].round, v, j->rounds[r].loss,
                    j->rounds[r].steps);
        }
    }
#undef PUT
    return n;
}

const char *drum_job_report(drum_job *j, char *err, size_t errlen) {
    const drum_job_config *c = j->cfg;
    size_t cap = 16384, n;
    char *s;
    for (;;) { /* once more at the size it measured, when the first buffer was too small */
        if (!(s = malloc(cap))) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        if ((n = report_text(j, s, cap)) < cap) break;
        free(s);
        cap = n + 1;
    }
    free(j->report);
    j->report = s;
    if (!writer(j)) return s;
    char *path = drum_path_join(c->train.out, "results.md"), *tmp = NULL;
    FILE *f = path ? drum_atomic_open(path, &tmp, err, errlen) : NULL;
    if (!f) {
        if (!path) snprintf(err, errlen, "out of memory");
        free(path);
        return NULL;
    }
    fputs(s, f);
    int rc = drum_atomic_commit(f, tmp, path, err, errlen);
    free(path);
    return rc ? NULL : s;
}

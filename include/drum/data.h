/* data.h — examples and datasets: one JSONL line per example.
 *
 * Line format (strict): {"id": str, "image": str (path relative to the JSONL file),
 * "prompt": str, "response": str, "answers": [str, ...] (optional, VQA), "task": str,
 * "split": str (optional)}. Unknown keys, wrong types, a missing required key, invalid
 * JSON, a duplicate key or id, or an empty id, image or task are errors naming the file
 * and the line. Blank lines are skipped; a trailing "\r" (CRLF files) is ignored.
 */
#ifndef DRUM_DATA_H
#define DRUM_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *id;
    char *image;      /* resolved path: the JSONL file's directory joined with "image" */
    char *prompt;     /* P: the question / instruction */
    char *response;   /* R: the gold response (first answer for VQA) */
    char **answers;   /* VQA: the human answers (usually 10); captioning: the references;
                         NULL when absent */
    int n_answers;
    char *task;       /* "vqa", "cls", "caption", ... */
    char *split;      /* "train", "eval", ...; NULL when absent */
    int line;         /* 1-based line in the source file, for error messages */
    /* drum_hash_bytes of the image file's bytes, set by drum_dataset_set_image_digests (0:
     * not read) */
    uint64_t image_digest;
    /* "id#<16 hex digits>", set by drum_dataset_load and renewed by
     * drum_dataset_set_image_digests: the digest of drum_example_digest (the texts) and
     * image_digest (the file, once read). The score and answer caches file this example's
     * scores and answers under it, so an example edited under the same id, or whose image
     * file was replaced, is asked again. NULL for examples made in memory, which the caches
     * file under their id (drum_example_cache_id). */
    char *content_id;
} drum_example;

/* The name the caches file e under: its content_id, or its id when it has none. */
static inline const char *drum_example_cache_id(const drum_example *e) {
    return e->content_id ? e->content_id : e->id;
}

typedef struct drum_dataset_index drum_dataset_index;

typedef struct {
    char *path;       /* the JSONL file */
    drum_example *ex;
    int n;
    drum_dataset_index *index; /* private: id hash built by load (NULL: find scans) */
} drum_dataset;

/* Loads a JSONL dataset. Returns 0, or -1 with "file:line: problem" in err. */
int drum_dataset_load(drum_dataset *ds, const char *path, char *err, size_t errlen);

/* Sets each example's image_digest (digests: ds->n, as drum_prepare reads them with the
 * pixels: prepare.h) and renews the content ids with them. A job calls it for its pool and
 * queries once their images are prepared, before the LVLM is asked anything. Returns 0, or
 * -1 (out of memory). */
int drum_dataset_set_image_digests(drum_dataset *ds, const uint64_t *digests, char *err,
                                   size_t errlen);
void drum_dataset_free(drum_dataset *ds);

/* FNV-1a 64 of e's id, image path (relative to dir, the directory of the JSONL file that
 * holds it, so a moved dataset keeps it; dir may be NULL), prompt, response, answers and
 * task: everything an LVLM or the simulator is shown of it, or scored on, except the pixels.
 * The split and line number are not part of it. */
uint64_t drum_example_digest(const drum_example *e, const char *dir);
/* FNV-1a 64 of every example's drum_example_digest, in order: what a training checkpoint was
 * made on. */
uint64_t drum_dataset_fingerprint(const drum_dataset *ds);
/* The index of the example with this id, or -1 (hash lookup after load). */
int drum_dataset_find(const drum_dataset *ds, const char *id);
/* Reads a drafts file (drafts.jsonl, written by a job into its run directory: one
 * {"id", "draft"} object per line; other keys and ids not in ds are ignored) into
 * *drafts, one malloc'd string per example of ds. Every example needs exactly one draft;
 * otherwise -1 with "file:line: problem" or the id that has none. */
int drum_drafts_load(const drum_dataset *ds, const char *path, char ***drafts, char *err,
                     size_t errlen);
/* Writes ds (or only the examples whose split equals `split` when not NULL) as JSONL,
 * image paths relative to the output file's directory, absolute ones included (computed
 * lexically against the working directory: symlinks are not resolved). Keys in the order
 * id, image, prompt, response, answers, task, split. Written to path.tmp, fsynced and
 * renamed. Returns 0, or -1 with a message. */
int drum_dataset_save(const drum_dataset *ds, const char *path, const char *split, char *err,
                      size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

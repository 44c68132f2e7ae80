/* convert.h — the benchmarks' native annotation files -> drum's examples (data.h), so that
 * `drum convert ... --out X.jsonl` gives the JSONL every other command reads. Formats as
 * docs/METRICS.md describes them (OpenFlamingo's evaluation suite):
 *
 *   VQA       questions JSON {"questions": [{question, question_id, image_id}]} and
 *             annotations JSON {"annotations": [{question_id, image_id, answers: [{answer,
 *             ...}], ...}]}, paired by list position as OpenFlamingo does (the question
 *             ids must agree). VQAv2, OK-VQA, and the VQA-format TextVQA / VizWiz files.
 *             Example: id = the question id, prompt = the question, response = the first
 *             answer (OpenFlamingo's demonstration answer), answers = every answer, task
 *             "vqa".
 *   Karpathy  {"images": [{split, filename, filepath (COCO), cocoid (COCO), sentences:
 *             [{raw}]}]} (COCO, Flickr30K): one example per image of the chosen split; id =
 *             cocoid, or the file name's stem when there is none (Flickr30K); response = the
 *             first reference, answers = every reference, task "caption".
 *   folders   an image classification set stored one folder per class (ImageNet's
 *             train/val layout): one example per file, id = "folder/file-stem", response =
 *             the class name (the folder's name, or its name in a mapping file of lines
 *             "<folder> <class name>", such as ImageNet's LOC_synset_mapping.txt), task
 *             "cls". Folders and files are taken in byte order; hidden ones are skipped.
 *   Hateful Memes  JSON lines (train.jsonl, dev_seen.jsonl, test_seen.jsonl, ...), one
 *             object per line {"id": 42953, "img": "img/42953.png", "label": 0 | 1,
 *             "text": "<the meme's OCR text>"}; other keys are ignored, a key given
 *             twice is an error, and so is a file without a line. One example per
 *             line: id = the id as written (an integer in decimal, or a non-empty string),
 *             image = images_dir joined with "img", prompt = "is an image with: '<text>'
 *             written on it. Is it hateful?" (OpenFlamingo's prompt without its <image>
 *             token and "Answer:"; the text inserted as is), response = "yes" (label 1) or
 *             "no" (label 0), no answers, task "binary" (a yes/no question scored by the
 *             ROC-AUC of P(yes)). A line without "label" (the unlabelled test.jsonl) is an
 *             error. As in drum's own JSONL (data.h), blank lines (spaces and tabs only) are
 *             skipped wherever they are, lines are counted with them, and a trailing "\r"
 *             is ignored; errors name the line: "dev.jsonl:7: \"label\" must be 0 or 1".
 *
 * Image paths are `images_dir` joined with the image's file name (VQA: from a pattern over
 * the image id; Karpathy: filepath/filename; Hateful Memes: img); images are not opened
 * here (a missing one is reported by the loader that reads it). Errors name the file and
 * the entry (Hateful Memes: the line):
 * "q.json: questions[12]: \"question_id\" must be a number or a string".
 */
#ifndef DRUM_CONVERT_H
#define DRUM_CONVERT_H

#include <stddef.h>

#include "drum/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *questions;     /* questions JSON */
    const char *annotations;   /* annotations JSON */
    const char *images_dir;    /* prefix of every image path */
    const char *image_pattern; /* file name from the image id: one "{id}" (as written) or
                                  "{id:0Nd}" (an integer id zero-padded to N digits), e.g.
                                  "COCO_val2014_{id:012d}.jpg" */
    const char *split;         /* written as every example's "split"; NULL: none */
    const char *prompt;        /* the prompt's template: each {question} becomes the question
                                  (e.g. "{question} Answer with a single word."); NULL: the
                                  question alone */
} drum_vqa_source;

typedef struct {
    const char *path;          /* the Karpathy JSON (dataset_coco.json, dataset_flickr30k.json) */
    const char *images_dir;    /* prefix of every image path */
    const char *split;         /* the images whose "split" is one of these comma-separated
                                  names ("train", "restval", "val", "test", "train,restval");
                                  each example keeps its own split */
    const char *prompt;        /* every example's prompt; NULL: "" */
} drum_karpathy_source;

typedef struct {
    const char *images_dir;    /* one sub-folder per class */
    const char *classes;       /* "<folder> <class name>" per line; NULL: the folder names */
    const char *split;         /* written as every example's "split"; NULL: none */
    const char *prompt;        /* every example's prompt; NULL: "" */
} drum_folders_source;

typedef struct {
    const char *path;          /* the Hateful Memes JSONL (train.jsonl, dev_seen.jsonl,
                                  test_seen.jsonl, ...) */
    const char *images_dir;    /* prefix of every image path (the folder holding img/) */
    const char *split;         /* written as every example's "split"; NULL: none */
} drum_hateful_memes_source;

/* Fills *out (its examples malloc'd; free with drum_dataset_free). Returns 0, or -1 with a
 * message naming the file and the entry. A duplicate id is an error. */
int drum_convert_vqa(const drum_vqa_source *src, drum_dataset *out, char *err, size_t errlen);
int drum_convert_karpathy(const drum_karpathy_source *src, drum_dataset *out, char *err,
                          size_t errlen);
int drum_convert_folders(const drum_folders_source *src, drum_dataset *out, char *err,
                         size_t errlen);
int drum_convert_hateful_memes(const drum_hateful_memes_source *src, drum_dataset *out,
                               char *err, size_t errlen);

/* Checks an image pattern (exactly one {id} or {id:0Nd}, N in 1..32). Returns 0, or -1
 * with a message. */
int drum_image_pattern_check(const char *pattern, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif

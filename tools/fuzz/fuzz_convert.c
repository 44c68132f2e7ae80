/* fuzz_convert — benchmark annotation JSON through `drum convert`: the input is read as a
 * Karpathy split file, as both the questions and the annotations file of a VQA set (a
 * JSON object may hold "images", "questions" and "annotations" at once) and as a Hateful
 * Memes JSONL file, then the examples are written as JSONL and read back by the dataset
 * loader. */
#include "drum/convert.h"
#include "fuzz_common.h"

static void round_trip(drum_dataset *ds) {
    char err[1024], path[160];
    snprintf(path, sizeof path, "/tmp/drum_fuzz_%d.out.jsonl", (int)getpid());
    if (drum_dataset_save(ds, path, NULL, err, sizeof err) == 0) {
        drum_dataset back;
        if (drum_dataset_load(&back, path, err, sizeof err) != 0 || back.n != ds->n) {
            fprintf(stderr, "a converted set does not load back: %s\n", err);
            abort();
        }
        drum_dataset_free(&back);
    }
    remove(path); /* one per process was left in /tmp */
    drum_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".json");
    char err[1024];
    drum_dataset ds;
    drum_karpathy_source k = {path, "images", "train,restval", "Describe the image."};
    if (drum_convert_karpathy(&k, &ds, err, sizeof err) == 0) round_trip(&ds);
    drum_vqa_source v = {path, path, "images", "COCO_val2014_{id:012d}.jpg", "val",
                         "Question: {question} Short answer:"};
    if (drum_convert_vqa(&v, &ds, err, sizeof err) == 0) round_trip(&ds);
    drum_hateful_memes_source h = {path, "memes", "dev_seen"};
    if (drum_convert_hateful_memes(&h, &ds, err, sizeof err) == 0) round_trip(&ds);
    return 0;
}

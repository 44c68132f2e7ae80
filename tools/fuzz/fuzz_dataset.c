/* fuzz_dataset — a JSONL dataset (data.h), and the same bytes as a drafts file for it. */
#include "drum/data.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".jsonl");
    drum_dataset ds;
    char err[1024];
    if (drum_dataset_load(&ds, path, err, sizeof err) == 0) {
        char **drafts = NULL;
        if (drum_drafts_load(&ds, path, &drafts, err, sizeof err) == 0) {
            for (int i = 0; i < ds.n; i++) free(drafts[i]);
            free(drafts);
        }
        drum_dataset_free(&ds);
    }
    return 0;
}

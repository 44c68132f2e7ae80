/* fuzz_tokenizer — any bytes as text through CLIP's BPE tokenizer (the test suite's vocab,
 * tests/fixtures/tokenizer; run from the repository root), single and batched. */
#include "drum/tokenizer.h"
#include "fuzz_common.h"

static drum_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char err[1024];
    if (drum_tokenizer_load("tests/fixtures/tokenizer", &tok, err, sizeof err)) {
        fprintf(stderr, "fuzz_tokenizer: %s (run from the repository root)\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    int ids[512];
    drum_tokenize(tok, text, ids, 512);
    drum_tokenize(tok, text, ids, 3);
    const char *texts[2] = {text, ""};
    int *bids = malloc(2 * 77 * sizeof(int)), *mask = malloc(2 * 77 * sizeof(int)), eos[2];
    char err[256];
    drum_tokenize_batch(tok, texts, 2, 77, bids, mask, eos, err, sizeof err);
    free(bids);
    free(mask);
    free(text);
    return 0;
}

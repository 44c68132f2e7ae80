/* fuzz_safetensors — a .safetensors file: the header, every tensor converted to float32. */
#include "drum/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".safetensors");
    char err[1024];
    drum_safetensors *st = drum_safetensors_open(path, err, sizeof err);
    if (!st) return 0;
    drum_safetensors_metadata(st, "format");
    for (int i = 0; i < drum_safetensors_count(st); i++) {
        const drum_st_tensor *t = drum_safetensors_at(st, i);
        if (t->numel > ((size_t)1 << 22)) continue;
        float *f = malloc(t->numel * sizeof(float) + 1);
        drum_st_tensor_to_f32(t, f, err, sizeof err);
        free(f);
    }
    drum_safetensors_close(st);
    return 0;
}

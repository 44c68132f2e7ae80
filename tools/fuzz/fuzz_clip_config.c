/* fuzz_clip_config — a Hugging Face CLIP config.json, then the parameter table it implies. */
#include "drum/clip.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".json");
    drum_clip_config cfg;
    char err[1024];
    if (drum_clip_config_load(&cfg, path, err, sizeof err)) return 0;
    drum_clip_params p;
    if (drum_clip_params_build(&p, &cfg, err, sizeof err) == 0) drum_clip_params_free(&p);
    return 0;
}

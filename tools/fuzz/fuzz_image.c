/* fuzz_image — encoded image bytes (PNG, JPEG, ... as stb_image reads them) decoded and
 * preprocessed as CLIP does; the first byte picks the alpha mode. */
#include "drum/image.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    drum_alpha_mode alpha = data[0] & 1 ? DRUM_ALPHA_WHITE : DRUM_ALPHA_DROP;
    drum_image img;
    char err[1024];
    if (drum_image_decode(data + 1, size - 1, "fuzz", alpha, &img, err, sizeof err)) return 0;
    if ((long long)img.w * img.h <= 1 << 20) { /* preprocessing time grows with the pixels */
        drum_image_config cfg;
        drum_image_config_default(&cfg);
        cfg.size = 24;
        cfg.crop_h = 24;
        cfg.crop_w = 20;
        float out[3 * 24 * 20];
        drum_image_preprocess(&img, &cfg, out, err, sizeof err);
    }
    drum_image_free(&img);
    return 0;
}

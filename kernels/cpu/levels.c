/* levels.c (cpu) — normalised pixels from uint8 levels through a per-channel table. */
#include "common.h"

void cpu_levels_forward(drum_backend *be, float *out, const uint8_t *levels, const float *lut,
                        int B, size_t plane) {
    size_t n = (size_t)B * 3 * plane;
#pragma omp parallel for schedule(static) if (n > (1u << 18))
    for (size_t i = 0; i < n; i++) out[i] = lut[(i / plane) % 3 * 256 + levels[i]];
}

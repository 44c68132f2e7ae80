/* synth_render.c — draws a demo-benchmark scene as an RGB image.
 *
 * Nuisance first (a two-tone gradient, optional stripes), then the objects with 4x4
 * supersampled edges, then per-pixel noise over everything. Only +, -, *, / and sqrt are
 * used (the star's corners are literals), so a seed renders the same bytes wherever IEEE
 * float arithmetic does.
 */
#include <math.h>

#include "data/synth_world.h"

/* Region centres as fractions of the side (left, right, top, bottom, center), object radii
 * (large, small) and position jitter, as fractions of the side: the free layout, and the
 * grid layout whose centres are those of cells of a 5 x 5 grid (so a ViT with patch =
 * side / 5 sees each object inside one patch). */
static const struct {
    float region[SW_POSITIONS][2], radius[2], jitter;
} layouts[2] = {
    {{{0.19f, 0.50f}, {0.81f, 0.50f}, {0.50f, 0.19f}, {0.50f, 0.81f}, {0.50f, 0.50f}},
     {0.15f, 0.09f}, 0.035f},
    {{{0.10f, 0.50f}, {0.90f, 0.50f}, {0.50f, 0.10f}, {0.50f, 0.90f}, {0.50f, 0.50f}},
     {0.09f, 0.06f}, 0.01f}};

/* A five-pointed star: outer radius 1, inner 0.42, first point up (y grows downwards). */
static const float star[10][2] = {
    {0.000000f, -1.000000f}, {0.246870f, -0.339787f}, {0.951057f, -0.309017f},
    {0.399444f, 0.129787f},  {0.587785f, 0.809017f},  {0.000000f, 0.420000f},
    {-0.587785f, 0.809017f}, {-0.399444f, 0.129787f}, {-0.951057f, -0.309017f},
    {-0.246870f, -0.339787f}};

static int in_polygon(const float (*p)[2], int n, float u, float v) {
    int in = 0;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        if ((p[i][1] > v) != (p[j][1] > v)) {
            float x = p[j][0] + (v - p[j][1]) * (p[i][0] - p[j][0]) / (p[i][1] - p[j][1]);
            if (u < x) in = !in;
        }
    }
    return in;
}

/* Is (u, v), in units of the object's radius from its centre, inside the shape? */
static int inside(int shape, float u, float v) {
    float au = u < 0 ? -u : u, av = v < 0 ? -v : v, r2 = u * u + v * v;
    switch (shape) {
    case 0: return r2 <= 1.0f;                                          /* circle */
    case 1: return au <= 0.82f && av <= 0.82f;                          /* square */
    case 2: return v <= 0.8f && v >= -0.95f && au <= 0.95f * (v + 0.95f) / 1.75f;
    case 3: return (au <= 0.3f && av <= 0.95f) || (av <= 0.3f && au <= 0.95f);
    case 4: return in_polygon(star, 10, u, v);
    case 5: return au + av <= 1.0f;                                     /* diamond */
    default: return r2 <= 1.0f && r2 >= 0.3f;                          /* ring */
    }
}

static float jitter(drum_rng *r, float amp) {
    return (2.0f * drum_rng_uniform(r) - 1.0f) * amp;
}

static unsigned char clamp255(float x) {
    return x <= 0.0f ? 0 : x >= 255.0f ? 255 : (unsigned char)(x + 0.5f);
}

void sw_render(const sw_scene *s, uint64_t seed, int size, int grid, unsigned char *rgb) {
    drum_rng r;
    drum_rng_seed(&r, seed, 0x72656e646572ULL);
    float side = (float)size, last = side - 1.0f;
    float tone[2][3];
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < 3; c++)
            tone[t][c] = (float)sw_background_rgb[s->bg[t]][c] + jitter(&r, 14.0f);
    int stripe_dir = (int)drum_rng_below(&r, 3);
    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            float t;
            switch (s->gradient) {
            case 0: t = (float)x / last; break;
            case 1: t = (float)y / last; break;
            case 2: t = (float)(x + y) / (2.0f * last); break;
            default: {
                float dx = (float)x - 0.5f * last, dy = (float)y - 0.5f * last;
                t = sqrtf(dx * dx + dy * dy) / (0.7072f * side);
                if (t > 1.0f) t = 1.0f;
            }
            }
            float add = 0.0f;
            if (s->stripes > 0) {
                int coord = stripe_dir == 0 ? y : stripe_dir == 1 ? x : x + y;
                add = ((coord / s->stripes) & 1) ? 12.0f : -12.0f;
            }
            unsigned char *px = rgb + 3 * ((size_t)y * size + x);
            for (int c = 0; c < 3; c++)
                px[c] = clamp255(tone[0][c] + (tone[1][c] - tone[0][c]) * t + add);
        }
    }
    const float(*region)[2] = layouts[grid != 0].region;
    const float *radius = layouts[grid != 0].radius, jit = layouts[grid != 0].jitter;
    for (int i = 0; i < s->n; i++) {
        const sw_object *o = &s->obj[i];
        float cx = region[o->pos][0] * side + jitter(&r, jit * side);
        float cy = region[o->pos][1] * side + jitter(&r, jit * side);
        float rad = radius[o->size == SW_LARGE ? 0 : 1] * side * (1.0f + jitter(&r, 0.08f));
        float col[3];
        for (int c = 0; c < 3; c++)
            col[c] = (float)sw_color_rgb[o->color][c] + jitter(&r, 16.0f);
        int x0 = (int)(cx - rad) - 1, x1 = (int)(cx + rad) + 1;
        int y0 = (int)(cy - rad) - 1, y1 = (int)(cy + rad) + 1;
        for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < size; y++) {
            for (int x = x0 < 0 ? 0 : x0; x <= x1 && x < size; x++) {
                int hits = 0;
                for (int sy = 0; sy < 4; sy++)
                    for (int sx = 0; sx < 4; sx++) {
                        float u = ((float)x + (sx + 0.5f) * 0.25f - cx) / rad;
                        float v = ((float)y + (sy + 0.5f) * 0.25f - cy) / rad;
                        hits += inside(o->shape, u, v);
                    }
                if (!hits) continue;
                float a = (float)hits / 16.0f;
                unsigned char *px = rgb + 3 * ((size_t)y * size + x);
                for (int c = 0; c < 3; c++)
                    px[c] = clamp255((float)px[c] * (1.0f - a) + col[c] * a);
            }
        }
    }
    if (s->noise > 0) {
        int span = 2 * s->noise + 1;
        for (size_t p = 0; p < (size_t)size * size; p++) {
            uint64_t h = drum_hash64(seed, p);
            for (int c = 0; c < 3; c++) {
                int d = (int)((h >> (16 * c)) & 0xffff) % span - s->noise;
                int v = rgb[3 * p + c] + d;
                rgb[3 * p + c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}

/* test_image — decoding and CLIP preprocessing against transformers' CLIPImageProcessorPil.
 *
 * Fixtures: tests/fixtures/image/ (regenerate: /work/venv/bin/python
 * tools/gen_image_fixtures.py; cases.txt describes each case). Every case must stay within
 * 0.02 of the processor's output after normalisation, and in fact match it bit for bit:
 * JPEG decodes with libjpeg-turbo's arithmetic and the resize is Pillow's.
 * With a CUDA build and a visible GPU the CUDA path must equal the CPU path bit for bit.
 * Also drum_prepare's chunks over a pool of fixture images, and the stop checks of
 * drum_embed_prepared over such a pool. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop
#include "drum/backend.h"
#include "drum/clip_model.h"
#include "drum/data.h"
#include "drum/demo.h"
#include "drum/fileio.h"
#include "drum/image.h"
#include "drum/prepare.h"
#include "drum/retrieval.h"
#include "drum/rng.h"
#include "drum/trainer.h"

#define FIXDIR "tests/fixtures/image"

typedef struct {
    char image[128], output[160], kind[8], alpha[8];
    drum_image_config cfg;
} icase;

static int read_cases(icase **out) {
    FILE *f = fopen(FIXDIR "/cases.txt", "r");
    if (!f) return -1;
    char line[512];
    int n = 0;
    icase *cs = NULL;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        cs = realloc(cs, (size_t)(n + 1) * sizeof(*cs));
        icase *c = &cs[n];
        drum_image_config_default(&c->cfg);
        int k = sscanf(line, "%127s %d %d %d %7s %f %f %f %f %f %f %159s %7s", c->image,
                       &c->cfg.size, &c->cfg.crop_h, &c->cfg.crop_w, c->alpha, &c->cfg.mean[0],
                       &c->cfg.mean[1], &c->cfg.mean[2], &c->cfg.std[0], &c->cfg.std[1],
                       &c->cfg.std[2], c->output, c->kind);
        if (k != 13) {
            fprintf(stderr, "cases.txt: bad line: %s", line);
            exit(1);
        }
        c->cfg.alpha = strcmp(c->alpha, "white") == 0 ? DRUM_ALPHA_WHITE : DRUM_ALPHA_DROP;
        n++;
    }
    fclose(f);
    *out = cs;
    return n;
}

/* The processor's output for case c: raw float32, or uint8 levels stored as PNG. */
static float *expected_output(const icase *c, size_t n) {
    char path[300], err[512];
    snprintf(path, sizeof path, FIXDIR "/%s", c->output);
    float *e = malloc(n * sizeof(float));
    if (strcmp(c->kind, "f32") == 0) {
        FILE *f = fopen(path, "rb");
        size_t got = f ? fread(e, sizeof(float), n, f) : 0;
        if (f) fclose(f);
        if (got != n) {
            free(e);
            return NULL;
        }
        return e;
    }
    drum_image lv;
    if (drum_image_load(path, DRUM_ALPHA_DROP, &lv, err, sizeof err) != 0 ||
        (size_t)lv.w * lv.h * 3 != n) {
        free(e);
        return NULL;
    }
    size_t plane = n / 3;
    for (int ch = 0; ch < 3; ch++)
        for (size_t i = 0; i < plane; i++) {
            float x = (float)((double)lv.rgb[i * 3 + ch] * (1.0 / 255.0));
            e[ch * plane + i] = (x - c->cfg.mean[ch]) / c->cfg.std[ch];
        }
    drum_image_free(&lv);
    return e;
}

static void check_fixtures(void) {
    icase *cs = NULL;
    int n = read_cases(&cs);
    CHECK(n >= 20, "cases.txt: %d cases", n);
    double worst = 0;
    for (int k = 0; k < n; k++) {
        const icase *c = &cs[k];
        char path[300], err[512];
        snprintf(path, sizeof path, FIXDIR "/%s", c->image);
        drum_image img;
        int rc = drum_image_load(path, c->cfg.alpha, &img, err, sizeof err);
        CHECK(rc == 0, "%s", err);
        if (rc != 0) continue;
        size_t total = (size_t)3 * c->cfg.crop_h * c->cfg.crop_w;
        float *got = malloc(total * sizeof(float)), *want = expected_output(c, total);
        CHECK(want != NULL, "%s: missing or short", c->output);
        rc = drum_image_preprocess(&img, &c->cfg, got, err, sizeof err);
        CHECK(rc == 0, "%s: %s", path, err);
        if (rc == 0 && want) {
            double md = 0;
            size_t ndiff = 0;
            for (size_t i = 0; i < total; i++) {
                double d = fabs((double)got[i] - want[i]);
                ndiff += d != 0;
                if (d > md) md = d;
            }
            printf("%-40s max |delta| %.6f (%zu of %zu values differ)\n", c->output, md, ndiff,
                   total);
            CHECK(md <= 0.02, "%s: max |delta| %g > 0.02", c->output, md);
            /* decoding and resampling reproduce PIL's integer arithmetic: nothing may differ */
            CHECK(md == 0, "%s: not bit-identical to transformers (max |delta| %g)", c->output, md);
            if (md > worst) worst = md;
            /* kept as uint8 levels and expanded through the table: the same floats */
            uint8_t *lv = malloc(total);
            float lut[3][256];
            drum_image_level_lut(&c->cfg, lut);
            size_t plane = total / 3, same = 0;
            rc = drum_image_preprocess_levels(&img, &c->cfg, lv, err, sizeof err);
            for (size_t i = 0; rc == 0 && i < total; i++)
                same += memcmp(&lut[i / plane][lv[i]], &got[i], sizeof(float)) == 0;
            CHECK(rc == 0 && same == total, "%s: levels through the table match %zu of %zu "
                  "floats: %s", c->output, same, total, rc ? err : "");
            free(lv);
        }
        free(got);
        free(want);
        drum_image_free(&img);
    }
    printf("fixtures: %d cases, max |delta| %g\n", n, worst);
    free(cs);
}

static void check_sizes(void) {
    int w, h;
    drum_image_resize_size(37, 53, 224, &w, &h);
    CHECK(w == 224 && h == 320, "37x53 -> %dx%d", w, h);
    drum_image_resize_size(301, 207, 224, &w, &h);
    CHECK(w == 325 && h == 224, "301x207 -> %dx%d", w, h);
    drum_image_resize_size(225, 225, 224, &w, &h);
    CHECK(w == 224 && h == 224, "225x225 -> %dx%d", w, h);
    drum_image_resize_size(50, 31, 224, &w, &h);
    CHECK(w == 361 && h == 224, "50x31 -> %dx%d", w, h);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

/* Missing and corrupt files: errors name the file; a batch reports the first failure and
 * still fills the other rows. */
static void check_errors(void) {
    char err[512], dir[] = "/tmp/drum_img_XXXXXX";
    drum_image img;
    int rc = drum_image_load("/nonexistent/cat.jpg", DRUM_ALPHA_DROP, &img, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "/nonexistent/cat.jpg: cannot open") && img.rgb == NULL,
          "missing: %s", err);
    rc = drum_image_load("/dev/zero", DRUM_ALPHA_DROP, &img, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "/dev/zero: not a regular file") && img.rgb == NULL,
          "a device: %s", err);
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char trunc[300], junk[300], empty[300];
    snprintf(trunc, sizeof trunc, "%s/truncated.png", dir);
    snprintf(junk, sizeof junk, "%s/junk.jpg", dir);
    snprintf(empty, sizeof empty, "%s/empty.png", dir);
    FILE *f = fopen(FIXDIR "/rgb_37x53.png", "rb");
    static unsigned char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    CHECK(n > 200, "fixture png");
    write_bytes(trunc, buf, n / 2);
    unsigned char garbage[1000];
    for (int i = 0; i < 1000; i++) garbage[i] = (unsigned char)(i * 37 + 11);
    garbage[0] = 0xFF;
    garbage[1] = 0xD8; /* a JPEG start, then nonsense */
    write_bytes(junk, garbage, sizeof garbage);
    write_bytes(empty, buf, 0);
    /* a PNG header claiming 20000 x 10000 pixels, over PIL's decompression-bomb limit */
    unsigned char bomb[64];
    memcpy(bomb, buf, sizeof bomb);
    bomb[16] = 0, bomb[17] = 0, bomb[18] = 0x4E, bomb[19] = 0x20; /* width 20000 */
    bomb[20] = 0, bomb[21] = 0, bomb[22] = 0x27, bomb[23] = 0x10; /* height 10000 */
    rc = drum_image_decode(bomb, sizeof bomb, "bomb.png", DRUM_ALPHA_DROP, &img, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "bomb.png: 20000x10000 pixels"), "bomb: %s", err);
    const char *bad[3] = {trunc, junk, empty};
    for (int i = 0; i < 3; i++) {
        rc = drum_image_load(bad[i], DRUM_ALPHA_DROP, &img, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad[i]) && strstr(err, "cannot decode image"),
              "corrupt %s: %s", bad[i], err);
    }
    /* without its 12-byte IEND chunk (PIL decodes it, stb does not): a reason, never "()" */
    rc = drum_image_decode(buf, n - 12, "no_iend.png", DRUM_ALPHA_DROP, &img, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "no_iend.png: cannot decode image (") && !strstr(err, "()"),
          "a PNG without IEND: %s", err);
    rc = drum_image_decode(buf, n, "in-memory", DRUM_ALPHA_DROP, &img, err, sizeof err);
    CHECK(rc == 0 && img.w == 37 && img.h == 53, "decode from memory: %s", err);

    drum_image_config cfg;
    drum_image_config_default(&cfg);
    cfg.size = cfg.crop_h = cfg.crop_w = 16;
    float out1[3 * 16 * 16];
    cfg.std[1] = 0;
    rc = drum_image_preprocess(&img, &cfg, out1, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "std"), "std 0: %s", err);
    cfg.std[1] = 0.5f;
    cfg.crop_w = 0;
    rc = drum_image_preprocess(&img, &cfg, out1, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "crop"), "crop 0: %s", err);
    cfg.crop_w = 16;
    CHECK(drum_image_preprocess(&img, &cfg, out1, err, sizeof err) == 0, "%s", err);
    drum_image_free(&img);

    /* a batch with the two failures at 1 and 3: reports 1, fills 0, 2 and 4 */
    const char *paths[5] = {FIXDIR "/rgb_37x53.png", "/nonexistent/dog.png", FIXDIR "/rgb_37x53.png",
                            junk, FIXDIR "/rgb_37x53.png"};
    float *out = malloc(5 * sizeof out1);
    int failed = -2;
    rc = drum_image_preprocess_files(paths, 5, &cfg, out, &failed, err, sizeof err);
    CHECK(rc == -1 && failed == 1 && strstr(err, "/nonexistent/dog.png"), "batch: %d %s", failed,
          err);
    int rows_ok = 1;
    for (int i = 0; i < 5; i += 2) rows_ok &= memcmp(out + i * 768, out1, sizeof out1) == 0;
    for (int i = 1; i < 5; i += 2)
        for (int j = 0; j < 768; j++) rows_ok &= out[i * 768 + j] == 0;
    CHECK(rows_ok, "batch rows: good ones as single calls, failed ones zero");
    /* the same files as uint8 levels; the cpu op levels_forward (the reference the cuda one
     * is checked against below) expands them through the table to the same floats */
    uint8_t *lv = malloc(5 * 768);
    failed = -2;
    uint64_t dg[5];
    rc = drum_image_preprocess_files_levels(paths, 5, &cfg, lv, dg, &failed, err, sizeof err);
    CHECK(rc == -1 && failed == 1 && strstr(err, "/nonexistent/dog.png"), "levels batch: %d %s",
          failed, err);
    /* read once for both: each file's digest is drum_hash_bytes of its bytes; failed ones 0 */
    int digests_ok = 1;
    for (int i = 0; i < 5; i++) {
        size_t len = 0;
        char why[256];
        char *bytes = i % 2 ? NULL : drum_read_file(paths[i], &len, why, sizeof why);
        uint64_t want = bytes ? drum_hash_bytes(bytes, len, DRUM_FNV1A_INIT) : 0;
        digests_ok &= dg[i] == (bytes && !want ? 1 : want);
        free(bytes);
    }
    CHECK(digests_ok, "levels batch: each file's digest is its bytes' drum_hash_bytes");
    float lut[3][256];
    drum_image_level_lut(&cfg, lut);
    drum_backend *cpu = drum_backend_create("cpu", err, sizeof err);
    CHECK(cpu != NULL, "cpu backend: %s", err);
    float *back = malloc(5 * sizeof out1);
    if (cpu) cpu->op.levels_forward(cpu, back, lv, &lut[0][0], 5, 256);
    rows_ok = cpu != NULL;
    for (int i = 0; rows_ok && i < 5; i += 2)
        rows_ok &= memcmp(back + i * 768, out + i * 768, sizeof out1) == 0;
    for (int i = 1; i < 5; i += 2)
        for (int j = 0; j < 768; j++) rows_ok &= lv[i * 768 + j] == 0;
    CHECK(rows_ok, "levels of 5 rows: the good ones expand to drum_image_preprocess_files' "
          "floats, the failed ones are level 0");
    if (cpu) cpu->op.levels_forward(cpu, back, lv + 2 * 768, &lut[0][0], 1, 256);
    CHECK(cpu && memcmp(back, out1, sizeof out1) == 0, "levels of row 2 alone");
    drum_backend_destroy(cpu);
    free(back);
    free(lv);
    free(out);
    unlink(trunc);
    unlink(junk);
    unlink(empty);
    rmdir(dir);
}

/* legacy_pass_order = 1 (Pillow before 13) changes only images whose height shrinks by more
 * than twice as many pixels as their width. */
static void check_pass_order(drum_image *imgs, int n) {
    drum_image_config a, b;
    drum_image_config_default(&a);
    a.size = a.crop_h = a.crop_w = 64;
    b = a;
    b.legacy_pass_order = 1;
    float *oa = malloc(3 * 64 * 64 * sizeof(float)), *ob = malloc(3 * 64 * 64 * sizeof(float));
    char err[512];
    for (int i = 0; i < n; i++) {
        int rw, rh;
        drum_image_resize_size(imgs[i].w, imgs[i].h, 64, &rw, &rh);
        int reorders = imgs[i].h - rh > 0 && imgs[i].h - rh > 2 * (imgs[i].w - rw);
        drum_image_preprocess(&imgs[i], &a, oa, err, sizeof err);
        drum_image_preprocess(&imgs[i], &b, ob, err, sizeof err);
        int same = memcmp(oa, ob, 3 * 64 * 64 * sizeof(float)) == 0;
        CHECK(same == !reorders, "image %dx%d: legacy order %s", imgs[i].w, imgs[i].h,
              same ? "changed nothing" : "changed a non-reordered image");
    }
    free(oa);
    free(ob);
}

/* Damaged files (random byte flips and truncations of the fixtures, fixed seed) decode or
 * fail with the file's name, and never touch memory they should not (run under ASan). */
static void check_damaged(void) {
    static const char *names[] = {"rgb_301x207.jpg", "rgb_157x101_prog.jpg", "rgb_133x77_422.jpg",
                                  "grey_120x90.jpg", "rgb_37x53.png", "rgb_70x48.bmp"};
    test_rng rng;
    test_rng_seed(&rng, 1234);
    int decoded = 0, failed = 0, named = 1;
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        char path[300], err[512];
        snprintf(path, sizeof path, FIXDIR "/%s", names[f]);
        FILE *fp = fopen(path, "rb");
        static unsigned char orig[1 << 16], buf[1 << 16];
        size_t n = fp ? fread(orig, 1, sizeof orig, fp) : 0;
        if (fp) fclose(fp);
        for (int trial = 0; trial < 150 && n > 0; trial++) {
            memcpy(buf, orig, n);
            size_t len = n;
            int flips = test_rng_int(&rng, 1, 6);
            for (int k = 0; k < flips; k++)
                buf[test_rng_int(&rng, 2, (int)n)] ^= (unsigned char)test_rng_int(&rng, 1, 256);
            if (trial % 5 == 0) len = (size_t)test_rng_int(&rng, 1, (int)n);
            drum_image img;
            if (drum_image_decode(buf, len, "damaged", DRUM_ALPHA_DROP, &img, err, sizeof err) == 0) {
                decoded += img.w > 0 && img.h > 0 && img.rgb;
                drum_image_free(&img);
            } else {
                failed++;
                named &= strncmp(err, "damaged: cannot decode image", 28) == 0;
            }
        }
    }
    CHECK(decoded + failed == 900 && named, "damaged files: %d decoded, %d failed", decoded,
          failed);
    printf("damaged files: %d decoded, %d rejected with the file's name\n", decoded, failed);
}

/* The batch over decoded images equals one call per image, for any thread schedule. */
static void check_batch(drum_image *imgs, int n, const drum_image_config *cfg) {
    size_t per = (size_t)3 * cfg->crop_h * cfg->crop_w;
    float *a = malloc(n * per * sizeof(float)), *b = malloc(n * per * sizeof(float));
    char err[512];
    int rc = drum_image_preprocess_batch(imgs, n, cfg, a, err, sizeof err);
    CHECK(rc == 0, "batch: %s", err);
    for (int i = 0; i < n; i++) drum_image_preprocess(&imgs[i], cfg, b + i * per, err, sizeof err);
    CHECK(memcmp(a, b, n * per * sizeof(float)) == 0, "batch differs from single calls");
    free(a);
    free(b);
}

static void check_cuda(drum_image *imgs, int n, const drum_image_config *cfg) {
#ifdef DRUM_HAVE_CUDA
    char err[512];
    drum_backend *be = drum_backend_create("cuda", err, sizeof err);
    if (!be) {
        SKIP("cuda image preprocessing: %s", err);
        return;
    }
    size_t per = (size_t)3 * cfg->crop_h * cfg->crop_w;
    float *dev = be->alloc(be, n * per * sizeof(float));
    float *got = malloc(n * per * sizeof(float)), *want = malloc(n * per * sizeof(float));
    int rc = dev ? drum_image_preprocess_cuda(be, imgs, n, cfg, dev, err, sizeof err) : -1;
    CHECK(rc == 0, "cuda: %s", dev ? err : be->err);
    if (rc == 0) {
        be->to_host(be, got, dev, n * per * sizeof(float));
        be->synchronize(be);
        CHECK(drum_backend_ok(be), "cuda: %s", be->err);
        drum_image_preprocess_batch(imgs, n, cfg, want, err, sizeof err);
        size_t ndiff = 0;
        for (size_t i = 0; i < n * per; i++) ndiff += got[i] != want[i];
        CHECK(ndiff == 0, "cuda differs from cpu in %zu of %zu values (size %d crop %dx%d)",
              ndiff, n * per, cfg->size, cfg->crop_h, cfg->crop_w);
        printf("cuda: %d images, size %d crop %dx%d: %zu values differ from cpu\n", n, cfg->size,
               cfg->crop_h, cfg->crop_w, ndiff);
    }
    be->free(be, dev);
    free(got);
    free(want);
    drum_backend_destroy(be);
#else
    (void)imgs;
    (void)n;
    (void)cfg;
    SKIP("cuda image preprocessing: built without CUDA");
#endif
}

/* The op levels_forward on each backend (cpu; cuda when a GPU is visible): the images'
 * levels through the table give exactly drum_image_preprocess's floats. */
static void check_levels_op(drum_image *imgs, int n, const drum_image_config *cfg) {
    static const char *const names[2] = {"cpu", "cuda"};
    size_t plane = (size_t)cfg->crop_h * cfg->crop_w, per = 3 * plane;
    uint8_t *lv = malloc(n * per);
    float *want = malloc(n * per * sizeof(float)), *got = malloc(n * per * sizeof(float));
    float lut[3][256];
    char err[512];
    drum_image_level_lut(cfg, lut);
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= drum_image_preprocess_levels(&imgs[i], cfg, lv + i * per, err, sizeof err) == 0;
    CHECK(ok && drum_image_preprocess_batch(imgs, n, cfg, want, err, sizeof err) == 0,
          "levels: %s", err);
    for (int k = 0; k < 2; k++) {
        drum_backend *be = drum_backend_create(names[k], err, sizeof err);
        if (!be) {
            SKIP("levels_forward on %s: %s", names[k], err);
            continue;
        }
        uint8_t *d_lv = be->alloc(be, n * per);
        float *d_lut = be->alloc(be, sizeof lut), *d_out = be->alloc(be, n * per * sizeof(float));
        if (d_lv && d_lut && d_out) {
            be->to_device(be, d_lv, lv, n * per);
            be->to_device(be, d_lut, lut, sizeof lut);
            for (size_t i = 0; i < n * per; i++) got[i] = NAN;
            be->op.levels_forward(be, d_out, d_lv, d_lut, n, plane);
            be->to_host(be, got, d_out, n * per * sizeof(float));
            be->synchronize(be);
        }
        size_t ndiff = 0;
        for (size_t i = 0; i < n * per; i++) ndiff += memcmp(&got[i], &want[i], sizeof(float)) != 0;
        CHECK(drum_backend_ok(be) && ndiff == 0,
              "levels_forward on %s: %zu of %zu values differ from drum_image_preprocess (%s)",
              names[k], ndiff, n * per, be->err);
        be->free(be, d_lv);
        be->free(be, d_lut);
        be->free(be, d_out);
        drum_backend_destroy(be);
    }
    free(lv);
    free(want);
    free(got);
}

typedef struct {
    long done[8], total[8];
    int calls, bad_stage;
} progress_log;

static void log_progress(void *user, const char *stage, long done, long total, const char *note) {
    progress_log *l = user;
    l->bad_stage += strcmp(stage, "prepare images") != 0;
    if (l->calls < 8) {
        l->done[l->calls] = done;
        l->total[l->calls] = total;
    }
    l->calls++;
}

/* Writes n examples whose images cycle through the fixture files `names` (absolute paths;
 * with `links` each example's through a symbolic link of its own, dir/<i>-<name>, so that no
 * two examples name the same path), the one at line `missing` (from 1; 0: none) naming a
 * file that does not exist, to dir/pool.jsonl, and loads it into *ds. Returns 0 or -1. */
static int write_pool(const char *dir, const char *const *names, int n_names, int n, int missing,
                      int links, drum_dataset *ds) {
    char path[300], err[512], *cwd = getcwd(NULL, 0);
    snprintf(path, sizeof path, "%s/pool.jsonl", dir);
    FILE *f = fopen(path, "w");
    int rc = f && cwd ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        char image[800];
        snprintf(image, sizeof image, "%s/" FIXDIR "/%s", cwd,
                 i + 1 == missing ? "no_such.png" : names[i % n_names]);
        if (links && i + 1 != missing) { /* a path of its own to the same file */
            char link[700];
            snprintf(link, sizeof link, "%s/%d-%s", dir, i, names[i % n_names]);
            unlink(link);
            if (symlink(image, link) != 0) rc = -1;
            snprintf(image, sizeof image, "%s", link);
        }
        fprintf(f, "{\"id\":\"e%d\",\"image\":\"%s\",\"prompt\":\"photo %d\","
                "\"response\":\"of %d\",\"task\":\"cls\"}\n", i, image, i % 7, i);
    }
    if (f) fclose(f);
    free(cwd);
    if (rc == 0 && drum_dataset_load(ds, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        rc = -1;
    }
    return rc;
}

static int stop_now(void *user) {
    (void)user;
    return 1;
}

/* drum_prepare decodes a pool (each example a path of its own) in chunks of
 * DRUM_PREPARE_CHUNK, reporting the stage's start (0 done) and progress after each chunk,
 * and asking to stop before each: the levels and the files' digests equal one whole-pool
 * drum_image_preprocess_files_levels, an unreadable image in a later chunk is named with its
 * own line, others among the images read are counted, and a stop before the first chunk
 * reads none (the start was reported). */
static void check_prepare_chunks(const char *const *names, int n_names) {
    char dir[] = "/tmp/drum_test_prepare_XXXXXX", err[512];
    drum_tokenizer *tok = NULL;
    if (!mkdtemp(dir) || drum_tokenizer_load("tests/fixtures/tokenizer", &tok, err, sizeof err)) {
        CHECK(0, "set-up: %s", err);
        return;
    }
    enum { N = DRUM_PREPARE_CHUNK + 44, S = 24 };
    drum_dataset ds;
    if (write_pool(dir, names, n_names, N, 0, 1, &ds) == 0) {
        drum_image_config ic;
        drum_image_config_default(&ic);
        ic.size = ic.crop_h = ic.crop_w = S;
        drum_prepare_opts o = {.image_size = S, .context = 16, .eos_token_id = 49407,
                               .demo_template = "{P} {R}"};
        memcpy(o.mean, ic.mean, sizeof o.mean);
        memcpy(o.std, ic.std, sizeof o.std);
        progress_log log = {0};
        drum_progress pr = {.update = log_progress, .user = &log};
        o.progress = &pr;
        drum_prepared p;
        int rc = drum_prepare(&p, &ds, NULL, tok, &o, err, sizeof err);
        CHECK(rc == 0, "prepare: %s", err);
        CHECK(log.calls == 3 && log.bad_stage == 0 && log.done[0] == 0 &&
                  log.done[1] == DRUM_PREPARE_CHUNK && log.done[2] == N && log.total[0] == N &&
                  log.total[1] == N && log.total[2] == N,
              "progress: %d calls, %ld/%ld, %ld/%ld, %ld/%ld", log.calls, log.done[0],
              log.total[0], log.done[1], log.total[1], log.done[2], log.total[2]);
        const char **paths = malloc(N * sizeof *paths);
        uint8_t *whole = malloc((size_t)N * 3 * S * S);
        uint64_t *dg = malloc(N * sizeof *dg);
        int failed = -1;
        for (int i = 0; i < N; i++) paths[i] = ds.ex[i].image;
        CHECK(rc == 0 && drum_image_preprocess_files_levels(paths, N, &ic, whole, dg, &failed,
                                                            err, sizeof err) == 0 &&
                  memcmp(whole, p.levels, (size_t)N * 3 * S * S) == 0,
              "chunked levels differ from the whole pool's");
        /* the files' digests come with the pixels: examples of one file share one */
        int same = rc == 0, shared = rc == 0;
        for (int i = 0; rc == 0 && i < N; i++) {
            same &= p.image_digest[i] == dg[i] && dg[i] != 0;
            if (i >= n_names) shared &= p.image_digest[i] == p.image_digest[i - n_names];
            if (i > 0 && i < n_names) shared &= p.image_digest[i] != p.image_digest[0];
        }
        CHECK(same && shared, "prepare's image digests: %s, %s", same ? "the files'" : "others",
              shared ? "shared by a file's examples" : "not shared as the files are");
        free(paths);
        free(whole);
        free(dg);
        if (rc == 0) drum_prepared_free(&p);
        drum_dataset_free(&ds);
        int line = DRUM_PREPARE_CHUNK + 30;
        if (write_pool(dir, names, n_names, N, line, 1, &ds) == 0) {
            char want[32];
            snprintf(want, sizeof want, ":%d: ", line);
            rc = drum_prepare(&p, &ds, NULL, tok, &o, err, sizeof err);
            CHECK(rc == -1 && strstr(err, want) && strstr(err, "no_such.png") &&
                      !strstr(err, "more of the first"),
                  "a missing image on line %d: %s", line, err);
            drum_dataset_free(&ds);
        }
        /* every other image missing: the first named, the others of the chunk read counted */
        const char *half[2] = {names[0], "nope.png"};
        if (write_pool(dir, half, 2, N, 0, 1, &ds) == 0) {
            rc = drum_prepare(&p, &ds, NULL, tok, &o, err, sizeof err);
            char want[64];
            snprintf(want, sizeof want, "(and %d more of the first %d images)",
                     DRUM_PREPARE_CHUNK / 2 - 1, DRUM_PREPARE_CHUNK);
            CHECK(rc == -1 && strstr(err, "pool.jsonl:2: ") && strstr(err, "nope.png") &&
                      strstr(err, want),
                  "every other image missing: %s (want %s)", err, want);
            /* a stop asked before the first chunk reads nothing */
            memset(&log, 0, sizeof log);
            drum_progress stop = {.update = log_progress, .user = &log, .stop = stop_now};
            o.progress = &stop;
            rc = drum_prepare(&p, &ds, NULL, tok, &o, err, sizeof err);
            CHECK(rc == -1 && strstr(err, "stopped (a signal) before prepare images") &&
                      log.calls == 1 && log.done[0] == 0,
                  "a stop before the images: rc %d, %d reports, %s", rc, log.calls, err);
            drum_dataset_free(&ds);
        }
    }
    drum_tokenizer_free(tok);
    CHECK(test_remove_tree(dir) == 0, "cleanup of %s", dir);
}

/* drum_prepared_count_images_in counts a's examples whose image digest is among b's, leaving
 * out b's example that skip names (a's example itself): of a = {1, 2, 3, 9} over b = {2, 1, 2},
 * examples 0 and 1 show one of b's images; with skip naming b's only 1 for example 0, it has
 * none other; example 1's 2 is also b's row 2. drum_prepared_most_per_image of b is 2. */
static void check_images_in(void) {
    uint64_t da[] = {1, 2, 3, 9}, db[] = {2, 1, 2};
    drum_prepared a = {.n = 4, .image_digest = da}, b = {.n = 3, .image_digest = db};
    int first = -2, skip[] = {1, 0, -1, -1};
    int all = drum_prepared_count_images_in(&a, &b, NULL, &first);
    CHECK(all == 2 && first == 0, "images of a in b: %d (want 2), first %d (want 0)", all, first);
    int others = drum_prepared_count_images_in(&a, &b, skip, &first);
    CHECK(others == 1 && first == 1, "images of a in b but for a's own: %d (want 1), first %d",
          others, first);
    CHECK(drum_prepared_most_per_image(&b) == 2 && drum_prepared_most_per_image(&a) == 1,
          "most examples showing one image: %d and %d (want 2 and 1)",
          drum_prepared_most_per_image(&b), drum_prepared_most_per_image(&a));
}

/* Examples that name the same file share one decode: a pool of N examples over n_names files
 * prepares n_names images (progress counts them), and every example's levels, digest and the
 * pool's image fingerprint equal those of the same pool with a path of its own for every
 * example (nothing shared). A shared file that is missing is named with the first line that
 * names it. */
static void check_prepare_shared(const char *const *names, int n_names) {
    char dir[] = "/tmp/drum_test_shared_XXXXXX", err[512] = "";
    drum_tokenizer *tok = NULL;
    enum { N = 40, S = 24 };
    drum_dataset shared_ds = {0}, own_ds = {0};
    char own_dir[300];
    int made = mkdtemp(dir) != NULL;
    snprintf(own_dir, sizeof own_dir, "%s/own", dir);
    if (!made || mkdir(own_dir, 0700) != 0 ||
        drum_tokenizer_load("tests/fixtures/tokenizer", &tok, err, sizeof err) ||
        write_pool(dir, names, n_names, N, 0, 0, &shared_ds) ||
        write_pool(own_dir, names, n_names, N, 0, 1, &own_ds)) {
        CHECK(0, "set-up: %s", err);
        drum_tokenizer_free(tok);
        return;
    }
    drum_prepare_opts o = {.image_size = S, .context = 16, .eos_token_id = 49407,
                           .demo_template = "{P} {R}", .mean = {0.5f, 0.5f, 0.5f},
                           .std = {0.25f, 0.25f, 0.25f}};
    progress_log log = {0};
    drum_progress pr = {.update = log_progress, .user = &log};
    o.progress = &pr;
    drum_prepared sh, own;
    int rc = drum_prepare(&sh, &shared_ds, NULL, tok, &o, err, sizeof err);
    CHECK(rc == 0 && sh.n == N && sh.n_images == n_names && sh.image_of && log.calls == 2 &&
              log.done[0] == 0 && log.done[1] == n_names && log.total[1] == n_names,
          "shared files: %d images for %d examples, progress %ld then %ld of %ld (%s)",
          rc ? -1 : sh.n_images, N, log.done[0], log.done[1], log.total[1], err);
    o.progress = NULL;
    int rc2 = drum_prepare(&own, &own_ds, NULL, tok, &o, err, sizeof err);
    CHECK(rc2 == 0 && own.n_images == N && !own.image_of, "a path per example: %d images (%s)",
          rc2 ? -1 : own.n_images, err);
    if (rc == 0 && rc2 == 0) {
        size_t px = (size_t)3 * S * S;
        int same = sh.image_of != NULL;
        for (int i = 0; same && i < N; i++)
            same &= sh.image_of[i] == i % n_names &&
                    memcmp(drum_prepared_image(&sh, i), drum_prepared_image(&own, i), px) == 0 &&
                    sh.image_digest[i] == own.image_digest[i];
        CHECK(same, "shared examples' levels and digests equal those decoded one by one");
        CHECK(drum_prepared_image_fingerprint(&sh, 7) == drum_prepared_image_fingerprint(&own, 7),
              "the image fingerprint does not depend on sharing");
        /* 40 examples over 12 files: 4 show each of the first 4; the symlinks' copies count */
        CHECK(drum_prepared_most_per_image(&sh) == 4 && drum_prepared_most_per_image(&own) == 4,
              "the most examples showing one image: %d shared, %d through links (want 4)",
              drum_prepared_most_per_image(&sh), drum_prepared_most_per_image(&own));
        drum_prepared_free(&sh);
        drum_prepared_free(&own);
    }
    drum_dataset_free(&shared_ds);
    /* examples 2, 4, ... name one missing file: named with line 2, no others counted */
    const char *half[2] = {names[0], "nope.png"};
    if (write_pool(dir, half, 2, N, 0, 0, &shared_ds) == 0) {
        rc = drum_prepare(&sh, &shared_ds, NULL, tok, &o, err, sizeof err);
        CHECK(rc == -1 && strstr(err, "pool.jsonl:2: ") && strstr(err, "nope.png") &&
                  !strstr(err, "more of the first"),
              "a missing file of 20 examples: %s", err);
        drum_dataset_free(&shared_ds);
    }
    drum_dataset_free(&own_ds);
    drum_tokenizer_free(tok);
    CHECK(test_remove_tree(dir) == 0, "cleanup of %s", dir);
}

/* A pool of fixture images in a fresh temporary directory, prepared for a tiny demo CLIP on
 * cpu: what the embedding and mining checks share. */
typedef struct {
    char dir[64];
    drum_tokenizer *tok;
    drum_dataset ds;
    drum_prepare_opts o;
    drum_prepared prep;
    int prepared;
    drum_clip_config cc;
    drum_clip_params params;
    drum_backend *be;
    drum_clip_model *m;
} tiny_pool;

/* n examples over the files `names` (write_pool, sharing files), prepared with the demo
 * template and query_template (NULL: none) for a CLIP of S px, whose model has room for
 * `rows` rows (training buffers when train) and is initialised with seed. Returns 0, or -1
 * after a failed CHECK naming the step (tiny_pool_close cleans up either way). */
static int tiny_pool_open(tiny_pool *t, const char *tag, const char *const *names, int n_names,
                          int n, int S, const char *query_template, int rows, int train,
                          int seed) {
    char err[512] = "";
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/drum_test_%s_XXXXXX", tag);
    if (!mkdtemp(t->dir)) t->dir[0] = '\0'; /* nothing to clean up */
    int ok = t->dir[0] &&
             drum_tokenizer_load("tests/fixtures/tokenizer", &t->tok, err, sizeof err) == 0 &&
             write_pool(t->dir, names, n_names, n, 0, 0, &t->ds) == 0;
    if (ok) {
        drum_tokenizer_info ti = drum_tokenizer_get_info(t->tok);
        drum_demo_tiny_config(&t->cc, ti.vocab_size, S, 4, 16, ti.bos_id, ti.eos_id, ti.pad_id);
        t->o = drum_prepare_opts_for(&t->cc, "{P} {R}", query_template);
        t->be = drum_backend_create("cpu", err, sizeof err);
        ok = t->be && drum_prepare(&t->prep, &t->ds, NULL, t->tok, &t->o, err, sizeof err) == 0;
        t->prepared = ok;
    }
    if (ok && drum_clip_params_build(&t->params, &t->cc, err, sizeof err) == 0)
        t->m = drum_clip_model_create(t->be, &t->cc, &t->params, rows, rows, train, err,
                                      sizeof err);
    ok = ok && t->m && drum_clip_model_init(t->m, (uint64_t)seed) == 0;
    CHECK(ok, "%s: set-up: %s", tag, err);
    return ok ? 0 : -1;
}

static void tiny_pool_close(tiny_pool *t) {
    if (t->prepared) drum_prepared_free(&t->prep);
    drum_clip_model_free(t->m);
    drum_clip_params_free(&t->params);
    drum_backend_destroy(t->be);
    drum_dataset_free(&t->ds);
    drum_tokenizer_free(t->tok);
    CHECK(!t->dir[0] || test_remove_tree(t->dir) == 0, "cleanup of %s", t->dir);
}

typedef struct {
    int asked, at;
    long embedded, images, bad_stage; /* rows of "embed pool", of "embed images"; others */
} embed_stop;

static int stop_at(void *user) {
    embed_stop *s = user;
    return ++s->asked >= s->at;
}

static void embed_progress(void *user, const char *stage, long done, long total,
                           const char *note) {
    embed_stop *s = user;
    if (strcmp(stage, "embed images") == 0)
        s->images = done;
    else if (strcmp(stage, "embed pool") == 0)
        s->embedded = done;
    else
        s->bad_stage++;
}

/* drum_embed_prepared asks progress.stop before every batch. This pool's 20 examples share 12
 * files, so the image tower runs on the 12 images first (2 batches of 8), then the text tower
 * on the 20 texts (3 batches): a stop before the second batch embeds 8 images, one before the
 * fourth 8 texts, and either returns 1 with "stopped" and no rows. A stop never given is
 * asked once a batch and every row comes back, unit length, and those of the same pool with a
 * path of its own for every example (the towers run together over every row): bit for bit
 * where OpenBLAS's kernels sum a product's row alike whatever the row count (this VM's), to
 * 1e-5 otherwise (its SSE3 kernels, which an H100 host's OpenBLAS picked, round a row by the
 * batch it rides in); a row of another image is ~0.1 off. */
static void check_embed_stop(const char *const *names, int n_names) {
    char err[512] = "";
    enum { N = 20, B = 8, S = 32 };
    tiny_pool tp;
    if (tiny_pool_open(&tp, "embed", names, n_names, N, S, NULL, B, 0, 3) == 0) {
        drum_clip_model *m = tp.m;
        CHECK(tp.prep.n_images == 12 && n_names == 12, "the pool shows %d images",
              tp.prep.n_images);
        static const int stops[] = {2, 4, 1000}; /* 1000: never */
        for (int c = 0; c < 3; c++) {
            int at = stops[c];
            embed_stop st = {0, at, 0, 0, 0};
            drum_progress pr = {.update = embed_progress, .user = &st, .stop = stop_at,
                                .stop_user = &st};
            drum_embeddings e = {0};
            int rc =
                drum_embed_prepared(NULL, m, &tp.prep, &tp.ds, 0, B, &pr, &e, err, sizeof err);
            if (at < 1000) {
                CHECK(rc == 1 &&
                          strstr(err, at == 2 ? "stopped (a signal) before embed images"
                                              : "stopped (a signal) before embed pool") &&
                          st.asked == at && st.images == (at == 2 ? B : 12) &&
                          st.embedded == (at == 2 ? 0 : B) && e.n == 0 && !e.img,
                      "a stop before batch %d: rc %d, asked %d, %ld images and %ld texts "
                      "embedded, %d kept (%s)",
                      at, rc, st.asked, st.images, st.embedded, e.n, err);
                continue;
            }
            double worst = rc == 0 && e.n == N ? 0 : INFINITY;
            for (int i = 0; rc == 0 && i < e.n; i++) {
                double a = 0, t = 0;
                for (int k = 0; k < e.dim_img; k++) a += (double)e.img[(size_t)i * e.dim_img + k] *
                                                          e.img[(size_t)i * e.dim_img + k];
                for (int k = 0; k < e.dim_txt; k++) t += (double)e.txt[(size_t)i * e.dim_txt + k] *
                                                          e.txt[(size_t)i * e.dim_txt + k];
                worst = fmax(worst, fmax(fabs(sqrt(a) - 1), fabs(sqrt(t) - 1)));
            }
            CHECK(rc == 0 && st.asked == (12 + B - 1) / B + (N + B - 1) / B &&
                      st.images == 12 && st.embedded == N && st.bad_stage == 0 && worst < 1e-5,
                  "no stop: rc %d, asked %d, %ld images and %ld texts embedded, norms off by "
                  "%g (%s)",
                  rc, st.asked, st.images, st.embedded, worst, err);
            char own_dir[300];
            snprintf(own_dir, sizeof own_dir, "%s/own", tp.dir);
            drum_dataset own_ds;
            drum_prepared own;
            drum_embeddings oe = {0};
            err[0] = '\0';
            int same = rc == 0 && tp.prep.image_of && mkdir(own_dir, 0700) == 0 &&
                       write_pool(own_dir, names, n_names, N, 0, 1, &own_ds) == 0;
            double gap = INFINITY;
            if (same) {
                same = drum_prepare(&own, &own_ds, NULL, tp.tok, &tp.o, err, sizeof err) == 0;
                same = same && drum_embed_prepared(NULL, m, &own, &own_ds, 0, B, NULL, &oe, err,
                                                   sizeof err) == 0;
                same = same && !own.image_of && oe.n == N;
                size_t nv = (size_t)N * e.dim_img;
                if (same) gap = 0;
                for (size_t k = 0; same && k < nv; k++)
                    gap = fmax(gap, fabs((double)oe.img[k] - e.img[k]));
                if (same)
                    printf("shared files' image rows against a path per example's: %s (largest "
                           "difference %.3g)\n",
                           memcmp(oe.img, e.img, nv * sizeof(float)) ? "not bitwise"
                                                                      : "bitwise equal",
                           gap);
                drum_prepared_free(&own);
                drum_embeddings_free(&oe);
                drum_dataset_free(&own_ds);
            }
            CHECK(same && gap < 1e-5,
                  "shared files' embeddings equal a path per example's: largest difference %g "
                  "(%s)",
                  gap, err);
            drum_embeddings_free(&e);
        }
    }
    tiny_pool_close(&tp);
}

static int order_score(drum_scorer *s, const drum_score_pair *p, int n, double *out, char *err,
                       size_t errlen) {
    (void)s;
    (void)err;
    (void)errlen;
    for (int i = 0; i < n; i++) out[i] = -(double)i; /* any finite value */
    return 0;
}

static void order_destroy(drum_scorer *s) { (void)s; }

/* Mining's first round, recomputed: the pool embedded with its demonstration texts and with
 * its query texts (both towers each time, at the trainer's batch), SIT's ranking with each
 * query itself excluded; the trainer's candidate lists are the first scored_per_round of
 * those, in order. It embeds the query texts' images no second time (they are the same
 * examples' pixels), so this checks the image rows it reuses. The pool's examples share image
 * files. With train.queries, the trainer embeds and retrieves for its sample alone: the
 * sample's lists are the same, and no other example gets one. With exclude_same_image, the
 * lists are the first of the ranking that show another image (30 examples over 12 files: up
 * to 3 an image), where without it some lists hold an example of the query's image. */
static void check_mining(const char *const *names, int n_names) {
    char err[512] = "";
    enum { N = 30, S = 32, K = 4, L = 4, BQ = 2, LIST = 4, SAMPLE = 11 };
    drum_scorer sc = {.score = order_score, .destroy = order_destroy};
    snprintf(sc.id, sizeof sc.id, "order");
    int rows = BQ * (1 + LIST), ok = 0;
    int idx[N * (N - 1)], ex[N]; /* each query's whole ranking */
    float sim[N * (N - 1)];
    tiny_pool tp;
    if (tiny_pool_open(&tp, "mine", names, n_names, N, S, "{P} photo", rows, 1, 5) == 0) {
        drum_embeddings demo = {0}, query = {0};
        for (int i = 0; i < N; i++) ex[i] = i;
        drum_retrieval_opts ro = {DRUM_STRATEGY_SIT, 1, 1, 9, 0};
        ok = tp.prep.image_of &&
             drum_embed_prepared(NULL, tp.m, &tp.prep, &tp.ds, 0, rows, NULL, &demo, err,
                                 sizeof err) == 0 &&
             drum_embed_prepared(NULL, tp.m, &tp.prep, &tp.ds, 1, rows, NULL, &query, err,
                                 sizeof err) == 0 &&
             drum_retrieve(tp.be, &query, &demo, &ro, ex, N - 1, idx, sim, err, sizeof err) == 0;
        drum_embeddings_free(&demo);
        drum_embeddings_free(&query);
    }
    CHECK(ok, "SIT's ranking recomputed with both towers (%s)", err);
    static const struct {
        int sample, exclude;
    } cases[] = {{0, 0}, {SAMPLE, 0}, {0, 1}};
    for (int c = 0; ok && c < 3; c++) {
        int sample = cases[c].sample, exclude = cases[c].exclude;
        drum_train_opts to = {.rounds = 1, .candidates_k = K, .scored_per_round = L,
                              .epochs = 1, .batch_queries = BQ, .list_size = LIST, .lr = 1e-4f,
                              .tau = 0.05f, .lambda = 1, .w_img = 1, .w_txt = 1, .seed = 9,
                              .queries = sample, .exclude_same_image = exclude};
        drum_trainer t;
        memset(&t, 0, sizeof t);
        int mined = drum_trainer_init(&t, &to, tp.be, tp.m, &tp.params, &tp.ds, &tp.prep, &sc,
                                      NULL, err, sizeof err) == 0 &&
                    drum_trainer_mine(&t, err, sizeof err) == 0;
        int same = mined, queries = 0, own_image = 0;
        for (int i = 0; same && i < N; i++) {
            int q = !t.is_query || t.is_query[i];
            queries += q;
            same &= t.cand[i].n == (q ? L : 0);
            for (int j = 0, r = 0; same && j < t.cand[i].n; j++, r++) {
                while (exclude && tp.prep.image_of[idx[i * (N - 1) + r]] == tp.prep.image_of[i])
                    r++; /* the ranking's next of another image */
                int d = t.cand[i].c[j].demo;
                same &= d == idx[i * (N - 1) + r];
                own_image += tp.prep.image_of[d] == tp.prep.image_of[i];
            }
        }
        CHECK(mined && same && queries == (sample ? sample : N) &&
                  t.most_per_image == (exclude ? 3 : 1) && (exclude ? !own_image : own_image > 0),
              "train.queries %d, exclude_same_image %d: round 0's lists (%d queries, %d of "
              "their candidates showing the query's image) are SIT's first %d%s, and no other "
              "example has one (%s)",
              sample, exclude, queries, own_image, L, exclude ? " of other images" : "", err);
        drum_trainer_free(&t);
    }
    tiny_pool_close(&tp);
}

static int load_image(const char *path, char *err, size_t errlen) {
    drum_image img;
    int rc = drum_image_load(path, DRUM_ALPHA_DROP, &img, err, errlen);
    if (rc == 0) drum_image_free(&img);
    return rc;
}

/* A PNG of 8000 x 8000 grey pixels is a small file and 256 MB decoded (grey, then RGB): with
 * 24 MB to spare (RLIMIT_AS) its decode fails for memory and says so, where stb's reason was
 * "outofmem" or the name of a format test it gave up on; with room it decodes. It runs first:
 * memory the process freed before would count as room. */
static void check_out_of_memory(void) {
#ifdef __SANITIZE_ADDRESS__
    SKIP("out-of-memory decode: AddressSanitizer's allocator does not run under RLIMIT_AS");
    return;
#endif
    char dir[] = "/tmp/drum_image_oom_XXXXXX", path[64], err[1024];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/big.png", dir);
    enum { W = 8000 };
    unsigned char *px = calloc((size_t)W * W, 1);
    CHECK(px && stbi_write_png(path, W, W, 1, px, W), "writing %s", path);
    free(px);
    test_in_little_memory(load_image, path, 24L << 20, err, sizeof err);
    CHECK(strstr(err, "big.png: out of memory decoding the image"), "a decode in little memory: "
          "'%s'", err);
    test_in_little_memory(load_image, path, 1L << 30, err, sizeof err);
    CHECK(err[0] == '\0', "the decode with room: '%s'", err);
    remove(path);
    rmdir(dir);
}

int main(void) {
    check_out_of_memory();
    check_sizes();
    check_fixtures();
    check_errors();
    check_damaged();
    static const char *names[] = {"rgb_37x53.png",       "rgb_301x207.jpg",     "grey_640x97.png",
                                  "rgba_97x640.png",     "rgb_225x225.png",     "rgb_50x31.png",
                                  "greyalpha_80x60.png", "rgb_70x48.bmp",       "grey_120x90.jpg",
                                  "rgb_133x77_422.jpg",  "rgb_91x120_444.jpg",  "rgb_157x101_prog.jpg"};
    enum { NIMG = sizeof names / sizeof names[0] };
    drum_image imgs[NIMG];
    int loaded = 1;
    for (int i = 0; i < NIMG; i++) {
        char path[300], err[512];
        snprintf(path, sizeof path, FIXDIR "/%s", names[i]);
        loaded &= drum_image_load(path, DRUM_ALPHA_WHITE, &imgs[i], err, sizeof err) == 0;
    }
    CHECK(loaded, "fixture images");
    check_prepare_chunks(names, NIMG);
    check_prepare_shared(names, NIMG);
    check_images_in();
    check_embed_stop(names, NIMG);
    check_mining(names, NIMG);
    if (loaded) {
        drum_image_config cfg;
        drum_image_config_default(&cfg);
        check_batch(imgs, NIMG, &cfg);
        check_levels_op(imgs, NIMG, &cfg);
        check_pass_order(imgs, NIMG);
        check_cuda(imgs, NIMG, &cfg);
        cfg.size = 48;
        cfg.crop_h = 64;
        cfg.crop_w = 40;
        check_cuda(imgs, NIMG, &cfg);
        check_levels_op(imgs, NIMG, &cfg);
    }
    for (int i = 0; i < NIMG; i++) drum_image_free(&imgs[i]);
    return check_summary();
}

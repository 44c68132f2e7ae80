/* bench_clip — CLIP throughput on one backend: image encoding (inference model) and a full
 * contrastive training step (image + text towers, forward + backward + AdamW), for
 * ViT-B/32 and ViT-L/14 with random weights (drum's _init_weights), random pixels and
 * full-length random token ids (77 tokens, no padding).
 *
 * Usage: bench_clip [cpu|cuda] [batch] [windows]
 *   cuda (default when a GPU is visible): batch 128, 3 warm-up iterations, then 5 timed
 *   windows of at least 10 iterations and 1 s each (the count set from the warm-up's pace);
 *   a row gives the median window's images/s and the slowest and fastest (one window of
 *   10 iterations varied by 28% run to run for PyTorch's bf16 step; found by an audit).
 *   cpu: batch 4 (ViT-L/14: 1), 1 warm-up iteration and one window of 2, and no ViT-L/14
 *   training step (its parameters, gradients and moments alone take 6.8 GB); the run
 *   takes a minute or two on a few cores.
 * Prints one table; each row is also a line "RESULT <config> <task> drum <batch> <images/s>"
 * (the median) that tools/gpu_check_clip.sh pairs with tools/bench_torch_clip.py's rows.
 * Exits 1 when a row failed.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "drum/backend.h"
#include "drum/clip.h"
#include "drum/clip_model.h"
#include "drum/rng.h"

typedef struct {
    float *pixels;
    int *ids, *eos;
    int B, T;
} bench_inputs;

static int inputs_make(drum_backend *be, bench_inputs *in, const drum_clip_config *cfg, int B) {
    int S = cfg->vision.image_size, T = cfg->text.max_pos;
    size_t np = (size_t)B * cfg->vision.channels * S * S, nt = (size_t)B * T;
    float *px = malloc(np * sizeof(float));
    int *ids = malloc(nt * sizeof(int)), *eos = malloc((size_t)B * sizeof(int));
    drum_rng r;
    drum_rng_seed(&r, 1, 2);
    if (!px || !ids || !eos) {
        free(px);
        free(ids);
        free(eos);
        return -1;
    }
    for (size_t i = 0; i < np; i++) px[i] = drum_rng_normal(&r);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) ids[(size_t)b * T + t] = (int)drum_rng_below(&r, (uint32_t)cfg->text.vocab - 1);
        ids[(size_t)b * T + T - 1] = cfg->text.vocab - 1;
        eos[b] = T - 1;
    }
    in->B = B;
    in->T = T;
    in->pixels = be->alloc(be, np * sizeof(float));
    in->ids = be->alloc(be, nt * sizeof(int));
    in->eos = be->alloc(be, (size_t)B * sizeof(int));
    if (drum_backend_ok(be)) {
        be->to_device(be, in->pixels, px, np * sizeof(float));
        be->to_device(be, in->ids, ids, nt * sizeof(int));
        be->to_device(be, in->eos, eos, (size_t)B * sizeof(int));
    }
    free(px);
    free(ids);
    free(eos);
    return drum_backend_ok(be) ? 0 : -1;
}

static void inputs_free(drum_backend *be, bench_inputs *in) {
    if (in->pixels) be->free(be, in->pixels);
    if (in->ids) be->free(be, in->ids);
    if (in->eos) be->free(be, in->eos);
    memset(in, 0, sizeof *in);
}

static int train_step(drum_clip_model *m, const bench_inputs *in, const drum_adamw_config *h) {
    float loss;
    return drum_clip_zero_grad(m) || drum_clip_encode_images(m, in->pixels, in->B) ||
           drum_clip_encode_texts(m, in->ids, NULL, in->eos, in->B, in->T) ||
           drum_clip_contrastive_forward(m, &loss) || drum_clip_contrastive_backward(m) ||
           drum_clip_backward_images(m, m->d_img_features) ||
           drum_clip_backward_texts(m, m->d_txt_features) ||
           drum_clip_clip_grad_norm(m, NULL, 1.0f, NULL) || drum_clip_adamw_step(m, h);
}

/* Times one (config, task) in `windows` windows of at least `reps` iterations (and 1 s each
 * when there are several). Returns the median window's images/s, the slowest and fastest in
 * range[0..1], or a negative value after printing why. */
static double bench_one(drum_backend *be, const char *name, int train, int B, int warm,
                        int reps, int windows, size_t *arena, double range[2]) {
    drum_clip_config cfg;
    drum_clip_params p;
    char err[512];
    double ips = -1;
    if (drum_clip_config_standard(&cfg, name) || drum_clip_params_build(&p, &cfg, err, sizeof err)) {
        printf("# %s: no such configuration\n", name);
        return -1;
    }
    bench_inputs in = {0};
    drum_clip_model *m = drum_clip_model_create(be, &cfg, &p, B, train ? B : 0, train, err, sizeof err);
    if (!m) {
        printf("# %s %s batch %d skipped: %s\n", name, train ? "train" : "encode", B, err);
        drum_clip_params_free(&p);
        return -1;
    }
    *arena = m->arena_bytes;
    drum_adamw_config h = drum_adamw_defaults();
    h.lr = 1e-5f;
    int rc = drum_clip_model_init(m, 1) || inputs_make(be, &in, &cfg, B);
    double t0 = now_s(), rate[16];
    if (windows > 16) windows = 16;
    for (int i = 0; rc == 0 && i < warm; i++)
        rc = train ? train_step(m, &in, &h) : drum_clip_encode_images(m, in.pixels, B);
    be->synchronize(be);
    double per_iter = warm ? (now_s() - t0) / warm : 0; /* the first call's set-up included */
    if (windows > 1 && per_iter > 0 && reps * per_iter < 1.0) reps = (int)(1.0 / per_iter) + 1;
    for (int w = 0; rc == 0 && w < windows; w++) {
        t0 = now_s();
        for (int i = 0; rc == 0 && i < reps; i++)
            rc = train ? train_step(m, &in, &h) : drum_clip_encode_images(m, in.pixels, B);
        be->synchronize(be);
        rate[w] = (double)B * reps / (now_s() - t0);
    }
    if (rc == 0 && drum_backend_ok(be)) {
        qsort(rate, (size_t)windows, sizeof *rate, cmp_double);
        ips = rate[windows / 2];
        range[0] = rate[0];
        range[1] = rate[windows - 1];
    } else {
        printf("# %s %s failed: %s\n", name, train ? "train" : "encode", be->err);
        drum_backend_clear_error(be);
    }
    inputs_free(be, &in);
    drum_clip_model_free(m);
    drum_clip_params_free(&p);
    return ips;
}

int main(int argc, char **argv) {
    char err[512];
    const char *bname = argc > 1 ? argv[1] : NULL;
    drum_backend *be = NULL;
    if (bname) {
        be = drum_backend_create(bname, err, sizeof err);
    } else {
        be = drum_backend_create("cuda", err, sizeof err);
        if (!be) be = drum_backend_create("cpu", err, sizeof err);
    }
    if (!be) {
        fprintf(stderr, "bench_clip: %s\n", err);
        return 1;
    }
    int gpu = be->kind == DRUM_BACKEND_CUDA;
    int batch = argc > 2 ? atoi(argv[2]) : (gpu ? 128 : 4);
    if (batch < 1) {
        fprintf(stderr, "bench_clip: batch must be positive\n");
        drum_backend_destroy(be);
        return 1;
    }
    int warm = gpu ? 3 : 1, reps = gpu ? 10 : 2, windows = argc > 3 ? atoi(argv[3]) : gpu ? 5 : 1;
    if (windows < 1 || windows > 16) {
        fprintf(stderr, "bench_clip: windows must be 1 to 16\n");
        drum_backend_destroy(be);
        return 1;
    }
    struct {
        const char *cfg, *task;
        int train, B;
    } rows[] = {
        {"ViT-B/32", "encode", 0, batch},
        {"ViT-L/14", "encode", 0, gpu ? batch : 1},
        {"ViT-B/32", "train", 1, batch},
        {"ViT-L/14", "train", 1, gpu ? batch : 0},
    };
    printf("bench_clip on %s (fp32, tf32 %s), %d warm-up iterations, %d window%s of at least %d "
           "iterations%s\n",
           be->name, be->allow_tf32 ? "on" : "off", warm, windows, windows == 1 ? "" : "s", reps,
           windows > 1 ? " and 1 s: the median window, and the slowest - fastest" : "");
    if (!gpu) /* what the cpu rows depend on */
        printf("cpu: %d OpenMP threads, OpenBLAS's %s kernels\n", omp_get_max_threads(),
               drum_blas_core());
    printf("%-9s %-7s %6s %12s %10s %11s %21s\n", "config", "task", "batch", "images/s",
           "ms/iter", "arena MiB", "range");
    int failed = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].B == 0) {
            printf("%-9s %-7s skipped on cpu (6.8 GB of parameters, gradients and moments)\n",
                   rows[i].cfg, rows[i].task);
            continue;
        }
        size_t arena = 0;
        double range[2] = {0, 0};
        double ips = bench_one(be, rows[i].cfg, rows[i].train, rows[i].B, warm, reps, windows,
                               &arena, range);
        if (ips <= 0) {
            failed = 1;
            continue;
        }
        printf("%-9s %-7s %6d %12.1f %10.2f %11.1f %10.1f - %8.1f\n", rows[i].cfg, rows[i].task,
               rows[i].B, ips, 1e3 * rows[i].B / ips, (double)arena / (1 << 20), range[0],
               range[1]);
        printf("RESULT %s %s drum %d %.3f\n", rows[i].cfg, rows[i].task, rows[i].B, ips);
        fflush(stdout);
    }
    drum_backend_destroy(be);
    return failed;
}

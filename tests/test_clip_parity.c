/* test_clip_parity — drum's CLIP against transformers' CLIPModel.
 *
 * For each fixture of tests/fixtures/clip (tools/gen_clip_fixtures.py) and each backend:
 * the projected and normalised features, logits_per_image and the contrastive loss, then
 * the gradient of every parameter. Then, on cpu: one AdamW step from the reference
 * gradients against torch.optim.AdamW, gradient clipping, gradient accumulation, the
 * inference model against the training one, the initialisation, determinism (two runs,
 * identical bytes) and the failure paths.
 *
 * Errors are max|x - ref| / max|ref| over a tensor. Tolerances:
 *   cpu:  features, logits, loss 1e-5; gradients 1e-4 — float32 with another summation
 *         order than PyTorch's, through up to 3 + 3 layers of LayerNorm and softmax.
 *   cuda: features, logits, loss 1e-4; gradients 1e-3 — TF32 off, but GEMMs split K and
 *         reduce in other orders, and transcendental functions are the fast device ones.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "drum/backend.h"
#include "drum/clip.h"
#include "drum/clip_model.h"
#include "drum/safetensors.h"

#define FIXTURE_DIR "tests/fixtures/clip"

static const char *const fixture_names[] = {"tiny_quickgelu", "tiny_gelu"};

typedef struct {
    char dir[256];
    drum_clip_config cfg;
    drum_clip_params p;
    float *params;                 /* p.total, from model.safetensors */
    int B, T, S;
    float *pixels;                 /* (B, 3, S, S) */
    int *ids, *mask, *eos;         /* (B, T), (B, T), (B) */
    drum_safetensors *ref;
} fixture;

static void fixture_free(fixture *f) {
    free(f->params);
    free(f->pixels);
    free(f->ids);
    free(f->mask);
    free(f->eos);
    if (f->ref) drum_safetensors_close(f->ref);
    drum_clip_params_free(&f->p);
    memset(f, 0, sizeof *f);
}

/* Copies an I32 tensor of numel n out of st (the mapping is not aligned for int). */
static int *read_i32(drum_safetensors *st, const char *name, size_t n) {
    const drum_st_tensor *t = drum_safetensors_find(st, name);
    if (!t || t->dtype != DRUM_ST_I32 || t->numel != n) {
        fprintf(stderr, "fixture tensor %s: missing, not I32 or not %zu elements\n", name, n);
        return NULL;
    }
    int *out = malloc(n * sizeof(int));
    if (out) memcpy(out, t->data, n * sizeof(int));
    return out;
}

/* The reference tensor `name` as floats (malloc'd), its element count in *n. */
static float *read_f32(drum_safetensors *st, const char *name, size_t *n) {
    const drum_st_tensor *t = drum_safetensors_find(st, name);
    char err[256];
    if (!t) {
        fprintf(stderr, "fixture tensor %s missing\n", name);
        return NULL;
    }
    float *out = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (!out || drum_st_tensor_to_f32(t, out, err, sizeof err)) {
        fprintf(stderr, "fixture tensor %s: %s\n", name, out ? err : "out of memory");
        free(out);
        return NULL;
    }
    if (n) *n = t->numel;
    return out;
}

static int fixture_load(fixture *f, const char *name) {
    char path[512], err[512];
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s", FIXTURE_DIR, name);
    snprintf(path, sizeof path, "%s/config.json", f->dir);
    if (drum_clip_config_load(&f->cfg, path, err, sizeof err) ||
        drum_clip_params_build(&f->p, &f->cfg, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    f->params = malloc(f->p.total * sizeof(float));
    snprintf(path, sizeof path, "%s/model.safetensors", f->dir);
    if (!f->params || drum_clip_load_safetensors(&f->p, f->params, path, err, sizeof err)) {
        fprintf(stderr, "%s\n", f->params ? err : "out of memory");
        return -1;
    }
    snprintf(path, sizeof path, "%s/inputs.safetensors", f->dir);
    drum_safetensors *in = drum_safetensors_open(path, err, sizeof err);
    if (!in) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    const drum_st_tensor *ids = drum_safetensors_find(in, "input_ids");
    const drum_st_tensor *px = drum_safetensors_find(in, "pixel_values");
    int ok = ids && ids->ndim == 2 && px && px->ndim == 4;
    if (ok) {
        f->B = (int)ids->shape[0];
        f->T = (int)ids->shape[1];
        f->S = (int)px->shape[2];
        size_t n = 0;
        f->pixels = read_f32(in, "pixel_values", &n);
        ok = f->pixels && n == (size_t)f->B * 3 * f->S * f->S && (int)px->shape[0] == f->B;
        f->ids = read_i32(in, "input_ids", (size_t)f->B * f->T);
        f->mask = read_i32(in, "attention_mask", (size_t)f->B * f->T);
        f->eos = read_i32(in, "eos_pos", (size_t)f->B);
        ok = ok && f->ids && f->mask && f->eos;
    }
    drum_safetensors_close(in);
    if (!ok) {
        fprintf(stderr, "%s: inputs.safetensors lacks a well-formed input\n", f->dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/reference.safetensors", f->dir);
    f->ref = drum_safetensors_open(path, err, sizeof err);
    if (!f->ref) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

/* max|x - ref| / max|ref| (absolute when ref is all zero). */
static double rel_err(const float *x, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - ref[i]);
        if (!(d <= num)) num = d; /* NaN propagates */
        if (fabs((double)ref[i]) > den) den = fabs((double)ref[i]);
    }
    return den > 0 ? num / den : num;
}

/* Backend copies of the fixture's inputs. */
typedef struct {
    float *pixels;
    int *ids, *mask, *eos;
} dev_inputs;

static int dev_inputs_upload(drum_backend *be, dev_inputs *d, const fixture *f) {
    size_t np = (size_t)f->B * 3 * f->S * f->S, nt = (size_t)f->B * f->T;
    d->pixels = be->alloc(be, np * sizeof(float));
    d->ids = be->alloc(be, nt * sizeof(int));
    d->mask = be->alloc(be, nt * sizeof(int));
    d->eos = be->alloc(be, (size_t)f->B * sizeof(int));
    if (!drum_backend_ok(be)) return -1;
    be->to_device(be, d->pixels, f->pixels, np * sizeof(float));
    be->to_device(be, d->ids, f->ids, nt * sizeof(int));
    be->to_device(be, d->mask, f->mask, nt * sizeof(int));
    be->to_device(be, d->eos, f->eos, (size_t)f->B * sizeof(int));
    return drum_backend_ok(be) ? 0 : -1;
}

static void dev_inputs_free(drum_backend *be, dev_inputs *d) {
    be->free(be, d->pixels);
    be->free(be, d->ids);
    be->free(be, d->mask);
    be->free(be, d->eos);
}

/* Forward, contrastive loss and backward of the fixture batch into zeroed gradients. */
static int run_step(drum_clip_model *m, const fixture *f, const dev_inputs *d, float *loss) {
    if (drum_clip_zero_grad(m) || drum_clip_encode_images(m, d->pixels, f->B) ||
        drum_clip_encode_texts(m, d->ids, d->mask, d->eos, f->B, f->T) ||
        drum_clip_contrastive_forward(m, loss) || drum_clip_contrastive_backward(m) ||
        drum_clip_backward_images(m, m->d_img_features) ||
        drum_clip_backward_texts(m, m->d_txt_features))
        return -1;
    return 0;
}

/* Compares a (B, D)-style backend tensor with the reference tensor `name`. */
static void check_tensor(drum_backend *be, const fixture *f, const char *name, const float *dev,
                         double tol) {
    size_t n = 0;
    float *ref = read_f32(f->ref, name, &n);
    float *got = malloc((n ? n : 1) * sizeof(float));
    CHECK(ref && got, "%s: reference %s readable", f->dir, name);
    if (ref && got) {
        be->to_host(be, got, dev, n * sizeof(float));
        double e = rel_err(got, ref, n);
        CHECK(e <= tol, "%s on %s: %s rel err %.3g > %.1g", f->dir, be->name, name, e, tol);
        printf("  %-12s %-18s rel err %.2e\n", be->name, name, e);
    }
    free(ref);
    free(got);
}

static void test_parity(drum_backend *be, fixture *f, double tol_fwd, double tol_grad) {
    char err[512];
    dev_inputs d = {0};
    drum_clip_model *m = drum_clip_model_create(be, &f->cfg, &f->p, f->B, f->B, 1, err, sizeof err);
    CHECK(m != NULL, "%s: create on %s: %s", f->dir, be->name, err);
    if (!m) return;
    float loss = 0;
    int rc = dev_inputs_upload(be, &d, f);
    rc = rc || drum_clip_model_upload(m, f->params) || run_step(m, f, &d, &loss);
    CHECK(rc == 0, "%s: forward/backward on %s: %s", f->dir, be->name, be->err);
    if (rc == 0) {
        check_tensor(be, f, "image_features", m->img_features, tol_fwd);
        check_tensor(be, f, "text_features", m->txt_features, tol_fwd);
        check_tensor(be, f, "image_embeds", m->img_embeds, tol_fwd);
        check_tensor(be, f, "text_embeds", m->txt_embeds, tol_fwd);
        check_tensor(be, f, "logits_per_image", m->logits_per_image, tol_fwd);
        float *ref_loss = read_f32(f->ref, "loss", NULL);
        if (ref_loss) {
            double e = fabs((double)loss - ref_loss[0]) / fabs((double)ref_loss[0]);
            CHECK(e <= tol_fwd, "%s on %s: loss %.8f vs %.8f (rel %.3g)", f->dir, be->name, loss,
                  ref_loss[0], e);
            printf("  %-12s %-18s rel err %.2e (%.6f)\n", be->name, "loss", e, loss);
        }
        free(ref_loss);

        /* Every reference gradient, laid out like the parameter buffer. */
        float *g = malloc(f->p.total * sizeof(float));
        float *rg = calloc(f->p.total, sizeof(float));
        int missing = 0;
        double gmax = 0;
        for (int i = 0; rg && i < f->p.n; i++) {
            const drum_param_entry *e = &f->p.entries[i];
            char name[128];
            size_t n = 0;
            snprintf(name, sizeof name, "grad.%s", e->name);
            float *ref = read_f32(f->ref, name, &n);
            if (ref && n == e->numel)
                memcpy(rg + e->offset, ref, n * sizeof(float));
            else
                missing++;
            free(ref);
        }
        for (size_t i = 0; rg && i < f->p.total; i++)
            if (fabs((double)rg[i]) > gmax) gmax = fabs((double)rg[i]);
        CHECK(missing == 0 && gmax > 0, "%s: %d gradients missing from the reference", f->dir,
              missing);
        double worst = 0, worst_zero = 0;
        const char *worst_name = "";
        int nzero = 0;
        if (g && rg && drum_clip_model_download_grads(m, g) == 0) {
            for (int i = 0; i < f->p.n; i++) {
                const drum_param_entry *e = &f->p.entries[i];
                const float *x = g + e->offset, *r = rg + e->offset;
                double tmax = 0, dmax = 0;
                for (size_t j = 0; j < e->numel; j++) {
                    if (fabs((double)r[j]) > tmax) tmax = fabs((double)r[j]);
                    double dj = fabs((double)x[j] - r[j]);
                    if (!(dj <= dmax)) dmax = dj;
                }
                if (tmax < 1e-6 * gmax) {
                    /* A gradient that is exactly zero in exact arithmetic (the k_proj
                     * biases: softmax ignores a shift shared by all keys), so both sides
                     * hold rounding noise; bound it against the model's largest gradient. */
                    nzero++;
                    CHECK(dmax <= 1e-2 * tol_grad * gmax, "%s on %s: d %s is %.3g, expected "
                          "rounding noise below %.3g", f->dir, be->name, e->name, dmax,
                          1e-2 * tol_grad * gmax);
                    if (dmax / gmax > worst_zero) worst_zero = dmax / gmax;
                    continue;
                }
                double rel = rel_err(x, r, e->numel);
                CHECK(rel <= tol_grad, "%s on %s: d %s rel err %.3g > %.1g", f->dir, be->name,
                      e->name, rel, tol_grad);
                if (!(rel <= worst)) {
                    worst = rel;
                    worst_name = e->name;
                }
            }
        }
        printf("  %-12s %-18s worst rel err %.2e (%s); %d zero-gradient tensors within "
               "%.1e of the largest gradient\n", be->name, "gradients", worst, worst_name, nzero,
               worst_zero);
        free(g);
        free(rg);
    }
    dev_inputs_free(be, &d);
    drum_clip_model_free(m);
}

/* One AdamW step from the reference gradients against torch.optim.AdamW (lr 1e-3,
 * weight decay 0.1 on every parameter). */
static void test_adamw(drum_backend *be, fixture *f) {
    char err[512];
    if (!drum_safetensors_find(f->ref, "adamw.logit_scale")) return;
    drum_clip_model *m = drum_clip_model_create(be, &f->cfg, &f->p, 1, 1, 1, err, sizeof err);
    float *g = malloc(f->p.total * sizeof(float));
    float *after = malloc(f->p.total * sizeof(float));
    CHECK(m && g && after, "%s: adamw model: %s", f->dir, err);
    if (!m || !g || !after) goto done;
    for (int i = 0; i < f->p.n; i++) {
        const drum_param_entry *e = &f->p.entries[i];
        char name[128];
        snprintf(name, sizeof name, "grad.%s", e->name);
        float *ref = read_f32(f->ref, name, NULL);
        if (ref) memcpy(g + e->offset, ref, e->numel * sizeof(float));
        free(ref);
    }
    drum_adamw_config h = drum_adamw_defaults();
    h.lr = 1e-3f;
    h.weight_decay = 0.1f;
    be->to_device(be, m->grads, g, f->p.total * sizeof(float));
    int rc = drum_clip_model_upload(m, f->params) || drum_clip_adamw_step(m, &h) ||
             drum_clip_model_download(m, after);
    CHECK(rc == 0 && m->step == 1, "%s: adamw step: %s", f->dir, be->err);
    double worst = 0, moved = 0;
    int bad = 0;
    for (int i = 0; i < f->p.n && rc == 0; i++) {
        const drum_param_entry *e = &f->p.entries[i];
        char name[128];
        snprintf(name, sizeof name, "adamw.%s", e->name);
        float *ref = read_f32(f->ref, name, NULL);
        if (!ref) {
            bad++;
            continue;
        }
        for (size_t j = 0; j < e->numel; j++) {
            double d = fabs((double)after[e->offset + j] - ref[j]);
            double tol = 1e-6 + 1e-6 * fabs((double)ref[j]);
            if (!(d <= tol)) bad++;
            if (d > worst) worst = d;
            double mv = fabs((double)after[e->offset + j] - f->params[e->offset + j]);
            if (mv > moved) moved = mv;
        }
        free(ref);
    }
    CHECK(bad == 0, "%s: %d parameters differ from torch.optim.AdamW by more than 1e-6 (worst %.3g)",
          f->dir, bad, worst);
    CHECK(moved > 5e-4, "%s: the step moved no parameter by lr/2 (max %.3g)", f->dir, moved);
    printf("  cpu          adamw step         worst abs err %.2e\n", worst);
done:
    free(g);
    free(after);
    drum_clip_model_free(m);
}

static double host_norm(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* Gradient clipping, accumulation (+=), the inference model and determinism, on cpu. */
static void test_training_paths(drum_backend *be, fixture *f) {
    char err[512];
    dev_inputs d = {0};
    size_t nb = f->p.total * sizeof(float);
    drum_clip_model *m = drum_clip_model_create(be, &f->cfg, &f->p, f->B, f->B, 1, err, sizeof err);
    drum_clip_model *inf = drum_clip_model_create(be, &f->cfg, &f->p, f->B, f->B, 0, err, sizeof err);
    float *g1 = malloc(nb), *g2 = malloc(nb), *p1 = malloc(nb), *p2 = malloc(nb);
    float *h1 = malloc((size_t)f->B * f->cfg.projection_dim * sizeof(float));
    float *h2 = malloc((size_t)f->B * f->cfg.projection_dim * sizeof(float));
    CHECK(m && inf && g1 && g2 && p1 && p2 && h1 && h2, "%s: models: %s", f->dir, err);
    if (!(m && inf && g1 && g2 && p1 && p2 && h1 && h2) || dev_inputs_upload(be, &d, f)) goto done;
    size_t nf = (size_t)f->B * f->cfg.projection_dim * sizeof(float);
    CHECK(inf->grads == NULL && inf->arena_bytes < m->arena_bytes,
          "inference model holds no gradients and a smaller arena (%zu vs %zu bytes)",
          inf->arena_bytes, m->arena_bytes);

    /* Inference model: the same features, byte for byte (same ops, same inputs). */
    float loss = 0, loss2 = 0;
    int rc = drum_clip_model_upload(m, f->params) || drum_clip_model_upload(inf, f->params) ||
             run_step(m, f, &d, &loss) || drum_clip_encode_images(inf, d.pixels, f->B) ||
             drum_clip_encode_texts(inf, d.ids, d.mask, d.eos, f->B, f->T);
    CHECK(rc == 0, "%s: step: %s", f->dir, be->err);
    if (rc) goto done;
    be->to_host(be, h1, m->img_features, nf);
    be->to_host(be, h2, inf->img_features, nf);
    CHECK(memcmp(h1, h2, nf) == 0, "%s: inference image features equal training ones", f->dir);
    be->to_host(be, h1, m->txt_features, nf);
    be->to_host(be, h2, inf->txt_features, nf);
    CHECK(memcmp(h1, h2, nf) == 0, "%s: inference text features equal training ones", f->dir);
    float inf_loss = 0;
    CHECK(drum_clip_contrastive_forward(inf, &inf_loss) == 0 && inf_loss == loss,
          "%s: inference loss %.8f equals %.8f", f->dir, inf_loss, loss);
    CHECK(drum_clip_backward_images(inf, inf->img_features) == -1 && strstr(be->err, "train = 1"),
          "backward on an inference model fails: %s", be->err);
    drum_backend_clear_error(be);

    /* Accumulation: a second backward without zero_grad doubles every gradient. */
    drum_clip_model_download_grads(m, g1);
    rc = drum_clip_contrastive_backward(m) || drum_clip_backward_images(m, m->d_img_features) ||
         drum_clip_backward_texts(m, m->d_txt_features) || drum_clip_model_download_grads(m, g2);
    CHECK(rc == 0, "second backward: %s", be->err);
    for (size_t i = 0; i < f->p.total; i++) g1[i] *= 2.0f;
    double e = rel_err(g2, g1, f->p.total);
    CHECK(e <= 1e-6, "%s: accumulated gradients are twice the first (rel err %.3g)", f->dir, e);

    /* Clipping: the norm is the host norm; clipping to half of it halves it. */
    float norm = 0, norm2 = 0;
    drum_clip_model_download_grads(m, g1);
    double hn = host_norm(g1, f->p.total);
    rc = drum_clip_clip_grad_norm(m, NULL, 0.0f, &norm) ||
         drum_clip_clip_grad_norm(m, NULL, (float)(hn / 2), NULL) ||
         drum_clip_clip_grad_norm(m, NULL, 0.0f, &norm2);
    CHECK(rc == 0 && fabs(norm - hn) <= 1e-5 * hn, "%s: grad norm %.7g vs host %.7g", f->dir, norm,
          hn);
    CHECK(fabs(norm2 - hn / 2) <= 1e-5 * hn, "%s: clipped norm %.7g, expected %.7g", f->dir, norm2,
          hn / 2);
    rc = drum_clip_clip_grad_norm(m, NULL, (float)(hn * 4), &norm);
    CHECK(rc == 0 && fabs(norm - hn / 2) <= 1e-5 * hn, "%s: a larger max_norm leaves the norm", f->dir);

    /* Frozen parameters (every vision_model entry) have no gradient: theirs are zeroed and
     * the norm is the other entries' alone, as torch's over requires_grad parameters. */
    unsigned char *frozen = calloc((size_t)f->p.n, 1);
    double fn = 0;
    drum_clip_model_download_grads(m, g1);
    for (int i = 0; frozen && i < f->p.n; i++) {
        const drum_param_entry *pe = &f->p.entries[i];
        frozen[i] = strncmp(pe->name, "vision_model.", 13) == 0;
        for (size_t j = 0; !frozen[i] && j < pe->numel; j++)
            fn += (double)g1[pe->offset + j] * g1[pe->offset + j];
    }
    fn = sqrt(fn);
    rc = !frozen || drum_clip_clip_grad_norm(m, frozen, 0.0f, &norm) ||
         drum_clip_model_download_grads(m, g2);
    size_t nonzero = 0;
    for (int i = 0; rc == 0 && i < f->p.n; i++)
        for (size_t j = 0; frozen[i] && j < f->p.entries[i].numel; j++)
            nonzero += g2[f->p.entries[i].offset + j] != 0.0f;
    CHECK(rc == 0 && fn > 0 && fn < hn / 2 * 0.999 && fabs(norm - fn) <= 1e-5 * hn &&
              nonzero == 0,
          "%s: with the vision tower frozen the norm is %.7g, the text side's %.7g (all %.7g); "
          "%zu frozen gradients left", f->dir, norm, fn, hn / 2, nonzero);
    free(frozen);

    /* A gradient that overflowed: the norm is not finite, and clipping says so instead of
     * handing AdamW an inf (which would reach every weight). */
    const float big = INFINITY;
    be->to_device(be, m->grads + f->p.total / 2, &big, sizeof big);
    rc = drum_clip_clip_grad_norm(m, NULL, 1.0f, &norm);
    CHECK(rc == -1 && isinf(norm) && strstr(be->err, "clip_grad_norm: the gradients' norm is inf"),
          "%s: an infinite gradient: rc %d, norm %g, '%s'", f->dir, rc, norm, be->err);
    drum_backend_clear_error(be);

    /* Determinism: two full training steps from the same state give the same bytes. */
    for (int run = 0; run < 2; run++) {
        drum_clip_model_init(m, 7);
        rc = run_step(m, f, &d, run ? &loss2 : &loss) || drum_clip_clip_grad_norm(m, NULL, 1.0f, NULL);
        drum_adamw_config h = drum_adamw_defaults();
        rc = rc || drum_clip_adamw_step(m, &h) || run_step(m, f, &d, run ? &loss2 : &loss) ||
             drum_clip_adamw_step(m, &h) || drum_clip_model_download(m, run ? p2 : p1) ||
             drum_clip_model_download_grads(m, run ? g2 : g1);
        CHECK(rc == 0, "%s: determinism run %d: %s", f->dir, run, be->err);
    }
    CHECK(memcmp(p1, p2, nb) == 0 && memcmp(g1, g2, nb) == 0 && loss == loss2,
          "%s: two runs give identical parameters, gradients and loss", f->dir);
    CHECK(memcmp(p1, f->params, nb) != 0, "%s: training moved the parameters", f->dir);
done:
    dev_inputs_free(be, &d);
    free(g1);
    free(g2);
    free(p1);
    free(p2);
    free(h1);
    free(h2);
    drum_clip_model_free(inf);
    drum_clip_model_free(m);
}

/* _init_weights' rules: LayerNorms 1 and 0, biases 0, logit_scale, the std of each kind. */
static void test_init(fixture *f) {
    size_t nb = f->p.total * sizeof(float);
    float *a = malloc(nb), *b = malloc(nb);
    if (!a || !b) {
        CHECK(0, "out of memory");
        free(a);
        free(b);
        return;
    }
    drum_clip_init_params_host(&f->cfg, &f->p, a, 11);
    drum_clip_init_params_host(&f->cfg, &f->p, b, 11);
    CHECK(memcmp(a, b, nb) == 0, "init: same seed, same bytes");
    drum_clip_init_params_host(&f->cfg, &f->p, b, 12);
    CHECK(memcmp(a, b, nb) != 0, "init: another seed, other values");
    CHECK(a[f->p.logit_scale] == f->cfg.logit_scale_init, "init: logit_scale %g", a[f->p.logit_scale]);
    int Cv = f->cfg.vision.hidden, Lv = f->cfg.vision.layers, Ct = f->cfg.text.hidden;
    const drum_clip_block_offsets *o = &f->p.v_blocks[0];
    int ln_ok = 1, bias_ok = 1;
    for (int c = 0; c < Cv; c++) {
        ln_ok &= a[o->ln1_w + c] == 1.0f && a[o->ln1_b + c] == 0.0f && a[f->p.v_post_ln_w + c] == 1.0f;
        bias_ok &= a[o->out_b + c] == 0.0f && a[o->fc2_b + c] == 0.0f;
    }
    for (int c = 0; c < 3 * Cv; c++) bias_ok &= a[o->qkv_b + c] == 0.0f;
    CHECK(ln_ok && bias_ok, "init: LayerNorm weights 1, biases 0");
    struct {
        const char *what;
        size_t off, n;
        double std;
    } k[] = {
        {"vision qkv", o->qkv_w, (size_t)3 * Cv * Cv, pow(Cv, -0.5) * pow(2.0 * Lv, -0.5)},
        {"vision out_proj", o->out_w, (size_t)Cv * Cv, pow(Cv, -0.5)},
        {"vision fc1", o->fc1_w, (size_t)f->cfg.vision.intermediate * Cv, pow(2.0 * Cv, -0.5)},
        {"text token embedding", f->p.t_tok_emb, (size_t)f->cfg.text.vocab * Ct, 0.02},
        {"text projection", f->p.t_proj, (size_t)f->cfg.projection_dim * Ct, pow(Ct, -0.5)},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        double s = 0, mean = 0;
        for (size_t j = 0; j < k[i].n; j++) mean += a[k[i].off + j];
        mean /= (double)k[i].n;
        for (size_t j = 0; j < k[i].n; j++) s += (a[k[i].off + j] - mean) * (a[k[i].off + j] - mean);
        double sd = sqrt(s / (double)k[i].n);
        CHECK(fabs(sd / k[i].std - 1) < 0.1 && fabs(mean) < 0.2 * k[i].std,
              "init: %s std %.4g (expected %.4g), mean %.3g", k[i].what, sd, k[i].std, mean);
    }
    free(a);
    free(b);
}

/* eos positions as transformers computes them, and calls that must fail cleanly. */
static void test_errors(drum_backend *be, fixture *f) {
    char err[512];
    int *pos = malloc((size_t)f->B * sizeof(int));
    if (pos) {
        drum_clip_eos_positions(&f->cfg.text, f->ids, f->B, f->T, pos);
        CHECK(memcmp(pos, f->eos, (size_t)f->B * sizeof(int)) == 0, "%s: eos positions match",
              f->dir);
    }
    free(pos);
    drum_clip_tower_config tc = f->cfg.text;
    int row[5] = {3, 9, 4, 9, 1};
    int p1 = -1;
    tc.eos_id = 2;
    drum_clip_eos_positions(&tc, row, 1, 5, &p1);
    CHECK(p1 == 1, "legacy eos rule: first largest id (%d)", p1);
    tc.eos_id = 4;
    drum_clip_eos_positions(&tc, row, 1, 5, &p1);
    CHECK(p1 == 2, "eos rule: first eos_token_id (%d)", p1);
    tc.eos_id = 7;
    drum_clip_eos_positions(&tc, row, 1, 5, &p1);
    CHECK(p1 == 0, "eos rule: no eos gives 0, like argmax (%d)", p1);

    drum_clip_config bad = f->cfg;
    bad.vision.heads = bad.vision.hidden + 1;
    CHECK(drum_clip_model_create(be, &bad, &f->p, 2, 2, 1, err, sizeof err) == NULL &&
              strstr(err, "heads"), "create rejects heads not dividing hidden: %s", err);
    CHECK(drum_clip_model_create(be, &f->cfg, &f->p, 0, 0, 1, err, sizeof err) == NULL &&
              strstr(err, "max_images"), "create rejects an empty model: %s", err);

    drum_clip_model *m = drum_clip_model_create(be, &f->cfg, &f->p, 2, 2, 1, err, sizeof err);
    dev_inputs d = {0};
    CHECK(m != NULL, "create: %s", err);
    if (!m || dev_inputs_upload(be, &d, f)) goto done;
    drum_clip_model_upload(m, f->params);
    CHECK(drum_clip_encode_images(m, d.pixels, 3) == -1 && strstr(be->err, "encode_images"),
          "more images than max_images fails: %s", be->err);
    drum_backend_clear_error(be);
    CHECK(drum_clip_encode_texts(m, d.ids, d.mask, d.eos, 2, f->cfg.text.max_pos + 1) == -1,
          "more tokens than max_pos fails: %s", be->err);
    drum_backend_clear_error(be);
    CHECK(drum_clip_backward_texts(m, m->d_txt_features) == -1 && strstr(be->err, "without"),
          "backward before encode fails: %s", be->err);
    drum_backend_clear_error(be);
    float loss;
    CHECK(drum_clip_encode_images(m, d.pixels, 2) == 0 && drum_clip_encode_texts(m, d.ids, d.mask, d.eos, 1, f->T) == 0 &&
              drum_clip_contrastive_forward(m, &loss) == -1 && strstr(be->err, "same"),
          "contrastive loss of 2 images and 1 text fails: %s", be->err);
    drum_backend_clear_error(be);
    /* An id outside the vocabulary: the embedding op records it, the model returns -1. */
    int bad_ids[2] = {0, f->cfg.text.vocab}, eos0[2] = {0, 0};
    be->to_device(be, d.ids, bad_ids, sizeof bad_ids);
    be->to_device(be, d.eos, eos0, sizeof eos0);
    CHECK(drum_clip_encode_texts(m, d.ids, NULL, d.eos, 2, 1) == -1 && m->n_texts == 0,
          "an out-of-vocabulary id fails: %s", be->err);
    drum_backend_clear_error(be);
done:
    dev_inputs_free(be, &d);
    drum_clip_model_free(m);
}

int main(void) {
    char err[512];
    drum_backend *cpu = drum_backend_create("cpu", err, sizeof err);
    if (!cpu) {
        fprintf(stderr, "cpu backend: %s\n", err);
        return 1;
    }
    drum_backend *cuda = drum_backend_create("cuda", err, sizeof err);
    if (!cuda) printf("cuda checks skipped: %s\n", err);
    for (size_t i = 0; i < sizeof fixture_names / sizeof fixture_names[0]; i++) {
        fixture f;
        int rc = fixture_load(&f, fixture_names[i]);
        CHECK(rc == 0, "fixture %s loads (run from the repository root)", fixture_names[i]);
        if (rc == 0) {
            printf("%s\n", f.dir);
            test_parity(cpu, &f, 1e-5, 1e-4);
            if (cuda)
                test_parity(cuda, &f, 1e-4, 1e-3);
            else
                SKIP("%s on cuda: no GPU", f.dir);
            test_adamw(cpu, &f);
            test_training_paths(cpu, &f);
            test_init(&f);
            test_errors(cpu, &f);
        }
        fixture_free(&f);
    }
    drum_backend_destroy(cuda);
    drum_backend_destroy(cpu);
    return check_summary();
}

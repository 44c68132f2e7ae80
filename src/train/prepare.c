/* prepare.c — images decoded and preprocessed once, texts rendered and tokenized once. */
#include "drum/prepare.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "drum/image.h"
#include "drum/rng.h"

drum_prepare_opts drum_prepare_opts_for(const drum_clip_config *cfg, const char *demo_template,
                                        const char *query_template) {
    drum_image_config ic;
    drum_image_config_default(&ic);
    drum_prepare_opts o;
    memset(&o, 0, sizeof o);
    o.image_size = cfg->vision.image_size;
    memcpy(o.mean, ic.mean, sizeof o.mean);
    memcpy(o.std, ic.std, sizeof o.std);
    o.context = cfg->text.max_pos;
    o.eos_token_id = cfg->text.eos_id;
    o.demo_template = demo_template;
    o.query_template = query_template;
    return o;
}

char *drum_render_template(const char *tmpl, const drum_example *ex, const char *draft,
                           char *err, size_t errlen) {
    size_t cap = strlen(tmpl) + 1, len = 0;
    const char *parts[3] = {ex->prompt, ex->response, draft};
    for (int i = 0; i < 3; i++) cap += parts[i] ? strlen(parts[i]) * 4 : 0;
    char *out = malloc(cap);
    if (!out) {
        snprintf(err, errlen, "out of memory rendering a template");
        return NULL;
    }
    for (const char *s = tmpl; *s;) {
        if (s[0] == '{' && s[1] && s[2] == '}') {
            const char *v = NULL;
            switch (s[1]) {
            case 'P': v = ex->prompt; break;
            case 'R': v = ex->response; break;
            case 'D':
                if (!draft) {
                    snprintf(err, errlen, "template '%s' uses {D} but example '%s' has no draft",
                             tmpl, ex->id);
                    free(out);
                    return NULL;
                }
                v = draft;
                break;
            default:
                snprintf(err, errlen, "template '%s': unknown field {%c} (expected {P}, {R} or {D})",
                         tmpl, s[1]);
                free(out);
                return NULL;
            }
            size_t n = strlen(v);
            if (len + n + 1 > cap) {
                cap = (len + n + 1) * 2;
                char *grown = realloc(out, cap);
                if (!grown) {
                    free(out);
                    snprintf(err, errlen, "out of memory rendering a template");
                    return NULL;
                }
                out = grown;
            }
            memcpy(out + len, v, n);
            len += n;
            s += 3;
        } else {
            if (len + 2 > cap) {
                cap *= 2;
                char *grown = realloc(out, cap);
                if (!grown) {
                    free(out);
                    snprintf(err, errlen, "out of memory rendering a template");
                    return NULL;
                }
                out = grown;
            }
            out[len++] = *s++;
        }
    }
    out[len] = '\0';
    return out;
}

void drum_prepared_free(drum_prepared *p) {
    if (p->levels_mapped)
        munmap(p->levels, p->levels_mapped);
    else
        free(p->levels);
    free(p->image_of);
    free(p->image_digest);
    free(p->demo_ids);
    free(p->demo_mask);
    free(p->demo_eos);
    free(p->query_ids);
    free(p->query_mask);
    free(p->query_eos);
    memset(p, 0, sizeof *p);
}

/* Renders one template for every example and tokenizes the texts into (n, T). */
static int tokenize_all(const drum_dataset *ds, char *const *drafts, const char *tmpl,
                        const drum_tokenizer *tok, const drum_prepare_opts *o, int **ids,
                        int **mask, int **eos, char *err, size_t errlen) {
    int n = ds->n, T = o->context, rc = -1;
    char **texts = calloc((size_t)n, sizeof(char *));
    *ids = malloc((size_t)n * T * sizeof(int));
    *mask = malloc((size_t)n * T * sizeof(int));
    *eos = malloc((size_t)n * sizeof(int));
    if (!texts || !*ids || !*mask || !*eos) {
        snprintf(err, errlen, "out of memory tokenizing %d texts", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        texts[i] = drum_render_template(tmpl, &ds->ex[i], drafts ? drafts[i] : NULL, err, errlen);
        if (!texts[i]) goto out;
    }
    if (drum_tokenize_batch(tok, (const char *const *)texts, n, T, *ids, *mask, *eos, err, errlen))
        goto out;
    for (int i = 0; i < n; i++)
        (*eos)[i] = drum_tokenizer_pool_index(*ids + (size_t)i * T, T, o->eos_token_id);
    rc = 0;
out:
    if (texts)
        for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    return rc;
}

/* The distinct image paths of ds in order of first use: first[k] the first example naming
 * image k, image_of[i] example i's image. Returns the count, or -1 out of memory. */
static int distinct_images(const drum_dataset *ds, int *first, int *image_of) {
    size_t cap = 16;
    while (cap < 2 * (size_t)ds->n) cap *= 2;
    int *slot = malloc(cap * sizeof *slot), k = 0; /* open addressing: image index + 1 */
    if (!slot) return -1;
    memset(slot, 0, cap * sizeof *slot);
    for (int i = 0; i < ds->n; i++) {
        const char *path = ds->ex[i].image;
        size_t h = (size_t)drum_str_hash(path) & (cap - 1);
        while (slot[h] && strcmp(ds->ex[first[slot[h] - 1]].image, path) != 0)
            h = (h + 1) & (cap - 1);
        if (!slot[h]) {
            first[k] = i;
            slot[h] = ++k;
        }
        image_of[i] = slot[h] - 1;
    }
    free(slot);
    return k;
}

/* Images a rank decodes in a round: DRUM_PREPARE_CHUNK, fewer where a round's levels (every
 * rank's chunk) would pass 1 GB, so that the all-gather's byte counts stay within an int. */
static int decode_chunk(int ranks, size_t per) {
    size_t most = ((size_t)1 << 30) / ((size_t)ranks * per);
    if (ranks == 1 || most >= DRUM_PREPARE_CHUNK) return DRUM_PREPARE_CHUNK;
    return most > 0 ? (int)most : 1;
}

/* One round of drum_prepare on several ranks: every rank's chunk of levels and digests (rank
 * r's from image k0 + r * chunk) to every rank (levels `shared` by a node's ranks: to every
 * node), and the round's first failure (*rc, *failed, ierr: this rank's on entry) to every
 * rank. -1 with err when a collective fails. */
static int gather_round(drum_comm *c, int shared, uint8_t *levels, uint64_t *digest, int k0,
                        int chunk, int n_img, size_t per, int *rc, int *failed, char *ierr,
                        size_t ierrlen, char *err, size_t errlen) {
    int P = c->size;
    struct fail {
        int at; /* the first image that failed, or -1 */
        char msg[512];
    } mine = {*rc ? (*failed >= 0 ? *failed : INT_MAX) : -1, ""};
    struct fail *all = malloc((size_t)P * sizeof *all);
    /* byte counts and offsets of the levels, the digests and the failures, P of each */
    size_t *sz = malloc(6 * (size_t)P * sizeof *sz), *dsp = sz + P, *dsz = sz + 2 * P,
           *ddsp = sz + 3 * P, *fsz = sz + 4 * P, *fdsp = sz + 5 * P;
    if (!sz || !all) {
        free(sz);
        free(all);
        snprintf(err, errlen, "out of memory gathering %d ranks' images", P);
        return -1;
    }
    if (*rc) snprintf(mine.msg, sizeof mine.msg, "%s", ierr);
    for (int r = 0; r < P; r++) {
        long a = (long)k0 + (long)r * chunk, m = n_img - a < chunk ? n_img - a : chunk;
        if (m < 0) m = 0;
        sz[r] = (size_t)m * per;
        dsp[r] = (size_t)r * chunk * per;
        dsz[r] = (size_t)m * sizeof *digest;
        ddsp[r] = (size_t)r * chunk * sizeof *digest;
        fsz[r] = sizeof mine;
        fdsp[r] = (size_t)r * sizeof mine;
    }
    uint8_t *lv = levels + (size_t)k0 * per;
    int bad = (shared ? c->allgatherv_shared(c, lv, sz, dsp, err, errlen)
                      : c->allgatherv(c, lv + dsp[c->rank], lv, sz, dsp, err, errlen)) ||
              c->allgatherv(c, digest + k0 + (size_t)c->rank * chunk, digest + k0, dsz, ddsp, err,
                            errlen) ||
              c->allgatherv(c, &mine, all, fsz, fdsp, err, errlen);
    if (!bad) { /* the lowest image that failed, on whichever rank */
        int first = -1;
        for (int r = 0; r < P; r++)
            if (all[r].at >= 0 && (first < 0 || all[r].at < all[first].at)) first = r;
        *rc = first >= 0 ? -1 : 0;
        if (first >= 0) {
            *failed = all[first].at == INT_MAX ? -1 : all[first].at;
            snprintf(ierr, ierrlen, "%s", all[first].msg);
        }
    }
    free(sz);
    free(all);
    return bad ? -1 : 0;
}

int drum_prepare(drum_prepared *out, const drum_dataset *ds, char *const *drafts,
                 const drum_tokenizer *tok, const drum_prepare_opts *o, char *err,
                 size_t errlen) {
    memset(out, 0, sizeof *out);
    out->n = ds->n;
    out->S = o->image_size;
    out->T = o->context;
    drum_image_config ic;
    drum_image_config_default(&ic);
    ic.size = o->image_size;
    ic.crop_h = ic.crop_w = o->image_size;
    memcpy(ic.mean, o->mean, sizeof ic.mean);
    memcpy(ic.std, o->std, sizeof ic.std);
    size_t n1 = (size_t)(ds->n > 0 ? ds->n : 1), per = (size_t)3 * o->image_size * o->image_size;
    int *first = malloc(n1 * sizeof *first);
    out->image_of = malloc(n1 * sizeof *out->image_of);
    out->image_digest = malloc(n1 * sizeof *out->image_digest);
    const char **paths = malloc(n1 * sizeof(char *));
    uint64_t *digest = malloc(n1 * sizeof *digest); /* an image's */
    int n_img = first && out->image_of ? distinct_images(ds, first, out->image_of) : -1;
    out->n_images = n_img;
    drum_comm *comm = o->comm ? o->comm : drum_comm_single();
    int P = comm->size, chunk = decode_chunk(P, per), failed = -1, rc = -1, read = 0;
    /* several ranks on a node share one copy of the levels where they can */
    size_t lv_bytes = (size_t)(n_img > 0 ? n_img : 0) * per + 1;
    out->levels_shared_by = 1;
    if (n_img >= 0 && P > 1 && comm->share) {
        void *m = NULL;
        int by = comm->share(comm, lv_bytes, &m, out->levels_note, sizeof out->levels_note, err,
                             errlen);
        if (by < 0) goto out;
        if (by > 1) {
            out->levels = m;
            out->levels_mapped = lv_bytes;
            out->levels_shared_by = by;
        }
    }
    if (!out->levels && n_img >= 0) out->levels = malloc(lv_bytes);
    drum_image_level_lut(&ic, out->lut);
    if (!paths || !out->levels || !out->image_digest || !digest) {
        snprintf(err, errlen, "out of memory preparing %d images", ds->n);
        goto out;
    }
    for (int k = 0; k < n_img; k++) paths[k] = ds->ex[first[k]].image;
    char ierr[512];
    rc = 0;
    drum_progress_begin(o->progress, "prepare images", 0, n_img);
    for (int k0 = 0; k0 < n_img && rc == 0; k0 += P * chunk) {
        if (drum_progress_stopped(o->progress, "prepare images", err, errlen)) {
            rc = -1;
            goto out;
        }
        /* this round: rank r decodes images k0 + r * chunk onwards, then all gather */
        int a = k0 + comm->rank * chunk, m = n_img - a < chunk ? n_img - a : chunk;
        if (m > 0)
            rc = drum_image_preprocess_files_levels(paths + a, m, &ic, out->levels + a * per,
                                                    digest + a, &failed, ierr, sizeof ierr);
        if (rc && failed >= 0) failed += a;
        if (P > 1 && gather_round(comm, out->levels_mapped > 0, out->levels, digest, k0, chunk,
                                  n_img, per, &rc, &failed, ierr, sizeof ierr, err, errlen))
            goto out;
        read = k0 + P * chunk < n_img ? k0 + P * chunk : n_img;
        if (rc == 0) drum_progress_report(o->progress, "prepare images", read, n_img, NULL);
    }
    if (rc) {
        int others = -1; /* the failed one's digest is 0 too */
        for (int k = 0; k < read; k++) others += digest[k] == 0;
        char more[96] = "";
        if (others > 0)
            snprintf(more, sizeof more, " (and %d more of the first %d images)", others, read);
        if (failed >= 0)
            snprintf(err, errlen, "%s:%d: %s%s", ds->path, ds->ex[first[failed]].line, ierr,
                     more);
        else
            snprintf(err, errlen, "%s: %s%s", ds->path, ierr, more);
        goto out;
    }
    for (int i = 0; i < ds->n; i++) out->image_digest[i] = digest[out->image_of[i]];
    if (n_img == ds->n) { /* every example its own file: row i */
        free(out->image_of);
        out->image_of = NULL;
    }
out:
    free(first);
    free(paths);
    free(digest);
    if (rc) {
        drum_prepared_free(out);
        return -1;
    }
    if (tokenize_all(ds, drafts, o->demo_template, tok, o, &out->demo_ids, &out->demo_mask,
                     &out->demo_eos, err, errlen) ||
        (o->query_template &&
         drum_prepare_query_texts(out, ds, drafts, tok, o, err, errlen))) {
        drum_prepared_free(out);
        return -1;
    }
    out->longest = o->longest;
    return 0;
}

int drum_prepare_query_texts(drum_prepared *p, const drum_dataset *ds, char *const *drafts,
                             const drum_tokenizer *tok, const drum_prepare_opts *o, char *err,
                             size_t errlen) {
    if (!o->query_template || p->query_ids || ds->n != p->n) {
        snprintf(err, errlen, "prepare: query texts need a query template, a pool without "
                 "them and its own dataset");
        return -1;
    }
    int rc = tokenize_all(ds, drafts, o->query_template, tok, o, &p->query_ids, &p->query_mask,
                          &p->query_eos, err, errlen);
    if (rc) { /* as before the call */
        free(p->query_ids);
        free(p->query_mask);
        free(p->query_eos);
        p->query_ids = p->query_mask = p->query_eos = NULL;
    }
    return rc;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* p's image digests, a sorted copy; NULL when out of memory. */
static uint64_t *sorted_digests(const drum_prepared *p) {
    uint64_t *d = malloc((size_t)p->n * sizeof *d + 1);
    if (!d) return NULL;
    memcpy(d, p->image_digest, (size_t)p->n * sizeof *d);
    qsort(d, (size_t)p->n, sizeof *d, cmp_u64);
    return d;
}

int drum_prepared_most_per_image(const drum_prepared *p) {
    uint64_t *d = sorted_digests(p);
    if (!d) return -1;
    int most = 0;
    for (int i = 0, run = 0; i < p->n; i++) {
        run = i > 0 && d[i] == d[i - 1] ? run + 1 : 1;
        if (run > most) most = run;
    }
    free(d);
    return most;
}

int drum_prepared_count_images_in(const drum_prepared *a, const drum_prepared *b,
                                  const int *skip, int *first) {
    if (first) *first = -1;
    uint64_t *d = sorted_digests(b);
    if (!d) return -1;
    int count = 0;
    for (int i = 0; i < a->n; i++) {
        /* b's examples with this image: [lo, hi) of the sorted digests */
        size_t lo = 0, hi = (size_t)b->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (d[mid] < a->image_digest[i]) lo = mid + 1; else hi = mid;
        }
        for (hi = lo; hi < (size_t)b->n && d[hi] == a->image_digest[i]; hi++) continue;
        size_t others = hi - lo - (skip && skip[i] >= 0 && hi > lo);
        if (others > 0 && count++ == 0 && first) *first = i;
    }
    free(d);
    return count;
}

uint64_t drum_prepared_image_fingerprint(const drum_prepared *p, uint64_t h) {
    uint64_t shape[2] = {(uint64_t)p->n, (uint64_t)p->S};
    drum_hash_state st;
    drum_hash_begin(&st, drum_hash_bytes(shape, sizeof shape, h));
    for (int i = 0; i < p->n; i++)
        drum_hash_update(&st, drum_prepared_image(p, i), (size_t)3 * p->S * p->S);
    return drum_hash_end(&st);
}

uint64_t drum_prepared_text_fingerprint(const drum_prepared *p, uint64_t h) {
    uint64_t shape[2] = {(uint64_t)p->n, (uint64_t)p->T};
    drum_hash_state st;
    drum_hash_begin(&st, drum_hash_bytes(shape, sizeof shape, h));
    size_t cells = (size_t)p->n * p->T;
    if (p->demo_ids) {
        drum_hash_update(&st, p->demo_ids, cells * sizeof(int));
        drum_hash_update(&st, p->demo_mask, cells * sizeof(int));
        drum_hash_update(&st, p->demo_eos, (size_t)p->n * sizeof(int));
    }
    return drum_hash_end(&st);
}

int drum_cut_texts(int *ids, int *mask, const int *eos, int n, int T) {
    int W = 1;
    for (int i = 0; i < n; i++)
        if (eos[i] + 1 > W) W = eos[i] + 1;
    if (W >= T) return T;
    for (int i = 0; i < n; i++) {
        memmove(ids + (size_t)i * W, ids + (size_t)i * T, (size_t)W * sizeof(int));
        memmove(mask + (size_t)i * W, mask + (size_t)i * T, (size_t)W * sizeof(int));
    }
    return W;
}

int drum_device_levels_alloc(drum_backend *be, const drum_prepared *p, int max_images,
                             drum_device_levels *d, char *err, size_t errlen) {
    d->levels = be->alloc(be, (size_t)(max_images > 0 ? max_images : 1) * 3 * p->S * p->S);
    d->lut = be->alloc(be, sizeof p->lut);
    if (d->lut) be->to_device(be, d->lut, p->lut, sizeof p->lut);
    if (!d->levels || !d->lut || !drum_backend_ok(be)) {
        snprintf(err, errlen, "out of memory for %d images' levels on %s: %s", max_images,
                 be->name, be->err);
        drum_device_levels_free(be, d);
        return -1;
    }
    return 0;
}

void drum_device_levels_free(drum_backend *be, drum_device_levels *d) {
    be->free(be, d->levels);
    be->free(be, d->lut);
    d->levels = NULL;
    d->lut = NULL;
}

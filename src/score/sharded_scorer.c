/* sharded_scorer.c — score() and generate() split over the ranks (sharded_scorer.h). */
#include "drum/sharded_scorer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    drum_scorer *inner;
    drum_comm *comm;
} sharded_impl;

/* Every rank learns whether any rank's local call failed: 0 when none did, else -1 with
 * this rank's own message or, on the others, the first failing rank's number. */
static int agree(drum_comm *c, int bad, char *err, size_t errlen) {
    int *all = malloc((size_t)c->size * sizeof(int));
    char cerr[256];
    if (!all) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = drum_comm_gather_slices(c, &bad, all, c->size, sizeof(int), cerr, sizeof cerr);
    if (rc) {
        if (!bad) snprintf(err, errlen, "%s", cerr);
    } else {
        for (int r = 0; r < c->size && rc == 0; r++)
            if (all[r]) {
                rc = -1;
                if (!bad) snprintf(err, errlen, "rank %d's scorer failed (its log has why)", r);
            }
    }
    free(all);
    return rc;
}

static int sharded_score(drum_scorer *s, const drum_score_pair *pairs, int n, double *out,
                         char *err, size_t errlen) {
    sharded_impl *im = s->impl;
    long lo, hi;
    drum_comm_slice(n, im->comm->rank, im->comm->size, &lo, &hi);
    int bad = hi > lo && im->inner->score(im->inner, pairs + lo, (int)(hi - lo), out + lo, err,
                                          errlen) != 0;
    if (agree(im->comm, bad, err, errlen)) return -1;
    return drum_comm_gather_slices(im->comm, out + lo, out, n, sizeof(double), err, errlen);
}

/* rank: each rank ranks a contiguous slice of the prompts, n_choices numbers a prompt. */
static int sharded_rank(drum_scorer *s, const drum_icl_prompt *prompts, int n,
                        const char *const *choices, int n_choices, double *out, char *err,
                        size_t errlen) {
    sharded_impl *im = s->impl;
    long lo, hi;
    drum_comm_slice(n, im->comm->rank, im->comm->size, &lo, &hi);
    int bad = hi > lo && im->inner->rank(im->inner, prompts + lo, (int)(hi - lo), choices,
                                         n_choices, out + lo * n_choices, err, errlen) != 0;
    if (agree(im->comm, bad, err, errlen)) return -1;
    return drum_comm_gather_slices(im->comm, out + lo * n_choices, out, n,
                                   (size_t)n_choices * sizeof(double), err, errlen);
}

/* generate: each rank's answers travel as NUL-terminated strings, one block per rank. */
static int sharded_generate(drum_scorer *s, const drum_icl_prompt *prompts, int n, char **out,
                            char *err, size_t errlen) {
    sharded_impl *im = s->impl;
    drum_comm *c = im->comm;
    long lo, hi;
    drum_comm_slice(n, c->rank, c->size, &lo, &hi);
    for (int i = 0; i < n; i++) out[i] = NULL;
    int inner_bad = hi > lo && im->inner->generate(im->inner, prompts + lo, (int)(hi - lo),
                                                   out + lo, err, errlen) != 0;
    int bad = inner_bad;
    size_t mine = 0;
    for (long i = lo; i < hi && !bad; i++) mine += strlen(out[i]) + 1;
    char *block = bad ? NULL : malloc(mine ? mine : 1), *all = NULL;
    size_t *len = malloc(2 * (size_t)c->size * sizeof(size_t)), *displ = len ? len + c->size : NULL;
    if (!bad && (!block || !len)) {
        snprintf(err, errlen, "out of memory for %zu bytes of answers", mine);
        bad = 1;
    }
    int rc = agree(c, bad, err, errlen);
    if (rc == 0) {
        for (long i = lo, at = 0; i < hi; i++) {
            size_t k = strlen(out[i]) + 1;
            memcpy(block + at, out[i], k);
            at += (long)k;
        }
        rc = drum_comm_gather_slices(c, &mine, len, c->size, sizeof(size_t), err, errlen);
    }
    size_t total = 0;
    if (rc == 0) {
        for (int r = 0; r < c->size; r++) {
            displ[r] = total;
            total += len[r];
        }
        all = malloc(total ? total : 1);
        rc = all ? c->allgatherv(c, block, all, len, displ, err, errlen) : -1;
        if (!all) snprintf(err, errlen, "out of memory for %zu bytes of answers", total);
    }
    if (rc == 0) {
        /* prompt i's answer is the next string in order: blocks are in rank order */
        const char *p = all;
        for (int i = 0; i < n && rc == 0; i++) {
            size_t k = strlen(p);
            if ((i < lo || i >= hi) && !(out[i] = strdup(p))) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
            p += k + 1;
        }
    }
    if (rc && !inner_bad) { /* a failed inner generate() cleaned up its own answers */
        for (int i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    }
    free(block);
    free(all);
    free(len);
    return rc;
}

static void sharded_destroy(drum_scorer *s) {
    sharded_impl *im = s->impl;
    drum_scorer_destroy(im->inner);
    free(im);
    free(s);
}

drum_scorer *drum_sharded_scorer_create(drum_scorer *inner, drum_comm *comm, char *err,
                                        size_t errlen) {
    drum_scorer *s = calloc(1, sizeof *s);
    sharded_impl *im = calloc(1, sizeof *im);
    if (!s || !im) {
        free(s);
        free(im);
        snprintf(err, errlen, "sharded scorer: out of memory");
        return NULL;
    }
    im->inner = inner;
    im->comm = comm;
    drum_scorer_wrap(s, inner, sharded_score, sharded_generate, sharded_rank, sharded_destroy, im);
    return s;
}

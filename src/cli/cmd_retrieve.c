/* cmd_retrieve.c — `drum retrieve`: the top k pool rows for each query, from embedding
 * files, as JSONL {"id", "demos": [ids, most similar first], "sims": [...]}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "drum/backend.h"
#include "drum/fileio.h"
#include "drum/retrieval.h"

static void retrieve_usage(FILE *f) {
    fprintf(f,
            "usage: drum retrieve --queries Q.emb --pool P.emb --out FILE.jsonl [options]\n"
            "\n"
            "  --strategy NAME    RS, FIXED, SI, ST, SIT (default), DRUM (= SIT on embeddings\n"
            "                     from a fine-tuned retriever)\n"
            "  --k N              demonstrations per query (default 8)\n"
            "  --w-image X        SIT weight of the image embedding (default 1)\n"
            "  --w-text X         SIT weight of the text embedding (default 1)\n"
            "  --seed N           RS and FIXED (default 1)\n"
            "  --exclude-self     skip a pool row whose id equals the query's\n"
            "  --backend NAME     cpu (default) or cuda\n");
}


/* qsort's order of pool rows: by id, then by row */
static const char *const *sort_ids;
static int by_id(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b, c = strcmp(sort_ids[x], sort_ids[y]);
    return c ? c : (x > y) - (x < y);
}

/* The pool row of each query's id (its first, should ids repeat), or -1: sorted ids and a
 * binary search, so a pool of N costs N log N, not queries x N string comparisons. Returns
 * 0, or -1 out of memory. */
static int self_rows(const drum_embeddings *q, const drum_embeddings *p, int *ex) {
    int *order = malloc((size_t)p->n * sizeof *order + 1);
    if (!order) return -1;
    for (int j = 0; j < p->n; j++) order[j] = j;
    sort_ids = (const char *const *)p->ids;
    qsort(order, (size_t)p->n, sizeof *order, by_id);
    for (int i = 0; i < q->n; i++) {
        int lo = 0, hi = p->n; /* the first position whose id is not below the query's */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (strcmp(p->ids[order[mid]], q->ids[i]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        ex[i] = lo < p->n && strcmp(p->ids[order[lo]], q->ids[i]) == 0 ? order[lo] : -1;
    }
    free(order);
    return 0;
}

int cmd_retrieve(int argc, char **argv) {
    const char *qpath = NULL, *ppath = NULL, *out = NULL, *sname = "SIT", *backend = "cpu", *v;
    int k = 8, seed = 1, exclude_self = 0;
    float wi = 1, wt = 1;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (arg_is_help(argv[i])) {
            retrieve_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--exclude-self") == 0) {
            exclude_self = 1;
        } else if ((r = arg_value(argc, argv, &i, "--queries", &qpath)) ||
                   (r = arg_value(argc, argv, &i, "--pool", &ppath)) ||
                   (r = arg_value(argc, argv, &i, "--out", &out)) ||
                   (r = arg_value(argc, argv, &i, "--strategy", &sname)) ||
                   (r = arg_value(argc, argv, &i, "--backend", &backend))) {
            if (r < 0) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--k", &v))) {
            if (r < 0 || arg_int("--k", v, 1, 100000, &k)) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--seed", &v))) {
            if (r < 0 || arg_int("--seed", v, 0, 2147483647, &seed)) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--w-image", &v))) {
            /* retrieval.w_image's range (docs/CONFIG.md) */
            if (r < 0 || arg_float("--w-image", v, 0, 1000, &wi)) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--w-text", &v))) {
            if (r < 0 || arg_float("--w-text", v, 0, 1000, &wt)) return 2;
        } else {
            fprintf(stderr, "drum retrieve: unexpected argument '%s'\n", argv[i]);
            retrieve_usage(stderr);
            return 2;
        }
    }
    drum_strategy s;
    if (!qpath || !ppath || !out) {
        retrieve_usage(stderr);
        return 2;
    }
    if (drum_strategy_parse(sname, &s)) {
        fprintf(stderr, "drum retrieve: unknown strategy '%s'\n", sname);
        return 2;
    }
    if (s == DRUM_STRATEGY_DRUM) s = DRUM_STRATEGY_SIT;
    if (wi == 0 && wt == 0) {
        fprintf(stderr, "drum retrieve: --w-image and --w-text may not both be 0\n");
        return 2;
    }
    char err[1024];
    int rc = 1, *idx = NULL, *ex = NULL;
    float *sim = NULL;
    drum_embeddings q = {0}, p = {0};
    drum_backend *be = drum_backend_create(backend, err, sizeof err);
    if (!be || drum_embeddings_load(&q, qpath, err, sizeof err) ||
        drum_embeddings_load(&p, ppath, err, sizeof err))
        goto fail;
    idx = malloc((size_t)q.n * k * sizeof(int) + 1);
    sim = malloc((size_t)q.n * k * sizeof(float) + 1);
    ex = malloc((size_t)q.n * sizeof(int) + 1);
    if (!idx || !sim || !ex) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (exclude_self && self_rows(&q, &p, ex)) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    drum_retrieval_opts o = {s, wi, wt, (uint64_t)seed, 0};
    if (drum_retrieve(be, &q, &p, &o, exclude_self ? ex : NULL, k, idx, sim, err, sizeof err))
        goto fail;
    char *tmp = NULL;
    FILE *f = drum_atomic_open(out, &tmp, err, sizeof err);
    if (!f) goto fail;
    for (int i = 0; i < q.n; i++) {
        fprintf(f, "{\"id\": ");
        drum_json_write_string(f, q.ids[i]);
        fprintf(f, ", \"demos\": [");
        for (int j = 0; j < k; j++) {
            if (j) fprintf(f, ", ");
            drum_json_write_string(f, p.ids[idx[(size_t)i * k + j]]);
        }
        fprintf(f, "], \"sims\": [");
        for (int j = 0; j < k; j++) fprintf(f, "%s%.6f", j ? ", " : "", sim[(size_t)i * k + j]);
        fprintf(f, "]}\n");
    }
    if (drum_atomic_commit(f, tmp, out, err, sizeof err)) goto fail;
    printf("retrieved %d x %d (%s) into %s\n", q.n, k, drum_strategy_name(s), out);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "drum retrieve: %s\n", err);
out:
    drum_embeddings_free(&q);
    drum_embeddings_free(&p);
    free(idx);
    free(sim);
    free(ex);
    drum_backend_destroy(be);
    return rc;
}

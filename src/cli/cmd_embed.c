/* cmd_embed.c — `drum embed`: a JSONL dataset -> an embedding file (retrieval.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "drum/config.h"
#include "drum/backend.h"
#include "drum/clip_io.h"
#include "drum/clip_model.h"
#include "drum/fileio.h"
#include "drum/prepare.h"
#include "drum/safetensors.h"
#include "drum/trainer.h"
#include "progress_line.h"

static void embed_usage(FILE *f) {
    fprintf(f,
            "usage: drum embed --data FILE.jsonl --model DIR --out FILE.emb [options]\n"
            "\n"
            "  --model DIR        a Hugging Face CLIP checkpoint: config.json, model.safetensors\n"
            "  --tokenizer DIR    vocab.json + merges.txt (default: the model directory)\n"
            "  --text TEMPLATE    text fields over {P} prompt, {R} response, {D} draft\n"
            "                     (default \"{P} {R}\")\n"
            "  --drafts FILE      the drafts {D} names: a run directory's drafts.jsonl\n"
            "  --text-length L    context (default: every text at the model's context) or\n"
            "                     longest (rows cut to the longest text: faster, the same\n"
            "                     features to rounding)\n"
            "  --no-image         leave image embeddings out of the file\n"
            "  --no-text          leave text embeddings out of the file\n"
            "  --backend NAME     cpu (default) or cuda\n"
            "  --batch N          examples per forward (default 64)\n");
}

/* Data parallel: this rank embeds its slice `mine` (rows lo.. of ds, prepared in prep)
 * and every rank's rows are gathered into *e, which takes ds's ids. */
static int embed_slices(drum_comm *comm, drum_clip_model *m, const drum_prepared *prep,
                        const drum_dataset *ds, const drum_dataset *mine, long lo, int batch,
                        drum_embeddings *e, char *err, size_t errlen) {
    int D = m->cfg.projection_dim;
    drum_embeddings part = {0};
    if (mine->n > 0 &&
        drum_embed_prepared(NULL, m, prep, mine, 0, batch, NULL, &part, err, errlen))
        return -1;
    int rc = drum_embeddings_alloc(e, ds->n, D, D, err, errlen);
    for (int i = 0; i < ds->n && rc == 0; i++)
        if (!(e->ids[i] = strdup(ds->ex[i].id))) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    if (rc == 0 && mine->n > 0) {
        memcpy(e->img + lo * D, part.img, (size_t)mine->n * D * sizeof(float));
        memcpy(e->txt + lo * D, part.txt, (size_t)mine->n * D * sizeof(float));
    }
    if (rc == 0) rc = drum_embeddings_gather(comm, e, err, errlen);
    drum_embeddings_free(&part);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    const char *data = NULL, *model_dir = NULL, *tok_dir = NULL, *out = NULL, *text = "{P} {R}";
    const char *drafts_path = NULL, *text_length = "context";
    const char *backend = "cpu", *v;
    int no_image = 0, no_text = 0, batch = 64;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (arg_is_help(argv[i])) {
            embed_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--no-image") == 0) {
            no_image = 1;
        } else if (strcmp(argv[i], "--no-text") == 0) {
            no_text = 1;
        } else if ((r = arg_value(argc, argv, &i, "--data", &data)) ||
                   (r = arg_value(argc, argv, &i, "--model", &model_dir)) ||
                   (r = arg_value(argc, argv, &i, "--tokenizer", &tok_dir)) ||
                   (r = arg_value(argc, argv, &i, "--out", &out)) ||
                   (r = arg_value(argc, argv, &i, "--text", &text)) ||
                   (r = arg_value(argc, argv, &i, "--drafts", &drafts_path)) ||
                   (r = arg_value(argc, argv, &i, "--text-length", &text_length)) ||
                   (r = arg_value(argc, argv, &i, "--backend", &backend))) {
            if (r < 0) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--batch", &v))) {
            if (r < 0 || arg_int("--batch", v, 1, 65536, &batch)) return 2;
        } else {
            fprintf(stderr, "drum embed: unexpected argument '%s'\n", argv[i]);
            embed_usage(stderr);
            return 2;
        }
    }
    if (!data || !model_dir || !out || (no_image && no_text)) {
        embed_usage(stderr);
        return 2;
    }
    int longest = strcmp(text_length, "longest") == 0;
    if (!longest && strcmp(text_length, "context") != 0) {
        fprintf(stderr, "drum embed: --text-length '%s': expected context or longest\n",
                text_length);
        return 2;
    }
    char terr[256];
    if (drum_text_template_check(text, "PRD", terr, sizeof terr)) { /* before any image */
        fprintf(stderr, "drum embed: --text '%s': %s\n", text, terr);
        return 2;
    }
    if (strstr(text, "{D}") && !drafts_path) {
        fprintf(stderr, "drum embed: --text '%s' uses {D}: give the drafts with --drafts FILE\n",
                text);
        return 2;
    }
    if (!tok_dir) tok_dir = model_dir;
    char err[2048];
    int rc = 1;
    drum_comm *comm = NULL;
    drum_dataset ds = {0};
    drum_tokenizer *tok = NULL;
    drum_clip_config cfg;
    drum_clip_params params = {0};
    drum_clip_model *m = NULL;
    drum_prepared prep = {0};
    drum_embeddings e = {0};
    float *host = NULL;
    char **drafts = NULL;
    char *cfg_path = drum_path_join(model_dir, "config.json");
    char *w_path = drum_path_join(model_dir, "model.safetensors");
    drum_backend *be = NULL;
    if (cli_open_comm(&comm, err, sizeof err)) goto fail;
    be = drum_backend_create(backend, err, sizeof err);
    if (be && (!cfg_path || !w_path)) snprintf(err, sizeof err, "out of memory");
    if (!be || !cfg_path || !w_path) goto fail;
    if (drum_dataset_load(&ds, data, err, sizeof err) ||
        drum_tokenizer_load(tok_dir, &tok, err, sizeof err) ||
        drum_clip_config_load(&cfg, cfg_path, err, sizeof err) ||
        drum_clip_params_build(&params, &cfg, err, sizeof err) ||
        (drafts_path && drum_drafts_load(&ds, drafts_path, &drafts, err, sizeof err)))
        goto fail;
    host = malloc(params.total * sizeof(float));
    if (!host) {
        snprintf(err, sizeof err, "out of memory for %zu parameters", params.total);
        goto fail;
    }
    if (drum_clip_load_safetensors(&params, host, w_path, err, sizeof err)) goto fail;
    m = drum_clip_model_create(be, &cfg, &params, batch, batch, 0, err, sizeof err);
    if (!m) goto fail;
    if (drum_clip_model_upload(m, host)) {
        snprintf(err, sizeof err, "%s", be->err);
        goto fail;
    }
    /* several ranks (mpirun): each decodes and embeds its slice, rank 0 writes them all */
    long lo, hi;
    drum_comm_slice(ds.n, comm->rank, comm->size, &lo, &hi);
    drum_dataset mine = {ds.path, ds.ex + lo, (int)(hi - lo), NULL};
    cli_progress pl;
    drum_progress progress;
    cli_progress_init(&pl, &progress);
    drum_prepare_opts po = drum_prepare_opts_for(&cfg, text, NULL);
    po.longest = longest;
    po.progress = comm->rank == 0 ? &progress : NULL; /* rank 0's slice stands for all */
    if (drum_prepare(&prep, &mine, drafts ? drafts + lo : NULL, tok, &po, err, sizeof err))
        goto fail;
    if (comm->size == 1) {
        if (drum_embed_prepared(NULL, m, &prep, &ds, 0, batch, &progress, &e, err, sizeof err))
            goto fail;
    } else if (embed_slices(comm, m, &prep, &ds, &mine, lo, batch, &e, err, sizeof err)) {
        goto fail;
    }
    if (no_image) {
        free(e.img);
        e.img = NULL;
        e.dim_img = 0;
    }
    if (no_text) {
        free(e.txt);
        e.txt = NULL;
        e.dim_txt = 0;
    }
    if (comm->rank == 0) {
        if (drum_embeddings_save(&e, out, err, sizeof err)) goto fail;
        printf("embedded %d examples of %s into %s (image dim %d, text dim %d, %s%s)\n", e.n,
               data, out, e.dim_img, e.dim_txt, be->name, comm->size > 1 ? ", several ranks" : "");
    }
    rc = 0;
    goto out;
fail:
    cli_fail_ranks(comm, "drum embed", err);
    fprintf(stderr, "drum embed: %s\n", err);
out:
    drum_embeddings_free(&e);
    drum_prepared_free(&prep);
    drum_clip_model_free(m);
    drum_clip_params_free(&params);
    drum_tokenizer_free(tok);
    for (int i = 0; drafts && i < ds.n; i++) free(drafts[i]);
    free(drafts);
    drum_dataset_free(&ds);
    drum_backend_destroy(be);
    free(host);
    free(cfg_path);
    free(w_path);
    if (comm) comm->destroy(comm);
    return rc;
}

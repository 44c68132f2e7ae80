/* cmd_export.c — `drum export`: a training checkpoint's weights as a Hugging Face
 * checkpoint (config.json + model.safetensors) that CLIPModel.from_pretrained loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "drum/clip_io.h"
#include "drum/fileio.h"
#include "drum/tokenizer.h"
#include "drum/trainer.h"

int cmd_export(int argc, char **argv) {
    const char *ckpt = NULL, *like = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (arg_is_help(argv[i])) {
            printf("usage: drum export --checkpoint RUN/train.ckpt --config CONFIG.json --out DIR\n\n"
                   "CONFIG.json is the retriever's Hugging Face config (e.g. RUN/clip0/config.json);\n"
                   "the tokenizer files beside it (vocab.json, merges.txt, tokenizer_config.json)\n"
                   "are copied to DIR with the weights.\n"
                   "After each round, drum train also writes RUN/round<r>/ in this format.\n");
            return 0;
        } else if ((r = arg_value(argc, argv, &i, "--checkpoint", &ckpt)) ||
                   (r = arg_value(argc, argv, &i, "--config", &like)) ||
                   (r = arg_value(argc, argv, &i, "--out", &out))) {
            if (r < 0) return 2;
        } else {
            fprintf(stderr, "drum export: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!ckpt || !like || !out) {
        fprintf(stderr, "usage: drum export --checkpoint RUN/train.ckpt --config CONFIG.json --out DIR\n");
        return 2;
    }
    char err[1024];
    drum_clip_config cfg;
    drum_clip_params p = {0};
    float *host = NULL;
    int rc = 1;
    if (drum_clip_config_load(&cfg, like, err, sizeof err) ||
        drum_clip_params_build(&p, &cfg, err, sizeof err))
        goto fail;
    host = malloc(p.total * sizeof(float));
    if (!host) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (drum_checkpoint_read_params(ckpt, p.total, host, err, sizeof err) ||
        drum_mkdirs(out, err, sizeof err))
        goto fail;
    /* the tokenizer beside the config travels with the weights (drum train's round<r>/ and
     * clip0/ hold it), copied first: config.json, which the export writes last, says that the
     * directory is whole */
    char *tok_dir = drum_path_dir(like);
    char *vocab = tok_dir ? drum_path_join(tok_dir, "vocab.json") : NULL;
    int copied = vocab && drum_file_exists(vocab);
    if (!vocab) snprintf(err, sizeof err, "out of memory");
    int bad = !vocab || (copied && drum_tokenizer_copy_files(tok_dir, out, err, sizeof err));
    free(tok_dir);
    free(vocab);
    if (bad || drum_clip_export(&cfg, &p, host, out, err, sizeof err)) goto fail;
    printf("exported %zu parameters from %s to %s%s\n", p.total, ckpt, out,
           copied ? ", with the tokenizer files beside the config" : "");
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "drum export: %s\n", err);
done:
    free(host);
    drum_clip_params_free(&p);
    return rc;
}

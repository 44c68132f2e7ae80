/* cmd_synth.c — `drum synth OUTDIR`: the demo benchmark generator. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "drum/fileio.h"
#include "drum/synth.h"
#include "progress_line.h"

#define USAGE                                                                              \
    "usage: drum synth OUTDIR [--seed N] [--image-size N] [--layout free|grid]\n"            \
    "                         [--n-pretrain N] [--shape-captions F]\n"                       \
    "                         [--classification claim|shape]\n"

int cmd_synth(int argc, char **argv) {
    drum_synth_config c;
    drum_synth_default_config(&c);
    const char *out = NULL, *v;
    for (int i = 1; i < argc; i++) {
        int r;
        unsigned long long seed;
        if (arg_is_help(argv[i])) {
            printf("%s\n"
                   "Writes a synthetic suite (docs/SIMULATOR.md): images/, train.jsonl,\n"
                   "eval.jsonl, meta.jsonl, captions.jsonl, vocab.json, merges.txt and, last,\n"
                   "synth.json (its settings). Its sizes are the generator's own: 1200 train\n"
                   "and 300 eval examples (60%% VQA, 20%% classification, 20%% captions) of\n"
                   "64 px, not the synth.* defaults of docs/CONFIG.md; give a job its files\n"
                   "as data.train and data.eval (a job's data.dir holds the suite its synth.*\n"
                   "settings make, and refuses one made with others).\n"
                   "--layout grid centres objects in a 5 x 5 grid's cells; --n-pretrain adds\n"
                   "caption-only images; --shape-captions F makes that fraction of their\n"
                   "captions name only shapes; --classification shape asks for the large\n"
                   "object's shape instead of whether a claim about its colour is true\n"
                   "(docs/CONFIG.md, synth.*).\n", USAGE);
            return 0;
        }
        if ((r = arg_value(argc, argv, &i, "--seed", &v))) {
            if (r < 0 || arg_u64("--seed", v, &seed)) return 2; /* synth.seed's range */
            c.seed = (uint64_t)seed;
        } else if ((r = arg_value(argc, argv, &i, "--image-size", &v))) {
            if (r < 0 || arg_int("--image-size", v, 16, 512, &c.image_size)) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--n-pretrain", &v))) {
            if (r < 0 || arg_int("--n-pretrain", v, 0, 1000000, &c.n_pretrain)) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--shape-captions", &v))) {
            if (r < 0 || arg_float("--shape-captions", v, 0, 1, &c.shape_captions)) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--layout", &v))) {
            if (r < 0 || arg_either("--layout", v, "free", "grid", &c.grid)) return 2;
        } else if ((r = arg_value(argc, argv, &i, "--classification", &v))) {
            int shape;
            if (r < 0 || arg_either("--classification", v, "claim", "shape", &shape)) return 2;
            c.classification = shape ? DRUM_SYNTH_SHAPE : DRUM_SYNTH_CLAIM;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "drum synth: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (arg_positional("DIR", argv[i], &out)) {
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "%s", USAGE);
        return 2;
    }
    char err[1024];
    cli_progress pl;
    drum_progress progress = {0};
    cli_progress_init(&pl, &progress); /* images made, rate and ETA */
    if (drum_mkdirs(out, err, sizeof err) ||
        drum_synth_generate(&c, out, &progress, err, sizeof err)) {
        fprintf(stderr, "drum synth: %s\n", err);
        return 1;
    }
    printf("wrote the synthetic suite to %s\n", out);
    return 0;
}

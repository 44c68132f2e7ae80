/* cmd_convert.c — `drum convert FORMAT`: a benchmark's native annotations -> drum JSONL
 * (convert.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "drum/convert.h"
#include "drum/data.h"

static void convert_usage(FILE *f) {
    fprintf(f,
            "usage: drum convert vqa --questions Q.json --annotations A.json --images DIR\n"
            "                        --image-pattern PATTERN --out FILE.jsonl [--split NAME]\n"
            "                        [--prompt TEMPLATE]\n"
            "       drum convert karpathy --karpathy dataset_coco.json --images DIR\n"
            "                        --split train|restval|val|test[,...] --out FILE.jsonl\n"
            "                        [--prompt TEXT]\n"
            "       drum convert folders --images DIR [--classes MAP.txt] --out FILE.jsonl\n"
            "                        [--split NAME] [--prompt TEXT]\n"
            "       drum convert hateful-memes --jsonl FILE --images DIR --out FILE.jsonl\n"
            "                        [--split NAME]\n"
            "\n"
            "  vqa       VQAv2, OK-VQA and the VQA-format TextVQA/VizWiz files: questions and\n"
            "            annotations pair by position; response = the first answer, answers =\n"
            "            all of them. PATTERN names an image from its id: {id} as written, or\n"
            "            {id:0Nd} zero-padded, e.g. COCO_val2014_{id:012d}.jpg; the prompt is\n"
            "            the question, or TEMPLATE with each {question} replaced by it, e.g.\n"
            "            \"{question} Answer the question using a single word or phrase.\"\n"
            "  karpathy  COCO / Flickr30K caption splits (Karpathy's JSON): one example per\n"
            "            image of --split (OpenFlamingo: demonstrations from train, restval\n"
            "            left out; evaluation on test); response = the first reference;\n"
            "            prompt = TEXT, empty without --prompt\n"
            "  folders   image classification stored one sub-folder per class (ImageNet's\n"
            "            layout); response = the class: the folder's name, or its name in\n"
            "            MAP.txt, lines \"<folder> <class name>\" (e.g. LOC_synset_mapping.txt);\n"
            "            prompt = TEXT, empty without --prompt\n"
            "  hateful-memes  Hateful Memes JSON lines (train.jsonl, dev_seen.jsonl, ...):\n"
            "            {id, img, label, text}; image = DIR/img (DIR holds img/), prompt =\n"
            "            \"is an image with: '<text>' written on it. Is it hateful?\", response\n"
            "            = yes (label 1) or no (label 0), task binary; a line without a label\n"
            "            (test.jsonl) is an error\n"
            "\n"
            "Image paths are written relative to the output file; images are not opened.\n");
}

int cmd_convert(int argc, char **argv) {
    if (argc < 2 || arg_is_help(argv[1])) {
        convert_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *format = argv[1], *questions = NULL, *annotations = NULL, *karpathy = NULL;
    const char *images = NULL, *pattern = NULL, *out = NULL, *split = NULL, *prompt = NULL;
    const char *classes = NULL, *jsonl = NULL;
    int vqa = strcmp(format, "vqa") == 0, folders = strcmp(format, "folders") == 0;
    int hateful = strcmp(format, "hateful-memes") == 0;
    if (!vqa && !folders && !hateful && strcmp(format, "karpathy") != 0) {
        fprintf(stderr,
                "drum convert: unknown format '%s' (expected vqa, karpathy, folders or "
                "hateful-memes)\n",
                format);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        int r = 0;
        if (arg_is_help(argv[i])) {
            convert_usage(stdout);
            return 0;
        } else if ((r = arg_value(argc, argv, &i, "--questions", &questions)) ||
                   (r = arg_value(argc, argv, &i, "--annotations", &annotations)) ||
                   (r = arg_value(argc, argv, &i, "--karpathy", &karpathy)) ||
                   (r = arg_value(argc, argv, &i, "--images", &images)) ||
                   (r = arg_value(argc, argv, &i, "--image-pattern", &pattern)) ||
                   (r = arg_value(argc, argv, &i, "--split", &split)) ||
                   (r = arg_value(argc, argv, &i, "--prompt", &prompt)) ||
                   (r = arg_value(argc, argv, &i, "--classes", &classes)) ||
                   (r = arg_value(argc, argv, &i, "--jsonl", &jsonl)) ||
                   (r = arg_value(argc, argv, &i, "--out", &out))) {
            if (r < 0) return 2;
        } else {
            fprintf(stderr, "drum convert: unexpected argument '%s'\n", argv[i]);
            convert_usage(stderr);
            return 2;
        }
    }
    /* an option the format does not take is an error, not dropped (a --prompt for
     * hateful-memes would leave the built-in prompt, and say nothing) */
    const struct {
        const char *name, *value, *formats;
    } given[] = {{"--questions", questions, "v"}, {"--annotations", annotations, "v"},
                 {"--image-pattern", pattern, "v"}, {"--karpathy", karpathy, "k"},
                 {"--classes", classes, "f"},     {"--jsonl", jsonl, "h"},
                 {"--prompt", prompt, "vkf"},     {"--split", split, "vkfh"}};
    char kind = vqa ? 'v' : folders ? 'f' : hateful ? 'h' : 'k';
    for (size_t g = 0; g < sizeof given / sizeof given[0]; g++)
        if (given[g].value && !strchr(given[g].formats, kind)) {
            fprintf(stderr, "drum convert %s: %s is not an option of this format\n", format,
                    given[g].name);
            convert_usage(stderr);
            return 2;
        }
    const char *missing = !out ? "--out" : !images ? "--images" : NULL;
    if (!missing && vqa)
        missing = !questions ? "--questions" : !annotations ? "--annotations"
                  : !pattern ? "--image-pattern" : NULL;
    if (!missing && hateful) missing = !jsonl ? "--jsonl" : NULL;
    if (!missing && !vqa && !folders && !hateful)
        missing = !karpathy ? "--karpathy" : !split ? "--split" : NULL;
    if (missing) {
        fprintf(stderr, "drum convert %s: %s is required\n", format, missing);
        convert_usage(stderr);
        return 2;
    }
    char err[2048];
    if (vqa && drum_image_pattern_check(pattern, err, sizeof err)) {
        fprintf(stderr, "drum convert vqa: %s\n", err);
        return 2;
    }
    drum_dataset ds;
    int rc = 0;
    if (vqa) {
        drum_vqa_source src = {questions, annotations, images, pattern, split, prompt};
        rc = drum_convert_vqa(&src, &ds, err, sizeof err);
    } else if (folders) {
        drum_folders_source src = {images, classes, split, prompt};
        rc = drum_convert_folders(&src, &ds, err, sizeof err);
    } else if (hateful) {
        drum_hateful_memes_source src = {jsonl, images, split};
        rc = drum_convert_hateful_memes(&src, &ds, err, sizeof err);
    } else {
        drum_karpathy_source src = {karpathy, images, split, prompt};
        rc = drum_convert_karpathy(&src, &ds, err, sizeof err);
    }
    if (rc == 0) rc = drum_dataset_save(&ds, out, NULL, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "drum convert %s: %s\n", format, err);
        drum_dataset_free(&ds);
        return 1;
    }
    printf("wrote %d examples to %s\n", ds.n, out);
    drum_dataset_free(&ds);
    return 0;
}

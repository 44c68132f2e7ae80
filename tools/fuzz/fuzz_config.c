/* fuzz_config — a job config (YAML) through the strict loader and the cross-field checks;
 * and for every config accepted, the round trip a run directory's config.yaml depends on:
 * drum_cfg_write's text loads back to a config equal in every field (drum_cfg_diff) that
 * writes the same text. */
#include <stdio.h>
#include <string.h>

#include "drum/config.h"
#include "fuzz_common.h"

static char *written(const drum_job_config *c, size_t *len) {
    char *text = drum_cfg_write_string(drum_job_config_schema, c);
    if (!text) abort();
    *len = strlen(text);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    drum_job_config cfg, back;
    char err[1024], diff[2048];
    if (drum_job_config_init(&cfg, err, sizeof err)) abort();
    if (drum_cfg_load_string(drum_job_config_schema, &cfg, "fuzz.yaml", (const char *)data, size,
                             err, sizeof err) == 0 &&
        drum_job_config_finish(&cfg, err, sizeof err) == 0) {
        size_t n1, n2;
        char *t1 = written(&cfg, &n1);
        if (drum_job_config_init(&back, err, sizeof err)) abort();
        if (drum_cfg_load_string(drum_job_config_schema, &back, "written.yaml", t1, n1, err,
                                 sizeof err) != 0) {
            fprintf(stderr, "the written config does not load: %s\n%s", err, t1);
            abort();
        }
        if (drum_cfg_diff(drum_job_config_schema, &cfg, &back, NULL, diff, sizeof diff) != 0) {
            fprintf(stderr, "the written config loads back different: %s\n", diff);
            abort();
        }
        char *t2 = written(&back, &n2);
        if (n1 != n2 || memcmp(t1, t2, n1) != 0) {
            fprintf(stderr, "write -> load -> write changed the text:\n%s---\n%s", t1, t2);
            abort();
        }
        free(t1);
        free(t2);
        drum_job_config_free(&back);
    }
    drum_job_config_free(&cfg);
    return 0;
}

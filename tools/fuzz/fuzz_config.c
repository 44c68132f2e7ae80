/* fuzz_config — a job config (YAML) through the strict loader and the cross-field checks. */
#include "drum/config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    drum_job_config cfg;
    char err[1024];
    if (drum_job_config_init(&cfg, err, sizeof err)) abort();
    if (drum_cfg_load_string(drum_job_config_schema, &cfg, "fuzz.yaml", (const char *)data, size,
                             err, sizeof err) == 0)
        drum_job_config_finish(&cfg, err, sizeof err);
    drum_job_config_free(&cfg);
    return 0;
}

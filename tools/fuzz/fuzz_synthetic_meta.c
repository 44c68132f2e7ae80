/* fuzz_synthetic_meta — the simulated LVLM's meta.jsonl (synthetic_lvlm.h): open it and, when
 * it loads, score, generate and rank over the first examples it names, so every rule runs on
 * whatever hidden attributes the file claims (a focus, a claim, an exists question, ...). */
#include <cjson/cJSON.h>

#include "drum/synthetic_lvlm.h"
#include "fuzz_common.h"

enum { N = 6 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".jsonl");
    drum_synthetic_config cfg;
    drum_synthetic_default_config(&cfg);
    drum_scorer *s = NULL;
    char err[1024];
    if (drum_synthetic_open(&s, path, &cfg, err, sizeof err) != 0) return 0;
    /* the examples: ids and tasks as the file gives them, a response per task */
    char *text = fuzz_text(data, size);
    drum_example ex[N];
    char ids[N][64], tasks[N][16];
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < N; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *task = cJSON_GetObjectItemCaseSensitive(o, "task");
        if (cJSON_IsString(id) && cJSON_IsString(task) && strlen(id->valuestring) < 64 &&
            strlen(task->valuestring) < 16) {
            snprintf(ids[n], sizeof ids[n], "%s", id->valuestring);
            snprintf(tasks[n], sizeof tasks[n], "%s", task->valuestring);
            static const char *const responses[] = {"true", "circle", "a red star.", "2"};
            ex[n] = (drum_example){.id = ids[n], .task = tasks[n], .prompt = "p",
                                   .response = (char *)responses[n % 4]};
            n++;
        }
        cJSON_Delete(o);
    }
    free(text);
    for (int i = 0; i < n; i++) {
        drum_score_pair pairs[N];
        double scores[N];
        for (int j = 0; j < n; j++) pairs[j] = (drum_score_pair){&ex[i], &ex[j]};
        s->score(s, pairs, n, scores, err, sizeof err);
        const drum_example *demos[N];
        for (int j = 0; j < n; j++) demos[j] = &ex[(i + j + 1) % n];
        for (int k = 0; k <= n; k++) {
            drum_icl_prompt p = {&ex[i], demos, k};
            char *answer = NULL;
            if (s->generate(s, &p, 1, &answer, err, sizeof err) == 0) free(answer);
            const char *choices[3] = {"true", "circle", "nonsense"};
            double ll[3];
            s->rank(s, &p, 1, choices, 3, ll, err, sizeof err);
        }
    }
    drum_scorer_destroy(s);
    return 0;
}

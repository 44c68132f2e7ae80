/* test_ops — every op of the table on every backend (see tests/ops/harness.h).
 * Usage: test_ops [--skip S]... [substring]   runs only the cases whose name contains the
 * substring and none of the S (gpu_check's memcheck skips "/long": the O(L^2) ListMLE rows
 * take minutes under compute-sanitizer).
 * DRUM_TEST_SEED=N replays a run's random data. */
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "ops/harness.h"

#define CASES(name) extern const op_case_list cases_##name;
#define OP_FILES(X)                                                                            \
    X(matmul) X(layernorm) X(act) X(residual) X(embedding) X(positions) X(patchify)           \
    X(attention) X(pool) X(l2norm) X(concat) X(similarity) X(softmax_xent) X(listwise)        \
    X(adamw) X(grad_utils) X(topk)
OP_FILES(CASES)
#define LIST(name) &cases_##name,
static const op_case_list *const all_lists[] = {OP_FILES(LIST)};

int main(int argc, char **argv) {
    const char *filter = NULL, *skip[8];
    int nskip = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--skip") == 0 && a + 1 < argc && nskip < 8)
            skip[nskip++] = argv[++a];
        else if (!filter && argv[a][0] != '-')
            filter = argv[a];
        else {
            fprintf(stderr, "usage: test_ops [--skip SUBSTRING]... [SUBSTRING]\n");
            return 2;
        }
    }
    unsigned long long seed = test_seed();
    char err[512];
    drum_backend *cpu = drum_backend_create("cpu", err, sizeof err);
    if (!cpu) {
        fprintf(stderr, "cpu backend: %s\n", err);
        return 1;
    }
    drum_backend *cuda = drum_backend_create("cuda", err, sizeof err);
    if (!cuda) printf("cuda cases skipped: %s\n", err);

    unsigned long long case_seed = seed;
    for (size_t l = 0; l < sizeof all_lists / sizeof all_lists[0]; l++) {
        /* the ops whose cpu code is a cblas_sgemm (kernels/cpu/matmul.c, similarity.c) */
        int blas = all_lists[l] == &cases_matmul || all_lists[l] == &cases_similarity;
        for (int i = 0; i < all_lists[l]->n; i++) {
            const op_case *oc = &all_lists[l]->cases[i];
            case_seed = case_seed * 6364136223846793005ULL + 1442695040888963407ULL;
            if (filter && !strstr(oc->name, filter)) continue;
            int skipped = 0;
            for (int k = 0; k < nskip; k++) skipped |= strstr(oc->name, skip[k]) != NULL;
            if (skipped) continue;
            harness_run(oc, cpu, cpu, blas, case_seed);
            if (cuda)
                harness_run(oc, cuda, cpu, blas, case_seed);
            else
                check_skipped++;
        }
    }
    drum_backend_destroy(cuda);
    drum_backend_destroy(cpu);
    return check_summary();
}

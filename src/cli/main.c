/* main.c — the drum command line: a thin layer over libdrum. Only this layer prints
 * and exits; library calls return a status and a message. */
#include <stdio.h>
#include <string.h>

#include "drum/drum.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: drum <command> [options]\n"
            "\n"
            "commands:\n"
            "  backends     list the compute backends and whether each can run here\n"
            "\n"
            "options:\n"
            "  --version    print the version and the compiled backends\n"
            "  --help       this text\n");
}

static int cmd_backends(void) {
    const char *names[] = {"cpu", "cuda"};
    int ok_any = 0;
    for (int i = 0; i < 2; i++) {
        char err[512];
        drum_backend *be = drum_backend_create(names[i], err, sizeof err);
        if (be) {
            printf("%-5s available\n", names[i]);
            drum_backend_destroy(be);
            ok_any = 1;
        } else {
            printf("%-5s unavailable: %s\n", names[i], err);
        }
    }
    return ok_any ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("drum %s (backends: cpu%s)\n", DRUM_VERSION,
               drum_backend_cuda_compiled() ? ", cuda" : "");
        return 0;
    }
    if (strcmp(argv[1], "backends") == 0) return cmd_backends();
    fprintf(stderr, "drum: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

/* main.c — the drum command line: a thin layer over libdrum. Only this layer prints
 * and exits; library calls return a status and a message. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "drum/comm.h"
#include "drum/drum.h"
#include "drum/trace.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: drum <command> [options]\n"
            "\n"
            "commands:\n"
            "  demo [CONFIG]       the whole method on the built-in demo benchmark: generate the\n"
            "                      suite, pre-train a tiny CLIP, baselines, DRUM rounds, table\n"
            "                      (CONFIG defaults to experiments/demo.yaml)\n"
            "  train CONFIG        DRUM's mining rounds and list-wise training (--resume)\n"
            "  eval CONFIG         k-shot evaluation of the configured strategies\n"
            "  mine CONFIG         round 0's candidate mining alone: top-K retrieval + LVLM scores\n"
            "  synth OUTDIR        write the synthetic suite (images, JSONL, tokenizer files)\n"
            "  embed               embed a JSONL dataset with a CLIP checkpoint\n"
            "  retrieve            top-k demonstrations for queries from embedding files\n"
            "  export              a training checkpoint's weights as HF config + safetensors\n"
            "  convert FORMAT      a benchmark's files (vqa, karpathy, folders, hateful-memes) as\n"
            "                      JSONL\n"
            "  backends            list the compute backends and whether each can run here\n"
            "\n"
            "Every command takes --help. Config commands take --set key=value overrides\n"
            "(e.g. --set backend=cuda --set train.rounds=2).\n"
            "\n"
            "options:\n"
            "  --version    print the version and the compiled backends\n"
            "  --help       this text\n"
            "\n"
            "environment:\n"
            "  DRUM_COMM      data parallel: unset (follow mpirun/mpiexec), single, mpi, or\n"
            "                 nccl (MPI for the host, NCCL for the gradients on GPUs)\n"
            "  DRUM_NCCL_LIB  libnccl.so.2's file, when the loader does not find it\n"
            "  DRUM_PROFILE   set (not 0): a table of wall time per stage when a command\n"
            "                 ends, on stderr (include/drum/trace.h; on cuda only `train\n"
            "                 step` is whole)\n"
            "  DRUM_SHARE     0: each rank keeps its own copy of the decoded images (by\n"
            "                 default the ranks of a node share one)\n"
            "  OPENBLAS_CORETYPE\n"
            "                 OpenBLAS's kernels for the cpu backend (drum warns when\n"
            "                 OpenBLAS picked kernels older than the CPU, as under some VMs)\n");
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

static int dispatch(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0) {
        printf("drum %s (source %s; backends: cpu%s)\n", DRUM_VERSION, drum_source_revision(),
               drum_backend_cuda_compiled() ? ", cuda" : "");
        return 0;
    }
    /* under mpirun only the commands that split their work run: another would run N times
     * over the same output files */
    int parallel = !strcmp(cmd, "demo") || !strcmp(cmd, "train") || !strcmp(cmd, "eval") ||
                   !strcmp(cmd, "mine") || !strcmp(cmd, "embed");
    if (!parallel && cli_launched_ranks() > 1) {
        fprintf(stderr, "drum %s: started as one of %d processes, but only demo, train, eval, "
                "mine and embed run data-parallel: run it once (or set DRUM_COMM=single to run "
                "it in every process)\n", cmd, cli_launched_ranks());
        return 2;
    }
    if (strcmp(cmd, "backends") == 0) {
        if (argc > 2 && arg_is_help(argv[2])) {
            printf("usage: drum backends\n\nLists the backends this build has and whether each "
                   "can start here.\n");
            return 0;
        }
        if (argc > 2) {
            fprintf(stderr, "drum backends: unexpected argument '%s' (it takes none)\n", argv[2]);
            return 2;
        }
        return cmd_backends();
    }
    if (strcmp(cmd, "demo") == 0) return cmd_job(argc - 1, argv + 1, JOB_DEMO);
    if (strcmp(cmd, "train") == 0) return cmd_job(argc - 1, argv + 1, JOB_TRAIN);
    if (strcmp(cmd, "eval") == 0) return cmd_job(argc - 1, argv + 1, JOB_EVAL);
    if (strcmp(cmd, "mine") == 0) return cmd_job(argc - 1, argv + 1, JOB_MINE);
    if (strcmp(cmd, "synth") == 0) return cmd_synth(argc - 1, argv + 1);
    if (strcmp(cmd, "embed") == 0) return cmd_embed(argc - 1, argv + 1);
    if (strcmp(cmd, "retrieve") == 0) return cmd_retrieve(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0) return cmd_export(argc - 1, argv + 1);
    if (strcmp(cmd, "convert") == 0) return cmd_convert(argc - 1, argv + 1);
    fprintf(stderr, "drum: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv) {
    /* a file-size limit (ulimit -f) makes a write fail with EFBIG, which drum reports with the
     * file's name (a checkpoint's previous version kept), rather than kill the process */
    signal(SIGXFSZ, SIG_IGN);
    int rc = dispatch(argc, argv);
    if (drum_trace_profiling()) {
        /* every rank of a data-parallel run prints its own table: say whose */
        if (drum_comm_launcher_rank() >= 0 && drum_comm_launcher_size() > 1)
            fprintf(stderr, "drum: rank %d of %d:\n", drum_comm_launcher_rank(),
                    drum_comm_launcher_size());
        drum_trace_report(stderr);
    }
    /* what drum printed (a job's table, --help) must reach its reader: `drum demo > log` on a
     * full disk fails here, where it ended with exit 0 and the output lost */
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "drum: writing standard output: %s\n",
                errno ? strerror(errno) : "a write failed");
        if (rc == 0) rc = 1;
    }
    return rc;
}

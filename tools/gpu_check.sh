#!/usr/bin/env bash
# gpu_check.sh — the device check, run from anywhere on a machine with an NVIDIA GPU:
#   1. make -j16 CUDA=1 (the CUDA backend must build),
#   2. build/tests/test_ops: every op case on cpu, then on cuda against cpu,
#   3. every other test binary (fixtures against PyTorch, cpu and cuda where they do both;
#      test_parallel: the nccl communicator on one GPU),
#   4. build/bench/bench_ops cuda: per-op timings against the copy and GEMM rooflines,
#   5. tools/gpu_check_clip.sh: CLIP parity on cuda, images/s of drum and of PyTorch
#      (transformers CLIPModel, fp32 and bf16 autocast) on the same configs, as ratios,
#   6. `drum demo --set backend=cuda` (the main job on the GPU), and on 2 MPI ranks where
#      mpirun is installed, then `drum mine` over a 30,000-example pool on cuda and on cpu,
#      and `drum train` with a retriever of ViT-B/32's shape (a hub-style config.json),
#   7. compute-sanitizer memcheck over build/tests/test_ops but its /long rows (if the tool
#      is there).
# A machine that cannot build drum (the lent GPU machines lack its Debian libraries) runs
# a build packed elsewhere by tools/gpu_pack.sh: with build/PREBUILT present, step 1 only
# checks that every executable finds its libraries (build/lib first).
# Full logs go to $GPU_CHECK_LOGS (default /tmp/gpu_check_logs) and, when $OUT is set, as
# one tarball plus the summary to $OUT; a summary table is printed last. Exits non-zero
# when any step fails, times out, or silently skips the GPU. The whole check is held to
# about 9 minutes (override with GPU_CHECK_BUDGET=seconds); GPU_CHECK_ONLY runs a subset
# (see want below).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
LOGDIR=${GPU_CHECK_LOGS:-/tmp/gpu_check_logs}
mkdir -p "$LOGDIR" || exit 2
BUDGET=${GPU_CHECK_BUDGET:-540}
START=$(date +%s)

names=()
results=()
secs=()
details=()
status=0

# seconds left of the budget, at most $1
time_left() {
  local left=$((BUDGET - ($(date +%s) - START)))
  [ "$left" -lt "$1" ] || left=$1
  [ "$left" -gt 5 ] || left=5
  echo "$left"
}

record() { # name result seconds detail
  names+=("$1"); results+=("$2"); secs+=("$3"); details+=("$4")
  [ "$2" = ok ] || [ "$2" = skipped ] || status=1
}

# GPU_CHECK_ONLY="test_image test_parallel": only the steps named (a test binary's name, or
# bench, clip, demo, mine, b32, l14, memcheck; the build step always runs; l14 runs only when
# named), e.g. to rerun within a lease
# what failed; mine needs demo's run
want() {
  [ -z "${GPU_CHECK_ONLY:-}" ] && return 0
  case " $GPU_CHECK_ONLY " in *" $1 "*) return 0 ;; esac
  return 1
}

# log_summary RANGES LINES LOG: a drum log's DRUM_PROFILE rows whose range matches
# ^(RANGES) as "range calls x total s;", then its lines matching the regex LINES (progress
# lines, results), spaces squeezed: a step's detail in the summary table
log_summary() {
  awk -v ranges="^($1) " -v lines="$2" '/^profile \(DRUM_PROFILE\)/ { p = 1 }
    p && $0 ~ ranges { name = substr($0, 1, 32); sub(/ +$/, "", name)
                       printf "%s %d x %.2fs; ", name, $(NF - 3), $(NF - 2) }
    $0 ~ lines { l = $0; gsub(/ +/, " ", l); printf "%s; ", l }' "$3"
}

# vit_step KIND NAME CAP SETS...: a suite, a hub-style config.json of KIND's shape (b32: ViT-B/32,
# l14: ViT-L/14; random weights, the suite's tokenizer beside it) in /tmp/gpu_check_KIND, then
# vit_run over them (pre-training from scratch at lr 1e-4)
vit_step() {
  local kind=$1 name=$2 cap=$3 dir=/tmp/gpu_check_$1
  shift 3
  rm -rf "$dir"
  mkdir -p "$dir/model" "$LOGDIR"
  if build/drum synth "$dir/data" --image-size 64 >"$LOGDIR/gpu_check_$kind.log" 2>&1 &&
     cp "$dir/data/vocab.json" "$dir/data/merges.txt" "$dir/model/" &&
     python3 - "$dir/model" "$kind" >>"$LOGDIR/gpu_check_$kind.log" 2>&1 <<'PY'
import json, sys
d, kind = sys.argv[1], sys.argv[2]
vocab = len(json.load(open(d + "/vocab.json")))
# (hidden, heads, intermediate, layers) of the text and vision towers, patch, projection
t, v, patch, proj = {"b32": ((512, 8, 2048, 12), (768, 12, 3072, 12), 32, 512),
                     "l14": ((768, 12, 3072, 12), (1024, 16, 4096, 24), 14, 768)}[kind]
def tower(h, n, i, l):
    return dict(hidden_size=h, num_attention_heads=n, intermediate_size=i, num_hidden_layers=l,
                hidden_act="quick_gelu", layer_norm_eps=1e-5)
text = dict(tower(*t), max_position_embeddings=77, vocab_size=vocab, bos_token_id=vocab - 2,
            eos_token_id=vocab - 1, pad_token_id=1)
vision = dict(tower(*v), image_size=224, patch_size=patch, num_channels=3)
json.dump(dict(model_type="clip", projection_dim=proj, logit_scale_init_value=2.6592,
               text_config=text, vision_config=vision), open(d + "/config.json", "w"), indent=1)
PY
  then
    vit_run "$kind" "$name" "$cap" run --set model.pretrain.lr=1.0e-4 "$@"
  else
    record "DRUM $name, cuda" FAIL 0 "set-up failed (see $LOGDIR/gpu_check_$kind.log)"
  fi
}

# vit_run KIND NAME CAP OUT SETS...: one mining round and its training on cuda over
# /tmp/gpu_check_KIND's suite and config.json, into OUT; DRUM_PROFILE's stages in the summary
vit_run() {
  local kind=$1 name=$2 cap=$3 dir=/tmp/gpu_check_$1 out=$4
  shift 4
  local log=$LOGDIR/gpu_check_${kind}_$out.log
  run_step "DRUM $name, cuda" "$log" "$cap" env DRUM_PROFILE=1 build/drum train \
    experiments/demo.yaml --set backend=cuda --set data.dir="$dir/data" \
    --set data.train="$dir/data/train.jsonl" --set data.eval="$dir/data/eval.jsonl" \
    --set model.config="$dir/model/config.json" --set train.rounds=1 --set 'eval.shots=[4]' \
    --set 'eval.strategies=[SIT, DRUM]' --set train.out="$dir/$out" "$@"
  if [ "$RC" -ne 0 ]; then
    record "DRUM $name, cuda" FAIL "$DUR" "exit $RC"
  else
    record "DRUM $name, cuda" ok "$DUR" "$(log_summary \
      'pretrain step|train step|mine round 1|embed demonstrations' \
      '^(train|pretrain) .* took |^drum: DRUM r1 ' "$log")"
  fi
}

# run_step NAME LOG CAP_SECONDS CMD... : runs CMD under a timeout, output to the console
# and to the log; sets RC and DUR.
run_step() {
  local name=$1 log=$2 cap=$3
  shift 3
  local limit t0
  limit=$(time_left "$cap")
  t0=$(date +%s)
  echo
  echo "== $name   (limit ${limit}s, log $log)"
  timeout "$limit" "$@" 2>&1 | tee "$log"
  RC=${PIPESTATUS[0]}
  DUR=$(($(date +%s) - t0))
  [ "$RC" -eq 124 ] && echo "$name: TIMED OUT after ${limit}s"
}

# the "N passed, N failed, N skipped" line of a test log, or empty
summary_of() { grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$1" | tail -n 1; }

echo "gpu_check: $(date -u '+%Y-%m-%d %H:%M:%SZ') in $ROOT, logs in $LOGDIR"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
else
  echo "gpu_check: nvidia-smi not found"
fi
command -v nvcc >/dev/null 2>&1 && nvcc --version | tail -n 1
model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "cpu: $(nproc) cores, $model; $(uname -r)"
# DRUM_COMM=nccl (test_parallel's one-GPU checks) dlopens libnccl.so.2: when neither the
# loader nor the CUDA toolkit has it, use the one PyTorch's wheel ships
if [ -z "${DRUM_NCCL_LIB:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2' &&
   [ ! -e "${CUDA_HOME:-/usr/local/cuda}/lib64/libnccl.so.2" ]; then
  lib=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))' 2>/dev/null)
  [ -n "$lib" ] && [ -e "$lib" ] && export DRUM_NCCL_LIB=$lib
fi
echo "nccl: ${DRUM_NCCL_LIB:-libnccl.so.2 from the loader path}"

# 1. build. A build/ left by a CUDA=0 build holds the no-CUDA stub and objects the
# Makefile would not rebuild: start that one afresh.
if [ -f build/libdrum.a ] && ar t build/libdrum.a | grep -q '^nocuda\.o$'; then
  echo "gpu_check: build/ was built without CUDA; removing it"
  rm -rf build
fi
log=$LOGDIR/gpu_check_build.log
if [ -f build/PREBUILT ]; then
  export LD_LIBRARY_PATH="$ROOT/build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  run_step "prebuilt (tools/gpu_pack.sh)" "$log" 30 bash -c \
    'cat build/PREBUILT; ldd build/drum build/tests/test_* build/bench/* | grep -E "not found|cublas|cudart" | sort | uniq -c'
  if grep -q 'not found' "$log"; then
    RC=1
    record build FAIL "$DUR" "prebuilt: $(grep -m1 'not found' "$log" | tr -s ' ')"
  else
    RC=0
    record build ok "$DUR" "prebuilt: $(sed -n 2p build/PREBUILT)"
  fi
else
  run_step "build (make -j16 CUDA=1)" "$log" 300 make -j16 CUDA=1
  if [ "$RC" -ne 0 ]; then
    record build FAIL "$DUR" "make exited $RC"
  else
    record build ok "$DUR" "$(grep -c 'nvcc' "$log") nvcc invocations"
  fi
fi

# the kernels OpenBLAS picked for this CPU (the cpu backend warns when they predate it)
[ "$RC" -eq 0 ] &&
  echo "openblas: $(OPENBLAS_VERBOSE=2 build/drum --version 2>&1 | grep -m1 'Core')"

# the last DRUM round's row of a demo log's first table (mean task score by shots)
last_drum_row() {
  awk '/^\| strategy \| 1-shot/ { t = 1 } t && /^\| DRUM r/ { row = $0 } t && row && /^$/ { exit }
       END { print row }' "$1" | tr -s ' '
}

# 2 + 3. tests: test_ops first, then the rest in name order
if [ "$RC" -eq 0 ]; then
  tests=(build/tests/test_ops)
  for t in build/tests/test_*; do
    case "$t" in *.o | *.d | build/tests/test_ops) continue ;; esac
    [ -x "$t" ] && tests+=("$t")
  done
  for t in "${tests[@]}"; do
    name=${t##*/}
    want "$name" || continue
    log=$LOGDIR/gpu_check_$name.log
    run_step "$name" "$log" 240 "$t"
    sum=$(summary_of "$log")
    if [ "$RC" -eq 124 ]; then
      record "$name" TIMEOUT "$DUR" "${sum:-no summary}"
    elif [ "$RC" -ne 0 ] || [ -z "$sum" ]; then
      record "$name" FAIL "$DUR" "exit $RC; ${sum:-no summary line}"
    elif grep -qE "cuda cases skipped|skip cuda" "$log"; then
      record "$name" FAIL "$DUR" "cuda backend unavailable: $sum"
    else
      record "$name" ok "$DUR" "$sum"
    fi
  done

  # 4. benchmark
  if want bench; then
    log=$LOGDIR/gpu_check_bench_ops.log
    run_step "bench_ops cuda" "$log" 240 build/bench/bench_ops cuda
    if [ "$RC" -ne 0 ]; then
      record "bench_ops cuda" FAIL "$DUR" "exit $RC"
    elif grep -q "not run" "$log"; then
      record "bench_ops cuda" FAIL "$DUR" "$(grep 'not run' "$log" | head -n 1)"
    else
      roof=$(grep -E '^roofline' "$log" | sed -E 's/.*, ([0-9.]+ (GB|TFLOP)\/s).*/\1/' | paste -sd' ' -)
      record "bench_ops cuda" ok "$DUR" "rooflines: $roof"
    fi
  fi

  # 5. CLIP throughput against PyTorch
  if want clip; then
    log=$LOGDIR/gpu_check_clip.log
    run_step "clip vs PyTorch" "$log" 300 bash tools/gpu_check_clip.sh 128
    if [ "$RC" -ne 0 ]; then
      record "clip vs PyTorch" FAIL "$DUR" "exit $RC"
    else
      record "clip vs PyTorch" ok "$DUR" "$(grep -A8 'drum / PyTorch' "$log" | grep -E 'B/32 +train' | head -n 1)"
    fi
  fi

  # 6. the main job on the GPU: drum demo with backend cuda (the demo's numbers on cpu are
  # in README.md; cuda sums in another order, so they agree to noise, not to the byte)
  if want demo; then
    log=$LOGDIR/gpu_check_demo_cuda.log
    rm -rf /tmp/gpu_check_demo
    run_step "demo on cuda" "$log" 200 build/drum demo --set backend=cuda \
      --set data.dir=/tmp/gpu_check_demo/data --set train.out=/tmp/gpu_check_demo/run
    if [ "$RC" -ne 0 ]; then
      record "demo on cuda" FAIL "$DUR" "exit $RC"
    else
      record "demo on cuda" ok "$DUR" "$(last_drum_row "$log")"
      cp /tmp/gpu_check_demo/run/results.md "$LOGDIR/demo_cuda_results.md" 2>/dev/null
    fi

    # 6b. data parallel on the GPU: the same demo on 2 MPI ranks sharing the card (features and
    # gradients through host memory); only where Open MPI's mpirun is installed
    if command -v mpirun >/dev/null 2>&1; then
      log=$LOGDIR/gpu_check_demo_cuda_mpi2.log
      rm -rf /tmp/gpu_check_demo_mpi2
      run_step "demo on cuda, 2 ranks" "$log" 200 env OMPI_ALLOW_RUN_AS_ROOT=1 \
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 build/drum demo \
        --set backend=cuda --set data.dir=/tmp/gpu_check_demo/data \
        --set train.out=/tmp/gpu_check_demo_mpi2/run
      if [ "$RC" -ne 0 ]; then
        record "demo on cuda, 2 ranks" FAIL "$DUR" "exit $RC"
      else
        record "demo on cuda, 2 ranks" ok "$DUR" "$(last_drum_row "$log")"
      fi
    else
      echo "(no mpirun here: the 2-rank demo on cuda is not run)"
    fi
  fi

  # 6c. mining at scale on the GPU: `drum mine` over a 30,000-example pool (21,000 images of
  # 64 px) for a sample of 300 queries with the demo's pre-trained CLIP, the configuration
  # docs/PERF.md measured on the VM's cpu backend; DRUM_PROFILE's stage times, on cuda and
  # on this host's cpu backend (OpenBLAS's SkylakeX kernels: its own pick is SSE3's), and the
  # progress line of the image pass (its rate should agree with the profile's encode images)
  if ! want mine; then
    :
  elif [ ! -f /tmp/gpu_check_demo/run/clip0/model.safetensors ]; then
    record "mine 30k" skipped 0 "no demo run's clip0 (the demo step did not run or failed)"
  else
    rm -rf /tmp/gpu_check_scale
    for be in cuda cpu; do
      log=$LOGDIR/gpu_check_mine_30k_$be.log
      run_step "mine 30k on $be" "$log" 120 env DRUM_PROFILE=1 OPENBLAS_CORETYPE=SkylakeX \
        build/drum mine experiments/demo.yaml --set backend=$be --set synth.n_train=30000 \
        --set synth.n_eval=300 --set data.dir=/tmp/gpu_check_scale/data \
        --set model.checkpoint=/tmp/gpu_check_demo/run/clip0/model.safetensors \
        --set train.queries=300 --set train.out=/tmp/gpu_check_scale/run_$be
      if [ "$RC" -ne 0 ]; then
        record "mine 30k on $be" FAIL "$DUR" "exit $RC"
      else
        record "mine 30k on $be" ok "$DUR" "$(log_summary \
          'mine round 1|embed demonstrations|embed queries|retrieve' '^embed images .* took ' \
          "$log")"
      fi
    done
  fi

  # 6d. DRUM with a retriever of ViT-B/32's shape (random weights from a hub-style config.json
  # beside the suite's tokenizer, as experiments/*.yaml name a real CLIP): pre-training, one
  # mining round and its training on cuda at 224 px (the suite's 64-px images upscaled), the
  # trainer's images/s against bench_clip's B/32 train step (step 5); DRUM_PROFILE's stages.
  # Then the same in micro-batches of 68 of the step's 272 pairs (train.micro_batch, from
  # the first run's clip0). 6e (l14, only when GPU_CHECK_ONLY names it; it runs last, after
  # memcheck): ViT-L/14's shape, whose 272-pair step needs ~126 GB at once, in micro-batches
  # of 32 (~15 GB).
  if want b32; then
    vit_step b32 "B/32" 150 --set model.pretrain.epochs=2 --set train.queries=640
    if [ -f /tmp/gpu_check_b32/run/clip0/model.safetensors ]; then
      vit_run b32 "B/32, micro 68" 150 micro \
        --set model.checkpoint=/tmp/gpu_check_b32/run/clip0/model.safetensors \
        --set train.queries=640 --set train.micro_batch=68
    fi
  fi

  # 7. memcheck over every op case but the /long rows, whose O(L^2) ListMLE loops take
  # minutes under the tool (cpu cases run too; only the cuda ones are checked)
  if want memcheck && command -v compute-sanitizer >/dev/null 2>&1; then
    log=$LOGDIR/gpu_check_memcheck.log
    run_step "memcheck test_ops" "$log" 150 compute-sanitizer --tool memcheck --leak-check full \
      --error-exitcode 3 build/tests/test_ops --skip /long
    errs=$(grep -m1 -E 'ERROR SUMMARY' "$log")
    if [ "$RC" -eq 124 ]; then
      record "memcheck test_ops" TIMEOUT "$DUR" "$(summary_of "$log")"
    elif [ "$RC" -ne 0 ]; then
      record "memcheck test_ops" FAIL "$DUR" "exit $RC; ${errs:-no error summary}"
    else
      record "memcheck test_ops" ok "$DUR" "${errs:-no error summary}"
    fi
  fi

  # 6e last: the heavy optional step takes what time the others leave
  if [ -n "${GPU_CHECK_ONLY:-}" ] && want l14; then
    vit_step l14 "L/14, micro 32" 240 --set model.pretrain.epochs=1 \
      --set model.pretrain.batch=32 --set train.queries=160 --set train.epochs=1 \
      --set train.micro_batch=32
  fi
fi

{
echo
echo "== gpu_check summary ($(($(date +%s) - START))s total, logs in $LOGDIR)"
printf '%-26s %-8s %6s  %s\n' step result sec detail
for i in "${!names[@]}"; do
  printf '%-26s %-8s %6s  %s\n' "${names[$i]}" "${results[$i]}" "${secs[$i]}" "${details[$i]}"
done
if [ "$status" -eq 0 ]; then echo "gpu_check: PASS"; else echo "gpu_check: FAIL"; fi
} 2>&1 | tee "$LOGDIR/gpu_check_summary.txt"
if [ -n "${OUT:-}" ]; then
  cp "$LOGDIR/gpu_check_summary.txt" "$OUT/" 2>/dev/null
  tar czf "$OUT/gpu_check_logs.tar.gz" -C "$LOGDIR" . 2>/dev/null
fi
exit "$status"

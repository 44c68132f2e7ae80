#!/usr/bin/env bash
# CLIP on a GPU: the parity test on cuda, then drum's and PyTorch's throughput on the same
# configurations and the drum/PyTorch ratios (images/s; above 1 = drum faster).
# Usage: tools/gpu_check_clip.sh [batch]   (from the repository root; PYTHON=... picks the
# interpreter that has torch + transformers; without one only drum's numbers print).
set -u -o pipefail # a failing test or benchmark fails the step through its pipe too
BATCH=${1:-128}
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
# a build packed by tools/gpu_pack.sh (build/PREBUILT) is run as it is
if [ ! -f "$BUILD/PREBUILT" ]; then
  make -j"$(nproc)" CUDA=1 "$BUILD/tests/test_clip_parity" "$BUILD/bench/bench_clip" >/dev/null || exit 1
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

echo "== test_clip_parity (cpu and cuda)"
"$BUILD/tests/test_clip_parity" | grep -vE '^  cpu '
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== drum"
"$BUILD/bench/bench_clip" cuda "$BATCH" | tee -a "$out" | grep -v '^RESULT'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
if "$PYTHON" -c 'import torch, transformers' 2>/dev/null; then
  echo "== PyTorch"
  "$PYTHON" tools/bench_torch_clip.py cuda "$BATCH" | tee -a "$out" | grep -v '^RESULT'
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
  echo "== PyTorch: $PYTHON has no torch + transformers, no ratios"
  status=1
fi

echo "== drum / PyTorch (images/s ratio)"
printf "%-9s %-7s %10s %10s\n" config task "vs fp32" "vs bf16"
awk '$1 == "RESULT" { key = $2 " " $3; v[key, $4] = $6; keys[key] = 1 }
     END {
       for (k in keys) {
         d = v[k, "drum"]; f = v[k, "torch-fp32"]; b = v[k, "torch-bf16"]
         split(k, kk, " ")
         printf "%-9s %-7s %10s %10s\n", kk[1], kk[2],
                (d && f) ? sprintf("%.2f", d / f) : "-", (d && b) ? sprintf("%.2f", d / b) : "-"
       }
     }' "$out" | sort
exit ${status:-0}

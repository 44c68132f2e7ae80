#!/usr/bin/env bash
# gpu_pack.sh — packs this machine's CUDA build for a GPU machine that cannot build it.
# The lent GPU machines have nvcc and the CUDA libraries but not drum's Debian libraries
# (libyaml, utf8proc, cJSON, OpenBLAS) and cannot install packages, so the build happens here
# and travels: the executables (debug info stripped), the shared libraries they need that
# are neither glibc nor CUDA's, and a PREBUILT marker that tells tools/gpu_check.sh to run
# them instead of building. glibc here (Debian 12, 2.36) is older than the GPU image's, so
# the executables load there.
# Usage: tools/gpu_pack.sh [OUT.tar.gz]   (default .devpkg/drum-build.tar.gz, git-ignored)
# On the GPU machine: tar xzf .devpkg/drum-build.tar.gz && OUT=... bash tools/gpu_check.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DEST=${1:-.devpkg/drum-build.tar.gz}
make -j"$(nproc)" CUDA=1 >/dev/null
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/build/tests" "$STAGE/build/bench" "$STAGE/build/lib"
bins=(build/drum)
for f in build/tests/test_* build/bench/*; do
  case "$f" in *.o | *.d) continue ;; esac
  [ -f "$f" ] && [ -x "$f" ] && bins+=("$f")
done
bins+=(build/tests/libnvtx_record.so) # test_trace's NVTX recorder
for b in "${bins[@]}"; do
  strip --strip-debug -o "$STAGE/$b" "$b"
done
# the libraries to carry: everything ldd resolves outside glibc, libstdc++/libgcc and CUDA
ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
  grep -vE '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)\.so|/usr/local/cuda' |
  while read -r lib; do cp -L "$lib" "$STAGE/build/lib/"; done
{
  echo "built $(date -u '+%Y-%m-%d %H:%M:%SZ') on $(uname -n), $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!tools/gpu_check*.sh' || echo ' + uncommitted changes')"
  nvcc --version | tail -n 1
  # the revision the binaries carry, for test_pipeline's check of `drum --version` (the GPU
  # machine's copy of the checkout need not be at it)
  echo "revision $(cat build/.revision)"
} >"$STAGE/build/PREBUILT"
mkdir -p "$(dirname "$DEST")"
tar czf "$DEST" -C "$STAGE" build
echo "gpu_pack: $DEST ($(du -h "$DEST" | cut -f1)): ${#bins[@]} executables, $(ls "$STAGE/build/lib" | wc -l) libraries"
cat "$STAGE/build/PREBUILT"

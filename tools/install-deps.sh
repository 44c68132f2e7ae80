#!/usr/bin/env bash
# Installs the Debian packages drum builds against. Idempotent: a package already
# present is left alone, and apt is only touched when something is missing.
set -euo pipefail
# python3: the tests' stand-in LVLM (tests/fixtures/exec_lvlm.py); without it those tests
# skip rather than run
pkgs=(build-essential pkg-config libopenblas-openmp-dev libyaml-dev libutf8proc-dev
      libcjson-dev libstb-dev libopenmpi-dev openmpi-bin python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

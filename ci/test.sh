#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian/Ubuntu machine, then run it.
# System packages are the real peers the tests talk to (sshd, QEMU, the ARM toolchain
# for the reference firmware, Debian's adb client, headless Chromium), and the cross
# compilers + qemu-user that build and run the native telemetry sampler for aarch64/armhf.
# The target-matrix tests (tests/targets) build venvs from the pyenv interpreters the
# machine image has (/root/.pyenv/versions/3.6 ... 3.13, or $PYENV_ROOT) and cache them
# under ~/.cache/harness/target-pythons/; a missing interpreter fails them by name.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(openssh-server qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi make
              adb chromium busybox mksh iproute2 procps
              cmake g++ ninja-build  # llama.cpp's llama-bench and harness's LLM driver
              gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,build]'
# a package outside harness that adds a runner and a model format through entry points only
.venv/bin/python -m pip install -q -e tests/plugin_pkg

# llama.cpp (llama-bench + harness-llm-driver) from the pinned llama-cpp-python sdist, built
# once into ~/.cache/harness/llama.cpp/<version>/ (minutes on a fresh machine, then cached).
.venv/bin/python -m harness.llm.build

# two workers: the suite is mostly waiting on peers (sshd, QEMU, Chromium), and serially it
# would outgrow CI's budget; PYTEST_WORKERS=0 runs it in one process.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"

#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install talkface with everything it needs, offline-capable.
# Usage: bash scripts/install.sh [VENV_DIR]   (default: .venv beside this repo)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.venv}"
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# torch first, pinned to the CPU build: an unpinned resolve could pick a multi-GB CUDA build.
"${pip[@]}" install "torch==2.13.0"
# mediapipe without its own requirements: they would add a second OpenCV and jax (unused).
"${pip[@]}" install --no-deps "mediapipe==0.10.14"
"${pip[@]}" install -e "$repo[dev]"

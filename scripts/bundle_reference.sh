#!/usr/bin/env bash
# Bundle the reference diffusion models from their training runs into tempo_kit/weights/ (float16 + model cards).
# Run after the configs/reference/*.toml trainings; rerun after the benchmarks to put their figures in the cards.
#   bash scripts/bundle_reference.sh [NAME ...]      (default: every model whose run exists)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
QUALITY=benchmarks/results/quality.md

declare -A KIND=([teacher]=denoiser [cm]=consistency [ctm]=ctm [presto-s]=consistency [ase]=denoiser
                 [presto-l]=denoiser [presto-ls]=consistency)
declare -A RUN=([teacher]=teacher_refine [cm]=cm [ctm]=ctm [presto-s]=presto_s [ase]=ase [presto-l]=presto_l
                [presto-ls]=presto_ls)
declare -A META=(
  [teacher]='{"sampler": "heun", "steps": 40}'
  [cm]='{"sampler": "cm", "steps": 4}'
  [ctm]='{"sampler": "ctm-gamma", "steps": 4}'
  [presto-s]='{"sampler": "presto-s", "steps": 4}'
  [ase]='{"sampler": "heun", "steps": 40}'
  [presto-l]='{"sampler": "heun", "steps": 40}'
  [presto-ls]='{"sampler": "presto-s", "steps": 4}')
declare -A DESC=(
  [teacher]="Tag-conditioned EDM DiT on 5.9 s log-mel clips (80 mels x 256 frames, 22.05 kHz, hop 512) of Bach chorales and Essen folk songs rendered with 8 General MIDI instruments. Tags: instrument, collection, tempo, mode (15-dim multi-hot; 10% dropped to the learned null embedding during training, so classifier-free guidance and unconditional sampling work). Sample it with Heun (40 steps is the reference)."
  [cm]="Consistency model distilled from the bundled teacher (LCM-style consistency distillation, Heun teacher steps on a 20-level Karras grid, EMA target). One network call per step; sample with the 'cm' sampler. No CFG weight is distilled (w = 1). DITTO-2 surrogate."
  [ctm]="Consistency trajectory model distilled from the bundled teacher (DITTO-2's local CTM objective, Euler jump parameterization). Jumps from any noise level to any lower one; sample with 'ctm-gamma' (gamma = 0.2). No CFG weight is distilled (w = 1). DITTO-2 surrogate."
  [presto-s]="Presto-S generator distilled from the bundled teacher: continuous-time distribution matching (DMD2 adapted to EDM) with a least-squares GAN head on the fake-score network, 5 fake-score updates per generator update. Sample with the 'presto-s' sampler in 1-8 steps (4 is the reference)."
  [ase]="ASE layer-dropped teacher: time-dependent early exit (fewer blocks at high noise), fine-tuned from the bundled teacher with the denoising loss and a frozen time embedder. Sample like the teacher (Heun)."
  [presto-l]="Presto-L layer-distilled teacher: drops interior blocks by noise level while always running the final block, budget-conditioned, trained with the denoising loss plus the self-teacher loss. Sample like the teacher (Heun)."
  [presto-ls]="Presto-LS: the Presto-S recipe on the Presto-L routed network (real score = the full teacher). Fewer blocks per call than Presto-S; sample with the 'presto-s' sampler.")

names=("$@")
[ ${#names[@]} -eq 0 ] && names=(teacher cm ctm presto-s ase presto-l presto-ls)
for name in "${names[@]}"; do
  run=outputs/runs/${RUN[$name]}
  [ -f "$run/student_ema/model.safetensors" ] || { echo "skip $name: no $run/student_ema"; continue; }
  config=configs/reference/${RUN[$name]}.toml
  extra=()
  [ "$name" = teacher ] && extra+=(--previous configs/reference/teacher.toml outputs/runs/teacher)
  [ "$name" = presto-ls ] && extra+=(--previous configs/reference/presto_l.toml outputs/runs/presto_l)
  metrics=()
  [ -f "$QUALITY" ] && metrics+=(--metrics "$QUALITY")
  "$PY" scripts/bundle_model.py "$name" --from "$run/student_ema" --kind "${KIND[$name]}" --config "$config" \
    --description "${DESC[$name]}" --meta "${META[$name]}" "${extra[@]}" "${metrics[@]}"
done

#!/usr/bin/env bash
# Bundle the reference diffusion models from their training runs into tempo_kit/weights/ (float16 + model cards).
# Run after the configs/reference/*.toml trainings; rerun after the benchmarks to put their figures in the cards.
#   bash scripts/bundle_reference.sh [--out DIR] [NAME ...]   (default: every model whose run exists, into
#                                                              tempo_kit/weights; --out: elsewhere, e.g. to compare)
#   HIGH_FROM_OFF=1 ...: ignore HIGH_FROM below (each model from its own runs only, e.g. presto-s-long as first bundled)
set -euo pipefail
out=() out_given=""
if [ "${1:-}" = --out ]; then
  [ $# -ge 2 ] || { echo "usage: bash scripts/bundle_reference.sh [--out DIR] [NAME ...]" >&2; exit 2; }
  mkdir -p "$2"; out=(--out "$(cd "$2" && pwd)"); out_given="--out $2 "; shift 2
fi
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
QUALITY=benchmarks/results/quality.md
# the results file of a model measured in its own run (default: $QUALITY)
declare -A QUALITY_OF=([presto-s-long]=benchmarks/results/quality_presto_long_gan10.md
                       [presto-ls-long]=benchmarks/results/quality_presto_ls_long.md)
# the Presto-L run a Presto-LS model's layer-dropped network was fine-tuned in (listed in its card)
declare -A PRESTO_L_OF=([presto-ls]=presto_l [presto-ls-long]=presto_l_long)

# One row per bundled model: its kind, its training run (outputs/runs/RUN, configs/reference/RUN.toml) and the sampler
# and steps its card recommends.
declare -A KIND RUN META
# the sampler options a card records (Pipeline.sampler_args), chosen on validation clips
declare -A SAMPLER_ARGS=([presto-s-long]='{"refine_max": 0.5, "refine_min": 0.05}')
# a high-noise expert taken from an experiment's run instead of RUN's: "STEM STEP" = the step-STEP snapshot of
# configs/experiments/STEM.toml's run (chosen on validation clips); RUN's own high-noise stage stays a listed stage
declare -A HIGH_FROM=([presto-s-long]="psl_hi_gan10 1500")
order=()
while read -r name kind run sampler steps; do
  KIND[$name]=$kind
  RUN[$name]=$run
  META[$name]="{\"sampler\": \"$sampler\", \"steps\": $steps${SAMPLER_ARGS[$name]:+, \"sampler_args\": ${SAMPLER_ARGS[$name]}}}"
  order+=("$name")
done <<'MODELS'
teacher    denoiser     teacher_refine  heun       40
cm         consistency  cm              cm         4
ctm        ctm          ctm             ctm-gamma  4
presto-s   consistency  presto_s        presto-s   1
ase        denoiser     ase             heun       40
presto-l   denoiser     presto_l        heun       40
presto-ls  consistency  presto_ls       presto-s   4
presto-s-long  consistency  presto_s_long  presto-s  1
presto-ls-long  consistency  presto_ls_long  presto-s  4
MODELS
# The low-noise experts' optional third stage (configs/reference/*_low_ft.toml), added to the card when its run exists.
declare -A FT_DESC=(
  [presto-s]=" The low-noise expert then had a third stage: 1,500 steps of the regression term alone, uniformly weighted, on 4,096 trajectories from Presto-S's one-step samples re-noised to 1.5, the inputs its 4-step sampler gives it (presto_s_low_ft.toml)."
  [presto-ls]=" The low-noise expert then had a third stage: 1,500 steps of the regression term alone, uniformly weighted, on trajectories from one-step samples re-noised to 1.5 (presto_ls_low_ft.toml)."
  [presto-s-long]=" The low-noise expert then had a third stage: 1,500 steps of the regression term alone, uniformly weighted, on 4,096 trajectories from the one-step samples of the four-stage bundle (with the recipe's own high-noise expert, presto_s_long.toml) re-noised to 1.5 (presto_s_long_low_ft.toml)."
  [presto-ls-long]=" The low-noise expert then had a third stage: 1,500 steps of the regression term alone, uniformly weighted, on the 4,096 trajectories of presto-s-long's third stage (its one-step samples re-noised to 1.5; presto_ls_long_low_ft.toml)."
)
declare -A DESC=(
  [teacher]="Tag-conditioned EDM DiT on 5.9 s log-mel clips (80 mels x 256 frames, 22.05 kHz, hop 512) of Bach chorales and Essen folk songs rendered with 8 General MIDI instruments. Tags: instrument, collection, tempo, mode (15-dim multi-hot; 10% dropped to the learned null embedding during training, so classifier-free guidance and unconditional sampling work). Sample it with Heun (40 steps is the reference). Trained for 35 minutes in all; its clips change from frame to frame about 6x as fast as real clips (flicker and fine noise over blurred notes) and its FAD CREPE is 6.5x that of real training clips: 'teacher-long' is the same network trained 22,500 steps more (FAD CREPE 0.37x this model's; benchmarks/results/quality_teacher.md) and the teacher of 'presto-s-long'; the other students are distilled from this model."
  [cm]="Consistency model distilled from the bundled teacher (LCM-style consistency distillation, Heun teacher steps on a 20-level Karras grid, EMA target). One network call per step; sample with the 'cm' sampler. No CFG weight is distilled (w = 1). DITTO-2 surrogate."
  [ctm]="Consistency trajectory model distilled from the bundled teacher (DITTO-2's local CTM objective, Euler jump parameterization). Jumps from any noise level to any lower one; sample with 'ctm-gamma' (gamma = 0.2). No CFG weight is distilled (w = 1). DITTO-2 surrogate."
  [presto-s]="Presto-S generator distilled from the bundled teacher as two noise-level experts (tempo_kit.models.NoiseExperts) behind one jump, one expert call per step. High-noise expert (sigma >= 1.5: every one-step sample and the first jumps of multi-step sampling): stage 1 the regression term alone (ours, after DMD's regression loss: plain distillation of the teacher's probability-flow ODE from 8,192 teacher trajectories, tempo-kit data ode-pairs), 3,000 generator updates, then stage 2 continuous-time distribution matching (DMD2 adapted to EDM) with a least-squares GAN head on the fake-score network, 5 fake-score updates per generator update, regression term kept, 3,000 steps (configs/reference/presto_s_stage1.toml, presto_s.toml). Low-noise expert (sigma < 1.5: the last jumps of multi-step sampling): the same two stages with each ODE pair weighted by 1 + (sigma_data / sigma)^2 and 4,096 more trajectories from training clips noised to 10, 3,000 + 2,000 steps (presto_s_low_stage1.toml, presto_s_low.toml). One network of this size trained either way is good at one end only (see the step-distillation page). Sample with the 'presto-s' sampler, in 1 or 4 steps."
  [ase]="ASE layer-dropped teacher: time-dependent early exit (fewer blocks at high noise), fine-tuned from the bundled teacher with the denoising loss and a frozen time embedder. Sample like the teacher (Heun)."
  [presto-l]="Presto-L layer-distilled teacher: drops interior blocks by noise level while always running the final block, budget-conditioned, trained with the denoising loss plus the self-teacher loss. Sample like the teacher (Heun)."
  [presto-s-long]="Presto-S distilled from 'teacher-long' as 'presto-s' was from 'teacher': the same stages and settings (configs/reference/presto_s_long*.toml), with teacher-long as real score and as the source of every ODE pair, except the high-noise expert's distribution-matching stage: GAN weights x10 (generator 5e-2, discriminator 1e-1; configs/experiments/psl_hi_gan10.toml), its step-1,500 snapshot of 3,000, chosen on 128 validation clips (benchmarks/results/presto_long_gan10_snapshots.md; 24 min wall clock to step 1,500 on the shared 2-core CPU, 4.6 min of it paused). Two noise-level experts behind one jump (edge 1.5); sample with the 'presto-s' sampler in 1 or 4 steps at the re-noise levels 80, 0.5, 0.16, 0.05 (sampler_args refine_max 0.5, refine_min 0.05, recorded in config.json; chosen on the same validation clips, benchmarks/results/presto_long_levels_5stages.md). On the 296 held-out clips (benchmarks/results/quality_presto_long_gan10.md, where this model is the rows gan10-1500-1 and gan10-1500-r05-4 and the rows presto-s-long-* are the first student) its FAD CREPE is 0.053 in one step and 0.049 in four (0.121 and 0.119 for 'presto-s', quality_presto_long.md), FAD mel 0.018 and 0.0165: 0.91x and 0.86x the FAD mel of the student it replaced (the recipe's 3,000-step high expert at the sampler's default levels), CREPE and CLAP undecided; at 4 steps still 1.46x teacher-long's FAD mel."
  [presto-ls-long]="Presto-LS distilled from 'teacher-long' exactly as 'presto-ls' was from 'teacher': Presto-L fine-tuned from teacher-long with the settings of presto-l (configs/reference/presto_l_long.toml, 600 steps), then the five stages and settings of presto-ls (configs/reference/presto_ls_long*.toml) with teacher-long as real score and the ODE pairs of presto-s-long. Two noise-level experts behind one jump (edge 1.5), each keeping the Presto-L router; sample with the 'presto-s' sampler in 4 steps (benchmarks/results/quality_presto_ls_long.md)."
  [presto-ls]="Presto-LS: Presto-S on the bundled Presto-L routed network (real score = the full teacher), as two noise-level experts like Presto-S (tempo_kit.models.NoiseExperts; each expert keeps the Presto-L router, so a call runs only the blocks its noise level is given). High-noise expert (sigma >= 1.5): stage 1 the regression term alone on 8,192 uniformly weighted teacher trajectories from noise, 3,000 generator updates; stage 2 distribution matching with the GAN head and the regression term kept, 3,000 steps (configs/reference/presto_ls_stage1.toml, presto_ls.toml). Low-noise expert (sigma < 1.5): the same two stages with each ODE pair weighted by 1 + (sigma_data / sigma)^2 and 4,096 more trajectories from training clips noised to 10, 3,000 + 2,000 steps (presto_ls_low_stage1.toml, presto_ls_low.toml; until 2026-12-05 this expert alone was the bundled Presto-LS). Fewer blocks per call than Presto-S; sample with the 'presto-s' sampler in 4 steps.")

# Measured but not bundled (no folder in tempo_kit/weights): bundled only when named, e.g. with --out outputs/candidates.
declare -A CANDIDATE=([presto-ls-long]=1)
names=("$@")
explicit=${#names[@]}
if [ ${#names[@]} -eq 0 ]; then
  for name in "${order[@]}"; do [[ -v CANDIDATE[$name] ]] || names+=("$name"); done
fi
skipped=0
for name in "${names[@]}"; do
  [[ -v RUN[$name] ]] || { echo "unknown model $name; known: ${!RUN[*]}" >&2; exit 2; }
  run=outputs/runs/${RUN[$name]}
  [ -f "$run/student_ema/model.safetensors" ] || { echo "skip $name: no $run/student_ema"; skipped=1; continue; }
  config=configs/reference/${RUN[$name]}.toml
  extra=()
  from=("$run/student_ema")
  description=${DESC[$name]}
  if [ -f "configs/reference/${RUN[$name]}_low_stage1.toml" ]; then  # two noise-level experts, each trained in stages
    high=${RUN[$name]} low=${RUN[$name]}_low
    stages=("${high}_stage1" "$high" "${low}_stage1" "$low")
    # the low expert's third stage, when it has been run (its pairs come from the bundle made without it)
    if [ -f "outputs/runs/${low}_ft/student_ema/model.safetensors" ]; then
      stages+=("${low}_ft")
      description+=${FT_DESC[$name]}
    fi
    last=${stages[-1]}
    missing=$(for d in "${stages[@]}"; do [ "$d" = "$high" ] || [ -f "outputs/runs/$d/losses.jsonl" ] || echo "$d"; done)
    [ -z "$missing" ] && [ -f "outputs/runs/$last/student_ema/model.safetensors" ] \
      || { echo "skip $name: missing runs: ${missing:-$last/student_ema}"; skipped=1; continue; }
    from=("outputs/runs/$last/student_ema" "$run/student_ema") chosen=()
    if [[ -v HIGH_FROM[$name] && -z "${HIGH_FROM_OFF:-}" ]]; then
      read -r stem step <<< "${HIGH_FROM[$name]}"
      snap=outputs/runs/$stem/snapshots/step_$step
      [ -f "$snap/model.safetensors" ] || { echo "skip $name: no $snap"; skipped=1; continue; }
      from=("outputs/runs/$last/student_ema" "$snap")
      config=configs/experiments/$stem.toml
      chosen=(--previous "$config" "outputs/runs/$stem")
      description+=" The high-noise expert is the step-$step snapshot of the last stage listed below (whose steps, time and losses are the whole run's)."
    fi
    extra+=(--edges 1.5 --command "bash scripts/bundle_reference.sh ${out_given}$name (after the $(( ${#stages[@]} + ${#chosen[@]} / 3 )) training stages below)")
    for d in "${stages[@]}"; do
      extra+=(--previous "configs/reference/$d.toml" "outputs/runs/$d")
    done
    extra+=("${chosen[@]}")
  fi
  [ "$name" = teacher ] && extra+=(--previous configs/reference/teacher.toml outputs/runs/teacher)
  layer_run=${PRESTO_L_OF[$name]:-}
  [ -n "$layer_run" ] && [ -d "outputs/runs/$layer_run" ] && extra+=(--previous "configs/reference/$layer_run.toml" "outputs/runs/$layer_run")
  metrics=()
  quality=${QUALITY_OF[$name]:-$QUALITY}
  [ -f "$quality" ] && metrics+=(--metrics "$quality")
  "$PY" scripts/bundle_model.py "$name" --from "${from[@]}" --kind "${KIND[$name]}" --config "$config" \
    --description "$description" --meta "${META[$name]}" "${extra[@]}" "${metrics[@]}" "${out[@]}"
done
# a model named on the command line that could not be bundled is an error
[ "$explicit" -gt 0 ] && [ "$skipped" -ne 0 ] && { echo "some models were not bundled (see above)" >&2; exit 1; }
exit 0

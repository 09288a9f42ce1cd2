"""Built-in recipes."""

from ..hookspecs import hookimpl
from . import lazy


@hookimpl
def register_recipes(register, context):
    register("edm", lazy("training.recipes.edm", "EDMRecipe"),
             description="EDM denoising score matching (log-normal sigma, EDM weight, CFG dropout)")
    register("ase", lazy("training.recipes.layers", "ASERecipe"),
             description="ASE layer fine-tuning: time-dependent early exit, frozen time embedder")
    register("presto-l", lazy("training.recipes.layers", "PrestoLRecipe"),
             description="Presto-L: keep the final block, budget conditioning, self-teacher loss L_DSM + L_st")
    register("cm", lazy("training.recipes.cm", "CMRecipe"),
             description="LCM-style consistency distillation: EMA target, teacher ODE step, distilled CFG weight w")
    register("ctm", lazy("training.recipes.ctm", "CTMRecipe"),
             description="CTM as in DITTO-2: local consistency (Eq. 4), Euler jump without s input, distilled w")
    register("presto-s", lazy("training.recipes.presto_s", "PrestoSRecipe"),
             description="Presto-S: continuous-time DMD2 for EDM models, 5 fake-score updates per generator step, LSGAN head")
    register("presto-ls", lazy("training.recipes.presto_ls", "PrestoLSRecipe"),
             description="Presto-LS: Presto-S on a layer-distilled (Presto-L / ASE) student, real score = full teacher")
    register("vocoder", lazy("training.recipes.vocoder", "VocoderRecipe"),
             description="mel vocoder: multi-resolution STFT loss + model-space mel L1 on random (mel, audio) crops")
    register("clap", lazy("training.recipes.clap", "ClapRecipe"),
             description="MiniClap audio-text contrastive training: multi-positive InfoNCE over tags, mel augmentation")

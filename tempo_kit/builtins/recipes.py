"""Built-in recipes."""

from ..hookspecs import hookimpl
from . import lazy, register_all

#: ``(name, module under tempo_kit.training.recipes, class, description)``
_RECIPES = (
    ("edm", "edm", "EDMRecipe", "EDM denoising score matching (log-normal sigma, EDM weight, CFG dropout)"),
    ("ase", "layers", "ASERecipe", "ASE layer fine-tuning: time-dependent early exit, frozen time embedder"),
    ("presto-l", "layers", "PrestoLRecipe",
     "Presto-L: keep the final block, budget conditioning, self-teacher loss L_DSM + L_st"),
    ("cm", "cm", "CMRecipe",
     "LCM-style consistency distillation: EMA target, teacher ODE step, distilled CFG weight w"),
    ("ctm", "ctm", "CTMRecipe",
     "CTM as in DITTO-2: local consistency (Eq. 4), Euler jump without s input, distilled w"),
    ("presto-s", "presto_s", "PrestoSRecipe",
     "Presto-S: continuous-time DMD2 for EDM models, 5 fake-score updates per generator step, LSGAN head"),
    ("presto-ls", "presto_ls", "PrestoLSRecipe",
     "Presto-LS: Presto-S on a layer-distilled (Presto-L / ASE) student, real score = full teacher"),
    ("vocoder", "vocoder", "VocoderRecipe",
     "mel vocoder: multi-resolution STFT loss + model-space mel L1 on random (mel, audio) crops"),
    ("clap", "clap", "ClapRecipe",
     "MiniClap audio-text contrastive training: multi-positive InfoNCE over tags, mel augmentation"),
)


@hookimpl
def register_recipes(register, context):
    register_all(register, ((name, lazy(f"training.recipes.{module}", cls), description)
                            for name, module, cls, description in _RECIPES))

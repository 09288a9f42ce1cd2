"""Built-in recipes."""

from ..hookspecs import hookimpl


@hookimpl
def register_recipes(register, context):
    from ..training.recipes.edm import EDMRecipe
    from ..training.recipes.layers import ASERecipe, PrestoLRecipe
    from ..training.recipes.cm import CMRecipe
    from ..training.recipes.ctm import CTMRecipe
    from ..training.recipes.presto_ls import PrestoLSRecipe
    from ..training.recipes.presto_s import PrestoSRecipe

    register("edm", EDMRecipe, description="EDM denoising score matching (log-normal sigma, EDM weight, CFG dropout)")
    register("ase", ASERecipe, description="ASE layer fine-tuning: time-dependent early exit, frozen time embedder")
    register("presto-l", PrestoLRecipe,
             description="Presto-L: keep the final block, budget conditioning, self-teacher loss L_DSM + L_st")
    register("cm", CMRecipe, description="LCM-style consistency distillation: EMA target, teacher ODE step, distilled CFG weight w")
    register("ctm", CTMRecipe, description="CTM as in DITTO-2: local consistency (Eq. 4), Euler jump without s input, distilled w")
    register("presto-s", PrestoSRecipe,
             description="Presto-S: continuous-time DMD2 for EDM models, 5 fake-score updates per generator step, LSGAN head")
    register("presto-ls", PrestoLSRecipe,
             description="Presto-LS: Presto-S on a layer-distilled (Presto-L / ASE) student, real score = full teacher")

    from ..training.recipes.vocoder import VocoderRecipe

    register("vocoder", VocoderRecipe,
             description="mel vocoder: multi-resolution STFT loss + model-space mel L1 on random (mel, audio) crops")

    from ..training.recipes.clap import ClapRecipe

    register("clap", ClapRecipe,
             description="MiniClap audio-text contrastive training: multi-positive InfoNCE over tags, mel augmentation")

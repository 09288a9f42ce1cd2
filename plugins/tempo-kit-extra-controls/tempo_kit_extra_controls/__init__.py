"""tempo-kit-extra-controls: brightness and rhythmic-density controls for tempo_kit, installed as a plugin.

After ``pip install tempo-kit-extra-controls``::

    brightness = tempo_kit.get("extractors", "spectral-centroid", domain="mel", scale="log-hz")
    density = tempo_kit.get("extractors", "rhythmic-density", reduce="rate")
"""

from .features import OnsetDensity, SpectralCentroid, hz_to_log_hz, moving_average, one_sided_mse

__all__ = ["OnsetDensity", "SpectralCentroid", "hz_to_log_hz", "moving_average", "one_sided_mse"]
__version__ = "0.1.0"

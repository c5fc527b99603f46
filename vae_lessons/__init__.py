"""vae_lessons: the reusable pieces of the vae-lessons course (see README.md).

The names below are imported from their modules on first use (PEP 562), not when the package
is: `python -m vae_lessons` imports the package before its __main__ runs, and torch takes
seconds to import, so a Ctrl-C then must land in code that can answer it in one line.
"""
from importlib import import_module

__version__ = "0.1.0"
_HOMES = {
    "binarize_dynamic": "data", "binarize_static": "data", "load_fashion_mnist": "data", "load_mnist": "data",
    "gaussian_kl": "distributions", "log_bernoulli": "distributions", "log_normal_diag": "distributions",
    "log_standard_normal": "distributions",
    "VAE": "models", "ConditionalVAE": "models", "ConvVAE": "models", "Autoencoder": "models",
    "default_device": "training", "seed_everything": "training", "train": "training",
}
__all__ = sorted(_HOMES, key=str.lower)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

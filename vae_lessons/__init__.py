"""vae_lessons: the reusable pieces of the vae-lessons course (see README.md)."""
from .data import binarize_dynamic, binarize_static, load_fashion_mnist, load_mnist
from .distributions import gaussian_kl, log_bernoulli, log_normal_diag, log_standard_normal
from .models import VAE, Autoencoder
from .training import default_device, seed_everything, train

__version__ = "0.1.0"
__all__ = [
    "Autoencoder", "VAE", "binarize_dynamic", "binarize_static", "default_device",
    "gaussian_kl", "load_fashion_mnist", "load_mnist", "log_bernoulli", "log_normal_diag",
    "log_standard_normal", "seed_everything", "train",
]

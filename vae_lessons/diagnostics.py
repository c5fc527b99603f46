"""Which latent units a trained VAE uses: two per-coordinate diagnostics of its encoder
q(z | x) = N(mu(x), diag exp(logvar(x))), computed over a data set.

- Active units (Burda et al. 2015, "Importance weighted autoencoders"): latent unit u
  is active when its activity A_u = Cov_x( E_{q(z|x)}[z_u] ) = Var_x( mu_u(x) ), the variance
  over the data of the encoder's mean, exceeds a threshold (theirs: 0.01). An inactive unit's
  mean is (nearly) the same for every x: that coordinate of the code tells nothing about x.
- KL per dimension: the mean over the data of KL( q(z_l | x) || N(0, 1) ), coordinate by
  coordinate, in nats. They sum to the average KL term of the ELBO; a coordinate near 0
  carries no information about x (its posterior is the prior: "posterior collapse").

Both encode x in batches without gradients, on the model's device, and return float64
tensors on the CPU. x is fed to model.encode as it is: binarize it first if the model was
trained on binary images. For a label-conditional model (models.ConditionalVAE) pass the
labels too, y=...: the encoder is then q(z | x, y).
"""
import torch

from .objectives import kl_per_coordinate, label_arguments
from .validation import check_float, describe, real_number, whole_number


@torch.no_grad()
def _posteriors(model, x, batch_size, y=None):
    """(mu, logvar) of q(z | x) (of q(z | x, y) given labels y) for every image of x, each
    (N, L), float64 on the CPU."""
    if not callable(getattr(model, "encode", None)):
        raise TypeError(f"model must be a VAE (with an encode method), got {type(model).__name__}")
    check_float(x, "x")
    batch_size = whole_number(batch_size, "batch_size")
    if len(x) == 0:
        raise ValueError(f"x: no images, shape {tuple(x.shape)}")
    device = next(model.parameters()).device
    labels = label_arguments(model, y)  # (y,) or (): what model.encode takes besides x
    if labels and (not isinstance(y, torch.Tensor) or y.shape != x.shape[:1]):
        raise ValueError(f"y: expected one label per image, shape ({len(x)},), got {describe(y)}")
    parts = [model.encode(x[i:i + batch_size].to(device), *(t[i:i + batch_size].to(device) for t in labels))
             for i in range(0, len(x), batch_size)]
    return tuple(torch.cat([p[j] for p in parts]).cpu().double() for j in (0, 1))


def active_units(model, x, threshold=0.01, batch_size=1000, *, y=None):
    """The number of active latent units and every unit's activity (Burda et al. 2015):

        A_u = Var_x( mu_u(x) ),   unit u active when A_u > threshold,

    mu_u(x) the mean of q(z_u | x), the variance the population one (divided by N) over the
    N images of x. x: (N, 784) or (N, 28, 28), N >= 1, as the model's encoder takes it;
    threshold: a finite number >= 0 (Burda et al. use 0.01); y: the labels (N,) of a
    label-conditional model. Returns (count, variances): count a Python int, variances a
    float64 tensor (L,), in squared latent units.
    """
    real_number(threshold, "threshold", minimum=0)
    mu, _ = _posteriors(model, x, batch_size, y)
    variances = mu.var(dim=0, correction=0)
    return int((variances > float(threshold)).sum()), variances


def kl_per_dimension(model, x, batch_size=1000, *, y=None):
    """The mean over the images of x of KL( q(z_l | x) || N(0, 1) ), for each latent
    coordinate l (Kingma & Welling 2014, appendix B, one coordinate at a time):

        KL_l = mean_x  1/2 [ exp(logvar_l) - 1 - logvar_l + mu_l^2 ].

    Their sum is the mean over x of gaussian_kl(mu, logvar), the ELBO's KL term. x: (N, 784)
    or (N, 28, 28), N >= 1; y: the labels (N,) of a label-conditional model. Returns a
    float64 tensor (L,), in nats.
    """
    mu, logvar = _posteriors(model, x, batch_size, y)
    return kl_per_coordinate(mu, logvar).mean(dim=0)

"""MLP autoencoder and VAE, with sizes given as a tuple such as (784, 256, 2):
input dim, hidden widths..., code dim. The decoder mirrors the encoder.

The decoder is its own module in both models: sampling from a VAE means calling
decoder(z) on codes that no encoder produced.
"""
from typing import NamedTuple

import torch
from torch import nn

from .distributions import log_bernoulli, log_normal_diag
from .validation import check_float, flatten_images

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "linear": None}


def mlp(dims, activation="relu"):
    """Linear layers dims[0] -> dims[1] -> ... -> dims[-1], the activation between them
    (not after the last). activation="linear" gives a purely linear map."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if len(dims) < 2 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise ValueError(f"dims must be at least two positive ints, e.g. (784, 256, 2), got {dims!r}")
    layers = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2 and ACTIVATIONS[activation] is not None:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _check_codes(z, latent_dim):
    check_float(z, "z")
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z: expected codes of shape (N, {latent_dim}), got {tuple(z.shape)}")
    return z


class Autoencoder(nn.Module):
    """x -> z = encoder(x) -> x_hat = decoder(z); trained to make x_hat close to x.

    output="sigmoid" keeps x_hat in (0, 1) like the pixels; "linear" leaves it unbounded
    (with activation="linear" the whole model is linear, the case that recovers PCA).
    """

    def __init__(self, dims=(784, 256, 2), activation="relu", output="sigmoid"):
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"output must be 'sigmoid' or 'linear', got {output!r}")
        self.dims, self.output = tuple(dims), output
        self.encoder = mlp(self.dims, activation)
        self.decoder = mlp(self.dims[::-1], activation)

    @property
    def latent_dim(self):
        return self.dims[-1]

    def encode(self, x):
        """x: (N, D) or (N, 28, 28) -> z: (N, L)."""
        return self.encoder(flatten_images(x, self.dims[0]))

    def decode(self, z):
        """z: (N, L) -> x_hat: (N, D)."""
        out = self.decoder(_check_codes(z, self.latent_dim))
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    def forward(self, x):
        return self.decode(self.encode(x))


class VAEOutput(NamedTuple):
    logits: torch.Tensor  # (N, D) Bernoulli logits of p(x|z)
    mu: torch.Tensor      # (N, L) mean of q(z|x)
    logvar: torch.Tensor  # (N, L) log-variance of q(z|x)
    z: torch.Tensor       # (N, L) one sample z ~ q(z|x)


class VAE(nn.Module):
    """Encoder q(z|x) = N(mu, diag(exp(logvar))), prior p(z) = N(0, I), and decoder p(x|z):

    - likelihood="bernoulli": Bernoulli(sigmoid(logits)) per pixel, for binary x
      (Kingma & Welling, 2014); the decoder outputs logits;
    - likelihood="gaussian": N(mean, exp(log_sigma2) I), one learned noise variance shared by
      all pixels; the decoder outputs the mean.

    The encoder outputs log-variance, not sigma: any real number is a valid logvar, so no
    constraint (or eps) is needed, and exp(logvar) > 0 always.
    """

    def __init__(self, dims=(784, 256, 2), activation="relu", likelihood="bernoulli"):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        self.dims, self.likelihood = tuple(dims), likelihood
        self.encoder = mlp(self.dims[:-1] + (2 * self.dims[-1],), activation)
        self.decoder = mlp(self.dims[::-1], activation)
        if likelihood == "gaussian":
            self.log_sigma2 = nn.Parameter(torch.zeros(()))

    @property
    def latent_dim(self):
        return self.dims[-1]

    def encode(self, x):
        """x: (N, D) or (N, 28, 28) -> (mu, logvar), each (N, L)."""
        mu, logvar = self.encoder(flatten_images(x, self.dims[0])).chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu, logvar, generator=None):
        """z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2): differentiable in mu, logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z):
        """z: (N, L) -> (N, D): Bernoulli logits (torch.sigmoid gives pixel probabilities),
        or the Gaussian mean."""
        return self.decoder(_check_codes(z, self.latent_dim))

    def log_likelihood(self, x, z):
        """log p(x | z) in nats, summed over pixels: x (N, D) or (N, 28, 28); z (N, L), or
        (K, N, L) for K codes per image. Returns (N,) or (K, N)."""
        x = flatten_images(x, self.dims[0])
        flat = z.reshape(-1, z.shape[-1])
        out = self.decode(flat).reshape(z.shape[:-1] + (self.dims[0],))
        if self.likelihood == "bernoulli":
            return log_bernoulli(x, out)
        return log_normal_diag(x, out, self.log_sigma2.expand_as(out))

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return VAEOutput(self.decode(z), mu, logvar, z)

    @torch.no_grad()
    def sample(self, n, generator=None):
        """n images drawn through the prior: z ~ N(0, I), returned as the decoder's means
        (sigmoid(logits) for Bernoulli), (n, D)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        out = self.decode(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

"""MLP autoencoder and VAE, with sizes given as a tuple such as (784, 256, 2):
input dim, hidden widths..., code dim. The decoder mirrors the encoder.

The decoder is its own module in both models: sampling from a VAE means calling
decoder(z) on codes that no encoder produced.
"""
import operator
from typing import NamedTuple

import torch
from torch import nn

from .distributions import log_bernoulli, log_normal_diag
from .validation import check_finite, check_float, check_matches, check_pixels, describe, flatten_images, whole_number

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "linear": None}


def check_dims(dims):
    """dims as a tuple of Python ints if it is at least two positive ints (NumPy ints too),
    else a ValueError that shows dims as given."""
    try:
        given = tuple(dims)
        sizes = tuple(operator.index(d) for d in given if not isinstance(d, bool))
    except TypeError:  # not iterable, or a float or str among the sizes
        given, sizes = (), ()
    if len(sizes) < 2 or len(sizes) != len(given) or min(sizes) < 1:
        raise ValueError(f"dims must be at least two positive ints, e.g. (784, 256, 2), got {describe(dims)}")
    return sizes


def mlp_size(dims):
    """The number of weights and biases in mlp(dims), computed without building it."""
    return sum(d_in * d_out + d_out for d_in, d_out in zip(dims[:-1], dims[1:]))


def mlp(dims, activation="relu"):
    """Linear layers dims[0] -> dims[1] -> ... -> dims[-1], the activation between them
    (not after the last). activation="linear" gives a purely linear map."""
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {describe(activation)}")
    dims = check_dims(dims)
    layers = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2 and ACTIVATIONS[activation] is not None:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _check_codes(z, decoder):
    """z: (N, L) codes of the dtype and device of the decoder's first layer."""
    check_float(z, "z")
    latent_dim = decoder[0].in_features
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z: expected codes of shape (N, {latent_dim}), got {tuple(z.shape)}")
    return check_matches(z, decoder[0].weight, "z")


def _check_images(x, encoder):
    """x: (N, D) or (N, 28, 28), D the encoder's input size, of its weights' dtype and device; returns (N, D)."""
    return check_matches(flatten_images(x, encoder[0].in_features), encoder[0].weight, "x")


class Autoencoder(nn.Module):
    """x -> z = encoder(x) -> x_hat = decoder(z); trained to make x_hat close to x.

    output="sigmoid" keeps x_hat in (0, 1) like the pixels; "linear" leaves it unbounded
    (with activation="linear" the whole model is linear, the case that recovers PCA).
    """

    def __init__(self, dims=(784, 256, 2), activation="relu", output="sigmoid"):
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"output must be 'sigmoid' or 'linear', got {describe(output)}")
        self.dims, self.output = check_dims(dims), output
        self.encoder = mlp(self.dims, activation)
        self.decoder = mlp(self.dims[::-1], activation)

    @property
    def latent_dim(self):
        return self.dims[-1]

    def encode(self, x):
        """x: (N, D) or (N, 28, 28) -> z: (N, L). With output="sigmoid" x must be pixels in
        [0, 1] (the only values a sigmoid can reconstruct); with "linear", any finite numbers."""
        x = _check_images(x, self.encoder)
        if self.output == "sigmoid":
            check_pixels(x, "x", " (an Autoencoder with output='sigmoid' reconstructs values in (0, 1); "
                                 "for other data use output='linear')")
        else:
            check_finite(x, "x")
        return self.encoder(x)

    def decode(self, z):
        """z: (N, L) -> x_hat: (N, D)."""
        out = self.decoder(_check_codes(z, self.decoder))
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
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {describe(likelihood)}")
        self.dims, self.likelihood = check_dims(dims), likelihood
        self.encoder = mlp(self._encoder_dims(self.dims), activation)
        self.decoder = mlp(self.dims[::-1], activation)
        if likelihood == "gaussian":
            self.log_sigma2 = nn.Parameter(torch.zeros(()))

    @staticmethod
    def _encoder_dims(dims):
        """The encoder outputs mu and logvar: 2 L numbers."""
        return dims[:-1] + (2 * dims[-1],)

    @classmethod
    def size(cls, dims, likelihood="bernoulli"):
        """The number of parameters VAE(dims, likelihood=...) has, computed without building
        it (to refuse a size before the allocator does)."""
        dims = check_dims(dims)
        return mlp_size(cls._encoder_dims(dims)) + mlp_size(dims[::-1]) + (likelihood == "gaussian")

    @property
    def latent_dim(self):
        return self.dims[-1]

    def encode(self, x):
        """x: (N, D) or (N, 28, 28) -> (mu, logvar), each (N, L)."""
        mu, logvar = self.encoder(_check_images(x, self.encoder)).chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu, logvar, generator=None):
        """z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2): differentiable in mu, logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z):
        """z: (N, L) -> (N, D): Bernoulli logits (torch.sigmoid gives pixel probabilities),
        or the Gaussian mean."""
        return self.decoder(_check_codes(z, self.decoder))

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
        n = whole_number(n, "n", minimum=0)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        out = self.decode(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

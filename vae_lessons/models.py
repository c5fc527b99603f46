"""MLP autoencoder, VAE and label-conditional VAE, with sizes given as a tuple such as
(784, 256, 2): input dim, hidden widths..., code dim. The decoder mirrors the encoder.
ConvVAE: the VAE with a convolutional encoder and decoder, of fixed layers and a chosen code size.

The decoder is its own module in every model: sampling from a VAE means calling
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


def _check_codes(z, latent_dim, weight):
    """z: (N, L) codes, L = latent_dim, of the dtype and device of weight (the decoder's first layer's)."""
    check_float(z, "z")
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z: expected codes of shape (N, {latent_dim}), got {tuple(z.shape)}")
    return check_matches(z, weight, "z")


def _check_images(x, dim, weight):
    """x: (N, D) or (N, 28, 28), D = dim, of the dtype and device of weight (the encoder's first
    layer's); returns (N, D)."""
    return check_matches(flatten_images(x, dim), weight, "x")


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
        x = _check_images(x, self.dims[0], self.encoder[0].weight)
        if self.output == "sigmoid":
            check_pixels(x, "x", " (an Autoencoder with output='sigmoid' reconstructs values in (0, 1); "
                                 "for other data use output='linear')")
        else:
            check_finite(x, "x")
        return self.encoder(x)

    def decode(self, z):
        """z: (N, L) -> x_hat: (N, D)."""
        out = self.decoder(_check_codes(z, self.latent_dim, self.decoder[0].weight))
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

    n_classes = 0  # class labels the encoder and decoder read besides x and z: none (see ConditionalVAE)

    def __init__(self, dims=(784, 256, 2), activation="relu", likelihood="bernoulli"):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {describe(likelihood)}")
        self.dims, self.likelihood = check_dims(dims), likelihood
        encoder_dims, decoder_dims = self._layer_sizes(self.dims, self.n_classes)
        self.encoder = mlp(encoder_dims, activation)  # built first: the order of torch's RNG draws
        self.decoder = mlp(decoder_dims, activation)
        if likelihood == "gaussian":
            self.log_sigma2 = nn.Parameter(torch.zeros(()))

    @staticmethod
    def _layer_sizes(dims, n_classes):
        """(encoder sizes, decoder sizes). The encoder reads x and a one-hot label of n_classes
        entries (none when n_classes = 0) and outputs mu and logvar, 2 L numbers; the decoder
        reads z and the label, and mirrors the encoder."""
        return (dims[0] + n_classes,) + dims[1:-1] + (2 * dims[-1],), (dims[-1] + n_classes,) + dims[-2::-1]

    @classmethod
    def _size(cls, dims, n_classes, likelihood):
        encoder_dims, decoder_dims = cls._layer_sizes(dims, n_classes)
        return mlp_size(encoder_dims) + mlp_size(decoder_dims) + (likelihood == "gaussian")

    @classmethod
    def size(cls, dims, likelihood="bernoulli"):
        """The number of parameters VAE(dims, likelihood=...) has, computed without building
        it (to refuse a size before the allocator does)."""
        return cls._size(check_dims(dims), 0, likelihood)

    @property
    def latent_dim(self):
        return self.dims[-1]

    def encode(self, x):
        """x: (N, D) or (N, 28, 28) -> (mu, logvar), each (N, L)."""
        return self._posterior(self._images(x))

    def _images(self, x):
        return _check_images(x, self.dims[0], self.encoder[0].weight)

    def _posterior(self, inputs):
        """The encoder's output on inputs (N, D [+ n_classes]) as (mu, logvar), each (N, L)."""
        mu, logvar = self.encoder(inputs).chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu, logvar, generator=None):
        """z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2): differentiable in mu, logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z):
        """z: (N, L) -> (N, D): Bernoulli logits (torch.sigmoid gives pixel probabilities),
        or the Gaussian mean."""
        return self.decoder(self._codes(z))

    def _codes(self, z):
        return _check_codes(z, self.latent_dim, self.decoder[0].weight)

    def log_likelihood(self, x, z):
        """log p(x | z) in nats, summed over pixels: x (N, D) or (N, 28, 28); z (N, L), or
        (K, N, L) for K codes per image. Returns (N,) or (K, N)."""
        return self._log_likelihood(x, z, self.decode)

    def _log_likelihood(self, x, z, decode):
        """log p(x | z) as above, with decode: codes (M, L) -> the decoder's output (M, D)."""
        x = flatten_images(x, self.dims[0])
        out = decode(z.reshape(-1, z.shape[-1])).reshape(z.shape[:-1] + (self.dims[0],))
        if self.likelihood == "bernoulli":
            return log_bernoulli(x, out)
        return log_normal_diag(x, out, self.log_sigma2.expand_as(out))

    def forward(self, x):
        return self._one_pass(self.encode(x), self.decode)

    def _one_pass(self, posterior, decode):
        """VAEOutput of one z ~ q drawn from posterior = (mu, logvar) and decoded by decode(z)."""
        mu, logvar = posterior
        z = self.reparameterize(mu, logvar)
        return VAEOutput(decode(z), mu, logvar, z)

    @torch.no_grad()
    def sample(self, n, generator=None):
        """n images drawn through the prior: z ~ N(0, I), returned as the decoder's means
        (sigmoid(logits) for Bernoulli), (n, D)."""
        return self._mean(self.decode(self._prior_codes(n, generator)))

    def _prior_codes(self, n, generator):
        """z ~ N(0, I), (n, L), on the model's device; n: an int >= 0."""
        n = whole_number(n, "n", minimum=0)
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def _mean(self, out):
        """The mean of p(x | z) from the decoder's output: sigmoid(logits), or the Gaussian mean."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out


class ConditionalVAE(VAE):
    """A VAE of x given its class label y (Kingma et al. 2014, "Semi-supervised learning with
    deep generative models", model M2 with y always observed; Sohn et al. 2015, "Learning
    structured output representation using deep conditional generative models"):

        p(x | y) = integral of p(x | z, y) p(z) dz,   p(z) = N(0, I) (z and y independent a priori),
        q(z | x, y) = N(mu(x, y), diag exp(logvar(x, y))).

    y enters both networks as a one-hot vector of n_classes entries, concatenated to x (encoder
    input D + n_classes) and to z (decoder input L + n_classes). Everything else is the VAE's:
    the likelihoods, the reparameterization, the prior.

    Its ELBO bounds log p(x | y). For any q(z | x, y) (Jensen's inequality on the log):

        log p(x | y) = log E_{q(z|x,y)} [ p(x | z, y) p(z) / q(z | x, y) ]
                     >= E_{q(z|x,y)} [ log p(x | z, y) ] - KL( q(z | x, y) || N(0, I) ),

    with a gap of KL( q(z | x, y) || p(z | x, y) ). The prior does not depend on y, so the KL
    term is the VAE's closed form at the conditional encoder's (mu, logvar); the importance-
    weighted bound L_k (objectives.iwae_bound) bounds log p(x | y) the same way.

    y: int64 labels (N,) in 0..n_classes-1, one per image (per code in decode). Each method
    takes the VAE's arguments and y: encode(x, y), decode(z, y), log_likelihood(x, z, y),
    forward(x, y), sample(n, y). objectives.elbo, vae_loss and iwae_bound take it as y=...
    """

    def __init__(self, dims=(784, 256, 2), n_classes=10, activation="relu", likelihood="bernoulli"):
        # a plain int may be set before nn.Module.__init__; VAE.__init__ reads it to size the layers
        self.n_classes = whole_number(n_classes, "n_classes")
        super().__init__(dims, activation, likelihood)

    @classmethod
    def size(cls, dims, n_classes=10, likelihood="bernoulli"):
        """The number of parameters ConditionalVAE(dims, n_classes, likelihood=...) has,
        computed without building it."""
        return cls._size(check_dims(dims), whole_number(n_classes, "n_classes"), likelihood)

    def _labels(self, y, n):
        """y, checked: an int64 tensor (n,) of class labels in 0..n_classes-1 on the model's device."""
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"y: expected a tensor of int64 class labels, got {describe(y)}")
        if y.dtype != torch.int64:
            fix = " (pass y.long())" if not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool) else ""
            raise TypeError(f"y: expected int64 class labels, got {str(y.dtype).replace('torch.', '')}{fix}")
        if tuple(y.shape) != (n,):
            raise ValueError(f"y: expected one label per image, shape ({n},), got {tuple(y.shape)}")
        device = self.encoder[0].weight.device
        if y.device != device:
            raise ValueError(f"y: on {y.device} but the model's weights are on {device}: pass y.to('{device}')")
        if y.numel():
            lo, hi = torch.aminmax(y)
            if lo < 0 or hi >= self.n_classes:
                bad = (lo if lo < 0 else hi).item()
                raise ValueError(f"y: labels must be in 0..{self.n_classes - 1}, got {bad}")
        return y

    def _with_labels(self, t, y):
        """[t, one_hot(y)]: t (N, M) and labels (N,) -> (N, M + n_classes), of t's dtype."""
        one_hot = nn.functional.one_hot(self._labels(y, len(t)), self.n_classes).to(t.dtype)
        return torch.cat([t, one_hot], dim=-1)

    def encode(self, x, y):
        """x: (N, D) or (N, 28, 28), y: (N,) labels -> (mu, logvar) of q(z | x, y), each (N, L)."""
        return self._posterior(self._with_labels(self._images(x), y))

    def decode(self, z, y):
        """z: (N, L), y: (N,) labels -> (N, D): the Bernoulli logits or Gaussian mean of p(x | z, y)."""
        return self.decoder(self._with_labels(self._codes(z), y))

    def log_likelihood(self, x, z, y):
        """log p(x | z, y) in nats, summed over pixels: x (N, D) or (N, 28, 28); z (N, L), or
        (K, N, L) for K codes per image; y (N,), the label of each image (shared by its K codes).
        Returns (N,) or (K, N)."""
        x = flatten_images(x, self.dims[0])
        y = self._labels(y, len(x))
        check_float(z, "z")
        if z.dim() < 2 or z.shape[-2] != len(x):
            raise ValueError(f"z: expected codes of shape (N, L) or (K, N, L) with N = {len(x)} images, "
                             f"got {tuple(z.shape)}")
        labels = y.expand(z.shape[:-1]).reshape(-1)  # the label of each code, in z's order
        return self._log_likelihood(x, z, lambda codes: self.decode(codes, labels))

    def forward(self, x, y):
        return self._one_pass(self.encode(x, y), lambda z: self.decode(z, y))

    @torch.no_grad()
    def sample(self, n, y=None, generator=None):
        """n images drawn through the prior given labels: z ~ N(0, I), returned as the means of
        p(x | z, y), (n, D). y: an int label for all n, a tensor (n,) of labels, or None for the
        labels 0, 1, ..., n_classes - 1, 0, 1, ... in turn."""
        z = self._prior_codes(n, generator)
        return self._mean(self.decode(z, self._sample_labels(y, len(z), z.device)))

    def _sample_labels(self, y, n, device):
        if y is None:
            return torch.arange(n, device=device) % self.n_classes
        if not isinstance(y, torch.Tensor) or y.dim() == 0:
            label = whole_number(y, "y", minimum=0, maximum=self.n_classes - 1)
            return torch.full((n,), label, dtype=torch.int64, device=device)
        return y


class ConvVAE(VAE):
    """A VAE whose encoder and decoder are convolutional: the VAE's model, prior, likelihoods,
    reparameterization and interface (encode, decode, log_likelihood, forward, sample), with
    other networks inside. Shapes: x (N, 784) or (N, 28, 28) or (N, 1, 28, 28); z (N, L).

    Encoder, (N, 784) -> (N, 2L), mu then logvar:
        view as (N, 1, 28, 28) -> Conv2d(1, 32, 4, stride 2, padding 1) -> ReLU: (N, 32, 14, 14)
        -> Conv2d(32, 64, 4, stride 2, padding 1) -> ReLU: (N, 64, 7, 7) -> flatten (N, 3136)
        -> Linear(3136, 2L).
    Decoder, the mirror, (N, L) -> (N, 784) Bernoulli logits (or the Gaussian mean):
        Linear(L, 3136) -> ReLU -> view as (N, 64, 7, 7) -> ConvTranspose2d(64, 32, 4, stride 2,
        padding 1) -> ReLU: (N, 32, 14, 14) -> ConvTranspose2d(32, 1, 4, stride 2, padding 1):
        (N, 1, 28, 28) -> flatten (N, 784).

    Locality: each output of a convolution reads a 4 x 4 patch of the layer below, not the
    whole image. Weight sharing: the same kernel is used at every position, so the first layer
    has 32 * (16 + 1) = 544 parameters, where a dense layer with its 32 * 14 * 14 = 6272
    outputs would need 784 * 6272 + 6272 = 4,923,520. Together they make a convolution
    translation-equivariant: shifting the input by the stride (2 pixels) shifts the feature
    map by one position, away from the border; shifts by an odd number of pixels do not map
    to a shift of a stride-2 layer's output.

    Parameters: 69,825 + 9,410 L (258,025 for L = 20; the 784-256-20 VAE has 418,104), plus
    one for the Gaussian's noise variance; ConvVAE.size(L) computes it.

    dims = (784, L): the input size and the code size, so that code written for VAE
    (model.dims[0], model.latent_dim) works unchanged; the layers between are fixed.
    The encoder reads flattened images (N, 784) and the decoder returns them, like the VAE's,
    and model.encoder[1].weight is the first convolution's kernel, (32, 1, 4, 4).
    activation: what the ReLUs above are, "relu" (the default), "tanh" or "linear" (none).
    """

    def __init__(self, latent_dim=20, activation="relu", likelihood="bernoulli"):
        nn.Module.__init__(self)  # not VAE.__init__: it would build the MLPs
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {describe(activation)}")
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {describe(likelihood)}")
        latent_dim = whole_number(latent_dim, "latent_dim")
        self.dims, self.likelihood = (28 * 28, latent_dim), likelihood

        def act():  # the activation as a list of one new module, or of none for "linear"
            return [ACTIVATIONS[activation]()] if ACTIVATIONS[activation] else []

        self.encoder = nn.Sequential(  # built first, as in VAE
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 32, kernel_size=4, stride=2, padding=1), *act(),   # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=1), *act(),  # 14 -> 7
            nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 64 * 7 * 7), *act(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1), *act(),  # 7 -> 14
            nn.ConvTranspose2d(32, 1, kernel_size=4, stride=2, padding=1),         # 14 -> 28
            nn.Flatten())
        if likelihood == "gaussian":
            self.log_sigma2 = nn.Parameter(torch.zeros(()))

    @classmethod
    def size(cls, latent_dim=20, likelihood="bernoulli"):
        """The number of parameters ConvVAE(latent_dim, likelihood=...) has, computed without
        building it: 69,825 + 9,410 L (+ 1 for the Gaussian)."""
        L = whole_number(latent_dim, "latent_dim")
        convolutions = (1 * 32 * 16 + 32) + (32 * 64 * 16 + 64) + (64 * 32 * 16 + 32) + (32 * 1 * 16 + 1)
        linears = (3136 * 2 * L + 2 * L) + (L * 3136 + 3136)
        return convolutions + linears + (likelihood == "gaussian")

    def _images(self, x):
        return _check_images(x, self.dims[0], self.encoder[1].weight)  # encoder[0] reshapes

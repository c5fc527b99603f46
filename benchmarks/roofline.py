"""The matrix products alone: how fast could training or evaluation be on this machine?

A VAE made of nn.Linear layers spends its arithmetic in matrix products; everything else
(elementwise ops, autograd's bookkeeping, the optimizer, checks, logging) is overhead on top. Here
each product a run performs is timed on its own with torch.mm at the model's own shapes, on this
machine, now; the sum is the run's GEMM-only time, and a measured time divided by it is the
roofline ratio (1.0 = nothing but the products). Absolute seconds differ between machines; the
ratio is the figure to keep.

    gemm_train_epoch_seconds(model, n_train, batch, n_test)   one epoch + its test evaluation
    gemm_iwae_seconds(model, n_images, k, batch)              evaluate --k: the IWAE-k bound
"""
import time

import torch
from torch import nn

from vae_lessons.objectives import default_chunk


def linear_shapes(module):
    """(in, out) of every nn.Linear in module, in order."""
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


class ProductTimer:
    """Best-of-`repeat` seconds (the least disturbed by other work) of torch.mm for (m, k) @ (k, n), cached per shape."""

    def __init__(self, device="cpu", repeat=7):
        self.device, self.repeat, self.cache = torch.device(device), repeat, {}

    def __call__(self, m, k, n):
        if (m, k, n) not in self.cache:
            a = torch.randn(m, k, device=self.device)
            b = torch.randn(n, k, device=self.device).t()  # as nn.Linear holds its weight: (out, in), transposed
            torch.mm(a, b)                                  # warm-up
            best = float("inf")
            for _ in range(self.repeat):
                self._sync()
                start = time.perf_counter()
                torch.mm(a, b)
                self._sync()
                best = min(best, time.perf_counter() - start)
            self.cache[m, k, n] = best
        return self.cache[m, k, n]

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def batch_sizes(n, batch):
    """The sizes of the batches n images split into: full ones, then the remainder."""
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


def forward_seconds(timer, shapes, rows):
    return sum(timer(rows, i, o) for i, o in shapes)


def backward_seconds(timer, shapes, rows):
    """The two products of each layer's backward pass: the gradient of its input (B, out) @ (out, in),
    which autograd skips for the first layer (the images need no gradient), and of its weight
    (out, B) @ (B, in)."""
    seconds = sum(timer(rows, o, i) for i, o in shapes[1:])
    return seconds + sum(timer(o, rows, i) for i, o in shapes)


def gemm_train_epoch_seconds(model, n_train, batch, n_test=0, test_batch=1000, timer=None):
    """GEMM-only seconds of one training epoch of model (forward and backward of encoder and decoder
    per batch) plus, if n_test, a forward pass over n_test test images (the per-epoch test ELBO)."""
    timer = timer or ProductTimer()
    shapes = linear_shapes(model.encoder) + linear_shapes(model.decoder)
    train = sum(forward_seconds(timer, shapes, b) + backward_seconds(timer, shapes, b)
                for b in batch_sizes(n_train, batch))
    return train + sum(forward_seconds(timer, shapes, b) for b in batch_sizes(n_test, test_batch))


def gemm_iwae_seconds(model, n_images, k, batch=100, chunk=None, timer=None):
    """GEMM-only seconds of the IWAE-k bound over n_images, as objectives.iwae_bound computes it:
    the encoder once per image, the decoder on k codes per image, chunk codes at a time (default:
    iwae_bound's own chunk for a batch of this size)."""
    timer = timer or ProductTimer()
    encoder, decoder = linear_shapes(model.encoder), linear_shapes(model.decoder)
    seconds = 0.0
    for b in batch_sizes(n_images, batch):
        c = chunk or default_chunk(b, model.dims[0])
        seconds += forward_seconds(timer, encoder, b)
        seconds += sum(forward_seconds(timer, decoder, b * n) for n in batch_sizes(k, c))
    return seconds


def flops_iwae(model, n_images, k):
    """Multiply-adds x 2 of the decoder's products for IWAE-k over n_images (the encoder's are
    negligible beside them)."""
    return 2 * n_images * k * sum(i * o for i, o in linear_shapes(model.decoder))

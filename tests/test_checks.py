"""Each checker accepts a right answer and rejects wrong ones (a check that cannot fail is a defect)."""
import math

import pytest
import torch

from vae_lessons import checks
from vae_lessons.checks import CheckFailed
from vae_lessons.distributions import gaussian_kl, log_standard_normal


def test_close(capsys):
    checks.close("kl anchor", 2.0, 2.0 + 1e-9, atol=1e-6)
    assert capsys.readouterr().out.startswith("PASS  kl anchor: 2 vs 2")
    checks.close("tensors", torch.ones(3), torch.ones(3) * (1 + 1e-8), rtol=1e-6)
    with pytest.raises(CheckFailed, match="FAIL  off: 2.001 vs 2"):
        checks.close("off", 2.001, 2.0, atol=1e-6)
    with pytest.raises(CheckFailed):
        checks.close("nan", float("nan"), 1.0, atol=1.0)
    with pytest.raises(CheckFailed, match="shape"):
        checks.close("shapes", torch.ones(2), torch.ones(3), atol=1)
    with pytest.raises(ValueError, match="state a tolerance"):
        checks.close("no tolerance", 1.0, 1.0)


def mc_kl(mu, logvar, n, seed):
    g = torch.Generator().manual_seed(seed)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, len(mu), generator=g, dtype=torch.float64)
    log_q = -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp()).sum(-1)
    terms = log_q - log_standard_normal(z)
    return terms.mean(), terms.std() / math.sqrt(n)


def test_within_se_accepts_the_right_kl_and_rejects_a_wrong_one():
    mu, logvar = torch.tensor([0.3, -1.2], dtype=torch.float64), torch.tensor([0.4, -0.8], dtype=torch.float64)
    est, se = mc_kl(mu, logvar, 100_000, seed=0)
    checks.within_se("KL closed form vs MC", est, gaussian_kl(mu, logvar), se, n_se=3)
    wrong = 0.5 * (mu**2 + logvar.exp() - logvar).sum()  # the "-1" dropped
    with pytest.raises(CheckFailed, match="standard errors"):
        checks.within_se("wrong KL", est, wrong, se, n_se=3)
    with pytest.raises(ValueError):
        checks.within_se("zero se", 1.0, 1.0, 0.0)


def test_bounds_and_order():
    checks.at_most("elbo <= log p", -90.0, -88.0)
    checks.at_least("kl >= 0", 0.0, 0.0)
    checks.at_least("with slack", -1e-9, 0.0, tol=1e-8)
    with pytest.raises(CheckFailed):
        checks.at_most("elbo above log p", -87.0, -88.0)
    with pytest.raises(CheckFailed):
        checks.at_least("negative kl", -0.1, 0.0)
    checks.decreasing("error vs code size", [30.0, 20.0, 10.0], min_step=1.0)
    with pytest.raises(CheckFailed):
        checks.decreasing("not decreasing", [30.0, 31.0, 10.0])
    with pytest.raises(CheckFailed):
        checks.decreasing("steps too small", [30.0, 29.5], min_step=1.0)


def test_shape_dtype_range():
    x = torch.rand(4, 28, 28)
    checks.shape("x", x, (4, 28, 28))
    checks.dtype("x", x, torch.float32)
    checks.in_range("x", x, 0, 1)
    with pytest.raises(CheckFailed):
        checks.shape("x", x, (4, 784))
    with pytest.raises(CheckFailed):
        checks.dtype("x", x, torch.float64)
    with pytest.raises(CheckFailed):
        checks.in_range("x", x * 255, 0, 1)
    with pytest.raises(CheckFailed):
        checks.in_range("nan", torch.tensor([0.5, float("nan")]), 0, 1)

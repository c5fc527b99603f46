import math

import pytest
import torch

from vae_lessons.numerics import log_normal_1d, log_trapezoid


def test_trapezoid_integrates_known_densities():
    z = torch.linspace(-15, 15, 30_001, dtype=torch.float64)
    log_p = log_normal_1d(z, 1.0, 2.0)
    assert abs(log_trapezoid(log_p, z).item()) < 1e-10                     # int N = 1
    assert log_trapezoid(log_p + torch.log(z**2), z).exp().item() == pytest.approx(2.0 + 1.0, abs=1e-8)  # E z^2
    assert log_trapezoid(log_p - 1000.0, z).item() == pytest.approx(-1000.0, abs=1e-10)  # no underflow
    assert log_normal_1d(z, 1.0, 2.0)[15_000].item() == pytest.approx(-0.5 * (math.log(4 * math.pi) + 0.5))


def test_bad_grid():
    with pytest.raises(ValueError, match="must match the grid"):
        log_trapezoid(torch.zeros(5), torch.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="strictly increasing"):
        log_trapezoid(torch.zeros(3), torch.tensor([0.0, 1.0, 0.5]))

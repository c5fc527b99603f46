import math

import pytest
import torch

from vae_lessons.pca import pca, principal_angles


def test_pca_matches_the_covariance_eigendecomposition():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=g, dtype=torch.float64) @ torch.diag(torch.tensor([5.0, 3, 2, 1, 0.5, 0.1], dtype=torch.float64))
    mean, comps, var = pca(x, 3)
    evals, evecs = torch.linalg.eigh(torch.cov(x.T, correction=0))
    torch.testing.assert_close(var, evals.flip(0)[:3])
    torch.testing.assert_close(comps.T @ comps, torch.eye(3, dtype=torch.float64))
    assert principal_angles(comps, evecs.flip(1)[:, :3]).max() < 1e-8


def test_principal_angle_anchors():
    e = torch.eye(3, dtype=torch.float64)
    assert principal_angles(e[:, :2], e[:, :2]).abs().max() < 1e-7
    assert principal_angles(e[:, :2], e[:, [1, 0]] @ torch.tensor([[2.0, 1], [0, 3]], dtype=torch.float64)).max() < 1e-7
    torch.testing.assert_close(principal_angles(e[:, :1], e[:, 1:2]), torch.tensor([math.pi / 2], dtype=torch.float64))
    theta = 0.3
    rotated = torch.tensor([[math.cos(theta)], [math.sin(theta)], [0.0]], dtype=torch.float64)
    torch.testing.assert_close(principal_angles(e[:, :1], rotated), torch.tensor([theta], dtype=torch.float64))
    angles = principal_angles(e[:, :2], torch.stack([e[:, 0], rotated[:, 0].roll(1)], 1))
    assert angles[0] < 1e-7 and abs(angles[1] - theta) < 1e-7


def test_bad_input():
    with pytest.raises(ValueError, match="k must be between 1 and"):
        pca(torch.randn(10, 3), 4)
    with pytest.raises(ValueError, match="same D"):
        principal_angles(torch.randn(4, 2), torch.randn(5, 2))

import matplotlib
import pytest
import torch

from vae_lessons.plotting import image_grid, plot_codes, plot_history, show_images, show_reconstructions
from vae_lessons.training import History


def test_image_grid_layout():
    x = torch.zeros(12, 28, 28)
    x[11] = 1.0
    grid = image_grid(x, nrow=5, pad=1)
    assert grid.shape == (3 * 29 - 1, 5 * 29 - 1)
    assert grid[58:86, 29:57].min() == 1.0 and grid.sum() == 28 * 28  # image 11: row 2, column 1
    assert grid[28, :].max() == 0.0  # padding is background (0)


def test_figures_are_returned():
    x = torch.rand(20, 784)
    for fig in (show_images(x, nrow=10, title="t"), show_reconstructions(x, x, n=8),
                plot_codes(torch.randn(50, 2), torch.arange(50) % 10),
                plot_history(History([{"loss": 3.0, "val_loss": 3.5}, {"loss": 2.0, "val_loss": 2.8}]))):
        assert isinstance(fig, matplotlib.figure.Figure)
        matplotlib.pyplot.close(fig)


def test_bad_shapes():
    with pytest.raises(ValueError, match="x: expected images"):
        show_images(torch.rand(5, 10))
    with pytest.raises(ValueError, match="z: expected 2-D codes"):
        plot_codes(torch.randn(5, 3), torch.zeros(5))

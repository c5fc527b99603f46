"""Figures the lessons share. Each function draws and returns the Figure; the notebook
cell ends with plt.show()."""
import matplotlib.pyplot as plt
import numpy as np
import torch


def _as_images(x):
    x = x.detach().cpu().float() if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=torch.float32)
    if x.dim() == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.dim() != 3:
        raise ValueError(f"x: expected images (N, 28, 28) or (N, 784), got {tuple(x.shape)}")
    return x.numpy()


def image_grid(x, nrow=10, pad=2):
    """Tile images (N, H, W) into one array, nrow images per row, pad pixels of background
    (0, drawn white by show_images) between them."""
    x = _as_images(x)
    n, h, w = x.shape
    ncol = nrow
    rows = -(-n // ncol)
    grid = np.zeros((rows * (h + pad) - pad, ncol * (w + pad) - pad), dtype=np.float32)
    for i, img in enumerate(x):
        r, c = divmod(i, ncol)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = img
    return grid


def show_images(x, nrow=10, title=None, scale=0.6):
    """A grid of images in [0, 1], black on white (pixel 1 is ink)."""
    grid = image_grid(x, nrow)
    fig, ax = plt.subplots(figsize=(scale * grid.shape[1] / 30, scale * grid.shape[0] / 30 + 0.4))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def show_reconstructions(x, x_hat, n=10, title=None):
    """Originals (top row) above their reconstructions (bottom row)."""
    images = np.concatenate([_as_images(x[:n]), _as_images(x_hat[:n])])
    fig = show_images(images, nrow=n, title=title)
    fig.axes[0].text(-3, 14, "x", ha="right", va="center")
    fig.axes[0].text(-3, 44, r"$\hat{x}$", ha="right", va="center")
    return fig


def plot_codes(z, labels, title=None, ax=None):
    """Scatter of 2-D codes z (N, 2), coloured by digit label (N,)."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    labels = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"z: expected 2-D codes of shape (N, 2), got {z.shape}")
    fig, ax = plt.subplots(figsize=(5.5, 4.5)) if ax is None else (ax.figure, ax)
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=3, alpha=0.7)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return fig


def plot_history(history, keys=("loss",), ylabel="loss", title=None, ax=None):
    """Per-epoch curves of history[key] for each key (and val_key, when recorded)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5)) if ax is None else (ax.figure, ax)
    epochs = np.arange(1, len(history) + 1)
    for key in keys:
        for k, style in ((key, "-"), (f"val_{key}", "--")):
            if k in history.keys():
                ax.plot(epochs, history[k], style, label=k.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig

"""The latent explorer (vae_lessons.explorer) against independent references: torch.distributions'
Normal log-density and the closed form at z = 0, the model's own decode, matplotlib's PNG reader,
and a plain sort of kl_per_dimension. Tiny untrained VAEs, seeded: no training, fast."""
import io
import math
import os
import subprocess
import sys

import matplotlib.image
import nbformat
import pytest
import torch
from helpers import ROOT, load_script

from vae_lessons.data import binarize_static, load_mnist
from vae_lessons.diagnostics import kl_per_dimension
from vae_lessons.explorer import (code_from_sliders, decode_point, image_png, latent_explorer, prior_share_less_dense,
                                  top_kl_coordinates)
from vae_lessons.models import VAE, Autoencoder, ConditionalVAE


def tiny_vae(L, seed=0):
    torch.manual_seed(seed)
    return VAE((784, 16, L)).eval()


@pytest.fixture(scope="module")
def vae2():
    return tiny_vae(2)


def sigmoid_decode(model, z):
    with torch.no_grad():
        return torch.sigmoid(model.decode(z)).reshape(28, 28)


# code_from_sliders

def test_code_from_sliders_sets_exactly_the_chosen_coordinates():
    base = torch.arange(5, dtype=torch.float32)
    z = code_from_sliders([9.5, -1.25], [3, 0], base)
    assert z.shape == (1, 5) and z.dtype == torch.float32
    assert torch.equal(z, torch.tensor([[-1.25, 1.0, 2.0, 9.5, 4.0]]))
    assert torch.equal(base, torch.arange(5, dtype=torch.float32))   # base is not changed
    assert torch.equal(code_from_sliders([], [], base), base[None])


@pytest.mark.parametrize("values, coords, message", [
    ([1.0], [0, 1], "1 slider values for 2 coordinates"),
    ([1.0, 2.0], [0], "2 slider values for 1 coordinates"),
    ([1.0], [5], "coords: coordinate must be an int from 0 to 4, got 5"),
    ([1.0], [-1], "coords: coordinate must be an int from 0 to 4, got -1"),
    ([1.0, 2.0], [2, 2], "must not repeat a coordinate"),
    ([1.0], [1.0], "coords must be distinct coordinate indices"),
    ([math.nan], [0], "slider values must be finite"),
    ([math.inf], [0], "slider values must be finite"),
])
def test_code_from_sliders_refuses_bad_input(values, coords, message):
    with pytest.raises(ValueError, match=message):
        code_from_sliders(values, coords, torch.zeros(5))


def test_code_from_sliders_refuses_a_base_that_is_not_one_code():
    with pytest.raises(ValueError, match=r"base must be a float code of shape \(L,\)"):
        code_from_sliders([1.0], [0], torch.zeros(1, 5))


# decode_point

@pytest.mark.parametrize("L", [2, 20])
def test_decode_point_is_the_decoders_bernoulli_means_and_the_prior_log_density(L):
    model = tiny_vae(L)
    z = torch.randn(1, L, generator=torch.Generator().manual_seed(L))
    point = decode_point(model, z)
    assert point.image.shape == (28, 28) and not point.image.requires_grad
    assert torch.equal(point.image, sigmoid_decode(model, z))
    assert 0 <= point.image.min() and point.image.max() <= 1
    reference = torch.distributions.Normal(0.0, 1.0).log_prob(z.double()).sum().item()
    assert isinstance(point.log_prior, float) and point.log_prior == pytest.approx(reference, rel=1e-12)
    # at the prior's mean, the closed form: log N(0; 0, I_L) = -L/2 log(2 pi)
    assert decode_point(model, torch.zeros(L)).log_prior == pytest.approx(-L / 2 * math.log(2 * math.pi), rel=1e-14)


def test_decoded_image_changes_when_a_slider_moves_and_only_then(vae2):
    base = torch.zeros(2)
    first = decode_point(vae2, code_from_sliders([0.5, -1.0], [0, 1], base)).image
    again = decode_point(vae2, code_from_sliders([0.5, -1.0], [0, 1], base)).image
    moved = decode_point(vae2, code_from_sliders([0.5, 1.0], [0, 1], base)).image
    assert torch.equal(first, again)
    assert (first - moved).abs().max() > 1e-3


@pytest.mark.parametrize("z, message", [
    (torch.zeros(1, 3), r"one code of shape \(1, 2\) or \(2,\) for this model \(L = 2\), got shape \(1, 3\)"),
    (torch.zeros(2, 2), r"got shape \(2, 2\)"),
    (torch.zeros(1, 2, dtype=torch.long), "z must be a float tensor"),
    ([0.0, 0.0], "z must be a float tensor"),
    (torch.tensor([[0.0, math.nan]]), "z must be finite"),
])
def test_decode_point_refuses_a_code_of_the_wrong_shape_or_kind(vae2, z, message):
    with pytest.raises(ValueError, match=message):
        decode_point(vae2, z)


@pytest.mark.parametrize("model, message", [
    (VAE((784, 8, 2), likelihood="gaussian"), "needs a VAE with a Bernoulli decoder"),
    (Autoencoder((784, 8, 2)), "needs a VAE with a Bernoulli decoder"),   # decode already returns pixels
    (ConditionalVAE((784, 8, 2), n_classes=10), "also needs a class label"),
])
def test_decode_point_refuses_what_is_not_an_unconditional_bernoulli_vae(model, message):
    with pytest.raises(ValueError, match=message):
        decode_point(model, torch.zeros(1, 2))


# prior_share_less_dense: the chi-squared survival function, against closed forms and Monte Carlo

def test_share_less_dense_in_2d_is_exp_of_minus_half_the_squared_norm():
    for z in ([0.0, 0.0], [1.0, 0.0], [0.697, 0.921], [2.5, -1.5]):
        assert prior_share_less_dense(torch.tensor(z, dtype=torch.float64)) == pytest.approx(math.exp(-0.5 * sum(v * v for v in z)), abs=1e-12)


@pytest.mark.parametrize("L", [1, 5, 20])
def test_share_less_dense_matches_monte_carlo_prior_draws(L):
    z = torch.linspace(-1.0, 1.5, L)                          # |z|^2 well inside the bulk for each L
    eps = torch.randn(200_000, L, generator=torch.Generator().manual_seed(L), dtype=torch.float64)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob
    share = (log_p(eps).sum(1) < log_p(z.double()).sum()).double()
    se = share.std().item() / math.sqrt(len(share))
    assert abs(prior_share_less_dense(z) - share.mean().item()) < 4 * se + 1e-12


# image_png

@pytest.mark.parametrize("scale", [1, 4])
def test_image_png_round_trips_through_matplotlib(scale):
    image = torch.rand(28, 28, generator=torch.Generator().manual_seed(1))
    image[0, 0], image[0, 1] = 0.0, 1.0
    read = matplotlib.image.imread(io.BytesIO(image_png(image, scale=scale)), format="png")
    assert read.shape[:2] == (28 * scale, 28 * scale)
    grey = torch.from_numpy(read[..., 0].copy()).double()
    assert all(torch.equal(torch.from_numpy(read[..., c].copy()).double(), grey) for c in (1, 2))  # grey: R = G = B
    # each pixel a scale x scale block (nearest neighbour), drawn as the lessons draw digits: 1 - image
    blocks = grey.reshape(28, scale, 28, scale)
    assert torch.equal(blocks, blocks[:, :1, :, :1].expand_as(blocks))
    assert (blocks[:, 0, :, 0] - (1 - image.double())).abs().max() <= 1 / 255
    assert blocks[0, 0, 0, 0] == 1.0 and blocks[0, 0, 1, 0] == 0.0


@pytest.mark.parametrize("image, message", [
    (torch.zeros(784), r"shape \(28, 28\)"),
    (torch.full((28, 28), 1.5), r"in \[0, 1\]"),
])
def test_image_png_refuses_what_is_not_one_image_of_probabilities(image, message):
    with pytest.raises(ValueError, match=message):
        image_png(image)


# top_kl_coordinates

@pytest.fixture(scope="module")
def test_images():
    x, _ = load_mnist("test")
    return binarize_static(x[:300].reshape(300, -1), seed=0)


def test_top_kl_coordinates_are_the_largest_kl_per_dimension_largest_first(test_images):
    model = tiny_vae(6, seed=3)
    kl = kl_per_dimension(model, test_images)
    assert len(set(kl.tolist())) == 6                    # no ties: the order is the KL's alone
    top = top_kl_coordinates(model, test_images, 3)
    assert top == sorted(range(6), key=lambda l: -kl[l])[:3]
    assert top_kl_coordinates(model, test_images, 6) == sorted(range(6), key=lambda l: -kl[l])
    assert all(isinstance(l, int) for l in top)


@pytest.mark.parametrize("k", [0, 7])
def test_top_kl_coordinates_refuses_k_outside_1_to_L(test_images, k):
    with pytest.raises(ValueError, match="k must be an int from 1 to 6"):
        top_kl_coordinates(tiny_vae(6), test_images, k)


# latent_explorer

@pytest.fixture
def widgets():
    return pytest.importorskip("ipywidgets")


def test_explorer_has_the_sliders_image_and_density_the_browser_test_finds(vae2, widgets):
    box = latent_explorer(vae2, coords=[1, 0])
    assert isinstance(box, widgets.VBox) and list(box.children) == [*box.sliders, box.image, box.density]
    assert [s.description for s in box.sliders] == ["z_2", "z_1"]          # 1-based labels
    assert all("vae-explorer-slider" in s._dom_classes and isinstance(s, widgets.FloatSlider) for s in box.sliders)
    assert "vae-explorer-image" in box.image._dom_classes and box.image.format == "png"
    assert "vae-explorer-density" in box.density._dom_classes
    assert [(s.min, s.max, s.value) for s in box.sliders] == [(-3.0, 3.0, 0.0)] * 2
    assert box.image.value == image_png(sigmoid_decode(vae2, torch.zeros(1, 2)))


def test_moving_a_slider_redraws_the_image_and_the_density(vae2, widgets):
    box = latent_explorer(vae2, coords=[1, 0])
    before_image, before_density = box.image.value, box.density.value
    box.sliders[0].value = 1.25                                 # z_2, the coordinate with index 1
    z = torch.tensor([[0.0, 1.25]])
    assert torch.equal(box.z, z)
    assert box.image.value != before_image and box.density.value != before_density
    assert box.image.value == image_png(sigmoid_decode(vae2, z))
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z.double()).sum().item()
    assert f"log p(z) = {log_prior:.3f} nats" in box.density.value
    assert f"p(z) = {math.exp(log_prior):.3g}" in box.density.value
    assert f"{100 * math.exp(-0.5 * 1.25**2):.1f}% of prior draws are less dense" in box.density.value
    assert f"peak, at z = 0, is {-math.log(2 * math.pi):.3f} nats; a typical prior draw has {-math.log(2 * math.pi) - 1:.3f}" \
        in box.density.value
    image = box.image.value
    box.sliders[0].value = 1.25                                 # unchanged: nothing to redraw
    box.update()
    assert box.image.value == image


def test_explorer_starts_from_its_base_code(widgets):
    model = tiny_vae(5)
    base = torch.tensor([0.3, -1.0, 2.0, 0.0, -2.5], dtype=torch.float64)
    box = latent_explorer(model, coords=[2, 4], base=base)
    assert [s.value for s in box.sliders] == [2.0, -2.5]
    assert torch.equal(box.z, base.float()[None])
    box.sliders[1].value = 1.0
    assert torch.equal(box.z, torch.tensor([[0.3, -1.0, 2.0, 0.0, 1.0]]))
    assert torch.equal(box.point.image, sigmoid_decode(model, box.z))


@pytest.mark.parametrize("kwargs, message", [
    (dict(coords=[0, 2]), "coordinate must be an int from 0 to 1, got 2"),
    (dict(coords=[1, 1]), "must not repeat a coordinate"),
    (dict(coords=[]), "at least one coordinate"),
    (dict(coords=[0], base=torch.zeros(3)), r"base must be a finite float code of shape \(2,\)"),
    (dict(coords=[0], base=torch.tensor([3.5, 0.0])), r"base values \[3.5\] at coordinates \[0\] lie outside"),
    (dict(coords=[0], value_range=(1, -1)), "value_range must be"),
    (dict(coords=[0], step=0), "step must be a positive number"),
    (dict(coords=[0], step=7), "step must be a positive number"),
])
def test_explorer_refuses_bad_input(vae2, widgets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        latent_explorer(vae2, **kwargs)


def test_the_package_imports_and_decodes_without_ipywidgets():
    code = "\n".join(["import sys; sys.modules['ipywidgets'] = None   # makes `import ipywidgets` fail",
                      "import torch", "from vae_lessons.models import VAE",
                      "from vae_lessons.explorer import decode_point, latent_explorer",
                      "model = VAE((784, 4, 2))",
                      "assert decode_point(model, torch.zeros(2)).image.shape == (28, 28)",
                      "try:", "    latent_explorer(model, [0])", "except ImportError:", "    print('no ipywidgets')"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "no ipywidgets", done.stderr


# how `make execute` saves the explorer's output

def test_execute_saves_an_interactive_widget_as_a_note_and_a_bar_as_its_text_with_its_state():
    script = load_script("execute_notebooks")
    view = lambda model_id: {"output_type": "display_data", "metadata": {},
                             "data": {"text/plain": "VBox(...)", script.WIDGET_VIEW: {"model_id": model_id}}}
    state = {"box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s"]}},
             "s": {"model_name": "FloatSliderModel", "state": {"value": 0.0}},
             "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p", "IPY_MODEL_f", "IPY_MODEL_q"],
                                                          "layout": "IPY_MODEL_bar_layout"}},
             "bar_layout": {"model_name": "LayoutModel", "state": {}},
             "p": {"model_name": "HTMLModel", "state": {"value": "work: 100%"}},
             "f": {"model_name": "FloatProgressModel", "state": {"value": 3, "max": 3}},
             "q": {"model_name": "HTMLModel", "state": {"value": " 3/3"}}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("explorer", outputs=[view("box")]),
                                         nbformat.v4.new_code_cell("train()", outputs=[view("bar")])])
    nb.metadata["widgets"] = {script.WIDGET_STATE: {"state": state}}
    done = script.finish_outputs(nb)
    assert done.cells[0].outputs[0]["data"] == {"text/plain": script.INTERACTIVE_NOTE}
    assert done.cells[1].outputs[0]["data"]["text/plain"] == "work: 100%|██████████| 3/3"
    assert script.WIDGET_VIEW in done.cells[1].outputs[0]["data"]
    # the stored state keeps the bar and its parts, and drops the models no saved output shows
    assert set(done.metadata["widgets"][script.WIDGET_STATE]["state"]) == {"bar", "bar_layout", "p", "f", "q"}

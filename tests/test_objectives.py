import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vae_lessons.distributions import gaussian_kl
from vae_lessons.linear_gaussian import ppca_log_likelihood, ppca_posterior, ppca_vae
from vae_lessons.models import VAE, Autoencoder, ConditionalVAE
from vae_lessons.objectives import (ae_loss, bits_per_dim, elbo, elbo_parts, iwae_bound, kl_per_coordinate, kl_weight,
                                    log_mean_exp, squared_error, vae_loss)
from vae_lessons.training import train

F64 = torch.float64


def test_squared_error_matches_mse():
    x, x_hat = torch.rand(4, 28, 28), torch.rand(4, 784)
    torch.testing.assert_close(squared_error(x, x_hat).mean(),
                               torch.nn.functional.mse_loss(x_hat, x.reshape(4, 784), reduction="sum") / 4)
    loss, parts = ae_loss(Autoencoder((784, 16, 2)), x)
    assert loss.shape == () and parts["sq_err"] is loss


def test_elbo_parts_equal_a_hand_computation():
    vae, x = VAE((784, 64, 3)), torch.rand(6, 784).round()
    torch.manual_seed(11)
    log_px_z, kl = elbo_parts(vae, x)
    torch.manual_seed(11)  # the same eps, by hand
    h = vae.encoder(x)
    mu, logvar = h[:, :3], h[:, 3:]
    z = mu + torch.exp(logvar / 2) * torch.randn(6, 3)
    p = torch.sigmoid(vae.decoder(z))
    by_hand = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1)
    torch.testing.assert_close(log_px_z, by_hand, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(kl, -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1))


def test_elbo_is_reconstruction_minus_kl_with_the_same_z():
    vae, x = VAE((784, 32, 3)), torch.rand(5, 784).round()
    torch.manual_seed(2)
    log_px_z, kl = elbo_parts(vae, x)
    torch.manual_seed(2)
    torch.testing.assert_close(elbo(vae, x), log_px_z - kl)


def test_zero_decoder_costs_784_ln2_and_prior_encoder_costs_no_kl():
    vae, x = VAE((784, 32, 2)), torch.rand(8, 784).round()
    for module in (vae.decoder[-1], vae.encoder[-1]):
        torch.nn.init.zeros_(module.weight)
        torch.nn.init.zeros_(module.bias)
    loss, parts = vae_loss(vae, x)
    assert abs(parts["recon"].item() - 784 * math.log(2)) < 1e-3
    assert parts["kl"].item() == 0.0
    assert vae_loss(vae, x, beta=0.0)[0].item() == parts["recon"].item()
    assert bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)


def test_beta_weights_the_kl():
    vae, x = VAE((784, 32, 2)), torch.rand(8, 784).round()
    torch.manual_seed(0)
    loss1, parts = vae_loss(vae, x, beta=1.0)
    torch.manual_seed(0)
    loss4, _ = vae_loss(vae, x, beta=4.0)
    torch.testing.assert_close(loss4 - loss1, 3 * parts["kl"], rtol=0, atol=1e-3)  # float32 losses near 550


def test_monte_carlo_kl_agrees_with_analytic_in_expectation():
    vae, x = VAE((784, 32, 4)), torch.rand(2, 784).round()
    with torch.no_grad():
        analytic = elbo_parts(vae, x)[1]
        mc = torch.stack([elbo_parts(vae, x, kl="mc")[1] for _ in range(4000)])
    se = mc.std(0) / math.sqrt(len(mc))
    assert ((mc.mean(0) - analytic).abs() < 4 * se).all()
    with pytest.raises(ValueError, match="kl must be"):
        elbo_parts(vae, x, kl="exact")


def test_gaussian_likelihood_matches_torch_distributions():
    vae = VAE((10, 4, 2), likelihood="gaussian")
    with torch.no_grad():
        vae.log_sigma2.fill_(-1.3)
    x, z = torch.rand(5, 10), torch.randn(3, 5, 2)
    ref = Independent(Normal(vae.decode(z.reshape(15, 2)).reshape(3, 5, 10), math.exp(-0.65)), 1).log_prob(x)
    torch.testing.assert_close(vae.log_likelihood(x, z), ref)
    with pytest.raises(ValueError, match="likelihood must be"):
        VAE(likelihood="poisson")


def test_log_mean_exp():
    a = torch.tensor([[1.0, 2.0, 3.0], [1000.0, 1000.0, 1000.0]], dtype=F64)
    torch.testing.assert_close(log_mean_exp(a[:1], dim=1), torch.log(torch.exp(a[:1]).mean(1)))
    assert log_mean_exp(a[1:], dim=1).item() == pytest.approx(1000.0)


def ppca_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    W, b = torch.randn(6, 1, generator=g, dtype=F64), torch.randn(6, generator=g, dtype=F64)
    x = torch.randn(8, 1, generator=g, dtype=F64) @ W.T + b + 0.5 * torch.randn(8, 6, generator=g, dtype=F64)
    return x, W, b, 0.25


def test_iwae_is_exact_with_the_exact_posterior_whatever_the_chunking():
    x, W, b, s2 = ppca_data()
    vae = ppca_vae(W, b, s2)
    mean, cov = ppca_posterior(x, W, b, s2)
    mu, logvar = vae.encode(x)
    torch.testing.assert_close(mu, mean)
    torch.testing.assert_close(logvar.exp(), cov[0, 0].expand(8, 1))
    exact = ppca_log_likelihood(x, W, b, s2)
    for k, chunk in ((1, None), (7, 3), (50, 50)):
        torch.testing.assert_close(iwae_bound(vae, x, k, chunk=chunk), exact, rtol=0, atol=1e-10)


def test_iwae_rises_with_k_to_the_exact_log_likelihood():
    x, W, b, s2 = ppca_data()
    vae = ppca_vae(W, b, s2, q_var_scale=2.0)  # a poor q: twice too wide; weights of relative variance 2/sqrt(3) - 1
    exact = ppca_log_likelihood(x, W, b, s2)
    torch.manual_seed(0)
    means, ses = [], []
    for k in (1, 10, 100):
        reps = torch.stack([iwae_bound(vae, x, k) for _ in range(1000)])       # (1000, N)
        means.append(reps.mean(0))
        ses.append(reps.std(0) / math.sqrt(1000))
    assert ((means[1] - means[0]) > 3 * (ses[0] + ses[1])).all()             # more samples, tighter bound
    assert ((means[2] - means[1]) > 0).all()
    assert (means[2] <= exact + 3 * ses[2]).all()                            # still a lower bound
    gap5000 = (exact - iwae_bound(vae, x, 5000, chunk=1000)).abs()
    # IWAE-5000 scatters by sqrt(0.155 / 5000) = 0.0056 nats; k = 1 is KL(q || posterior) = 0.153 below
    assert gap5000.max() < 0.03 < (exact - means[0]).min()


def test_iwae_builds_no_graph_so_its_memory_does_not_grow_with_k():
    """An evaluation: no autograd graph, whose activations, kept for every chunk of every batch,
    once took `evaluate --k 5000` past 24 GB on 1,000 test images."""
    vae, x = VAE((784, 32, 3)), torch.rand(5, 784).round()
    assert all(p.requires_grad for p in vae.parameters())
    bound = iwae_bound(vae, x, 10, chunk=3)
    assert not bound.requires_grad and bound.grad_fn is None and torch.is_grad_enabled()


def test_iwae_at_k1_is_the_one_sample_elbo():
    vae, x = VAE((784, 32, 3)), torch.rand(5, 784).round()
    torch.manual_seed(3)
    iwae1 = iwae_bound(vae, x, 1)
    torch.manual_seed(3)
    log_px_z, kl_mc = elbo_parts(vae, x, kl="mc")
    torch.testing.assert_close(iwae1, log_px_z - kl_mc, rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="k must be a positive int"):
        iwae_bound(vae, x, 0)


def test_bad_arguments_name_themselves():
    import numpy as np
    vae, x = VAE((784, 32, 3)), torch.rand(5, 784).round()
    torch.manual_seed(4)
    as_numpy = iwae_bound(vae, x, np.int64(5))  # was: "k must be a positive int, got np.int64(5)"
    torch.manual_seed(4)
    assert torch.equal(as_numpy, iwae_bound(vae, x, 5))
    for bad, error, message in ((0, ValueError, "k must be a positive int, got 0"),
                                (2.0, TypeError, "k must be a positive int, got 2.0"),
                                (True, TypeError, "k must be a positive int, got True")):
        with pytest.raises(error, match=message):
            iwae_bound(vae, x, bad)
    for chunk in (-1, 0):  # -1 returned -inf silently
        with pytest.raises(ValueError, match=f"chunk must be a positive int, got {chunk}"):
            iwae_bound(vae, x, 5, chunk=chunk)
    empty = torch.zeros(0, 784)
    for call in (lambda: vae_loss(vae, empty), lambda: iwae_bound(vae, empty, 5), lambda: elbo(vae, empty)):
        with pytest.raises(ValueError, match=r"x: an empty batch, shape \(0, 784\)"):  # was: a bare IndexError
            call()
    for beta in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="beta must be a finite number >= 0, got"):
            vae_loss(vae, x, beta=beta)
    with pytest.raises(TypeError, match="beta must be a finite number >= 0, got '1'"):
        vae_loss(vae, x, beta="1")
    torch.manual_seed(0)
    as_tensor = vae_loss(vae, x, beta=torch.tensor(0.5))[0]  # a one-element tensor is a number too
    torch.manual_seed(0)
    assert as_tensor.item() == vae_loss(vae, x, beta=0.5)[0].item()
    with pytest.raises(TypeError, match=r"x: float64 but the model's weights are float32: pass x\.float\(\)"):
        vae_loss(vae, x.double())


# ------------------------------------------------------------------------------ free bits and KL warm-up

def free_bits_case():
    """A VAE whose 4 coordinates have batch-mean KLs spread out, a batch, and those KLs (float64)."""
    torch.manual_seed(5)
    vae, x = VAE((784, 32, 4)), torch.rand(16, 784).round()
    with torch.no_grad():
        vae.encoder[-1].bias[:4] = torch.tensor([0.5, 1.0, 1.5, 2.0])  # means away from 0: KLs about 0.1 to 2
        mu, logvar = (t.double() for t in vae.encode(x))
    per_dim = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)  # independent reference
    return vae, x, per_dim


def same_draw(call, seed=7):
    torch.manual_seed(seed)
    return call()


def test_free_bits_below_every_coordinates_kl_is_the_plain_negative_elbo():
    vae, x, per_dim = free_bits_case()
    lam = 0.5 * per_dim.min().item()
    loss, parts = same_draw(lambda: vae_loss(vae, x, free_bits=lam))
    plain, plain_parts = same_draw(lambda: vae_loss(vae, x))
    torch.testing.assert_close(loss, plain, rtol=1e-6, atol=0)  # sum_l mean_n vs mean_n sum_l: rounding only
    assert torch.equal(parts["recon"], plain_parts["recon"]) and torch.equal(parts["kl"], plain_parts["kl"])
    torch.testing.assert_close(parts["kl_loss"].double(), per_dim.sum(), rtol=1e-5, atol=0)


def test_free_bits_above_every_coordinates_kl_cost_lambda_each_and_give_the_kl_no_gradient():
    vae, x, per_dim = free_bits_case()
    lam = 2.0 * per_dim.max().item()
    loss, parts = same_draw(lambda: vae_loss(vae, x, free_bits=lam))
    recon = same_draw(lambda: -elbo_parts(vae, x)[0].mean())
    torch.testing.assert_close(loss, recon + 4 * lam, rtol=1e-6, atol=0)
    torch.testing.assert_close(parts["kl"].double(), per_dim.sum(), rtol=1e-5, atol=0)  # the actual KL, still
    assert parts["kl_loss"].item() == pytest.approx(4 * lam, rel=1e-6)
    grads = torch.autograd.grad(loss, list(vae.parameters()))
    recon_grads = torch.autograd.grad(same_draw(lambda: -elbo_parts(vae, x)[0].mean()), list(vae.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(grads, recon_grads))  # the KL term pushes nothing


def test_free_bits_clamp_each_coordinate_on_its_own():
    vae, x, per_dim = free_bits_case()
    lam = per_dim.median().item()  # the lower middle one: one coordinate below it, two above
    loss, parts = same_draw(lambda: vae_loss(vae, x, beta=0.5, free_bits=lam))
    expected = per_dim.clamp(min=lam).sum()
    torch.testing.assert_close(parts["kl_loss"].double(), expected, rtol=1e-5, atol=0)
    torch.testing.assert_close(loss, parts["recon"] + 0.5 * parts["kl_loss"])
    with torch.no_grad():
        torch.testing.assert_close(kl_per_coordinate(*vae.encode(x)).sum(-1), gaussian_kl(*vae.encode(x)))


def test_free_bits_zero_is_the_plain_loss_bit_for_bit_and_bad_values_are_refused():
    vae, x, _ = free_bits_case()
    loss, parts = same_draw(lambda: vae_loss(vae, x, free_bits=0.0))
    plain, plain_parts = same_draw(lambda: vae_loss(vae, x))
    assert torch.equal(loss, plain) and parts.keys() == plain_parts.keys() == {"recon", "kl"}
    with pytest.raises(ValueError, match="free_bits needs kl='analytic'"):
        vae_loss(vae, x, kl="mc", free_bits=1.0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="free_bits must be a finite number >= 0, got"):
            vae_loss(vae, x, free_bits=bad)


def test_kl_warmup_rises_linearly_from_zero_to_beta():
    assert kl_weight(0, 100) == 0.0 and kl_weight(0, 100, beta=4.0) == 0.0  # the first step
    assert kl_weight(100, 100, beta=4.0) == 4.0 and kl_weight(10**6, 100, beta=4.0) == 4.0  # at and after
    assert kl_weight(25, 100, beta=4.0) == pytest.approx(1.0, rel=1e-15)
    weights = [kl_weight(s, 7, beta=0.3) for s in range(8)]
    assert weights == pytest.approx([0.3 * s / 7 for s in range(8)], rel=1e-15)  # linear in between
    assert all(0 <= a < b for a, b in zip(weights, weights[1:]))
    assert kl_weight(0, 0, beta=2.5) == 2.5 and kl_weight(9, 0) == 1.0  # no warm-up: beta from the start
    assert type(kl_weight(3, 10)) is float
    for args, error, message in (((-1, 10), ValueError, "step must be an int >= 0, got -1"),
                                 ((1, -10), ValueError, "warmup_steps must be an int >= 0, got -10"),
                                 ((1.5, 10), TypeError, "step must be an int >= 0, got 1.5"),
                                 ((1, 10, float("nan")), ValueError, "beta must be a finite number >= 0, got nan")):
        with pytest.raises(error, match=message):
            kl_weight(*args)


# ------------------------------------------------------------------------------ the label-conditional VAE

def conditional_case():
    torch.manual_seed(6)
    return ConditionalVAE((784, 32, 3)), torch.rand(5, 784).round(), torch.tensor([3, 0, 9, 3, 7])


def test_conditional_iwae_at_k1_is_the_one_sample_elbo_and_rises_with_k():
    cvae, x, y = conditional_case()
    torch.manual_seed(3)
    iwae1 = iwae_bound(cvae, x, 1, y=y)
    torch.manual_seed(3)
    log_px_z, kl_mc = elbo_parts(cvae, x, kl="mc", y=y)
    torch.testing.assert_close(iwae1, log_px_z - kl_mc, rtol=0, atol=1e-3)
    torch.manual_seed(0)
    elbos = torch.stack([elbo(cvae, x, y=y) for _ in range(200)])   # (200, N): E[L_1]
    iwae = torch.stack([iwae_bound(cvae, x, 50, y=y) for _ in range(20)])  # (20, N): E[L_50]
    se = elbos.std(0) / math.sqrt(200) + iwae.std(0) / math.sqrt(20)
    assert (iwae.mean(0) > elbos.mean(0) + 3 * se).all()  # an untrained q: a wide gap k = 50 closes in part
    with torch.no_grad():
        torch.manual_seed(4)
        loss, parts = vae_loss(cvae, x, y=y)
        torch.manual_seed(4)
        torch.testing.assert_close(-loss, elbo(cvae, x, y=y).mean())
        assert set(parts) == {"recon", "kl"}


def test_the_labels_change_the_bound():
    """log p(x | y) is a different number for another y (the decoder reads the label): with
    the same eps, the bounds differ for the relabelled images only."""
    cvae, x, y = conditional_case()
    other = y.clone()
    other[0] = 5
    a = same_draw(lambda: iwae_bound(cvae, x, 10, y=y))
    b = same_draw(lambda: iwae_bound(cvae, x, 10, y=other))
    assert a[0] != b[0] and torch.equal(a[1:], b[1:])


def test_labels_are_required_by_a_conditional_model_and_refused_by_any_other():
    cvae, x, y = conditional_case()
    vae = VAE((784, 32, 3))
    for call in (lambda m, **kw: elbo_parts(m, x, **kw), lambda m, **kw: elbo(m, x, **kw),
                 lambda m, **kw: vae_loss(m, x, **kw), lambda m, **kw: vae_loss(m, x, free_bits=0.1, **kw),
                 lambda m, **kw: iwae_bound(m, x, 3, **kw)):
        with pytest.raises(TypeError, match=r"y: a ConditionalVAE models p\(x \| y\): pass the labels, y=\.\.\."):
            call(cvae)
        with pytest.raises(TypeError, match=r"y: labels given, but a VAE takes none \(it models p\(x\), "
                                            r"not p\(x \| y\)\)"):
            call(vae, y=y)
    with pytest.raises(ValueError, match=r"y: labels must be in 0\.\.9, got 12"):
        iwae_bound(cvae, x, 3, y=torch.tensor([0, 1, 2, 3, 12]))


def test_train_passes_the_labels_to_the_loss():
    """training.train on (x, y) calls loss_fn(model, x_batch, y_batch), each image with its own
    label: a conditional VAE trains with lambda m, x, y: vae_loss(m, x, y=y), and its bound on
    log p(x | y) improves."""
    cvae, _, _ = conditional_case()
    templates = torch.rand(10, 784, generator=torch.Generator().manual_seed(0)).round()
    y = torch.arange(200) % 10
    x = templates[y]  # the image says its label

    def loss_fn(m, xb, yb):
        assert torch.equal(xb, templates[yb])
        return vae_loss(m, xb, y=yb)

    before = same_draw(lambda: elbo(cvae, x, y=y).mean().item())
    history = train(cvae, (x, y), loss_fn, epochs=2, batch_size=50, lr=1e-2, progress=False)
    assert len(history) == 2 and same_draw(lambda: elbo(cvae, x, y=y).mean().item()) > before + 20

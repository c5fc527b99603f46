import math

import torch
import torch.nn.functional as F

from vae_lessons.models import VAE, Autoencoder
from vae_lessons.objectives import ae_loss, elbo_parts, squared_error, vae_loss


def test_squared_error_matches_mse():
    x, x_hat = torch.rand(4, 28, 28), torch.rand(4, 784)
    torch.testing.assert_close(squared_error(x, x_hat).mean(), F.mse_loss(x_hat, x.reshape(4, 784), reduction="sum") / 4)
    ae = Autoencoder((784, 16, 2))
    loss, parts = ae_loss(ae, x)
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


def test_zero_decoder_costs_784_ln2_and_prior_encoder_costs_no_kl():
    vae, x = VAE((784, 32, 2)), torch.rand(8, 784).round()
    for module in (vae.decoder[-1], vae.encoder[-1]):
        torch.nn.init.zeros_(module.weight)
        torch.nn.init.zeros_(module.bias)
    loss, parts = vae_loss(vae, x)
    assert abs(parts["recon"].item() - 784 * math.log(2)) < 1e-3
    assert parts["kl"].item() == 0.0
    loss_beta, _ = vae_loss(vae, x, beta=0.0)
    assert loss_beta.item() == parts["recon"].item()

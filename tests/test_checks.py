"""Each checker accepts a right answer and rejects wrong ones (a check that cannot fail is a defect)."""
import math

import pytest
import torch

from vae_lessons import checks
from vae_lessons.checks import CheckFailed
from vae_lessons.distributions import gaussian_kl, log_standard_normal


def test_close(capsys):
    checks.close("kl anchor", 2.0, 2.0 + 1e-9, atol=1e-6)
    assert capsys.readouterr().out.startswith("PASS   kl anchor: 2 vs 2")
    checks.close("tensors", torch.ones(3), torch.ones(3) * (1 + 1e-8), rtol=1e-6)
    with pytest.raises(CheckFailed, match="FAIL   off: 2.001 vs 2"):
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


def test_inequalities_from_theory_print_pass(capsys):
    checks.at_most("elbo <= log p", -90.0, -88.0)
    checks.at_least("kl >= 0", 0.0, 0.0)
    checks.at_least("with slack", -1e-9, 0.0, tol=1e-8)
    assert capsys.readouterr().out.count("PASS   ") == 3
    with pytest.raises(CheckFailed, match="FAIL   elbo above log p"):
        checks.at_most("elbo above log p", -87.0, -88.0)
    with pytest.raises(CheckFailed):
        checks.at_least("negative kl", -0.1, 0.0)


def test_chosen_thresholds_print_bound_not_pass(capsys):
    checks.bound_at_least("test ELBO", -110.0, -125.0)
    checks.bound_at_most("error", 30.0, 40.0)
    out = capsys.readouterr().out
    assert out.count("BOUND  ") == 2 and "PASS" not in out and "a threshold we chose" in out
    with pytest.raises(CheckFailed, match="FAIL   test ELBO"):
        checks.bound_at_least("test ELBO", -130.0, -125.0)
    with pytest.raises(CheckFailed):
        checks.bound_at_most("error", 41.0, 40.0)


def test_greater_and_decreasing_count_standard_errors():
    checks.greater("gain", 10.0, 5.0, 1.0)                    # 5 SE
    with pytest.raises(CheckFailed, match="2.0 standard errors"):
        checks.greater("gain within noise", 7.0, 5.0, 1.0)   # 2 SE
    with pytest.raises(CheckFailed):
        checks.greater("the wrong way", 3.0, 5.0, 0.1)
    with pytest.raises(ValueError):
        checks.greater("no se", 3.0, 1.0, 0.0)
    checks.decreasing("error vs code size", [30.0, 20.0, 10.0], stderr=[1.0, 2.0])
    checks.decreasing("one se for all", [30.0, 20.0, 10.0], stderr=1.0)
    with pytest.raises(CheckFailed):
        checks.decreasing("not decreasing", [30.0, 31.0, 10.0], stderr=0.1)
    with pytest.raises(CheckFailed):
        checks.decreasing("steps within noise", [30.0, 29.5], stderr=1.0)
    with pytest.raises(ValueError):
        checks.decreasing("wrong number of se", [3.0, 2.0, 1.0], stderr=[0.1])


def test_equal_and_not_equal():
    a = torch.tensor([0.0, 1.0, 1.0])
    checks.equal("repeats", a, a.clone())
    with pytest.raises(CheckFailed, match="1 elements differ"):
        checks.equal("one flip", a, torch.tensor([0.0, 1.0, 0.0]))
    with pytest.raises(CheckFailed, match="shapes differ"):
        checks.equal("shape", a, a[:2])
    checks.not_equal("seeds differ", a, torch.tensor([1.0, 1.0, 1.0]))
    with pytest.raises(CheckFailed):
        checks.not_equal("identical", a, a.clone())


@pytest.mark.parametrize("check", [
    lambda: checks.close("ex", ..., 1.0, atol=0.1),
    lambda: checks.within_se("ex", ..., 1.0, 0.1),
    lambda: checks.at_least("ex", ..., 1.0),
    lambda: checks.bound_at_most("ex", ..., 1.0),
    lambda: checks.close("ex", (..., 2.0), (1.0, 2.0), atol=0.1),
])
def test_an_unfilled_answer_gets_a_one_line_hint(check):
    with pytest.raises(checks.NotFilledIn, match="fill in `answer` in the cell above first"):
        check()


def test_values_with_gradients_need_no_detach(recwarn):
    v = torch.tensor(1.0, requires_grad=True) * 2
    checks.at_least("grad", v, 1.0)
    checks.close("grad", v, 2.0, atol=1e-9)
    assert not [w for w in recwarn if "requires_grad" in str(w.message)]


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


def test_paired_se_is_the_standard_error_of_the_mean_difference():
    g = torch.Generator().manual_seed(0)
    shared = 10 * torch.randn(1000, generator=g, dtype=torch.float64)        # what both share
    a, b = shared + torch.randn(1000, generator=g, dtype=torch.float64), shared + 1.0
    se = checks.paired_se(a, b)
    assert se == pytest.approx((a - b).std().item() / math.sqrt(1000))
    assert se < 0.05 < math.hypot(a.std().item(), b.std().item()) / math.sqrt(1000)   # pairing removes the shared spread
    with pytest.raises(ValueError, match="paired_se"):
        checks.paired_se(a, b[:10])

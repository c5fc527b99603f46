import math
import os
import signal

import pytest
import torch

from vae_lessons.models import VAE, Autoencoder
from vae_lessons.objectives import ae_loss, vae_loss
from vae_lessons.training import NonFiniteLossError, adam, default_device, seed_everything, train


def data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 784, generator=g).round()


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_lowers_the_loss_and_records_history():
    torch.manual_seed(0)
    vae = VAE((784, 64, 4))
    h = train(vae, data(), vae_loss, epochs=4, batch_size=64, lr=1e-3, x_val=data(128, 1), progress=False)
    assert len(h) == 4 and not h.interrupted and h.seconds > 0
    assert set(h.keys()) == {"loss", "recon", "kl", "val_loss", "val_recon", "val_kl"}
    assert h["loss"][-1] < h["loss"][0]
    assert all(math.isclose(r["loss"], r["recon"] + r["kl"], rel_tol=1e-6) for r in h.records)


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        seed_everything(5)
        model = Autoencoder((784, 32, 2))
        h = train(model, data(), ae_loss, epochs=2, batch_size=100, seed=5, progress=False)
        runs.append((h["loss"], params(model)))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_non_finite_loss_stops_with_causes_and_keeps_weights():
    model = Autoencoder((784, 16, 2))
    calls = []

    def nan_on_third_step(m, x):
        loss, parts = ae_loss(m, x)
        calls.append(params(m))
        return (loss * float("nan") if len(calls) == 3 else loss), parts

    with pytest.raises(NonFiniteLossError, match=r"(?s)nan at epoch 1, step 3.*learning rate too high.*\[0, 1\]"):
        train(model, data(), nan_on_third_step, epochs=1, batch_size=64, progress=False)
    assert torch.equal(params(model), calls[2]) and torch.isfinite(params(model)).all()


def test_unscaled_pixels_blow_up_with_a_clear_error():
    # squared errors of 1e40 overflow float32: the message shows the batch's range (a linear
    # output takes any finite input; a sigmoid one refuses it before the first step, below)
    with pytest.raises(NonFiniteLossError, match=r"(?s)inf at epoch 1, step 1.*batch spans \[0, 1e\+20\]"):
        train(Autoencoder((784, 16, 2), output="linear"), data() * 1e20, ae_loss, epochs=1, progress=False)


def test_autoencoder_refuses_pixels_out_of_range_before_training():
    # was: trained silently to a loss of 5e6 on 0..255 pixels
    for bad, shown in ((data() * 255, r"\[0, 255\].*divide by 255"), (data() * float("nan"), "nan")):
        model = Autoencoder((784, 16, 2))
        before = params(model)
        with pytest.raises(ValueError, match=f"x: values must lie in \\[0, 1\\].*{shown}"):
            train(model, bad, ae_loss, epochs=1, progress=False)
        assert torch.equal(params(model), before)


def test_ctrl_c_stops_cleanly_and_keeps_what_was_done(capsys):
    model, steps = Autoencoder((784, 16, 2)), []

    def interrupt_at_step_12(m, x):
        steps.append(1)
        if len(steps) == 12:  # 8 steps per epoch: this is in epoch 2
            os.kill(os.getpid(), signal.SIGINT)
        return ae_loss(m, x)

    h = train(model, data(), interrupt_at_step_12, epochs=5, batch_size=64, progress=False)
    assert h.interrupted and len(h) == 1 and len(steps) == 12
    assert "Interrupted: stopped after 1 complete epoch(s)" in capsys.readouterr().out
    steps.clear()
    train(model, data(), interrupt_at_step_12, epochs=5, batch_size=64, progress=False, announce_interrupt=False)
    assert capsys.readouterr().out == ""  # the command-line trainer says it its own way
    assert torch.isfinite(params(model)).all()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    h2 = train(model, data(), ae_loss, epochs=1, batch_size=64, progress=False)  # usable afterwards
    assert len(h2) == 1 and not h2.interrupted


def test_bad_arguments():
    import numpy as np
    for kwargs, error, message in (
            ({"epochs": 0}, ValueError, "epochs must be a positive int, got 0"),
            ({"epochs": 2.0}, TypeError, "epochs must be a positive int, got 2.0"),
            ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
            ({"lr": 0.0}, ValueError, "lr must be a finite number > 0, got 0.0"),
            ({"lr": float("nan")}, ValueError, "lr must be a finite number > 0, got nan"),
            ({"seed": -1}, ValueError, "seed must be an int from 0 to 18446744073709551615, got -1"),
            ({"device": "gpu"}, ValueError, "device must be a torch.device or a name such as 'cpu' or 'cuda', got"),
            ({"on_epoch_end": 5}, TypeError, "on_epoch_end must be a function")):
        with pytest.raises(error, match=message):
            train(Autoencoder(), data(), ae_loss, **kwargs)
    with pytest.raises(TypeError, match="loss_fn must be a function"):
        train(Autoencoder(), data(), "ae_loss")
    for seed in (-1, 2**32, 0.5):
        with pytest.raises((ValueError, TypeError), match="seed must be an int from 0 to 4294967295"):
            seed_everything(seed)
    h = train(Autoencoder((784, 8, 2)), data(64), ae_loss, epochs=np.int64(1), batch_size=np.int64(32), progress=False)
    assert len(h) == 1
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        train(Autoencoder(), (data() * 255).to(torch.uint8), ae_loss)


def test_default_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == expected


def test_tuples_of_tensors_are_batched_together():
    from vae_lessons.classifier import accuracy, confident_fraction, train_classifier
    from vae_lessons.data import load_mnist
    x, y = load_mnist("test")
    clf = train_classifier(x[:1500], y[:1500], epochs=10, seed=0)
    assert accuracy(clf, x[1500:], y[1500:]) > 0.85  # held-out digits
    # exact cases: uniform probabilities (0.1 each) are never confident; a huge logit always is
    flat = torch.nn.Linear(784, 10)
    torch.nn.init.zeros_(flat.weight), torch.nn.init.zeros_(flat.bias)
    assert confident_fraction(flat, x[:10]) == 0.0
    flat.bias.data[3] = 10.0  # p(class 3) = e^10 / (e^10 + 9) = 0.9996
    assert confident_fraction(flat, x[:10]) == 1.0
    assert confident_fraction(flat, x[:10], threshold=0.9999) == 0.0
    with pytest.raises(ValueError, match="different lengths"):
        train(clf, (x, y[:10]), lambda m, a, b: (m(a).sum(), {}), progress=False)


def test_progress_leaves_a_summary_line(capsys):
    train(Autoencoder((784, 16, 2)), data(), ae_loss, epochs=2, x_val=data(64, 1), progress=True)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("trained 2 epochs in ") and "val_loss" in line


def test_evaluate_moves_data_to_the_model():
    from vae_lessons.training import evaluate
    model = Autoencoder((784, 16, 2)).to(default_device())
    assert set(evaluate(model, data(64), ae_loss)) == {"loss", "sq_err"}


def test_history_is_current_at_each_epoch_end_and_continues():
    seen = []
    model = Autoencoder((784, 16, 2))
    h = train(model, data(), ae_loss, epochs=2, progress=False, on_epoch_end=lambda hist: seen.append((len(hist), hist.seconds)))
    assert [n for n, _ in seen] == [1, 2] and 0 < seen[0][1] < seen[1][1] <= h.seconds
    before = h.seconds
    h = train(model, data(), ae_loss, epochs=1, progress=False, history=h, order=torch.Generator().manual_seed(0))
    assert len(h) == 3 and h.seconds > before


def test_history_repr_is_one_short_line():
    from vae_lessons.training import History
    h = History(records=[{"loss": 3.0 + i, "kl": 1.0} for i in range(500)])
    assert repr(h) == "History(500 epochs: loss 502, kl 1)" and repr(History()) == "History(0 epochs: no epochs)"


def test_adam_is_torchs_adam_fused_where_torch_can_and_the_same_update_up_to_rounding():
    torch.manual_seed(0)
    model = VAE((784, 16, 2))
    fused = adam(model.parameters(), 1e-3)
    assert isinstance(fused, torch.optim.Adam) and fused.param_groups[0]["fused"] is True
    assert fused.param_groups[0]["lr"] == 1e-3 and fused.param_groups[0]["betas"] == (0.9, 0.999)
    with torch.device("meta"):  # checkpoint.py's templates: no fused kernel there, torch's default
        assert adam(VAE((784, 16, 2)).parameters(), 1e-3).param_groups[0]["fused"] is None
    # ten steps of each kernel from the same start, on the same gradients: the same weights to float32 rounding
    twin = VAE((784, 16, 2))
    twin.load_state_dict(model.state_dict())
    plain = torch.optim.Adam(twin.parameters(), lr=1e-3)
    start, g = params(model).clone(), torch.Generator().manual_seed(1)
    for _ in range(10):
        grads = [torch.randn(p.shape, generator=g) for p in model.parameters()]
        for net, opt in ((model, fused), (twin, plain)):
            for p, grad in zip(net.parameters(), grads):
                p.grad = grad.clone()
            opt.step()
    assert (params(model) - start).abs().max() > 5e-3  # the steps did something (ten steps of about lr each)
    assert torch.allclose(params(model), params(twin), rtol=0, atol=1e-6)


def test_lr_at_sets_each_steps_rate_counted_over_the_whole_run():
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    torch.manual_seed(0)
    model = VAE((784, 16, 2))
    optimizer = Spy(model.parameters(), lr=0.5)
    history = train(model, data(), vae_loss, epochs=2, batch_size=128, optimizer=optimizer, progress=False,
                    lr_at=lambda step: 1e-3 * (step + 1))
    train(model, data(), vae_loss, epochs=1, batch_size=128, optimizer=optimizer, progress=False, history=history,
          order=torch.Generator().manual_seed(0), lr_at=lambda step: 1e-3 * (step + 1))  # a resumed run: steps 8 to 11
    assert seen == pytest.approx([1e-3 * (s + 1) for s in range(12)], rel=1e-12)
    with pytest.raises(TypeError, match="lr_at must be a function of the step, or None, got float"):
        train(model, data(), vae_loss, epochs=1, lr_at=0.1, progress=False)

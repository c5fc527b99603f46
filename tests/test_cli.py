"""The command-line trainer end to end, on the bundled subset: train, a real Ctrl-C, resume
(from the checkpoint's options) to the same result as an uninterrupted run, evaluate; a KL
warm-up resumed half-way, the same run bit for bit; free bits; evaluate's active units and KL
per dimension against a computation by hand; the label-conditional VAE (--conditional) trained,
resumed bit for bit and evaluated on log p(x | y); the convolutional VAE (--arch conv) the same
way; --help; Ctrl-C while starting. Bad input: test_cli_bad_input.py."""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_lessons import checkpoint
from vae_lessons.cli import main
from vae_lessons.cli import test_images as images_of_run  # (a test_ name pytest would collect)
from vae_lessons.cli import test_set as labelled_images_of_run
from vae_lessons.models import ConditionalVAE, ConvVAE
from vae_lessons.objectives import elbo, kl_weight
from vae_lessons.options import PRESETS, build_vae, new_config
from vae_lessons.schedules import one_cycle_lr

from helpers import run_main

SMALL = ["--dims", "784-32-2", "--batch-size", "500", "--no-progress"]


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "vae_lessons", *map(str, args)],
                          capture_output=True, text=True, timeout=300, **kwargs)


def weights(run):
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    return ckpt["model"], ckpt["history"]


def test_train_interrupt_resume_evaluate(tmp_path):
    straight = cli("train", *SMALL, "--epochs", 6, "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr

    run = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "vae_lessons", "train", *SMALL, "--epochs", "6", "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # Ctrl-C, during epoch 2 or later
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    done = len(weights(run)[1])
    assert 1 <= done < 6
    # one message, on stderr, saying how to continue (train() prints none of its own here)
    assert err == (f"vae_lessons: interrupted: {run / 'checkpoint.pt'} holds epoch {done} of 6; "
                   f"continue with: python -m vae_lessons train --out {run} --resume\n")
    assert "nterrupted" not in out

    resumed = cli("train", "--out", run, "--resume", "--no-progress")  # every option from the checkpoint
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run} after epoch {done}" in resumed.stdout
    (w1, h1), (w2, h2) = weights(tmp_path / "straight"), weights(run)
    assert h1 == h2 and all(torch.equal(w1[k], w2[k]) for k in w1)  # the same run, bit for bit

    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 6 and summary["test_binarization"] == "static, seed 0"
    evaluated = cli("evaluate", run, "--k", 20, "--n-test", 200)
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads((run / "evaluation_k20.json").read_text())
    assert result["test_images"] == 200 and result["iwae_nats"] > result["elbo_nats"] - 3 * result["elbo_se"]
    assert f"{result['active_units']} of 2 latent units active (variance of the mean > 0.01)" in evaluated.stdout


def test_kl_warmup_resumed_mid_warmup_is_the_uninterrupted_run_bit_for_bit(tmp_path):
    warm = ["--kl-warmup", 3, *SMALL]  # 10,000 images / 500 = 20 steps per epoch: 60 steps of warm-up
    assert run_main(["train", *warm, "--epochs", 5, "--out", tmp_path / "straight"])[0] == 0
    assert run_main(["train", *warm, "--epochs", 2, "--out", tmp_path / "resumed"])[0] == 0
    summary = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert summary["final_kl_weight"] == kl_weight(39, 60) == 39 / 60  # the weight of step 40 of 60
    assert summary["config"]["kl_warmup"] == 3
    assert run_main(["train", "--out", tmp_path / "resumed", "--resume", "--epochs", 5])[0] == 0
    (w1, h1), (w2, h2) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert h1 == h2 and all(torch.equal(w1[k], w2[k]) for k in w1)
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text())["final_kl_weight"] == 1.0

    # the warm-up took effect: while it lasts, the loss is below recon + kl; from step 60 on (epochs 4, 5) equal
    assert h1[0]["loss"] < h1[0]["recon"] + 0.5 * h1[0]["kl"]
    assert all(r["loss"] == pytest.approx(r["recon"] + r["kl"], rel=1e-6) for r in h1[3:])
    assert run_main(["train", *SMALL, "--epochs", 1, "--out", tmp_path / "plain"])[0] == 0
    assert weights(tmp_path / "plain")[1][0] != h1[0]


def test_free_bits_train_and_evaluate_reports_active_units(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--free-bits", "0.5", "--epochs", "2", "--out", str(run)]) == 0
    _, history = weights(run)
    assert all(r["kl_loss"] >= 2 * 0.5 - 1e-6 and r["loss"] == pytest.approx(r["recon"] + r["kl_loss"], rel=1e-6)
               for r in history)  # two latent coordinates, each costing at least 0.5 nats
    capsys.readouterr()
    assert main(["evaluate", str(run), "--k", "2", "--n-test", "300"]) == 0
    result = json.loads((run / "evaluation_k2.json").read_text())
    out = capsys.readouterr().out

    # the reference: the trained encoder's means on the same 300 test images, by hand
    ckpt = checkpoint.load(run / "checkpoint.pt")
    model = build_vae(ckpt["config"])
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        mu, logvar = (t.double() for t in model.encode(images_of_run(ckpt["config"])[:300]))
    variances = np.var(mu.numpy(), axis=0)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    assert result["active_unit_threshold"] == 0.01 and type(result["active_units"]) is int
    assert result["active_units"] == int((variances > 0.01).sum())
    np.testing.assert_allclose(result["active_unit_variances"], variances, rtol=1e-6)
    np.testing.assert_allclose(result["kl_per_dimension"], kl.numpy(), rtol=1e-6)
    assert f"{result['active_units']} of 2 latent units active" in out


def test_conditional_train_resume_and_evaluate_on_log_p_x_given_y(tmp_path, capsys):
    cond = ["--conditional", *SMALL]
    assert run_main(["train", *cond, "--epochs", 3, "--out", tmp_path / "straight"])[0] == 0
    assert run_main(["train", *cond, "--epochs", 1, "--out", tmp_path / "resumed"])[0] == 0
    assert run_main(["train", "--out", tmp_path / "resumed", "--resume", "--epochs", 3])[0] == 0  # options from it
    (w1, h1), (w2, h2) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert h1 == h2 and all(torch.equal(w1[k], w2[k]) for k in w1)  # the same run, bit for bit
    assert w1["encoder.0.weight"].shape == (32, 794) and w1["decoder.0.weight"].shape == (32, 12)  # 10 labels in
    assert h1[2]["loss"] < h1[0]["loss"]
    summary = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert summary["config"]["conditional"] is True and summary["bound_of"] == "log p(x | y)"

    run = tmp_path / "resumed"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--k", "10", "--n-test", "300"]) == 0
    out = capsys.readouterr().out
    result = json.loads((run / "evaluation_k10.json").read_text())
    assert "300 test images (bounds on log p(x | y), each image given its label): ELBO" in out
    assert result["bound_of"] == "log p(x | y)" and result["iwae_nats"] > result["elbo_nats"] - 3 * result["elbo_se"]

    # the reference: the trained encoder on the same test images, each with its own label, by hand
    ckpt = checkpoint.load(run / "checkpoint.pt")
    model = build_vae(ckpt["config"])
    model.load_state_dict(ckpt["model"])
    x, y = (t[:300] for t in labelled_images_of_run(ckpt["config"]))
    assert type(model) is ConditionalVAE
    with torch.no_grad():
        mu, logvar = (t.double() for t in model.encode(x, y))
        mu_wrong, _ = model.encode(x, (y + 1) % 10)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    np.testing.assert_allclose(result["kl_per_dimension"], kl.numpy(), rtol=1e-6)
    np.testing.assert_allclose(result["active_unit_variances"], np.var(mu.numpy(), axis=0), rtol=1e-6)
    assert not np.allclose(result["active_unit_variances"], np.var(mu_wrong.double().numpy(), axis=0), rtol=1e-6)
    torch.manual_seed(0)  # evaluate's first draws: one z per image for the ELBO of log p(x | y)
    with torch.no_grad():
        assert result["elbo_nats"] == pytest.approx(elbo(model, x, y=y).mean().item(), rel=1e-5)


def test_conv_train_resume_and_evaluate(tmp_path, capsys, monkeypatch):
    """--arch conv end to end on the first 500 training and 200 test images (a conv epoch on the
    whole subset takes seconds): trained, resumed bit for bit, evaluated, its checkpoint a ConvVAE's."""
    from vae_lessons import cli
    load_split = cli.load_split
    monkeypatch.setattr(cli, "load_split", lambda config, split, *args, **kwargs: tuple(
        t[:500 if split == "train" else 200] for t in load_split(config, split, *args, **kwargs)))
    conv = ["--arch", "conv", "--dims", "784-4", "--batch-size", "100", "--no-progress"]
    assert run_main(["train", *conv, "--epochs", 2, "--out", tmp_path / "straight"])[0] == 0
    assert run_main(["train", *conv, "--epochs", 1, "--out", tmp_path / "resumed"])[0] == 0
    assert run_main(["train", "--out", tmp_path / "resumed", "--resume", "--epochs", 2])[0] == 0  # options from it
    (w1, h1), (w2, h2) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert h1 == h2 and all(torch.equal(w1[k], w2[k]) for k in w1)  # the same run, bit for bit
    assert w1["encoder.1.weight"].shape == (32, 1, 4, 4) and w1["decoder.0.weight"].shape == (3136, 4)
    assert h1[1]["loss"] < h1[0]["loss"]

    run = tmp_path / "resumed"
    ckpt = checkpoint.load(run / "checkpoint.pt")
    assert ckpt["format"] == 6 and ckpt["config"]["arch"] == "conv" and ckpt["config"]["dims"] == [784, 4]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["arch"] == "conv" and summary["train_images"] == 500 and summary["test_images"] == 200
    capsys.readouterr()
    assert main(["evaluate", str(run), "--k", "10", "--n-test", "100"]) == 0
    out = capsys.readouterr().out
    result = json.loads((run / "evaluation_k10.json").read_text())
    assert "100 test images: ELBO" in out and f"{result['active_units']} of 4 latent units active" in out
    assert result["iwae_nats"] > result["elbo_nats"] - 3 * result["elbo_se"]

    model = build_vae(ckpt["config"])  # the reference: the trained ConvVAE on the same images, by hand
    model.load_state_dict(ckpt["model"])
    assert type(model) is ConvVAE and model.dims == (784, 4)
    x = images_of_run(ckpt["config"])[:100]
    with torch.no_grad():
        mu, logvar = (t.double() for t in model.encode(x))
    np.testing.assert_allclose(result["active_unit_variances"], np.var(mu.numpy(), axis=0), rtol=1e-6)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    np.testing.assert_allclose(result["kl_per_dimension"], kl.numpy(), rtol=1e-6)
    torch.manual_seed(0)  # evaluate's first draws: one z per image for the ELBO
    with torch.no_grad():
        assert result["elbo_nats"] == pytest.approx(elbo(model, x).mean().item(), rel=1e-5)


@pytest.mark.parametrize("name, loader", [("mnist", "load_mnist"), ("fashion-mnist", "load_fashion_mnist")])
def test_a_subset_dataset_is_bundled_and_the_plain_name_is_full(name, loader, tmp_path):
    from vae_lessons import cli, data
    x, y = cli.load_split({"dataset": f"{name}-subset"}, "test", root=tmp_path)  # root: not read
    x0, y0 = getattr(data, loader)("test")
    assert torch.equal(x, x0.reshape(2000, 784)) and torch.equal(y, y0)
    with pytest.raises(FileNotFoundError, match=f"in {tmp_path / name}/"):
        cli.load_split({"dataset": name}, "test", root=tmp_path)


def test_help_shows_every_default(capsys, monkeypatch):
    from vae_lessons.cli import build_parser
    from vae_lessons.options import OPTIONS
    monkeypatch.setenv("COLUMNS", "300")  # no line breaks inside words such as mnist-subset
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["train", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for default in ("default: mnist-subset", "default: mlp", "default: 784-256-20", "default: relu", "default: bernoulli",
                    "default: dynamic", "default: 1.0", "default: 10;", "default: 128", "default: 0.001", "default: 0)",
                    "default: auto", "(0: none) (default: 0)", "(Kingma et al. 2016; 0: the plain KL) (default: 0.0)"):
        assert default in text, default
    assert text.count("(default: ") >= len(OPTIONS)


def test_ctrl_c_while_torch_imports_ends_in_one_line(tmp_path):
    """A KeyboardInterrupt raised where `import torch` happens, as a Ctrl-C in the first
    seconds of `python -m vae_lessons` would be."""
    code = (
        "import runpy, sys\n"
        "class CtrlC:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        f"sys.argv = ['vae_lessons', 'train', '--out', {str(tmp_path / 'run')!r}]\n"
        "runpy.run_module('vae_lessons', run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130
    assert proc.stderr == "vae_lessons: interrupted: while starting; nothing was done\n"
    assert not (tmp_path / "run").exists()


def test_ctrl_c_before_training_ends_in_one_line(tmp_path, capsys, monkeypatch):
    from vae_lessons import cli

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_split", ctrl_c)  # while the data loads
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--no-progress"]) == 130
    assert capsys.readouterr().err == "vae_lessons: interrupted: nothing was written\n"


def test_one_cycle_run_interrupted_and_resumed_is_the_uninterrupted_run_bit_for_bit(tmp_path, monkeypatch):
    cycle = ["--lr-schedule", "one-cycle", "--lr", "3e-3", *SMALL]  # 20 steps per epoch, 60 in 3 epochs
    assert run_main(["train", *cycle, "--epochs", 3, "--out", tmp_path / "straight"])[0] == 0
    real_save = checkpoint.save

    def save_then_ctrl_c(payload, path):  # a Ctrl-C just after epoch 1's checkpoint is written
        real_save(payload, path)
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(checkpoint, "save", save_then_ctrl_c)
        assert run_main(["train", *cycle, "--epochs", 3, "--out", tmp_path / "resumed"])[0] == 130
    assert len(weights(tmp_path / "resumed")[1]) == 1
    for other in (5, 2):  # neither stretched nor shortened: another schedule would not be the same run
        code, err = run_main(["train", "--out", tmp_path / "resumed", "--resume", "--epochs", other])
        assert code == 2 and f"--epochs {other}: the run's one-cycle schedule spans its 3 epochs" in err
    assert run_main(["train", "--out", tmp_path / "resumed", "--resume"])[0] == 0
    (w1, h1), (w2, h2) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert h1 == h2 and all(torch.equal(w1[k], w2[k]) for k in w1)
    last = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["optimizer"]["param_groups"][0]["lr"]
    assert last == one_cycle_lr(59, 60, 3e-3) == pytest.approx(3e-3 / 250_000)  # the schedule's last step
    assert run_main(["train", *SMALL, "--lr", "3e-3", "--epochs", 1, "--out", tmp_path / "flat"])[0] == 0
    assert weights(tmp_path / "flat")[1][0] != h1[0]  # the schedule changed the run


def test_a_preset_is_its_options_and_any_option_given_overrides_it(tmp_path, capsys):
    out = tmp_path / "q"
    code, err = run_main(["train", "--preset", "quality", "--dataset", "mnist-subset", "--epochs", 1, "--batch-size",
                             500, "--out", out, "--no-progress"])
    assert code == 0, err
    config = checkpoint.load(out / "checkpoint.pt")["config"]
    assert config == new_config({**PRESETS["quality"], "dataset": "mnist-subset", "epochs": 1, "batch_size": 500})
    assert config["dims"] == [784, 200, 200, 50] and config["lr_schedule"] == "one-cycle"
    code, err = run_main(["train", "--preset", "quality", "--out", out, "--resume"])
    assert code == 2 and "--preset with --resume" in err
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "quality = --dataset mnist --dims 784-200-200-50 --activation relu" in " ".join(capsys.readouterr().out.split())

"""The table of a run's options: the one set of checks behind the command line, the checkpoint
reader and build_vae."""
import re

import pytest
import torch

from vae_lessons.models import VAE, ConditionalVAE, ConvVAE
from vae_lessons.options import (OPTIONS, PRESETS, TrainingLoss, build_vae, check_config, learning_rate, new_config,
                                 resumed_config)
from vae_lessons.schedules import one_cycle_lr


def test_every_default_passes_its_own_check_and_shows_in_help():
    config = new_config({})
    assert list(config) == [o.name for o in OPTIONS]  # every option is stored in a run's config
    for option in OPTIONS:
        assert option.check(option.default) == option.default
        assert option.show(option.default) in option.help_text and "default" in option.help_text
    assert build_vae(config).dims == (784, 256, 20)


def test_a_config_must_hold_every_option_and_nothing_else():
    config = new_config({})
    with pytest.raises(ValueError, match="no lr"):
        check_config({k: v for k, v in config.items() if k != "lr"})
    with pytest.raises(ValueError, match="unknown option 'warmup'"):
        check_config({**config, "warmup": 3})
    with pytest.raises(ValueError, match="expected a dict of options, got"):
        check_config([("lr", 1e-3)])
    assert check_config({**config, "dims": (784, 256, 20)})["dims"] == [784, 256, 20]  # canonical: a list


def test_resume_may_change_the_epochs_only():
    stored = new_config({"epochs": 5})
    assert resumed_config(stored, {"epochs": 9, "lr": 1e-3}) == {**stored, "epochs": 9}
    with pytest.raises(ValueError, match=r"--batch-size 64 \(the run has 128\), --seed 1 \(the run has 0\)"):
        resumed_config(stored, {"batch_size": 64, "seed": 1})


def test_warmup_and_free_bits_are_checked_stored_and_fixed_for_the_run():
    config = new_config({"kl_warmup": 5, "free_bits": 0.25})
    assert (config["kl_warmup"], config["free_bits"]) == (5, 0.25)
    assert new_config({})["kl_warmup"] == 0 and new_config({})["free_bits"] == 0.0  # off unless asked for
    for name, bad, message in (("kl_warmup", -1, "kl_warmup: must be an int from 0 to 100000, got -1"),
                               ("kl_warmup", True, "kl_warmup: must be an int from 0 to 100000, got True"),
                               ("free_bits", -0.1, "free_bits: must be a finite number >= 0 and <= 1e+06, got -0.1"),
                               ("free_bits", float("nan"), "free_bits: must be a finite number >= 0 and <= 1e+06")):
        with pytest.raises(ValueError, match=re.escape(message)):
            new_config({name: bad})
    with pytest.raises(ValueError, match=r"--kl-warmup 2 \(the run has 5\), --free-bits 0.0 \(the run has 0.25\)"):
        resumed_config(config, {"kl_warmup": 2, "free_bits": 0.0})


def test_conditional_is_a_switch_that_builds_the_label_conditional_vae_and_is_fixed_for_the_run():
    assert new_config({})["conditional"] is False and type(build_vae(new_config({}))) is VAE  # off unless asked for
    config = new_config({"conditional": True, "dims": [784, 16, 2]})
    model = build_vae(config)
    assert type(model) is ConditionalVAE and model.n_classes == 10 and model.dims == (784, 16, 2)
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match=f"conditional: must be True or False, got {bad!r}"):
            new_config({"conditional": bad})
    with pytest.raises(ValueError, match=r"--conditional off \(the run has on\)"):
        resumed_config(config, {"conditional": False})
    assert resumed_config(config, {"conditional": True}) == config

    # the command line's loss passes the labels on (train() calls it as loss_fn(model, x, y))
    x, y = torch.rand(4, 784), torch.tensor([1, 2, 3, 4])
    loss = TrainingLoss({**config, "binarize": "static"}, steps_per_epoch=1)
    torch.manual_seed(0)
    value, parts = loss(model, x, y)
    assert set(parts) == {"recon", "kl"} and loss.step == 1 and value.shape == ()
    with pytest.raises(TypeError, match="y: a ConditionalVAE models p"):
        loss(model, x)


def test_arch_conv_builds_the_convolutional_vae_of_code_size_dims_minus_1():
    assert new_config({})["arch"] == "mlp" and type(build_vae(new_config({}))) is VAE  # mlp unless asked for
    config = new_config({"arch": "conv"})
    assert config["dims"] == [784, 20]  # the default code size, without the MLP's hidden sizes
    model = build_vae(config)
    assert type(model) is ConvVAE and model.dims == (784, 20) and model.likelihood == "bernoulli"
    model = build_vae(new_config({"arch": "conv", "dims": [784, 3], "likelihood": "gaussian", "activation": "tanh"}))
    assert model.dims == (784, 3) and model.likelihood == "gaussian" and isinstance(model.encoder[2], torch.nn.Tanh)
    with pytest.raises(ValueError, match=r"arch: invalid choice: 'cnn' \(choose from mlp, conv\)"):
        new_config({"arch": "cnn"})


def test_arch_conv_refuses_hidden_sizes_labels_and_huge_codes_in_a_config_too():
    for given, message in (({"dims": [784, 256, 20]}, "--arch conv takes --dims 784-L, the code size L only "
                                                      "(its layers are fixed), got 784-256-20: try --dims 784-20"),
                           ({"conditional": True}, "--arch conv with --conditional: the convolutional VAE takes "
                                                   "no labels (--conditional needs --arch mlp)"),
                           ({"dims": [784, 20_000]}, "--arch conv --dims 784-20000 needs 188,269,825 weights; "
                                                     "the limit is 100,000,000")):
        with pytest.raises(ValueError, match=re.escape(message)):
            new_config({"arch": "conv", **given})
        with pytest.raises(ValueError, match=re.escape(message)):  # a checkpoint's config, checked as a whole
            check_config({**new_config({"arch": "conv"}), **given})
    assert new_config({"dims": [784, 20_000]})["arch"] == "mlp"  # 47 million weights as an MLP: allowed
    config = new_config({"arch": "conv", "dims": [784, 4]})
    with pytest.raises(ValueError, match=r"--arch mlp \(the run has conv\)"):
        resumed_config(config, {"arch": "mlp"})
    assert resumed_config(config, {"arch": "conv", "epochs": 12}) == {**config, "epochs": 12}


def test_lr_schedule_is_stored_and_a_one_cycle_run_cannot_be_stretched_on_resume():
    assert new_config({})["lr_schedule"] == "constant" and learning_rate(new_config({}), 10) is None
    config = new_config({"lr_schedule": "one-cycle", "lr": 3e-3, "epochs": 4})
    rate = learning_rate(config, 10)  # 4 epochs of 10 steps: 40 steps in all
    assert [rate(s) for s in (0, 39)] == [one_cycle_lr(0, 40, 3e-3), one_cycle_lr(39, 40, 3e-3)]
    assert resumed_config(config, {"epochs": 4}) == config
    for other in (6, 3):
        with pytest.raises(ValueError, match=f"--epochs {other}: the run's one-cycle schedule spans its 4 epochs"):
            resumed_config(config, {"epochs": other})
    with pytest.raises(ValueError, match=r"invalid choice: 'cosine' \(choose from constant, one-cycle\)"):
        new_config({"lr_schedule": "cosine"})


def test_each_preset_is_a_valid_set_of_options():
    for name, preset in PRESETS.items():
        config = new_config(preset)
        assert {k: config[k] for k in preset} == preset, name
    quality = new_config(PRESETS["quality"])
    assert quality["dataset"] == "mnist" and quality["binarize"] == "dynamic" and quality["lr_schedule"] == "one-cycle"
    assert VAE.size(quality["dims"]) == 2 * (784 * 200 + 200 * 200 + 200) + 200 * 100 + 100 + 50 * 200 + 200 + 200 + 784

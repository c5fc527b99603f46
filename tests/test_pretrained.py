"""The weights that ship in vae_lessons/pretrained/ (lessons 14 and 15 load them): each file
matches its SHA-256 and scores the test set (a VAE) or samples (the VAE-GAN) as its manifest records; scripts/make_pretrained.py, run again
for its first epochs, retraces the committed run; and a changed, foreign or mismatched file ends
in one line (PretrainedError)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae_lessons import pretrained
from vae_lessons.cli import test_elbo as elbo_and_se  # (a test_ name pytest would collect)
from vae_lessons.cli import test_images as images_of_run  # (a test_ name pytest would collect)
from vae_lessons.metrics import laplacian_variance
from vae_lessons.models import ConvVAE, VAE
from vae_lessons.vaegan import VAEGAN

ROOT = Path(__file__).resolve().parent.parent
VAES = ("conv_L20", "mlp_L20")
VAEGANS = ("vaegan_L20",)
NAMES = VAES + VAEGANS


def scored(model, config):
    torch.manual_seed(0)  # as the script scores: one z per test image drawn after seeding 0
    return elbo_and_se(model, images_of_run(config))


def test_manifest_lists_each_model_with_its_command_and_hash():
    assert pretrained.names() == sorted(NAMES)
    for name in NAMES:
        entry = pretrained.info(name)
        path = pretrained.FOLDER / entry["file"]
        assert pretrained.sha256(path) == entry["sha256"]
        assert entry["command"].startswith("python scripts/make_pretrained.py")
        assert len(entry["history"]) == entry["epochs"]
        if name in VAES:
            assert len(entry["test_elbo_per_epoch"]) == entry["epochs"]
    # committed files: a few MB at most, all of them together
    assert sum((pretrained.FOLDER / pretrained.info(n)["file"]).stat().st_size for n in NAMES) < 5_000_000
    assert (pretrained.FOLDER / "NOTICE.md").exists()  # trained on MNIST: CC BY-SA 3.0 applies


@pytest.mark.parametrize("name", VAES)
def test_committed_weights_score_as_recorded(name):
    entry = pretrained.info(name)
    model = pretrained.load(name)
    assert isinstance(model, ConvVAE if entry["config"]["arch"] == "conv" else VAE) and not model.training
    assert sum(p.numel() for p in model.parameters()) == entry["parameters"]
    mean, se = scored(model, entry["config"])
    # the same computation as the script's: bit for bit on its machine; float rounding elsewhere
    assert mean == pytest.approx(entry["test_elbo_nats"], abs=0.05)
    assert se == pytest.approx(entry["test_elbo_se"], abs=0.01)


@pytest.mark.parametrize("name", VAEGANS)
def test_committed_vaegan_samples_as_recorded(name):
    entry = pretrained.info(name)
    model = pretrained.load(name)
    assert isinstance(model, VAEGAN) and not model.training and model.gamma == entry["config"]["gamma"]
    sharpness = laplacian_variance(model.sample(2000, generator=torch.Generator().manual_seed(1)))
    assert sharpness.mean().item() == pytest.approx(entry["sample_sharpness"], rel=1e-3)


def test_the_script_retraces_the_committed_run(tmp_path):
    """Two epochs of each model, by the script with the committed run's options: the same
    training losses and test ELBOs (VAEs), or loss and discriminator means (VAE-GAN), as the
    committed run's first two epochs, and files that load through the package."""
    out = tmp_path / "pretrained"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_pretrained.py"), "--epochs", "2", "--k", "2",
                             "--out", str(out), "--work", str(tmp_path / "runs")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = json.loads((out / "MANIFEST.json").read_text())
    for name in VAEGANS:
        committed, new = pretrained.info(name), fresh[name]
        assert new["config"] == committed["config"] and new["training"] == committed["training"]
        for a, b in zip(new["history"], committed["history"][:2]):
            assert a == pytest.approx(b, rel=1e-3, abs=1e-4)  # one thread: identical on one machine
        assert isinstance(pretrained.load(name, folder=out), VAEGAN)
    for name in VAES:
        committed, new = pretrained.info(name), fresh[name]
        assert new["config"] == {**committed["config"], "epochs": 2}
        for a, b in zip(new["history"], committed["history"][:2]):
            assert a == pytest.approx(b, abs=0.05)  # nats per image; identical on one machine
        assert new["test_elbo_per_epoch"] == pytest.approx(committed["test_elbo_per_epoch"][:2], abs=0.05)
        model = pretrained.load(name, folder=out)
        assert scored(model, new["config"])[0] == pytest.approx(new["test_elbo_nats"], abs=1e-9)


def copy_of(tmp_path, name="mlp_L20"):
    folder = tmp_path / "weights"
    folder.mkdir()
    entry = pretrained.info(name)
    shutil.copy(pretrained.FOLDER / entry["file"], folder / entry["file"])
    (folder / "MANIFEST.json").write_text(json.dumps({name: entry}))
    return folder, folder / entry["file"]


def rehash(folder, name, path):
    entries = json.loads((folder / "MANIFEST.json").read_text())
    entries[name]["sha256"] = pretrained.sha256(path)
    (folder / "MANIFEST.json").write_text(json.dumps(entries))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(pretrained.PretrainedError, match="no pretrained weights named 'vae'.*conv_L20, mlp_L20, vaegan_L20"):
        pretrained.load("vae")


def test_changed_file_is_refused_by_its_hash(tmp_path):
    folder, path = copy_of(tmp_path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 1  # one flipped bit, inside a weight
    path.write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="SHA-256 differs from MANIFEST.json"):
        pretrained.load("mlp_L20", folder=folder)


def test_missing_file_names_the_make_target(tmp_path):
    folder, path = copy_of(tmp_path)
    path.unlink()
    with pytest.raises(pretrained.PretrainedError, match="missing; `make pretrained` writes it"):
        pretrained.load("mlp_L20", folder=folder)


class Payload:
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path, capsys):
    folder, path = copy_of(tmp_path)
    torch.save({"format": 1, "payload": Payload()}, path)
    rehash(folder, "mlp_L20", path)
    with pytest.raises(pretrained.PretrainedError, match="not a weights file torch can read safely"):
        pretrained.load("mlp_L20", folder=folder)
    assert "this ran" not in capsys.readouterr().out


def test_weights_that_do_not_fit_their_config_are_refused(tmp_path):
    folder, path = copy_of(tmp_path)
    stored = torch.load(path, weights_only=True)
    stored["config"]["dims"] = [784, 128, 20]  # the weights are of a 784-256-20 model
    torch.save(stored, path)
    rehash(folder, "mlp_L20", path)
    with pytest.raises(pretrained.PretrainedError, match="is not finite float32 of shape"):
        pretrained.load("mlp_L20", folder=folder)
    stored["config"]["dims"] = [784, 256, 20]
    stored["model"]["encoder.0.weight"][0, 0] = float("nan")
    torch.save(stored, path)
    rehash(folder, "mlp_L20", path)
    with pytest.raises(pretrained.PretrainedError, match="encoder.0.weight is not finite"):
        pretrained.load("mlp_L20", folder=folder)
    stored["config"]["beta"] = -1.0
    torch.save(stored, path)
    rehash(folder, "mlp_L20", path)
    with pytest.raises(pretrained.PretrainedError, match="its config is invalid: beta"):
        pretrained.load("mlp_L20", folder=folder)
    stored["config"] = {"kind": "vaegan", "latent_dim": 20, "arch": "conv"}  # no gamma
    torch.save(stored, path)
    rehash(folder, "mlp_L20", path)
    with pytest.raises(pretrained.PretrainedError, match="its config is invalid: a VAE-GAN's config has the keys"):
        pretrained.load("mlp_L20", folder=folder)


def test_a_format_1_file_is_a_constant_rate_run_and_later_formats_must_say_their_schedule(tmp_path):
    """Format 1 came before --lr-schedule (the committed VAEs): read as a constant rate, which they
    had. A format-1 file holding the option, a format-2 file without it, or a format 3, is refused."""
    assert torch.load(pretrained.FOLDER / "mlp_L20.pt", weights_only=True)["format"] == 1
    folder, path = copy_of(tmp_path)
    stored = torch.load(path, weights_only=True)
    assert "lr_schedule" not in stored["config"] and isinstance(pretrained.load("mlp_L20", folder=folder), VAE)
    for fmt, config, message in ((1, {**stored["config"], "lr_schedule": "constant"},
                                  "option 'lr_schedule' in a format-1 file, which had no such option"),
                                 (2, stored["config"], "its config is invalid: no lr_schedule"),
                                 (3, stored["config"], "not a vae_lessons pretrained file of format 1 or 2")):
        torch.save({**stored, "format": fmt, "config": config}, path)
        rehash(folder, "mlp_L20", path)
        with pytest.raises(pretrained.PretrainedError, match=message):
            pretrained.load("mlp_L20", folder=folder)
    torch.save({**stored, "format": 2, "config": {**stored["config"], "lr_schedule": "constant"}}, path)
    rehash(folder, "mlp_L20", path)
    assert isinstance(pretrained.load("mlp_L20", folder=folder), VAE)

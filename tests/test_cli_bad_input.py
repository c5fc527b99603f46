"""Bad input to the command-line trainer, typed or inside a checkpoint: each one ends in exactly
one line on stderr that names the problem, exit status 2 and no traceback (issue 8's table,
row by row, and more). In-process, so the whole table takes seconds."""
import copy
import pickle

import pytest
import torch

from vae_lessons import checkpoint
from vae_lessons.cli import main

from helpers import assert_one_error_line, delete_at, get_at, set_at

TINY = ["--dims", "784-8-2", "--batch-size", "500", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-epoch run on the bundled subset, and its checkpoint as loaded."""
    run = tmp_path_factory.mktemp("trained")
    assert main(["train", *TINY, "--epochs", "2", "--out", str(run)]) == 0
    return run, torch.load(run / "checkpoint.pt", weights_only=True)


# ------------------------------------------------------------------------------ the command line

COMMAND_LINE = {
    "beta -1 (trained to a test ELBO of -203,614)": (["--beta", "-1"], "argument --beta: must be a finite number >= 0"),
    "beta nan (blamed the learning rate)": (["--beta", "nan"],
                                            "argument --beta: must be a finite number >= 0 and <= 1e+06, got nan"),
    "beta inf": (["--beta", "inf"], "argument --beta: must be a finite number >= 0 and <= 1e+06, got inf"),
    "beta huge": (["--beta", "1e300"], "argument --beta: must be a finite number"),
    "beta not a number": (["--beta", "high"], "argument --beta: expected a number, got 'high'"),
    "seed -1 (numpy traceback)": (["--seed", "-1"], "argument --seed: must be an int from 0 to 4294967295, got -1"),
    "seed 2**32 (numpy traceback)": (["--seed", "4294967296"], "argument --seed: must be an int from 0 to 4294967295"),
    "seed 1.5": (["--seed", "1.5"], "argument --seed: expected a whole number, got '1.5'"),
    "epochs 10**30 (OverflowError)": (["--epochs", str(10**30)], "argument --epochs: must be an int from 1 to 100000"),
    "epochs 0": (["--epochs", "0"], "argument --epochs: must be an int from 1 to 100000, got 0"),
    "epochs of 5000 digits": (["--epochs", "9" * 5000], "argument --epochs: expected a whole number, got a str"),
    "batch size 0 (shared one message)": (["--batch-size", "0"], "argument --batch-size: must be an int from 1"),
    "batch size huge": (["--batch-size", str(10**12)], "argument --batch-size: must be an int from 1 to 1000000"),
    "lr 0 (shared one message)": (["--lr", "0"], "argument --lr: must be a finite number > 0, got 0.0"),
    "lr nan": (["--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
    "lr -1": (["--lr", "-1"], "argument --lr: must be a finite number > 0"),
    "a billion-wide layer (allocation traceback)": (["--dims", "784-1000000000-2"],
                                                    "argument --dims: 784-1000000000-2 needs 1,576,000,000,788 "
                                                    "weights; "
                                                    "the limit is 100,000,000"),
    "a zero-wide layer": (["--dims", "784-0-2"], "argument --dims: must be 2 to 32 positive ints"),
    "one size": (["--dims", "784"], "argument --dims: must be 2 to 32 positive ints"),
    "forty layers": (["--dims", "-".join(["784"] + ["2"] * 40)], "argument --dims: must be 2 to 32 positive ints"),
    "not 784 pixels": (["--dims", "100-10-2"], "argument --dims: must start with 784 (28 x 28 pixels), got 100"),
    "not sizes": (["--dims", "784-x-2"], "argument --dims: expected sizes like 784-256-2, got '784-x-2'"),
    "unknown dataset": (["--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    "unknown activation": (["--activation", "gelu"],
                           "argument --activation: invalid choice: 'gelu' (choose from relu, tanh)"),
    "unknown device": (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    "unknown option": (["--warmup", "5"], "unrecognized arguments: --warmup 5"),
    "kl warm-up -1": (["--kl-warmup", "-1"], "argument --kl-warmup: must be an int from 0 to 100000, got -1"),
    "kl warm-up 1.5": (["--kl-warmup", "1.5"], "argument --kl-warmup: expected a whole number, got '1.5'"),
    "kl warm-up nan": (["--kl-warmup", "nan"], "argument --kl-warmup: expected a whole number, got 'nan'"),
    "free bits -0.5": (["--free-bits", "-0.5"], "argument --free-bits: must be a finite number >= 0 and <= 1e+06, "
                                                "got -0.5"),
    "free bits nan": (["--free-bits", "nan"], "argument --free-bits: must be a finite number >= 0 and <= 1e+06, "
                                              "got nan"),
    "free bits inf": (["--free-bits", "inf"], "argument --free-bits: must be a finite number >= 0 and <= 1e+06, "
                                              "got inf"),
    "free bits not a number": (["--free-bits", "few"], "argument --free-bits: expected a number, got 'few'"),
    "conditional with a value": (["--conditional", "yes"], "unrecognized arguments: yes"),
    "unknown arch": (["--arch", "cnn"], "argument --arch: invalid choice: 'cnn' (choose from mlp, conv)"),
    "conv with conditional": (["--arch", "conv", "--conditional"],
                              "--arch conv with --conditional: the convolutional VAE takes no labels "
                              "(--conditional needs --arch mlp)"),
    "conv with hidden sizes": (["--arch", "conv", "--dims", "784-256-20"],
                               "--arch conv takes --dims 784-L, the code size L only (its layers are fixed), "
                               "got 784-256-20: try --dims 784-20"),
    "one-cycle in one step (traceback)": (["--lr-schedule", "one-cycle", "--epochs", "1", "--batch-size", "100000"],
                                          "--lr-schedule one-cycle needs at least 2 steps to rise and fall; --epochs 1 "
                                          "of 10,000 images in batches of --batch-size 100000 make 1"),
    "unknown lr schedule": (["--lr-schedule", "cosine"],
                            "argument --lr-schedule: invalid choice: 'cosine' (choose from constant, one-cycle)"),
    "unknown preset": (["--preset", "fast"], "argument --preset: invalid choice: 'fast' (choose from 'quality')"),
    "a preset's dims with conv": (["--preset", "quality", "--arch", "conv"],
                                  "--arch conv takes --dims 784-L, the code size L only (its layers are fixed), got "
                                  "784-200-200-50: try --dims 784-50 (with the options of --preset quality)"),
    "conv with a huge code": (["--arch", "conv", "--dims", "784-20000"],
                              "--arch conv --dims 784-20000 needs 188,269,825 weights; the limit is 100,000,000"),
}


@pytest.mark.parametrize("case", COMMAND_LINE, ids=str)
def test_bad_training_options(case, tmp_path):
    args, fragment = COMMAND_LINE[case]
    assert_one_error_line(["train", *args, "--out", tmp_path / "run"], fragment)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_bad_command_lines(tmp_path):
    assert_one_error_line(["train"], "the following arguments are required: --out")
    assert_one_error_line([], "the following arguments are required: command")
    assert_one_error_line(["fit"], "invalid choice: 'fit'")
    assert_one_error_line(["train", "--dataset", "mnist", "--data-root", tmp_path / "empty", "--out", tmp_path / "x"],
                    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz in")
    assert_one_error_line(["train", *TINY, "--epochs", 2, "--lr", "1e6", "--out", tmp_path / "nan"],
                    "learning rate too high")


def test_out_must_be_a_folder(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert_one_error_line(["train", *TINY, "--out", afile], f"--out {afile}: {afile} is a file, not a folder")
    under = afile / "run" / "a"
    assert_one_error_line(["train", *TINY, "--out", under], f"--out {under}: {afile} is a file")
    assert_one_error_line(["evaluate", afile], f"{afile / 'checkpoint.pt'}: no checkpoint there")
    assert_one_error_line(["train", "--out", afile, "--resume"], "no checkpoint there")
    assert afile.read_text() == "not a folder"


def test_bad_evaluate_options(trained, tmp_path):
    run, _ = trained
    assert_one_error_line(["evaluate", run, "--k", 0], "argument --k: must be an int from 1 to 1000000, got 0")
    assert_one_error_line(["evaluate", run, "--k", 10**30], "argument --k: must be an int from 1 to 1000000")
    assert_one_error_line(["evaluate", run, "--n-test", 1], "argument --n-test: must be an int from 2")
    assert_one_error_line(["evaluate", run, "--n-test", "all"], "argument --n-test: expected a whole number, got 'all'")
    assert_one_error_line(["evaluate", tmp_path / "nowhere"], "no checkpoint there")


def test_resume_takes_the_runs_options_and_refuses_changes(trained):
    run, _ = trained
    assert_one_error_line(["train", *TINY, "--epochs", 2, "--out", run], "already holds a run: pass --resume")
    assert_one_error_line(["train", "--out", run, "--resume", "--dims", "784-8-3", "--lr", "0.01"],
                    f"--resume {run}: options differ from the run's: --dims 784-8-3 (the run has 784-8-2), "
                    "--lr 0.01 (the run has 0.001)")
    assert_one_error_line(["train", "--out", run, "--resume", "--kl-warmup", 2, "--free-bits", 1],
                          f"--resume {run}: options differ from the run's: --kl-warmup 2 (the run has 0), "
                          "--free-bits 1.0 (the run has 0.0)")
    assert_one_error_line(["train", "--out", run, "--resume", "--conditional"],
                          f"--resume {run}: options differ from the run's: --conditional on (the run has off); "
                          "leave them out to continue the run as it was")
    assert_one_error_line(["train", "--out", run, "--resume", "--arch", "conv"],
                          f"--resume {run}: options differ from the run's: --arch conv (the run has mlp)")
    assert_one_error_line(["train", "--out", run, "--resume", "--epochs", 1],
                    "--epochs 1: the run in")
    assert_one_error_line(["train", "--out", run.parent / "empty", "--resume"], "no checkpoint there")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available here")
def test_cuda_without_a_gpu(tmp_path):
    assert_one_error_line(["train", *TINY, "--device", "cuda", "--out", tmp_path / "run"],
                          "--device cuda: no CUDA device")


# ------------------------------------------------------------------------------ checkpoints

def at(path, value):
    """A function that sets the entry at path to value, or to value(old) if value is callable."""
    def apply(ckpt):
        set_at(ckpt, path, value(get_at(ckpt, path)) if callable(value) else value)
        return ckpt
    return apply


def drop(*path):
    def apply(ckpt):
        delete_at(ckpt, path)
        return ckpt
    return apply


def nan_at_first(t):
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


CHECKPOINTS = {  # name: (what to do to a valid checkpoint, the line it must give)
    "a tensor": (lambda c: torch.zeros(3), "holds a tensor of shape (3,), float32, not a vae_lessons checkpoint"),
    "a list": (lambda c: [1, 2], "holds [1, 2], not a vae_lessons checkpoint (a dict)"),
    "a dict with no model": (drop("model"), "not a vae_lessons checkpoint: no model"),
    "an extra entry": (at(("extra",), 1), "not a vae_lessons checkpoint: unexpected entry 'extra'"),
    "format 1 (before the hash)": (lambda c: drop("sha256")(drop("format")(c)),
                                   "written by an earlier vae_lessons (format 1, without a SHA-256"),
    "format 7": (at(("format",), 7), "checkpoint format 7; this vae_lessons reads formats 2 to 6"),
    "format 2 with the options of format 3": (at(("format",), 2),
                                              "config: option 'kl_warmup' in a format-2 checkpoint, which had no "
                                              "such option"),
    "format 3 with the option of format 4": (at(("format",), 3),
                                             "config: option 'conditional' in a format-3 checkpoint, which had no "
                                             "such option"),
    "format 4 with the option of format 5": (at(("format",), 4),
                                             "config: option 'arch' in a format-4 checkpoint, which had no "
                                             "such option"),
    "format 2 without an option it had": (lambda c: at(("format",), 2)(drop("config", "beta")(
        drop("config", "kl_warmup")(drop("config", "free_bits")(drop("config", "conditional")(
            drop("config", "arch")(drop("config", "lr_schedule")(c))))))), "config: no beta"),
    "format 3 without an option it had": (lambda c: at(("format",), 3)(drop("config", "conditional")(
        drop("config", "arch")(drop("config", "free_bits")(drop("config", "lr_schedule")(c))))), "config: no free_bits"),
    "format 4 without an option it had": (lambda c: at(("format",), 4)(drop("config", "arch")(
        drop("config", "conditional")(drop("config", "lr_schedule")(c)))), "config: no conditional"),
    "format 5 with the option of format 6": (at(("format",), 5),
                                             "config: option 'lr_schedule' in a format-5 checkpoint, which had no "
                                             "such option"),
    "format 5 without an option it had": (lambda c: at(("format",), 5)(drop("config", "lr_schedule")(
        drop("config", "arch")(c))), "config: no arch"),
    "format 6 without conditional": (drop("config", "conditional"), "config: no conditional"),
    "format 6 without arch": (drop("config", "arch"), "config: no arch"),
    "format 6 without lr_schedule": (drop("config", "lr_schedule"), "config: no lr_schedule"),
    "config lr_schedule cosine": (at(("config", "lr_schedule"), "cosine"),
                                  "config: lr_schedule: invalid choice: 'cosine' (choose from constant, one-cycle)"),
    "a constant-rate run with another rate stored": (at(("optimizer", "param_groups", 0, "lr"), 0.5),
                                                     "optimizer.param_groups.0.lr: 0.5, but Adam for the architecture "
                                                     "784-8-2 has 0.001"),
    "a constant-rate run with a lower rate stored": (at(("optimizer", "param_groups", 0, "lr"), 5e-4),
                                                     "optimizer.param_groups.0.lr: 0.0005, but Adam for the "
                                                     "architecture 784-8-2 has 0.001"),
    "a one-cycle run with a rate above its peak": (lambda c: at(("optimizer", "param_groups", 0, "lr"), 0.5)(
        at(("config", "lr_schedule"), "one-cycle")(c)),
        "optimizer.param_groups.0.lr: expected a rate in (0, 0.001], the one-cycle schedule's range, got 0.5"),
    "a one-cycle run with a rate of 0": (lambda c: at(("optimizer", "param_groups", 0, "lr"), 0.0)(
        at(("config", "lr_schedule"), "one-cycle")(c)), "optimizer.param_groups.0.lr: expected a rate in (0, 0.001]"),
    "Adam's fused flag False": (at(("optimizer", "param_groups", 0, "fused"), False),
                                "optimizer.param_groups.0.fused: expected None (unfused Adam) or True (fused), got False"),
    "config arch cnn": (at(("config", "arch"), "cnn"), "config: arch: invalid choice: 'cnn' (choose from mlp, conv)"),
    "config arch conv with hidden sizes": (at(("config", "arch"), "conv"),
                                           "config: --arch conv takes --dims 784-L, the code size L only"),
    "a conv config on MLP weights": (lambda c: at(("config", "dims"), [784, 2])(at(("config", "arch"), "conv")(c)),
                                     "model: no 'encoder.1.weight': it does not fit the convolutional "
                                     "architecture 784-2"),
    "a conditional conv config": (lambda c: at(("config", "dims"), [784, 2])(at(("config", "arch"), "conv")(
        at(("config", "conditional"), True)(c))), "config: --arch conv with --conditional"),
    "config conditional 1": (at(("config", "conditional"), 1), "config: conditional: must be True or False, got 1"),
    "a conditional config on unconditional weights": (at(("config", "conditional"), True),
                                                      "model.encoder.0.weight: a tensor of shape (8, 784), float32, "
                                                      "but the label-conditional architecture 784-8-2 needs shape "
                                                      "(8, 794), float32"),
    "config dims with a zero": (at(("config", "dims"), [784, 0, 2]), "config: dims: must be 2 to 32 positive ints"),
    "config dims a string": (at(("config", "dims"), "784-8-2"),
                             "config: dims: must be 2 to 32 positive ints, input to code"),
    "config with an unknown activation": (at(("config", "activation"), "gelu"),
                                          "config: activation: invalid choice: 'gelu'"),
    "config with a huge layer": (at(("config", "dims"), [784, 10**9, 2]), "config: dims: 784-1000000000-2 needs"),
    "config with a 10**30 layer": (at(("config", "dims"), [784, 10**30, 2]), f"config: dims: 784-{10**30}-2 needs"),
    "config with a 10**5000 layer": (at(("config", "dims"), [784, 10**5000, 2]),  # torch's unpickler refuses it
                                     "not a readable vae_lessons checkpoint"),
    "config beta -1": (at(("config", "beta"), -1.0), "config: beta: must be a finite number >= 0"),
    "config kl_warmup -1": (at(("config", "kl_warmup"), -1), "config: kl_warmup: must be an int from 0 to 100000"),
    "config kl_warmup 1.0": (at(("config", "kl_warmup"), 1.0), "config: kl_warmup: must be an int from 0"),
    "config free_bits nan": (at(("config", "free_bits"), float("nan")),
                             "config: free_bits: must be a finite number >= 0 and <= 1e+06, got nan"),
    "config missing free_bits": (drop("config", "free_bits"), "config: no free_bits"),
    "config lr nan": (at(("config", "lr"), float("nan")), "config: lr: must be a finite number > 0, got nan"),
    "config seed 2**32": (at(("config", "seed"), 2**32), "config: seed: must be an int from 0 to 4294967295"),
    "config epochs a tensor": (at(("config", "epochs"), torch.tensor(5)), "config: epochs: must be a plain int"),
    "config missing lr": (drop("config", "lr"), "config: no lr"),
    "config with an unknown option": (at(("config", "warmup"), 5), "config: unknown option 'warmup'"),
    "config a string": (at(("config",), "784-8-2"), "config: expected a dict of options, got '784-8-2'"),
    "a tensor as model": (at(("model",), torch.zeros(3)), "model: expected a dict, got a tensor of shape (3,)"),
    "weights of another architecture": (at(("config", "dims"), [784, 8, 3]),
                                        "model.encoder.2.weight: a tensor of shape (4, 8), float32, but the "
                                        "architecture 784-8-3 needs shape (6, 8), float32"),
    "a missing weight": (drop("model", "decoder.0.bias"),
                         "model: no 'decoder.0.bias': it does not fit the architecture 784-8-2"),
    "float64 weights": (at(("model", "encoder.0.weight"), lambda t: t.double()),
                        "model.encoder.0.weight: a tensor of shape (8, 784), float64, but the architecture"),
    "NaN weights (was: exit 0, ELBO nan, bare NaN in JSON)": (at(("model", "encoder.0.weight"), nan_at_first),
                                                              "model.encoder.0.weight: holds NaN or infinite values"),
    "inf in Adam's state": (at(("optimizer", "state"), lambda s: {**s, 0: {**s[0], "exp_avg": s[0]["exp_avg"] / 0}}),
                            "optimizer.state.0.exp_avg: holds NaN or infinite values"),
    "Adam at another learning rate": (at(("optimizer", "param_groups", 0, "lr"), 0.5),
                                      "optimizer.param_groups.0.lr: 0.5, but Adam for the architecture 784-8-2 "
                                      "has 0.001"),
    "a NaN loss in the history": (at(("history", 0, "loss"), float("nan")), "history.0: expected finite numbers"),
    "a history longer than its epochs": (at(("config", "epochs"), 1),
                                         "history: 2 epochs recorded, more than the config's 1"),
    "negative seconds": (at(("seconds",), -1.0), "seconds: expected a finite number >= 0, got -1.0"),
    "an invalid RNG state": (at(("rng", "torch"), torch.zeros(5056, dtype=torch.uint8)),
                             "rng.torch: not a valid random-number generator state"),
    "an RNG state of the wrong size": (at(("rng", "order"), torch.zeros(7, dtype=torch.uint8)),
                                       "rng.order: a tensor of shape (7,), uint8, but a generator needs shape (5056,)"),
    "a hash that is not hex": (at(("sha256",), "xyz"), "sha256: expected 64 hex digits, got 'xyz'"),
    "an option edited (beta), hash not updated": (at(("config", "beta"), 2.0),
                                                  "its contents do not match the SHA-256 stored in it"),
    "a weight edited, hash not updated": (at(("model", "decoder.0.weight"), lambda t: t + 1e-3),
                                          "its contents do not match the SHA-256 stored in it"),
}


@pytest.mark.parametrize("case", CHECKPOINTS, ids=str)
def test_bad_checkpoints(case, trained, tmp_path):
    run, valid = trained
    change, fragment = CHECKPOINTS[case]
    ckpt_path = tmp_path / "checkpoint.pt"
    torch.save(change(copy.deepcopy(valid)), ckpt_path)
    assert_one_error_line(["evaluate", tmp_path], f"{ckpt_path}: ")
    assert_one_error_line(["evaluate", tmp_path], fragment)
    assert_one_error_line(["train", "--out", tmp_path, "--resume"], fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # nothing written beside it


class RunsCode:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def unreadable_files(run, tmp_path):
    """{name: (file content, the line it must give)} for files that are no checkpoint at all."""
    data = (run / "checkpoint.pt").read_bytes()
    marker = tmp_path / "code_ran"
    payload = {"config": RunsCode(marker)}
    return marker, {
        "random bytes": (bytes(range(256)) * 4, "not a readable vae_lessons checkpoint (UnpicklingError)"),
        "an empty file": (b"", "not a readable vae_lessons checkpoint"),
        "a truncated checkpoint": (data[: len(data) // 2], "not a readable vae_lessons checkpoint"),
        "a plain pickle (torch warned in two lines first)": (pickle.dumps({"model": [1.0]}, protocol=4),
                                                             "not a readable vae_lessons checkpoint"),
        "a pickle that runs code": (pickle.dumps(payload, protocol=2), "exec, which no checkpoint needs; "
                                                                       "nothing was run"),
        "the same, protocol 5": (pickle.dumps(payload, protocol=5), "not a readable vae_lessons checkpoint"),
    }


def test_unreadable_checkpoints_are_refused_without_running_code(trained, tmp_path):
    run, _ = trained
    marker, cases = unreadable_files(run, tmp_path)
    folder = tmp_path / "run"
    folder.mkdir()
    torch.save({"config": RunsCode(marker)}, folder / "zip.pt")  # the same payload in torch's zip format
    cases["a torch.save that runs code"] = ((folder / "zip.pt").read_bytes(), "exec, which no checkpoint needs")
    for name, (content, fragment) in cases.items():
        (folder / "checkpoint.pt").write_bytes(content)
        assert_one_error_line(["evaluate", folder], fragment)
        assert_one_error_line(["train", "--out", folder, "--resume"], fragment)
        assert not marker.exists(), name


def test_a_flipped_byte_in_a_weight_is_caught(trained, tmp_path):
    run, valid = trained
    data = bytearray((run / "checkpoint.pt").read_bytes())
    weight = valid["model"]["encoder.0.weight"].numpy().tobytes()
    at = bytes(data).find(weight[4000:4064]) + 10  # somewhere inside the first layer's weights
    data[at] ^= 0x01  # the lowest bit of a mantissa: the weight stays finite, and nearly equal
    (tmp_path / "checkpoint.pt").write_bytes(bytes(data))
    assert_one_error_line(["evaluate", tmp_path], "its contents do not match the SHA-256 stored in it: "
                                                    "the file is corrupted or was edited")


def test_non_finite_results_are_not_written_to_json(trained, tmp_path):
    """Finite weights so large that the ELBO overflows: the checkpoint is valid (sealed anew),
    so evaluation runs, and its NaN must not reach a JSON file (was: a bare NaN, invalid JSON)."""
    run, valid = trained
    ckpt = copy.deepcopy(valid)
    for name in ("encoder.0.weight", "encoder.2.weight"):
        ckpt["model"][name] = torch.full_like(ckpt["model"][name], 1e30)
    torch.save(checkpoint.seal(ckpt), tmp_path / "checkpoint.pt")
    no_nan = "and JSON has no NaN or infinity"
    assert_one_error_line(["evaluate", tmp_path, "--k", 2, "--n-test", 10], "evaluation_k2.json: not written: ", no_nan)
    assert_one_error_line(["train", "--out", tmp_path, "--resume"], "summary.json: not written: test_elbo_nats is",
                          no_nan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]

"""The command-line trainer end to end, on the bundled subset: train, a real Ctrl-C, resume to
the same result as an uninterrupted run, evaluate; and bad input ending in one line, exit 2."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

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
    assert "--resume" in err and "Traceback" not in err
    done = len(weights(run)[1])
    assert 1 <= done < 6

    resumed = cli("train", *SMALL, "--epochs", 6, "--out", run, "--resume")
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


def one_line_error(capsys, argv, pattern):
    """In-process (fast): exit status 2, exactly one line on stderr, naming the problem."""
    from vae_lessons.cli import main
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vae_lessons: error: "), err
    assert pattern in err


def test_bad_input_ends_in_one_line_and_status_2(tmp_path, capsys):
    one_line_error(capsys, ["train", "--dataset", "imagenet", "--out", tmp_path / "x"], "invalid choice: 'imagenet'")
    one_line_error(capsys, ["train", "--dims", "784-x-2", "--out", tmp_path / "x"], "expected sizes like 784-256-2")
    one_line_error(capsys, ["train", "--dims", "100-10-2", "--out", tmp_path / "x"], "--dims must start with 784")
    one_line_error(capsys, ["train", "--dataset", "mnist", "--data-root", tmp_path / "empty", "--out", tmp_path / "x"],
                   "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz in")
    one_line_error(capsys, ["train", *SMALL, "--epochs", 2, "--lr", "1e6", "--out", tmp_path / "nan"],
                   "learning rate too high")
    one_line_error(capsys, ["evaluate", tmp_path / "nowhere"], "no checkpoint there")
    one_line_error(capsys, ["train", "--out", tmp_path / "y", "--resume"], "no checkpoint there")


def test_checkpoints_from_elsewhere_are_refused(tmp_path, capsys):
    from vae_lessons.cli import main
    run, other = tmp_path / "run", tmp_path / "other"
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(run)]) == 0
    one_line_error(capsys, ["train", *SMALL, "--epochs", 1, "--out", run], "already holds a run")
    one_line_error(capsys, ["train", "--dims", "784-32-3", "--no-progress", "--epochs", 2, "--out", run, "--resume"],
                   "options differ")
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["config"]["dims"] = [784, 32, 3]  # a config that does not match its weights
    other.mkdir()
    torch.save(ckpt, other / "checkpoint.pt")
    one_line_error(capsys, ["evaluate", run, "--n-test", 0], "--n-test at least 2")
    one_line_error(capsys, ["evaluate", other], "do not fit the architecture 784-32-3")
    torch.save({"weights": torch.zeros(3)}, other / "checkpoint.pt")
    one_line_error(capsys, ["evaluate", other], "no vae_lessons configuration")
    (other / "checkpoint.pt").write_bytes(os.urandom(100))
    one_line_error(capsys, ["evaluate", other], "not a readable vae_lessons checkpoint")

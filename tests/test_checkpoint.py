"""Checkpoints: what is written comes back exactly (of a conditional or convolutional run too);
writes are durable (fsync, rename, fsync of the folder); a hash catches any change; JSON never
holds a NaN; a format-2, 3, 4 or 5 checkpoint, or one of the unfused Adam, continues as the same run; and a fuzz test: no crafted
checkpoint reaches a traceback or runs code."""
import copy
import json
import math
import os
import stat

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vae_lessons import checkpoint, options
from vae_lessons.checkpoint import RunFileError
from vae_lessons.cli import main
from vae_lessons.options import build_vae, make_optimizer, new_config
from vae_lessons.training import History

from helpers import assert_one_error_line, delete_at, set_at


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A real two-epoch run's checkpoint, as loaded, and a spare folder to write crafted ones in."""
    run = tmp_path_factory.mktemp("run")
    assert main(["train", "--dims", "784-8-2", "--batch-size", "500", "--epochs", "2", "--no-progress",
                 "--out", str(run)]) == 0
    return torch.load(run / "checkpoint.pt", weights_only=True), tmp_path_factory.mktemp("crafted")


def small_run(conditional=False, arch="mlp"):
    config = new_config({"dims": [784, 8, 2] if arch == "mlp" else [784, 2], "epochs": 3,
                         "conditional": conditional, "arch": arch})
    model = build_vae(config)
    optimizer = make_optimizer(model, config)
    labels = (torch.tensor([0, 3, 9, 9]),) if conditional else ()
    model(torch.rand(4, 784).round(), *labels).logits.sum().backward()
    optimizer.step()
    history = History(records=[{"loss": 1.5, "recon": 1.0, "kl": 0.5}], seconds=2.0)
    return config, model, optimizer, history, torch.Generator().manual_seed(3)


@pytest.mark.parametrize("conditional, arch", [(False, "mlp"), (True, "mlp"), (False, "conv")])
def test_what_is_saved_comes_back_exactly(tmp_path, conditional, arch):
    config, model, optimizer, history, order = small_run(conditional, arch)
    path = tmp_path / "checkpoint.pt"
    rng_saved = torch.get_rng_state()
    checkpoint.save(checkpoint.capture(config, model, optimizer, history, order), path)
    ckpt = checkpoint.load(path)
    assert ckpt["config"] == config and ckpt["format"] == checkpoint.FORMAT and ckpt["config"]["arch"] == arch
    model2 = build_vae(config)
    expected = {("mlp", False): "VAE", ("mlp", True): "ConditionalVAE", ("conv", False): "ConvVAE"}[arch, conditional]
    assert type(model2) is type(model) and type(model2).__name__ == expected
    first = model2.encoder[1] if arch == "conv" else model2.encoder[0]
    assert first.weight.shape == ((32, 1, 4, 4) if arch == "conv" else (8, 784 + 10 * conditional))
    optimizer2 = make_optimizer(model2, config)
    history2, order2 = checkpoint.restore(ckpt, model2, optimizer2)  # building model2 drew from the RNG
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values()))
    assert checkpoint.content_hash(optimizer.state_dict()) == checkpoint.content_hash(optimizer2.state_dict())
    assert history2.records == history.records and history2.seconds == 2.0
    assert torch.equal(order2.get_state(), order.get_state()) and torch.equal(torch.get_rng_state(), rng_saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temporary file left


def test_the_hash_sees_every_part_and_nothing_else():
    config, model, optimizer, history, order = small_run()
    payload = checkpoint.capture(config, model, optimizer, history, order)
    digest = payload["sha256"]
    reordered = dict(reversed(list(payload.items())))
    reordered["config"] = dict(reversed(list(config.items())))
    assert checkpoint.content_hash(reordered) == digest  # canonical: key order does not matter

    def changed(edit):
        other = copy.deepcopy(payload)
        edit(other)
        return checkpoint.content_hash(other)

    edits = [
        lambda c: c["model"]["decoder.0.weight"].view(-1)[5].add_(1e-7),  # one float32 ulp or so
        lambda c: c["optimizer"]["state"][0]["exp_avg_sq"].view(-1)[0].mul_(2),
        lambda c: c["config"].update(beta=1.0000001),
        lambda c: c["config"].update(dims=[784, 8, 2, 1]),
        lambda c: c["history"][0].update(kl=0.50001),
        lambda c: c["rng"]["order"].view(-1)[100].add_(1),
        lambda c: c.update(seconds=2.5),
        lambda c: c["model"].update({"decoder.0.weight": c["model"]["decoder.0.weight"].double()}),
    ]
    hashes = {changed(e) for e in edits}
    assert digest not in hashes and len(hashes) == len(edits)


def test_writes_are_flushed_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode)
                                                              else "fsync file"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("rename"), real_replace(a, b)))
    checkpoint.save({"a": torch.ones(3)}, tmp_path / "checkpoint.pt")
    checkpoint.write_json(tmp_path / "summary.json", {"elbo": -90.5})
    assert calls == ["fsync file", "rename", "fsync folder"] * 2
    assert json.loads((tmp_path / "summary.json").read_text()) == {"elbo": -90.5}


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    checkpoint.save({"a": torch.ones(3)}, path)
    before = path.read_bytes()

    def broken(f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # a second Ctrl-C, or a full disk, in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        checkpoint._write_atomically(path, broken)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def older(good, version):
    """good as format `version` wrote it: without the options added since, sealed anew."""
    old = copy.deepcopy(dict(good))
    old["format"] = version
    for v, names in checkpoint.ADDED_IN_FORMAT.items():
        if v > version:
            for name in names:
                del old["config"][name]
    return checkpoint.seal(old)


def test_older_formats_are_read_with_the_later_options_off_and_continue_exactly(valid, tmp_path):
    """Format 2 came before --kl-warmup and --free-bits, format 3 before --conditional, format 4
    before --arch, format 5 before --lr-schedule: their runs used none of them (an MLP VAE, a
    constant rate), so the defaults describe them; `evaluate` reads them, and a --resume goes on
    as the same run (and writes format 6)."""
    good, _ = valid
    assert "kl_warmup" not in older(good, 2)["config"] and "conditional" not in older(good, 3)["config"]
    assert "arch" not in older(good, 4)["config"] and good["config"]["arch"] == "mlp"
    assert "lr_schedule" not in older(good, 5)["config"] and good["config"]["lr_schedule"] == "constant"
    runs = {"format 2": older(good, 2), "format 3": older(good, 3), "format 4": older(good, 4),
            "format 5": older(good, 5), "format 6": good}
    for name, ckpt in runs.items():
        folder = tmp_path / name.replace(" ", "")
        folder.mkdir()
        torch.save(ckpt, folder / "checkpoint.pt")
        loaded = checkpoint.load(folder / "checkpoint.pt")
        assert loaded["config"] == good["config"] and loaded["config"]["kl_warmup"] == 0
        assert loaded["config"]["conditional"] is False and loaded["config"]["arch"] == "mlp"
        assert type(build_vae(loaded["config"])).__name__ == "VAE"
        assert main(["evaluate", str(folder), "--k", "2", "--n-test", "20"]) == 0
        assert json.loads((folder / "evaluation_k2.json").read_text())["bound_of"] == "log p(x)"
        assert main(["train", "--out", str(folder), "--resume", "--epochs", "3", "--no-progress"]) == 0
        runs[name] = torch.load(folder / "checkpoint.pt", weights_only=True)
    first, *others = runs.values()
    assert first["format"] == checkpoint.FORMAT == 6 and all(o["format"] == 6 for o in others)
    for other in others:
        assert other["config"] == first["config"] and other["history"] == first["history"]
        assert all(torch.equal(first["model"][k], other["model"][k]) for k in first["model"])


def unfused(ckpt):
    """ckpt as the unfused Adam (torch's default before training.adam) saved it, sealed anew."""
    old = copy.deepcopy(dict(ckpt))
    for group in old["optimizer"]["param_groups"]:
        group["fused"] = None
    return checkpoint.seal(old)


def test_a_run_of_the_unfused_adam_is_continued_by_it_and_a_fused_one_by_the_fused(valid, tmp_path):
    """The `fused` flag says which kernel computed Adam's steps. Both flags this course wrote load,
    restore() keeps the stored one (so a run goes on as it was trained), and any other is refused."""
    good, _ = valid
    assert all(g["fused"] is True for g in good["optimizer"]["param_groups"])  # training.adam on the CPU
    for ckpt, flag in ((good, True), (unfused(good), None)):
        loaded = checkpoint.load(save_in(tmp_path / str(flag), ckpt))
        model = build_vae(loaded["config"])
        optimizer = make_optimizer(model, loaded["config"])
        assert optimizer.param_groups[0]["fused"] is True  # a new optimizer is fused ...
        checkpoint.restore(loaded, model, optimizer)
        assert all(g["fused"] is flag for g in optimizer.param_groups)  # ... until it takes the run's flag
    crafted = copy.deepcopy(dict(good))
    crafted["optimizer"]["param_groups"][0]["fused"] = "yes"
    with pytest.raises(RunFileError, match=r"optimizer.param_groups.0.fused: expected None \(unfused Adam\) or True \(fused\), got 'yes'"):
        checkpoint.load(save_in(tmp_path / "crafted", checkpoint.seal(crafted)))


def test_an_unfused_adam_continues_bit_for_bit_as_if_never_stopped(tmp_path, monkeypatch):
    """A run of the unfused Adam (as trained before training.adam), resumed after epoch 1 by
    today's trainer, ends where the same run in one go ends, bit for bit: restore keeps its flag.
    (The fused kernel rounds differently: the same run resumed by it would not match.)"""
    args = ["--dims", "784-8-2", "--batch-size", "500", "--no-progress"]
    with monkeypatch.context() as m:
        m.setattr(options, "adam", lambda params, lr: torch.optim.Adam(params, lr=lr))
        assert main(["train", *args, "--epochs", "1", "--out", str(tmp_path / "a")]) == 0
        assert main(["train", *args, "--epochs", "2", "--out", str(tmp_path / "b")]) == 0
    assert main(["train", "--out", str(tmp_path / "a"), "--resume", "--epochs", "2", "--no-progress"]) == 0
    resumed, whole = (torch.load(tmp_path / r / "checkpoint.pt", weights_only=True) for r in "ab")
    assert resumed["optimizer"]["param_groups"][0]["fused"] is None
    assert resumed["history"] == whole["history"]
    assert all(torch.equal(resumed["model"][k], whole["model"][k]) for k in whole["model"])


def save_in(folder, ckpt):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, folder / "checkpoint.pt")
    return folder / "checkpoint.pt"


@pytest.mark.parametrize("bad, where", [({"elbo": math.nan}, "elbo is nan"),
                                        ({"final": {"loss": math.inf}}, "final.loss is inf"),
                                        ({"runs": [1.0, -math.inf]}, "runs.1 is -inf")])
def test_json_never_holds_a_non_finite_number(tmp_path, bad, where):
    with pytest.raises(RunFileError, match=f"summary.json: not written: {where}, and JSON has no NaN or infinity"):
        checkpoint.write_json(tmp_path / "summary.json", bad)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------ the fuzz test
# Crafted checkpoints of three kinds: any object at all; a dict with the checkpoint's entries
# holding anything; and a real checkpoint with one thing wrong, half of them sealed with a
# correct hash so that the checks behind the hash are reached too. Each must end in one line.

class RunsCode:
    """Unpickling this would create the marker file."""
    marker = None

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def tensors():
    dtypes = st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool])
    fills = st.sampled_from([0.0, 1.0, -1.0, 1e30, math.nan, math.inf])
    return st.builds(lambda dtype, shape, fill: torch.full(shape, fill).to(dtype),
                     dtypes, st.lists(st.integers(0, 3), max_size=3), fills)


LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=12),
                   st.binary(max_size=12), tensors())
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-3, 3)), inner, max_size=4)), max_leaves=10)


def kind(value):
    """Values of one kind can stand for each other in a valid checkpoint (1 for 1.0); of
    different kinds, never."""
    for name, types in (("bool", bool), ("number", (int, float)), ("tensor", torch.Tensor), ("str", str),
                        ("bytes", bytes), ("sequence", (list, tuple)), ("dict", dict)):
        if isinstance(value, types):
            return name
    return "none"


def places(obj, path=()):
    """Every (path, value) inside a checkpoint, tensors as leaves."""
    yield path, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        yield from places(value, path + (key,))


BAD_OPTIONS = st.sampled_from([
    ("dims", [784, 0, 2]), ("dims", [784, 10**9, 2]), ("dims", "784-8-2"), ("dims", []), ("dims", [785, 8, 2]),
    ("dims", [784, 8.0, 2]), ("dims", [784, True, 2]), ("activation", "gelu"), ("likelihood", None),
    ("binarize", "yes"), ("dataset", "imagenet"), ("beta", -1.0), ("beta", math.nan), ("beta", math.inf),
    ("epochs", 0), ("epochs", 10**30), ("epochs", 1.5), ("batch_size", 0), ("lr", 0.0), ("lr", -1e-3),
    ("lr", math.inf), ("seed", -1), ("seed", 2**32), ("seed", 1.5), ("kl_warmup", -1), ("kl_warmup", 2.0),
    ("kl_warmup", 10**30), ("free_bits", -0.5), ("free_bits", math.nan), ("free_bits", math.inf), ("free_bits", "1"),
    ("conditional", 1), ("conditional", "True"), ("conditional", None), ("conditional", True),
    ("arch", "cnn"), ("arch", None), ("arch", "conv"), ("arch", ["conv"]),
])


class Quiet(dict):
    """A checkpoint whose repr is short (hypothesis prints the arguments of its strategies)."""

    def __repr__(self):
        return "<the valid checkpoint>"


@st.composite
def broken_checkpoints(draw, valid):
    """valid with one thing wrong, and whether to seal it (give it a correct hash)."""
    ckpt = copy.deepcopy(dict(valid))
    spots = [(p, v) for p, v in places(ckpt) if p and p[0] != "sha256" and not (len(p) == 2 and p[0] == "history")]
    how = draw(st.sampled_from(["replace", "delete", "add", "tensor", "option"]))
    path, old = draw(st.sampled_from(spots))
    if how == "replace":
        set_at(ckpt, path, draw(VALUES.filter(lambda v: kind(v) != kind(old))))
    elif how == "delete":
        delete_at(ckpt, path)
    elif how == "add":
        dicts = [(p, v) for p, v in places(ckpt) if isinstance(v, dict)]
        where, node = draw(st.sampled_from(dicts))
        node["extra_" + draw(st.text(max_size=5))] = draw(VALUES)
    elif how == "tensor":
        where, t = draw(st.sampled_from([(p, v) for p, v in places(ckpt) if isinstance(v, torch.Tensor)]))
        changes = ["nan", "inf", "shape", "dtype"] if t.is_floating_point() else ["shape", "dtype"]
        change = draw(st.sampled_from(changes))
        if change in ("nan", "inf"):
            t = t.clone()
            t.view(-1)[0] = float(change)
        else:
            other = torch.float64 if t.dtype != torch.float64 else torch.float32
            t = t.unsqueeze(0) if change == "shape" else t.to(other)
        set_at(ckpt, where, t)
    else:
        name, value = draw(BAD_OPTIONS)
        ckpt["config"][name] = value
    return checkpoint.seal(ckpt) if draw(st.booleans()) else ckpt




@st.composite
def crafted(draw, valid):
    which = draw(st.sampled_from(["anything", "entries", "broken", "broken"]))
    if which == "anything":
        return draw(st.one_of(VALUES, st.just([RunsCode()]), st.just({"config": RunsCode()})))
    if which == "entries":
        ckpt = {k: draw(VALUES) for k in checkpoint.KEYS}
        if draw(st.booleans()):
            ckpt["format"] = checkpoint.FORMAT
        return ckpt
    return draw(broken_checkpoints(valid))


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_crafted_checkpoint_reaches_a_traceback_or_runs_code(valid, data):
    good, folder = valid
    RunsCode.marker = folder.parent / "code_ran"
    ckpt = data.draw(crafted(Quiet(good)))
    torch.save(ckpt, folder / "checkpoint.pt")
    assert_one_error_line(["evaluate", folder, "--k", 1, "--n-test", 2])
    assert_one_error_line(["train", "--out", folder, "--resume", "--no-progress"])
    assert not RunsCode.marker.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt"]

"""Lesson 12's conditional models on full MNIST (not a test: it never fails).

    python benchmarks/conditional.py                 # about 1-2 hours on 2 CPU cores; minutes on a GPU
    python benchmarks/conditional.py --part 2 --epochs 10 --json runs/benchmarks/conditional.json
    python benchmarks/conditional.py --quick         # a smoke run on small subsets: under a minute

(1) Label-conditional vs unconditional VAE: the same architecture trained on the 60,000 training
images, one with each image's label one-hot in its encoder and decoder (models.ConditionalVAE),
one without; IWAE-k (default 5000) of log p(x | y) and of log p(x) on the 10,000 test images, the
gap with a paired standard error, beside log 10 (the most an ideal pair of models can differ) and
beside the nbip/IWAE reproduction's figures. The conditional model also defines p(x) =
sum_y p(y) p(x | y), p(y) = 1/10: its IWAE-k' estimate and the Bayes-rule classifier it implies.
(2) Structured output (Sohn et al. 2015): the pixels of some quadrants predicted from the others,
Pyro's CVAE tutorial's layouts (1, 2 or 3 quadrants given); a deterministic MLP (exact Bernoulli
-log p(y | x)) vs a CVAE (conditional prior p(z | x), recognition network q(z | x, y); -IWAE-k and
-ELBO), beside the tutorial's table.

Both parts train as `python -m vae_lessons train` does (Adam 1e-3, batch 128, dynamic
binarization, seeded); part (1) with the CLI's own config and loss, in process. Reads the full
files from $VAE_LESSONS_DATA (or --data-root); uses a GPU when present. Standard errors are over
test images (one training run per model: not over seeds).
"""
import argparse
import math
import os
import sys
import time

import torch
from tqdm.auto import tqdm

from common import add_run_options, fill_defaults, machine, stage
from vae_lessons import data
from vae_lessons.checkpoint import write_json
from vae_lessons.cli import load_split, start
from vae_lessons.idx import DataFileError
from vae_lessons.objectives import iwae_bound
from vae_lessons.options import TrainingLoss, new_config
from vae_lessons.structured import (OutputMLP, StructuredCVAE, conditional_elbo_parts, conditional_iwae, cvae_loss,
                                    mlp_loss, quadrant_mask, split)
from vae_lessons.training import default_device, train

LOG10 = math.log(10)
FULL = {"epochs": 30, "k": 5000, "bayes_k": 100, "k_structured": 1000, "n_train": None, "n_test": None}
QUICK = {"epochs": 1, "k": 20, "bayes_k": 5, "k_structured": 20, "n_train": 3000, "n_test": 300}
# Pyro's CVAE tutorial's layouts: the quadrants given (the condition x); the others are the target y
LAYOUTS = {1: ("bottom-left",), 2: ("top-left", "bottom-left"), 3: ("top-left", "bottom-left", "top-right")}

# Published figures, measured differently from ours (other models, pixels, training, estimators).
NBIP = {"conditional": -82.32, "unconditional": -86.35}
NBIP_NOTE = ("nbip/IWAE (github.com/nbip/IWAE, README): a TensorFlow reproduction of Burda et al. 2015 on dynamically "
             "binarized full MNIST, trained with k = 1 for about 3,280 epochs (Burda et al.'s schedule), test "
             "log-likelihood by IWAE-5000. Per its code, the unconditional model (main.py) has hidden layers of 200 units "
             "and 50 latent units; the conditional one (tasks/task04.py, \"CIWAE k=1\") 100 latent units and a "
             "label-conditional prior p(z | y), where ours keeps N(0, I) and the same sizes for both. Gap: 4.03 nats.")
PYRO = {1: (100.4, 71.8), 2: (61.9, 51.0), 3: (25.4, 24.2)}
PYRO_NOTE = ("Pyro's CVAE tutorial (pyro.ai/examples/cvae.html; code: pyro-ppl/pyro examples/cvae): full MNIST, "
             "grey-level pixels (a Bernoulli 'likelihood' of grey values is a cross-entropy, not a "
             "log-likelihood); masked binary cross-entropy for the NN; for the CVAE the negative ELBO "
             "with 10 particles (an upper bound on -log p(y|x), not an importance-sampling estimate); "
             "500-500 hidden units, z of 200, the prior network fed the NN's prediction; up to 50 epochs with "
             "early stopping (the tutorial's text).")


def mean_se(v):
    v = v.double()
    return v.mean().item(), (v.std() / math.sqrt(len(v))).item()


def show(value_se, digits=2):
    return f"{value_se[0]:.{digits}f} ± {value_se[1]:.{digits}f}"


def load_data(args):
    """Full training images (grey levels) and labels; test images binarized once (seed 0, as the
    CLI's evaluation sees them) and labels; cut to --quick's subsets."""
    config = new_config({"dataset": "mnist"})
    x, y = (t[:args.n_train] for t in load_split(config, "train", args.data_root))
    x_test, y_test = (t[:args.n_test] for t in load_split(config, "test", args.data_root))
    return x, y, data.binarize_static(x_test, seed=0), y_test


# ------------------------------------------------------------------ (1) label-conditional vs not

def label_config(conditional, args):
    """The CLI's config of a run: our dims, activation, epochs and seed; its other defaults (Bernoulli
    decoder, dynamic binarization, Adam at 1e-3, batch 128)."""
    return new_config({"dataset": "mnist", "dims": args.dims, "activation": args.activation,
                       "conditional": conditional, "epochs": args.epochs, "seed": args.seed})


def train_label_model(x, y, conditional, args, device):
    """A VAE (conditional: a ConditionalVAE) trained as `python -m vae_lessons train` trains it."""
    config = label_config(conditional, args)
    model, optimizer, history, order = start(config, None, device, None)
    loss_fn = TrainingLoss(config, math.ceil(len(x) / config["batch_size"]))
    train(model, (x, y) if conditional else x, loss_fn, epochs=config["epochs"], batch_size=config["batch_size"],
          lr=config["lr"], seed=config["seed"], device=device, progress=False, optimizer=optimizer, order=order,
          history=history)
    return model


def batched_iwae(model, x, k, labels, device, seed, batch=100):
    """IWAE-k per test image (CPU, float64), in batches; labels None for an unconditional model."""
    torch.manual_seed(seed)
    out = []
    for i in range(0, len(x), batch):
        y = None if labels is None else labels[i:i + batch].to(device)
        out.append(iwae_bound(model, x[i:i + batch].to(device), k, y=y).cpu().double())
    return torch.cat(out)


def label_part(x, y, x_test, y_test, args, device):
    models = {}
    for name, conditional in tqdm((("conditional", True), ("unconditional", False)), desc="(1) training"):
        models[name] = train_label_model(x, y, conditional, args, device)
    bounds = {"conditional": batched_iwae(models["conditional"], x_test, args.k, y_test, device, args.seed),
              "unconditional": batched_iwae(models["unconditional"], x_test, args.k, None, device, args.seed)}
    # the conditional model's log p(x | y') for every label y', with fewer samples: Bayes' rule
    every = torch.stack([batched_iwae(models["conditional"], x_test, args.bayes_k, torch.full_like(y_test, c),
                                      device, args.seed + 1 + c) for c in tqdm(range(10), desc="(1) every label")], 1)
    log_posterior = every - every.logsumexp(1, keepdim=True)           # log p(y' | x), p(y') = 1/10
    own_y = every[torch.arange(len(y_test)), y_test]
    return {"bounds": bounds,
            "gap": bounds["conditional"] - bounds["unconditional"],
            "bayes_accuracy": (log_posterior.argmax(1) == y_test).double(),
            "log_posterior_ratio": log_posterior[torch.arange(len(y_test)), y_test] + LOG10,
            "cvae_marginal": every.logsumexp(1) - LOG10,
            "own_y": own_y}


def print_label_part(r, args):
    b = r["bounds"]
    print(f"\n(1) Test log-likelihood by IWAE-{args.k}, nats per image (± SE over test images)")
    print(f"| model | ours: {'-'.join(map(str, args.dims))}, {args.activation}, {args.epochs} epochs | nbip/IWAE |")
    print("|---|---:|---:|")
    print(f"| label-conditional, log p(x \\| y) | {show(mean_se(b['conditional']))} | {NBIP['conditional']:.2f} |")
    print(f"| unconditional, log p(x) | {show(mean_se(b['unconditional']))} | {NBIP['unconditional']:.2f} |")
    print(f"| gap, log p(x \\| y) - log p(x) (paired) | {show(mean_se(r['gap']))} | "
          f"{NBIP['conditional'] - NBIP['unconditional']:.2f} |")
    print(f"An ideal pair of models: log p(x | y) - log p(x) = log p(y | x) - log p(y) <= log 10 = {LOG10:.3f} nats.")
    print(NBIP_NOTE)
    print(f"\nThe conditional model's own p(x) = sum_y p(x | y) / 10, each term by IWAE-{args.bayes_k}:")
    print(f"- log p_cond(x): {show(mean_se(r['cvae_marginal']))} nats; minus the unconditional model's "
          f"log p(x): {show(mean_se(r['cvae_marginal'] - b['unconditional']))} (paired; a difference in fit)")
    print(f"- log p_cond(y | x) + log 10 (<= log 10 by construction): {show(mean_se(r['log_posterior_ratio']), 3)}")
    print(f"- its Bayes-rule classifier, argmax_y p(x | y): test accuracy {show(mean_se(r['bayes_accuracy']), 4)}")


# ------------------------------------------------------------------ (2) structured output

def train_structured(model, loss, x, mask, args, device):
    """Adam 1e-3, batch 128, each batch binarized afresh, then split into (condition, target)."""
    torch.manual_seed(args.seed)
    train(model, x, lambda m, b: loss(m, *split(data.binarize_dynamic(b), mask)), epochs=args.epochs,
          batch_size=128, lr=1e-3, seed=args.seed, device=device, progress=False)
    return model


@torch.no_grad()
def structured_scores(mlp_model, cvae, x_test, mask, args, device, batch=500):
    """Per test image: the MLP's exact -log p(y | x), the CVAE's -IWAE-k, and its -ELBO averaged
    over 10 draws of z (Pyro's estimator), all in nats."""
    torch.manual_seed(args.seed)
    rows = {"mlp": [], "iwae": [], "elbo": []}
    for i in range(0, len(x_test), batch):
        xb, yb = split(x_test[i:i + batch].to(device), mask)
        rows["mlp"].append(-mlp_model.log_likelihood(xb, yb).cpu().double())
        rows["iwae"].append(-conditional_iwae(cvae, xb, yb, args.k_structured).cpu().double())
        elbo = torch.stack([torch.sub(*conditional_elbo_parts(cvae, xb, yb)) for _ in range(10)]).mean(0)
        rows["elbo"].append(-elbo.cpu().double())
    return {k: torch.cat(v) for k, v in rows.items()}


def structured_part(x, x_test, args, device):
    results = {}
    for q in tqdm(args.quadrants, desc="(2) layouts"):
        mask = quadrant_mask(LAYOUTS[q])
        n_x = int(mask.sum())
        torch.manual_seed(args.seed)
        mlp_model = train_structured(OutputMLP(n_x, 784 - n_x, hidden=args.hidden).to(device), mlp_loss, x, mask,
                                     args, device)
        torch.manual_seed(args.seed)
        cvae = train_structured(StructuredCVAE(n_x, 784 - n_x, hidden=args.hidden, latent_dim=args.latent).to(device),
                                cvae_loss, x, mask, args, device)
        results[q] = structured_scores(mlp_model, cvae, x_test, mask, args, device)
    return results


def print_structured(results, args):
    print(f"\n(2) Negative conditional log-likelihood of the missing quadrants, nats per image "
          f"(± SE over test images)")
    print(f"| quadrants given | MLP, exact | CVAE, -IWAE-{args.k_structured} | CVAE, -ELBO (10 draws) | "
          f"MLP - CVAE (paired) | Pyro NN | Pyro CVAE |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for q, s in results.items():
        print(f"| {q} ({', '.join(LAYOUTS[q])}) | {show(mean_se(s['mlp']))} | {show(mean_se(s['iwae']))} | "
              f"{show(mean_se(s['elbo']))} | {show(mean_se(s['mlp'] - s['iwae']))} | {PYRO[q][0]} | {PYRO[q][1]} |")
    print(PYRO_NOTE)


# ------------------------------------------------------------------ driver

def print_conditions(x, x_test, args, device):
    print(f"{'QUICK SMOKE RUN (small subsets): the numbers mean nothing. ' if args.quick else ''}"
          f"Machine: {machine()}; device {device}.")
    print(f"- Data: MNIST from {args.data_root}: {len(x):,} training images, {len(x_test):,} test images.")
    print("- Binarization: training images afresh for every batch (dynamic); test images once, seed 0 (static).")
    print(f"- Training: Adam lr 1e-3, batch 128, {args.epochs} epochs, seed {args.seed}, every model.")
    if 1 in args.part:
        print(f"- (1) {'-'.join(map(str, args.dims))} VAE, {args.activation}, Bernoulli decoder, N(0, I) prior, "
              f"with and without the one-hot label in encoder and decoder; IWAE-{args.k} per test image "
              f"(each image given its own label); Bayes' rule with IWAE-{args.bayes_k} for each of the 10 labels.")
    if 2 in args.part:
        print(f"- (2) quadrant layouts {args.quadrants} (Pyro's); MLP condition-{'-'.join(map(str, args.hidden))}-target, "
              f"ReLU; CVAE with prior, recognition and generation networks of hidden widths "
              f"{'-'.join(map(str, args.hidden))}, z of {args.latent}; -IWAE-{args.k_structured} with q(z | x, y) "
              "as the proposal and p(z | x) as the prior; -ELBO averaged over 10 draws of z.")
    print(flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("VAE_LESSONS_DATA"),
                        help="folder with mnist/ (default: $VAE_LESSONS_DATA)")
    parser.add_argument("--part", type=int, nargs="+", choices=(1, 2), default=[1, 2],
                        help="which experiments to run (default: 1 2)")
    parser.add_argument("--epochs", type=int, help=f"epochs per model (default: {FULL['epochs']})")
    parser.add_argument("--k", type=int, help=f"importance samples of part (1) (default: {FULL['k']})")
    parser.add_argument("--bayes-k", type=int,
                        help=f"importance samples per label for Bayes' rule in part (1) (default: {FULL['bayes_k']})")
    parser.add_argument("--k-structured", type=int,
                        help=f"importance samples of part (2) (default: {FULL['k_structured']})")
    parser.add_argument("--dims", type=lambda s: [int(d) for d in s.split("-")], default=[784, 200, 200, 50],
                        help="layer sizes of part (1)'s two VAEs (default: 784-200-200-50, Burda et al.'s)")
    parser.add_argument("--activation", choices=("relu", "tanh"), default="tanh",
                        help="part (1)'s activation (default: tanh, Burda et al.'s)")
    parser.add_argument("--quadrants", type=int, nargs="+", choices=(1, 2, 3), default=[1, 2, 3],
                        help="part (2): numbers of quadrants given, Pyro's layouts (default: 1 2 3)")
    parser.add_argument("--hidden", type=lambda s: [int(d) for d in s.split("-")], default=[500, 500],
                        help="part (2)'s hidden widths, e.g. 500-500 (default, Pyro's)")
    parser.add_argument("--latent", type=int, default=200, help="part (2)'s CVAE code size (default: 200, Pyro's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every model and estimate (default: 0)")
    add_run_options(parser, QUICK)
    args = fill_defaults(parser.parse_args(argv), FULL, QUICK)
    if min(args.epochs, args.k, args.bayes_k, args.k_structured, args.latent, *args.hidden) < 1:
        parser.error("--epochs, --k, --bayes-k, --k-structured, --latent and --hidden must be at least 1")
    if len(args.dims) < 2 or args.dims[0] != 784 or min(args.dims) < 1:
        parser.error("--dims must start with 784, e.g. 784-200-200-50")
    args.part, args.quadrants = sorted(set(args.part)), sorted(set(args.quadrants))
    if not args.data_root:
        sys.exit("conditional.py: error: set $VAE_LESSONS_DATA or pass --data-root: the folder holding mnist/")
    return args


def results_dict(args, label, structured, seconds):
    out = {"conditions": {"quick": args.quick, "epochs": args.epochs, "k": args.k, "bayes_k": args.bayes_k,
                          "k_structured": args.k_structured, "dims": args.dims, "activation": args.activation,
                          "hidden": args.hidden, "latent": args.latent, "seed": args.seed, "machine": machine()},
           "seconds": seconds}
    if label is not None:
        out["label_conditional"] = {
            **{f"iwae_{name}": dict(zip(("nats", "se"), mean_se(v))) for name, v in label["bounds"].items()},
            **{name: dict(zip(("value", "se"), mean_se(label[name])))
               for name in ("gap", "bayes_accuracy", "log_posterior_ratio", "cvae_marginal")},
            "nbip": NBIP, "log10": LOG10}
    if structured is not None:
        out["structured"] = [{"quadrants_given": q, "layout": list(LAYOUTS[q]),
                              **{name: dict(zip(("nats", "se"), mean_se(v))) for name, v in s.items()},
                              "mlp_minus_cvae": dict(zip(("nats", "se"), mean_se(s["mlp"] - s["iwae"]))),
                              "pyro_nn": PYRO[q][0], "pyro_cvae": PYRO[q][1]} for q, s in structured.items()]
    return out


def main(argv=None):
    args = parse_args(argv)
    device = default_device()
    seconds, label, structured = {}, None, None
    begin = time.perf_counter()
    try:
        with stage("loading data", seconds):
            x, y, x_test, y_test = load_data(args)
    except (FileNotFoundError, DataFileError) as err:
        sys.exit(f"conditional.py: error: full MNIST is needed in $VAE_LESSONS_DATA or --data-root "
                 f"({args.data_root}): {' '.join(str(err).split())}")
    x = x.reshape(len(x), -1)
    print_conditions(x, x_test, args, device)
    if 1 in args.part:
        with stage("(1) label-conditional and unconditional VAEs: training and IWAE", seconds):
            label = label_part(x, y, x_test, y_test, args, device)
        print_label_part(label, args)
    if 2 in args.part:
        with stage("(2) structured output: training and scoring", seconds):
            structured = structured_part(x, x_test, args, device)
        print_structured(structured, args)
    seconds["total"] = round(time.perf_counter() - begin, 1)
    print(f"\nTotal wall time: {seconds['total']:.1f} s ({seconds['total'] / 60:.1f} min) on {machine()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, results_dict(args, label, structured, seconds))
        print(f"results in {args.json}")


if __name__ == "__main__":
    main()

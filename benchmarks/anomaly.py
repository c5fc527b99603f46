"""Lesson 10's anomaly experiments on full MNIST and Fashion-MNIST (not a test: it never fails).

    python benchmarks/anomaly.py                       # roughly 10-15 minutes on 2 CPU cores
    python benchmarks/anomaly.py --epochs 20 --json runs/benchmarks/anomaly.json
    python benchmarks/anomaly.py --quick               # a smoke run on small subsets: seconds

(1) One digit held out: a 784-256-L VAE trained on the nine other digits of the 60,000 training
images scores all 10,000 test images by -ELBO; AUROC of the held-out digit against the rest.
(2) Fashion-MNIST in, MNIST out: the raw -ELBO, -IWAE-k and reconstruction error, and three
repairs (input complexity, likelihood ratio, typicality); the reverse direction and noise.

Every model is trained as `python -m vae_lessons train` trains it (its config, seeding, model,
optimizer and loss), in process. Reads the full files from $VAE_LESSONS_DATA (or --data-root);
uses a GPU when present. AUROCs carry a bootstrap standard error over test images (one training
run per model: not over seeds).
"""
import argparse
import math
import os
import sys
import time

import torch
from tqdm.auto import tqdm

from common import add_run_options, fill_defaults, machine, stage
from vae_lessons.anomaly import (flip_pixels, input_complexity, negative_elbo, negative_iwae,
                                 reconstruction_error, typicality_auroc)
from vae_lessons.checkpoint import write_json
from vae_lessons.cli import load_split, start, test_images
from vae_lessons.idx import DataFileError
from vae_lessons.metrics import auroc, bootstrap_se
from vae_lessons.options import TrainingLoss, new_config
from vae_lessons.training import default_device, train

HIDDEN = 256
FLIP_RATES = (0.1, 0.2, 0.3)            # pixel-flip rates of the likelihood ratio's background model
BATCH_SIZES = (1, 2, 5, 10, 25)    # M of the typicality test
N_BATCHES = 1000                   # typicality batches drawn of each kind, per M
NOISE_SEED = 1
FULL = {"epochs": 10, "digits": list(range(10)), "k": 100, "n_boot": 200, "n_train": None, "n_test": None}
QUICK = {"epochs": 1, "digits": [1], "k": 10, "n_boot": 20, "n_train": 5000, "n_test": 2000}

# Published figures: measured differently from ours (other models, data preparation, training).
# L. Tonnaer, PhD thesis (TU Eindhoven, 2023), ch. 3, table 3.3: AUROC of -ELBO, one digit held out
TONNAER = {**{(2, d): v for d, v in enumerate((0.96, 0.73, 0.97, 0.94, 0.73, 0.92, 0.95, 0.77, 0.92, 0.66))},
           **{(32, d): v for d, v in enumerate((0.81, 0.09, 0.92, 0.87, 0.78, 0.86, 0.87, 0.51, 0.89, 0.58))}}
TONNAER_NOTE = ("Tonnaer: L. Tonnaer, PhD thesis (TU Eindhoven, 2023), ch. 3, table 3.3: full MNIST, -ELBO as "
                "the score, the thesis's own VAEs (latent sizes 2 and 32), training and data preparation. "
                "Measured differently: compare the direction, not the value.")
PUBLISHED = {  # key -> (figure, footnote)
    "raw": ("≈ 0.09 [a]", "[a] Ren et al. 2019: log-likelihood of a PixelCNN++ on grey-level pixels, "
                          "Fashion-MNIST -> MNIST."),
    "ratio": ("≈ 0.99 [b]", "[b] Ren et al. 2019: likelihood ratio of two PixelCNN++ models (grey levels; "
                            "background trained on perturbed inputs, with their own corruption rate mu and weight decay; replacing a fraction mu of binary pixels by random values flips mu/2 of them)."),
    "regret": ("≈ 0.99 [c]", "[c] Xiao et al. 2020: likelihood regret of a VAE (re-fitting the encoder to "
                             "each input), a score not implemented here."),
}


def model_config(dataset, latent, args):
    """The CLI's config of a run: 784-256-L, ReLU, Bernoulli decoder, dynamic binarization,
    Adam at 1e-3, batch 128 (its defaults), with our latent size, epochs and seed."""
    return new_config({"dataset": dataset, "dims": [784, HIDDEN, latent], "epochs": args.epochs, "seed": args.seed})


def train_vae(x, config, device, flip_rate=None):
    """A VAE trained on images x (N, 784) in [0, 1] as the CLI trains one (seeding, model,
    optimizer, shuffling generator, loss), without checkpoints."""
    model, optimizer, history, order = start(config, None, device, None)
    corrupt = None if flip_rate is None else (lambda batch: flip_pixels(batch, flip_rate))
    loss_fn = TrainingLoss(config, math.ceil(len(x) / config["batch_size"]), corrupt=corrupt)
    train(model, x, loss_fn, epochs=config["epochs"], batch_size=config["batch_size"],
          lr=config["lr"], seed=config["seed"], device=device, progress=False, optimizer=optimizer, order=order,
          history=history)
    return model


def load_data(args):
    """Full training images (grey levels) and test images (binarized once, seed 0, as the CLI's
    evaluation sees them), cut to --quick's subsets; uniform binary noise of the test sets' size."""
    d = {}
    for name in ("mnist", "fashion-mnist"):
        config = new_config({"dataset": name})
        d[name, "train"] = [t[:args.n_train] for t in load_split(config, "train", args.data_root)]
        d[name, "test"] = test_images(config, args.data_root)[:args.n_test]
    d["mnist", "test labels"] = load_split(new_config({"dataset": "mnist"}), "test", args.data_root)[1][:args.n_test]
    n_test = len(d["mnist", "test"])
    d["noise", "test"] = torch.randint(0, 2, (n_test, 784), generator=torch.Generator().manual_seed(NOISE_SEED)).float()
    return d


def auroc_se(normal, anomalous, n_boot):
    """AUROC and its bootstrap standard error (both sets resampled, generator seeded 0), as in lesson 10."""
    normal, anomalous = normal.cpu(), anomalous.cpu()
    se = bootstrap_se(auroc, normal, anomalous, n_boot=n_boot, generator=torch.Generator().manual_seed(0))
    return auroc(normal, anomalous), se


def scored(fn, model, x, seed, device):
    """fn(model, x) on the device, back on the CPU; torch seeded first, so sampled scores repeat."""
    torch.manual_seed(seed)
    return fn(model, x.to(device)).cpu()


def held_out_table(d, args, device):
    """{(L, digit): (AUROC, SE)} of -ELBO, digit held out of training, vs the other nine in the test set."""
    x, y = d["mnist", "train"]
    x_test, labels = d["mnist", "test"], d["mnist", "test labels"]
    results = {}
    for latent, digit in tqdm([(L, g) for L in args.latent for g in args.digits], desc="held-out models"):
        model = train_vae(x[y != digit], model_config("mnist", latent, args), device)
        s = scored(negative_elbo, model, x_test, args.seed, device)
        results[latent, digit] = auroc_se(s[labels != digit], s[labels == digit], args.n_boot)
    return results


def train_fashion_models(d, args, device):
    """The Fashion-MNIST and MNIST VAEs, and one background VAE per flip rate (on Fashion-MNIST)."""
    jobs = [("Fashion-MNIST", "fashion-mnist", None), ("MNIST", "mnist", None)]
    jobs += [(f"background, r = {r}", "fashion-mnist", r) for r in FLIP_RATES]
    models = {}
    for name, dataset, rate in tqdm(jobs, desc="Fashion/MNIST models"):
        x = d[dataset, "train"][0]
        models[name] = train_vae(x, model_config(dataset, args.fashion_latent, args), device, flip_rate=rate)
    return models


def negative_elbos(models, d, args, device):
    """{(model name, test set): -ELBO per image} for every model and test set."""
    sets = {"Fashion-MNIST": d["fashion-mnist", "test"], "MNIST": d["mnist", "test"], "noise": d["noise", "test"]}
    return {(m, s): scored(negative_elbo, model, x, args.seed, device)
            for m, model in models.items() for s, x in sets.items()}


def typicality_rows(nll_fashion, nll_mnist, args):
    """AUROC of the typicality test per batch size M: the entropy estimated on the first half of
    the Fashion-MNIST test set, batches drawn from its second half (normal) and from MNIST."""
    half = len(nll_fashion) // 2
    rows = {}
    for M in BATCH_SIZES:  # the SE resamples images (and so the entropy estimate), not batches
        rows[f"typicality, batches of M = {M}"] = typicality_auroc(
            nll_fashion[:half], nll_fashion[half:], nll_mnist, M, n_batches=N_BATCHES, n_boot=50,
            generator=torch.Generator().manual_seed(M))
    return rows


def fashion_table(models, nll, d, args, device):
    """[(task, score, (AUROC, SE) or None, published key or None)]: every row of the second table."""
    fashion, mnist = d["fashion-mnist", "test"], d["mnist", "test"]
    raw = (nll["Fashion-MNIST", "Fashion-MNIST"], nll["Fashion-MNIST", "MNIST"])
    task = "Fashion -> MNIST"
    rows = [(task, "-ELBO (no repair)", auroc_se(*raw, args.n_boot), "raw")]
    iwae = lambda m, x: negative_iwae(m, x, args.k)
    for name, fn in ((f"-IWAE-{args.k}", iwae), ("reconstruction error", reconstruction_error)):
        pair = [scored(fn, models["Fashion-MNIST"], x, args.seed, device) for x in (fashion, mnist)]
        rows.append((task, name, auroc_se(*pair, args.n_boot), None))
    ic = (input_complexity(raw[0], fashion), input_complexity(raw[1], mnist))
    rows.append((task, "input complexity (zlib, a byte per pixel)", auroc_se(*ic, args.n_boot), None))
    for r in FLIP_RATES:
        back = f"background, r = {r}"
        ratio = (raw[0] - nll[back, "Fashion-MNIST"], raw[1] - nll[back, "MNIST"])
        rows.append((task, f"likelihood ratio, r = {r}", auroc_se(*ratio, args.n_boot), "ratio"))
    rows += [(task, name, value, None) for name, value in typicality_rows(*raw, args).items()]
    rows.append((task, "likelihood regret", None, "regret"))
    rows.append(("MNIST -> Fashion", "-ELBO", auroc_se(nll["MNIST", "MNIST"], nll["MNIST", "Fashion-MNIST"],
                                                      args.n_boot), None))
    for trained in ("Fashion-MNIST", "MNIST"):
        rows.append((f"{trained} -> noise", "-ELBO", auroc_se(nll[trained, trained], nll[trained, "noise"],
                                                              args.n_boot), None))
    return rows


def show(value_se):
    return "not implemented" if value_se is None else f"{value_se[0]:.3f} ± {value_se[1]:.3f}"


def print_conditions(d, args, device):
    n_train = {name: len(d[name, "train"][0]) for name in ("mnist", "fashion-mnist")}
    n_test = len(d["mnist", "test"])
    config = model_config("mnist", args.fashion_latent, args)
    print(f"{'QUICK SMOKE RUN (small subsets): the numbers mean nothing. ' if args.quick else ''}"
          f"Machine: {machine()}; device {device}.")
    print(f"- Data: MNIST and Fashion-MNIST from {args.data_root}: {n_train['mnist']:,} / "
          f"{n_train['fashion-mnist']:,} training images, {n_test:,} test images of each; uniform binary noise, "
          f"{n_test:,} images (each pixel 0 or 1 with probability 1/2, seed {NOISE_SEED}).")
    print("- Binarization: training images afresh for every batch (dynamic); test images once, seed 0 (static).")
    print(f"- Architecture: MLP VAE 784-{HIDDEN}-L, {config['activation']}, Bernoulli decoder, diagonal Gaussian "
          f"q(z|x), N(0, I) prior; L = {', '.join(map(str, args.latent))} for the held-out table, "
          f"L = {args.fashion_latent} for the Fashion/MNIST models.")
    print(f"- Training: the CLI trainer's (python -m vae_lessons train): Adam lr {config['lr']:g}, batch "
          f"{config['batch_size']}, epochs {args.epochs}, seed {args.seed} for every model.")
    print("- Scores, in nats per image unless said: -ELBO with one sampled z; "
          f"-IWAE-{args.k}; reconstruction error sum_d (x_d - p_d)^2 at z = mu (squared pixels); "
          "input complexity -ELBO(x) - C(x), C the zlib (level 9) length of the image's 784 bytes, 8 ln 2 "
          f"nats per byte; likelihood ratio -ELBO(x) + ELBO_0(x), the background VAE trained on Fashion-MNIST "
          f"with each binarized pixel flipped with probability r; typicality |mean -ELBO of a batch of M - H|, "
          f"H the mean -ELBO of the first half of the Fashion-MNIST test set, {N_BATCHES} batches drawn with "
          "replacement from its second half (normal) and from the MNIST test set (anomalous).")
    print(f"- AUROC (higher score = more anomalous; 0.5 chance, below 0.5 backwards), ± a bootstrap standard "
          f"error over test images ({args.n_boot} resamplings), one training run per model.\n", flush=True)


def print_held_out(results, args):
    print(f"\n(1) AUROC of -ELBO, held-out digit vs the other nine ({len(results)} models)")
    ours = [f"L = {L}" for L in args.latent]
    print("| held out | " + " | ".join(ours) + " | Tonnaer, L = 2 | Tonnaer, L = 32 |")
    print("|---|" + "---:|" * (len(ours) + 2))
    for digit in args.digits:
        theirs = [f"{TONNAER[L, digit]:.2f}" if (L, digit) in TONNAER else "—" for L in (2, 32)]
        print(f"| {digit} | " + " | ".join(show(results[L, digit]) for L in args.latent) + f" | {' | '.join(theirs)} |")
    print(TONNAER_NOTE)


def print_fashion(rows, nll):
    print("\n(2) Mean -ELBO per test set, nats per image")
    sets = ("Fashion-MNIST", "MNIST", "noise")
    print("| model trained on | " + " | ".join(sets) + " |\n|---|" + "---:|" * len(sets))
    for trained in sorted({m for m, _ in nll}, key=lambda m: (m.startswith("background"), m)):
        print(f"| {trained} | " + " | ".join(f"{nll[trained, s].mean():.1f}" for s in sets) + " |")
    print("\n(2) AUROC, normal -> anomalous")
    print("| task | score | AUROC | published |\n|---|---|---:|---|")
    for task, score, value, key in rows:
        print(f"| {task} | {score} | {show(value)} | {PUBLISHED[key][0] if key else '—'} |")
    for key in PUBLISHED:
        print(PUBLISHED[key][1])
    print("Published figures were measured with other models, pixels or scores; they show what a repair "
          "achieved there, not what ours should give.")


def results_dict(args, held_out, rows, nll, seconds):
    """Everything printed, as plain JSON values."""
    pair = lambda v: None if v is None else {"auroc": v[0], "se": v[1]}
    return {
        "conditions": {"quick": args.quick, "epochs": args.epochs, "latent": args.latent,
                       "fashion_latent": args.fashion_latent, "digits": args.digits, "k": args.k,
                       "n_boot": args.n_boot, "seed": args.seed, "dims": f"784-{HIDDEN}-L",
                       "flip_rates": list(FLIP_RATES), "typicality_batch_sizes": list(BATCH_SIZES),
                       "typicality_batches": N_BATCHES, "machine": machine()},
        "held_out": [{"latent": L, "digit": g, **pair(v),
                      "tonnaer": TONNAER.get((L, g))} for (L, g), v in held_out.items()],
        "fashion": [{"task": t, "score": s, **(pair(v) or {"auroc": None, "se": None}),
                     "published": PUBLISHED[k][0] if k else None} for t, s, v, k in rows],
        "mean_negative_elbo": [{"model": m, "test_set": s, "nats": v.mean().item()} for (m, s), v in nll.items()],
        "seconds": seconds,
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("VAE_LESSONS_DATA"),
                        help="folder with mnist/ and fashion-mnist/ (default: $VAE_LESSONS_DATA)")
    parser.add_argument("--epochs", type=int, help=f"epochs per model (default: {FULL['epochs']})")
    parser.add_argument("--latent", type=int, nargs="+", default=[2, 20],
                        help="latent sizes of the held-out table (default: 2 20)")
    parser.add_argument("--fashion-latent", type=int, default=20,
                        help="latent size of the Fashion-MNIST, MNIST and background models (default: 20)")
    parser.add_argument("--digits", type=int, nargs="+", choices=range(10), metavar="DIGIT",
                        help="digits to hold out, one model each per latent size (default: 0 to 9)")
    parser.add_argument("--k", type=int, help=f"importance samples of the -IWAE-k score (default: {FULL['k']})")
    parser.add_argument("--n-boot", type=int, help=f"bootstrap resamplings per AUROC (default: {FULL['n_boot']})")
    parser.add_argument("--seed", type=int, default=0, help="seed of every model and of the sampled scores (default: 0)")
    add_run_options(parser, QUICK)
    args = fill_defaults(parser.parse_args(argv), FULL, QUICK)
    if min(args.epochs, args.k, *args.latent, args.fashion_latent) < 1 or args.n_boot < 2:
        parser.error("--epochs, --k, --latent and --fashion-latent must be at least 1, --n-boot at least 2")
    if not args.data_root:
        sys.exit("anomaly.py: error: set $VAE_LESSONS_DATA or pass --data-root: the folder holding "
                 "mnist/ and fashion-mnist/")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = default_device()
    seconds = {}
    begin = time.perf_counter()
    try:
        with stage("loading data", seconds):
            d = load_data(args)
    except (FileNotFoundError, DataFileError) as err:
        sys.exit(f"anomaly.py: error: full MNIST and Fashion-MNIST are needed in $VAE_LESSONS_DATA or --data-root "
                 f"({args.data_root}): {' '.join(str(err).split())}")
    print_conditions(d, args, device)
    with stage("(1) held-out models: training and scoring", seconds):
        held_out = held_out_table(d, args, device)
    print_held_out(held_out, args)
    with stage("(2) Fashion/MNIST models: training", seconds):
        models = train_fashion_models(d, args, device)
    with stage("(2) scores and AUROCs", seconds):
        nll = negative_elbos(models, d, args, device)
        rows = fashion_table(models, nll, d, args, device)
    print_fashion(rows, nll)
    seconds["total"] = round(time.perf_counter() - begin, 1)
    print(f"\nTotal wall time: {seconds['total']:.1f} s ({seconds['total'] / 60:.1f} min) on {machine()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, results_dict(args, held_out, rows, nll, seconds))
        print(f"results in {args.json}")


if __name__ == "__main__":
    main()

"""A training run's options, in one table that the command line, the checkpoint reader and
build_vae all use: a value is checked the same way whether it was typed or read back from a
checkpoint, and every option is stored in the run's config.

An option is one row: its name (the config key; the flag is --name with - for _), default,
check and help. check(value) returns the value in canonical form (dims as a list of ints)
or raises ValueError/TypeError saying what is wrong ("must be ..., got ..."); parse turns
command-line text into a value for it (a switch, such as --conditional, takes no value:
given, it is True). A new option is a new row, and, if it shapes the
model or the optimizer, a line in build_vae or make_optimizer. Options that constrain each
other (--arch conv takes --dims 784-L and no --conditional) are checked together in
check_combination, after each value's own check.
"""
from dataclasses import dataclass
from typing import Any, Callable

from . import data
from .models import ConditionalVAE, ConvVAE, VAE
from .objectives import kl_weight, vae_loss
from .schedules import one_cycle_lr
from .training import adam
from .validation import describe, real_number, whole_number

DATASETS = ("mnist-subset", "mnist", "fashion-mnist-subset", "fashion-mnist")
IMAGE_SIZE = 784  # every dataset here is 28 x 28 pixels
N_CLASSES = 10    # and has ten classes (digits; Fashion-MNIST's garments): the labels of --conditional
# Bounds that keep a typo (or a crafted checkpoint) from reaching the allocator or an overflow:
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 1_000_000
MAX_SIZES = 32                # entries in --dims
MAX_WEIGHTS = 100_000_000     # 400 MB of float32 weights; Adam's state and the gradients add 3 times that
MAX_BETA = 1e6                # far beyond any use (beta-VAEs in the literature stay below 1000)
MAX_FREE_BITS = 1e6           # nats per latent coordinate: far beyond any use, and L times it stays finite in float32
MAX_SEED = 2**32 - 1          # NumPy's seed range (seed_everything)


# A config holds plain Python values only (it is written to JSON and hashed in the checkpoint):
# the checks below refuse NumPy scalars and tensors, which the library's own checks accept.
def whole(minimum, maximum):
    """A check for an int option in [minimum, maximum]."""
    def check(value):
        whole_number(value, "", minimum, maximum)
        if type(value) is not int:
            raise TypeError(f"must be a plain int, got {describe(value)}")
        return value
    return check


def real(minimum, maximum=None, *, above=False):
    """A check for a finite real option, minimum <= value (minimum < value with above) <= maximum."""
    def check(value):
        real_number(value, "", minimum, maximum, above=above)
        if type(value) not in (int, float):
            raise TypeError(f"must be a plain number, got {describe(value)}")
        return value
    return check


def boolean(value):
    """A check for a switch: True or False."""
    if type(value) is not bool:
        raise TypeError(f"must be True or False, got {describe(value)}")
    return value


def show_switch(value):
    return "on" if value else "off"


def one_of(*choices):
    """A check for an option that takes one of a few strings."""
    def check(value):
        if not (isinstance(value, str) and value in choices):
            raise ValueError(f"invalid choice: {describe(value)} (choose from {', '.join(choices)})")
        return value
    check.choices = choices
    return check


def check_dims(value):
    """Layer sizes for VAE(dims): a list of 2 to MAX_SIZES positive ints starting with 784,
    at most MAX_WEIGHTS parameters in all. Returns a new list."""
    if not isinstance(value, (list, tuple)) or not 2 <= len(value) <= MAX_SIZES or \
            not all(type(d) is int and d >= 1 for d in value):
        raise ValueError(f"must be 2 to {MAX_SIZES} positive ints, input to code (e.g. 784-256-20), "
                         f"got {describe(value)}")
    if value[0] != IMAGE_SIZE:
        raise ValueError(f"must start with {IMAGE_SIZE} (28 x 28 pixels), got {describe(value[0])}")
    weights = VAE.size(value)
    if weights > MAX_WEIGHTS:
        raise ValueError(f"{show_dims(value)} needs {weights:,} weights; the limit is {MAX_WEIGHTS:,} "
                         f"({MAX_WEIGHTS * 4 // 10**6} MB of float32)")
    return list(value)


def parse_int(text):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {describe(text)}") from None


def parse_float(text):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {describe(text)}") from None


def parse_dims(text):
    """'784-256-20' -> [784, 256, 20]."""
    try:
        return [int(d) for d in text.split("-")]
    except ValueError:
        raise ValueError(f"expected sizes like 784-256-2, got {describe(text)}") from None


def show_dims(dims):
    return "-".join(str(d) for d in dims) if len(dims) <= MAX_SIZES else describe(dims)


@dataclass(frozen=True)
class Option:
    name: str                                 # the config key; the flag is --name with - for _
    default: Any
    check: Callable[[Any], Any]               # value -> canonical value, or ValueError/TypeError
    help: str                                 # for --help; "(default: ...)" is added unless it says {default}
    parse: Callable[[str], Any] = str         # command-line text -> value
    show: Callable[[Any], str] = str          # value -> how the command line writes it
    on_resume: bool = False                   # may --resume change it? (only the total of epochs)
    switch: bool = False                      # a flag without a value: given, the option is True

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    @property
    def help_text(self):
        default = self.show(self.default)
        return self.help.format(default=default) if "{default}" in self.help else f"{self.help} (default: {default})"

    @property
    def choices(self):
        return getattr(self.check, "choices", None)


OPTIONS = (
    Option("dataset", "mnist-subset", one_of(*DATASETS),
           "mnist-subset and fashion-mnist-subset are bundled (10,000 training images each); "
           "mnist and fashion-mnist are read from --data-root"),
    Option("arch", "mlp", one_of("mlp", "conv"),
           "mlp: fully connected layers of the sizes --dims; conv: the convolutional VAE (models.ConvVAE: two "
           "stride-2 convolutions of 32 and 64 channels, 28 -> 14 -> 7, and their mirror), whose layers are fixed: "
           "give it --dims 784-L, the code size L only (784-20 if not given); no --conditional"),
    Option("dims", [IMAGE_SIZE, 256, 20], check_dims,
           "layer sizes, input to code (default: {default}; with --arch conv: 784-L, default 784-20)", parse=parse_dims,
           show=show_dims),
    Option("activation", "relu", one_of("relu", "tanh"), "between hidden layers"),
    Option("likelihood", "bernoulli", one_of("bernoulli", "gaussian"), "the decoder's p(x|z)"),
    Option("conditional", False, boolean,
           "the label-conditional VAE (models.ConditionalVAE): each image's class label, one-hot, goes into "
           "the encoder and the decoder, and the bounds are on log p(x | y)", show=show_switch, switch=True),
    Option("binarize", "dynamic", one_of("dynamic", "static", "none"),
           "training images: fresh Bernoulli draws per batch, one fixed draw, or grey levels"),
    Option("beta", 1.0, real(0, MAX_BETA), "weight of the KL term", parse=parse_float),
    Option("kl_warmup", 0, whole(0, MAX_EPOCHS),
           "epochs over which the KL weight rises linearly from 0 to --beta, step by step (0: none)",
           parse=parse_int),
    Option("free_bits", 0.0, real(0, MAX_FREE_BITS),
           "nats per latent coordinate: the KL term becomes the sum over coordinates of max(this, the "
           "coordinate's batch-mean KL) (Kingma et al. 2016; 0: the plain KL)", parse=parse_float),
    Option("epochs", 10, whole(1, MAX_EPOCHS),
           "total epochs (default: {default}; with --resume: the run's, and a larger total trains further)",
           parse=parse_int, on_resume=True),
    Option("batch_size", 128, whole(1, MAX_BATCH_SIZE), "images per step", parse=parse_int),
    Option("lr", 1e-3, real(0, above=True), "Adam's learning rate (with --lr-schedule one-cycle: its peak)",
           parse=parse_float),
    Option("lr_schedule", "constant", one_of("constant", "one-cycle"),
           "constant: --lr at every step; one-cycle: from --lr/25 up to --lr over the first 30%% of the run's steps, "
           "then down to --lr/250,000 (cosine; schedules.one_cycle_lr), over the run's --epochs, which a "
           "--resume cannot change"),
    Option("seed", 0, whole(0, MAX_SEED), "seeds the weights, the shuffling and the binarization", parse=parse_int),
)
BY_NAME = {option.name: option for option in OPTIONS}


def check_option(option, value):
    """The option's canonical value, or ValueError("NAME: must be ..."). Any type of value is
    handled (it may come from a crafted checkpoint)."""
    try:
        return option.check(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{option.name}: {str(err).strip()}") from None


def check_config(config):
    """A run's config (every option, nothing else) with each value checked, and the options
    that constrain each other checked together (check_combination); returns a new dict."""
    if not isinstance(config, dict):
        raise ValueError(f"expected a dict of options, got {describe(config)}")
    unknown = [k for k in config if k not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown option {describe(unknown[0])}")
    missing = [o.name for o in OPTIONS if o.name not in config]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    return check_combination({o.name: check_option(o, config[o.name]) for o in OPTIONS})


def check_combination(config):
    """config, if its options fit together: --arch conv has fixed layers, so its --dims is
    784-L (the code size L only), and it has no label-conditional version. ValueError naming
    the flags otherwise."""
    if config["arch"] == "conv":
        if config["conditional"]:
            raise ValueError("--arch conv with --conditional: the convolutional VAE takes no labels "
                             "(--conditional needs --arch mlp)")
        dims = config["dims"]
        if len(dims) != 2:
            raise ValueError(f"--arch conv takes --dims {IMAGE_SIZE}-L, the code size L only (its layers are "
                             f"fixed), got {show_dims(dims)}: try --dims {IMAGE_SIZE}-{dims[-1]}")
        weights = ConvVAE.size(dims[-1])
        if weights > MAX_WEIGHTS:
            raise ValueError(f"--arch conv --dims {show_dims(dims)} needs {weights:,} weights; the limit is "
                             f"{MAX_WEIGHTS:,} ({MAX_WEIGHTS * 4 // 10**6} MB of float32)")
    return config


def with_later_options(config, added_in_format, version, kind):
    """config, written in format `version` of a file of this kind ("checkpoint"), with each option
    that a later format added (added_in_format: {format: (names, ...)}) at its default, which is
    what a run without it had; a ValueError if it holds one already (then that format did not
    write it). Anything but a dict is returned as it is, for check_config to say what it is."""
    if not isinstance(config, dict):
        return config
    names = [name for v in sorted(added_in_format) if v > version for name in added_in_format[v]]
    present = [name for name in names if name in config]
    if present:
        raise ValueError(f"option {describe(present[0])} in a format-{version} {kind}, which had no such option")
    return {**config, **{name: BY_NAME[name].default for name in names}}


def new_config(given):
    """The config of a new run: the defaults, overridden by the options given. With --arch
    conv, --dims defaults to 784-L with the default code size L (20)."""
    defaults = {o.name: o.default for o in OPTIONS}
    if given.get("arch") == "conv":
        defaults["dims"] = [IMAGE_SIZE, BY_NAME["dims"].default[-1]]
    return check_config({**defaults, **given})


# A preset is a set of options, nothing more: --preset NAME gives them, any option given beside it
# overrides its value, and the checkpoint stores the options as for any run.
PRESETS = {
    # Burda et al. (2015)'s one stochastic layer of 50 units under two hidden layers of 200, on full
    # MNIST binarized afresh for each batch, sized so that `train` + `evaluate --k 5000` take about
    # ten minutes on 2 CPU cores (608 s measured: benchmarks/vae_mnist.py quality; README,
    # "A near-published number").
    # ReLU rather than their tanh, and a 5-epoch KL warm-up: worth 1.4 and 0.45 nats of IWAE-5000
    # at 100 epochs here (one seed each, the first 1,000 test images, the same images).
    "quality": {"dataset": "mnist", "dims": [IMAGE_SIZE, 200, 200, 50], "activation": "relu", "binarize": "dynamic",
                "kl_warmup": 5, "batch_size": 100, "lr": 3e-3, "lr_schedule": "one-cycle", "epochs": 95},
}


def resumed_config(stored, given):
    """The config to continue a run with: the stored one, with the options given that may
    change on resume. Any other option given must equal the stored value: ValueError naming
    it otherwise (a run is continued as it was started, or it would not be the same run)."""
    changed = [o for o in OPTIONS if o.name in given and not o.on_resume and given[o.name] != stored[o.name]]
    if changed:
        raise ValueError("options differ from the run's: " + ", ".join(
            f"{o.flag} {o.show(given[o.name])} (the run has {o.show(stored[o.name])})" for o in changed)
            + "; leave them out to continue the run as it was")
    if stored["lr_schedule"] == "one-cycle" and given.get("epochs", stored["epochs"]) != stored["epochs"]:
        raise ValueError(f"--epochs {given['epochs']}: the run's one-cycle schedule spans its {stored['epochs']} epochs "
                         "and cannot be changed; leave --epochs out to finish it, or start a new run")
    return {**stored, **{o.name: given[o.name] for o in OPTIONS if o.on_resume and o.name in given}}


def learning_rate(config, steps_per_epoch):
    """The run's learning rate as a function of the optimizer step (from 0), for train(lr_at=...);
    None for a constant --lr (the optimizer's own)."""
    if config["lr_schedule"] == "constant":
        return None
    total = config["epochs"] * steps_per_epoch
    return lambda step: one_cycle_lr(step, total, config["lr"])


def build_vae(config):
    """The VAE a checked config describes (weights drawn from torch's RNG, as VAE() does): a
    ConvVAE of code size dims[-1] for arch conv, a ConditionalVAE of N_CLASSES labels when it
    says conditional."""
    if config["arch"] == "conv":
        return ConvVAE(config["dims"][-1], config["activation"], config["likelihood"])
    if config["conditional"]:
        return ConditionalVAE(tuple(config["dims"]), N_CLASSES, config["activation"], config["likelihood"])
    return VAE(tuple(config["dims"]), config["activation"], config["likelihood"])


def make_optimizer(model, config):
    """The run's optimizer: Adam at the config's learning rate, torch's other defaults, fused
    where torch can (training.adam)."""
    return adam(model.parameters(), config["lr"])


class TrainingLoss:
    """The loss the command-line trainer minimises for a config, as loss_fn(model, x) for
    training.train (loss_fn(model, x, y), with the labels, for a conditional run): the
    negative ELBO of the batch (binarized afresh when the config says "dynamic"), with the KL
    weighted by the warm-up's kl_weight at the current optimizer step and free bits per
    coordinate (objectives.vae_loss).

    Each call is one optimizer step (train() takes one per call), so `step` counts them; a
    resumed run sets it to epochs * steps_per_epoch. corrupt: an optional function applied to
    each binarized batch (e.g. anomaly.flip_pixels for a likelihood ratio's background model).
    """

    def __init__(self, config, steps_per_epoch, step=0, corrupt=None):
        self.config, self.step, self.corrupt = config, step, corrupt
        self.warmup_steps = config["kl_warmup"] * steps_per_epoch

    def kl_weight(self, step):
        return kl_weight(step, self.warmup_steps, self.config["beta"])

    def __call__(self, model, x, y=None):
        if self.config["binarize"] == "dynamic":
            x = data.binarize_dynamic(x)
        if self.corrupt is not None:
            x = self.corrupt(x)
        weight = self.kl_weight(self.step)
        self.step += 1
        return vae_loss(model, x, beta=weight, free_bits=self.config["free_bits"], y=y)

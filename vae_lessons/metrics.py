"""Measures of generated images, computed in a feature space (the course uses the hidden layer
of its digit classifier, classifier.features): a sample set is judged by how its features
sit among the features of real images, not by eye.

- frechet_distance: the Fréchet (2-Wasserstein) distance between Gaussians fitted to two
  feature sets (Heusel et al. 2017, "FID" when the features are Inception's);
- precision_recall: improved precision and recall (Kynkäänniemi et al. 2019): how much of
  the fake set lies on the real manifold, and how much of the real manifold the fake covers;
- knn_accuracy: how well the labels of a code space can be read off by nearest neighbours.

Every score needs its floor and ceiling beside it: real-vs-real (train vs test features, the
same sizes) for the floor, and noise for the ceiling. All computed in float64.

Two scores of other kinds live here too: auroc and roc_curve for anomaly scores, and psnr for an
image compared pixel by pixel with the one it should be (a denoised image with the clean one).
And two of a sample set without a reference set: laplacian_variance (sharpness, per image) and
label_entropy (diversity of the classes a classifier sees in the samples).
"""
import math

import torch

from .validation import check_finite, check_pixels, check_tensor, flatten_images, real_number


def _features(f, name):
    check_tensor(f, name)
    if f.dim() != 2 or len(f) < 2:
        raise ValueError(f"{name}: expected features of shape (N, F) with N >= 2, got {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise ValueError(f"{name}: features must be finite")
    return f.detach().cpu().to(torch.float64)


def _psd_sqrt(m):
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = torch.linalg.eigh((m + m.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(feats_a, feats_b):
    """Fréchet distance between N(m_a, S_a) and N(m_b, S_b) fitted to two feature sets
    (N_a, F) and (N_b, F), with unbiased covariances:

        d^2 = |m_a - m_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)

    (Dowson & Landau 1982). In squared feature units; 0 iff the two Gaussians are equal.
    It is biased upwards for finite N, so compare only scores computed with the same sizes.
    """
    a, b = _features(feats_a, "feats_a"), _features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feats_a and feats_b must have the same feature dimension, got {a.shape[1]} and {b.shape[1]}")
    mean_term = (a.mean(0) - b.mean(0)).square().sum()
    cov_a, cov_b = torch.atleast_2d(torch.cov(a.T)), torch.atleast_2d(torch.cov(b.T))
    root_a = _psd_sqrt(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return (mean_term + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross).item()


def _kth_neighbour_radius(f, k):
    """Distance from each row of f to its k-th nearest other row, (N,)."""
    if not (isinstance(k, int) and 1 <= k < len(f)):
        raise ValueError(f"k must be an int between 1 and N - 1 = {len(f) - 1}, got {k!r}")
    # k + 1 smallest distances include the point itself at distance 0
    return torch.cdist(f, f).topk(k + 1, largest=False).values[:, k]


def _covered(points, centres, radii, chunk=1024):
    """For each point, whether it lies in any ball B(centre_i, radius_i), (N,) bool."""
    return torch.cat([(torch.cdist(points[i:i + chunk], centres) <= radii).any(1)
                      for i in range(0, len(points), chunk)])


def precision_recall(real_feats, fake_feats, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019), each a fraction in [0, 1].

    The real manifold is the union of balls around each real feature vector with radius its
    distance to its k-th nearest real neighbour; likewise for the fake one.
    precision = fraction of fake points inside the real manifold (are the samples realistic?);
    recall    = fraction of real points inside the fake manifold (is the data covered?).
    real_feats (N_r, F), fake_feats (N_f, F). Returns (precision, recall) as floats.
    """
    real, fake = _features(real_feats, "real_feats"), _features(fake_feats, "fake_feats")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real_feats and fake_feats must have the same feature dimension, "
                         f"got {real.shape[1]} and {fake.shape[1]}")
    precision = _covered(fake, real, _kth_neighbour_radius(real, k)).double().mean().item()
    recall = _covered(real, fake, _kth_neighbour_radius(fake, k)).double().mean().item()
    return precision, recall


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, k=5):
    """Accuracy of a k-nearest-neighbour vote (Euclidean distance; a tie goes to the
    smallest label): the fraction of test points whose label the majority of their k nearest
    training points share. Chance is about 1 / (number of classes)."""
    return knn_correct(train_feats, train_labels, test_feats, test_labels, k).double().mean().item()


def knn_correct(train_feats, train_labels, test_feats, test_labels, k=5):
    """Whether the k-nearest-neighbour vote of knn_accuracy labels each test point correctly,
    (N_test,) bool: per point, so that two feature sets scored on the same test points can be
    compared with a paired standard error (checks.paired_se)."""
    train, test = _features(train_feats, "train_feats"), _features(test_feats, "test_feats")
    if not (isinstance(k, int) and 1 <= k <= len(train)):
        raise ValueError(f"k must be an int between 1 and {len(train)}, got {k!r}")
    if len(train_labels) != len(train) or len(test_labels) != len(test):
        raise ValueError("each label tensor must have one label per feature row")
    train_labels, test_labels = train_labels.cpu().long(), test_labels.cpu().long()
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    correct = []
    for i in range(0, len(test), 1024):
        nearest = torch.cdist(test[i:i + 1024], train).topk(k, largest=False).indices
        votes = torch.nn.functional.one_hot(train_labels[nearest], n_classes).sum(1)
        correct.append(votes.argmax(1) == test_labels[i:i + 1024])
    return torch.cat(correct)


def bootstrap_se(statistic, *feature_sets, n_boot=50, generator=None):
    """Bootstrap standard error of statistic(*feature_sets): the standard deviation of the
    statistic over n_boot resamplings, each set's rows drawn with replacement. For smooth
    statistics such as frechet_distance; not for precision_recall, whose k-NN radii shrink
    to 0 around duplicated rows."""
    if not (isinstance(n_boot, int) and n_boot >= 2):
        raise ValueError(f"n_boot must be an int >= 2, got {n_boot!r}")
    def resample(f):
        return f[torch.randint(len(f), (len(f),), generator=generator)]
    values = torch.tensor([statistic(*map(resample, feature_sets)) for _ in range(n_boot)], dtype=torch.float64)
    return values.std().item()


def sample_quality(real_feats, fake_feats, *, k=3, n_boot=50, generator=None):
    """One sample set scored against real features: a dict with the Fréchet distance and its
    bootstrap standard error ("fd", "fd_se"), and precision and recall with binomial standard
    errors sqrt(p (1 - p) / n) given the other set ("precision", "precision_se", "recall",
    "recall_se")."""
    precision, recall = precision_recall(real_feats, fake_feats, k=k)
    return {
        "fd": frechet_distance(real_feats, fake_feats),
        "fd_se": bootstrap_se(frechet_distance, real_feats, fake_feats, n_boot=n_boot, generator=generator),
        "precision": precision, "precision_se": (precision * (1 - precision) / len(fake_feats)) ** 0.5,
        "recall": recall, "recall_se": (recall * (1 - recall) / len(real_feats)) ** 0.5,
    }


def _scores(s, name):
    s = torch.as_tensor(s)
    if s.dim() != 1 or len(s) == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D tensor of scores, got shape {tuple(s.shape)}")
    if not torch.isfinite(s).all():
        raise ValueError(f"{name}: scores must be finite (a NaN has no rank)")
    return s.detach().cpu().to(torch.float64)


def _average_ranks(values):
    """Ranks 1..n of values (n,), ties given the mean of the ranks they span."""
    order = torch.argsort(values, stable=True)
    sorted_values = values[order]
    n = len(values)
    # runs of equal values: each run's first and last 1-based position
    new_run = torch.ones(n, dtype=torch.bool)
    new_run[1:] = sorted_values[1:] != sorted_values[:-1]
    run_id = torch.cumsum(new_run, 0) - 1
    starts = torch.nonzero(new_run).squeeze(1).to(torch.float64) + 1
    ends = torch.cat([starts[1:] - 1, torch.tensor([float(n)], dtype=torch.float64)])
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[order] = ((starts + ends) / 2)[run_id]
    return ranks


def auroc(scores_normal, scores_anomalous):
    """Area under the ROC curve of an anomaly score (higher = more anomalous), a float in [0, 1]:

        AUROC = P(s_a > s_n) + 0.5 P(s_a = s_n),   s_n ~ normal scores, s_a ~ anomalous ones,

    over all n_n * n_a pairs. It is the Mann-Whitney U statistic divided by n_n n_a, computed
    by sorting: U = R_a - n_a (n_a + 1) / 2, with R_a the sum of the anomalies' ranks in the
    pooled sample (tied scores share their mean rank). O(n log n), no pairs formed.
    0.5: the score does not separate; 1: every anomaly outscores every normal point;
    0: the score ranks them exactly backwards. scores_normal (n_n,), scores_anomalous (n_a,).
    """
    normal = _scores(scores_normal, "scores_normal")
    anomalous = _scores(scores_anomalous, "scores_anomalous")
    n_n, n_a = len(normal), len(anomalous)
    ranks = _average_ranks(torch.cat([normal, anomalous]))
    u = ranks[n_n:].sum() - n_a * (n_a + 1) / 2
    return (u / (n_n * n_a)).item()


def roc_curve(scores_normal, scores_anomalous):
    """The ROC curve of an anomaly score: flag x when score(x) >= t, for every threshold t
    from above the largest score down to the smallest. Returns (fpr, tpr), float64 tensors of
    equal length starting at (0, 0) and ending at (1, 1): the fraction of normal points flagged
    and of anomalies flagged at each distinct threshold. Its trapezoid area equals auroc."""
    normal = _scores(scores_normal, "scores_normal")
    anomalous = _scores(scores_anomalous, "scores_anomalous")
    thresholds = torch.unique(torch.cat([normal, anomalous]), sorted=True).flip(0)
    def flagged(s):  # fraction of s at or above each threshold: n - (number below t)
        below = torch.searchsorted(torch.sort(s).values, thresholds, right=False)
        return (len(s) - below).double() / len(s)
    fpr, tpr = flagged(normal), flagged(anomalous)
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, fpr]), torch.cat([zero, tpr])


def psnr(x, x_hat, peak=1.0):
    """Peak signal-to-noise ratio of x_hat as an estimate of x, in decibels (dB):

        PSNR = 10 log10( peak^2 / MSE ),   MSE = the mean of (x - x_hat)^2 over every entry,

    peak the largest value a pixel can take (1 for images in [0, 1]). The squared errors of all
    the images given are pooled before the log is taken; pass one image for its own PSNR.
    (Averaging per-image PSNRs instead is infinite as soon as one image is exact.) Higher is
    closer; halving the MSE adds 10 log10 2 = 3.01 dB; +inf when x_hat equals x.
    x, x_hat: float tensors of one shape, e.g. (N, D). Returns a float.
    """
    check_finite(x, "x")
    check_finite(x_hat, "x_hat")
    if x.shape != x_hat.shape:
        raise ValueError(f"x_hat: shape {tuple(x_hat.shape)} does not match x's {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError("x: no pixels to compare")
    real_number(peak, "peak", minimum=0, above=True)
    mse = (x.detach().to(torch.float64) - x_hat.detach().to(torch.float64)).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(float(peak) ** 2 / mse)


# --- sharpness and diversity of a sample set, without a reference set -----------------------------

LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def laplacian_variance(images):
    """Sharpness of each image: the variance of its discrete Laplacian, (N,) float64 on the CPU.

        (Lap x)[i, j] = x[i-1, j] + x[i+1, j] + x[i, j-1] + x[i, j+1] - 4 x[i, j],

    at the 26 x 26 interior pixels of a 28 x 28 image (a "valid" convolution with the kernel
    [[0, 1, 0], [1, -4, 1], [0, 1, 0]]: no padding, so the border invents no edges). The
    Laplacian is a second difference: 0 on a constant or linear ramp, large across a crisp
    stroke; blurring (averaging neighbours) damps it. The variance is over the 676 values, with
    the unbiased n - 1 divisor (torch's default, as lesson 09's notebook version had).
    A 0/1 checkerboard scores 16 * 676 / 675 = 16.02, the most any image in [0, 1] can (its
    Laplacian is -4 or +4 everywhere, half each, the extremes). Noise scores high too: read the
    number beside a grid of the images.

    images: (N, 784), (N, 28, 28) or (N, 1, 28, 28), values in [0, 1]. Units: pixel^2.
    """
    x = flatten_images(images, 784, "images")
    check_pixels(x, "images")
    x = x.detach().cpu().to(torch.float64).reshape(-1, 1, 28, 28)
    kernel = torch.tensor(LAPLACIAN, dtype=torch.float64)[None, None]
    return torch.nn.functional.conv2d(x, kernel).flatten(1).var(1)


def label_entropy(probs):
    """Diversity of a sample set as seen by a classifier: the entropy, in nats, of the MEAN
    predicted class distribution,

        H(p_bar) = -sum_k p_bar_k log p_bar_k,   p_bar = (1/N) sum_n p(y | x_n),

    (0 log 0 = 0). ln K (ln 10 = 2.303 for digits) when the samples spread evenly over the K
    classes; 0 when every sample is confidently the same class. It is the entropy of the mean,
    not the mean entropy: confident samples of all ten digits score ln 10 although each one's own
    distribution has entropy 0. (The second half of the inception score's log, Salimans et al.
    2016, without the first.)

    probs: (N, K) class probabilities (rows >= 0, each summing to 1 within 1e-4), e.g.
    torch.softmax(classifier(x), 1) for the course's classifier. Returns a float.
    """
    check_finite(probs, "probs")
    if probs.dim() != 2 or probs.shape[0] < 1 or probs.shape[1] < 2:
        raise ValueError(f"probs: expected class probabilities of shape (N, K) with N >= 1 and K >= 2, "
                         f"got {tuple(probs.shape)}")
    p = probs.detach().cpu().to(torch.float64)
    if (p < 0).any():
        raise ValueError("probs: negative probabilities (logits? pass torch.softmax(logits, 1))")
    worst = (p.sum(1) - 1).abs().max().item()
    if worst > 1e-4:
        raise ValueError(f"probs: each row must sum to 1, one is off by {worst:.3g} "
                         "(logits? pass torch.softmax(logits, 1))")
    p_bar = p.mean(0)
    return -torch.special.xlogy(p_bar, p_bar).sum().item()

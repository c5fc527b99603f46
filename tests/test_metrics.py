"""The sample-quality measures against independent references: closed forms for Gaussians,
and brute force over all pairs on small sets."""
import math

import pytest
import torch
import torch.nn.functional as F

from vae_lessons.metrics import auroc, frechet_distance, knn_accuracy, knn_correct, precision_recall, roc_curve

F64 = torch.float64


def with_moments(n, mean, cov, seed):
    """n points whose sample mean and unbiased sample covariance are exactly mean and cov."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, len(mean), generator=g, dtype=F64)
    z = z - z.mean(0)
    white = z @ torch.linalg.inv(torch.linalg.cholesky(torch.atleast_2d(torch.cov(z.T)))).T
    return white @ torch.linalg.cholesky(cov).T + mean


def test_frechet_1d_closed_form():
    a = with_moments(500, torch.tensor([1.0], dtype=F64), torch.tensor([[4.0]], dtype=F64), seed=0)
    b = with_moments(300, torch.tensor([-0.5], dtype=F64), torch.tensor([[0.25]], dtype=F64), seed=1)
    assert frechet_distance(a, b) == pytest.approx(1.5**2 + (2.0 - 0.5) ** 2, abs=1e-9)


def test_frechet_diagonal_closed_form():
    ma, mb = torch.tensor([0.0, 1.0, 2.0], dtype=F64), torch.tensor([1.0, 1.0, -1.0], dtype=F64)
    da, db = torch.tensor([1.0, 4.0, 9.0], dtype=F64), torch.tensor([4.0, 1.0, 0.01], dtype=F64)
    a, b = with_moments(400, ma, torch.diag(da), 2), with_moments(400, mb, torch.diag(db), 3)
    expected = (ma - mb).square().sum() + (da.sqrt() - db.sqrt()).square().sum()
    assert frechet_distance(a, b) == pytest.approx(expected.item(), abs=1e-9)


def test_frechet_general_covariances_against_eigenvalues_of_the_product():
    g = torch.Generator().manual_seed(4)
    A, B = torch.randn(5, 5, generator=g, dtype=F64), torch.randn(5, 5, generator=g, dtype=F64)
    ca, cb = A @ A.T + 0.1 * torch.eye(5, dtype=F64), B @ B.T + 0.1 * torch.eye(5, dtype=F64)
    ma, mb = torch.randn(5, generator=g, dtype=F64), torch.randn(5, generator=g, dtype=F64)
    a, b = with_moments(200, ma, ca, 5), with_moments(250, mb, cb, 6)
    # tr (ca cb)^1/2 = sum of square roots of the (real, positive) eigenvalues of ca cb
    cross = torch.linalg.eigvals(ca @ cb).real.clamp_min(0).sqrt().sum()
    expected = (ma - mb).square().sum() + torch.trace(ca) + torch.trace(cb) - 2 * cross
    assert frechet_distance(a, b) == pytest.approx(expected.item(), rel=1e-9)


def test_frechet_is_zero_for_equal_sets_and_symmetric():
    a = torch.randn(100, 4, dtype=F64)
    b = torch.randn(120, 4, dtype=F64) + 1
    assert abs(frechet_distance(a, a)) < 1e-9
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


def brute_precision_recall(real, fake, k):
    def radii(s):
        return [sorted(math.dist(p, q) for j, q in enumerate(s) if j != i)[k - 1] for i, p in enumerate(s)]
    rr, rf = radii(real), radii(fake)
    precision = sum(any(math.dist(f, r) <= rad for r, rad in zip(real, rr)) for f in fake) / len(fake)
    recall = sum(any(math.dist(r, f) <= rad for f, rad in zip(fake, rf)) for r in real) / len(real)
    return precision, recall


@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_against_brute_force(k):
    g = torch.Generator().manual_seed(k)
    real = torch.randn(40, 3, generator=g, dtype=F64)
    fake = 1.5 * torch.randn(30, 3, generator=g, dtype=F64) + torch.tensor([3.0, 0.0, 0.0], dtype=F64)
    expected = brute_precision_recall(real.tolist(), fake.tolist(), k)
    assert precision_recall(real, fake, k=k) == pytest.approx(expected, abs=1e-12)
    assert 0 < expected[0] < 1 and 0 < expected[1] < 1  # a case that tests something


def test_precision_recall_extremes():
    real = torch.randn(50, 2, dtype=F64)
    assert precision_recall(real, real.clone(), k=3) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)
    # samples collapsed onto a few real points: precise, but they cover little of the data
    precision, recall = precision_recall(real, real[:5].repeat(10, 1) + 1e-9, k=3)
    assert precision == 1.0 and recall < 0.3


def test_knn_accuracy_against_brute_force():
    g = torch.Generator().manual_seed(0)
    train, test = torch.randn(60, 2, generator=g, dtype=F64), torch.randn(25, 2, generator=g, dtype=F64)
    train_y, test_y = (train[:, 0] > 0).long() + (train[:, 1] > 0).long(), torch.randint(0, 3, (25,), generator=g)
    test_y[:15] = ((test[:, 0] > 0).long() + (test[:, 1] > 0).long())[:15]
    correct = []
    for p, label in zip(test.tolist(), test_y.tolist()):
        nearest = sorted(range(60), key=lambda j: math.dist(p, train[j].tolist()))[:5]
        votes = [sum(train_y[j].item() == c for j in nearest) for c in range(3)]
        correct.append(votes.index(max(votes)) == label)
    assert knn_correct(train, train_y, test, test_y, k=5).tolist() == correct  # point by point
    assert knn_accuracy(train, train_y, test, test_y, k=5) == pytest.approx(sum(correct) / 25)
    assert knn_accuracy(train, train_y, train, train_y, k=1) == 1.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="feats_a: expected features of shape"):
        frechet_distance(torch.zeros(5), torch.zeros(5, 1))
    with pytest.raises(ValueError, match="same feature dimension"):
        frechet_distance(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="must be finite"):
        precision_recall(torch.full((5, 2), float("nan")), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="k must be an int"):
        precision_recall(torch.zeros(5, 2), torch.zeros(5, 2), k=5)
    with pytest.raises(TypeError, match="train_feats"):
        knn_accuracy([[0.0]], torch.zeros(1), torch.zeros(1, 1), torch.zeros(1))


def test_bootstrap_se_of_a_mean_matches_the_textbook_standard_error():
    from vae_lessons.metrics import bootstrap_se
    x = torch.randn(400, 1, dtype=F64, generator=torch.Generator().manual_seed(0))
    se = bootstrap_se(lambda a: a.mean().item(), x, n_boot=2000, generator=torch.Generator().manual_seed(1))
    textbook = x.std().item() / math.sqrt(400)
    assert se == pytest.approx(textbook, rel=0.1)  # the bootstrap's own noise: about 1/sqrt(2 n_boot) = 1.6%


def test_sample_quality_collects_the_scores():
    from vae_lessons.metrics import sample_quality
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(200, 3, generator=g, dtype=F64), torch.randn(150, 3, generator=g, dtype=F64) + 0.5
    q = sample_quality(real, fake, n_boot=10, generator=g)
    assert q["fd"] == frechet_distance(real, fake) and (q["precision"], q["recall"]) == precision_recall(real, fake)
    assert q["precision_se"] == pytest.approx(math.sqrt(q["precision"] * (1 - q["precision"]) / 150))
    assert 0 < q["fd_se"] < q["fd"]


# --- AUROC: the Mann-Whitney statistic by sorting, against all pairs and closed forms -----------

def auroc_by_pairs(normal, anomalous):
    """P(s_a > s_n) + 0.5 P(s_a = s_n) over every pair, the definition written out."""
    n, a = torch.as_tensor(normal, dtype=F64)[:, None], torch.as_tensor(anomalous, dtype=F64)[None, :]
    return ((a > n).double() + 0.5 * (a == n).double()).mean().item()


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_brute_force_over_all_pairs_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    normal = torch.randint(0, 12, (int(torch.randint(1, 60, (1,), generator=g)),), generator=g).double()
    anomalous = torch.randint(3, 15, (int(torch.randint(1, 60, (1,), generator=g)),), generator=g).double()
    assert auroc(normal, anomalous) == pytest.approx(auroc_by_pairs(normal, anomalous), abs=1e-12)


def test_auroc_known_cases():
    assert auroc([0.0, 1.0, 2.0], [3.0, 4.0]) == 1.0        # every anomaly above every normal point
    assert auroc([3.0, 4.0], [0.0, 1.0, 2.0]) == 0.0        # exactly backwards
    assert auroc([1.0, 1.0], [1.0, 1.0, 1.0]) == 0.5        # all tied: one half each
    assert auroc([0.0, 2.0], [1.0, 3.0]) == 0.75            # 3 of 4 pairs ordered
    assert auroc([0.0, 1.0], [1.0]) == 0.75                 # one win, one tie: (1 + 0.5) / 2


def test_auroc_is_symmetric_and_invariant_to_monotone_maps():
    g = torch.Generator().manual_seed(7)
    normal, anomalous = torch.randn(200, generator=g, dtype=F64), torch.randn(150, generator=g, dtype=F64) + 0.5
    a = auroc(normal, anomalous)
    assert auroc(anomalous, normal) == pytest.approx(1 - a, abs=1e-12)
    assert auroc(torch.exp(3 * normal), torch.exp(3 * anomalous)) == pytest.approx(a, abs=1e-12)


def test_auroc_gaussian_closed_form():
    # s_n ~ N(0, 1), s_a ~ N(delta, 1): s_a - s_n ~ N(delta, 2), so AUROC = Phi(delta / sqrt 2).
    # Its standard error at n = 20,000 per class is below 0.004 (Hanley & McNeil 1982 bound
    # sqrt(A(1-A)(1/n_n + 1/n_a)) ~ 0.003); 0.012 is four of them.
    g = torch.Generator().manual_seed(0)
    for delta in (0.0, 0.5, 1.0, 2.0):
        normal = torch.randn(20_000, generator=g, dtype=F64)
        anomalous = torch.randn(20_000, generator=g, dtype=F64) + delta
        expected = 0.5 * (1 + math.erf(delta / math.sqrt(2) / math.sqrt(2)))
        assert auroc(normal, anomalous) == pytest.approx(expected, abs=0.012)


def test_roc_curve_runs_from_0_to_1_and_its_area_is_the_auroc():
    g = torch.Generator().manual_seed(3)
    normal = torch.randn(300, generator=g, dtype=F64).round(decimals=1)   # ties on purpose
    anomalous = (torch.randn(200, generator=g, dtype=F64) + 1).round(decimals=1)
    fpr, tpr = roc_curve(normal, anomalous)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert (fpr.diff() >= 0).all() and (tpr.diff() >= 0).all()
    assert torch.trapezoid(tpr, fpr).item() == pytest.approx(auroc(normal, anomalous), abs=1e-12)


@pytest.mark.parametrize("normal, anomalous, match", [
    ([], [1.0], "scores_normal"),
    ([1.0], torch.ones(2, 2), "scores_anomalous"),
    ([float("nan")], [1.0], "finite"),
])
def test_auroc_rejects_bad_scores(normal, anomalous, match):
    with pytest.raises(ValueError, match=match):
        auroc(normal, anomalous)


# --- PSNR: the definition written out, and cases with known answers -------------------------------

def test_psnr_against_a_hand_computation_pixel_by_pixel():
    from vae_lessons.metrics import psnr
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(3, 5, generator=g), torch.rand(3, 5, generator=g)
    squares = [(a - b) ** 2 for a, b in zip(x.flatten().tolist(), x_hat.flatten().tolist())]
    expected = 10 * math.log10(1 / (sum(squares) / 15))
    assert psnr(x, x_hat) == pytest.approx(expected, abs=1e-9)
    assert psnr(x_hat, x) == pytest.approx(expected, abs=1e-9)                      # symmetric
    assert psnr(255 * x, 255 * x_hat, peak=255) == pytest.approx(expected, abs=1e-4)  # scale-free with its peak
    # one image: its own MSE
    one = [(a - b) ** 2 for a, b in zip(x[1].tolist(), x_hat[1].tolist())]
    assert psnr(x[1:2], x_hat[1:2]) == pytest.approx(10 * math.log10(5 / sum(one)), abs=1e-9)


def test_psnr_known_cases():
    from vae_lessons.metrics import psnr
    x = torch.zeros(4, 100, dtype=F64)
    assert psnr(x, x + 0.1) == pytest.approx(20.0, abs=1e-9)          # MSE 0.01: 10 log10(100)
    flipped = x.clone()
    flipped[:, :10] = 1                                               # 10% of binary pixels wrong: MSE 0.1
    assert psnr(x, flipped) == pytest.approx(10.0, abs=1e-9)
    assert psnr(x, torch.full_like(x, 0.5)) == pytest.approx(10 * math.log10(4), abs=1e-9)
    assert psnr(x, x) == math.inf
    # pooled, not averaged per image: one exact image does not make the PSNR infinite
    half = x.clone()
    half[:2] = 0.1
    assert psnr(x, half) == pytest.approx(10 * math.log10(1 / 0.005), abs=1e-9)


def test_psnr_rejects_bad_input():
    from vae_lessons.metrics import psnr
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"x_hat: shape \(3, 2\) does not match x's \(2, 3\)"):
        psnr(x, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="x_hat: .*NaN"):
        psnr(x, torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="peak must be a finite number > 0"):
        psnr(x, x, peak=0)
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        psnr(x.long(), x)


# --- sharpness: the variance of the discrete Laplacian ----------------------------------------------

def laplacian_by_hand(image):
    """The 26 x 26 interior values of x[i-1,j] + x[i+1,j] + x[i,j-1] + x[i,j+1] - 4 x[i,j], as a list."""
    x = image.reshape(28, 28).tolist()
    return [x[i - 1][j] + x[i + 1][j] + x[i][j - 1] + x[i][j + 1] - 4 * x[i][j]
            for i in range(1, 27) for j in range(1, 27)]


def test_laplacian_variance_against_a_loop_over_pixels():
    import statistics
    from vae_lessons.metrics import laplacian_variance
    images = torch.rand(3, 784, generator=torch.Generator().manual_seed(0), dtype=F64)
    expected = [statistics.variance(laplacian_by_hand(im)) for im in images]  # n - 1 divisor
    result = laplacian_variance(images)
    assert result.dtype == F64 and result.shape == (3,)
    assert result.tolist() == pytest.approx(expected, rel=1e-12)
    for shape in ((3, 28, 28), (3, 1, 28, 28)):
        assert torch.equal(laplacian_variance(images.reshape(shape)), result)
    assert torch.equal(laplacian_variance(images.float()), laplacian_variance(images.float().double()))


def test_laplacian_variance_known_values():
    from vae_lessons.metrics import laplacian_variance
    i, j = torch.meshgrid(torch.arange(28, dtype=F64), torch.arange(28, dtype=F64), indexing="ij")
    constant = torch.full((28, 28), 0.37, dtype=F64)
    ramp = (0.5 * i + 0.3 * j) / 27   # linear in both directions: second differences vanish
    checkerboard = ((i + j) % 2)     # Laplacian -4 at the 1s (four 0 neighbours), +4 at the 0s: 338 each
    result = laplacian_variance(torch.stack([constant, ramp, checkerboard]))
    assert result[0] == 0 and result[1] == pytest.approx(0, abs=1e-28)
    assert result[2] == pytest.approx(16 * 676 / 675, rel=1e-14)  # mean 0, sum of squares 16 * 676, n - 1 = 675
    # a contrast of a around a grey level scales the Laplacian by a, its variance by a^2
    low_contrast = 0.5 + 0.25 * (checkerboard - 0.5)
    assert laplacian_variance(low_contrast[None]).item() == pytest.approx(0.25**2 * 16 * 676 / 675, rel=1e-14)


def box_blur(images):
    """Each pixel replaced by the mean of its 3 x 3 neighbourhood (zeros beyond the border)."""
    kernel = torch.ones((1, 1, 3, 3), dtype=images.dtype)  # sum, then divide: a mean of ones stays exactly 1
    return (F.conv2d(images.reshape(-1, 1, 28, 28), kernel, padding=1) / 9).reshape(-1, 784)


def test_blurring_lowers_the_laplacian_variance_of_digits():
    """For a digit with a blank border 4 pixels wide, the Laplacian of the image blurred (even
    twice) lies inside the 26 x 26 window, and it is the blurred Laplacian: its mean is 0 (the
    kernel sums to 0) and its sum of squares cannot grow (the box filter's frequency response
    has modulus <= 1, and < 1 away from the constant, where the Laplacian is 0). So the variance
    falls, image by image."""
    from vae_lessons import data
    from vae_lessons.metrics import laplacian_variance
    x, _ = data.load_mnist("test")
    inside = x[:, 4:24, 4:24].sum((1, 2)) == x.sum((1, 2))  # ink only within rows and columns 4..23
    digits = x[inside][:50].reshape(-1, 784).double()
    assert len(digits) == 50
    sharp, blurred = laplacian_variance(digits), laplacian_variance(box_blur(digits))
    assert (blurred < sharp).all()
    assert (laplacian_variance(box_blur(box_blur(digits))) < blurred).all()


def test_laplacian_variance_rejects_bad_images():
    from vae_lessons.metrics import laplacian_variance
    with pytest.raises(ValueError, match=r"images: expected a batch of shape \(N, 784\)"):
        laplacian_variance(torch.zeros(2, 10))
    with pytest.raises(ValueError, match=r"images: values must lie in \[0, 1\].*divide by 255"):
        laplacian_variance(torch.full((2, 784), 255.0))
    with pytest.raises(ValueError, match=r"images: values must lie in \[0, 1\]"):
        laplacian_variance(torch.full((2, 784), float("nan")))
    with pytest.raises(TypeError, match="images: expected a floating-point tensor"):
        laplacian_variance(torch.zeros(2, 784, dtype=torch.uint8))


# --- diversity: the entropy of the mean predicted class distribution --------------------------------

def test_label_entropy_known_values():
    from vae_lessons.metrics import label_entropy
    assert label_entropy(torch.full((7, 10), 0.1, dtype=F64)) == pytest.approx(math.log(10), rel=1e-12)
    one_class = F.one_hot(torch.full((20,), 3), 10).double()
    assert label_entropy(one_class) == 0.0
    halves = F.one_hot(torch.tensor([0, 5] * 8), 10).double()
    assert label_entropy(halves) == pytest.approx(math.log(2), rel=1e-12)
    # the entropy of the mean, not the mean entropy: ten confident samples of ten classes
    assert label_entropy(torch.eye(10, dtype=F64)) == pytest.approx(math.log(10), rel=1e-12)


def test_label_entropy_against_torch_distributions():
    from torch.distributions import Categorical
    from vae_lessons.metrics import label_entropy
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(40, 10, generator=g, dtype=F64), 1)
    reference = Categorical(probs=probs.mean(0)).entropy().item()
    assert label_entropy(probs) == pytest.approx(reference, rel=1e-12)
    assert label_entropy(probs.float()) == pytest.approx(reference, rel=1e-6)
    assert 0 < label_entropy(probs) < math.log(10)


def test_label_entropy_rejects_what_is_not_probabilities():
    from vae_lessons.metrics import label_entropy
    logits = torch.randn(5, 10)
    with pytest.raises(ValueError, match=r"probs: each row must sum to 1.*softmax"):
        label_entropy(logits.abs())
    with pytest.raises(ValueError, match="probs: negative probabilities"):
        label_entropy(logits)
    with pytest.raises(ValueError, match=r"probs: expected class probabilities of shape \(N, K\)"):
        label_entropy(torch.full((10,), 0.1))
    with pytest.raises(ValueError, match="probs: holds NaN"):
        label_entropy(torch.full((2, 2), float("nan")))

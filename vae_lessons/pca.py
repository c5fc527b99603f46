"""Principal component analysis and principal angles between subspaces (float64)."""
import torch


def pca(x, k):
    """Top-k principal directions of data x (N, D).

    Returns mean (D,), components (D, k) with orthonormal columns, and variances (k,): the
    eigenvalues of the sample covariance (1/N) sum (x - mean)(x - mean)^T, largest first.
    """
    x = torch.as_tensor(x).detach().cpu().double().reshape(len(x), -1)
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"k must be between 1 and {min(x.shape)}, got {k}")
    mean = x.mean(0)
    _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:k].T, (s[:k] ** 2) / len(x)


def principal_angles(a, b):
    """Principal angles (radians, ascending) between the column spaces of a (D, k) and b (D, k).

    With orthonormal bases Qa, Qb, the cosines of the angles are the singular values of
    Qa^T Qb (Björck & Golub, 1973). All zero iff the subspaces are equal.
    """
    a, b = (torch.as_tensor(m).detach().cpu().double() for m in (a, b))
    if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must be (D, k) matrices with the same D, got {tuple(a.shape)}, {tuple(b.shape)}")
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.arccos(cosines)  # svdvals are descending, so angles ascend

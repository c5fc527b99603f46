"""schedules.one_cycle_lr against torch's OneCycleLR (its defaults, no momentum cycling), step by
step; its anchors (start, peak, end) exactly; and its arguments checked."""
import math

import pytest
import torch

from vae_lessons.schedules import one_cycle_lr


@pytest.mark.parametrize("total", [2, 3, 7, 10, 600, 36_000])
def test_one_cycle_matches_torchs_one_cycle_lr_at_every_step(total):
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([p], lr=1.0)
    torchs = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=total, cycle_momentum=False)
    for step in range(total):
        assert one_cycle_lr(step, total, 3e-3) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12, abs=0)
        optimizer.step()
        torchs.step()


def test_one_cycle_starts_at_a_25th_peaks_after_30_percent_and_ends_at_a_250000th():
    peak, total = 3e-3, 1001  # step 299 = 0.3 * 1001 - 1.3: the peak lies between steps 299 and 300
    rates = [one_cycle_lr(s, total, peak) for s in range(total)]
    assert rates[0] == pytest.approx(peak / 25, rel=1e-12)
    assert rates[-1] == pytest.approx(peak / 250_000, rel=1e-12)
    assert max(rates) <= peak and rates.index(max(rates)) in (299, 300) and max(rates) > 0.9999 * peak
    assert all(a < b for a, b in zip(rates[:299], rates[1:300]))   # rising, then
    assert all(a > b for a, b in zip(rates[300:], rates[301:]))    # falling
    top = 0.3 * total - 1                                           # half-way up: the cosine's midpoint
    assert one_cycle_lr(round(top / 2), total, peak) == pytest.approx(
        peak / 25 + (peak - peak / 25) * (1 - math.cos(math.pi * round(top / 2) / top)) / 2, rel=1e-12)


@pytest.mark.parametrize("args, message", [((-1, 10, 1e-3), "step"), ((10, 10, 1e-3), "step"), ((0, 1, 1e-3), "total_steps"),
                                           ((0, 10, 0.0), "peak"), ((0, 10, float("nan")), "peak"), ((0.5, 10, 1e-3), "step")])
def test_one_cycle_refuses_bad_arguments_by_name(args, message):
    with pytest.raises((ValueError, TypeError), match=message):
        one_cycle_lr(*args)

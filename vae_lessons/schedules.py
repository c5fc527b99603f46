"""Learning-rate schedules, as pure functions of the optimizer step: a run resumed from its
checkpoint sets the same rate at the same step as a run never stopped, with no scheduler state
to save."""
import math

from .validation import real_number, whole_number

WARMUP_SHARE = 0.3        # of the steps spent rising to the peak
START_DIVISOR = 25.0      # the first step's rate: peak / 25
END_DIVISOR = 25.0 * 1e4  # the last step's rate: peak / 250,000


def _cosine(start, end, fraction):
    """From start (fraction 0) to end (fraction 1) along half a cosine: flat at both ends."""
    return end + (start - end) / 2 * (math.cos(math.pi * fraction) + 1)


def one_cycle_lr(step, total_steps, peak):
    """The learning rate at optimizer step `step` (from 0) of a one-cycle schedule over
    total_steps (Smith & Topin 2019, "Super-convergence"), as torch's OneCycleLR computes it with
    its defaults (cosine, pct_start 0.3, div_factor 25, final_div_factor 1e4) and no momentum
    cycling: from peak / 25 up to peak over the first 30% of the steps, then down to
    peak / 250,000 at the last step, both along half a cosine.

    step: an int in [0, total_steps - 1]; total_steps: an int >= 2; peak: a finite number > 0.
    Returns a float (the rate for that step's update).
    """
    total_steps = whole_number(total_steps, "total_steps", minimum=2)
    step = whole_number(step, "step", minimum=0, maximum=total_steps - 1)
    real_number(peak, "peak", minimum=0, above=True)
    start, low = peak / START_DIVISOR, peak / END_DIVISOR
    top = WARMUP_SHARE * total_steps - 1  # the step at the peak (torch's phase boundary; may be fractional)
    if step <= top:
        return _cosine(start, peak, step / top)
    return _cosine(peak, low, (step - top) / (total_steps - 1 - top))

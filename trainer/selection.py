"""What "better on validation" means for the choices a training run makes (the blend weight, the
tag-tree decoding, `--max-length auto`).

The project's quality goals are error cuts: the share of a reference's error, 1 - F1, that a model
removes, on micro-F1 and on macro-F1. A choice is scored the same way: the product of its micro and
macro errors, as minus its log, so that cutting either error by a tenth counts the same. A plain sum
of the two F1s would not: micro-F1 is usually the higher, so a point of it is a larger share of its
error, and a sum would trade it away for less than a point of macro-F1.
"""

from __future__ import annotations

import math

#: the smallest error counted, so a perfect score on a tiny validation split stays finite
_ERROR_FLOOR = 1e-4
#: the score a costlier choice (serving a blend, a longer token budget) must add to be taken: about
#: 2 % less error, the micro and macro cuts summed
MIN_GAIN = 0.02


def validation_score(micro_f1: float, macro_f1: float) -> float:
    """Higher is better: -log((1 - micro) * (1 - macro)). A difference between two scores is, to first
    order, the sum of the relative error cuts on micro- and macro-F1."""
    return -sum(math.log(max(1.0 - f1, _ERROR_FLOOR)) for f1 in (micro_f1, macro_f1))

"""The competition scores every accuracy bench mode uses (M1 / Tourism convention).

MASE is scaled by the in-sample seasonal-naive MAE of the training data (lag m, or 1 when the
series is no longer than one season); sMAPE is in percent, 0..200.
"""

from __future__ import annotations

import numpy as np


def mase(x: np.ndarray, xx: np.ndarray, f: np.ndarray, m: int) -> float:
    lag = m if x.size > m else 1
    scale = np.mean(np.abs(x[lag:] - x[:-lag]))
    return float(np.mean(np.abs(xx - f)) / scale) if scale > 0 else float("nan")


def smape(xx: np.ndarray, f: np.ndarray) -> float:
    return float(np.mean(200 * np.abs(xx - f) / (np.abs(xx) + np.abs(f))))

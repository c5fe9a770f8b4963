"""unmask.train.evaluation: what a trained checkpoint is good for, measured.

* :func:`error_split`: on a small exact target, the exact error of each sampler driven by a model,
  split into the model's part and the sampler's part (:mod:`.error_split`);
* :class:`TabulatedDenoiser`, :class:`ChunkedDenoiser`: a model evaluated at most once per partial
  state, or in pieces without autograd, for exact output laws;
* :func:`run_tasks` with :class:`Limits`: exact laws in forked workers with time and memory limits.
"""

from .chunked import ROWS_PER_CALL, ChunkedDenoiser
from .error_split import ErrorSplit, SplitRow, error_split
from .isolated import Limits, Outcome, run_tasks
from .tabulated import MAX_TABLE_ENTRIES, TabulatedDenoiser, can_tabulate

__all__ = [
    "MAX_TABLE_ENTRIES",
    "ROWS_PER_CALL",
    "ChunkedDenoiser",
    "ErrorSplit",
    "Limits",
    "Outcome",
    "SplitRow",
    "TabulatedDenoiser",
    "can_tabulate",
    "error_split",
    "run_tasks",
]

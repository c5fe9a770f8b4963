"""``as_harness``: the ``loglikelihood`` of an evaluation harness, backed by :func:`.loglikelihood`.

An evaluation harness (``lm-evaluation-harness`` and the like) asks a model for
``loglikelihood(requests) -> [(logprob, is_greedy), ...]``, one answer per request, where a
request is a ``(context, continuation)`` pair or an object whose ``args`` start with them. The
function returned here answers exactly that, with the options fixed once (and checked once, when
it is built).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import checks
from ..likelihood import LikelihoodOptions
from .loglikelihood import NELBO_OPTIONS, as_plain_adapter, loglikelihood


def request_pair(request: Any) -> tuple[str, str]:
    """``(context, continuation)`` of a request: a pair, or an object with ``args = (context,
    continuation, ...)`` (an ``lm-evaluation-harness`` ``Instance``)."""
    args = getattr(request, "args", request)
    if isinstance(args, (tuple, list)) and len(args) >= 2:
        return args[0], args[1]
    raise TypeError(
        "a request must be a (context, continuation) pair or have args = (context, continuation), "
        f"got {request!r}"
    )


def as_harness(
    model: Any, tokenizer: Any = None, *, kind: str = "auto", mask_token_id: int | None = None, **options: Any
) -> Callable[[Sequence[Any]], list[tuple[float, bool]]]:
    """``loglikelihood(requests) -> [(logprob, is_greedy), ...]`` for an evaluation harness.

    ``model``, ``tokenizer``, ``kind`` and ``mask_token_id`` as for :func:`.loglikelihood`;
    ``options`` are its keyword options (``method``, ``samples``, ``generator``, ``batch_size``,
    ``greedy``, ``add_bos``, ``max_length`` and the ``nelbo`` options), checked now. An int
    ``generator`` seeds every request list the same way."""
    adapter = as_plain_adapter(model, tokenizer, kind, mask_token_id)
    own = ("method", "samples", "generator", "batch_size", "greedy", "add_bos", "max_length")
    unknown = sorted(set(options) - set(own) - set(NELBO_OPTIONS))
    if unknown:
        raise TypeError(
            f"as_harness() got an unexpected keyword argument {unknown[0]!r}; "
            f"it accepts {', '.join((*own, *NELBO_OPTIONS))}"
        )
    nelbo_options = {k: v for k, v in options.items() if k in NELBO_OPTIONS}
    LikelihoodOptions.build("as_harness", nelbo_options, accepted=NELBO_OPTIONS)
    if "batch_size" in options:
        checks.positive_int("batch_size", options["batch_size"])

    def harness(requests: Sequence[Any]) -> list[tuple[float, bool]]:
        pairs = [request_pair(request) for request in requests]
        return loglikelihood(adapter, None, pairs, **options).to_list()

    return harness

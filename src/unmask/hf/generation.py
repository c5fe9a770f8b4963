"""``generate``: text continuations of prompts from a diffusion LM or a masked LM.

```python
import unmask
out = unmask.generate(model, tokenizer, ["The capital of France is"], max_new_tokens=32, generator=0)
out.texts, out.tokens, out.lengths, out.finished, out.nfe, out.nfe_per_row
```

**Layout.** Each row is ``[prompt][max_new_tokens generated positions][padding]``: the prompt
starts at position 0, the generation follows it, and rows are right-padded to the longest in the
batch. Padding is declared to :func:`unmask.sample` with ``attention_mask`` (never attended,
never changed), so every existing position keeps its index (absolute position embeddings see the
same input) and its name in the random streams; rows carry their global ``row_ids``. A row
therefore gives the same tokens alone or in any batch, and the prompt is never changed (its ids
are fixed positions of ``prompt=``).

**Blocks and stopping.** The generation is cut into blocks of ``block_length`` positions (one
block of ``max_new_tokens`` by default), filled left to right, each by one :func:`unmask.sample`
run whose free positions are that block's: earlier blocks are fixed, and later blocks reach the
model as mask tokens (attended, as in LLaDA's semi-autoregressive decoding) without being free.
``steps`` is split over the blocks as evenly as possible, earlier blocks first. With
``stop_at_eos`` a row ends as soon as it holds an EOS token with every generated position before
it revealed, within a block too (the ``stop`` of :func:`unmask.sample`): it takes no more steps,
calls or blocks (``nfe_per_row``), and the positions after its EOS, revealed or not, are reported
as the padding id. Whether and when a row ends depends only on its own tokens, so a row still
gives the same output alone or in any batch.

**Guidance.** ``guidance = w > 0`` runs each call with classifier-free guidance
(:class:`~unmask.hf.guidance.Guided`): ``nfe`` counts denoiser calls, ``model_calls = 2 * nfe``
counts model row-batch evaluations (both passes run as one batch of twice the rows).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .. import checks
from ..samplers import registry
from ..samplers.base import Sampler
from ..samplers.block_sizes import BlockSizes, even_sizes
from ..samplers.driver import sample
from ..samplers.planned.plan import leading
from ..streams import seed_from
from .adapter import HFDenoiser
from .guidance import Guided
from .prompts import check_context, check_prompts, encode_prompts, template_prompts, uses_template

#: The default sampler: LLaDA's own (draw everywhere, keep the most confident draws). With one
#: token per call (``steps=None``) it decodes in the model's most confident order, which is what
#: masked-diffusion LMs are tuned for; random-order samplers (first-hitting) are exact but give
#: visibly worse text from real models at any budget.
DEFAULT_SAMPLER = "low-confidence-remasking"

#: The odd constant that spaces the seeds of successive blocks (the golden ratio, SplitMix64's).
_BLOCK_SEED_STEP = 0x9E3779B97F4A7C15
_SEED_RANGE = 1 << 62

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate` returns (``B`` prompts, ``N = max_new_tokens``).

    Attributes:
        texts: the generated continuations, decoded up to (not including) each row's first EOS,
            special tokens skipped.
        tokens: LongTensor ``[B, N]`` of **unmask ids** (``denoiser.vocabulary.to_model`` gives
            the model's ids); positions after a row's first EOS hold :attr:`pad_id`.
        finished: bool ``[B]``: the row generated an EOS token (always False without
            ``stop_at_eos``).
        lengths: LongTensor ``[B]``: generated tokens before the first EOS (``N`` for a row that
            did not finish).
        nfe: batched denoiser calls made, over every batch and block.
        nfe_per_row: LongTensor ``[B]``: the calls each row took part in.
        model_calls: model row-batch evaluations: ``nfe``, or ``2 * nfe`` with guidance.
        seconds: wall-clock time of the whole call.
        prompt_lengths: LongTensor ``[B]``: tokens of each (templated) prompt.
        prompts: the text each prompt became (after the chat template).
        pad_id: the unmask id written after EOS (the tokenizer's padding token, else EOS).
    """

    texts: list[str]
    tokens: torch.Tensor
    finished: torch.Tensor
    lengths: torch.Tensor
    nfe: int
    nfe_per_row: torch.Tensor
    model_calls: int
    seconds: float
    prompt_lengths: torch.Tensor
    prompts: list[str]
    pad_id: int | None


class BlockView:
    """A denoiser that shows the model mask tokens at the ``hidden`` positions (later blocks):
    fixed for the sampler, masked for the model."""

    time_agnostic = True

    def __init__(self, inner: Any, vocab_size: int) -> None:
        self.inner = inner
        self.vocab_size = vocab_size

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, hidden: torch.Tensor, **cond: torch.Tensor):
        """The inner denoiser's logits of ``x_t`` with ``hidden [n, L]`` positions masked."""
        return self.inner(torch.where(hidden, self.vocab_size, x_t), t, **cond)


def as_denoiser(model: Any, tokenizer: Any, adapter_options: dict[str, Any]) -> HFDenoiser:
    """The adapter of ``model``: an :class:`HFDenoiser` (with ``adapter_options`` replaced), or a
    ``transformers`` model and its tokenizer (``allow_eos=True`` unless given)."""
    if isinstance(model, HFDenoiser):
        if tokenizer is not None and tokenizer is not model.tokenizer:
            raise ValueError(
                "tokenizer must be None (or the adapter's own) when model is an HFDenoiser, which holds "
                "its tokenizer; drop the tokenizer argument"
            )
        return model.replace(**adapter_options) if adapter_options else model
    if tokenizer is None:
        raise TypeError(
            f"tokenizer is needed with a transformers model ({type(model).__name__}); pass its tokenizer "
            "or an HFDenoiser"
        )
    return HFDenoiser(model, tokenizer, **{"allow_eos": True, **adapter_options})


def resolve_generation_sampler(sampler: str | Sampler, steps: int | None) -> Sampler:
    """A masked-process sampler object from a name or an object, checked against ``steps``."""
    if isinstance(sampler, str):
        sampler = registry.get(sampler, "masked")
    checks.instance("sampler", sampler, Sampler, "a sampler name or object")
    if steps is not None and not sampler.takes_steps:
        raise ValueError(
            f"{sampler.name} takes no steps (it sets its own number of calls), got steps={steps}; "
            "pass steps=None or another sampler"
        )
    return sampler


def block_sampler(sampler: Sampler, steps: int | None, width: int, length: int) -> tuple[Sampler, int | None]:
    """The sampler and ``steps`` of one block of ``width`` free positions in rows of ``length``.

    A fixed-size sampler (low-confidence remasking, top-k, k-random) with no sizes of its own gets
    the block's width split into ``steps`` sizes: ``unmask.sample``'s ``steps`` would split the
    row's existing positions (prompt included). The last size is raised to ``length`` so that the
    sizes sum to at least the row (the last call reveals what remains of the block either way).
    """
    if steps is None:
        return sampler, None
    if (
        isinstance(sampler, BlockSizes)
        and sampler.k is None
        and sampler.sizes is None
        and sampler.blocks is None
    ):
        sizes = even_sizes(width, min(steps, width))
        return dataclasses.replace(sampler, sizes=(*sizes[:-1], max(sizes[-1], length))), None
    return sampler, steps


def check_row_ids(row_ids: Sequence[int] | None, count: int) -> list[int]:
    """Global row ids of the prompts (``0..B-1`` by default)."""
    if row_ids is None:
        return list(range(count))
    ids = list(row_ids)
    if len(ids) != count:
        raise ValueError(f"row_ids must give one id per prompt ({count}), got {len(ids)}")
    for j, value in enumerate(ids):
        checks.positive_int(f"row_ids[{j}]", value, minimum=0)
    return ids


def block_seed(seed: int, block: int) -> int:
    """The stream seed of block ``block`` (block 0 uses ``seed`` itself)."""
    return (seed + block * _BLOCK_SEED_STEP) % _SEED_RANGE


def generate(
    model: Any,
    tokenizer: Any = None,
    prompts: str | Sequence[str] = (),
    *,
    max_new_tokens: int = 32,
    sampler: str | Sampler = DEFAULT_SAMPLER,
    steps: int | None = None,
    generator: torch.Generator | int | None = 0,
    chat_template: bool | None = None,
    block_length: int | None = None,
    guidance: float = 0.0,
    stop_at_eos: bool = True,
    batch_size: int | None = None,
    row_ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    **adapter_options: Any,
) -> GenerationResult:
    """Generate ``max_new_tokens`` tokens after each prompt (module docstring for the layout,
    blocks, stopping and guidance).

    Args:
        model: an :class:`HFDenoiser`, or a ``transformers`` model (then ``tokenizer`` is needed and
            the adapter is built with ``allow_eos=True`` so that rows can end).
        tokenizer: the model's tokenizer (None with an :class:`HFDenoiser`).
        prompts: one string or a list of strings.
        max_new_tokens: generated positions per prompt.
        sampler: a masked-process sampler name or object (default :data:`DEFAULT_SAMPLER`).
        steps: denoiser calls per row in all, split over the blocks (None: the sampler's own; one
            token per call for low-confidence remasking). At least one per block.
        generator: an int seed or a ``torch.Generator`` (drawn once).
        chat_template: None (use the tokenizer's chat template when it has one), True (demand
            one) or False (plain text).
        block_length: positions per block (None: one block of ``max_new_tokens``).
        guidance: classifier-free guidance scale ``w >= 0`` (0: none).
        stop_at_eos: end a row at its first generated EOS once every position before it is revealed
            (module docstring).
        batch_size: prompts per batch (None: all at once); the output does not depend on it.
        row_ids: the prompts' global ids in the random streams (default ``0..B-1``), for sharding.
        progress: called as ``progress(rows_done, rows_total)`` after each batch.
        adapter_options: :class:`HFDenoiser` options (``temperature``, ``top_k``, ...).
    """
    started = time.perf_counter()
    prompts = check_prompts(prompts)
    max_new_tokens = checks.positive_int("max_new_tokens", max_new_tokens)
    if block_length is not None:
        block_length = checks.positive_int("block_length", block_length)
    if steps is not None:
        steps = checks.positive_int("steps", steps)
    guidance = checks.non_negative_float("guidance", guidance)
    if not isinstance(stop_at_eos, bool):
        raise TypeError(f"stop_at_eos must be True or False, got {stop_at_eos!r}")
    if batch_size is not None:
        batch_size = checks.positive_int("batch_size", batch_size)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable as progress(done, total), got {type(progress).__name__}")
    ids = check_row_ids(row_ids, len(prompts))
    chosen = resolve_generation_sampler(sampler, steps)
    width = block_length or max_new_tokens
    blocks = math.ceil(max_new_tokens / width)
    if steps is not None and steps < blocks:
        raise ValueError(
            f"steps={steps} is fewer than the {blocks} blocks of block_length={width} in max_new_tokens="
            f"{max_new_tokens}; every block takes a call: pass steps >= {blocks} or a longer block_length"
        )
    block_steps = even_sizes(steps, blocks) if steps is not None else (None,) * blocks
    seed = seed_from(generator)
    denoiser = as_denoiser(model, tokenizer, adapter_options)
    templated = uses_template(denoiser.tokenizer, chat_template)
    texts = template_prompts(denoiser.tokenizer, prompts, chat_template)
    encoded = encode_prompts(denoiser, texts, templated)
    check_context(denoiser.model, [len(row) for row in encoded], max_new_tokens)

    inner: Any = Guided(denoiser, guidance) if guidance > 0 else denoiser
    view = BlockView(inner, denoiser.vocab_size)
    eos = denoiser.token_id("eos") if stop_at_eos else None
    pad = denoiser.token_id("pad")
    pad = pad if pad is not None else eos
    total = len(prompts)
    size = batch_size or total
    generated = torch.full((total, max_new_tokens), denoiser.mask_id, dtype=torch.long)
    nfe_per_row = torch.zeros(total, dtype=torch.long)
    nfe = 0
    for first in range(0, total, size):
        rows = list(range(first, min(first + size, total)))
        tokens, row_nfe, calls = generate_batch(
            view, denoiser, [encoded[r] for r in rows], [ids[r] for r in rows], chosen, block_steps,
            width, max_new_tokens, seed, eos, guidance > 0,
        )  # fmt: skip
        generated[rows] = tokens
        nfe_per_row[rows] = row_nfe
        nfe += calls
        if progress is not None:
            progress(rows[-1] + 1, total)

    is_eos = generated == eos if eos is not None else torch.zeros_like(generated, dtype=torch.bool)
    finished = is_eos.any(-1)
    lengths = torch.where(finished, is_eos.long().argmax(-1), max_new_tokens)
    after = torch.arange(max_new_tokens) > lengths[:, None]
    if pad is not None:
        generated = torch.where(after, pad, generated)
    decoded = [
        denoiser.decode(row[:n], skip_special_tokens=True)
        for row, n in zip(generated, lengths.tolist(), strict=True)
    ]
    return GenerationResult(
        texts=decoded,
        tokens=generated,
        finished=finished,
        lengths=lengths,
        nfe=nfe,
        nfe_per_row=nfe_per_row,
        model_calls=nfe * (Guided.passes_per_call if guidance > 0 else 1),
        seconds=time.perf_counter() - started,
        prompt_lengths=torch.tensor([len(row) for row in encoded], dtype=torch.long),
        prompts=texts,
        pad_id=pad,
    )


def ended_rows(positions: torch.Tensor, eos: int, mask_id: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ``stop`` of a block (:func:`unmask.sample`): a row has ended once the block's positions
    ``positions [n, w]`` (row positions of its generated tokens, in order) hold an EOS after which
    nothing is left to reveal before it: an EOS among the leading revealed positions."""

    def ended(z: torch.Tensor) -> torch.Tensor:
        block = z.gather(1, positions)
        revealed = leading(block != mask_id)
        before = torch.arange(block.shape[1], device=block.device) < revealed[:, None]
        return ((block == eos) & before).any(-1)

    return ended


def generate_batch(
    view: BlockView,
    denoiser: HFDenoiser,
    encoded: list[list[int]],
    row_ids: list[int],
    sampler: Sampler,
    block_steps: Sequence[int | None],
    width: int,
    new: int,
    seed: int,
    eos: int | None,
    guided: bool,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One batch of prompts, block by block: generated unmask ids ``[n, new]`` (the mask id in
    blocks a finished row skipped), calls per row ``[n]`` and batched calls."""
    device = denoiser.device
    n = len(encoded)
    lengths = torch.tensor([len(row) for row in encoded], dtype=torch.long, device=device)
    length = int(lengths.max()) + new
    base = torch.zeros((n, length), dtype=torch.long, device=device)
    for r, row in enumerate(encoded):
        base[r, : len(row)] = torch.tensor(row, dtype=torch.long)
    position = torch.arange(length, device=device)
    exists = position < (lengths + new)[:, None]
    prompt_positions = position < lengths[:, None]
    offset = torch.arange(new, device=device)
    where = lengths[:, None] + offset  # [n, new]: the row position of each generated token
    generated = torch.full((n, new), denoiser.mask_id, dtype=torch.long, device=device)
    global_ids = torch.tensor(row_ids, dtype=torch.long, device=device)
    nfe_per_row = torch.zeros(n, dtype=torch.long, device=device)
    nfe = 0
    active = torch.arange(n, device=device)
    for block, steps in enumerate(block_steps):
        low, high = block * width, min((block + 1) * width, new)
        cut = int(lengths[active].max()) + new
        state = base[active, :cut].clone()
        values = torch.where(offset < low, generated[active], torch.where(offset < high, denoiser.mask_id, 0))
        state.scatter_(1, where[active], values)
        hidden = torch.zeros_like(state, dtype=torch.bool).scatter_(
            1, where[active], (offset >= high).expand(len(active), -1)
        )
        cond = {"hidden": hidden}
        if guided:
            cond["prompt_positions"] = prompt_positions[active, :cut]
        if block == 0:
            denoiser.check_prompt(state)
        this_sampler, this_steps = block_sampler(sampler, steps, high - low, cut)
        stop = None if eos is None else ended_rows(where[active, low:high], eos, denoiser.mask_id)
        out = sample(
            view, this_sampler, vocab_size=denoiser.vocab_size, steps=this_steps, prompt=state,
            attention_mask=exists[active, :cut], cond=cond, generator=block_seed(seed, block),
            row_ids=global_ids[active], stop=stop,
        )  # fmt: skip
        revealed = out.tokens.gather(1, where[active, low:high])
        generated[active, low:high] = revealed
        nfe += out.nfe
        nfe_per_row[active] += out.nfe_per_row
        if eos is not None:
            active = active[~(revealed == eos).any(-1)]
            if len(active) == 0:
                break
    return generated.cpu(), nfe_per_row.cpu(), nfe

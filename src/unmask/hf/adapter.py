"""``HFDenoiser``: a Hugging Face ``transformers`` model and its tokenizer as an unmask denoiser.

One call ``f(x_t [B, L], t [B], attention_mask=None, **model_inputs) -> logits [B, L, V]``:

1. map unmask ids to the model's (:mod:`.vocabulary`; the mask id ``V`` becomes the tokenizer's
   mask token);
2. call ``model(input_ids=..., attention_mask=..., **model_inputs)`` and read ``.logits``
   ``[B, L, M]`` (``attention_mask``: 1 where a position exists, as ``transformers`` expects;
   unmask passes it as bool, it is cast to long);
3. keep the ``V`` clean columns, read one position right for a shifted model (:mod:`.shifted`);
4. suppress special tokens, then temperature, top-k, top-p (:mod:`.logits_processing`).

The output stays in the model's dtype on its device, and nothing is read back to the host. The
model ignores ``t`` (masked diffusion is time-agnostic: the exact denoiser does not depend on
``t``), so the adapter sets ``time_agnostic = True`` and samplers reuse the calls of unchanged
rows. It has no ``loo`` method: a step that asks for leave-one-out logits gets one call per
position from the sampler. Like every denoiser, it leaves gradients on: ``unmask.sample`` turns
them off, ``unmask.likelihood.nelbo`` does not. Model inputs other than ``input_ids`` and
``attention_mask`` (``token_type_ids``, ``position_ids``) come as ``cond`` of the same names and
reach the model unchanged; models default ``token_type_ids`` to zeros themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .kinds import resolve_kind
from .logits_processing import LogitsProcessing
from .shifted import check_first_position, shift_right
from .special_tokens import suppressed_columns
from .vocabulary import HFVocabulary


def model_vocab_size(model: Any) -> int:
    """The number of output columns ``M`` of a ``transformers`` model: ``config.vocab_size`` (of
    the text config for a multimodal one), else the rows of its output embedding."""
    config = getattr(model, "config", None)
    if config is not None:
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        size = getattr(text, "vocab_size", None)
        if isinstance(size, int) and not isinstance(size, bool):
            return size
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if torch.is_tensor(weight):
        return int(weight.shape[0])
    raise TypeError(
        f"model must be a transformers model with config.vocab_size or an output embedding, "
        f"got {type(model).__name__}; wrap other models as a denoiser f(x_t, t) -> logits directly"
    )


def model_logits(output: Any) -> torch.Tensor:
    """The logits ``[B, L, M]`` of a model's output: ``output.logits``, the first entry of a tuple,
    or the tensor itself."""
    logits = getattr(output, "logits", None)
    if logits is None and isinstance(output, (tuple, list)) and output:
        logits = output[0]
    if logits is None and torch.is_tensor(output):
        logits = output
    if not torch.is_tensor(logits) or logits.dim() != 3:
        raise TypeError(
            f"the model returned {type(output).__name__} without logits [B, L, vocab]: load the model "
            "with its language-model head (AutoModelForMaskedLM, or the class its config names)"
        )
    return logits


class HFDenoiser:
    """A ``transformers`` model and tokenizer as a denoiser over unmask ids (module docstring).

    Args:
        model: a ``transformers`` model returning ``.logits`` (a masked LM, a diffusion LM, or a
            shifted diffusion LM initialised from an autoregressive one).
        tokenizer: its tokenizer; ``len(tokenizer) = N`` ids, the mask token among them.
        kind: ``"diffusion"``, ``"masked-lm"``, ``"shifted"`` or ``"auto"`` (:mod:`.kinds`).
        suppress_special: True (never propose the tokenizer's special tokens), False, or an
            iterable of model ids to suppress (:mod:`.special_tokens`).
        allow_eos: keep the EOS token possible when special tokens are suppressed.
        temperature, top_k, top_p: processing of the clean-token law (:mod:`.logits_processing`).
        mask_token_id: the model id of the mask token; by default the tokenizer's
            ``mask_token_id``, else ``model.config.mask_token_id``.

    Attributes:
        vocab_size: ``V = N - 1`` clean tokens; ``mask_id = V``.
        vocabulary: the id map (:class:`.HFVocabulary`).
        kind: the resolved :class:`.kinds.Kind`.
        time_agnostic: True.
    """

    time_agnostic = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        kind: str = "auto",
        suppress_special: bool | Iterable[int] = True,
        allow_eos: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        mask_token_id: int | None = None,
    ) -> None:
        if not callable(model):
            raise TypeError(f"model must be a callable transformers model, got {type(model).__name__}")
        self.processing = LogitsProcessing(temperature, top_k, top_p)
        self.kind = resolve_kind(kind, [type(model).__name__], getattr(model, "config", None))
        self.vocabulary = HFVocabulary.from_tokenizer(
            tokenizer, model_vocab_size(model), mask_token_id, getattr(model, "config", None)
        )
        if not isinstance(suppress_special, bool) and isinstance(suppress_special, Iterable):
            suppress_special = tuple(suppress_special)
        suppressed = suppressed_columns(tokenizer, self.vocabulary, suppress_special, allow_eos)
        self.model = model
        self.tokenizer = tokenizer
        self.vocab_size = self.vocabulary.vocab_size
        self.mask_id = self.vocabulary.mask_id
        self.options: dict[str, Any] = {
            "kind": self.kind.name,
            "suppress_special": suppress_special,
            "allow_eos": allow_eos,
            "temperature": self.processing.temperature,
            "top_k": self.processing.top_k,
            "top_p": self.processing.top_p,
            "mask_token_id": self.vocabulary.mask_token_id,
        }
        self._suppressed = {} if suppressed is None else {torch.device("cpu"): suppressed}
        if getattr(model, "training", False):
            warnings.warn(
                f"the model ({type(model).__name__}) is in training mode, so dropout changes its output "
                "from call to call; call model.eval() first (unmask never switches modes)",
                stacklevel=2,
            )

    # -- the denoiser --------------------------------------------------------------------------
    def __call__(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **model_inputs: torch.Tensor,
    ) -> torch.Tensor:
        """Logits ``[B, L, V]`` (model dtype and device) of the clean tokens at every position of
        ``x_t [B, L]`` (unmask ids ``0..V``); ``t [B]`` is ignored; ``attention_mask [B, L]`` (bool
        or integer, nonzero where a position exists) and ``model_inputs`` go to the model."""
        if not torch.is_tensor(x_t) or x_t.dtype != torch.long or x_t.dim() != 2:
            got = f"{x_t.dtype} of shape {tuple(x_t.shape)}" if torch.is_tensor(x_t) else type(x_t).__name__
            raise TypeError(f"x_t must be a LongTensor [B, L] of unmask ids, got {got}")
        if attention_mask is not None:
            if tuple(attention_mask.shape) != tuple(x_t.shape):
                raise ValueError(
                    f"attention_mask must have the shape of x_t {tuple(x_t.shape)}, "
                    f"got {tuple(attention_mask.shape)}"
                )
            model_inputs["attention_mask"] = attention_mask.to(torch.long)
        output = self.model(input_ids=self.vocabulary.to_model(x_t), **model_inputs)
        logits = model_logits(output)
        if tuple(logits.shape[:2]) != tuple(x_t.shape):
            raise ValueError(
                f"the model returned logits of shape {tuple(logits.shape)} for input of shape "
                f"{tuple(x_t.shape)}; expected one row of logits per position"
            )
        if self.kind.shifted:
            clean = shift_right(self.vocabulary, logits)
        else:
            clean = self.vocabulary.clean_logits(logits)
        return self.process(clean)

    def process(self, logits: torch.Tensor) -> torch.Tensor:
        """Suppression, temperature, top-k and top-p applied to clean logits ``[..., V]``."""
        suppressed = self._suppressed_on(logits.device)
        if suppressed is None and self.processing.identity:
            return logits
        return self.processing(logits, suppressed)

    def _suppressed_on(self, device: torch.device) -> torch.Tensor | None:
        if not self._suppressed:
            return None
        if device not in self._suppressed:
            self._suppressed[device] = self._suppressed[torch.device("cpu")].to(device)
        return self._suppressed[device]

    # -- variants and helpers ------------------------------------------------------------------
    def replace(self, **changes: Any) -> HFDenoiser:
        """A denoiser over the same model and tokenizer with some options changed, for example
        ``replace(allow_eos=True)`` or ``replace(suppress_special=False, temperature=1.0,
        top_k=None, top_p=None)`` (the model's own law)."""
        unknown = sorted(set(changes) - set(self.options))
        if unknown:
            raise TypeError(
                f"replace() got an unexpected keyword argument {unknown[0]!r}; "
                f"it accepts {', '.join(self.options)}"
            )
        return HFDenoiser(self.model, self.tokenizer, **{**self.options, **changes})

    def plain(self) -> HFDenoiser:
        """The model's own law over the clean tokens: no suppression, temperature 1, no top-k or
        top-p (what a log-likelihood scores)."""
        if not self._suppressed and self.processing.identity:
            return self
        return self.replace(suppress_special=False, temperature=1.0, top_k=None, top_p=None)

    @property
    def device(self) -> torch.device:
        """The device of the model's first parameter (the CPU for a model without parameters)."""
        parameters = getattr(self.model, "parameters", None)
        first = next(iter(parameters()), None) if callable(parameters) else None
        return first.device if first is not None else torch.device("cpu")

    def check_prompt(self, prompt: torch.Tensor | None) -> None:
        """Raise before a run if a shifted model would have to fill position 0 (:mod:`.shifted`);
        nothing for the other kinds. Reads the device once."""
        if self.kind.shifted:
            check_first_position(prompt, self.mask_id)

    def token_id(self, name: str) -> int | None:
        """The unmask id of the tokenizer's ``name`` token (``"eos"``, ``"bos"``, ``"pad"``,
        ``"cls"``, ``"sep"``, ``"unk"``), or None when it has none."""
        model_id = getattr(self.tokenizer, f"{name}_token_id", None)
        if model_id is None:
            return None
        return self.vocabulary.unmask_id(model_id)

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """The unmask ids of ``text`` (the mask token, if the text holds it, becomes ``V``)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        ids = self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        return [self.vocabulary.unmask_id(j) for j in ids]

    def decode(self, tokens: torch.Tensor | Sequence[int], **decode_options: Any) -> str:
        """The text of unmask ids ``tokens [L]``; ``decode_options`` go to ``tokenizer.decode``
        (for example ``skip_special_tokens=True``)."""
        ids = torch.as_tensor(tokens, dtype=torch.long)
        if ids.dim() != 1:
            raise ValueError(f"tokens must be one sequence [L], got shape {tuple(ids.shape)}")
        return self.tokenizer.decode(self.vocabulary.to_model(ids.cpu()).tolist(), **decode_options)

    def __repr__(self) -> str:
        return (
            f"HFDenoiser({type(self.model).__name__}, kind={self.kind.name!r}, vocab_size={self.vocab_size}, "
            f"mask_token_id={self.vocabulary.mask_token_id})"
        )

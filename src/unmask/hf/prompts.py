"""Prompts for generation: chat templates, token ids, and the checks made before any work.

* :func:`template_prompts`: each prompt wrapped as one user message with the tokenizer's chat
  template (``apply_chat_template(..., add_generation_prompt=True, tokenize=False)``) when the
  tokenizer has one and ``chat_template`` is not False; ``chat_template=True`` demands one.
* :func:`encode_prompts`: unmask ids of each (templated) prompt. Templated text is encoded without
  the tokenizer's special tokens (the template writes its own BOS); plain text gets the
  tokenizer's BOS (else CLS) token in front when it has one and the text does not begin with it,
  and nothing at the end (BERT's SEP would end the text before the generation).
* :func:`check_context`: ``prompt + max_new_tokens`` must fit the model's context
  (``config.max_position_embeddings``, ``n_positions`` or ``max_sequence_length``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .adapter import HFDenoiser

#: Config fields that hold a model's context length, in the order they are read.
CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length")


def check_prompts(prompts: Any) -> list[str]:
    """``prompts`` as a non-empty list of strings (one string is one prompt)."""
    if isinstance(prompts, str):
        return [prompts]
    if not isinstance(prompts, Sequence) or isinstance(prompts, bytes):
        raise TypeError(f"prompts must be a string or a list of strings, got {type(prompts).__name__}")
    if len(prompts) == 0:
        raise ValueError("prompts is empty; give at least one prompt")
    for j, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(f"prompts[{j}] must be a string, got {type(prompt).__name__}")
    return list(prompts)


def uses_template(tokenizer: Any, chat_template: bool | None) -> bool:
    """Whether prompts are wrapped with the tokenizer's chat template (module docstring)."""
    if chat_template is not None and not isinstance(chat_template, bool):
        raise TypeError(f"chat_template must be True, False or None, got {chat_template!r}")
    has = bool(getattr(tokenizer, "chat_template", None)) and hasattr(tokenizer, "apply_chat_template")
    if chat_template is True and not has:
        raise ValueError(
            "chat_template=True but the tokenizer has no chat template (tokenizer.chat_template is "
            "empty); set tokenizer.chat_template, or pass chat_template=None or False"
        )
    return has and chat_template is not False


def template_prompts(tokenizer: Any, prompts: list[str], chat_template: bool | None) -> list[str]:
    """The text of each prompt as the model reads it (module docstring)."""
    if not uses_template(tokenizer, chat_template):
        return list(prompts)
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        for prompt in prompts
    ]


def encode_prompts(denoiser: HFDenoiser, texts: list[str], templated: bool) -> list[list[int]]:
    """Unmask ids of each text (module docstring); an empty prompt is refused."""
    prefix = None
    if not templated:
        prefix = denoiser.token_id("bos")
        if prefix is None:
            prefix = denoiser.token_id("cls")
    encoded = []
    for j, text in enumerate(texts):
        ids = denoiser.encode(text, add_special_tokens=False)
        if prefix is not None and (not ids or ids[0] != prefix):
            ids = [prefix, *ids]
        if not ids:
            raise ValueError(
                f"prompts[{j}] = {text!r} has no tokens and the tokenizer has no BOS or CLS token to "
                "start it; give a non-empty prompt"
            )
        if denoiser.mask_id in ids:
            raise ValueError(
                f"prompts[{j}] holds the mask token {denoiser.tokenizer.mask_token!r}; remove it from the "
                "prompt (generation fills positions after the prompt; infill with unmask.sample)"
            )
        encoded.append(ids)
    return encoded


def context_length(model: Any) -> int | None:
    """The model's context length from its config (:data:`CONTEXT_FIELDS`), or None."""
    config = getattr(model, "config", None)
    for name in CONTEXT_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def check_context(model: Any, prompt_lengths: list[int], max_new_tokens: int) -> None:
    """Raise before any work if a prompt and ``max_new_tokens`` do not fit the model's context."""
    limit = context_length(model)
    if limit is None:
        return
    longest = max(prompt_lengths)
    if longest + max_new_tokens > limit:
        row = prompt_lengths.index(longest)
        raise ValueError(
            f"prompts[{row}] has {longest} tokens and max_new_tokens={max_new_tokens}: "
            f"{longest + max_new_tokens} positions, more than "
            f"the model's context of {limit} (config.max_position_embeddings); "
            f"shorten the prompt or lower max_new_tokens to at most {max(limit - longest, 0)}"
        )

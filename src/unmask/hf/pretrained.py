"""unmask's own denoisers as ``transformers`` models: :class:`UnmaskConfig` and
:class:`UnmaskDenoiserModel`, registered with ``AutoConfig`` and ``AutoModel`` under the model type
``"unmask-denoiser"``.

A :class:`~unmask.train.models.TransformerDenoiser` trained by ``unmask train`` predicts ``V`` clean
tokens and reads the mask id ``V``. As a ``transformers`` model its vocabulary is ``V + 1`` ids,
the mask token last (id ``V``), like a diffusion language model of the LLaDA family: ``forward(
input_ids [B, L], attention_mask=None)`` returns ``MaskedLMOutput(logits [B, L, V + 1])``, the
network's logits at every position (no carry-over: unmasked positions hold what the network
predicts there) and ``-inf`` in the mask token's column (the mask is never a prediction).
:func:`unmask.hf.load` reads it back as a ``"diffusion"`` model: the adapter keeps the ``V`` clean
columns and maps ids one to one, so the denoiser it makes gives the trained model's logits at
every masked position.

The config keeps the whole :class:`~unmask.train.models.ModelConfig` under ``unmask_model``; the
weights are the denoiser's, under the prefix ``denoiser.``. This module imports ``transformers``:
it is imported by :func:`unmask.hf.load` and :func:`unmask.hf.export_checkpoint`, never by
``import unmask`` or ``import unmask.hf``.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers
from transformers.modeling_outputs import MaskedLMOutput

from ..train.models import ModelConfig, Rotary, TransformerDenoiser

#: The ``model_type`` of :class:`UnmaskConfig`.
MODEL_TYPE = "unmask-denoiser"


class UnmaskConfig(transformers.PretrainedConfig):
    """The config of :class:`UnmaskDenoiserModel`: ``unmask_model``, a
    :meth:`ModelConfig.to_dict` record (kind ``"denoiser"``, no time conditioning); ``vocab_size
    = V + 1`` and ``mask_token_id = V`` follow from it."""

    model_type = MODEL_TYPE

    def __init__(self, unmask_model: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.unmask_model = dict(unmask_model) if unmask_model is not None else None
        if self.unmask_model is not None:
            model = model_config(self.unmask_model)
            kwargs["vocab_size"] = model.vocab_size + 1
            kwargs["mask_token_id"] = model.vocab_size
            kwargs["max_position_embeddings"] = model.length
        super().__init__(**kwargs)


def model_config(record: dict[str, Any]) -> ModelConfig:
    """The :class:`ModelConfig` of an ``unmask_model`` record, which must describe a denoiser
    without time conditioning (``ValueError`` otherwise, naming what can be saved)."""
    config = ModelConfig.from_dict(record)
    if config.kind != "denoiser":
        raise ValueError(
            f"only a denoiser (model kind 'denoiser') is saved as a transformers model, got kind "
            f"{config.kind!r}: the hollow model's leave-one-out outputs and the autoregressive "
            "baseline have no place in the masked-LM interface; sample them with --checkpoint"
        )
    if config.time_conditioning:
        raise ValueError(
            "a time-conditioned denoiser cannot be saved as a transformers model: the transformers "
            "interface has no time input, and the adapter calls it as time-agnostic; sample it with "
            "--checkpoint instead"
        )
    return config


class UnmaskDenoiserModel(transformers.PreTrainedModel):
    """A :class:`~unmask.train.models.TransformerDenoiser` as a ``transformers`` model (module
    docstring)."""

    config_class = UnmaskConfig
    base_model_prefix = "denoiser"
    main_input_name = "input_ids"

    def __init__(self, config: UnmaskConfig) -> None:
        super().__init__(config)
        if config.unmask_model is None:
            raise ValueError("UnmaskConfig has no unmask_model record: build it from a ModelConfig")
        self.denoiser = TransformerDenoiser(model_config(config.unmask_model))
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: torch.nn.Module) -> None:
        # The denoiser initialises its own weights when built; a loader that built it on the meta
        # device loads them from the file, and only the rotary tables (never saved) need values.
        if isinstance(module, Rotary):
            module.reset_tables()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **unused: Any,
    ) -> MaskedLMOutput:
        """``MaskedLMOutput(logits [B, L, V + 1])`` for ``input_ids [B, L]`` in ``0 .. V`` (``V``:
        the mask token) and ``attention_mask [B, L]`` (1 on real tokens); the last column is
        ``-inf``."""
        denoiser = self.denoiser
        logits = denoiser.raw_logits(input_ids, 0.0, attention_mask)
        mask_column = torch.full_like(logits[..., :1], -torch.inf)
        return MaskedLMOutput(logits=torch.cat([logits, mask_column], dim=-1))


transformers.AutoConfig.register(MODEL_TYPE, UnmaskConfig, exist_ok=True)
transformers.AutoModel.register(UnmaskConfig, UnmaskDenoiserModel, exist_ok=True)

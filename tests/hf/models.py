"""Tiny, randomly initialised ``transformers`` models and locally trained tokenizers.

Nothing comes from the Hub: the tokenizer is a ``tokenizers`` word-level model trained on a few
sentences, and each model is built from a config with two layers of width 32.

* :func:`word_tokenizer`: special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK] [EOS] [BOS]`` at ids
  0..6 (the mask token is not the last id, so the id map shifts the ids above it), then words.
* :func:`bert`: ``BertForMaskedLM`` (kind ``masked-lm``).
* :class:`TinyDiffusionModel`: a LLaDA-style bidirectional diffusion LM (a ``BertModel`` and a
  linear head returning ``MaskedLMOutput``) with its own config class, whose output layer is
  padded to a multiple of 8 columns past the tokenizer's length; registered locally with
  ``AutoConfig`` and ``AutoModel`` under the model type ``unmask-tiny-diffusion``.
* :func:`gpt2`: ``GPT2LMHeadModel``, read through the shifted path.

Without ``transformers`` (the optional ``hf`` extra) every test module that imports this one is
skipped.
"""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="the hf extra is not installed")

from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402
from transformers.modeling_outputs import MaskedLMOutput  # noqa: E402

SENTENCES = [
    "the cat sat on the mat",
    "a dog ran to the park",
    "the bird flew over a tree",
    "paris is the capital of france",
    "the sun is hot and the snow is cold",
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]", "[BOS]"]
WIDTH = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
#: Initial weights ten times the default spread, so that the untrained laws are far from uniform.
INIT = 0.2


def word_tokenizer(mask: bool = True, bos: bool = False) -> transformers.PreTrainedTokenizerFast:
    """A word-level tokenizer (special tokens first, then the words of :data:`SENTENCES`); without
    ``mask`` it names no mask token; with ``bos`` it has a BOS token (and no CLS token)."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=SPECIAL))
    named = {"pad_token": "[PAD]", "unk_token": "[UNK]", "sep_token": "[SEP]", "eos_token": "[EOS]"}
    named.update({"bos_token": "[BOS]"} if bos else {"cls_token": "[CLS]"})
    if mask:
        named["mask_token"] = "[MASK]"
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, **named)


def bert(tokenizer, vocab_size: int | None = None, seed: int = 0) -> transformers.BertForMaskedLM:
    """A tiny ``BertForMaskedLM`` in evaluation mode (``vocab_size`` defaults to the tokenizer's)."""
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=vocab_size or len(tokenizer), max_position_embeddings=64, initializer_range=INIT, **WIDTH
    )
    return transformers.BertForMaskedLM(config).eval()


class TinyDiffusionConfig(transformers.PretrainedConfig):
    """Config of :class:`TinyDiffusionModel`."""

    model_type = "unmask-tiny-diffusion"

    def __init__(self, vocab_size: int = 32, max_position_embeddings: int = 64, **kwargs) -> None:
        self.vocab_size = vocab_size
        self.initializer_range = INIT
        self.max_position_embeddings = max_position_embeddings
        super().__init__(**kwargs)


class TinyDiffusionModel(transformers.PreTrainedModel):
    """A bidirectional diffusion LM: ``BertModel`` then a linear head to ``vocab_size`` logits."""

    config_class = TinyDiffusionConfig
    base_model_prefix = "tiny"

    def __init__(self, config: TinyDiffusionConfig) -> None:
        super().__init__(config)
        inner = transformers.BertConfig(
            vocab_size=config.vocab_size, max_position_embeddings=config.max_position_embeddings,
            initializer_range=INIT, **WIDTH,
        )  # fmt: skip
        self.encoder = transformers.BertModel(inner, add_pooling_layer=False)
        self.head = torch.nn.Linear(WIDTH["hidden_size"], config.vocab_size)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, **kwargs) -> MaskedLMOutput:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return MaskedLMOutput(logits=self.head(hidden))


transformers.AutoConfig.register(TinyDiffusionConfig.model_type, TinyDiffusionConfig, exist_ok=True)
transformers.AutoModel.register(TinyDiffusionConfig, TinyDiffusionModel, exist_ok=True)


def diffusion(tokenizer, seed: int = 1) -> TinyDiffusionModel:
    """A tiny :class:`TinyDiffusionModel` whose output layer is padded past ``len(tokenizer)`` to a
    multiple of 8 columns, in evaluation mode."""
    torch.manual_seed(seed)
    padded = -(-(len(tokenizer) + 1) // 8) * 8
    return TinyDiffusionModel(TinyDiffusionConfig(vocab_size=padded)).eval()


def gpt2(tokenizer, seed: int = 2) -> transformers.GPT2LMHeadModel:
    """A tiny ``GPT2LMHeadModel`` over the tokenizer's ids, in evaluation mode."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=2, initializer_range=INIT,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    return transformers.GPT2LMHeadModel(config).eval()

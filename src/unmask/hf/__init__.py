"""Hugging Face ``transformers`` models and tokenizers as unmask denoisers (the ``hf`` extra).

```python
import torch, unmask, unmask.hf

denoiser = unmask.hf.load("GSAI-ML/LLaDA-8B-Instruct", dtype=torch.bfloat16, device="cuda",
                          trust_remote_code=True)            # or HFDenoiser(model, tokenizer)
out = unmask.sample(denoiser, "first-hitting", vocab_size=denoiser.vocab_size, length=32, batch_size=4)
scores = unmask.hf.loglikelihood(denoiser, None, [("The capital of France is", " Paris")])
scores.logprob, scores.stderr, scores.is_greedy
```

* :class:`HFDenoiser` (:mod:`.adapter`): ``f(x_t, t, attention_mask=None) -> logits [B, L, V]``
  over unmask ids, with the id map of :class:`HFVocabulary` (clean ids ``0..V-1``, ``V =
  len(tokenizer) - 1``, mask id ``V``), special-token suppression and temperature / top-k / top-p
  (:class:`LogitsProcessing`); kinds ``"diffusion"``, ``"masked-lm"``, ``"shifted"``, ``"auto"``
  (:mod:`.kinds`, :mod:`.shifted`).
* :func:`load` (:mod:`.loading`): the adapter of a Hub name or a local ``save_pretrained`` folder.
* :func:`export_checkpoint` (:mod:`.export`): a model trained by ``unmask train`` saved as a
  ``transformers`` folder (:mod:`.pretrained`), which :func:`load` reads like any other.
* :func:`loglikelihood` (:mod:`.loglikelihood`) and :func:`as_harness` (:mod:`.harness`):
  ``log p(continuation | context)`` of text pairs with standard errors, as an evaluation harness
  asks for it.

Nothing here imports ``transformers`` until :func:`load` runs (``pip install 'unmask[hf]'``); the
adapter only calls the model and tokenizer it is given.
"""

from .adapter import HFDenoiser, model_logits, model_vocab_size
from .export import export_checkpoint
from .greedy import greedy_matches
from .harness import as_harness
from .kinds import KINDS, SHIFTED_MODEL_TYPES, Kind, resolve_kind
from .loading import load, require_transformers
from .logits_processing import LogitsProcessing, nucleus
from .loglikelihood import LoglikelihoodResult, loglikelihood
from .pairs import encode_pair
from .shifted import check_first_position, shift_right
from .special_tokens import special_ids, suppressed_columns
from .vocabulary import HFVocabulary

__all__ = [
    "KINDS",
    "SHIFTED_MODEL_TYPES",
    "HFDenoiser",
    "HFVocabulary",
    "Kind",
    "LoglikelihoodResult",
    "LogitsProcessing",
    "as_harness",
    "check_first_position",
    "encode_pair",
    "export_checkpoint",
    "greedy_matches",
    "load",
    "loglikelihood",
    "model_logits",
    "model_vocab_size",
    "nucleus",
    "require_transformers",
    "resolve_kind",
    "shift_right",
    "special_ids",
    "suppressed_columns",
]

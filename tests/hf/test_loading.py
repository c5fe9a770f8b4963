"""``load`` from a local ``save_pretrained`` folder (a BERT masked LM, a locally registered
diffusion LM, a GPT-2 read as shifted), its option checks, and the optional dependency: ``import
unmask`` never imports ``transformers``, and a missing ``transformers`` says how to install it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from unmask.hf import HFDenoiser, load, require_transformers

from .models import TinyDiffusionModel, bert, diffusion, gpt2, word_tokenizer


def _save(model, tokenizer, folder) -> None:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _same_output(loaded: HFDenoiser, original: HFDenoiser) -> bool:
    x = torch.full((2, 5), original.mask_id)
    x[:, 0] = 8
    with torch.no_grad():
        return torch.allclose(loaded(x, torch.ones(2)), original(x, torch.ones(2)), atol=1e-5)


def test_a_bert_folder_loads_as_a_masked_lm_with_the_same_outputs(tmp_path) -> None:
    tokenizer = word_tokenizer()
    model = bert(tokenizer)
    _save(model, tokenizer, tmp_path)
    loaded = load(tmp_path, top_k=3)
    assert loaded.kind.name == "masked-lm" and type(loaded.model).__name__ == "BertForMaskedLM"
    assert not loaded.model.training
    assert loaded.vocab_size == len(tokenizer) - 1 and loaded.options["top_k"] == 3
    assert _same_output(loaded, HFDenoiser(model, tokenizer, top_k=3))


def test_a_registered_diffusion_model_loads_through_auto_model(tmp_path) -> None:
    tokenizer = word_tokenizer()
    model = diffusion(tokenizer)
    _save(model, tokenizer, tmp_path)
    loaded = load(str(tmp_path), dtype=torch.bfloat16)
    assert isinstance(loaded.model, TinyDiffusionModel) and loaded.kind.name == "diffusion"
    x = torch.full((1, 4), loaded.mask_id)
    with torch.no_grad():
        assert loaded(x, torch.ones(1)).dtype == torch.bfloat16


def test_a_causal_model_loads_only_when_asked_to_read_it_shifted(tmp_path) -> None:
    tokenizer = word_tokenizer(bos=True)
    model = gpt2(tokenizer)
    _save(model, tokenizer, tmp_path)
    with pytest.raises(ValueError, match="kind='shifted'"):
        load(tmp_path)
    loaded = load(tmp_path, kind="shifted")
    assert type(loaded.model).__name__ == "GPT2LMHeadModel" and loaded.kind.shifted
    assert _same_output(loaded, HFDenoiser(model, tokenizer, kind="shifted"))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"top_p": 2.0}, ValueError, "top_p must lie in"),
        ({"temperature": 0}, ValueError, "temperature"),
        ({"kind": "bidirectional"}, ValueError, "kind must be one of"),
        ({"topk": 1}, TypeError, "unexpected keyword argument 'topk'"),
        ({"trust_remote_code": "yes"}, TypeError, "trust_remote_code must be True or False"),
    ],
)
def test_bad_options_fail_before_anything_is_read(options, error, match) -> None:
    """The folder does not exist: the option error comes first."""
    with pytest.raises(error, match=match):
        load("/nonexistent/unmask-model", **options)


def test_importing_unmask_and_unmask_hf_does_not_import_transformers() -> None:
    code = "import sys, unmask, unmask.hf; assert 'transformers' not in sys.modules, 'imported transformers'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_missing_transformers_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"pip install 'unmask\[hf\]'"):
        require_transformers()
    with pytest.raises(ImportError, match=r"pip install 'unmask\[hf\]'"):
        load("some/model")

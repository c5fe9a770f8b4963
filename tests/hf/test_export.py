"""A checkpoint of ``unmask train`` saved as a ``transformers`` folder (``export_checkpoint``) and
read back through the same path as any Hugging Face model (``unmask.hf.load``): the same logits
at masked positions, the same samples, tokenizers rebuilt from the data record, and refusals
that leave nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
import torch

import unmask
from train.evaluation.checkpoints import save_tiny_checkpoint
from unmask.files import OutputError, OutputExists, current_umask
from unmask.hf import export_checkpoint, load
from unmask.hf.export import TokenizerError
from unmask.samplers import registry
from unmask.train.from_checkpoint import load_model
from unmask.train.models import ModelConfig, build_model
from unmask.train.trainer import save_checkpoint

from .models import transformers  # noqa: F401  (skips the module without the hf extra)

TEXT = "héllo wörld\n\tx ~ é"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "bytes": save_tiny_checkpoint(root / "bytes", length=12, data="bytes"),
        "target": save_tiny_checkpoint(root / "target", length=8),
    }


def _masked_input(mask_id: int, length: int) -> torch.Tensor:
    x = torch.full((3, length), mask_id)
    x[0, :3] = torch.tensor([1, 2, 3])
    x[1, 5:] = 0
    return x


@pytest.mark.parametrize("name", ["bytes", "target"])
def test_the_exported_model_gives_the_checkpoints_logits_at_every_masked_position(
    runs, name, tmp_path
) -> None:
    """The rotary tables, never saved, are rebuilt on load: the logits agree to the last bit."""
    folder = export_checkpoint(runs[name], tmp_path / "hf")
    denoiser = load(folder)
    model, state = load_model(runs[name])
    assert type(denoiser.model).__name__ == "UnmaskDenoiserModel" and denoiser.kind.name == "diffusion"
    assert denoiser.vocab_size == model.vocab_size and denoiser.mask_id == model.vocab_size
    x = _masked_input(model.vocab_size, model.config.length)
    with torch.no_grad():
        exported, original = denoiser(x, torch.ones(3)), model(x, torch.ones(3))
    masked = x == model.vocab_size
    assert torch.equal(exported[masked], original[masked])
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "unmask-denoiser" and config["mask_token_id"] == model.vocab_size
    assert (
        config["unmask_model"] == model.config.to_dict() and config["unmask_training"]["step"] == state.step
    )


@pytest.mark.parametrize("sampler", unmask.samplers.names("masked"))
def test_every_sampler_draws_the_checkpoints_sequences_through_the_hf_path(runs, sampler, tmp_path) -> None:
    """Unmasked positions differ (raw logits there, carry-over in the checkpoint's model), and no
    sampler reads them: the same seed gives the same tokens and calls."""
    folder = export_checkpoint(runs["bytes"], tmp_path / "hf")
    denoiser = load(folder, suppress_special=False)
    model, _ = load_model(runs["bytes"])
    options = {"steps": 4} if registry.get(sampler, "masked").takes_steps is not False else {}
    a, b = (
        unmask.sample(f, sampler, vocab_size=256, length=12, batch_size=5, generator=7, **options)
        for f in (denoiser, model)
    )
    assert torch.equal(a.tokens, b.tokens) and a.nfe == b.nfe


def test_the_rebuilt_byte_tokenizer_reads_text_as_the_training_data_did(runs, tmp_path) -> None:
    denoiser = load(export_checkpoint(runs["bytes"], tmp_path / "hf"))
    tokenizer = denoiser.tokenizer
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert ids == list(TEXT.encode("utf-8"))
    assert tokenizer.decode(ids) == TEXT and len(tokenizer) == 257
    assert tokenizer.mask_token_id == 256 and tokenizer.decode([104, 195]) == "h\ufffd"


def test_the_rebuilt_target_tokenizer_names_each_id_by_its_number(runs, tmp_path) -> None:
    tokenizer = load(export_checkpoint(runs["target"], tmp_path / "hf")).tokenizer
    assert tokenizer("0 3 1 2", add_special_tokens=False)["input_ids"] == [0, 3, 1, 2]
    assert tokenizer.decode([2, 0]) == "2 0" and tokenizer.mask_token_id == 4 and len(tokenizer) == 5


def _tokenized_run(root, tokenizer_file, vocab_size: int, sha256: str | None = None):
    config = ModelConfig.preset("tiny", vocab_size=vocab_size, length=6)
    record = {
        "path": str(tokenizer_file),
        "sha256": sha256 or hashlib.sha256(tokenizer_file.read_bytes()).hexdigest(),
    }
    save_checkpoint(
        root / "checkpoints", 0, build_model(config), config={"model": config.to_dict()},
        data={"kind": "tokenized", "name": "words", "tokenizer": record},
    )  # fmt: skip
    return root


def test_a_tokenized_run_keeps_its_tokenizer_file_and_adds_the_mask_last(tmp_path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "the": 1, "cat": 2, "[MASK]": 3}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.save(str(tmp_path / "tokenizer.json"))
    run = _tokenized_run(tmp_path / "run", tmp_path / "tokenizer.json", vocab_size=4)
    tokenizer = load(export_checkpoint(run, tmp_path / "hf")).tokenizer
    assert tokenizer("the cat", add_special_tokens=False)["input_ids"] == [1, 2]
    assert tokenizer.convert_ids_to_tokens(3) == "[MASK]", "the file's own [MASK] stays a clean token"
    assert tokenizer.mask_token_id == 4 and tokenizer.mask_token == "<|mask|>"
    stale = _tokenized_run(tmp_path / "stale", tmp_path / "tokenizer.json", vocab_size=4, sha256="0" * 64)
    with pytest.raises(TokenizerError, match="changed since the run read it"):
        export_checkpoint(stale, tmp_path / "never")
    wrong = _tokenized_run(tmp_path / "wrong", tmp_path / "tokenizer.json", vocab_size=5)
    with pytest.raises(TokenizerError, match="has 4 ids but the model predicts 5"):
        export_checkpoint(wrong, tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_a_given_tokenizer_must_have_the_mask_last(runs, tmp_path) -> None:
    from .models import word_tokenizer

    with pytest.raises(TokenizerError, match="mask token last"):
        export_checkpoint(runs["target"], tmp_path / "hf", tokenizer=word_tokenizer())
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize(
    ("kind", "overrides", "match"),
    [
        ("hollow", {}, "only a denoiser"),
        ("autoregressive", {}, "only a denoiser"),
        ("denoiser", {"time_conditioning": True}, "time-conditioned"),
    ],
)
def test_models_without_a_masked_lm_reading_are_refused(kind, overrides, match, tmp_path) -> None:
    run = save_tiny_checkpoint(tmp_path / "run", kind=kind, **overrides)
    with pytest.raises(ValueError, match=match):
        export_checkpoint(run, tmp_path / "hf")
    assert sorted(os.listdir(tmp_path)) == ["run"], "nothing is written"


def test_the_folder_is_written_whole_with_the_umask_and_replaced_only_with_force(runs, tmp_path) -> None:
    out = tmp_path / "hf"
    folder = export_checkpoint(runs["target"], out)
    umask = current_umask()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o777 & ~umask
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~umask for p in folder.iterdir())
    with pytest.raises(OutputExists):
        export_checkpoint(runs["bytes"], out)
    assert json.loads((out / "config.json").read_text())["mask_token_id"] == 4, "the old folder is kept"
    export_checkpoint(runs["bytes"], out, force=True)
    assert json.loads((out / "config.json").read_text())["mask_token_id"] == 256
    assert sorted(os.listdir(tmp_path)) == ["hf"], "no partial or old folder is left"
    (tmp_path / "file").write_text("data")
    with pytest.raises(OutputError, match="not a folder"):
        export_checkpoint(runs["bytes"], tmp_path / "file", force=True)
    (tmp_path / "empty").mkdir()
    export_checkpoint(runs["bytes"], tmp_path / "empty")
    assert (tmp_path / "empty" / "model.safetensors").is_file()

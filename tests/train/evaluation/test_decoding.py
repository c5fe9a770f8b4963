"""``text_decoder``: rows back to text from the data description."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from unmask.train.data import ByteText, TargetData, default_target
from unmask.train.evaluation.decoding import text_decoder

from .checkpoints import TEXTS


def test_bytes_decode_as_utf8_with_replacement():
    """Byte text decodes valid UTF-8 as itself and an invalid byte as U+FFFD."""
    decoder = text_decoder(ByteText(length=8, texts=TEXTS, validation_fraction=0.2).describe())
    assert decoder.note is None
    assert decoder.decode(list("héllo".encode())) == "héllo"
    assert decoder.decode([104, 255, 105]) == "h\ufffdi"


def test_target_data_has_no_text():
    """Data of an exact target shows ids: no decoder, no note."""
    decoder = text_decoder(TargetData(default_target(4), validation_size=4).describe())
    assert decoder.decode is None and decoder.note is None


@pytest.fixture()
def tokenizer_file(tmp_path):
    """A word-level tokenizer trained on the test texts."""
    tokenizers = pytest.importorskip("tokenizers")
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(TEXTS, tokenizers.trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    return path, tokenizer


def test_tokenized_text_decodes_with_its_tokenizer_while_it_is_the_same(tokenizer_file, tmp_path):
    """The tokenizer named in the description decodes ids; when the file is gone or changed, the ids
    are shown with a note saying why."""
    path, tokenizer = tokenizer_file
    description = {
        "kind": "tokenized",
        "tokenizer": {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
    }
    ids = tokenizer.encode("the quick brown fox").ids
    decoder = text_decoder(description)
    assert decoder.note is None and decoder.decode(ids) == tokenizer.decode(ids)
    changed = {**description, "tokenizer": {"path": str(path), "sha256": "0" * 64}}
    assert text_decoder(changed).decode is None and "changed since training" in text_decoder(changed).note
    shutil.move(path, tmp_path / "elsewhere.json")
    gone = text_decoder(description)
    assert gone.decode is None and "is gone" in gone.note

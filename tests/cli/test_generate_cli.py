"""`unmask generate` on a tiny BERT saved with ``save_pretrained``: text and JSON output equal the
library's ``generate``, prompts from a file, one-line errors (exit 2) before the model is read,
and two gloo processes that shard the prompts give the one-process records."""

from __future__ import annotations

import json
import os
import socket

import pytest
import typer
from typer.testing import CliRunner

from unmask.cli.generate_command import generate_command, run_generation

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="the hf extra is not installed")

PROMPTS = ["the cat sat", "a dog ran to the park", "paris"]
runner = CliRunner()


def build() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.callback()(lambda: None)  # a group: the command is invoked by name, as in `unmask generate`
    app.command("generate")(generate_command)
    return app


def invoke(*args):
    return runner.invoke(build(), ["generate", *[str(a) for a in args]])


def tiny_bert_and_tokenizer():
    """A word-level tokenizer with a mask and an EOS token, and a tiny random BERT over it."""
    import torch

    words = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="[UNK]"))
    words.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]"]
    words.train_from_iterator(PROMPTS, tokenizers.trainers.WordLevelTrainer(special_tokens=special))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=words, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", eos_token="[EOS]",
    )  # fmt: skip
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, initializer_range=0.2,
    )  # fmt: skip
    return transformers.BertForMaskedLM(config).eval(), tokenizer


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    model, tokenizer = tiny_bert_and_tokenizer()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_json_records_equal_the_library_and_text_is_one_line_per_prompt(saved, tmp_path) -> None:
    from unmask.hf import load
    from unmask.hf.generation import generate

    args = ["--model", saved, "--max-new-tokens", 6, "--block-length", 3, "--seed", 4]
    result = invoke(*args, *[x for p in PROMPTS for x in ("--prompt", p)], "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    expected = generate(
        load(saved, allow_eos=True), None, PROMPTS, max_new_tokens=6, block_length=3, generator=4
    )
    assert [r["prompt"] for r in record["records"]] == PROMPTS
    assert [r["text"] for r in record["records"]] == expected.texts
    assert [r["nfe"] for r in record["records"]] == expected.nfe_per_row.tolist()
    assert record["nfe"] == expected.nfe
    file = tmp_path / "prompts.txt"
    file.write_text("\n".join(PROMPTS) + "\n\n")
    out = tmp_path / "out.txt"
    text = invoke(*args, "--prompts-file", file, "--output", out)
    assert text.exit_code == 0, text.output
    assert out.read_text().splitlines() == expected.texts


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--max-new-tokens", 0], "--max-new-tokens"),
        (["--steps", 1, "--block-length", 2], "--steps"),
        (["--sampler", "nope"], "--sampler"),
        (["--sampler", "first-hitting", "--steps", 4], "--steps"),
        (["--guidance", -1], "--guidance"),
        (["--dtype", "int8"], "--dtype"),
        (["--seed", -1], "--seed"),
    ],
)
def test_bad_options_exit_2_with_one_line_errors(saved, args, option) -> None:
    result = invoke("--model", saved, "--prompt", "a", *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {option}:")


def test_no_prompt_and_a_missing_model_are_one_line_errors(tmp_path) -> None:
    result = invoke("--model", tmp_path / "absent")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --prompt:")
    result = invoke("--model", tmp_path / "absent", "--prompt", "a")
    assert result.exit_code == 2 and result.stderr.startswith("Error: --model:")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, folder: str, queue) -> None:
    from unmask.train.trainer import DistributedContext

    os.environ.update(
        {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
         "MASTER_PORT": str(port)}
    )  # fmt: skip
    ctx = DistributedContext.from_environment(device="cpu")
    ctx.init()
    try:
        record = run_generation(
            folder, PROMPTS, ctx, seed=4, max_new_tokens=6, block_length=3, show_progress=False
        )
    finally:
        ctx.destroy()
    queue.put((rank, record))


def test_two_gloo_processes_give_the_one_process_records(saved) -> None:
    import torch.multiprocessing as mp

    from unmask.train.trainer import DistributedContext

    single = run_generation(
        str(saved), PROMPTS, DistributedContext.from_environment(device="cpu"), seed=4, max_new_tokens=6,
        block_length=3, show_progress=False,
    )  # fmt: skip
    context = mp.get_context("fork")
    queue = context.Queue()
    port = _free_port()
    processes = [context.Process(target=_rank, args=(r, port, str(saved), queue)) for r in range(2)]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    for rank in range(2):
        assert results[rank]["records"] == single["records"]
        assert results[rank]["nfe"] >= 1

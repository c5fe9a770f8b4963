"""Tokens per second of ``unmask.generate`` against a plain loop of the same algorithm, in one run.

Both run LLaDA's low-confidence remasking on the same tiny BERT-style masked LM (random weights,
built here from a config, a few sizes), the same prompts (different lengths, right-padded with
an attention mask), the same batch and the same number of steps: at each step, draw a token at
every masked generated position from the model's conditional, keep the ``k`` draws of highest
probability per row (``k``: the generation split evenly over the steps) and leave the rest masked.
The reference is the loop as research code writes it (softmax over the vocabulary, a multinomial
draw, a gather, a top-k over masked positions); ``unmask.generate`` runs the same computation
through ``HFDenoiser`` and the sampler driver (``suppress_special=False``, ``stop_at_eos=False``:
no processing and no early stop, so both make the same model calls). Each case is timed after a
warm-up, best of ``--repeats``; the ratio is unmask's tokens per second over the reference's.

Usage::

    python benchmarks/generate_throughput.py                 # CPU, one intra-op thread
    python benchmarks/generate_throughput.py --device cuda --json
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402

from unmask.hf import HFDenoiser  # noqa: E402
from unmask.hf.generation import generate  # noqa: E402

#: (name, hidden size, layers, vocabulary size)
SIZES = (("small", 64, 2, 1_000), ("medium", 256, 4, 8_000), ("large", 512, 4, 32_000))
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]"]


def build(hidden: int, layers: int, vocab: int, device: str):
    """A word-level tokenizer of ``vocab`` ids and a random ``BertForMaskedLM`` over it."""
    words = {token: j for j, token in enumerate(SPECIAL)}
    words.update({f"w{j}": j for j in range(len(SPECIAL), vocab)})
    inner = Tokenizer(models.WordLevel(vocab=words, unk_token="[UNK]"))
    inner.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=inner, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", eos_token="[EOS]",
    )  # fmt: skip
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=max(hidden // 64, 2), intermediate_size=4 * hidden, max_position_embeddings=512,
    )  # fmt: skip
    return transformers.BertForMaskedLM(config).eval().to(device), tokenizer


@torch.no_grad()
def reference(model, tokenizer, prompts: list[str], new: int, steps: int, seed: int) -> torch.Tensor:
    """LLaDA's low-confidence remasking, written plainly: the generated model ids ``[B, new]``."""
    device = next(model.parameters()).device
    mask = tokenizer.mask_token_id
    encoded = [
        [tokenizer.cls_token_id, *tokenizer(p, add_special_tokens=False)["input_ids"]] for p in prompts
    ]
    lengths = torch.tensor([len(e) for e in encoded], device=device)
    length = int(lengths.max()) + new
    x = torch.full((len(prompts), length), tokenizer.pad_token_id, dtype=torch.long, device=device)
    for row, ids in enumerate(encoded):
        x[row, : len(ids)] = torch.tensor(ids)
        x[row, len(ids) : len(ids) + new] = mask
    attention = (torch.arange(length, device=device) < (lengths + new)[:, None]).long()
    generator = torch.Generator(device=device).manual_seed(seed)
    per_step = [new // steps + (1 if j < new % steps else 0) for j in range(steps)]
    for k in per_step:
        masked = x == mask
        logits = model(input_ids=x, attention_mask=attention).logits
        logits[..., mask] = -torch.inf
        probs = torch.softmax(logits.float(), -1)
        drawn = torch.multinomial(probs.view(-1, probs.shape[-1]), 1, generator=generator).view(x.shape)
        confidence = torch.where(masked, probs.gather(-1, drawn[..., None])[..., 0], -torch.inf)
        keep = torch.zeros_like(masked)
        keep.scatter_(1, confidence.topk(k, dim=-1).indices, True)
        x = torch.where(keep & masked, drawn, x)
    where = lengths[:, None] + torch.arange(new, device=device)
    return x.gather(1, where)


def timed(function, repeats: int, device: str) -> float:
    """The best wall-clock seconds of ``repeats`` calls after one warm-up."""
    function()
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def measure(model, tokenizer, prompts: list[str], steps: int, args: argparse.Namespace) -> dict:
    """One case: both loops timed, tokens per second and the ratio."""
    adapter = HFDenoiser(model, tokenizer, suppress_special=False)

    def ours() -> None:
        generate(adapter, None, prompts, max_new_tokens=args.new, steps=steps, stop_at_eos=False)

    def theirs() -> None:
        reference(model, tokenizer, prompts, args.new, steps, 0)

    ours_s, theirs_s = timed(ours, args.repeats, args.device), timed(theirs, args.repeats, args.device)
    tokens = len(prompts) * args.new
    config = model.config
    return {
        "hidden": config.hidden_size, "layers": config.num_hidden_layers, "vocab": config.vocab_size,
        "steps": steps, "batch": len(prompts), "new": args.new, "unmask_tok_s": tokens / ours_s,
        "reference_tok_s": tokens / theirs_s, "ratio": theirs_s / ours_s,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new", type=int, default=32, help="max_new_tokens")
    parser.add_argument("--steps", type=int, nargs="+", default=[32, 8])
    parser.add_argument("--sizes", nargs="+", default=[name for name, *_ in SIZES])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads on the CPU")
    parser.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name, hidden, layers, vocab in SIZES:
        if name not in args.sizes:
            continue
        model, tokenizer = build(hidden, layers, vocab, args.device)
        prompts = [
            " ".join(f"w{6 + (7 * b + 13 * j) % (vocab - 6)}" for j in range(4 + 3 * b))
            for b in range(args.batch)
        ]
        rows.extend(measure(model, tokenizer, prompts, steps, args) for steps in args.steps)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"device {args.device}, batch {args.batch}, {args.new} new tokens, {args.threads} thread(s)")
    print(
        f"{'hidden':>7}{'layers':>7}{'vocab':>7}{'steps':>6}{'unmask tok/s':>14}{'reference':>11}{'ratio':>7}"
    )
    for r in rows:
        print(
            f"{r['hidden']:>7}{r['layers']:>7}{r['vocab']:>7}{r['steps']:>6}"
            f"{r['unmask_tok_s']:>14.1f}{r['reference_tok_s']:>11.1f}{r['ratio']:>7.2f}"
        )


if __name__ == "__main__":
    main()

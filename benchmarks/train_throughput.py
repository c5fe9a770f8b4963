"""Training throughput of ``unmask.train``'s loop against a plain PyTorch loop doing the same work.

Both sides train the same masked-diffusion denoiser (``build_model(ModelConfig.preset(--preset,
kind="denoiser"))``, the same initial weights) on random tokens (``--vocab`` ids, ``--length``
per row, ``--batch`` rows per step) for the same number of steps, in the same process:

* **unmask**: ``unmask.train.trainer.loop.train`` (MDLM's masked NELBO through
  ``unmask.train.objectives``, AdamW with weight decay on matrices, global-norm clipping, EMA);
* **plain**: a loop written here in plain torch, the same work per step: draw the batch, draw
  antithetic times ``t`` and the mask pattern (each position masked with probability ``t``, the
  linear schedule), call the model's forward on the partly masked rows, cross-entropy at the
  masked positions weighted by the hazard ``1 / t`` (times ``1 - t_min``), reduced per token,
  backward, clip the global gradient norm, AdamW with the same two parameter groups, the same
  warm-up-cosine learning rate, and the EMA update ``shadow <- d shadow + (1 - d) param`` with the
  same warm-up of ``d`` (one ``torch._foreach_lerp_``).

``--plain-raw-logits`` makes the plain loop call ``model.raw_logits`` instead of the model: the
network without the carry-over of unmasked positions (``unmask.denoisers.CarryOver``: a full
``[B, L, V]`` tensor of ``-inf``, a scatter and a ``where``, and their backward), which the loss
never reads; the ratio then shows what that carry-over costs ``unmask``'s loss.

Before timing, the script checks that the two sides compute the same loss: on one batch with the
same draws (the plain loss given the generator of ``unmask``'s objective), the values agree to
``1e-9`` relative, or the script stops.

**What is timed.** Each side runs ``--warmup`` steps untimed, then ``--steps`` timed steps (on a
GPU, synchronised at both ends). The unmask run is given ``log_every``, ``eval_every`` and
``checkpoint_every`` beyond its last step, so no step in between logs, validates or saves. The
loop always validates and saves at its *last* step, so the unmask run takes one step more than
``warmup + steps`` and that step is not timed: the clock is read in the loop's ``callback``, which
the loop calls at the end of every step (after the EMA update; at the last step only after the
validation and the checkpoint), at the end of step ``warmup`` and of step ``warmup + steps``;
the last step, the figure and the log written after it fall outside. Model construction, the
optimizer's creation and the output folder's setup are outside too. The plain loop reads the
clock at the same points of its steps.

Tokens per second = ``steps * batch * length / seconds``, the best of ``--repeats`` runs of each
side, the sides interleaved (unmask, plain, unmask, plain, ...) so that drifting load on a shared
machine hits both alike. On the CPU the script also reports the ratio of the best CPU times of
the process over the same spans (``time.process_time``): with ``--threads 1`` it counts the work
done, not the time spent waiting for a core that other processes hold, so on a shared machine it
is far steadier than the wall-clock ratio (with more threads it also counts their spinning).
**The aim: unmask within 10% of plain (ratio >= 0.9).**

Usage::

    python benchmarks/train_throughput.py                       # small, B=32, L=128, V=256, CPU
    python benchmarks/train_throughput.py --preset tiny --steps 50 --threads 1
    python benchmarks/train_throughput.py --device cuda --precision bfloat16 --preset gpt2-small \\
        --batch 32 --length 512 --vocab 50257 --json throughput.json
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import torch

from unmask.schedules import get_schedule
from unmask.train.data import step_generator
from unmask.train.models import ModelConfig, build_model
from unmask.train.models.registry import parameter_count
from unmask.train.objectives import objective_for
from unmask.train.trainer import DistributedContext
from unmask.train.trainer.config import TrainConfig
from unmask.train.trainer.loop import train

PRESETS = ("tiny", "small", "gpt2-small")
PRECISIONS = ("float32", "bfloat16")
T_MIN = 1e-3  # the clip of the drawn times (unmask.train.losses.times.DEFAULT_T_MIN)
NEVER = 10**9  # an interval no run reaches


class RandomTokens:
    """A :class:`~unmask.train.data.TokenSource` of uniformly random ids for one process: training
    rows drawn from a generator seeded by ``(seed, step)``, a fixed validation set."""

    name = "random"

    def __init__(self, vocab_size: int, length: int, validation_size: int) -> None:
        self.vocab_size, self.length, self._validation_size = vocab_size, length, validation_size

    @property
    def validation_size(self) -> int:
        """The number of validation sequences."""
        return self._validation_size

    def batch(
        self, step: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1
    ) -> torch.Tensor:
        """``[batch_size, L]`` random ids of ``step`` (one process: ``rank`` and ``world_size`` unused)."""
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        return torch.randint(self.vocab_size, (batch_size, self.length), generator=generator)

    def validation(self, batch_size: int, *, rank: int = 0, world_size: int = 1) -> Iterator[torch.Tensor]:
        """The validation set in batches of ``batch_size``, the same on every call."""
        generator = torch.Generator().manual_seed(12345)
        for _ in range(self._validation_size // batch_size):
            yield torch.randint(self.vocab_size, (batch_size, self.length), generator=generator)

    def describe(self) -> dict[str, Any]:
        """What the checkpoints record of the source."""
        return {"kind": self.name, "vocab_size": self.vocab_size, "length": self.length}


def clock() -> tuple[float, float]:
    """``(wall-clock seconds, CPU seconds of this process)``."""
    return time.perf_counter(), time.process_time()


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(precision: str, device: torch.device):
    """bf16 autocast for ``--precision bfloat16``, nothing for float32."""
    if precision == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def plain_loss(
    model: torch.nn.Module, x: torch.Tensor, generator: torch.Generator, vocab_size: int, raw: bool = False
) -> torch.Tensor:
    """MDLM's masked NELBO per token in plain torch: antithetic ``t`` on ``[T_MIN, 1]``, each
    position masked with probability ``t``, ``(1 - T_MIN) / t`` times the cross-entropy summed
    over the masked positions, summed over rows and divided by the tokens. Draws on the
    generator's device. ``raw``: call ``model.raw_logits`` (no carry-over) instead of the model."""
    batch, length = x.shape
    home = generator.device
    u = torch.rand(1, dtype=torch.float64, generator=generator, device=home)
    strata = torch.arange(batch, dtype=torch.float64, device=home) / batch
    t = T_MIN + (1 - T_MIN) * torch.remainder(u + strata, 1.0)
    masked = torch.rand(batch, length, dtype=torch.float64, generator=generator, device=home) < t[:, None]
    t, masked = t.to(x.device), masked.to(x.device)
    z = torch.where(masked, vocab_size, x)
    logits = model.raw_logits(z, t) if raw else model(z, t)
    log_p = torch.log_softmax(logits, dim=-1, dtype=torch.float32).gather(-1, x[..., None]).squeeze(-1)
    per_row = torch.where(masked, -log_p.double(), 0.0).sum(-1)
    return ((1 - T_MIN) / t * per_row).sum() / x.numel()


def plain_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW, weight decay on weight matrices only (not norms, biases or embeddings)."""
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        embedding = "embedding" in name or "boundary" in name
        (decay if parameter.ndim >= 2 and not embedding else plain).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.betas)


def plain_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``final_lr_fraction`` of the peak."""
    peak = config.learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    floor = config.final_lr_fraction * peak
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def run_plain(
    model_config: ModelConfig,
    config: TrainConfig,
    device: torch.device,
    warmup: int,
    steps: int,
    raw: bool = False,
) -> tuple[float, float]:
    """``(wall-clock seconds, process CPU seconds)`` of ``steps`` plain steps after ``warmup``
    untimed ones."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(model_config).to(device)
    model.train()
    optimizer = plain_optimizer(model, config)
    params = [p for p in model.parameters()]
    with torch.no_grad():
        shadow = [p.detach().clone() for p in params]
    data = torch.Generator().manual_seed(config.seed)
    draws = torch.Generator(device=device).manual_seed(config.seed)
    batch, length, vocab = config.batch_size, model_config.length, model_config.vocab_size
    began = (0.0, 0.0)
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            began = clock()
        for group in optimizer.param_groups:
            group["lr"] = plain_rate(step, config)
        x = torch.randint(vocab, (batch, length), generator=data).to(device, non_blocking=True)
        with autocast(config.precision, device):
            loss = plain_loss(model, x, draws, vocab, raw)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            decay = min(config.ema_decay, (1 + step) / (10 + step))
            torch._foreach_lerp_(shadow, [p.detach() for p in params], 1.0 - decay)
    sync(device)
    ended = clock()
    return ended[0] - began[0], ended[1] - began[1]


def run_unmask(
    model_config: ModelConfig, config: TrainConfig, device: torch.device, warmup: int, steps: int
) -> tuple[float, float]:
    """``(wall-clock seconds, process CPU seconds)`` of ``steps`` steps of ``unmask``'s loop after
    ``warmup`` untimed ones, read in the callback (the run's last step, which validates and saves,
    is not timed: module docstring)."""
    marks: dict[int, tuple[float, float]] = {}

    def callback(done: int, total: int, record: dict[str, Any]) -> None:
        if done in (warmup, warmup + steps):
            sync(device)
            marks[done] = clock()

    data = RandomTokens(model_config.vocab_size, model_config.length, config.validation_batch_size)
    with tempfile.TemporaryDirectory(prefix="unmask-throughput-") as out:
        train(model_config, data, out, config, ctx=DistributedContext(device=device), callback=callback)
    began, ended = marks[warmup], marks[warmup + steps]
    return ended[0] - began[0], ended[1] - began[1]


def check_parity(model_config: ModelConfig, config: TrainConfig, raw: bool) -> float:
    """The relative difference between the two losses on one batch with the same draws (CPU)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(model_config)
    batch = config.batch_size
    x = RandomTokens(model_config.vocab_size, model_config.length, batch).batch(0, batch, seed=config.seed)
    objective = objective_for("denoiser", get_schedule(config.schedule))
    with torch.no_grad():
        ours = objective.loss(model, x, slice(0, batch), batch, config.seed, "loss", 0).loss
        generator = step_generator(config.seed, "loss", 0)
        theirs = plain_loss(model, x, generator, model_config.vocab_size, raw)
    return abs(float(ours) - float(theirs)) / abs(float(theirs))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run both sides ``args.repeats`` times, interleaved; the record of the table row."""
    device = torch.device(args.device)
    model_config = ModelConfig.preset(args.preset, vocab_size=args.vocab, length=args.length)
    total = args.warmup + args.steps + 1
    config = TrainConfig(
        steps=total, batch_size=args.batch, warmup_steps=min(10, total), precision=args.precision,
        log_every=NEVER, eval_every=NEVER, checkpoint_every=NEVER, keep_checkpoints=1,
        validation_batch_size=args.batch, ema_decay=0.999,
    )  # fmt: skip
    difference = check_parity(model_config, config, args.plain_raw_logits)
    if not difference < 1e-9:
        raise SystemExit(
            f"the two losses differ by {difference:.3g} (relative) on the same draws; fix the script"
        )
    tokens = args.steps * args.batch * args.length
    seconds: dict[str, list[float]] = {"unmask": [], "plain": []}
    cpu_seconds: dict[str, list[float]] = {"unmask": [], "plain": []}
    plain = functools.partial(run_plain, raw=args.plain_raw_logits)
    for _ in range(args.repeats):
        for side, run in (("unmask", run_unmask), ("plain", plain)):
            wall, cpu = run(model_config, config, device, args.warmup, args.steps)
            seconds[side].append(wall)
            cpu_seconds[side].append(cpu)
    best = {side: tokens / min(values) for side, values in seconds.items()}
    row = {
        "preset": args.preset, "batch": args.batch, "length": args.length, "vocab": args.vocab,
        "parameters": parameter_count(model_config), "device": str(device), "precision": args.precision,
        "threads": torch.get_num_threads(), "steps": args.steps, "warmup": args.warmup,
        "repeats": args.repeats, "plain_raw_logits": args.plain_raw_logits, "loss_parity": difference,
        "seconds": seconds, "cpu_seconds": cpu_seconds,
        "unmask_tokens_per_second": best["unmask"], "plain_tokens_per_second": best["plain"],
        "ratio": best["unmask"] / best["plain"],
    }  # fmt: skip
    if device.type == "cpu":  # on a GPU the host's CPU time says nothing of the work
        row["cpu_ratio"] = min(cpu_seconds["plain"]) / min(cpu_seconds["unmask"])
    return row


def print_table(row: dict[str, Any]) -> None:
    """The table of one measured row, and every repeat's times."""
    header = ["preset", "batch", "length", "vocab", "params", "unmask tok/s", "plain tok/s", "unmask/plain"]
    cells = [
        row["preset"], str(row["batch"]), str(row["length"]), str(row["vocab"]),
        f"{row['parameters'] / 1e6:.2f}M", f"{row['unmask_tokens_per_second']:,.0f}",
        f"{row['plain_tokens_per_second']:,.0f}", f"{row['ratio']:.3f}",
    ]  # fmt: skip
    if "cpu_ratio" in row:
        header.append("CPU-time ratio")
        cells.append(f"{row['cpu_ratio']:.3f}")
    widths = [max(len(h), len(c)) for h, c in zip(header, cells, strict=True)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    for side in ("unmask", "plain"):
        times = ", ".join(f"{s:.3f}" for s in row["seconds"][side])
        cpu = ", ".join(f"{s:.3f}" for s in row["cpu_seconds"][side])
        print(f"  {side:>6}: {row['steps']} steps in {times} s (CPU time {cpu} s)")
    print(
        f"  {row['device']}, {row['precision']}, {row['threads']} threads; best of {row['repeats']} after "
        f"{row['warmup']} warm-up steps; loss parity {row['loss_parity']:.1e} (relative)"
    )
    call = "model.raw_logits(z, t)" if row["plain_raw_logits"] else "model(z, t) (with carry-over)"
    print(f"  the plain loop calls {call}")
    verdict = "within" if row["ratio"] >= 0.9 else "NOT within"
    print(f"  unmask is {verdict} 10% of the plain loop (ratio {row['ratio']:.3f}, aim >= 0.9)")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=PRESETS, default="small", help="model size (ModelConfig.preset)")
    parser.add_argument("--batch", "-B", type=int, default=32, help="sequences per step")
    parser.add_argument("--length", "-L", type=int, default=128, help="tokens per sequence")
    parser.add_argument("--vocab", "-V", type=int, default=256, help="vocabulary size")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before the timed ones")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side (the best is kept)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32", help="bfloat16: autocast")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--plain-raw-logits",
        action="store_true",
        help="the plain loop calls model.raw_logits, skipping the carry-over that the loss never reads",
    )
    parser.add_argument("--json", default=None, help="also write the record to this JSON file")
    args = parser.parse_args(argv)
    for name in ("batch", "length", "vocab", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 1:
        parser.error(f"--warmup must be at least 1 (the clock starts after a step), got {args.warmup}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available here")
    if args.precision == "bfloat16" and args.device != "cuda":
        parser.error(
            "--precision bfloat16 is for --device cuda (bf16 autocast on the CPU is not what we time)"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    row = measure(args)
    print_table(row)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(row, stream, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()

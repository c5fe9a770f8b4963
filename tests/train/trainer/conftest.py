"""Shared pieces of the trainer tests: a tiny model with dropout, a tied output and a buffer, a
training step whose batch is a function of a generator, and a umask fixture."""

from __future__ import annotations

import os

import pytest
import torch

from unmask.train.trainer import ExponentialMovingAverage


class Tiny(torch.nn.Module):
    """Embedding (``V + 1`` rows: the mask id), a hidden layer, dropout, an output of ``V`` columns
    and a buffer; ``tied=True`` adds a second head sharing the output weight (two names, one
    parameter). ``config`` carries ``vocab_size`` like the library's models."""

    def __init__(self, vocab_size: int = 7, width: int = 8, dropout: float = 0.3, tied: bool = False):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "width": width}
        self.embed = torch.nn.Embedding(vocab_size + 1, width)
        self.hidden = torch.nn.Linear(width, width)
        self.drop = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(width, vocab_size)
        if tied:
            self.head = torch.nn.Linear(width, vocab_size)
            self.head.weight = self.out.weight
        self.register_buffer("scale", torch.full((1,), 1.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(torch.tanh(self.hidden(self.embed(x))))) * self.scale


def train_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: ExponentialMovingAverage | None,
    data: torch.Generator,
    steps: int,
    vocab_size: int = 7,
) -> None:
    """``steps`` steps of cross-entropy on random tokens drawn from ``data`` (dropout draws from the
    global generator), each followed by an EMA update."""
    model.train()
    for _ in range(steps):
        x = torch.randint(0, vocab_size + 1, (4, 5), generator=data)
        y = torch.randint(0, vocab_size, (4, 5), generator=data)
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, vocab_size), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema.update(model)


def make_run(seed: int, **model_options) -> tuple[Tiny, torch.optim.AdamW, ExponentialMovingAverage]:
    """A model (initialised from ``seed``), AdamW with weight decay and amsgrad, and an EMA."""
    torch.manual_seed(seed)
    model = Tiny(**model_options)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1, amsgrad=True)
    return model, optimizer, ExponentialMovingAverage(model, decay=0.9)


@pytest.fixture
def umask():
    """Set the process umask for a test; the previous one comes back afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)

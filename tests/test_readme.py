"""Every Python snippet of the README runs as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_snippets() -> None:
    """The README shows code (so the next test checks something)."""
    assert len(_snippets()) >= 5


def _run_in_order() -> dict:
    """The namespace after executing every snippet, one after the other."""
    namespace: dict = {}
    for number, code in enumerate(_snippets()):
        try:
            exec(compile(code, f"README snippet {number}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the failure message names the snippet
            pytest.fail(f"README snippet {number} failed: {error!r}\n{code}")
    return namespace


def test_every_snippet_runs_in_order(tmp_path, monkeypatch) -> None:
    """Executing the snippets one after the other (in a fresh folder: the training snippet writes
    its run there) raises nothing; the exact-law claim of the sampler-writing snippet holds (TV
    below 1e-12); the own-model snippet ends with a finite likelihood estimate for each of its
    three sequences; the training snippet's run validates in bits per token."""
    monkeypatch.chdir(tmp_path)
    namespace = _run_in_order()
    assert 0 < namespace["run"].validation["val_bits_per_token"] < 10
    assert (tmp_path / "hmm-run" / "checkpoints" / "latest").is_file()
    law, target = namespace["gibbs_law"], namespace["target"]
    assert namespace["unmask"].exact.tv(law, target.probs()) < 1e-12
    score = namespace["score"]
    assert score.nll.shape == (3,) and bool(score.nll.isfinite().all())
    assert bool((score.stderr > 0).all())


def test_the_own_model_snippet_covers_every_registered_sampler() -> None:
    """The "Your own model" snippet loops over ``unmask.samplers.names(process)`` for both
    processes (so a newly registered sampler is run by it too) and scores with ``nelbo``."""
    (code,) = [snippet for snippet in _snippets() if "class TinyDenoiser" in snippet]
    assert "unmask.samplers.names(process.name)" in code
    assert "unmask.MaskedProcess()" in code and "unmask.UniformProcess()" in code
    assert "unmask.likelihood.nelbo(" in code

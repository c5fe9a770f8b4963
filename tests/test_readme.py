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


def test_every_snippet_runs_in_order() -> None:
    """Executing the snippets one after the other raises nothing; the exact-law claim of the
    sampler-writing snippet holds (TV below 1e-12)."""
    namespace: dict = {}
    for number, code in enumerate(_snippets()):
        try:
            exec(compile(code, f"README snippet {number}", "exec"), namespace)
        except Exception as error:  # pragma: no cover - the failure message names the snippet
            pytest.fail(f"README snippet {number} failed: {error!r}\n{code}")
    law, target = namespace["gibbs_law"], namespace["target"]
    assert namespace["unmask"].exact.tv(law, target.probs()) < 1e-12

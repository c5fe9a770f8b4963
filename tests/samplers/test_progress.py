"""Long runs show progress on standard error: ``show_progress=True`` writes step counts there
(never on standard output), ``False`` writes nothing, and the default stays silent off a terminal."""

from __future__ import annotations

import io

import pytest
import torch

import unmask
from unmask.progress import StepProgress

V, L = 3, 5


def run(**options):
    target = unmask.targets.MarkovChain.random(vocab_size=V, length=L, concentration=0.5, seed=0)
    return unmask.sample(target.denoiser(), "euler", vocab_size=V, length=L, batch_size=2, steps=20,
                         generator=0, **options)  # fmt: skip


def test_progress_goes_to_standard_error_with_the_step_count(capsys) -> None:
    """With show_progress=True the last line on stderr counts every step of the grid; stdout
    stays empty; the tokens are those of a run without progress."""
    shown = run(show_progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "unmask.sample: step 20/20 (100%)" in err.splitlines()[-1]
    assert torch.equal(shown.tokens, run(show_progress=False).tokens)


@pytest.mark.parametrize("show_progress", [False, None])
def test_no_progress_when_off_or_off_a_terminal(capsys, show_progress) -> None:
    """False never writes; None writes only on a terminal (pytest's capture is not one)."""
    run(show_progress=show_progress)
    assert capsys.readouterr() == ("", "")


def test_bad_show_progress_is_refused() -> None:
    with pytest.raises(TypeError, match="show_progress must be True, False or None, got 'yes'"):
        run(show_progress="yes")


def test_progress_waits_for_its_delay_and_rate() -> None:
    """Nothing is written before the delay; off a terminal each update is a line of its own."""
    stream = io.StringIO()
    late = StepProgress("run", 10, stream=stream, delay=3600.0)
    late.update(5)
    late.close(10)
    assert stream.getvalue() == ""
    now = StepProgress("run", None, stream=stream, delay=0.0, interval=0.0)
    now.update(3)
    now.close(4)
    assert stream.getvalue().splitlines()[0].startswith("run: step 3, ")
    assert stream.getvalue().splitlines()[1].startswith("run: step 4, ")

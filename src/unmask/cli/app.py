"""``unmask``: the command-line tool. ``unmask bench`` runs the sampler benchmark; ``unmask sample``
draws sequences from a built-in target or a trained checkpoint; ``unmask likelihood`` scores
sequences; ``unmask train`` trains a model; ``unmask generate`` continues prompts with a Hugging Face
model; ``unmask export`` saves a trained model as one.

Bad options end with a one-line ``Error: ...`` naming the option, and exit status 2, before any
work starts.
"""

from __future__ import annotations

import typer

from .bench_command import bench
from .export_command import export_command
from .generate_command import generate_command
from .likelihood_command import likelihood_command
from .sample_command import sample_command
from .train_command import train_command

HELP = (
    "Samplers for masked and uniform discrete diffusion, checked against exact answers.\n\n"
    "Run `unmask bench` to see which sampler to use at a budget of model calls and how far each "
    "one's output is from the truth."
)


def build_app() -> typer.Typer:
    """The typer application with its commands."""
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    app.command("bench")(bench)
    app.command("sample")(sample_command)
    app.command("likelihood")(likelihood_command)
    app.command("train")(train_command)
    app.command("generate")(generate_command)
    app.command("export")(export_command)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console entry point (exits with the command's status)."""
    build_app()(args=argv)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``unmask`` command-line tool (needs the ``cli`` extra: typer and rich)."""

"""What the four command-line programs share (their dialect): checks of common options.

Library code never imports this module; only the thin CLI modules do.
"""

from __future__ import annotations

from pathlib import Path

import typer


def check_out(out: Path | None) -> None:
    """``--out`` must be a directory or not exist yet: a usage error (exit 2) naming the file in
    the way, checked before any costly work."""
    if out is None:
        return
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise typer.BadParameter(
                    f"{p} is an existing file, not a directory", param_hint="--out"
                )
            return

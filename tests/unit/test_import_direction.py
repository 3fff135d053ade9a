"""The import-direction check (.ci/import_direction.py) catches what it exists to catch."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "import_direction.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_direction", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_downward_tree_has_no_problems(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "db/__init__.py": "",
            "db/models.py": "from catalog import gpus\n",
            "catalog/__init__.py": "",
            "catalog/gpus.py": "",
            "services/__init__.py": "",
            "services/jobs.py": "from db.models import x\nfrom . import other\n",
            "services/other.py": "",
        },
    )
    problems, graph = _checker().problems_in(root)
    assert problems == []
    assert set(graph["services.jobs"]) == {"db.models", "services", "services.other"}


def test_an_upward_import_is_reported_with_its_line(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "db/__init__.py": "",
            "db/models.py": "import os\n\nfrom services.costs import money\n",
            "services/__init__.py": "",
            "services/costs.py": "",
        },
    )
    problems, _ = _checker().problems_in(root)
    assert len(problems) == 1
    assert problems[0].startswith("db/models.py:3: db (rank 2) imports services.costs (rank 3)")


def test_siblings_of_one_rank_may_not_import_each_other(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"jobs/__init__.py": "", "jobs/cycle.py": "from components import charts\n"})
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "__init__.py").write_text("")
    (tmp_path / "components" / "charts.py").write_text("")
    problems, _ = _checker().problems_in(root)
    assert [p.split(": ", 1)[0] for p in problems] == ["jobs/cycle.py:1"]


def test_a_cycle_inside_one_package_is_reported_even_through_a_function_level_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "jobs/__init__.py": "",
            "jobs/cycle.py": "def f():\n    from jobs.queue import g\n",
            "jobs/queue.py": "from jobs.cycle import f\n",
        },
    )
    problems, _ = _checker().problems_in(root)
    assert problems == ["import cycle: jobs.cycle <-> jobs.queue"]


def test_the_repository_itself_is_clean() -> None:
    problems, graph = _checker().problems_in()
    assert len(graph) > 50
    assert problems == []

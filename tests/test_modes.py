"""The training modes as registered objects: the registry, the layers below it, and adding a mode."""

from __future__ import annotations

import ast
import re
import shutil
import textwrap
from pathlib import Path

import pytest

import atest.core.training.modes as modes
from atest.core.errors import InputError
from atest.core.training.config import config_dir
from atest.core.training.modes import MODES, TEST_GRPO_MODES, get_mode
from atest.core.training.runner import plan_run

TRAINING = Path(modes.__file__).resolve().parents[1]
DOCS = TRAINING.parents[2] / "docs" / "training.md"


def test_the_registry_lists_every_mode_in_order():
    assert MODES == ("utrl", "atgen-static", "atgen-unconditional", "atgen-adaptive", "codegen", "sft")
    assert MODES[:4] == TEST_GRPO_MODES
    assert all(get_mode(name).name == name for name in MODES)
    with pytest.raises(InputError, match=r"unknown mode 'utrl-v2'.*choose one of utrl, atgen-static"):
        get_mode("utrl-v2")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside a function (not for type checking)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_no_layer_imports_the_modes_or_the_runner():
    """config, run/, trainer/ and phases/ never import the layers above them, not even inside a
    function, so no import circle can hide behind a function-level import."""
    above = re.compile(r"^atest\.core\.training\.(modes|runner)\b")
    below = [
        TRAINING / "config.py",
        *(p for d in ("run", "trainer", "phases") for p in (TRAINING / d).glob("*.py")),
    ]
    for path in below:
        assert not {m for m in _imports(path) if above.match(m)}, path


def test_no_module_outside_the_modes_names_a_mode():
    """A mode is asked, never compared by name (`mode == "utrl"`, `is_atgen`)."""
    names = "|".join(re.escape(name.split("-")[0]) for name in MODES)
    branch = re.compile(rf"""\bmode\s*(==|!=|in|not in)\s*\(?["']({names})|is_atgen|startswith\(["']atgen""")
    package = TRAINING.parents[1]
    for path in package.rglob("*.py"):
        if TRAINING / "modes" not in path.parents:
            assert not branch.search(path.read_text(encoding="utf-8")), path


def _docs_example() -> str:
    """The example mode module of docs/training.md, "Where the code is, and adding a mode"."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"```python\n# atest/core/training/modes/atgen_stubborn\.py\n(.*?)```", text, re.S)
    assert block is not None
    return block.group(1)


def test_a_new_mode_is_one_module_plus_its_config_file(tmp_path, monkeypatch):
    """The documented example: the module in a folder the registry lists, its YAML files in a
    config folder; `plan_run` then checks a run of it like any ATGEN mode's."""
    extra = tmp_path / "modes"
    extra.mkdir()
    (extra / "atgen_stubborn.py").write_text(_docs_example(), encoding="utf-8")
    monkeypatch.setattr(modes, "__path__", [*modes.__path__, str(extra)])
    monkeypatch.setattr(modes, "REGISTRY", modes._discover())
    configs = tmp_path / "configs"
    shutil.copytree(config_dir(), configs)
    for folder in (configs, configs / "cpu-smoke"):
        (folder / "atgen-stubborn.yaml").write_text("base: atgen-adaptive.yaml\nmode: atgen-stubborn\n")
    monkeypatch.setenv("ATEST_CONFIG_DIR", str(configs))

    mode = get_mode("atgen-stubborn")
    assert list(modes.REGISTRY).index("atgen-stubborn") == MODES.index("atgen-adaptive") + 1
    assert mode.due({0: [], 1: [], 2: []}, caught=[1]) == [0, 2]
    plan = plan_run(out=tmp_path / "run", mode="atgen-stubborn", preset="cpu-smoke")
    assert plan.config.mode == "atgen-stubborn" and set(plan.base_dirs) == {"test", "adversary"}
    assert plan.tasks and all(t.buggy_code and t.gold_tests for t in plan.tasks)
    with pytest.raises(InputError, match=r"validation\.select is 'step 99' but a phase trains only"):
        plan_run(
            out=tmp_path / "run",
            mode="atgen-stubborn",
            preset="cpu-smoke",
            overrides=["validation.select=step 99"],
        )


def test_resume_reads_the_saved_config_and_checks_its_mode(tmp_path):
    from atest.core.training.config import dump_config, load_config
    from atest.core.training.runner import resolve_config

    with pytest.raises(InputError, match="holds no run"):
        resolve_config(None, resume_dir=tmp_path)
    config = load_config("utrl", preset="cpu-smoke")
    (tmp_path / "config.yaml").write_text(dump_config(config).replace("mode: utrl", "mode: utrl-v2"))
    with pytest.raises(InputError, match="unknown mode 'utrl-v2'"):
        resolve_config(None, resume_dir=tmp_path)
    (tmp_path / "config.yaml").write_text(dump_config(config))
    with pytest.raises(InputError, match="--mode sft but the run in"):
        resolve_config("sft", resume_dir=tmp_path)
    assert resolve_config(None, resume_dir=tmp_path, overrides=["seed=3"]).seed == 3
    text = textwrap.dedent(dump_config(config))
    assert "mode: utrl" in text

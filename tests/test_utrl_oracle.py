"""UTRL's own code as the oracle (../shared/oracle/utrl, values from the authors' scripts).

Under `--paper utrl` every reward, best-of-N cell and fidelity must equal the authors' value.
Under atest's rules every difference must be explained by a named row of the departures
table in docs/rewards.md: each row has a detector here that looks at the response text or
at real runs of the task's programs, and a response whose value differs must trip at least
one of them.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from atest_cli import run_cli

from atest.core.paper import utrl as paper
from atest.core.parsing import DUPLICATE, parse_tests
from atest.core.sandbox import Job, Limits, Program, get_executor, outputs_match
from atest.core.tasks import read_tasks

ROOT = Path(__file__).resolve().parents[1]
ORACLE = Path(__file__).resolve().parents[2] / "shared" / "oracle" / "utrl"
pytestmark = pytest.mark.skipif(not (ORACLE / "tasks.jsonl").exists(), reason="no shared UTRL oracle")
TOL = 1e-6
LIMITS = ("--cpu-seconds", "1")
SOURCES = ("S0_clean", "S1_wrong", "S2_dups", "S3_malformed", "S4_reformat")


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (ORACLE / name).read_text().splitlines() if line.strip()]


def _departure_ids() -> set[str]:
    text = (ROOT / "docs" / "rewards.md").read_text()
    table = text.split("## Where we deliberately differ from the papers' code", 1)[1]
    return set(re.findall(r"^\| `([a-z]+\.[a-z-]+)` \|", table, re.MULTILINE))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Tests files per source in gen-tests' format (atest's parse plus the raw response)."""
    tasks, _ = read_tasks(ORACLE / "tasks.jsonl")
    by_id = {t.task_id: t for t in tasks}
    root = tmp_path_factory.mktemp("oracle")
    rows = defaultdict(list)
    for r in _rows("bon_sources.jsonl"):
        parsed = parse_tests(r["response"], by_id[r["task_id"]].kind, template="utrl-test")
        rows[r["source"]].append(
            {"task_id": r["task_id"], "tests": parsed.tests, "responses": [r["response"]]}
        )
    for source, lines in rows.items():
        (root / f"{source}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return root


def _reward(work: Path, *flags: str) -> dict[str, dict]:
    out = work / f"reward{'-'.join(flags)}.jsonl"
    tasks, responses = ORACLE / "tasks.jsonl", ORACLE / "responses.jsonl"
    args = ["reward", "--kind", "utrl-test", "--tasks", str(tasks), "--responses", str(responses)]
    result = run_cli(*args, "--out", str(out), "--json", *LIMITS, *flags)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["n_responses"] == 63
    return {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}


def _bon(work: Path, source: str, *flags: str) -> list[dict]:
    tests = source if source == "ground_truth" else str(work / f"{source}.jsonl")
    out = work / f"bon-{source}{'-'.join(flags)}.jsonl"
    args = ["bon", "--tasks", str(ORACLE / "tasks.jsonl"), "--tests", tests, "--out", str(out)]
    result = run_cli(*args, "--json", "--cache-dir", str(work / "cache"), *LIMITS, *flags)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def _fidelity(work: Path, source: str, *flags: str) -> dict[str, float]:
    out = work / f"fid-{source}{'-'.join(flags)}.jsonl"
    args = ["fidelity", "--tasks", str(ORACLE / "tasks.jsonl"), "--tests", str(work / f"{source}.jsonl")]
    result = run_cli(*args, "--out", str(out), "--json", "--cache-dir", str(work / "cache"), *LIMITS, *flags)
    assert result.returncode == 0, result.stderr
    return {r["task_id"]: r["spearman"] or 0.0 for r in map(json.loads, out.read_text().splitlines())}


# ------------------------------------------------------------------ --paper utrl: exact


@pytest.fixture(scope="module")
def paper_bon(work) -> dict[str, list[dict]]:
    """`bon --paper utrl` details per test source; its runs fill the cache fidelity reads."""
    return {source: _bon(work, source, "--paper", "utrl") for source in ("ground_truth", *SOURCES)}


def test_paper_test_reward_equals_the_authors_on_every_response(work):
    ours = _reward(work, "--paper", "utrl")
    oracle = _rows("utrl_test_reward.jsonl")
    assert len(oracle) == len(ours) == 63
    for want in oracle:
        got = ours[want["id"]]
        assert got["reward"] == pytest.approx(want["reward"], abs=TOL), want["id"]
        for key, value in got["components"].items():
            assert value == pytest.approx(want[key], abs=TOL), (want["id"], key)


def test_paper_bon_equals_the_authors_on_every_cell(paper_bon):
    oracle = {(r["source"], r["solution_model"], r["task_id"]): r for r in _rows("utrl_bon.jsonl")}
    seen = 0
    for source, details in paper_bon.items():
        for cell in details:
            want = oracle[(source, cell["model"], cell["task_id"])]
            key = (source, cell["model"], cell["task_id"])
            assert cell["scores"] == pytest.approx(want["scores"], abs=TOL), key
            assert cell["selected_passed_gold"] == want["selected_passed_gold"], key
            if isinstance(want["best_score"], str):  # "Failed to extract any test cases."
                assert cell["best_score"] is None and cell["selected"] == 0, key
            else:
                assert cell["best_score"] == pytest.approx(want["best_score"], abs=TOL), key
            seen += 1
    assert seen == len(oracle) == 180


def test_paper_fidelity_equals_the_authors_on_every_task(work, paper_bon):
    oracle = {(r["source"], r["task_id"]): r["fidelity"] for r in _rows("utrl_fidelity.jsonl")}
    seen = 0
    for source in SOURCES:
        for task_id, rho in _fidelity(work, source, "--paper", "utrl").items():
            assert rho == pytest.approx(oracle[(source, task_id)], abs=TOL), (source, task_id)
            seen += 1
    assert seen == len(oracle) == 75


# ------------------------------------------------------------------ atest's rules: explained


def _text_departures(response: str, kind: str = "stdio") -> set[str]:
    """Departures visible in the response text alone."""
    rows = set()
    parsed = parse_tests(response, kind, template="utrl-test")
    authors = paper.parse_tests(response)
    if "\r" in response:
        rows.add("parse.crlf")
    if re.search(r"^[ \t>#*]*(Input|Output)[ \t]*:[ \t]*\S", response, re.MULTILINE):
        rows.add("parse.same-line")
    if re.search(r"```python[^`]*Input:", response):
        rows.add("parse.python-fence")
    inside = "".join(re.findall(r"<reasoning>(.*?)</reasoning>", response, re.DOTALL | re.IGNORECASE))
    if any(f"Input:\n{t.input}" in inside for t in authors if t.input):
        rows.add("parse.reasoning")
    if response.count("```") % 2:
        rows.add("parse.unclosed-fence")
    if any(t["input"] != t["input"].strip() + "\n" for t in parsed.tests):
        rows.add("parse.stdin-verbatim")
    if any(reason == DUPLICATE for reason, _ in parsed.dropped) or len(paper.unique_tests(authors)) != len(
        authors
    ):
        rows.add("parse.duplicates")
    if re.search(r"<(/?)reasoning>", response, re.IGNORECASE) and re.search(
        r"<(/?)REASONING>|<Reasoning>", response
    ):
        rows.add("format.tag-case")
    if re.search(r"<reasoning>\s*</reasoning>", response, re.IGNORECASE):
        rows.add("format.non-empty-reasoning")
    if not response.strip().endswith("```"):
        rows.add("format.final-fence")
    if response.count("<reasoning>") != len(authors):
        rows.add("format.reasoning-per-test")
    if not parsed.tests:
        rows.add("score.zero-tests")
    return rows


class _Runs:
    """Each program of a task run on each test input twice: as atest runs it, and as the
    authors' runner does (header prepended); judge departures are read off the pair."""

    def __init__(self, executor):
        self.executor = executor

    def departures(self, task, tests: list[dict]) -> set[str]:
        codes = [task.gold_solutions[0], *task.candidates["m1"]]
        rows = set()
        jobs, keys = [], []
        for code in codes:
            if paper.program_source(code) is None:
                rows.add("judge.language")
                continue
            for t in tests:
                if not str(t["output"]).strip():
                    rows.add("judge.empty-output")
                for source in (code, paper.HEADER + code):
                    jobs.append(Job(Program(source, "stdio"), t["input"].strip(), Limits(cpu_seconds=1)))
                keys.append(t)
        results = self.executor.run(jobs)
        for i, t in enumerate(keys):
            plain, headed = results[2 * i], results[2 * i + 1]
            if (plain.status, plain.output) != (headed.status, headed.output):
                rows.add("judge.header")
            if headed.stderr_tail:
                rows.add("judge.stderr")
            out = plain.output if isinstance(plain.output, str) else None
            if out is not None and outputs_match("stdio", t["output"], out) != (
                out.strip() == t["output"].strip()
            ):
                floaty = re.search(r"\d\.|\de", out + " " + t["output"])
                rows.add("judge.float-tolerance" if floaty else "judge.token-wise")
        return rows


@pytest.fixture(scope="module")
def runs():
    with get_executor(workers=2) as executor:
        yield _Runs(executor)


def _tests_of(response: str) -> list[dict]:
    both = [t.to_dict() for t in paper.unique_tests(paper.parse_tests(response))]
    both += parse_tests(response, "stdio", template="utrl-test").tests
    return both


@pytest.mark.slow
def test_atest_test_reward_differs_only_where_a_departure_explains_it(work, runs):
    tasks = {t.task_id: t for t in read_tasks(ORACLE / "tasks.jsonl")[0]}
    known = _departure_ids()
    ours = _reward(work)
    agree, unexplained = 0, []
    for want in _rows("utrl_test_reward.jsonl"):
        got = ours[want["id"]]
        if abs(got["reward"] - want["reward"]) <= TOL:
            agree += 1
            continue
        task = tasks[want["task_id"]]
        why = _text_departures(got["response"]) | runs.departures(task, _tests_of(got["response"]))
        assert why <= known, f"departures missing from docs/rewards.md: {why - known}"
        if not why:
            unexplained.append(want["id"])
    assert not unexplained
    assert agree == 22  # of 63 on this half of the fixture; recorded in docs/rewards.md


@pytest.mark.slow
def test_atest_bon_and_fidelity_differ_only_where_a_departure_explains_it(work, runs):
    tasks = {t.task_id: t for t in read_tasks(ORACLE / "tasks.jsonl")[0]}
    known = _departure_ids()
    bon_oracle = {(r["source"], r["solution_model"], r["task_id"]): r for r in _rows("utrl_bon.jsonl")}
    fid_oracle = {(r["source"], r["task_id"]): r["fidelity"] for r in _rows("utrl_fidelity.jsonl")}
    responses = {(r["source"], r["task_id"]): r["response"] for r in _rows("bon_sources.jsonl")}
    agree_bon = agree_fid = 0
    unexplained = []
    for source in ("ground_truth", *SOURCES):
        details = _bon(work, source, "--tie", "last")
        fidelity = _fidelity(work, source) if source != "ground_truth" else {}
        for cell in details:
            key = (source, cell["model"], cell["task_id"])
            ours = float(cell["value"])
            if ours == bon_oracle[key]["selected_passed_gold"]:
                agree_bon += 1
                continue
            unexplained += _explain(
                runs,
                tasks[cell["task_id"]],
                responses.get(key[::2]),
                known,
                key,
                {"bon.no-tests"} if cell["n_tests"] == 0 else set(),
            )
        for task_id, rho in fidelity.items():
            if abs(rho - fid_oracle[(source, task_id)]) <= TOL:
                agree_fid += 1
                continue
            unexplained += _explain(
                runs, tasks[task_id], responses[(source, task_id)], known, (source, task_id), set()
            )
    assert not unexplained
    assert (agree_bon, agree_fid) == (173, 45)  # of 180 and 75; recorded in docs/rewards.md


def _explain(runs, task, response, known, key, extra: set[str]) -> list:
    if response is None:  # ground truth: the gold tests as tests
        tests = task.gold_tests
        why = set(extra)
    else:
        tests = _tests_of(response)
        why = _text_departures(response) | extra
        why |= {"bon.duplicates"} if "parse.duplicates" in why else set()
    why |= runs.departures(task, tests)
    assert why <= known, f"departures missing from docs/rewards.md: {why - known}"
    return [] if why else [key]

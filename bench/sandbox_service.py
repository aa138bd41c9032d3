"""`atest sandbox serve` under load on loopback, against the in-process executor.

A fixed number of stdio programs (bench/sandbox.py's workload: accepted, wrong, crashing and
a few infinite loops, every input distinct so no cache answers) run three ways:

* in-process: one `get_executor(workers=W).run(jobs)` call (the executor's best case), and
  calls of `--clients` jobs (the size of the batches the server merges);
* through the service with SandboxFusion's own client: `--clients` threads, each sending one
  `sandbox_fusion.run_code` request per program to a real `atest sandbox serve` on
  127.0.0.1 (W workers), the way verl's reward workers call a SandboxFusion deployment;
* through the service with atest's `sandboxfusion` executor (atest's batch endpoint).

Every answer is compared with the in-process verdict (status and output); throughput is
given as a ratio to in-process, latency as quantiles of one request.

    .venv/bin/python bench/sandbox_service.py                      # 2,000 requests, 64 clients
    .venv/bin/python bench/sandbox_service.py --requests 500 --clients 16

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sandbox import workload

from atest.core.sandbox import Job, Limits, Status, get_executor
from atest.core.sandbox.executor import CachedExecutor
from atest.core.sandbox.fusion import FusionProvider
from atest.core.sandbox.service import LocalServer, ServiceLimits
from atest.core.sandbox.settings import SandboxSettings

RUN_TIMEOUT = 1.0  # seconds: /run_code's limit, CPU and wall alike (what the server maps it to)


def as_served(job: Job) -> Job:
    """The job with the limits `/run_code` gives a program (run_timeout as CPU and wall)."""
    served = ServiceLimits()
    return Job(
        job.program,
        job.input,
        Limits(RUN_TIMEOUT, served.default_memory_mb, served.output_bytes, RUN_TIMEOUT),
    )


def fusion_view(status: Status, output: str | None) -> tuple[str, str, str | None]:
    """What a SandboxFusion client sees of a verdict: (status, run status, stdout if it passed)."""
    if status is Status.OK:
        return "Success", "Finished", output
    return "Failed", "TimeLimitExceeded" if status is Status.TIME_LIMIT else "Finished", None


def quantiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100)
    return {
        "p50_ms": cuts[49] * 1000,
        "p90_ms": cuts[89] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(values) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="programs sent (fixed count)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers, in-process and served")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sandbox_fusion import RunCodeRequest, run_code

    jobs = [as_served(job) for job, _ in workload(args.requests, 0, args.seed)]
    batch_jobs = [as_served(job) for job, _ in workload(args.requests, 0, args.seed + 1)]
    with get_executor(workers=args.workers) as local:
        start = time.perf_counter()
        expected = local.run(jobs)
        inproc_seconds = time.perf_counter() - start
        expected_batch = local.run(batch_jobs)
        small_jobs = [as_served(job) for job, _ in workload(args.requests, 0, args.seed + 2)]
        start = time.perf_counter()
        for first in range(0, len(small_jobs), args.clients):  # calls the size the server merges
            local.run(small_jobs[first : first + args.clients])
        small_rate = len(small_jobs) / (time.perf_counter() - start)
    inproc_rate = len(jobs) / inproc_seconds
    print(
        f"in-process: {inproc_rate:,.0f} executions/s ({args.workers} workers), "
        f"{small_rate:,.0f}/s in calls of {args.clients}",
        file=sys.stderr,
    )

    with LocalServer("--workers", str(args.workers), "--max-pending", str(4 * args.clients)) as server:
        run_code(RunCodeRequest(code="print(1)", language="python"), endpoint=server.url)  # warm

        def one(job: Job) -> tuple[float, tuple]:
            begin = time.perf_counter()
            request = RunCodeRequest(
                code=job.program.source, stdin=job.input, language="python", run_timeout=RUN_TIMEOUT
            )
            answer = run_code(request, endpoint=server.url, max_attempts=1)
            run = answer.run_result
            seen = (
                answer.status.value,
                run.status.value,
                run.stdout if answer.status.value == "Success" else None,
            )
            return time.perf_counter() - begin, seen

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            answers = list(pool.map(one, jobs))
        served_seconds = time.perf_counter() - start
        latencies = [seconds for seconds, _ in answers]
        differ = sum(
            seen != fusion_view(want.status, want.output)
            for (_, seen), want in zip(answers, expected, strict=True)
        )
        served_rate = len(jobs) / served_seconds
        print(
            f"served, {args.clients} sandbox_fusion clients: {served_rate:,.0f} requests/s "
            f"({served_rate / inproc_rate:.2f} of in-process), {differ} verdict(s) differ",
            file=sys.stderr,
        )

        settings = SandboxSettings(executor="sandboxfusion", url=server.url)
        with CachedExecutor(FusionProvider(settings, workers=4)) as remote:
            start = time.perf_counter()
            got = remote.run(batch_jobs)
            batch_seconds = time.perf_counter() - start
        batch_differ = sum(
            (a.status, a.output) != (b.status, b.output) for a, b in zip(got, expected_batch, strict=True)
        )
        batch_rate = len(batch_jobs) / batch_seconds
        print(
            f"served, atest's sandboxfusion executor (batch endpoint): {batch_rate:,.0f} executions/s "
            f"({batch_rate / inproc_rate:.2f} of in-process), {batch_differ} verdict(s) differ",
            file=sys.stderr,
        )

    figures = {
        "requests": len(jobs),
        "clients": args.clients,
        "workers": args.workers,
        "in_process_per_s": round(inproc_rate, 1),
        "in_process_calls_of_clients_per_s": round(small_rate, 1),
        "service_per_s": round(served_rate, 1),
        "service_ratio": round(served_rate / inproc_rate, 3),
        "latency": {key: round(value, 1) for key, value in quantiles(latencies).items()},
        "service_verdicts_differ": differ,
        "executor_via_batch_per_s": round(batch_rate, 1),
        "executor_via_batch_ratio": round(batch_rate / inproc_rate, 3),
        "executor_verdicts_differ": batch_differ,
        "statuses": {
            s.value: sum(r.status is s for r in expected)
            for s in Status
            if any(r.status is s for r in expected)
        },
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

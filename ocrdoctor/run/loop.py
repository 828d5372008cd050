"""The one loop: a plan over targets, into a Report, with the run's guarantees held once for every kind.

- a target is timed once, from gathering its facts to its last rule;
- a target whose facts cannot be gathered has its rules skipped with the reason: not checked;
- a model the user asked to be judged that cannot be built is not built, with OD126 (the plan);
- a remote target the network does not deliver is unreadable: a run error, never a finding;
- a run in which no target was checked (and none carries a finding, OD126 included) is a usage error,
  never an all-clear.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from ..core.engine import KIND_WORDS, UsageError, not_read, unreadable
from ..core.findings import Report, TargetResult
from ..core.plan import Plan, selection
from ..core.units import count
from .targets import ComparedPage, NotBuilt, NotGathered, Target

GATHERED = {"comparison": ComparedPage}  # the target class of facts a treatment gathers itself


def check_one(plan: Plan, target: Target, keep: contextlib.ExitStack | None = None) -> list[TargetResult]:
    """The target's result, then those of the targets it leads to. With `keep`, what the target gathered stays
    open in that stack after this returns (a deployment builds its predictor from the files it read)."""
    from ..read.remote import RemoteError

    start = time.perf_counter()
    with contextlib.ExitStack() as own:
        try:
            facts = (keep or own).enter_context(target.gather(plan))
            result = timed(target.judge(plan, facts), start)
            after = [r for t in target.leads_to(plan, facts) for r in check_one(plan, t)]
        except NotGathered as exc:
            return [timed(not_read(target.name, target.kind, exc.reason, plan.rules_for(target.kind, target.name)),
                          start)]
        except NotBuilt as exc:
            return [timed(plan.unbuilt(target.name, target.kind, exc.reason, exc.hint), start)]
        except RemoteError as exc:
            return [timed(unreadable(target.name, exc), start)]
    return [result, *after]


def timed(result: TargetResult, start: float) -> TargetResult:
    return replace(result, seconds=time.perf_counter() - start)


def run(plan: Plan, targets: Sequence[Target], *, jobs: int = 1, skipped: Sequence = (),
        on_done: Callable[[Target], None] | None = None,
        on_result: Callable[[TargetResult], None] | None = None) -> Report:
    """Every target through the plan (`jobs` at once; results keep the targets' order), then the Report.
    `on_result` sees each result as soon as it is done (`--format jsonl` streams them)."""
    if not any(plan.rules.values()):  # said before any target is read: a check would pass whatever they hold
        raise UsageError(no_rule_to_run(plan))
    lock = threading.Lock()  # the callbacks are called from the worker threads

    def one(target: Target) -> list[TargetResult]:
        results = check_one(plan, target)
        with lock:
            if on_done:
                on_done(target)
            for result in results if on_result else ():
                on_result(result)
        return results

    if jobs == 1 or len(targets) < 2:
        done = [one(t) for t in targets]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs or None) as pool:
            done = list(pool.map(one, targets))
    return finish(plan, [r for rs in done for r in rs], skipped)


def no_rule_to_run(plan: Plan) -> str:
    """'the selection (--select OD3) leaves no rule to run on files: a check would pass whatever they hold'."""
    kinds = set(plan.kinds)
    if kinds == {"environment"}:
        what = "leaves no environment rule to run"
    elif "checkpoint" in kinds or "onnx" in kinds:
        what = "leaves no rule to run on files: a check would pass whatever the files hold"
    else:
        what = "leaves no rule to run on " + " or ".join(KIND_WORDS.get(k, k) for k in plan.kinds)
    return f"the selection ({selection(plan.settings)}) {what}"


def finish(plan: Plan, results: Iterable[TargetResult], skipped: Sequence = ()) -> Report:
    """The Report of a run; a usage error when no target was checked (nothing any rule looked at is not clean)."""
    report = plan.report(results, skipped)
    if report.targets and not any(t.checked or t.unreadable or t.findings for t in report.targets):
        raise UsageError(nothing_checked(report))
    return report


def nothing_checked(report: Report) -> str:
    """'nothing was checked: det.pt: the selection (--select OD4) holds no rule for checkpoint files'."""
    first = report.targets[0]
    more = len(report.targets) - 1
    rest = f" (and {count(more, 'other target')})" if more else ""
    return f"nothing was checked: {first.target}: {first.reason or first.status}{rest}"


def check_gathered(plan: Plan, kind: str, facts: Sequence) -> Report:
    """Facts a treatment gathered (compare's pages), each as its target, through the same loop."""
    return run(plan, [GATHERED[kind](f) for f in facts])

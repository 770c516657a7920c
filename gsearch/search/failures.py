"""Failed trials: a failure that would repeat is kept with its reason; a lost trial is retried.

A trial fails in one of two ways:

* **for a reason that would repeat**: its network cannot be built, trained or measured
  here (BatchNorm given one value per channel, out of memory, a batch the device cannot
  measure). Running it again would fail again, so the trial keeps its one-line reason
  in the user attribute ``failure``, takes its place among the run's ``trials`` and is
  never retried; the run goes on to other trials.
* **lost**: Ctrl-C, a dead worker (its heartbeat stopped) or a lost storage. Nothing is
  wrong with the trial, so a rerun enqueues it again, at most :data:`MAX_LOST_RETRIES`
  times (Optuna's heartbeat retries count among them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from gsearch.errors import StorageUnavailable
from gsearch.storage import storage_fault

FAILURE_ATTR = "failure"
# Times a lost trial is enqueued again: two retries survive a Ctrl-C and a dead worker.
MAX_LOST_RETRIES = 2
_SHOWN = 10  # failed trials listed one per line; the rest are counted


class RepeatingFailure(Exception):
    """A trial failed for a reason that would repeat (recorded on it; never retried)."""


def is_lost_storage(error: BaseException) -> bool:
    """True when ``error`` is the storage's, not the trial's: the trial is lost, not failed."""
    storage_errors = (
        StorageUnavailable,
        sqlalchemy.exc.SQLAlchemyError,
        optuna.exceptions.StorageInternalError,
    )
    return isinstance(error, storage_errors) or storage_fault(error) is not None


def one_line(error: BaseException) -> str:
    """The reason of a failure in one line (the exception's type where it says nothing)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def record_failure(trial: optuna.Trial, error: Exception) -> RepeatingFailure:
    """Keep ``error``'s reason on ``trial``; the returned exception ends it FAILED."""
    reason = one_line(error)
    trial.set_user_attr(FAILURE_ATTR, reason)
    return RepeatingFailure(reason)


def failed_for_good(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The failed trials whose failure would repeat (they carry their reason)."""
    return [t for t in trials if t.state == TrialState.FAIL and FAILURE_ATTR in t.user_attrs]


def takes_a_slot(trial: FrozenTrial) -> bool:
    """Whether a trial counts among the run's trials: live, complete or failed for good."""
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    return trial.state in live or (
        trial.state == TrialState.FAIL and FAILURE_ATTR in trial.user_attrs
    )


def _key(trial: FrozenTrial) -> str:
    # A waiting (enqueued) trial holds its settings as fixed params until it runs.
    return json.dumps(trial.params or trial.system_attrs.get("fixed_params", {}), sort_keys=True)


def _lost(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [
        t
        for t in trials
        if t.state == TrialState.FAIL and t.params and FAILURE_ATTR not in t.user_attrs
    ]


def requeue_lost(study: optuna.Study) -> int:
    """Enqueue again the settings of lost trials that nothing covers, within the bound.

    A grid sampler counts a failed point as visited, and any sampler may never suggest
    it again; a resumed run finishes what the interrupted one started (training
    continues from the architecture's checkpoint). A setting lost more than
    :data:`MAX_LOST_RETRIES` + 1 times, or failed for good, is not enqueued.
    Returns how many were enqueued.
    """
    trials = study.get_trials(deepcopy=False)
    covered = {_key(t) for t in trials if takes_a_slot(t)}
    losses = Counter(_key(t) for t in _lost(trials))
    count = 0
    for trial in _lost(trials):
        key = _key(trial)
        if key in covered or losses[key] > MAX_LOST_RETRIES:
            continue
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        covered.add(key)
        count += 1
    return count


def _named(trial: FrozenTrial) -> str:
    attrs = trial.user_attrs
    what = " ".join(str(attrs[k]) for k in ("model", "policy") if attrs.get(k))
    return f"trial {trial.number}" + (f" ({what})" if what else "")


def failure_lines(study: optuna.Study) -> list[str]:
    """What a run prints about its failed trials: how many, and why, one line each.

    Empty when no trial failed for good and no lost trial ran out of retries.
    """
    trials = study.get_trials(deepcopy=False)
    lines: list[str] = []
    failed = failed_for_good(trials)
    if failed:
        noun = "trial" if len(failed) == 1 else "trials"
        lines.append(
            f"{len(failed)} {noun} failed for a reason that would repeat (kept with the "
            "reason, not retried):"
        )
        lines += [f"  {_named(t)}: {t.user_attrs[FAILURE_ATTR]}" for t in failed[:_SHOWN]]
        if len(failed) > _SHOWN:
            lines.append(f"  ... and {len(failed) - _SHOWN} more (user attribute {FAILURE_ATTR!r})")
    covered = {_key(t) for t in trials if takes_a_slot(t)}
    losses = Counter(_key(t) for t in _lost(trials))
    given_up = {
        key: t for t in _lost(trials) if (key := _key(t)) not in covered
        and losses[key] > MAX_LOST_RETRIES
    }  # fmt: skip
    if given_up:
        lines.append(
            f"{len(given_up)} setting(s) lost to an interrupt or a dead worker "
            f"{MAX_LOST_RETRIES + 1} times are not retried again: "
            + ", ".join(_named(t) for t in given_up.values())
        )
    return lines

"""The main job end to end on one device: search, Ctrl-C, resume, report, EPF vs profile, workers.

The `search` stage of ``benchmarks/gpu_check.sh``:

1. ``gsearch run --space e2gc`` on digits at proxy fidelity for ``--trials`` trials;
2. SIGINT in the middle of a trial's training, then the same command again: it must
   resume (the interrupted architecture continues from its checkpoint) and finish;
3. ``gsearch report`` on the study;
4. each trial's EPF beside ``gsearch profile`` of the same policies at the same batch,
   resolution and classes, measured in this stage (target: within 2%);
5. ``--workers 2`` on the one device: refused in one line, exit 2, when the source is a
   measured meter (issue 8's decision: a meter is never shared).

Prints a short table last and writes ``search_check.json`` to ``--out``. Exit status 0
only when every step ran as it must (the 2% agreement is a measurement, reported, not a
failure).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from gsearch.spaces import load_space

REPO = Path(__file__).resolve().parent.parent
SPACE = "e2gc"
# The first epoch's checkpoint: about a minute on an H200 (the first trial's EPF, then one
# epoch of the proxy); the stage's time box in gpu_check.sh counts on this bound.
CHECKPOINT_WAIT_S = 150.0


def gsearch(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)])),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gsearch.cli", *args], cwd=cwd, env=env, text=True, **kwargs
    )


def wait_for_checkpoint(storage: str, study: str, folder: Path, limit_s: float) -> int | None:
    """Number of the running trial once its training has written a checkpoint.

    An interrupt after the first epoch's checkpoint shows that a resumed trial continues
    from it, on a machine of any speed.
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            trials = optuna.load_study(study_name=study, storage=storage).trials
        except Exception:  # not created yet, or the database is busy: ask again
            continue
        for trial in trials:
            arch = trial.user_attrs.get("arch")
            if trial.state != TrialState.RUNNING or arch is None:
                continue
            digest = hashlib.sha256(arch.encode()).hexdigest()[:16]  # its checkpoint folder
            if any(folder.rglob(f"{digest}/seed-*/last.pt")):
                return trial.number
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--energy", default="nvml")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--recipe", action="append", default=[], help="KEY=VALUE (tiny runs)")
    parser.add_argument("--out", default=os.environ.get("OUT", "benchmarks/out/search_check"))
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    work = out / "search"
    work.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{work / 'study.db'}"
    study = "gpu-check-e2gc"
    run = ["run", "--space", SPACE, "--dataset", "digits", "--fidelity", "proxy",
           "--trials", str(args.trials), "--device", args.device, "--energy", args.energy,
           "--study", study, "--storage", storage, "--quiet"]  # fmt: skip
    for item in args.recipe:
        run += ["--recipe", item]
    steps: dict[str, Any] = {}
    ok = True

    def save(done: bool = False) -> None:
        """What is measured so far, rewritten after every step: a stage cut off by its
        time box still leaves its results."""
        state = {"ok": bool(ok) if done else None, "finished": done, **steps}
        (out / "search_check.json").write_text(json.dumps(state, indent=1, default=str))

    # 1-2. Run, interrupt a trial mid-training, resume.
    start = time.monotonic()
    first = gsearch(run, work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    victim = wait_for_checkpoint(
        storage, study, work / "studies" / "checkpoints", limit_s=CHECKPOINT_WAIT_S
    )
    if victim is not None and first.poll() is None:
        first.send_signal(signal.SIGINT)
    _, err1 = first.communicate()
    steps["interrupt"] = {"trial": victim, "exit": first.returncode, "stderr": err1.strip()[-300:]}
    ok &= victim is not None and first.returncode == 130
    save()
    second = gsearch(run, work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out2, err2 = second.communicate()
    done = optuna.load_study(study_name=study, storage=storage)
    complete = done.get_trials(states=(TrialState.COMPLETE,))
    retried = [t for t in complete if t.user_attrs.get("retry_of") == victim]
    resumed = [e for t in retried for e in t.user_attrs.get("resumed_from_epochs", [])]
    steps["resume"] = {
        "exit": second.returncode,
        "complete": len(complete),
        "retried_trial": [t.number for t in retried],
        "resumed_from_epochs": resumed,
        "seconds": round(time.monotonic() - start, 1),
        "front": out2.strip().splitlines()[-12:],
        "stderr": err2.strip()[-300:],
    }
    ok &= second.returncode == 0 and len(complete) == args.trials and bool(retried)
    ok &= any(epoch > 0 for epoch in resumed)
    save()

    # 3. The report.
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    report = gsearch(
        ["report", "--study", study, "--storage", storage, "--out", str(out / "report")],
        work,
        **pipes,
    )
    rout, rerr = report.communicate()
    steps["report"] = {"exit": report.returncode, "line": (rout or rerr).strip()[-300:]}
    ok &= report.returncode == 0
    save()

    if not complete:
        ok = False
        save(done=True)
        print(f"search stage: FAILED, no complete trial; resume stderr: {err2.strip()[-300:]}")
        return 1

    # 4. Each trial's EPF beside `gsearch profile` of the same policies, measured now.
    first_trial = complete[0]
    batch = int(first_trial.user_attrs["epf_batch"])
    resolution = int(first_trial.user_attrs["epf_resolution"])
    policies = sorted(
        {t.user_attrs["policy"] for t in complete if "reused_from" not in t.user_attrs}
    )
    model = load_space(SPACE).models[0]  # the model the space searches, as the trials say
    models = {t.user_attrs["model"] for t in complete}
    if models != {model}:
        print(f"search stage: FAILED, trials of {sorted(models)}, the space names {model}")
        return 1
    command = ["profile", "--model", model, "--batch", str(batch), "--resolution",
               str(resolution), "--num-classes", "10", "--device", args.device, "--energy",
               args.energy, "--no-cache", "--format", "json"]  # fmt: skip
    for policy in policies:
        command += ["--policy", policy]
    profiled = gsearch(command, work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pout, perr = profiled.communicate()
    ok &= profiled.returncode == 0
    agreement = []
    if profiled.returncode == 0:
        rows = {r["policy"]: r for r in json.loads(pout) if r.get("pass", "training") == "training"}
        for trial in complete:
            row = rows.get(trial.user_attrs["policy"])
            if row is None or "reused_from" in trial.user_attrs:
                continue
            ratio = trial.values[0] / row["epf"] - 1
            agreement.append({"trial": trial.number, "policy": trial.user_attrs["policy"],
                              "search": trial.values[0], "profile": row["epf"],
                              "unit": row["unit"], "diff": ratio})  # fmt: skip
    steps["epf_vs_profile"] = {"rows": agreement, "stderr": perr.strip()[-300:]}
    save()

    # 5. Two workers on the one device.
    workers = gsearch([*run, "--study", f"{study}-workers", "--workers", "2"], work, **pipes)
    _, werr = workers.communicate()
    lines = werr.strip().splitlines()
    steps["workers"] = {"exit": workers.returncode, "stderr": lines}
    ok &= workers.returncode == 2 and len(lines) == 1 and "would share" in lines[0]

    save(done=True)
    print(f"interrupt: trial {victim}, exit {first.returncode}; resume: exit {second.returncode}, "
          f"{len(complete)}/{args.trials} complete, retried {steps['resume']['retried_trial']} "
          f"resumed from epochs {resumed}; report: exit {report.returncode}; "
          f"workers 2: exit {workers.returncode} ({lines[-1] if lines else ''})")  # fmt: skip
    print("trial EPF vs gsearch profile (target: within 2%)")
    for row in agreement:
        flag = "ok" if abs(row["diff"]) <= 0.02 else "OFF"
        print(f"  trial {row['trial']:>2} {row['policy']:>5}: {row['search']:.4g} vs "
              f"{row['profile']:.4g} {row['unit']}  {100 * row['diff']:+.2f}%  {flag}")  # fmt: skip
    print("search stage:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

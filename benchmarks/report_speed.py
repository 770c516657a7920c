"""How long does `gsearch report` take on a 200-trial study, and how big is the page? (issue 14)

Targets: <= 5 s for the report of a 200-trial study, report.html <= 6 MB.

It writes a 200-trial study into a fresh SQLite file, shaped as `gsearch run --space
per_layer` leaves one (objectives, user attrs, the study's facts; 8 trials repeating an
earlier network, 10 over the energy budget and never trained). Its numbers are
synthetic, drawn from a fixed seed with a plausible trade-off: they exercise the page,
they are no measurement. Then, ``--repeats`` times each (median reported):

* ``cli``: the command a user types, ``gsearch report --storage ... --study ...``, wall
  time of the whole process (Python start, imports, reading the study, every file);
* ``library``: ``open_existing_study`` + ``write_report`` inside one warm process.

Wall and CPU seconds both: on a shared machine the wall time follows the load (printed).

``--screenshot PATH`` also opens the page in headless chromium at 1280 px and saves the
top of it (facts, front, plots) as a PNG: docs/report.png is made that way.
Writes ``report_speed.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import create_trial
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gsearch.report import write_report  # noqa: E402
from gsearch.storage import open_existing_study  # noqa: E402

console = Console()
STUDY = "per_layer-synthetic-proxy"
GROUP_SIZES = (1, 2, 4, 8, 16, 32)
LAYERS = 13  # MobileNet-V1's grouped layers
FACTS = {
    "space": "per_layer",
    "energy_source": "nvml",
    "device": "synthetic numbers (benchmark study, no device)",
    "dataset": "synthetic",
    "fidelity": "proxy",
}


def make_study(url: str, trials: int, seed: int) -> None:
    """A study of ``trials`` complete trials with the attrs a search records."""
    rng = random.Random(seed)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(
        study_name=STUDY, storage=storage, directions=["minimize", "maximize", "minimize"]
    )
    study.set_metric_names(["epf_mj", "top1", "params_m"])
    study_id = storage.get_study_id_from_name(STUDY)
    for key, value in FACTS.items():
        storage.set_study_system_attr(study_id, f"gsearch:{key}", value)
    budget_mj = 38.5
    made: list[dict[str, Any]] = []
    for number in range(trials):
        if made and number % 25 == 24:  # the sampler suggested an earlier network again
            original = rng.choice([m for m in made if "reused_from" not in m["attrs"]])
            attrs = {**original["attrs"], "reused_from": original["number"]}
            study.add_trial(create_trial(values=original["values"], user_attrs=attrs))
            made.append({"number": number, "values": original["values"], "attrs": attrs})
            continue
        sizes = [rng.choice(GROUP_SIZES) for _ in range(LAYERS)]
        share = statistics.mean(s.bit_length() - 1 for s in sizes) / 5  # 0 (G=1) .. 1 (G=32)
        params_m = 4.21 + 1.4 * share**1.5 + rng.uniform(0.0, 0.05)
        epf = 40.0 * (1 - 0.35 * share + 0.5 * (share - 0.6) ** 2) * rng.gauss(1.0, 0.06)
        half_width = epf * rng.uniform(0.005, 0.025)
        top1 = 94.0 + 3.0 * share - 1.5 * (share - 0.5) ** 2 + rng.gauss(0.0, 0.8)
        seeds = sorted(round(top1 + rng.gauss(0.0, 0.6), 2) for _ in range(3))
        attrs: dict[str, Any] = {
            "model": "mobilenet_v1",
            "policy": "layers=" + ",".join(map(str, sizes)),
            "epf": epf,
            "epf_low": epf - half_width,
            "epf_high": epf + half_width * rng.uniform(0.8, 1.3),
            "epf_unit": "mJ",
            "epf_batch": 1,
            "ms_per_frame": epf / 11.0,
            "macs": int(568.7e6 + 540e6 * share**1.5),
            "params": int(params_m * 1e6),
            "fidelity": "proxy",
            "energy_source": "nvml",
            "dataset": "synthetic",
        }
        excess = epf - budget_mj
        if excess > 0:
            attrs["trained"] = False  # over the budget: recorded, never trained
            values = [epf, 0.0, params_m]
        else:
            attrs.update(trained=True, top1_seeds=seeds, top1_spread=seeds[-1] - seeds[0])
            values = [epf, seeds[1], params_m]
        study.add_trial(
            create_trial(values=values, user_attrs=attrs, constraints={"epf_budget": excess})
        )
        made.append({"number": number, "values": values, "attrs": attrs})


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def time_cli(url: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one `gsearch report` process."""
    start, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "gsearch.cli", "report", "--storage", url, "--study", STUDY,
         "--out", str(out)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return time.perf_counter() - start, _cpu_s(resource.RUSAGE_CHILDREN) - cpu


def time_library(url: str, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of reading the study and writing its report in this process."""
    start, cpu = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    study, facts = open_existing_study(url, STUDY)
    write_report(study, out, facts)
    return time.perf_counter() - start, _cpu_s(resource.RUSAGE_SELF) - cpu


def screenshot(page: Path, target: Path) -> None:
    """The top of the page (facts, front, plots) at 1280 px, by headless chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        tab = browser.new_page(viewport={"width": 1280, "height": 2000}, device_scale_factor=1)
        tab.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        tab.goto(page.as_uri())
        tab.wait_for_selector(".scatterlayer path.point")
        bottom = tab.evaluate(
            "() => document.querySelector('#all-trials').getBoundingClientRect().top"
        )
        tab.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 1280, "height": bottom})
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="report-speed-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'study.db'}"
        make_study(url, args.trials, args.seed)
        cli = [time_cli(url, Path(scratch) / f"cli-{i}") for i in range(args.repeats)]
        library = [time_library(url, Path(scratch) / f"lib-{i}") for i in range(args.repeats)]
        page = Path(scratch) / "cli-0" / "report.html"
        document = json.loads((page.parent / "report.json").read_text())
        result = {
            "trials": args.trials,
            "front": len(document["pareto"]),
            "tied": len(document["tied"]),
            "cli_wall_s": [w for w, _ in cli],
            "cli_cpu_s": [c for _, c in cli],
            "library_wall_s": [w for w, _ in library],
            "library_cpu_s": [c for _, c in library],
            "report_html_mb": page.stat().st_size / 1e6,
            "files_mb": sum(p.stat().st_size for p in page.parent.iterdir()) / 1e6,
            "load_average_1min": os.getloadavg()[0],
        }
        if args.screenshot is not None:
            screenshot(page, args.screenshot)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report_speed.json").write_text(json.dumps(result, indent=2))
    median = {k: statistics.median(v) for k, v in result.items() if k.endswith("_s")}
    console.print(
        f"{args.trials} trials ({result['front']} on the front, {result['tied']} tied), "
        f"median of {args.repeats}, load average {result['load_average_1min']:.1f}:\n"
        f"  gsearch report      wall {median['cli_wall_s']:.2f} s, CPU {median['cli_cpu_s']:.2f} s "
        "(target <= 5 s)\n"
        f"  in one process      wall {median['library_wall_s']:.2f} s, "
        f"CPU {median['library_cpu_s']:.2f} s\n"
        f"  report.html {result['report_html_mb']:.2f} MB (target <= 6 MB), "
        f"all files {result['files_mb']:.2f} MB",
        highlight=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

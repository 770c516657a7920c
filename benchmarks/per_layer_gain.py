"""Does one g per layer, chosen for this device, beat every constant policy?

For each model (and pass and batch of the preset):

1. calibrate the per-layer table on this device (`gsearch calibrate`'s measurement: every
   valid g of every grouped layer, plus the anchor network);
2. choose per-layer settings from it: every layer's cheapest g (trade-off w = 0), and the
   settings the `predicted` space picks at a few trade-off weights w (cost + w x params);
3. measure those networks and the paper's constant variants (G and g, 11 for MobileNet-V1)
   together in one process, windows interleaved beside the baseline network, with the
   protocol every gsearch measurement uses (on the CPU: the thread's CPU time, the fastest
   window, read against the baseline);
4. train the proxy on digits over 3 seeds for the best per-layer setting and the two best
   constant policies (the `cpu` and `smoke` presets);
5. print the best constant policy and the best per-layer setting with their costs, the
   gain with its interval, params, top-1 and whether it is within the seed spread, each
   layer's g beside the constant policy's, and each layer's calibrated cost by g (why the
   choice fell where it did; the answer when there is no gain).

    python benchmarks/per_layer_gain.py --preset cpu     # <= 15 min on cpu-2c
    python benchmarks/per_layer_gain.py --preset gpu     # <= 4 min of GPU time
    python benchmarks/per_layer_gain.py --preset smoke   # tiny_convnet, <= 60 s (a test)

Writes ``per_layer_gain.json`` to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gsearch.calibration_plan import calibration_target, policy_layers
from gsearch.candidates import registry_candidate
from gsearch.count import count_model
from gsearch.energy.calibrate import Calibration, calibrate
from gsearch.energy.epf import EpfResult, default_protocol, measure_candidates, open_session
from gsearch.energy.steps import StepConfig
from gsearch.errors import GsearchError
from gsearch.layers import valid_groups
from gsearch.models import create_model, get_family, layer_specs
from gsearch.paper import PAPER_POLICIES
from gsearch.policies import Calibrated, fits, parse_policy

console = Console(width=120)

PRESETS: dict[str, dict[str, Any]] = {
    # A network deployed on a CPU: inference of one 224 px image.
    "cpu": {
        "models": "mobilenet_v1",
        "cases": "inference:1",
        "device": "cpu",
        "energy": "time",
        "resolution": 224,
        "classes": 1000,
        "repeats": 5,
        "window": 0.3,
        "network_repeats": 9,
        "network_window": 0.5,
        "weights": "0.01,0.1,1",
        "seeds": "0,1,2",
    },
    # The same question on the GPU, both models, inference at B = 1 and the e2gc space's
    # training step (B = 16): windows as the GPU check's calibrate stage sizes them.
    "gpu": {
        "models": "mobilenet_v1,resnext50",
        "cases": "inference:1,training:16",
        "device": "cuda",
        "energy": "nvml",
        "resolution": 224,
        "classes": 1000,
        "repeats": 2,
        "window": 0.25,
        "network_repeats": 4,
        "network_window": 0.5,
        "weights": "0.01,0.1,1",
        "seeds": "",
    },
    # The whole path at toy size: a test runs it.
    "smoke": {
        "models": "tiny_convnet",
        "cases": "inference:1",
        "device": "cpu",
        "energy": "time",
        "resolution": 32,
        "classes": 10,
        "repeats": 3,
        "window": 0.03,
        "network_repeats": 3,
        "network_window": 0.05,
        "weights": "0.1",
        "seeds": "0",
        "constants": 3,
        "trained_constants": 1,
        "recipe": {"epochs": 1, "batch_size": 256},
    },
}


def constant_policies(model: str, resolution: int) -> list[str]:
    """The paper's constant variants that this model's layers can take."""
    specs = layer_specs(model, resolution)
    chosen = [p for p in PAPER_POLICIES if fits(parse_policy(p), specs)]
    if not chosen:  # a model outside the paper: every constant G that fits
        chosen = [f"G={2**k}" for k in range(8) if fits(parse_policy(f"G={2**k}"), specs)]
    return chosen


def per_layer_choices(
    model: str, resolution: int, calibration: Calibration, weights: list[float]
) -> dict[str, str]:
    """Label -> per-layer policy: the cheapest g everywhere, and the predicted space's picks."""
    specs = layer_specs(model, resolution)
    shapes = policy_layers(model, None, resolution)

    def cost(index: int, g: int) -> float | None:
        return calibration.epf(replace(shapes[index], groups=g).key)

    picks: dict[str, str] = {}
    for weight in [0.0, *weights]:
        policy = str(Calibrated(weight).bind(specs, cost))
        label = "cheapest g per layer" if weight == 0 else f"predicted, w={weight:g}"
        if policy not in picks.values():
            picks[label] = policy
    return picks


def layer_costs(
    model: str, resolution: int, calibration: Calibration
) -> list[tuple[str, dict[int, float]]]:
    """Each grouped layer's calibrated cost by g (what the choice was made from)."""
    shapes = policy_layers(model, None, resolution)
    rows = []
    for spec, shape in zip(layer_specs(model, resolution), shapes, strict=True):
        by_g = {}
        for g in valid_groups(spec):
            value = calibration.epf(replace(shape, groups=g).key)
            if value is not None:
                by_g[g] = float(value)
        rows.append((spec.name, by_g))
    return rows


def gain_interval(best: EpfResult, per_layer: EpfResult) -> tuple[float, float, float]:
    """1 - per-layer / constant, with the range the two intervals allow."""
    assert best.epf and per_layer.epf and best.epf_low and best.epf_high
    assert per_layer.epf_low is not None and per_layer.epf_high is not None
    return (
        1 - per_layer.epf / best.epf,
        1 - per_layer.epf_high / best.epf_low,
        1 - per_layer.epf_low / best.epf_high,
    )


def train_top1(
    model: str, policies: list[str], seeds: list[int], recipe_overrides: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Proxy top-1 on digits (the embedded default) over ``seeds`` for each policy."""
    from gsearch.training.recipes import PROXY, prepare_data
    from gsearch.training.seeds import train_proxy_seeds

    recipe = replace(PROXY, **recipe_overrides)
    data = prepare_data("digits", recipe)
    out = {}
    for policy in policies:
        summary = train_proxy_seeds(
            lambda p=policy: create_model(model, p, num_classes=data.num_classes),
            data,
            recipe,
            seeds=seeds,
            quiet=False,
        )
        out[policy] = {
            "median": summary.median_top1,
            "spread": summary.spread_top1,
            "top1s": list(summary.top1s),
        }
    return out


def one_case(
    session: Any, model: str, pass_: str, batch: int, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    resolution = args.resolution
    step = StepConfig(batch=batch, resolution=resolution, pass_=pass_, num_classes=args.classes)
    target = calibration_target(model, None, resolution=resolution, num_classes=args.classes)
    layer_protocol = default_protocol(
        session.source, repeats=args.repeats, window_s=args.window, warmup_s=args.window
    )
    console.print(
        f"{model} {pass_} B={batch}: calibrating {len(target.layers)} layers", highlight=False
    )
    started = time.perf_counter()
    calibration = calibrate(session, target, step, layer_protocol, directory=folder)
    calibration_s = time.perf_counter() - started
    weights = [float(w) for w in args.weights.split(",") if w]
    picks = per_layer_choices(model, resolution, calibration, weights)
    constants = constant_policies(model, resolution)[: args.constants]
    policies = list(dict.fromkeys([*constants, *picks.values()]))
    candidates = [
        registry_candidate(model, p, num_classes=args.classes, resolution=resolution)
        for p in policies
    ]
    network_protocol = replace(
        layer_protocol, repeats=args.network_repeats, window_s=args.network_window
    )
    console.print(f"measuring {len(candidates)} networks together", highlight=False)
    started = time.perf_counter()
    rows = measure_candidates(
        session,
        candidates,
        [batch],
        step,
        network_protocol,
        baseline=registry_candidate(model, None, num_classes=args.classes, resolution=resolution),
    )
    measure_s = time.perf_counter() - started
    by_policy = {row.policy: row for row in rows if row.status == "ok" and row.epf}
    best_constant = min((p for p in constants if p in by_policy), key=lambda p: by_policy[p].epf)
    best_label, best_pick = min(
        ((label, p) for label, p in picks.items() if p in by_policy),
        key=lambda item: by_policy[item[1]].epf,
    )
    gain, gain_low, gain_high = gain_interval(by_policy[best_constant], by_policy[best_pick])
    params = {
        p: count_model(create_model(model, p, num_classes=args.classes), resolution).params
        for p in (best_constant, best_pick)
    }
    groups = {
        p: [layer.groups for layer in policy_layers(model, p, resolution)]
        for p in (best_constant, best_pick)
    }
    result: dict[str, Any] = {
        "model": model,
        "pass": pass_,
        "batch": batch,
        "resolution": resolution,
        "unit": session.unit,
        "source": session.source,
        "calibration_s": calibration_s,
        "calibration_device_s": calibration.device_s,
        "measure_s": measure_s,
        "measured": {
            p: {"epf": r.epf, "low": r.epf_low, "high": r.epf_high, "ratio": r.epf_ratio}
            for p, r in by_policy.items()
        },
        "picks": picks,
        "best_constant": best_constant,
        "best_per_layer": best_pick,
        "best_per_layer_label": best_label,
        "gain": gain,
        "gain_low": gain_low,
        "gain_high": gain_high,
        "params": params,
        "groups": groups,
        "layer_costs": layer_costs(model, resolution, calibration),
        "constants_by_epf": sorted(
            (p for p in constants if p in by_policy), key=lambda p: by_policy[p].epf
        ),
    }
    return result


def add_top1(case: dict[str, Any], args: argparse.Namespace) -> None:
    """Proxy top-1 of the best per-layer setting and the best constant policies."""
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if not seeds:
        return
    best_pick, best_constant = case["best_per_layer"], case["best_constant"]
    ranked = case["constants_by_epf"][: args.trained_constants]
    wanted = list(dict.fromkeys([best_pick, *ranked]))
    # Two policies that build the same network (a per-layer pick that is a constant
    # policy) are trained once.
    network = {
        p: tuple(layer.groups for layer in policy_layers(case["model"], p, case["resolution"]))
        for p in wanted
    }
    trained = list({network[p]: p for p in reversed(wanted)}.values())
    results = train_top1(case["model"], trained, seeds, args.recipe)
    by_network = {network[p]: results[p] for p in trained}
    top1 = {p: by_network[network[p]] for p in wanted}
    case["top1"] = top1
    case["top1_trained"] = trained
    # One seed has no spread: then nothing is "within" it.
    spread = max(v["spread"] for v in top1.values())
    delta = top1[best_pick]["median"] - top1[best_constant]["median"]
    case["top1_delta"] = delta
    case["top1_within_seed_spread"] = abs(delta) <= spread


def print_top1(case: dict[str, Any]) -> None:
    if "top1" not in case:
        return
    parts = ", ".join(
        f"{p} {v['median']:.1f}% (spread {v['spread']:.1f})" for p, v in case["top1"].items()
    )
    within = "within" if case["top1_within_seed_spread"] else "outside"
    console.print(
        f"proxy top-1 on digits: {parts}; per-layer minus best constant "
        f"{case['top1_delta']:+.1f} points, {within} the seed spread",
        highlight=False,
    )


def print_case(case: dict[str, Any]) -> None:
    unit = case["unit"]
    head = f"{case['model']} {case['pass']} B={case['batch']} {case['resolution']} px"
    table = Table(title=f"{head}: every network measured together ({case['source']})")
    for column in ("policy", f"EPF {unit}", "interval", "x baseline"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    labels = {p: label for label, p in case["picks"].items()}
    for policy, row in sorted(case["measured"].items(), key=lambda item: item[1]["epf"]):
        name = f"{labels[policy]}: {policy}" if policy in labels else policy
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.3f}"
        table.add_row(name, f"{row['epf']:.4g}", f"{row['low']:.4g}-{row['high']:.4g}", ratio)
    console.print(table)
    best, pick = case["best_constant"], case["best_per_layer"]
    measured = case["measured"]
    console.print(
        f"best constant {best}: {measured[best]['epf']:.4g} {unit}, "
        f"{case['params'][best] / 1e6:.3f} M params; "
        f"best per-layer ({case['best_per_layer_label']}): "
        f"{measured[pick]['epf']:.4g} {unit}, {case['params'][pick] / 1e6:.3f} M params",
        highlight=False,
    )
    verdict = "lower" if case["gain_low"] > 0 else "not separated from"
    console.print(
        f"gain {100 * case['gain']:+.1f}% (interval {100 * case['gain_low']:+.1f}% to "
        f"{100 * case['gain_high']:+.1f}%): the per-layer setting is {verdict} the best "
        "constant policy beyond measurement",
        highlight=False,
    )
    layers = Table(title="each layer: g of both settings, and its calibrated cost by g")
    layers.add_column("layer")
    layers.add_column(f"g {best}", justify="right")
    layers.add_column("g per-layer", justify="right")
    layers.add_column(f"cost by g ({unit})")
    for (name, by_g), g_best, g_pick in zip(
        case["layer_costs"], case["groups"][best], case["groups"][pick], strict=True
    ):
        cheapest = min(by_g, key=by_g.__getitem__) if by_g else None
        costs = " ".join(
            f"{'*' if g == cheapest else ''}{g}:{v:.3g}" for g, v in sorted(by_g.items())
        )
        layers.add_row(name, str(g_best), str(g_pick), costs)
    console.print(layers)


def _write(out: Path, preset: str, results: list[dict[str, Any]]) -> None:
    """What is known so far stays on disk if a later step is cut off."""
    (out / "per_layer_gain.json").write_text(
        json.dumps({"preset": preset, "cases": results}, indent=1, default=str)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/per_layer_gain"))
    for name in ("models", "cases", "device", "energy", "weights", "seeds"):
        parser.add_argument(f"--{name}")
    for name in ("resolution", "classes", "repeats", "network_repeats", "constants"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int)
    for name in ("window", "network_window"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float)
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.recipe = PRESETS[args.preset].get("recipe", {})
    args.trained_constants = PRESETS[args.preset].get("trained_constants", 2)
    args.constants = args.constants or None  # None: every constant policy
    for model in args.models.split(","):
        get_family(model)  # an unknown model: one line naming the known ones, before any work
    args.out.mkdir(parents=True, exist_ok=True)
    cases = []
    for item in args.cases.split(","):
        pass_, batch = item.split(":")
        cases.append((pass_, int(batch)))
    results = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as scratch,
        open_session(args.device, args.energy) as session,
    ):
        console.print(f"energy: {session.source} ({session.choice.reason})", highlight=False)
        for model in args.models.split(","):
            for pass_, batch in cases:
                case = one_case(session, model, pass_, batch, args, Path(scratch))
                results.append(case)
                print_case(case)
                _write(args.out, args.preset, results)
                add_top1(case, args)
                print_top1(case)
                _write(args.out, args.preset, results)
    elapsed = time.perf_counter() - started
    console.print(f"wall {elapsed:.0f} s", highlight=False)
    return 0 if all(math.isfinite(c["gain"]) for c in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GsearchError as error:  # bad input or a device that cannot measure: one line
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

"""The proxy with torch's per-tensor optimiser loop against its multi-tensor kernels.

On the CPU torch updates SGD and clips gradients with a Python loop over the parameters
unless asked for ``foreach`` (gsearch does not ask: no gain was measured). This trains
the default proxy on digits (MobileNet-V1, seed 0) with both, alternated in one process,
and prints wall seconds, top-1 and the sum of the final weights (equal sums: the same
weights). BENCHMARKS.md, "Training speed", quotes it.

    python benchmarks/foreach_step.py --threads 2 --policy G=8 --policy G=2 --repeats 2
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from gsearch.data import DatasetBundle
from gsearch.models import create_model
from gsearch.training import PROXY, prepare_data, train


@contextmanager
def foreach_as(enabled: bool) -> Iterator[None]:
    """Make every SGD and gradient clipping in the block use ``foreach=enabled``."""
    sgd, clip = torch.optim.SGD, nn.utils.clip_grad_norm_

    def forced(call: Callable[..., Any]) -> Callable[..., Any]:
        # Override whatever the caller passes.
        return lambda *args, **kwargs: call(*args, **{**kwargs, "foreach": enabled})

    torch.optim.SGD = forced(sgd)  # type: ignore[misc]
    nn.utils.clip_grad_norm_ = forced(clip)
    try:
        yield
    finally:
        torch.optim.SGD = sgd  # type: ignore[misc]
        nn.utils.clip_grad_norm_ = clip


def proxy(policy: str, data: DatasetBundle, foreach: bool) -> tuple[float, float, float]:
    """Wall seconds, top-1 and the sum of the final weights of one proxy run."""
    torch.manual_seed(0)
    model = create_model("mobilenet_v1", policy=policy, num_classes=data.num_classes)
    start = time.perf_counter()
    with foreach_as(foreach):
        metrics = train(model, data, PROXY.with_(seed=0), quiet=True)
    weights = sum(float(p.detach().double().sum()) for p in model.parameters())
    return time.perf_counter() - start, metrics.top1, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--policy", action="append", help="MobileNet-V1 policy (repeatable)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, alternated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = prepare_data("digits", PROXY)
    table = Table(title=f"proxy on digits, {args.threads} threads, torch {torch.__version__}")
    for column in ("policy", "per-tensor loop, s", "foreach, s", "top-1", "weight sums"):
        table.add_column(column)
    for policy in args.policy or ["G=8", "G=2"]:
        runs: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
        for _ in range(args.repeats):
            for foreach in (False, True):
                runs[foreach].append(proxy(policy, data, foreach))
        table.add_row(
            policy,
            ", ".join(f"{s:.1f}" for s, _, _ in runs[False]),
            ", ".join(f"{s:.1f}" for s, _, _ in runs[True]),
            " / ".join(sorted({f"{top1:.2f}" for _, top1, _ in runs[False] + runs[True]})),
            " / ".join(sorted({f"{w:.10f}" for _, _, w in runs[False] + runs[True]})),
        )
    Console().print(table)


if __name__ == "__main__":
    main()

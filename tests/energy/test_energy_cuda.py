"""The CUDA path for real (skipped without a GPU): graph and eager runners, NVML windows."""

from __future__ import annotations

import itertools

import pytest
import torch

from gsearch.candidates import registry_candidate
from gsearch.energy.epf import EpfProtocol, measure_candidates, open_session
from gsearch.energy.meter import SystemClock
from gsearch.energy.steps import StepConfig, make_runner
from gsearch.models import create_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("mode", ["graph", "eager"])
def test_cuda_runner_times_steps_on_the_host_clock(mode):
    clock = SystemClock()
    config = StepConfig(batch=4, resolution=32, num_classes=10, mode=mode)
    model = create_model("tiny_convnet", "G=2", num_classes=10)
    runner = make_runner(model, config, torch.device("cuda", 0), clock)
    runner.start_record()
    opened = clock.now()
    for _ in range(20):
        runner.launch()
    runner.synchronize()
    closed = clock.now()
    spans = runner.spans()
    assert len(spans) == 20 and runner.in_flight() == 0
    assert all(s < e for s, e in spans)
    assert all(a[1] <= b[0] + 1e-6 for a, b in itertools.pairwise(spans))
    assert opened - 1e-3 <= spans[0][0] and spans[-1][1] <= closed + 1e-3


def test_cuda_protocol_with_auto_energy():
    session = open_session("cuda:0", "auto")
    candidates = [registry_candidate("tiny_convnet", p, num_classes=10) for p in ("G=1", "G=4")]
    protocol = EpfProtocol(repeats=3, window_s=0.3, warmup_s=0.3, idle_s=0.3)
    step = StepConfig(batch=1, resolution=64, num_classes=10)
    rows = measure_candidates(session, candidates, [8], step, protocol)
    session.close()
    for row in rows:
        assert row.status == "ok" and row.mode == "graph"
        assert row.epf is not None and row.epf > 0 and row.ms_per_frame > 0
        if row.source == "nvml":
            assert row.method == "aligned" and row.unit == "mJ"
            assert row.facts["driver"] and row.power_w > 0
            # the real counter's ticks are kept, and end where the window ends
            assert len(row.window_ticks) == 3 and all(len(t) >= 2 for t in row.window_ticks)
            for ticks, epf in zip(row.window_ticks, row.epf_windows, strict=True):
                assert ticks[-1][1] / (ticks[-1][2] * row.batch) * 1e3 == pytest.approx(epf)

"""One step of a model, run eagerly or replayed from a CUDA graph, with timing.

A *training* step (the paper's EPF, the default) is: fresh random inputs and labels
(regenerated on the device every step, never zeros), ``zero_grad``, forward,
cross-entropy loss, backward, and optionally an SGD step. An *inference* step is what a
deployed network costs: fresh inputs and a forward pass in eval mode under
``torch.inference_mode``. On CUDA either is captured in a CUDA graph by default: at
batch 1 the eager step is bound by kernel launches (the GPU idles between kernels),
which measures Python, not the architecture. The eager mode stays available to measure
exactly that.

A :class:`LayerBench` is one layer on its own, as a calibration measures it: a fixed
random input of the layer's shape (made once: regenerating it would add a kernel the
layer does not have in its network), forward, and for training the backward pass with
a fixed output gradient (input and weight gradients, as inside a network).

Runners satisfy :class:`gsearch.energy.window.StepRunner`: each step is bracketed by CUDA
events (or host clock reads on the CPU) and reported on the host clock, so a window can
count fractions of a step.

Graph rules (learned on an H200 with torch 2.11): the static input tensors live as long
as their graph (a freed static input gave an illegal memory access), and every captured
graph has its own model, gradients and memory pool.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gsearch.energy.meter import Clock
from gsearch.errors import GsearchError

PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
MODES = ("graph", "eager")
TRAINING = "training"
INFERENCE = "inference"
PASSES = (TRAINING, INFERENCE)


@dataclass(frozen=True)
class StepConfig:
    """What one measured step does.

    Attributes:
        batch: Frames per step.
        resolution: Square input size, pixels.
        precision: ``fp32`` or autocast ``bf16`` / ``fp16``.
        channels_last: Model and input in channels-last memory format.
        mode: ``graph`` (CUDA graph replay) or ``eager``; CPU steps are always eager.
        optimizer_step: Also run an SGD (momentum 0.9) step.
        num_classes: Classifier size, for the random labels.
        cudnn_benchmark: Let cuDNN time its algorithms (slower start, maybe faster steps).
        pass_: ``training`` (forward, loss, backward: the paper's EPF) or ``inference``
            (forward only, eval mode, ``torch.inference_mode``).
    """

    batch: int
    resolution: int = 224
    precision: str = "fp32"
    channels_last: bool = False
    mode: str = "graph"
    optimizer_step: bool = False
    num_classes: int = 1000
    cudnn_benchmark: bool = False
    pass_: str = TRAINING

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise GsearchError(f"batch must be >= 1, got {self.batch}")
        if self.resolution < 8:
            raise GsearchError(f"resolution must be >= 8 pixels, got {self.resolution}")
        if self.precision not in PRECISIONS:
            raise GsearchError(
                f"unknown precision {self.precision!r}: choose {', '.join(PRECISIONS)}"
            )
        if self.mode not in MODES:
            raise GsearchError(f"unknown mode {self.mode!r}: choose graph or eager")
        if self.pass_ not in PASSES:
            raise GsearchError(f"unknown pass {self.pass_!r}: choose training or inference")

    def effective_mode(self, device: torch.device) -> str:
        """``graph`` only on CUDA; the CPU runs eagerly."""
        return self.mode if device.type == "cuda" else "eager"


class TrainStep:
    """A model with its loss, optional optimizer and static input buffers on one device."""

    def __init__(self, model: nn.Module, config: StepConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = model.to(device).to(memory_format=memory_format).train()
        shape = (config.batch, 3, config.resolution, config.resolution)
        self.inputs = torch.empty(shape, device=device).contiguous(memory_format=memory_format)
        self.labels = torch.empty(config.batch, dtype=torch.long, device=device)
        self.optimizer: torch.optim.Optimizer | None = None
        if config.optimizer_step:
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)
        self.dtype = PRECISIONS[config.precision]

    def __call__(self) -> None:
        """One step; on CUDA it only enqueues work."""
        self.inputs.normal_()
        self.labels.random_(0, self.config.num_classes)
        self.model.zero_grad(set_to_none=True)
        with _autocast(self.device, self.dtype):
            logits = self.model(self.inputs)
        loss = F.cross_entropy(logits.float(), self.labels)
        loss.backward()
        if self.optimizer is not None:
            self.optimizer.step()


class InferenceStep:
    """A model in eval mode and its static input on one device: forward passes only."""

    def __init__(self, model: nn.Module, config: StepConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = model.to(device).to(memory_format=memory_format).eval()
        shape = (config.batch, 3, config.resolution, config.resolution)
        with torch.inference_mode():  # an inference tensor may be refilled in inference mode
            self.inputs = torch.empty(shape, device=device).contiguous(memory_format=memory_format)
        self.dtype = PRECISIONS[config.precision]

    def __call__(self) -> None:
        """One forward pass; on CUDA it only enqueues work."""
        with torch.inference_mode(), _autocast(self.device, self.dtype):
            self.inputs.normal_()
            self.model(self.inputs)


class LayerBench(nn.Module):
    """One layer with the shape of the input it sees inside its network.

    Args:
        layer: The module (e.g. a grouped ``nn.Conv2d``).
        input_shape: (channels, height, width) of one frame's input to it.
    """

    def __init__(self, layer: nn.Module, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.layer = layer
        self.input_shape = input_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class LayerStep:
    """A :class:`LayerBench` on a fixed input: forward (+ backward for training)."""

    def __init__(self, bench: LayerBench, config: StepConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.training = config.pass_ == TRAINING
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = bench.to(device).to(memory_format=memory_format).train(self.training)
        self.dtype = PRECISIONS[config.precision]
        shape = (config.batch, *bench.input_shape)
        inputs = torch.randn(shape, device=device).contiguous(memory_format=memory_format)
        if self.training:
            self.inputs = inputs.requires_grad_(True)  # a layer inside a network passes dx back
            with torch.no_grad(), _autocast(device, self.dtype):
                output = self.model(self.inputs)
            self.grad_output = torch.randn_like(output)
        else:
            with torch.inference_mode():
                self.inputs = inputs.clone()

    def __call__(self) -> None:
        """One pass of the layer; on CUDA it only enqueues work."""
        if not self.training:
            with torch.inference_mode(), _autocast(self.device, self.dtype):
                self.model(self.inputs)
            return
        self.model.zero_grad(set_to_none=True)
        self.inputs.grad = None
        with _autocast(self.device, self.dtype):
            output = self.model(self.inputs)
        output.backward(self.grad_output)


Step = TrainStep | InferenceStep | LayerStep


def _autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    # cache_enabled=False: autocast's weight cache must not outlive a graph capture.
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=False)


class CpuRunner:
    """Runs steps synchronously on the CPU and times them with the clock."""

    asynchronous = False

    def __init__(self, step: Step, clock: Clock) -> None:
        self.step = step
        self.clock = clock
        self.frames_per_step = step.config.batch
        self._spans: list[tuple[float, float]] = []

    def launch(self) -> None:
        start = self.clock.now()
        self.step()
        self._spans.append((start, self.clock.now()))

    def in_flight(self) -> int:
        return 0

    def wait_one(self) -> None:
        """Steps finish before launch returns."""

    def synchronize(self) -> None:
        """Nothing runs in the background."""

    def start_record(self) -> None:
        self._spans = []

    def spans(self) -> list[tuple[float, float]]:
        return list(self._spans)

    def release(self) -> None:
        """Drop the model and buffers."""
        del self.step


class CudaRunner:
    """Enqueues steps on the current CUDA stream, each bracketed by timing events.

    Args:
        step: The training step (its model already on the GPU).
        clock: Host clock; event times are mapped onto it through an anchor event.
        graph: Capture the step in a CUDA graph and replay it.
    """

    asynchronous = True

    def __init__(self, step: Step, clock: Clock, graph: bool = True) -> None:
        self.step = step
        self.clock = clock
        self.frames_per_step = step.config.batch
        self.steps_per_launch = 1
        self.graph: torch.cuda.CUDAGraph | None = None
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._done = 0
        self._anchor: torch.cuda.Event | None = None
        self._anchor_s = 0.0
        if graph:
            self._capture()

    def _capture(self) -> None:
        side = torch.cuda.Stream(device=self.step.device)
        side.wait_stream(torch.cuda.current_stream(self.step.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # lazily created state (optimizer buffers, cuDNN plans) first
                self.step()
        torch.cuda.current_stream(self.step.device).wait_stream(side)
        torch.cuda.synchronize(self.step.device)
        self.step.model.zero_grad(set_to_none=True)  # gradients then live in the graph's pool
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(self.steps_per_launch):
                self.step()
        self.graph = graph

    def set_steps_per_launch(self, count: int) -> None:
        """Run ``count`` steps per launch (one graph of ``count`` steps, or ``count`` eager
        steps between one launch's events): a step of microseconds cannot keep the queue
        full against a counter read of milliseconds. Frames per launch grow with it."""
        graphed = self.graph is not None
        self.synchronize()
        self.graph = None  # its pool goes before the new capture takes one
        self.steps_per_launch = count
        self.frames_per_step = self.step.config.batch * count
        if graphed:
            self._capture()

    def _stream(self) -> torch.cuda.Stream:
        return torch.cuda.current_stream(self.step.device)

    def launch(self) -> None:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record(self._stream())
        if self.graph is not None:
            self.graph.replay()
        else:
            for _ in range(self.steps_per_launch):
                self.step()
        end.record(self._stream())
        self._events.append((start, end))

    def in_flight(self) -> int:
        while self._done < len(self._events) and self._events[self._done][1].query():
            self._done += 1
        return len(self._events) - self._done

    def wait_one(self) -> None:
        if self.in_flight():
            self._events[self._done][1].synchronize()

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.step.device)
        self._done = len(self._events)

    def start_record(self) -> None:
        self.synchronize()
        self._events = []
        self._done = 0
        anchor = torch.cuda.Event(enable_timing=True)
        before = self.clock.now()
        anchor.record(self._stream())  # the stream is idle: it completes as it is recorded
        after = self.clock.now()
        anchor.synchronize()
        self._anchor = anchor
        self._anchor_s = 0.5 * (before + after)

    def spans(self) -> list[tuple[float, float]]:
        if self._anchor is None:
            return []
        anchor = self._anchor
        return [
            (
                self._anchor_s + anchor.elapsed_time(start) / 1e3,
                self._anchor_s + anchor.elapsed_time(end) / 1e3,
            )
            for start, end in self._events
        ]

    def release(self) -> None:
        """Free the graph, then its static tensors and the model (in that order)."""
        self.synchronize()
        self.graph = None
        self._events = []
        self._anchor = None
        del self.step


def make_runner(
    model: nn.Module, config: StepConfig, device: torch.device, clock: Clock
) -> CpuRunner | CudaRunner:
    """Put ``model`` on ``device`` and wrap one step of it in a runner.

    The step is the config's pass (training or inference) of a network, or of one layer
    where ``model`` is a :class:`LayerBench`.

    Raises:
        torch.cuda.OutOfMemoryError: the batch does not fit (callers mark the row).
    """
    if device.type == "cuda":
        # graph replay and eager kernels use the current device's stream
        torch.cuda.set_device(device)
    step: Step
    if isinstance(model, LayerBench):
        step = LayerStep(model, config, device)
    elif config.pass_ == INFERENCE:
        step = InferenceStep(model, config, device)
    else:
        step = TrainStep(model, config, device)
    if device.type == "cuda":
        return CudaRunner(step, clock, graph=config.effective_mode(device) == "graph")
    if device.type == "cpu":
        return CpuRunner(step, clock)
    raise GsearchError(f"unsupported device {device}: use cuda:N or cpu")


def free_memory(device: torch.device) -> None:
    """Collect garbage and return cached blocks to the driver (after a release or OOM)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """Set ``torch.backends.cudnn.benchmark`` for a block and restore it."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


@contextlib.contextmanager
def torch_threads(threads: int, device: torch.device) -> Iterator[None]:
    """Run a CPU block on ``threads`` intra-op threads (0: leave torch's choice) and restore.

    On a CPU shared with other work, a step split over every core waits at each op's
    barrier for the thread that was descheduled: measured on the 2-core machine under
    load, every step ran 10x slower with 2 threads, while with 1 the fast steps kept their
    speed (BENCHMARKS.md, "EPF that repeats"). GPU work is not affected.
    """
    if threads <= 0 or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA (or host) out-of-memory errors, whatever wrapper torch raised.

    The chain of causes is searched too: an OOM inside a graph capture surfaces as the
    capture's own error, with the OOM as its context.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, torch.cuda.OutOfMemoryError | MemoryError):
            return True
        # torch's CPU allocator says "can't allocate memory" (or "not enough memory").
        text = str(current).lower()
        memory_words = ("out of memory", "can't allocate memory", "not enough memory")
        if isinstance(current, RuntimeError) and any(w in text for w in memory_words):
            return True
        current = current.__cause__ or current.__context__
    return False


def describe(error: BaseException) -> str:
    """First line of an error message, for a result row."""
    text: Any = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

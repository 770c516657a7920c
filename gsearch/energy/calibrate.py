"""A per-layer cost table measured on this device: what ``gsearch calibrate`` builds.

No MAC count or arithmetic intensity predicts which group setting a device runs fastest
(kernel choice decides: on an H200, MobileNet-V1 G=2 costs more than G=1 with fewer
MACs). So the table is measured, with the EPF protocol itself (warm-up, interleaved
windows, median with an interval, CUDA graphs on a GPU):

* every distinct grouped layer a space can produce, alone (:class:`LayerShape`: in and
  out channels, kernel, stride, padding, input map size, groups), for the chosen pass
  (forward and backward for training, forward for inference). The g settings of one
  layer shape are measured interleaved with each other, since their differences are
  what a search ranks;
* the networks a predictor combines them with (:mod:`gsearch.energy.predict`): the
  *rest* (the network with each grouped layer replaced by a stand-in of no cost, i.e.
  what the policy does not change) and an *anchor* (the network under one policy,
  measured whole).

A calibration is one JSON file under ``studies/cache/calibration/`` keyed by the device
and software identity, model, batch, resolution, precision, memory format, mode, pass,
energy source and protocol. It is rewritten atomically after every measured chunk, so
an interrupted run resumes where it stopped and a reader never sees half a file.

This module never imports models, policies or spaces: it takes plain layer shapes and
module factories (:mod:`gsearch.calibration_plan` makes them from a model and a space).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from gsearch.energy.cache import DEFAULT_CACHE_DIR, key_digest
from gsearch.energy.epf import (
    PROTOCOL_VERSION,
    Candidate,
    EnergySession,
    EpfProtocol,
    EpfResult,
    _Measurement,  # the protocol's own loop: calibration measures exactly as profile does
    default_protocol,
)
from gsearch.energy.facts import identity
from gsearch.energy.steps import (
    TRAINING,
    LayerBench,
    StepConfig,
    cudnn_benchmark,
    make_runner,
    torch_threads,
)
from gsearch.errors import GsearchError
from gsearch.paths import write_atomic

FORMAT_VERSION = 2  # 2: seconds spelled `_s` (device_s)
CALIBRATION_DIR = "calibration"
REST = "rest"
ANCHOR = "anchor"
# Sources a calibration can be measured with: the Eq. 1 score is not a measurement.
MEASURED_SOURCES = ("nvml", "nvml-power", "rapl", "time")
# The classifier `gsearch calibrate` builds by default: the default search's dataset
# (digits, 10 classes), so that the anchor and rest networks are the ones it measures.
DEFAULT_NUM_CLASSES = 10

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class LayerShape:
    """One grouped convolution as a calibration measures it (no bias: BatchNorm follows).

    Attributes:
        in_channels: m.
        out_channels: n.
        kernel: d_k (square).
        stride: Stride.
        padding: Padding.
        in_h: Input map height.
        in_w: Input map width.
        groups: g.
    """

    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    in_h: int
    in_w: int
    groups: int

    @property
    def key(self) -> str:
        """Short stable name, e.g. ``m512-n512-k3-s1-p1-14x14-g8``."""
        return (
            f"m{self.in_channels}-n{self.out_channels}-k{self.kernel}-s{self.stride}"
            f"-p{self.padding}-{self.in_h}x{self.in_w}-g{self.groups}"
        )

    @property
    def shape_key(self) -> str:
        """The key without g: the layer whose g settings are compared with each other."""
        return self.key.rpartition("-g")[0]

    def build(self) -> LayerBench:
        """The layer alone, with the input shape it sees in its network."""
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel,
            stride=self.stride,
            padding=self.padding,
            groups=self.groups,
            bias=False,
        )
        return LayerBench(conv, (self.in_channels, self.in_h, self.in_w))


@dataclass(frozen=True)
class CalibrationTarget:
    """What to calibrate: a model's distinct grouped layers and its two networks.

    Attributes:
        model: Model name (recorded and keyed).
        layers: Distinct layer shapes with their g (duplicates are measured once).
        anchor_policy: The policy of the anchor network, e.g. ``G=1``.
        anchor_layers: The anchor's grouped layers, in order, with their g.
        build_anchor: Builds the anchor network.
        build_rest: Builds the network with stand-ins for its grouped layers; None where
            a stand-in cannot keep the shapes (then only the anchor formulation exists).
        num_classes: Classifier size of both networks.
        width: Channel multiplier of both networks (keyed).
        space: The space the layers were enumerated for (recorded, not keyed).
    """

    model: str
    layers: tuple[LayerShape, ...]
    anchor_policy: str
    anchor_layers: tuple[LayerShape, ...]
    build_anchor: Callable[[], nn.Module]
    build_rest: Callable[[], nn.Module] | None
    num_classes: int = 1000
    width: float = 1.0
    space: str = ""


@dataclass(frozen=True)
class Calibration:
    """A measured per-layer table (see the module docstring).

    Attributes:
        model: Model name.
        key: What the table is valid for (device identity, step, protocol, source...).
        unit: ``mJ`` (energy counters) or ``ms`` (the time meter), per frame.
        source: The meter that measured it.
        facts: Device and software facts of the session that measured it.
        layers: Layer key -> the measured row of that layer alone.
        networks: ``rest`` and ``anchor`` -> the measured row of that network.
        anchor_policy: Policy of the anchor network.
        anchor_layers: Keys of the anchor's grouped layers, in order.
        device_s: Device time all rows took (preparing, warm-up, windows).
        path: The file it lives in.
    """

    model: str
    key: dict[str, Any]
    unit: str
    source: str
    facts: dict[str, Any]
    layers: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]]
    anchor_policy: str
    anchor_layers: tuple[str, ...]
    device_s: float
    path: Path | None = None
    space: str = ""
    shapes: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        """Frames per step."""
        return int(self.key["step"]["batch"])

    @property
    def pass_(self) -> str:
        """``training`` or ``inference``."""
        return str(self.key["step"]["pass_"])

    def epf(self, layer_key: str) -> float | None:
        """Median EPF of one layer alone, in ``unit`` per frame; None when not measured."""
        row = self.layers.get(layer_key)
        return None if row is None else float(row["epf"])

    def network_epf(self, name: str) -> float | None:
        """Median EPF of the ``rest`` or ``anchor`` network; None when not measured."""
        row = self.networks.get(name)
        return None if row is None else float(row["epf"])

    def command(self, space: str | None = None) -> str:
        """The ``gsearch calibrate`` command that resumes this table (adding ``space``)."""
        step = self.key["step"]
        device = str(self.key["device"].get("device") or "auto")
        return calibrate_command(
            self.model,
            device,
            self.batch,
            int(step["resolution"]),
            str(step["precision"]),
            self.pass_,
            source=self.source,
            num_classes=self.key.get("num_classes"),
            eager=device.startswith("cuda") and step["mode"] == "eager",
            channels_last=bool(step["channels_last"]),
            space=space,
            protocol=self.key["protocol"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON form."""
        return {
            "format": FORMAT_VERSION,
            "model": self.model,
            "key": self.key,
            "unit": self.unit,
            "source": self.source,
            "facts": self.facts,
            "space": self.space,
            "anchor_policy": self.anchor_policy,
            "anchor_layers": list(self.anchor_layers),
            "layers": self.layers,
            "shapes": self.shapes,
            "networks": self.networks,
            "device_s": self.device_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Calibration:
        """The inverse of :meth:`to_dict`; a foreign or broken file is a GsearchError."""
        if not isinstance(data, dict) or "format" not in data:
            raise GsearchError(f"calibration file {path} is not a gsearch calibration")
        if data["format"] != FORMAT_VERSION:
            raise GsearchError(
                f"calibration file {path} has format {data['format']!r}, this gsearch reads "
                f"format {FORMAT_VERSION}: measure the calibration again"
            )
        try:
            return cls(
                model=str(data["model"]),
                key=dict(data["key"]),
                unit=str(data["unit"]),
                source=str(data["source"]),
                facts=dict(data["facts"]),
                layers=dict(data["layers"]),
                networks=dict(data["networks"]),
                anchor_policy=str(data["anchor_policy"]),
                anchor_layers=tuple(data["anchor_layers"]),
                device_s=float(data["device_s"]),
                path=path,
                space=str(data.get("space", "")),
                shapes=dict(data.get("shapes", {})),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GsearchError(f"calibration file {path} is incomplete ({error})") from None

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per measured layer and network (for CSV)."""
        result = []
        for name, row in [*self.layers.items(), *self.networks.items()]:
            shape = self.shapes.get(name, {})
            result.append(
                {
                    "entry": name,
                    "kind": "network" if name in self.networks else "layer",
                    **shape,
                    **_row_numbers(row),
                }
            )
        return result


ROW_FIELDS = ("epf", "epf_low", "epf_high", "spread", "ms_per_frame", "device_s")


def _row_numbers(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in ROW_FIELDS}


def calibration_key(
    model: str,
    facts: dict[str, Any],
    step: StepConfig,
    protocol: EpfProtocol,
    source: str,
    *,
    num_classes: int,
    width: float,
) -> dict[str, Any]:
    """What a calibration is valid for (``step.mode`` already resolved for the device)."""
    return {
        "format": FORMAT_VERSION,
        "model": model,
        "num_classes": num_classes,
        "width": width,
        "device": identity(facts),
        "step": asdict(step),
        "protocol": protocol.key(),
        "source": source,
    }


def calibration_path(directory: str | os.PathLike[str], key: dict[str, Any]) -> Path:
    """The file of a key: readable parts first, then a digest of the whole key."""
    step = key["step"]
    name = (
        f"{key['model']}-{step['pass_']}-b{step['batch']}-r{step['resolution']}-"
        f"{step['precision']}-{key['source']}-{key_digest(key)[:12]}.json"
    )
    return Path(directory) / CALIBRATION_DIR / name


def _read(path: Path) -> Calibration:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise GsearchError(f"cannot read calibration file {path}: {error}") from None
    return Calibration.from_dict(data, path)


def _stored_row(result: EpfResult) -> dict[str, Any]:
    data = result.to_dict()
    for bulky in ("facts", "window_ticks", "energy_reason"):
        data.pop(bulky, None)
    return data


def calibrate(
    session: EnergySession,
    target: CalibrationTarget,
    step: StepConfig,
    protocol: EpfProtocol | None = None,
    *,
    directory: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
    progress: Progress | None = None,
) -> Calibration:
    """Measure (or finish measuring) the calibration of ``target`` on ``session``.

    Args:
        session: Device and meter; must be a measured source (not the Eq. 1 score).
        target: Layers and networks to measure.
        step: Batch, resolution, precision, pass...; its mode is resolved for the device.
        protocol: Windows and repeats (default :class:`EpfProtocol`).
        directory: Cache folder; the file goes to ``<directory>/calibration/``.
        progress: Called with (entries done, entries in all, what was just measured).

    Returns:
        The complete calibration (also on disk).

    Raises:
        GsearchError: the model meter, an out-of-memory row, or a step that fails.
    """
    if session.source not in MEASURED_SOURCES:
        raise GsearchError(
            f"a calibration is measured: --energy {session.source} is not a measurement; "
            f"choose one of {', '.join(MEASURED_SOURCES)} (auto picks the best this machine has)"
        )
    protocol = protocol or default_protocol(session.source)
    step = replace(step, mode=step.effective_mode(session.device), num_classes=target.num_classes)
    key = calibration_key(
        target.model,
        session.facts,
        step,
        protocol,
        session.source,
        num_classes=target.num_classes,
        width=target.width,
    )
    path = calibration_path(directory, key)
    layers = list({layer.key: layer for layer in (*target.layers, *target.anchor_layers)}.values())
    shapes = {layer.key: asdict(layer) for layer in layers}
    if path.exists():
        existing = _read(path)
        if existing.key != json.loads(json.dumps(key, default=str)):
            raise GsearchError(f"calibration file {path} holds another key: move it away")
        calibration = replace(existing, shapes={**existing.shapes, **shapes}, path=path)
    else:
        calibration = Calibration(
            model=target.model,
            key=key,
            unit=session.unit,
            source=session.source,
            facts=dict(session.facts),
            layers={},
            networks={},
            anchor_policy=target.anchor_policy,
            anchor_layers=tuple(layer.key for layer in target.anchor_layers),
            device_s=0.0,
            path=path,
            space=target.space,
            shapes=shapes,
        )
    # Chunks: the g settings of one layer shape together, then the networks together.
    chunks: dict[str, list[Candidate]] = {}
    for layer in layers:
        if layer.key not in calibration.layers:
            chunks.setdefault(layer.shape_key, []).append(
                Candidate("layer", layer.key, layer.build)
            )
    networks = [Candidate(target.model, ANCHOR, target.build_anchor)]
    if target.build_rest is not None:
        networks.append(Candidate(target.model, REST, target.build_rest))
    networks = [c for c in networks if c.policy not in calibration.networks]
    if networks:
        chunks["networks"] = networks
    total = len(layers) + 1 + (target.build_rest is not None)
    done = total - sum(len(chunk) for chunk in chunks.values())
    work = _Measurement(session, step, protocol, make_runner)
    idle_w = session.idle_power_w(protocol.idle_s) if chunks else None
    if progress is not None:
        progress(done, total, "resumed" if done else "started")
    with (
        cudnn_benchmark(step.cudnn_benchmark),
        torch_threads(protocol.cpu_threads, session.device),
    ):
        for name, chunk in chunks.items():
            results = work.group([(candidate, 1.0) for candidate in chunk], step, idle_w)
            new_layers = dict(calibration.layers)
            new_networks = dict(calibration.networks)
            spent = 0.0
            for candidate, result in results.items():
                if result.status != "ok":
                    raise GsearchError(
                        f"calibration of {target.model}: {candidate.policy} at batch "
                        f"{step.batch} did not fit in memory ({result.message}); "
                        "calibrate a smaller --batch"
                    )
                spent += result.device_s
                table = new_layers if candidate.model == "layer" else new_networks
                table[candidate.policy] = _stored_row(result)
            calibration = replace(
                calibration,
                layers=new_layers,
                networks=new_networks,
                device_s=calibration.device_s + spent,
            )
            write_atomic(
                path, json.dumps(calibration.to_dict(), indent=1, sort_keys=True, default=str)
            )
            done += len(chunk)
            if progress is not None:
                progress(done, total, name)
    return calibration


def find_calibrations(directory: str | os.PathLike[str]) -> list[Calibration]:
    """Every readable calibration file under ``<directory>/calibration/``."""
    folder = Path(directory) / CALIBRATION_DIR
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            found.append(_read(path))
        except GsearchError:
            continue  # a foreign or broken file is not this calibration
    return found


def calibrate_command(
    model: str,
    device: str,
    batch: int,
    resolution: int,
    precision: str,
    pass_: str,
    *,
    source: str | None = None,
    num_classes: int | None = None,
    eager: bool = False,
    channels_last: bool = False,
    space: str | None = None,
    protocol: dict[str, Any] | None = None,
) -> str:
    """The command line that makes (or completes) the calibration a caller is missing.

    ``protocol`` (a protocol's key) adds the flags where it differs from the source's
    default: a protocol is part of a calibration's key.
    """
    parts = [f"gsearch calibrate --model {model} --device {device} --batch {batch}"]
    parts.append(f"--resolution {resolution}")
    if num_classes is not None and num_classes != DEFAULT_NUM_CLASSES:
        parts.append(f"--num-classes {num_classes}")
    if precision != "fp32":
        parts.append(f"--precision {precision}")
    if pass_ != TRAINING:
        parts.append(f"--pass {pass_}")
    if eager:
        parts.append("--eager")
    if channels_last:
        parts.append("--channels-last")
    if source in MEASURED_SOURCES:
        parts.append(f"--energy {source}")
    if space:
        parts.append(f"--space {space}")
    default = default_protocol(source or "")
    flags = {"repeats": "--repeats", "window_s": "--window", "warmup_s": "--warmup"}
    for name, flag in flags.items():
        value = (protocol or {}).get(name)
        if value is not None and value != getattr(default, name):
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _describe_identity(device: dict[str, Any]) -> str:
    name = device.get("gpu_name") or device.get("cpu_model") or "?"
    extra = [f"torch {device.get('torch')}"]
    if device.get("driver"):
        extra.append(f"driver {device['driver']}")
    if device.get("threads"):
        extra.append(f"{device['threads']} threads")
    return f"{name} ({', '.join(extra)})"


def load_calibration(
    directory: str | os.PathLike[str],
    model: str,
    facts: dict[str, Any],
    *,
    batch: int,
    resolution: int,
    precision: str = "fp32",
    pass_: str = TRAINING,
    source: str | None = None,
    num_classes: int | None = None,
    width: float = 1.0,
    mode: str = "graph",
    channels_last: bool = False,
    protocol: EpfProtocol | None = None,
) -> Calibration:
    """The calibration of ``model`` for this device, batch, resolution, precision and pass.

    Every other input that changes a calibrated number is compared too: the energy
    source, classes, step mode, memory format and the protocol's version (and its
    parameters where ``protocol`` is given). A calibration that differs in any of them
    is refused with one line naming both values.

    Args:
        directory: Cache folder (``studies/cache`` by default in the CLI).
        model: Model name.
        facts: Facts of the device the prediction is for (``EnergySession.facts`` or
            :func:`gsearch.energy.facts.device_facts`); their identity must match.
        batch: Frames per step.
        resolution: Input size, pixels.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        pass_: ``training`` or ``inference``.
        source: The session's energy source: a measured one (nvml, rapl, time...) takes
            only calibrations of that source (a prediction carries its calibration's
            unit); None or an unmeasured source (the Eq. 1 score) prefers energy
            counters (nvml, rapl) to the time meter.
        num_classes: Classifier size, where it matters to the caller.
        width: Channel multiplier.
        mode: ``graph`` or ``eager`` (resolved for the device: the CPU is always eager).
        channels_last: Memory format of the step.
        protocol: The caller's protocol, whose parameters must then be equal too.

    Raises:
        GsearchError: none exists (naming the ``gsearch calibrate`` command to run), or
            the only ones are from another device, software, source or step (refused,
            naming both).
    """
    wanted = identity(facts)
    device = str(facts.get("device", "auto"))
    measured_source = source if source in MEASURED_SOURCES else None
    command = calibrate_command(
        model,
        device,
        batch,
        resolution,
        precision,
        pass_,
        source=measured_source,
        num_classes=num_classes,
        eager=mode == "eager",
        channels_last=channels_last,
        protocol=None if protocol is None else protocol.key(),
    )
    same_setting = [
        c
        for c in find_calibrations(directory)
        if c.model == model
        and c.key["step"]["batch"] == batch
        and c.key["step"]["resolution"] == resolution
        and c.key["step"]["precision"] == precision
        and c.key["step"]["pass_"] == pass_
        and c.key.get("width") == width
    ]
    setting = f"{model} at batch {batch}, {resolution} px, {precision}, {pass_}"
    if not same_setting:
        raise GsearchError(f"no calibration of {setting} on this device: run `{command}`")
    mine = [c for c in same_setting if same_device(c.facts, facts)]
    if not mine:
        other = same_setting[0]
        raise GsearchError(
            f"the calibration of {setting} ({other.path}) was measured on "
            f"{_describe_identity(identity(other.facts))}, not on this "
            f"{_describe_identity(wanted)}: it is refused; run `{command}`"
        )
    expected: dict[str, Any] = {
        "energy source": measured_source,
        "num_classes": num_classes,
        "step mode": mode if device.startswith("cuda") else "eager",
        "channels_last": channels_last,
        "protocol version": PROTOCOL_VERSION,
    }
    if protocol is not None:
        expected.update(
            {f"protocol {k}": v for k, v in _plain_json(protocol.key()).items() if k != "version"}
        )
    fitting = [c for c in mine if not _differences(c, expected)]
    if not fitting:
        other = mine[0]
        raise GsearchError(
            f"the calibration of {setting} ({other.path}) was measured with "
            f"{'; '.join(_differences(other, expected))}: it is refused; run `{command}`"
        )
    complete = [c for c in fitting if _complete(c)]
    if not complete:
        raise GsearchError(
            f"the calibration of {setting} ({fitting[0].path}) is unfinished: run `{command}` "
            "again to resume it"
        )
    preference = ("nvml", "rapl", "nvml-power", "time")
    return min(
        complete,
        key=lambda c: preference.index(c.source) if c.source in preference else len(preference),
    )


def _plain_json(value: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(value, default=str)))


def _differences(calibration: Calibration, expected: dict[str, Any]) -> list[str]:
    """``name <calibrated>, not <wanted>`` for each expected value the calibration lacks.

    A None expectation accepts any value.
    """
    step = calibration.key.get("step", {})
    protocol = calibration.key.get("protocol", {})
    found: dict[str, Any] = {
        "energy source": calibration.source,
        "num_classes": calibration.key.get("num_classes"),
        "step mode": step.get("mode"),
        "channels_last": step.get("channels_last"),
        "protocol version": protocol.get("version"),
    }
    found.update({f"protocol {k}": v for k, v in protocol.items() if k != "version"})
    return [
        f"{name} {found.get(name)}, not {value}"
        for name, value in expected.items()
        if value is not None and found.get(name) != value
    ]


def _complete(calibration: Calibration) -> bool:
    return ANCHOR in calibration.networks and all(
        key in calibration.layers for key in calibration.anchor_layers
    )


def same_device(calibrated: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether a calibration's identity facts fit the device and software of ``now``.

    Every fact the calibration recorded must be equal now. A fact it could not record
    (a GPU timed without NVML has no driver or UUID) is not held against it, but the
    device kind, its name and the software always are.
    """
    mine, theirs = identity(calibrated), identity(now)
    always = ("device", "gpu_name", "cpu_model", "torch", "cuda", "cudnn")
    return all(mine.get(k) == theirs.get(k) for k in always) and all(
        theirs.get(k) == value for k, value in mine.items() if value is not None
    )


def layers_missing(calibration: Calibration, layers: Sequence[LayerShape]) -> list[str]:
    """Keys of ``layers`` the calibration has not measured."""
    return [layer.key for layer in layers if layer.key not in calibration.layers]


CSV_SHAPE = ("in_channels", "out_channels", "kernel", "stride", "padding", "in_h", "in_w", "groups")


def write_csv(calibration: Calibration, path: str | os.PathLike[str]) -> Path:
    """The table as CSV (one row per layer and network), written atomically.

    Raises:
        GsearchError: the folder cannot be written (nothing is left half-written).
    """
    import csv
    import io

    buffer = io.StringIO()
    columns = ["entry", "kind", *CSV_SHAPE, *ROW_FIELDS, "unit", "source", "pass", "batch"]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in calibration.rows():
        extra = {
            "unit": calibration.unit,
            "source": calibration.source,
            "pass": calibration.pass_,
            "batch": calibration.batch,
        }
        writer.writerow({**{c: row.get(c, "") for c in columns}, **extra})
    try:
        return write_atomic(Path(path), buffer.getvalue())
    except OSError as error:
        raise GsearchError(f"cannot write CSV {path}: {error.strerror}") from None

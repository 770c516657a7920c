"""The bad-input table: every mistake a user can type is one line on stderr, exit 2, no
traceback, and no file given or touched is changed (nor any file or folder left behind).

Commands run in-process through ``gsearch.cli.main`` in a copy of a prepared workspace;
the workspace is checksummed before and after each case.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from PIL import Image

from gsearch.cli import main
from gsearch.search.failures import FAILURE_ATTR

SPACE = """
models = ["tiny_convnet"]
[policy]
kind = "group_size"
values = [1, 2]
[defaults]
dataset = "synthetic"
"""
SPACES = {
    "tiny.toml": SPACE,
    "inf.toml": SPACE.replace(
        'kind = "group_size"\nvalues = [1, 2]', 'kind = "cost_model"\ngamma = [1e2, inf]'
    ),
    "defaults3.toml": "defaults = 3\n" + SPACE.split("[defaults]")[0],
    "nopolicy.toml": 'models = ["tiny_convnet"]\n',
    "badvalue.toml": SPACE.replace("[1, 2]", '[1, "x"]'),
    "nofit.toml": SPACE.replace("[1, 2]", "[3, 5]"),
    # Values that pass their type and exceed the machine (issue 24).
    "batch100000.toml": "epf_batch_sizes = [16, 100000]\n" + SPACE,
    "values200000.toml": SPACE.replace("[1, 2]", "[" + ", ".join(["1"] * 200_000) + "]"),
    "res4096.toml": "epf_resolution = 4096\n" + SPACE,
    "huge.toml": "# " + "x" * 2_000_000 + "\n" + SPACE,
    # Its default study name, "<stem>-synthetic-proxy", is too long for a folder name.
    "s" * 245 + ".toml": SPACE,
}
LONG = "n" * 300  # longer than any file system's name (255 bytes)
WIDE = "é" * 130  # 130 characters, 260 bytes in UTF-8
SECRET = "s3cr3t-pw"
GSEARCH_ATTRS = {"gsearch:space": "tiny", "gsearch:dataset": "synthetic"}


def _png(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade, shade, shade)).save(path)


def _image_folder(root: Path, bad_train: int, bad_val: int) -> None:
    """ImageNet layout with two classes; the first ``bad_*`` files of each split are corrupt."""
    for split, count, bad in (("train", 3, bad_train), ("val", 2, bad_val)):
        for label in ("n01", "n02"):
            for index in range(count):
                path = root / split / label / f"{label}_{index}.png"
                _png(path, 40 * index)
                if index < bad:
                    path.write_bytes(b"\x89PNG garbage")


def _study(url: str, name: str, attrs: dict[str, str], trials: int = 1) -> None:
    study = optuna.create_study(
        study_name=name, storage=url, directions=["minimize", "maximize", "minimize"]
    )
    for key, value in attrs.items():
        study._storage.set_study_system_attr(study._study_id, key, value)
    for index in range(trials):
        study.add_trial(
            optuna.trial.create_trial(
                params={"G": index + 1},
                distributions={"G": optuna.distributions.IntDistribution(1, 8)},
                values=[1.0 + index, 50.0, 0.01],
            )
        )


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    root = tmp_path_factory.mktemp("bad-input-template")
    for name, text in SPACES.items():
        (root / name).write_text(text)
    (root / "afolder").mkdir()
    (root / "afolder" / "keep.txt").write_text("a folder")
    (root / "afile").write_text("a file, not a folder")
    (root / "keys.json").write_text('{"study": "x"}')
    (root / "empty.db").write_bytes(b"")
    (root / "corrupt.db").write_bytes(b"\x00garbage" * 512)
    with sqlite3.connect(root / "other.db") as other:
        other.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
        other.execute("INSERT INTO invoices VALUES (1, 9.5)")
    other.close()
    _study(f"sqlite:///{root}/foreign.db", "theirs", {}, trials=2)
    _study(f"sqlite:///{root}/two.db", "first", GSEARCH_ATTRS)
    _study(f"sqlite:///{root}/two.db", "second", GSEARCH_ATTRS)
    _study(f"sqlite:///{root}/dotdot.db", "..", GSEARCH_ATTRS)  # made by an older gsearch
    _study(f"sqlite:///{root}/long.db", LONG, GSEARCH_ATTRS)
    optuna.delete_study(
        study_name="gone", storage=optuna.create_study(
            study_name="gone", storage=f"sqlite:///{root}/nostudy.db"
        )._storage,
    )  # fmt: skip
    _image_folder(root / "imagenet_corrupt", bad_train=1, bad_val=0)
    _image_folder(root / "imagenet_allbad", bad_train=0, bad_val=2)
    (root / "blocked").mkdir()
    (root / "blocked" / "studies").write_text("a file where gsearch keeps its studies")
    return root


def checksums(root: Path) -> dict[str, str]:
    """Every file (by content) and folder under ``root``."""
    return {
        str(path.relative_to(root)): (
            "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in sorted(root.rglob("*"))
    }


@pytest.fixture
def workspace(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "ws"
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("GSEARCH_STORAGE_RETRY_S", "0")
    yield root


def one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str, root: Path
) -> str:
    """Run ``gsearch ARGS``: exit 2, one ``error:`` line holding ``expected``, no secret,
    and the workspace exactly as it was."""
    before = checksums(root)
    status = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err and SECRET not in err
    assert checksums(root) == before
    return lines[0]


PG_DOWN = f"postgresql://user:{SECRET}@127.0.0.1:9/gsearch"
MYSQL = f"mysql://user:{SECRET}@db-host/gsearch"
RUN = ["run", "--space", "tiny.toml", "--energy", "model", "--quiet"]

CASES: list[tuple[str, list[str], str]] = [
    # ------------------------------------------------------------ no command, unknown flags
    ("no-command", [], "the following arguments are required: COMMAND"),
    ("unknown-command", ["serve"], "invalid choice: 'serve'"),
    ("unknown-flag", [*RUN, "--fast"], "unrecognized arguments: --fast"),
    # ------------------------------------------------------------ run: spaces
    ("space-unknown", ["run", "--space", "e3gc"], "unknown search space 'e3gc': known spaces"),
    ("space-folder", ["run", "--space", "./afolder"], "search space ./afolder is a folder, not a .toml file"),
    ("space-missing", ["run", "--space", "missing.toml"], "search space file missing.toml does not exist"),
    ("space-inf", ["run", "--space", "inf.toml"], "policy.gamma must be finite numbers, got [100.0, inf]"),
    ("space-brackets", ["run", "--space", "defaults3.toml"], "search space defaults3.toml: [defaults] must be a table"),
    ("space-no-policy", ["run", "--space", "nopolicy.toml"], "a [policy] table with kind = one of"),
    ("space-bad-value", ["run", "--space", "badvalue.toml"], "policy.values[1] must be a positive integer, got 'x'"),
    ("space-fits-nothing", ["run", "--space", "nofit.toml"], "none of [3, 5] fits tiny_convnet"),
    ("space-empty", ["run", "--space", ""], "argument --space: expected a value, got an empty string"),
    # ------------------------------------------------------------ run: values
    ("trials-negative", [*RUN, "--trials", "-5"], "--trials: expected a positive integer, got -5"),
    ("trials-zero", [*RUN, "--trials", "0"], "--trials: expected a positive integer, got 0"),
    ("trials-word", [*RUN, "--trials", "many"], "--trials: expected a positive integer, got 'many'"),
    ("timeout-nan", [*RUN, "--timeout", "nan"], "--timeout: expected a finite number > 0, got 'nan'"),
    ("timeout-negative", [*RUN, "--timeout", "-1"], "--timeout: expected a finite number > 0, got '-1'"),
    ("budget-inf", [*RUN, "--energy-budget", "inf"], "--energy-budget: expected a finite number > 0, got 'inf'"),
    ("seed-negative", [*RUN, "--seed", "-1"], "--seed: expected an integer from 0 to 4294967295, got -1"),
    ("seed-huge", [*RUN, "--seed", str(2**32)], "--seed: expected an integer from 0 to 4294967295"),
    ("study-empty", [*RUN, "--study", ""], "--study: expected a value, got an empty string"),
    ("study-blank", [*RUN, "--study", "  "], "--study: expected a value, got an empty string"),
    ("sampler-unknown", [*RUN, "--sampler", "annealing"], "unknown sampler 'annealing'; allowed: nsga2, tpe"),
    ("fidelity-unknown", [*RUN, "--fidelity", "medium"], "unknown fidelity 'medium'"),
    ("recipe-no-equals", [*RUN, "--recipe", "epochs"], "--recipe: expected KEY=VALUE, got 'epochs'"),
    ("device-unknown", [*RUN, "--device", "gpu"], "unknown device 'gpu': use cuda:N or cpu"),
    ("heartbeat-zero", [*RUN, "--heartbeat", "0"], "--heartbeat: expected a positive integer, got 0"),
    ("grace-word", [*RUN, "--grace", "long"], "--grace: expected a positive integer, got 'long'"),
    # ------------------------------------------------------------ run: storage
    ("storage-empty", [*RUN, "--storage", ""], "--storage: expected a value, got an empty string"),
    ("storage-not-url", [*RUN, "--storage", "studies/gsearch.db"], "is not a URL: use sqlite:///path.db"),
    ("storage-folder", [*RUN, "--storage", "sqlite:///afolder"], "storage sqlite:///afolder names a folder, not a file"),
    ("storage-corrupt", [*RUN, "--storage", "sqlite:///corrupt.db"], "is not an SQLite database (corrupt or another file)"),
    ("storage-other-program", [*RUN, "--storage", "sqlite:///other.db"], "holds the tables invoices, not an Optuna storage"),
    ("storage-under-a-file", [*RUN, "--storage", "sqlite:///afile/sub/g.db"], "afile is a file, not a folder"),
    ("storage-mysql-driver", [*RUN, "--storage", MYSQL], "the mysql driver is not installed (Python module 'MySQLdb'): pip install mysqlclient"),
    ("storage-redis", [*RUN, "--storage", "redis://127.0.0.1:6379"], "storage redis://127.0.0.1:6379: 'redis' is not a database that Optuna's storage can use"),
    ("report-storage-http", ["report", "--storage", "http://example.com/db"], "'http' is not a database that Optuna's storage can use"),
    ("dashboard-storage-redis", ["dashboard", "--storage", "redis://u:pw@127.0.0.1:6379"], "storage redis://u:***@127.0.0.1:6379: 'redis' is not a database"),
    ("storage-pg-down", [*RUN, "--storage", PG_DOWN], "cannot open storage postgresql://user:***@127.0.0.1:9/gsearch"),
    ("study-foreign", [*RUN, "--storage", "sqlite:///foreign.db", "--study", "theirs"], "study 'theirs' in sqlite:///foreign.db was made by another program"),
    # ------------------------------------------------------------ run: data and folders
    ("dataset-unknown", [*RUN, "--dataset", "imgnet"], "imgnet"),
    ("data-root-absent", [*RUN, "--dataset", "imagenet"], "dataset 'imagenet' needs a data root"),
    ("data-root-file", [*RUN, "--dataset", "imagenet", "--data-root", "afile"], "data root afile is a file, not a folder"),
    ("data-root-missing", [*RUN, "--dataset", "imagenet", "--data-root", "nowhere"], "data root nowhere does not exist"),
    ("workers-data-root-missing", [*RUN, "--workers", "2", "--dataset", "imagenet", "--data-root", "nowhere"], "data root nowhere does not exist"),
    ("data-corrupt-image", [*RUN, "--fidelity", "full", "--dataset", "imagenet", "--data-root", "imagenet_corrupt"], "corrupt or unreadable image imagenet_corrupt/train/n01/n01_0.png"),
    ("data-skip-empties-split", [*RUN, "--fidelity", "full", "--dataset", "imagenet", "--data-root", "imagenet_allbad", "--skip-corrupt"], "the val split of imagenet holds no image after leaving out 4 unreadable images"),
    # ------------------------------------------------------------ worker
    ("worker-no-space", ["worker"], "the following arguments are required: --space"),
    ("worker-foreign", ["worker", "--space", "tiny.toml", "--energy", "model", "--storage", "sqlite:///foreign.db", "--study", "theirs"], "was made by another program"),
    ("worker-corrupt", ["worker", "--space", "tiny.toml", "--energy", "model", "--storage", "sqlite:///corrupt.db"], "is not an SQLite database"),
    ("worker-config-json-missing", ["worker", "--config-json", "nowhere.json"], "--config-json nowhere.json does not exist"),
    ("worker-config-json-folder", ["worker", "--config-json", "afolder"], "--config-json afolder is a folder, not a file"),
    ("worker-config-json-not-json", ["worker", "--config-json", "afile"], "--config-json afile is not a run's settings as `gsearch run --workers` writes them (JSONDecodeError: Expecting value"),
    ("worker-config-json-other-json", ["worker", "--config-json", "keys.json"], "--config-json keys.json is not a run's settings as `gsearch run --workers` writes them (KeyError: 'space')"),
    ("worker-heartbeat", ["worker", "--space", "tiny.toml", "--heartbeat", "-1"], "--heartbeat: expected a positive integer, got -1"),
    ("worker-pg-down", ["worker", "--space", "tiny.toml", "--energy", "model", "--storage", PG_DOWN], "postgresql://user:***@127.0.0.1:9"),
    # ------------------------------------------------------------ report
    ("report-missing", ["report", "--storage", "sqlite:///missing.db"], "storage sqlite:///missing.db does not exist"),
    ("report-empty-file", ["report", "--storage", "sqlite:///empty.db"], "is an empty file, not an Optuna database"),
    ("report-other-program", ["report", "--storage", "sqlite:///other.db"], "holds the tables invoices, not an Optuna storage"),
    ("report-corrupt", ["report", "--storage", "sqlite:///corrupt.db"], "is not an SQLite database"),
    ("report-folder", ["report", "--storage", "sqlite:///afolder"], "names a folder, not a file"),
    ("report-foreign", ["report", "--storage", "sqlite:///foreign.db"], "study 'theirs' in sqlite:///foreign.db was made by another program, not gsearch (2 trials"),
    ("report-no-such-study", ["report", "--storage", "sqlite:///foreign.db", "--study", "mine"], "no study 'mine' in sqlite:///foreign.db; it holds theirs"),
    ("report-two-studies", ["report", "--storage", "sqlite:///two.db"], "holds studies first, second: pass --study NAME"),
    ("report-no-study", ["report", "--storage", "sqlite:///nostudy.db"], "holds no study yet"),
    ("report-mysql", ["report", "--storage", MYSQL], "pip install mysqlclient"),
    ("report-pg-down", ["report", "--storage", PG_DOWN], "postgresql://user:***@127.0.0.1:9/gsearch"),
    ("report-study-empty", ["report", "--study", ""], "--study: expected a value"),
    ("report-out-empty", ["report", "--out", ""], "--out: expected a value"),
    ("report-default-missing", ["report"], "storage sqlite:///studies/gsearch.db does not exist"),
    # ------------------------------------------------------------ dashboard
    ("dashboard-port-zero", ["dashboard", "--port", "0"], "--port: expected a port 1-65535, got 0"),
    ("dashboard-port-big", ["dashboard", "--port", "70000"], "--port: expected a port 1-65535, got 70000"),
    ("dashboard-port-word", ["dashboard", "--port", "http"], "--port: expected a port 1-65535, got 'http'"),
    ("dashboard-host-empty", ["dashboard", "--host", ""], "--host: expected a value"),
    ("dashboard-host-foreign", ["dashboard", "--storage", "sqlite:///two.db", "--host", "192.0.2.1"], "cannot listen on 192.0.2.1:8080"),
    ("dashboard-empty-file", ["dashboard", "--storage", "sqlite:///empty.db"], "is an empty file, not an Optuna database"),
    ("dashboard-other-program", ["dashboard", "--storage", "sqlite:///other.db"], "not an Optuna storage"),
    ("dashboard-missing", ["dashboard", "--storage", "sqlite:///missing.db"], "does not exist"),
    # ------------------------------------------------------------ profile
    ("profile-window-nan", ["profile", "--window", "nan"], "--window: expected a finite number > 0, got 'nan'"),
    ("profile-window-zero", ["profile", "--window", "0"], "--window: expected a finite number > 0, got '0'"),
    ("profile-warmup-inf", ["profile", "--warmup", "inf"], "--warmup: expected a finite number >= 0, got 'inf'"),
    ("profile-repeats-zero", ["profile", "--repeats", "0"], "--repeats: expected 1 to 1000 windows, got 0"),
    ("profile-batch-zero", ["profile", "--batch", "0"], "batch sizes must be positive integers, got '0'"),
    ("profile-batch-word", ["profile", "--batch", "big"], "malformed batch list 'big'"),
    ("profile-batch-empty-part", ["profile", "--batch", "1,,2"], "malformed batch list '1,,2'"),
    ("profile-cache-file", ["profile", "--cache-dir", "afile", "--energy", "model"], "--cache-dir afile is a file, not a folder"),
    ("profile-cache-under-file", ["profile", "--cache-dir", "afile/cache", "--energy", "model"], "--cache-dir afile/cache cannot be made: afile is a file"),
    ("profile-model-unknown", ["profile", "--model", "vgg", "--energy", "model", "--no-cache"], "vgg"),
    ("profile-policy-malformed", ["profile", "--policy", "G=eight", "--energy", "model", "--no-cache"], "malformed policy 'G=eight'"),
    ("profile-energy-unknown", ["profile", "--energy", "joules"], "--energy: invalid choice: 'joules'"),
    ("profile-model-empty", ["profile", "--model", ""], "--model: expected a value"),
    # ------------------------------------------------------------ table
    ("table-policy-malformed", ["table", "--policy", "G=eight"], "malformed policy 'G=eight': expected G=<int>"),
    ("table-policy-misfit", ["table", "--model", "resnext50", "--policy", "G=3"], "G=3 does not fit layer layer1.0.conv2 (m=128"),
    ("table-model-unknown", ["table", "--model", "vgg"], "vgg"),
    ("table-resolution-zero", ["table", "--resolution", "0"], "--resolution: expected pixels from 1 to 1024, got 0"),
    ("table-format-unknown", ["table", "--format", "xml"], "--format: invalid choice: 'xml'"),
    ("table-policy-empty", ["table", "--policy", ""], "--policy: expected a value"),
    # ------------------------------------------------------------ fidelity
    ("fidelity-checkpoints-file", ["fidelity", "--checkpoints", "afile"], "--checkpoints afile is a file, not a folder"),
    ("fidelity-seeds-words", ["fidelity", "--seeds", "a,b"], "--seeds: expected integers separated by commas, got 'a,b'"),
    ("fidelity-seeds-negative", ["fidelity", "--seeds", "0,-1"], "--seeds: expected seeds from 0 to 4294967295 separated by commas, got '0,-1'"),
    ("fidelity-seeds-empty", ["fidelity", "--seeds", ""], "--seeds: expected integers separated by commas, got ''"),
    ("run-seeds-negative", [*RUN, "--seeds", "3,-1"], "--seeds: expected seeds from 0 to 4294967295"),
    ("run-seeds-huge", [*RUN, "--seeds", f"1,{2**32}"], "--seeds: expected seeds from 0 to 4294967295"),
    ("run-seeds-too-many", [*RUN, "--seeds", ",".join(map(str, range(101)))], "--seeds: expected at most 100 seeds"),
    ("fidelity-sample-zero", ["fidelity", "--sample", "0"], "--sample: expected a positive integer, got 0"),
    ("fidelity-no-root", ["fidelity", "--dataset", "imagenet"], "dataset 'imagenet' needs a data root"),
    ("fidelity-root-file", ["fidelity", "--dataset", "imagenet", "--data-root", "afile"], "data root afile is a file, not a folder"),
    ("fidelity-space-unknown", ["fidelity", "--space", "e3gc"], "unknown search space 'e3gc'"),
    ("fidelity-reference-zero", ["fidelity", "--reference-epochs", "0"], "--reference-epochs: expected a positive integer, got 0"),
    ("fidelity-recipe-no-equals", ["fidelity", "--recipe", "epochs"], "--recipe: expected KEY=VALUE, got 'epochs'"),
]  # fmt: skip

OUTSIDE = "would name a folder outside studies/checkpoints/"
TOO_LONG_NAME = "holds a name of 300 bytes: the file system holds names of at most 255 bytes"
MEMORY = "keeps nothing after this process ends (SQLite in memory)"
IMAGENET_LAYOUT = (
    "expected ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG (ImageFolder layout)"
)
FOOD_LAYOUT = "expected ROOT/food-101/images/<class>/<id>.jpg with ROOT/food-101/meta/train.json"
# Issue 24: names that become paths, storage that keeps nothing, values beyond the machine,
# and the layout a data root should have.
CASES += [
    # ------------------------------------------------------------ names that become folders
    ("study-dotdot", [*RUN, "--study", ".."], f"study name '..' {OUTSIDE}"),
    ("study-dot", [*RUN, "--study", "."], f"study name '.' {OUTSIDE}"),
    ("study-dotdot-inside", [*RUN, "--study", "a/../b"], f"study name 'a/../b' {OUTSIDE}"),
    ("study-dotdot-end", [*RUN, "--study", "mine/.."], f"study name 'mine/..' {OUTSIDE}"),
    ("study-backslash-dotdot", [*RUN, "--study", "..\\up"], OUTSIDE),
    ("study-absolute", [*RUN, "--study", "/tmp/mine"], f"study name '/tmp/mine' {OUTSIDE}"),
    ("study-too-long", [*RUN, "--study", LONG], "is 300 bytes as a folder name under studies/checkpoints/: at most 248 bytes"),
    ("study-too-wide", [*RUN, "--study", WIDE], "is 260 bytes as a folder name under studies/checkpoints/: at most 248 bytes"),
    ("study-just-too-long", [*RUN, "--study", "n" * 251], "is 251 bytes as a folder name"),
    ("study-control-char", [*RUN, "--study", "a\tb"], "holds the control character '\\t'"),
    ("study-default-too-long", [*RUN, "--space", "s" * 245 + ".toml"], "(261 characters) is 261 bytes as a folder name"),
    ("workers-study-dotdot", [*RUN, "--workers", "2", "--study", "../logs"], f"study name '../logs' {OUTSIDE}"),
    ("worker-study-dotdot", ["worker", "--space", "tiny.toml", "--energy", "model", "--study", ".."], OUTSIDE),
    ("worker-study-absolute", ["worker", "--space", "tiny.toml", "--energy", "model", "--study", "/x"], OUTSIDE),
    ("worker-study-too-long", ["worker", "--space", "tiny.toml", "--energy", "model", "--study", LONG], "at most 248 bytes"),
    ("report-stored-dotdot", ["report", "--storage", "sqlite:///dotdot.db"], "study name '..' would name a folder outside studies/reports/: a name may not start with a slash nor have . or .. between slashes; pass --out FOLDER"),
    ("report-stored-dotdot-named", ["report", "--storage", "sqlite:///dotdot.db", "--study", ".."], "outside studies/reports/"),
    ("report-stored-too-long", ["report", "--storage", "sqlite:///long.db"], "is 300 bytes as a folder name under studies/reports/"),
    ("report-out-too-long", ["report", "--storage", "sqlite:///two.db", "--study", "first", "--out", LONG], f"--out {LONG[:40]!r}... (300 characters) {TOO_LONG_NAME}"),
    ("profile-cache-too-long", ["profile", "--cache-dir", LONG, "--energy", "model"], f"--cache-dir {LONG[:40]!r}... (300 characters) {TOO_LONG_NAME}"),
    ("calibrate-cache-too-long", ["calibrate", "--cache-dir", LONG], TOO_LONG_NAME),
    ("calibrate-csv-too-long", ["calibrate", "--csv", f"{LONG}.csv"], "holds a name of 304 bytes"),
    ("calibrate-csv-under-file", ["calibrate", "--csv", "afile/t.csv"], "--csv's folder afile is a file, not a folder"),
    ("calibrate-csv-folder", ["calibrate", "--csv", "afolder"], "--csv afolder is a folder, not a file: pass a file name"),
    ("calibrate-csv-empty", ["calibrate", "--csv", ""], "--csv: expected a value, got an empty string"),
    ("fidelity-checkpoints-too-long", ["fidelity", "--checkpoints", f"x/{LONG}"], TOO_LONG_NAME),
    ("data-root-too-long", [*RUN, "--dataset", "imagenet", "--data-root", LONG], f"data root {LONG[:40]!r}... (300 characters) {TOO_LONG_NAME}"),
    ("space-path-too-long", ["run", "--space", f"{LONG}.toml"], "search space"),
    ("space-name-too-long", ["run", "--space", LONG], "unknown search space"),
    ("storage-file-too-long", [*RUN, "--storage", f"sqlite:///{LONG}.db"], "storage file"),
    ("report-storage-too-long", ["report", "--storage", f"sqlite:///{LONG}.db"], "holds a name of 303 bytes"),
    ("path-too-long", ["profile", "--cache-dir", "/".join(["d" * 200] * 25), "--energy", "model"], "bytes long as an absolute path: the file system holds paths of at most 4095 bytes"),
    # ------------------------------------------------------------ storage that keeps nothing
    ("storage-memory", [*RUN, "--storage", "sqlite:///:memory:"], f"storage sqlite:///:memory: {MEMORY}"),
    ("storage-memory-bare", [*RUN, "--storage", "sqlite://"], f"storage sqlite:// {MEMORY}"),
    ("storage-memory-no-path", [*RUN, "--storage", "sqlite:///"], MEMORY),
    ("storage-memory-uri", [*RUN, "--storage", "sqlite:///file::memory:?cache=shared"], MEMORY),
    ("storage-memory-mode", [*RUN, "--storage", "sqlite:///file:m?mode=memory&uri=true"], MEMORY),
    ("storage-memory-driver", [*RUN, "--storage", "sqlite+pysqlite:///:memory:"], MEMORY),
    ("workers-storage-memory", [*RUN, "--workers", "2", "--storage", "sqlite://"], MEMORY),
    ("worker-storage-memory", ["worker", "--space", "tiny.toml", "--energy", "model", "--storage", "sqlite:///:memory:"], MEMORY),
    ("worker-storage-memory-bare", ["worker", "--space", "tiny.toml", "--energy", "model", "--storage", "sqlite://"], MEMORY),
    ("report-storage-memory", ["report", "--storage", "sqlite:///:memory:"], "storage sqlite:///:memory: is SQLite in memory, new and empty in this process: there is no study in it to report"),
    ("report-storage-memory-bare", ["report", "--storage", "sqlite://", "--study", "x"], "there is no study in it to report"),
    ("dashboard-storage-memory", ["dashboard", "--storage", "sqlite:///:memory:"], "is SQLite in memory, new and empty in this process: the dashboard would show no study"),
    ("dashboard-storage-memory-uri", ["dashboard", "--storage", "sqlite:///file::memory:"], "the dashboard would show no study"),
    # ------------------------------------------------------------ values beyond the machine
    ("recipe-resolution-4096", [*RUN, "--recipe", "resolution=4096"], "recipe field resolution: must be <= 1024 pixels or None"),
    ("recipe-batch-100000", [*RUN, "--recipe", "batch_size=100000"], "recipe field batch_size: must be <= 4096 frames, got 100000"),
    ("recipe-eval-batch-huge", [*RUN, "--recipe", "eval_batch_size=65536"], "recipe field eval_batch_size: must be <= 4096 frames"),
    ("worker-recipe-resolution", ["worker", "--space", "tiny.toml", "--recipe", "resolution=4096"], "must be <= 1024 pixels"),
    ("fidelity-recipe-resolution", ["fidelity", "--recipe", "resolution=4096"], "recipe field resolution: must be <= 1024 pixels"),
    ("epf-resolution-4096", [*RUN, "--epf-resolution", "4096"], "--epf-resolution: expected pixels from 1 to 1024, got 4096"),
    ("space-epf-batch-100000", ["run", "--space", "batch100000.toml"], "epf_batch_sizes[1] must be at most 4096 frames (a larger step exceeds the device's memory), got 100000"),
    ("worker-space-epf-batch", ["worker", "--space", "batch100000.toml"], "epf_batch_sizes[1] must be at most 4096 frames"),
    ("space-epf-resolution-4096", ["run", "--space", "res4096.toml"], "epf_resolution must be an integer from 8 to 1024 pixels, got 4096"),
    ("space-200000-values", ["run", "--space", "values200000.toml"], "policy.values lists 200,000 values: at most 1,000"),
    ("calibrate-space-200000-values", ["calibrate", "--space", "values200000.toml"], "lists 200,000 values"),
    ("space-file-huge", ["run", "--space", "huge.toml"], "search space huge.toml is 2,000,108 bytes: at most 1,048,576"),
    ("calibrate-space-file-huge", ["calibrate", "--space", "huge.toml"], "at most 1,048,576"),
    ("fidelity-space-200000-values", ["fidelity", "--space", "values200000.toml", "--model", "tiny_convnet"], "lists 200,000 values"),
    ("worker-index-negative", ["worker", "--space", "tiny.toml", "--worker-index", "-1"], "--worker-index: expected an integer from 0 to 999, got -1"),
    ("worker-index-huge", ["worker", "--space", "tiny.toml", "--worker-index", "1000"], "--worker-index: expected an integer from 0 to 999, got 1000"),
    ("workers-beyond-the-host", [*RUN, "--workers", "100000"], f"--workers 100000: this host has {os.cpu_count()} CPU cores, so at most {os.cpu_count()} local workers"),
    ("worker-index-word", ["worker", "--space", "tiny.toml", "--worker-index", "two"], "--worker-index: expected an integer from 0 to 999, got 'two'"),
    ("profile-batch-100000", ["profile", "--batch", "1,100000"], "batch sizes must be at most 4096 frames"),
    ("profile-repeats-huge", ["profile", "--repeats", "100000000"], "--repeats: expected 1 to 1000 windows, got 100000000"),
    ("profile-window-huge", ["profile", "--window", "1e300"], "--window: expected more than 0 to 60 seconds, got '1e300'"),
    ("calibrate-warmup-huge", ["calibrate", "--warmup", "3601"], "--warmup: expected 0 to 600 seconds, got '3601'"),
    ("calibrate-repeats-huge", ["calibrate", "--repeats", "5000"], "--repeats: expected 1 to 1000 windows"),
    ("profile-resolution-4096", ["profile", "--resolution", "4096"], "--resolution: expected pixels from 1 to 1024, got 4096"),
    ("profile-classes-huge", ["profile", "--num-classes", "1000000000"], "--num-classes: expected 1 to 100000 classes"),
    ("calibrate-batch-100000", ["calibrate", "--batch", "100000"], "--batch: expected a batch of 1 to 4096 frames, got 100000"),
    ("calibrate-resolution-4096", ["calibrate", "--resolution", "4096"], "--resolution: expected pixels from 1 to 1024"),
    ("table-resolution-huge", ["table", "--resolution", "100000"], "--resolution: expected pixels from 1 to 1024, got 100000"),
    # ------------------------------------------------------------ a data root names its layout
    ("imagenet-root-missing-layout", [*RUN, "--dataset", "imagenet", "--data-root", "nowhere"], f"data root nowhere does not exist; {IMAGENET_LAYOUT}"),
    ("imagenet-root-absent-layout", [*RUN, "--dataset", "imagenet"], f"needs a data root: pass --data-root FOLDER; {IMAGENET_LAYOUT}"),
    ("imagenet-root-file-layout", [*RUN, "--dataset", "imagenet", "--data-root", "afile"], f"data root afile is a file, not a folder; {IMAGENET_LAYOUT}"),
    ("food101-root-missing-layout", [*RUN, "--dataset", "food101", "--data-root", "nowhere"], f"data root nowhere does not exist; {FOOD_LAYOUT}"),
    ("food101-root-absent-layout", [*RUN, "--dataset", "food101"], f"dataset 'food101' needs a data root: pass --data-root FOLDER; {FOOD_LAYOUT}"),
    ("food101-root-file-layout", [*RUN, "--dataset", "food101", "--data-root", "afile"], FOOD_LAYOUT),
    ("worker-root-missing-layout", ["worker", "--space", "tiny.toml", "--dataset", "food101", "--data-root", "nowhere"], FOOD_LAYOUT),
    ("fidelity-root-missing-layout", ["fidelity", "--dataset", "imagenet", "--data-root", "nowhere"], IMAGENET_LAYOUT),
    ("fidelity-food101-absent-layout", ["fidelity", "--dataset", "food101"], FOOD_LAYOUT),
]  # fmt: skip


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(
    workspace: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    one_clear_line(capsys, args, expected, workspace)


def test_the_table_is_large_and_covers_every_command() -> None:
    commands = {args[0] for _, args, _ in CASES if args}
    assert commands >= {"run", "worker", "report", "dashboard", "profile", "table", "fidelity"}
    assert len(CASES) >= 60


def test_a_working_folder_where_studies_cannot_be_made(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace / "blocked")
    args = ["run", "--space", "../tiny.toml", "--energy", "model", "--quiet"]
    one_clear_line(capsys, args, "studies is a file, not a folder", workspace)


def test_dashboard_port_in_use(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        line = one_clear_line(
            capsys,
            ["dashboard", "--storage", "sqlite:///two.db", "--port", port],
            f"cannot listen on 127.0.0.1:{port}",
            workspace,
        )
    assert "another program listens there: pass another --port" in line


def test_profile_prints_nothing_before_its_error(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An error found after the energy source was chosen is still the only line."""
    one_clear_line(
        capsys,
        ["profile", "--model", "tiny_convnet", "--policy", "G=3", "--energy", "model"],
        "G=3",
        workspace,
    )


# ---------------------------------------------------------------- out of memory
CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
    "memory: you tried to allocate 40000000000000 bytes. Error code 12 (Cannot allocate memory)"
)


def test_out_of_memory_in_training_fails_the_trial_with_its_reason(
    workspace: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the bounds let through and the machine cannot hold: the trial is kept failed,
    with the setting to lower as its reason, and no traceback is printed."""

    def out_of_memory(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(CPU_OOM)

    monkeypatch.setattr("gsearch.search.trainer.train_proxy_seeds", out_of_memory)
    url = "sqlite:///oom.db"
    main([*RUN, "--trials", "1", "--storage", url, "--study", "oom"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failed = optuna.load_study(study_name="oom", storage=url).get_trials(
        states=(optuna.trial.TrialState.FAIL,)
    )
    assert failed, "the trial that ran out of memory is kept as failed"
    reason = failed[0].user_attrs[FAILURE_ATTR]
    assert reason.startswith("training tiny_convnet G=") and "at batch 64, 32 px on cpu" in reason
    lower = "lower --recipe batch_size or --recipe resolution"
    assert reason.endswith(f"ran out of memory ({CPU_OOM}): {lower}")
    assert reason in err  # the run prints it


def test_out_of_memory_in_measurement_names_the_space_setting() -> None:
    from types import SimpleNamespace

    from gsearch.errors import OutOfMemory
    from gsearch.search.probe import _check

    row = SimpleNamespace(
        status="oom", model="resnext50", batch=4096, resolution=224, epf=None,
        message="CUDA out of memory. Tried to allocate 20.00 GiB",
    )  # fmt: skip
    with pytest.raises(OutOfMemory) as caught:
        _check([row])  # type: ignore[list-item]
    assert str(caught.value) == (
        "EPF of resnext50 at batch 4096, 224 px ran out of memory (CUDA out of memory. "
        "Tried to allocate 20.00 GiB): lower the space's epf_batch_sizes or --epf-resolution"
    )


@pytest.mark.parametrize(
    ("target", "args", "expected"),
    [
        ("gsearch.table.describe_variants", ["table"], "gsearch table: out of memory ([enforce fail"),
        ("gsearch.profile.profile", ["profile", "--energy", "model", "--no-cache"], "lower --batch, --resolution or --num-classes"),
    ],
)  # fmt: skip
def test_out_of_memory_elsewhere_is_one_line(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    args: list[str],
    expected: str,
) -> None:
    def out_of_memory(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(CPU_OOM)

    monkeypatch.setattr(target, out_of_memory)
    one_clear_line(capsys, args, expected, workspace)


# ---------------------------------------------------------------- storage faults
def _trial_count(url: str) -> int:
    return sum(s.n_trials for s in optuna.get_all_study_summaries(url))


@pytest.fixture
def gsearch_storage(workspace: Path) -> str:
    """An Optuna storage holding one trial of another gsearch study (the run adds its own)."""
    url = "sqlite:///faulty.db"
    _study(url, "earlier", GSEARCH_ATTRS)
    return url


def _writes_fail(monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """Every INSERT, UPDATE and DELETE fails in the SQLite driver as ``message`` says.

    Raised inside SQLAlchemy's execute, so it reaches Optuna wrapped as a real driver
    error is (a tiny filesystem to fill would need root to mount)."""
    from sqlalchemy.engine.default import DefaultDialect

    real = DefaultDialect.do_execute

    def do_execute(self, cursor, statement, parameters, context=None):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError(message)
        return real(self, cursor, statement, parameters, context)

    monkeypatch.setattr(DefaultDialect, "do_execute", do_execute)


@pytest.mark.slow
def test_full_disk_is_one_line_and_adds_no_trial(
    workspace: Path,
    gsearch_storage: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        _writes_fail(patch, "database or disk is full")
        one_clear_line(
            capsys,
            [*RUN, "--storage", gsearch_storage, "--trials", "3", "--recipe", "epochs=1"],
            "storage sqlite:///faulty.db: no space left on device: free space",
            workspace,
        )
    assert _trial_count(gsearch_storage) == 1


@pytest.mark.slow
def test_read_only_database_is_one_line_and_adds_no_trial(
    workspace: Path,
    gsearch_storage: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite's own read-only mode (tests run as root, whom chmod does not stop)."""
    import sqlalchemy
    from sqlalchemy import event

    def query_only(connection: sqlite3.Connection, _record: object) -> None:
        connection.execute("PRAGMA query_only = ON")

    event.listen(sqlalchemy.engine.Engine, "connect", query_only)
    try:
        one_clear_line(
            capsys,
            [*RUN, "--storage", gsearch_storage, "--trials", "3", "--recipe", "epochs=1"],
            "storage sqlite:///faulty.db is read-only",
            workspace,
        )
    finally:
        event.remove(sqlalchemy.engine.Engine, "connect", query_only)
    assert _trial_count(gsearch_storage) == 1


@pytest.fixture
def locked(gsearch_storage: str, workspace: Path) -> Iterator[Callable[[], None]]:
    """Another process's exclusive lock on the database (the 5 s busy wait runs out)."""
    holder = sqlite3.connect(workspace / "faulty.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield lambda: None
    holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["report", "--storage", "sqlite:///faulty.db"], [*RUN, "--storage", "sqlite:///faulty.db"]],
)
def test_locked_database_is_called_locked_not_corrupt(
    locked: Callable[[], None],
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    line = one_clear_line(capsys, args, "is locked by another process: wait for it", workspace)
    assert "corrupt" not in line and "move it away" not in line


# ---------------------------------------------------------------- through the console script
def _gsearch(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gsearch.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_subprocess_gets_exit_2_and_one_line(workspace: Path) -> None:
    result = _gsearch(workspace, "report", "--storage", "sqlite:///corrupt.db")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: storage")


@pytest.mark.slow
def test_unwritable_report_folder(workspace: Path) -> None:
    run = _gsearch(workspace, *RUN, "--trials", "1", "--recipe", "epochs=1")
    assert run.returncode == 0, run.stderr
    result = _gsearch(workspace, "report", "--out", "afile/report")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: report folder afile/report is not writable")
    assert result.stderr.count("\n") == 1

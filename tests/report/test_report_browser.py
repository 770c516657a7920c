"""The page in a real browser: headless Debian chromium, network off, reading what it drew.

Skips where no chromium is installed; CI (.ci/run) installs Debian's ``chromium``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gsearch.report import write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if os.environ.get("GSEARCH_REQUIRE_BROWSER") and not Path(CHROMIUM).exists():
    pytest.fail("CI runs the browser test: apt-get install chromium", pytrace=False)
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium: apt-get install chromium"),
    pytest.mark.slow,
]

# Per rendered trace: its name, its subplot's axes and how many markers it drew.
TRACES_JS = """() => Array.from(document.querySelectorAll('.scatterlayer .trace')).map(g => {
    const trace = g.__data__[0].trace;
    return {name: trace.name, axes: trace.xaxis + trace.yaxis,
            markers: g.querySelectorAll('path.point').length};
})"""


@pytest.fixture
def report(tie_builder: Any, tmp_path: Path) -> Path:
    # The tie study (front #0 and #1, #2 tied, #3 and #6 dominated, #4 a copy, #5 over budget)
    # and 24 more trials, to count markers on a busier page.
    rng = random.Random(14)
    made = tie_builder
    for _ in range(24):
        epf = rng.uniform(14.0, 40.0)
        top1 = rng.uniform(70.0, 88.0)
        made.add(epf, (epf * 0.98, epf * 1.02), [top1 - 0.8, top1, top1 + 0.6],
                 rng.uniform(4.3, 9.0), policy=f"g={rng.choice([2, 4, 8, 16, 32])}")  # fmt: skip
    write_report(made.study, tmp_path / "report", {"device": "test", "dataset": "digits"})
    return tmp_path / "report"


@pytest.fixture
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


def test_the_rendered_page(report: Path, browser: Any) -> None:
    document = json.loads((report / "report.json").read_text())
    trials = document["trials"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []

    def only_files(route: Any) -> None:  # the network is off: nothing but the file itself
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto((report / "report.html").as_uri())
    page.wait_for_selector(".scatterlayer path.point")

    # One marker per complete trial that is its own point (a copy repeats an earlier one):
    # all of them where top-1 is no axis, the trained ones where it is.
    drawn = page.evaluate(TRACES_JS)
    markers: dict[str, int] = {}
    for trace in drawn:
        markers[trace["axes"]] = markers.get(trace["axes"], 0) + trace["markers"]
    own = [t for t in trials if t["reused_from"] is None]
    trained = [t for t in own if t["trained"]]
    assert len(own) == 30 and len(trained) == 29
    assert markers == {"xy": len(trained), "x2y2": len(trained), "x3y3": len(own)}

    # Tie marks: the tied trials' own legend group in each projection, and their table rows.
    tied = [t["number"] for t in document["tied"]]
    assert 2 in tied
    tied_markers = [t["markers"] for t in drawn if t["name"] == "tied with the front"]
    assert tied_markers == [len(tied)] * 3
    rows = page.locator("table").first.locator("tr.tied")
    assert rows.count() == len(tied) and "tied with #0" in rows.first.inner_text()
    assert "when no front trial dominates it beyond measurement" in page.inner_text("#tie-rule")

    # The hover text of the front's first point (trial #0, the lowest EPF).
    in_xy = [t["name"] for t in drawn if t["axes"] == "xy"]  # DOM order within the subplot
    traces = page.locator(".subplot.xy .scatterlayer .trace")
    bounds = traces.nth(in_xy.index("Pareto front")).locator("path.point").first.bounding_box()
    assert bounds is not None
    page.mouse.move(bounds["x"] + bounds["width"] / 2, bounds["y"] + bounds["height"] / 2)
    hover = page.locator(".hoverlayer .hovertext").first
    hover.wait_for()
    text = hover.evaluate(
        "g => Array.from(g.querySelectorAll('text.nums tspan.line')).map(t => t.textContent)"
        ".join('\\n')"
    )
    for expected in ("trial #0", "mobilenet_v1", "G=1", "energy per frame: 10.0 mJ (9.8–10.3)",
                     "seeds: 90.0, 91.0, 92.0 %", "parameters: 4.20 M", "MACs 569 M",
                     "2.50 ms/frame", "fidelity proxy", "energy source nvml", "Pareto front",
                     "same network as #4"):  # fmt: skip
        assert expected in text, text

    # A legend click hides the group in all three projections.
    page.mouse.move(0, 0)
    page.locator(".legend .traces", has_text="tied with the front").locator(".legendtoggle").click()
    # plotly waits out its double-click delay before it acts on a single click.
    page.wait_for_function(
        f"() => !({TRACES_JS})().some(t => t.name === 'tied with the front' && t.markers)",
        timeout=5000,
    )
    left = {t["name"] for t in page.evaluate(TRACES_JS) if t["markers"]}
    assert left == {"Pareto front", "other trials", "over the energy budget"}

    # Tables sort by a click on their header; nothing is wider than a 1280 px window.
    table = page.locator("table").nth(1)
    table.locator("th", has_text="energy per frame").click()
    first = table.locator("tbody tr").first.inner_text()
    assert first.startswith("#0") or first.startswith("#4"), first  # the lowest EPF (10.0 mJ)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280

    assert errors == []
    assert blocked == [] and all(url.startswith("file://") for url in requests), requests

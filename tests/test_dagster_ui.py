"""The Dagster UI, checked as a person would: ``dagster dev`` on 127.0.0.1 (the fixture in
tests/fixtures/dagster_dev.py), the watch sensor turned on through the GraphQL API (its batches
become partitions of the ``lake`` folder asset), the ``shots`` folder materialized with its
"Materialize" button, then headless Chromium (Debian's ``chromium``, driven by Playwright) over
the folder asset's pages: the asset, its partitions, its check and its status, its preview table
of registered files; then its "Materialize…" button on one partition; and no GraphQL error,
page error or console error on the way.

``make ui-check`` runs this module alone and keeps the screenshot of the folder asset page as
docs/dagster-folder-asset.png (``ORCHESTRATION_PKG_UI_SCREENSHOT``). To check more of a page,
add the text it must show to ``METADATA`` or ``VIEWS``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fixtures.dagster_deploy import START_SENSOR, DagsterDeployment
from tests.fixtures.dagster_dev import LISTED, WATCHED, WATCHED_BATCH, WATCHED_OBJECTS

pytestmark = pytest.mark.timeout(300)

REQUIRE_ENV = "ORCHESTRATION_PKG_REQUIRE_BROWSER"
SCREENSHOT_ENV = "ORCHESTRATION_PKG_UI_SCREENSHOT"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUNS_TIMEOUT, TEXT_TIMEOUT_MS = 120.0, 30_000
LOCATION, SENSOR = "orchestration_pkg", "watch_sensor_acme"
# What the folder asset's latest materialization must show on its page.
METADATA = ("job_id", "created", "unchanged", "failed", "bytes_read", "requests", "preview")
# Per tab of the watched folder's page: text that must be on it (the test adds what it derives).
VIEWS = {
    "": (f"Catalog folder '{WATCHED}'", "Latest materialization", SENSOR, *METADATA),
    "?view=partitions": (),
    "?view=checks": ("no_unit_errors", "Passed"),
}
RUNS = """{ runsOrError { __typename ... on Runs { results {
  runId status jobName tags { key value } assetSelection { path }
  creationTime startTime endTime } } } }"""
PARTITIONS = """query Keys($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
  __typename ... on AssetNode { partitionKeys } } }"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def asset_path(folder: str) -> str:
    return f"/assets/{LOCATION}/folder/{folder}"


def chromium_path() -> str:
    """Debian's chromium, with Playwright importable; else skip (fail when required)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but chromium or playwright is missing", pytrace=False)
        pytest.skip("UI check skipped: chromium (apt) or playwright (pip) is missing")
    return path


@dataclass
class Browser:
    """One Chromium page, and what went wrong in it (filled in by its listeners)."""

    page: Any
    problems: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def show(self, url: str, texts: tuple[str, ...] | list[str]) -> None:
        """Open ``url``, wait until every text is on the page."""
        self.page.goto(url)
        for text in texts:
            self.page.get_by_text(text, exact=False).first.wait_for(timeout=TEXT_TIMEOUT_MS)

    def body(self) -> str:
        return str(self.page.inner_text("body"))

    def wait_until(self, shown: Callable[[str], bool]) -> None:
        """Poll the page's text until ``shown(text)``, for TEXT_TIMEOUT_MS at most."""
        deadline = time.monotonic() + TEXT_TIMEOUT_MS / 1000
        while not shown(body := self.body()):
            assert time.monotonic() < deadline, body
            self.pause()

    def pause(self, ms: int = 300) -> None:
        """Wait while Playwright serves the page: its route and listeners run only inside a
        Playwright call (sync API), never during ``time.sleep`` (the page's requests hang)."""
        self.page.wait_for_timeout(ms)

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        host = urlsplit(message.location.get("url") or "").hostname
        if host and host != "127.0.0.1":
            return  # a request to the outside, aborted by the route below
        self.problems.append(f"console: {message.text}")

    def on_response(self, response: Any) -> None:
        if urlsplit(response.url).path != "/graphql":
            return
        try:
            body = response.json()
        except Exception:  # noqa: BLE001 - not JSON (an aborted or streamed response)
            return
        text = json.dumps(body)
        if body.get("errors") or '"PythonError"' in text:
            self.problems.append(f"graphql: {text[:2000]}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium whose pages may only talk to 127.0.0.1."""
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),  # = --user-data-dir
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1850},  # down to the preview table
        )
        page = context.new_page()
        ui = Browser(page)

        def loopback_only(route: Any) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                ui.outside.append(route.request.url)
                route.abort()

        context.route("**/*", loopback_only)
        page.on("console", ui.on_console)
        page.on("pageerror", lambda error: ui.problems.append(f"page error: {error}"))
        page.on("response", ui.on_response)
        try:
            yield ui
        finally:
            context.close()


def _runs(dev: DagsterDeployment) -> list[dict[str, Any]]:
    result = dev.graphql(RUNS)["runsOrError"]
    assert result["__typename"] == "Runs", result
    return list(result["results"])


def _wait_for_runs(dev: DagsterDeployment, count: int, ui: Browser) -> list[dict[str, Any]]:
    """Poll until ``count`` runs exist and all have finished."""
    deadline = time.monotonic() + RUNS_TIMEOUT
    while True:
        runs = _runs(dev)
        if len(runs) >= count and all(r["status"] in FINISHED for r in runs):
            return runs
        if time.monotonic() > deadline:
            states = [(r["jobName"], r["status"]) for r in runs]
            pytest.fail(f"runs not finished: {states}\n{dev.log_tails()}", pytrace=False)
        ui.pause()


@dataclass
class Materialized:
    runs: list[dict[str, Any]]
    partitions: list[str]
    seconds: float


@pytest.fixture(scope="module")
def materialized(dagster_dev: DagsterDeployment, browser: Browser) -> Materialized:
    """The watch sensor on (GraphQL), ``shots`` materialized with its button; all runs done."""
    started = time.monotonic()
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "sensorName": SENSOR,
    }
    result = dagster_dev.graphql(START_SENSOR, {"selector": selector})["startSensor"]
    assert result["__typename"] == "Sensor", f"{result}\n{dagster_dev.log_tails()}"
    browser.show(f"{dagster_dev.webserver_url}{asset_path(LISTED)}", [f"Catalog folder '{LISTED}'"])
    button = browser.page.locator("button", has_text="Materialize").first
    button.wait_for(timeout=TEXT_TIMEOUT_MS)
    button.click()  # defaults of the run config validate: no launchpad, a run at once
    deadline = time.monotonic() + RUNS_TIMEOUT  # the launch loads the job from the code server
    while not any(r["jobName"] == "__ASSET_JOB" for r in _runs(dagster_dev)):
        dialog = browser.page.get_by_role("dialog")  # the launchpad: the config did not validate
        if dialog.count() or time.monotonic() > deadline:
            shown = dialog.first.inner_text() if dialog.count() else browser.body()[-2000:]
            pytest.fail(f"no run from the Materialize button:\n{shown}", pytrace=False)
        browser.pause()
    batches = WATCHED_OBJECTS // WATCHED_BATCH
    runs = _wait_for_runs(dagster_dev, batches + 1, browser)
    key = {"path": [LOCATION, "folder", WATCHED]}
    node = dagster_dev.graphql(PARTITIONS, {"key": key})["assetNodeOrError"]
    return Materialized(runs, list(node["partitionKeys"]), time.monotonic() - started)


def test_runs_from_the_sensor_and_the_button_succeed(dagster_dev, materialized):
    runs, detail = materialized.runs, dagster_dev.log_tails()
    assert {r["status"] for r in runs} == {"SUCCESS"}, detail
    (button_run,) = [r for r in runs if r["jobName"] == "__ASSET_JOB"]
    assert {"key": "dagster/from_ui", "value": "true"} in button_run["tags"]
    assert button_run["assetSelection"] == [{"path": [LOCATION, "folder", LISTED]}]
    batch_runs = [r for r in runs if r["jobName"] == "watch_job_acme"]
    partitions = sorted(
        t["value"] for r in batch_runs for t in r["tags"] if t["key"] == "dagster/partition"
    )
    assert len(batch_runs) == WATCHED_OBJECTS // WATCHED_BATCH
    assert partitions == sorted(materialized.partitions)  # one partition per batch
    first = min(r["creationTime"] for r in runs)
    spans = [
        f"{r['jobName']} {r['startTime'] - first:.1f}–{r['endTime'] - first:.1f}s" for r in runs
    ]
    print(f"runs done in {materialized.seconds:.1f}s after the sensor's start: {spans}")


def test_folder_asset_page_shows_partitions_check_and_preview(
    dagster_dev, materialized, browser, tmp_path
):
    url = f"{dagster_dev.webserver_url}{asset_path(WATCHED)}"
    batches = [
        dagster_dev.keys[i : i + WATCHED_BATCH] for i in range(0, WATCHED_OBJECTS, WATCHED_BATCH)
    ]
    partitions = materialized.partitions
    derived = {"?view=partitions": (f"Materialized ({len(partitions)})", *partitions)}
    screenshot = tmp_path / "folder-asset.png"
    for view, texts in VIEWS.items():
        browser.show(f"{url}{view}", (*texts, *derived.get(view, ())))
        if view == "":  # the preview table lists the files of the latest batch
            browser.wait_until(lambda body: any(all(k in body for k in b) for b in batches))
            browser.page.screenshot(path=str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get(SCREENSHOT_ENV):
        _keep_small(screenshot, Path(os.environ[SCREENSHOT_ENV]))


def test_listed_folder_page_shows_its_files_and_check(dagster_dev, materialized, browser):
    url = f"{dagster_dev.webserver_url}{asset_path(LISTED)}"
    browser.show(url, ("preview", "shots/shot 0.png", "shots/shot 1.png", "summary"))
    browser.show(f"{url}?view=checks", ("no_unit_errors", "Passed"))


def test_materialize_on_a_partition_registers_its_batch_again(dagster_dev, materialized, browser):
    """The folder asset's "Materialize…" button, one partition picked: a run without run config
    that takes the batch's keys from the sensor's run of that partition and succeeds."""
    browser.show(f"{dagster_dev.webserver_url}{asset_path(WATCHED)}", ("preview",))
    browser.page.locator("button", has_text="Materialize").first.click()
    dialog = browser.page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    partition = materialized.partitions[0]
    browser.page.get_by_text(partition, exact=True).filter(visible=True).first.click()
    dialog.locator("button", has_text="Launch 1 run").click()
    runs = _wait_for_runs(dagster_dev, len(materialized.runs) + 1, browser)
    (run,) = [r for r in runs if r["runId"] not in {m["runId"] for m in materialized.runs}]
    assert {"key": "dagster/partition", "value": partition} in run["tags"]
    assert run["status"] == "SUCCESS", dagster_dev.log_tails()


def test_pages_showed_no_error(browser, materialized):
    """Runs after the others (module order): every page they opened, without an error."""
    assert browser.problems == []
    print(f"requests to the outside, aborted: {sorted(set(browser.outside))}")  # Dagster's own


def _keep_small(source: Path, target: Path) -> None:
    """Save the screenshot as a 256-colour PNG (a third of the size, still sharp)."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256).save(target, optimize=True)

"""The Dagster UI, checked as a person would: headless Chromium (Debian's ``chromium``, driven by
Playwright) on the folder asset page of the running deployment (tests/fixtures/dagster_deploy.py)
after a materialization launched through the GraphQL API. Called by
``tests/test_dagster_deploy.py::test_folder_asset_page_shows_partitions_check_and_metadata``
(which shares the deployment with the scale-out test).

To check more of the page, add the text it must show to ``EXPECTED_METADATA`` or ``VIEWS``.
``make ui-check`` runs that test alone and keeps its screenshot as docs/dagster-folder-asset.png
(``ORCHESTRATION_PKG_UI_SCREENSHOT``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dagster import DagsterRunStatus

from orchestration_pkg.core.catalog import Catalog
from tests.fixtures.dagster_deploy import FOLDER

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
ASSET_PATH = "/assets/orchestration_pkg/folder/lake"
# Metadata keys the folder asset's latest materialization must show on its page.
EXPECTED_METADATA = (
    "job_id",
    "created",
    "updated",
    "unchanged",
    "failed",
    "bytes_read",
    "requests",
    "preview",
    "summary",
)
# Per tab: text that must be on it (besides what the test derives from the deployment).
VIEWS = {
    "": ("Catalog folder 'lake'", "Latest materialization", "watch_sensor_acme"),
    "?view=partitions": (),
    "?view=checks": ("no_unit_errors", "a file of the run could not be registered", "Passed"),
}

REEXECUTE = """
mutation Reexecute($parent: String!) {
  launchRunReexecution(reexecutionParams: {parentRunId: $parent, strategy: ALL_STEPS}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""


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


def _reexecute_one_batch(deployment, burst) -> tuple[list[str], list[str]]:
    """Launch one batch run again through GraphQL (the UI's "Re-execute") and wait for it."""
    parent = burst.runs[0].dagster_run
    result = deployment.graphql(REEXECUTE, {"parent": parent.run_id})["launchRunReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["runId"]
    with deployment.instance() as instance:
        deadline = time.monotonic() + 90
        while (run := instance.get_run_by_id(run_id)) and not run.is_finished:
            assert time.monotonic() < deadline, deployment.log_tails()
            time.sleep(0.3)
        assert run.status is DagsterRunStatus.SUCCESS, deployment.log_tails()
        partitions = instance.get_dynamic_partitions("acme_batches")
    (op_config,) = parent.run_config["ops"].values()
    return op_config["config"]["keys"], partitions


def check_folder_asset_page(dagster_deployment, watch_burst, tmp_path: Path) -> None:
    """Re-execute one batch through GraphQL, then assert the folder asset's pages in Chromium."""
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    batch_keys, partitions = _reexecute_one_batch(dagster_deployment, watch_burst)
    catalog = Catalog(dagster_deployment.catalog_url)
    try:
        latest = catalog.list_jobs(FOLDER, limit=1)[0]
    finally:
        catalog.dispose()
    assert latest.unchanged == len(batch_keys)  # the re-run found its batch registered
    expected = {
        "": (*EXPECTED_METADATA, latest.job_id, *batch_keys, "unchanged"),
        "?view=partitions": (f"Materialized ({len(partitions)})", *partitions),
    }
    outside: list[str] = []
    screenshot = tmp_path / "folder-asset.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # = --user-data-dir
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1150},  # down to the preview table
        )

        def loopback_only(route):  # the page may only talk to the webserver
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                return route.continue_()
            outside.append(route.request.url)
            return route.abort()

        browser.route("**/*", loopback_only)
        page = browser.new_page()
        try:
            for view, texts in VIEWS.items():
                page.goto(f"{dagster_deployment.webserver_url}{ASSET_PATH}{view}")
                page.wait_for_load_state("networkidle")
                for text in (*texts, *expected.get(view, ())):
                    page.get_by_text(text, exact=False).first.wait_for(timeout=15_000)
                assert "lake" in page.inner_text("body")
                if view == "":
                    page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get(SCREENSHOT_ENV):
        _keep_small(screenshot, Path(os.environ[SCREENSHOT_ENV]))


def _keep_small(source: Path, target: Path) -> None:
    """Save the screenshot as a 256-colour PNG (a third of the size, still sharp)."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256).save(target, optimize=True)

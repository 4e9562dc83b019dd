"""The manifest fuzzer (:mod:`tests.fuzz_manifests`): over a thousand cases read in a child
process (bounded peak RSS), a sample registered in-process, a few through the real CLI.

Oracles: no exception but a one-line ``ManifestError`` ever leaves the reader; in a manifest
that is still well-formed every bad row is its own row error and every good row is read with
its URL; a job counts each row once (registered, failed) and stores exactly what it reports;
the CLI exits 0, 1 or 2 with at most one stderr line and no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration_pkg.core.catalog import Catalog
from orchestration_pkg.core.config import S3IntegrationConfig
from orchestration_pkg.core.engine import RegistrationEngine, RegistrationOptions
from orchestration_pkg.core.errors import ManifestError
from orchestration_pkg.core.manifest import read_manifest
from orchestration_pkg.core.models import JobStatus
from orchestration_pkg.core.providers.s3.storage import S3Storage
from tests.fuzz_manifests import BUCKET, FORMATS, PREFIX, Case, duplicate_case, make_case
from tests.test_cli import CLI

ROOT = Path(__file__).resolve().parents[1]
SEED = 20_260_101
CASES = 1_100
SECRET = "fuzz-SECRET-never-shown-5150"


def test_a_thousand_fuzzed_manifests_are_read_without_surprises():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_manifests", str(SEED), str(CASES)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["cases"] >= 1_000
    assert report["failures"] == [], report["failures"][:10]
    pairs = {key.rsplit("/", 1)[0] for key in report["kinds"]}
    assert pairs == {f"{fmt}/{shape}" for fmt, shapes in FORMATS.items() for shape in shapes}
    assert any(key.endswith("/damaged") for key in report["kinds"])
    assert report["hwm_kb"] < 300 * 1024, f"peak RSS {report['hwm_kb']} kB"


@pytest.fixture(scope="module")
def offline_storage() -> S3Storage:
    """An S3 integration whose endpoint nobody listens on: ``fetch=none`` never calls it."""
    config = S3IntegrationConfig(
        name="fuzz", bucket=BUCKET, prefix=PREFIX, endpoint_url="http://127.0.0.1:1"
    )
    return S3Storage(config)


def _register(catalog: Catalog, storage: S3Storage, case: Case, path: Path, strict: bool):
    """The finished job, or ``None`` when the manifest could not even be opened."""
    path.write_bytes(case.data)
    options = RegistrationOptions(ignore_errors=not strict, fetch="none")
    try:
        manifest = read_manifest(path)
    except ManifestError as exc:  # a damaged file found at once (e.g. the Encord flags pass)
        assert case.expect is None, (case.name, str(exc))
        return None
    return RegistrationEngine(catalog, storage).register(
        manifest, case.name.replace(".", "-"), options
    )


def test_fuzzed_manifests_register_exactly_what_they_report(offline_storage, tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    checked = damaged = 0
    try:
        for index in range(0, 600, 4):
            case = make_case(SEED, index)
            strict = index % 3 == 0
            result = _register(catalog, offline_storage, case, tmp_path / case.name, strict)
            if result is None:
                damaged += 1
                continue
            stored = catalog.get_job(result.job_id)
            assert stored.status is result.status and stored.registered == result.registered
            files = _files(catalog, case.name.replace(".", "-"))
            if case.expect is None:
                damaged += 1
                assert result.status in (JobStatus.DONE, JobStatus.FAILED)
                assert files == (result.registered if result.status is JobStatus.DONE else 0)
                continue
            checked += 1
            bad_rows, bad_urls = case.expect.count("row"), case.expect.count("url")
            assert result.total == len(case.expect), case.name
            if strict and (bad_rows or bad_urls):
                assert result.status is JobStatus.FAILED and files == 0, case.name
                continue
            assert result.status is JobStatus.DONE, (case.name, result.error)
            assert (result.registered, result.failed) == (
                case.expect.count("ok"),
                bad_rows + bad_urls,
            )
            assert files == result.registered, case.name
            codes = sorted(u.code for u in result.unit_errors)
            assert codes == sorted(["malformed_row"] * bad_rows + ["bad_url"] * bad_urls), (
                case.name,
                [(u.row, u.code, u.error[:80]) for u in result.unit_errors],
            )
    finally:
        catalog.dispose()
    assert checked > 100 and damaged > 5


def _files(catalog: Catalog, folder: str) -> int:
    try:
        return catalog.get_folder(folder).file_count
    except Exception:  # noqa: BLE001 - a failed job removes the folder it created
        return 0


def test_a_hundred_thousand_copies_of_a_row_register_once(offline_storage, tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        case = duplicate_case()
        result = _register(catalog, offline_storage, case, tmp_path / case.name, strict=True)
        assert result is not None
    finally:
        catalog.dispose()
    assert result.status is JobStatus.DONE
    assert (result.total, result.registered) == (100_000, 1)
    assert result.stats["duplicate_rows"] == 99_999


def test_fuzzed_manifests_through_the_cli(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'c.db'}\n"
        f"integrations: [{{name: fuzz, provider: s3, bucket: {BUCKET}, prefix: {PREFIX}, "
        "endpoint_url: 'http://127.0.0.1:1', auth: {method: access_key, access_key_id: k, "
        "secret_access_key: '${FUZZ_SECRET}'}}]\n",
        encoding="utf-8",
    )
    env = {**os.environ, "FUZZ_SECRET": SECRET, "AWS_EC2_METADATA_DISABLED": "true"}
    picked = _cli_sample()
    for case in picked:
        path = tmp_path / case.name
        path.write_bytes(case.data)
        args = ["--config", str(config), "register", str(path), "-f", case.name.split(".")[0]]
        proc = subprocess.run(
            [CLI, *args, "--fetch", "none", "--ignore-errors", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        where = f"{case.name} ({case.shape}): {proc.stderr[-500:]}"
        assert proc.returncode in (0, 1, 2), where
        assert "Traceback" not in proc.stderr + proc.stdout, where
        assert len(proc.stderr.strip().splitlines()) <= 1, where
        assert SECRET not in proc.stderr + proc.stdout, where
        if case.expect is not None:
            doc = json.loads(proc.stdout)
            assert doc["total"] == len(case.expect), where
            assert doc["registered"] == len(
                {u for u, e in zip(case.urls, case.expect, strict=True) if e == "ok"}
            )


def _cli_sample() -> list[Case]:
    """One well-formed and one damaged case of every format."""
    picked: list[Case] = []
    seen: set[tuple[str, bool]] = set()
    index = 10_000
    while len(picked) < 2 * len(FORMATS) and index < 20_000:
        case = make_case(SEED, index)
        index += 1
        key = (case.fmt, case.expect is None)
        if key not in seen:
            seen.add(key)
            picked.append(case)
    return picked

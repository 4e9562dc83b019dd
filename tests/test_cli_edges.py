"""Rough edges of the CLI: every bad input is one line on stderr and a clear exit code.

Through the installed entry point (a real subprocess), against moto. Exit codes: 2 for usage
and config errors, 1 for a failed job (or a job that registered nothing of a non-empty
manifest), 0 otherwise; warnings go to stderr and never change the JSON on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration_pkg.core.storage import AccessCheck
from tests.media import image_bytes
from tests.test_cli import CLI, SECRET, project, run  # noqa: F401 - the fixture is used by name

PY = str(Path(sys.executable))
RULE = "folder names: 1–128 printable characters"


def run_in(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI in ``cwd`` with no ORCHESTRATION_PKG_CONFIG in its environment."""
    base = {k: v for k, v in os.environ.items() if k != "ORCHESTRATION_PKG_CONFIG"}
    full_env = {**base, "AWS_EC2_METADATA_DISABLED": "true", **(env or {})}
    cli = str(Path(sys.executable).parent / "orchestration-pkg")
    return subprocess.run(
        [cli, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120
    )


def one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


BAD_FOLDERS = [
    ("", "must not be empty"),
    (" ", "whitespace"),
    (" lead", "whitespace"),
    ("trail ", "whitespace"),
    ("../etc", "must not contain '/' or '\\'"),
    ("a\\b", "must not contain '/' or '\\'"),
    ("a\tb", "control"),
    ("a\nb", "control"),
    ("x" * 300, "300 characters long (at most 128)"),
    ("-x", "must not start with '-'"),
    ("a%00", "'%'"),
    (".", "'.' or '..'"),
    ("..", "'.' or '..'"),
]


def test_bad_folder_names_are_one_line_exit_2(project):  # noqa: F811
    cfg, env = project["config"], project["env"]
    for name, why in BAD_FOLDERS:
        args = ["register", project["manifest"], f"--folder={name}", "--ignore-errors"]
        line = one_line_error(run("--config", cfg, *args, env=env))
        assert line.startswith("error: folder '"), line
        assert why in line and RULE in line, line
    # Nothing was created by the rejected registers.
    assert json.loads(run("--config", cfg, "folders", "--json", env=env).stdout) == []


@pytest.mark.parametrize(("name", "why"), [BAD_FOLDERS[0], BAD_FOLDERS[4], BAD_FOLDERS[9]])
def test_every_command_taking_a_folder_checks_it(project, name, why):  # noqa: F811
    cfg, env = project["config"], project["env"]
    for args in (
        ["files", "--", name],
        ["presign", "--", name, "data/a b.png"],
        ["jobs", f"--folder={name}"],
    ):
        line = one_line_error(run("--config", cfg, *args, env=env))
        assert line.startswith("error: folder '") and why in line, line


def test_unusual_but_valid_folder_name_works(project):  # noqa: F811
    cfg, env = project["config"], project["env"]
    name = "Café 2024_v1.2-final (ß)"
    proc = run("--config", cfg, "register", project["manifest"], "--folder", name,
               "--ignore-errors", "--json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["folder"] == name
    files = json.loads(run("--config", cfg, "files", name, "--json", env=env).stdout)
    assert len(files) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["register", "m.csv"], "Missing option '--folder'"),
        (["presign", "f", "k", "--ttl", "soon"], "Invalid value for '--ttl'"),
        (["jobs", "--bogus"], "No such option: --bogus"),
        (["nope"], "No such command 'nope'"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, args, message):
    line = one_line_error(run_in(tmp_path, *args))
    assert line.startswith("error: ") and message in line and line.endswith(" --help)")


def _manifest(tmp_path: Path, name: str, rows: list[dict]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(rows), encoding="utf-8")
    return str(path)


def test_register_outcomes_and_exit_codes(project, tmp_path):  # noqa: F811
    cfg, env, bucket = project["config"], project["env"], project["bucket"]

    def register(manifest: str, folder: str, *extra: str) -> subprocess.CompletedProcess:
        return run("--config", cfg, "register", manifest, "--folder", folder, *extra, env=env)

    # Strict job with a bad row: FAILED, exit 1.
    strict = register(project["manifest"], "strict", "--json")
    assert strict.returncode == 1
    assert json.loads(strict.stdout)["status"] == "FAILED"
    assert json.loads(strict.stdout)["outcome"] == "failed"
    job_id = json.loads(strict.stdout)["job_id"]
    (line,) = strict.stderr.strip().splitlines()  # one line says why, with the first error
    assert line.startswith(f"error: job {job_id} FAILED: ") and "first error: " in line

    # --ignore-errors, some rows failed: DONE, exit 0, a warning that says how many.
    partial = register(project["manifest"], "partial", "--ignore-errors", "--json")
    assert partial.returncode == 0
    assert json.loads(partial.stdout)["outcome"] == "partial"
    assert "warning: 1 of 3 rows failed" in partial.stderr

    # --ignore-errors, every row failed: nothing registered from a non-empty manifest -> exit 1.
    missing = [{"url": f"s3://{bucket.name}/data/gone-{i}.png"} for i in range(3)]
    all_bad = register(_manifest(tmp_path, "bad.json", missing), "allbad", "--ignore-errors")
    assert all_bad.returncode == 1
    assert "DONE" in all_bad.stdout and "gone-2.png" in all_bad.stdout
    assert all_bad.stderr.strip() == "error: all 3 rows failed; nothing registered"
    as_json = register(_manifest(tmp_path, "bad.json", missing), "allbad", "--ignore-errors",
                       "--json")  # fmt: skip
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert (doc["registered"], doc["failed"], doc["outcome"]) == (0, 3, "nothing_registered")
    folders = json.loads(run("--config", cfg, "folders", "--json", env=env).stdout)
    assert "allbad" not in {f["name"] for f in folders}  # no empty folder left behind

    # Empty manifest: our choice is exit 0 (nothing was asked, nothing lost) with a warning on
    # stderr, and the JSON says so in "outcome".
    empty = register(_manifest(tmp_path, "empty.json", []), "empty", "--json")
    assert empty.returncode == 0, empty.stderr
    assert empty.stderr.strip() == "warning: manifest has no rows; nothing registered"
    doc = json.loads(empty.stdout)
    assert (doc["total"], doc["outcome"]) == (0, "empty_manifest")


def test_human_output_says_each_error_once_and_does_not_wrap(project, tmp_path):  # noqa: F811
    bucket = project["bucket"]
    long_key = "data/" + "a-rather-long-directory-name/" * 4 + "picture with spaces.png"
    bucket.put(long_key, image_bytes(5, 5, "PNG"), "image/png")
    rows = [
        {"url": f"s3://{bucket.name}/{long_key}"},
        {"url": f"s3://{bucket.name}/data/missing.png"},
        {"title": "no url"},
    ]
    proc = run("--config", project["config"], "register", _manifest(tmp_path, "m.json", rows),
               "--folder", "wide", "--ignore-errors", env=project["env"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    missing_url = f"s3://{bucket.name}/data/missing.png"
    [missing] = [line for line in lines if "missing.png" in line]
    assert missing.count(missing_url) == 1 and "NotFound" in missing
    [no_url] = [line for line in lines if "row 3" in line]
    assert no_url.strip().startswith("✗ row 3: ") and no_url.count("row 3") == 1
    assert "missing" in no_url
    summary = next(line for line in lines if line.strip().startswith("rows "))
    assert "created 1" in summary and "new" not in summary and "bytes read" in summary
    listing = run("--config", project["config"], "files", "wide", env=project["env"])
    assert any(long_key in line for line in listing.stdout.splitlines())


@pytest.mark.parametrize(
    ("ttl", "expires", "warning"),
    [
        ("5", "900", "warning: --ttl 5 is below the 15-minute minimum; using 900 s"),
        ("999999", "86400", "warning: --ttl 999999 is above the 24-hour maximum; using 86400 s"),
        ("1800", "1800", ""),
    ],
)
def test_presign_ttl_outside_limits_warns(project, ttl, expires, warning):  # noqa: F811
    cfg, env = project["config"], project["env"]
    assert run("--config", cfg, "register", project["manifest"], "--folder", "p",
               "--ignore-errors", env=env).returncode == 0  # fmt: skip
    proc = run("--config", cfg, "presign", "p", "data/a b.png", "--ttl", ttl, env=env)
    assert proc.returncode == 0
    assert f"X-Amz-Expires={expires}&" in proc.stdout
    assert proc.stderr.strip() == warning


def test_config_show_says_which_file_and_why_without_secrets(project, tmp_path):  # noqa: F811
    env = project["env"]
    cfg = Path(project["config"])
    shown = run("--config", str(cfg), "config", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["config_file"] == str(cfg.resolve()) and doc["source"] == "given with --config"
    assert doc["catalog"] == f"sqlite:///{tmp_path / 'cat.db'}"
    auth = doc["integrations"][0]["auth"]
    assert auth["secret_access_key"] == "**********" and auth["method"] == "access_key"
    assert SECRET not in shown.stdout + shown.stderr

    secret_db = tmp_path / "pg.yaml"
    secret_db.write_text("catalog: postgresql://u:pg-Pa55word@127.0.0.1:1/cat\n", "utf-8")
    by_env = run_in(tmp_path, "config", "show", env={"ORCHESTRATION_PKG_CONFIG": str(secret_db)})
    assert by_env.returncode == 0, by_env.stderr
    assert "why: from $ORCHESTRATION_PKG_CONFIG" in by_env.stdout
    assert (
        "pg-Pa55word" not in by_env.stdout and "postgresql://u:***@127.0.0.1:1/cat" in by_env.stdout
    )

    here = tmp_path / "proj"
    here.mkdir()
    (here / "orchestration_pkg.yaml").write_text(cfg.read_text("utf-8"), "utf-8")
    local = json.loads(run_in(here, "config", "show", "--json", env=env).stdout)
    assert local["source"] == "found ./orchestration_pkg.yaml in the current directory"
    assert local["config_file"] == str((here / "orchestration_pkg.yaml").resolve())


def test_no_config_warns_before_using_the_default_catalog(tmp_path):
    shown = json.loads(run_in(tmp_path, "config", "show", "--json").stdout)
    assert shown["config_file"] is None and shown["catalog"] == "sqlite:///catalog.db"
    assert (
        "looked for --config, $ORCHESTRATION_PKG_CONFIG, ./orchestration_pkg.yaml"
        in (shown["source"])
    )
    proc = run_in(tmp_path, "folders", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    warning = proc.stderr.strip()
    assert warning.startswith("warning: no config found (looked for --config")
    assert warning.endswith("; using sqlite:///catalog.db") and len(warning.splitlines()) == 1
    jobs = run_in(tmp_path, "jobs")
    assert jobs.returncode == 0 and "no config found" in jobs.stderr


def test_access_check_skipped_state():
    assert AccessCheck("head", False, "not tried: no object", skipped=True).skipped
    assert AccessCheck("head", False, "not tried: the URL was rejected").skipped
    assert not AccessCheck("head", False, "NotFound").skipped
    assert not AccessCheck("head", True, "12 bytes").skipped


def test_integrations_test_skips_what_it_cannot_try(tmp_path, s3_bucket):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"catalog: sqlite:///{tmp_path / 'c.db'}\n"
        "integrations:\n"
        f"  - {{name: empty, provider: s3, bucket: {s3_bucket.name}, prefix: nothing-here/,"
        f" endpoint_url: '{s3_bucket.endpoint}', auth: {{method: access_key,"
        " access_key_id: testing, secret_access_key: testing}}\n",
        encoding="utf-8",
    )
    proc = run("--config", str(config), "integrations", "test", "empty", "--json")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    rows = json.loads(proc.stdout)
    skipped = [r for r in rows if r["skipped"]]
    assert len(skipped) == 2 and all("not tried" in r["detail"] for r in skipped)
    assert all(r["ok"] for r in rows if not r["skipped"])
    assert "2 check(s) skipped" in proc.stderr and "nothing-here/" in proc.stderr
    human = run("--config", str(config), "integrations", "test", "empty")
    assert human.returncode == 0 and "skipped" in human.stdout and "FAIL" not in human.stdout


def test_policy_needs_an_origin_for_cors(project):  # noqa: F811
    cfg, env = project["config"], project["env"]
    line = one_line_error(run("--config", cfg, "integrations", "policy", "acme", env=env))
    assert "--origin" in line and "--no-cors" in line
    assert "app.example.com" not in line
    bare = run("--config", cfg, "integrations", "policy", "acme", "--no-cors", env=env)
    assert bare.returncode == 0, bare.stderr
    guide = json.loads(bare.stdout)
    assert "cors" not in guide and "iam_policy" in guide
    assert not any("cors" in note.lower() for note in guide["notes"])  # no CORS to paste
    assert "invalid" not in bare.stdout and "example.com" not in bare.stdout
    both = run("--config", cfg, "integrations", "policy", "acme", "--no-cors", "--origin",
               "https://x.example", env=env)  # fmt: skip
    one_line_error(both)


def test_jobs_lists_newest_first_with_filters(project, tmp_path):  # noqa: F811
    cfg, env = project["config"], project["env"]

    def register(folder: str, *extra: str) -> dict:
        proc = run("--config", cfg, "register", project["manifest"], "--folder", folder,
                   "--json", *extra, env=env)  # fmt: skip
        return json.loads(proc.stdout)

    first = register("f1", "--ignore-errors")
    failed = register("f2")
    again = register("f1", "--ignore-errors")

    def jobs(*args: str) -> list[dict]:
        proc = run("--config", cfg, "jobs", "--json", *args, env=env)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    listed = jobs()
    assert [j["job_id"] for j in listed] == [again["job_id"], failed["job_id"], first["job_id"]]
    top = listed[-1]
    assert (top["status"], top["folder"], top["created"], top["failed"]) == ("DONE", "f1", 2, 1)
    assert top["created_at"] and top["finished_at"]
    assert [j["job_id"] for j in jobs("--folder", "f1")] == [again["job_id"], first["job_id"]]
    assert [j["job_id"] for j in jobs("--status", "failed")] == [failed["job_id"]]
    assert [j["job_id"] for j in jobs("--limit", "1")] == [again["job_id"]]

    human = run("--config", cfg, "jobs", env=env)
    assert human.returncode == 0
    assert all(j["job_id"] in human.stdout for j in listed) and "FAILED" in human.stdout

    assert "must be one of PENDING, RUNNING, DONE, FAILED, ABANDONED" in one_line_error(
        run("--config", cfg, "jobs", "--status", "nope", env=env)
    )
    assert "unknown folder" in one_line_error(
        run("--config", cfg, "jobs", "--folder", "zzz", env=env)
    )


def test_demo_prints_pasteable_commands_and_keeps_its_catalog(tmp_path):
    workdir = tmp_path / "demo dir"
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATION_PKG_CONFIG"}

    def demo(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PY, "-m", "orchestration_pkg.demo", "--workdir", str(workdir), "--images", "2", *args],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=180,
        )  # fmt: skip

    first = demo()
    assert first.returncode == 0, first.stderr
    assert "presign demo 'raw/street scene 000.jpg' --ttl 900" in first.stdout
    assert f"--config '{workdir}/orchestration_pkg.yaml'" in first.stdout
    assert "stops now, as the demo exits" in first.stdout and "--serve" in first.stdout
    catalog = workdir / "catalog.db"
    assert catalog.exists()
    second = demo()
    assert second.returncode == 0, second.stderr
    assert f"keeping the existing catalog {catalog}" in second.stdout
    assert catalog.exists()
    fresh = demo("--fresh")
    assert fresh.returncode == 0 and f"deleted {catalog} (--fresh)" in fresh.stdout


def test_demo_serve_prints_only_the_ui_step_and_stops_cleanly_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATION_PKG_CONFIG"}
    args = ["--workdir", str(tmp_path), "--images", "1", "--serve", "--port", "0"]
    proc = subprocess.Popen(
        [PY, "-m", "orchestration_pkg.demo", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines = []
    for line in proc.stdout:  # until the server says it is serving
        lines.append(line)
        if line.startswith("serving S3 on"):
            break
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    out = "".join(lines) + rest
    assert proc.returncode == 0
    assert "dagster dev -w workspace.yaml" in out and "terminal 1" not in out
    assert "stopped." in rest


def test_output_into_a_closed_pipe_stops_quietly(tmp_path):
    errors = tmp_path / "stderr.txt"
    for args in ("--help", "register --help", "config show"):
        subprocess.run(
            f"{CLI} {args} 2>{errors} | head -c 10 >/dev/null", shell=True, check=False,
            cwd=tmp_path, timeout=60,
        )  # fmt: skip
        assert "Traceback" not in errors.read_text() and "Exception ignored" not in (
            errors.read_text()
        )

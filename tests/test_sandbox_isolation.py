"""What the sandbox isolates, per mode, and what happens where it cannot: refusal, or an explicit opt-in.

Every native mode that works on this machine (root namespaces, user namespaces, bubblewrap) runs the
same probe program: it must see a private /proc, no host secrets, no writable host directory, no
network, a non-root uid, and it cannot signal the evaluator. Modes that do not work here are
simulated by replacing the capability probe, as the CI machines allow.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.evaluation import sandbox_modes
from harness.evaluation.sandbox import run_in_mode, run_tests
from harness.evaluation.sandbox_modes import Capabilities, SandboxUnavailable, world_writable_paths

REPO = Path(__file__).resolve().parent.parent
ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = "assert add(2, 3) == 5\n"

PROBE = """\
import json, os, signal, socket
report = {"uid": os.getuid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
found = []
for pid in report["pids"]:
    for name in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as handle:
                if SECRET.encode() in handle.read():
                    found.append(f"{pid}/{name}")
        except OSError:
            pass
report["secret_in_proc"] = found
report["secret_in_env"] = any(SECRET in v for v in os.environ.values())
written = []
for target in TARGETS:
    try:
        with open(target, "a") as handle:
            handle.write("x")
        written.append(target)
    except OSError:
        pass
report["written"] = written
try:
    os.kill(EVALUATOR, signal.SIGKILL)
    report["kill"] = "sent"
except OSError as error:
    report["kill"] = type(error).__name__
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=1)
    report["network"] = "connected"
except OSError as error:
    report["network"] = type(error).__name__
print(json.dumps(report))
"""


def _native_modes() -> list[str]:
    modes = []
    for mode in ("namespaces", "user-namespace", "bubblewrap"):
        if mode == "namespaces" and os.geteuid() != 0:
            continue
        if mode == "bubblewrap" and not shutil.which("bwrap"):
            continue
        if sandbox_modes._probe_native(mode) is None:
            modes.append(mode)
    return modes


NATIVE = _native_modes() if sys.platform.startswith("linux") else []


@pytest.fixture
def host_targets(tmp_path: Path):
    """World-writable places a program could leave files in: the usual ones and one made here."""
    targets = [f"/tmp/posttrain-sbx-test-{os.getpid()}", f"/var/tmp/posttrain-sbx-test-{os.getpid()}"]
    targets += [f"/dev/shm/posttrain-sbx-test-{os.getpid()}", f"/run/lock/posttrain-sbx-test-{os.getpid()}"]
    made: list[Path] = []
    if os.geteuid() == 0:  # a world-writable directory and file outside /tmp, found by the scan
        spot = Path("/var/lib") / f"posttrain-sbx-test-ww-{os.getpid()}"
        spot.mkdir(mode=0o777, exist_ok=True)
        os.chmod(spot, 0o777)
        open_file = Path("/var/lib") / f"posttrain-sbx-test-wwf-{os.getpid()}"
        open_file.write_text("original")
        os.chmod(open_file, 0o666)
        made += [spot, open_file]
        targets += [str(spot / "escaped"), str(open_file)]
        world_writable_paths.cache_clear()
    yield targets
    for path in made:
        if path.is_dir():
            assert not (path / "escaped").exists(), "a write reached a world-writable host directory"
            shutil.rmtree(path, ignore_errors=True)
        else:
            assert path.read_text() == "original"  # masked: the program's write went nowhere
            path.unlink()
    for target in targets[:4]:
        assert not Path(target).exists(), f"the sandboxed program left {target} on the host"
    world_writable_paths.cache_clear()


@pytest.mark.skipif(not NATIVE, reason="no sandbox mode works on this machine")
@pytest.mark.parametrize("mode", NATIVE)
def test_the_box_holds(mode: str, host_targets: list[str], monkeypatch: pytest.MonkeyPatch):
    secret = "posttrain-secret-" + secrets.token_hex(8)
    monkeypatch.setenv("POSTTRAIN_SBX_TEST_SECRET", secret)
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", f"--api-key={secret}"])
    try:
        head = f"SECRET = {secret!r}\nTARGETS = {host_targets!r}\nEVALUATOR = {os.getpid()}\n"
        head += f"PORT = {server.getsockname()[1]}\n"
        result = run_in_mode(mode, head + PROBE + ADD, ADD_TESTS)
    finally:
        holder.kill()
        holder.wait()
        server.close()
    assert result.passed, result
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["secret_in_proc"] == [] and not report["secret_in_env"]
    assert len(report["pids"]) <= 3  # its own PID namespace: the host's processes are not there
    assert report["written"]  # the writes land in the box's own tmpfs (or /dev/null): the fixture checks the host
    assert report["kill"] in ("ProcessLookupError", "PermissionError")
    assert report["network"] != "connected"
    assert report["uid"] == 65534


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").exists(),
    reason="needs root to start a non-root evaluator",
)
def test_a_non_root_evaluator_gets_a_user_namespace_box(tmp_path: Path):
    script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from harness.evaluation.sandbox import run_tests\n"
        "code = 'import os\\nfor p in (\"/var/tmp/posttrain-sbx-test-nr\", ' + repr(sys.argv[1]) + '):\\n'\n"
        'code += \'    try:\\n        open(p, "w").write("x")\\n    except OSError:\\n        pass\\n\'\n'
        "r = run_tests(code + 'def add(a, b):\\n    return a + b\\n', 'assert add(2, 3) == 5')\n"
        "print(r.isolation, r.passed)\n"
    )
    target = tmp_path / "nobody-writes-here"
    os.chmod(tmp_path, 0o777)  # writable by the non-root user itself, but read-only in its box
    command = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3", "-I", "-c"]
    done = subprocess.run([*command, script, str(target)], capture_output=True, text=True, timeout=60, cwd="/")
    if "No module named" in done.stderr or "Permission denied" in done.stderr:
        pytest.skip(f"the non-root user cannot import the checkout: {done.stderr.strip()[-200:]}")
    mode, passed = done.stdout.split()
    assert passed == "True" and mode in ("user-namespace", "bubblewrap"), done
    assert not target.exists() and not Path("/var/tmp/posttrain-sbx-test-nr").exists()


@pytest.fixture
def no_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without namespaces or bubblewrap (as far as the sandbox can tell)."""
    missing = Capabilities((), ("namespaces: not root", "user-namespace: unshare: Operation not permitted"))
    monkeypatch.setattr(sandbox_modes, "probe_capabilities", lambda: missing)
    monkeypatch.delenv(sandbox_modes.ENV_ALLOW, raising=False)
    monkeypatch.delenv(sandbox_modes.ENV_MODE, raising=False)


def test_without_a_sandbox_model_code_is_refused_and_the_message_names_both_ways_out(no_sandbox: None):
    with pytest.raises(SandboxUnavailable) as refused:
        run_tests(ADD, ADD_TESTS)
    message = str(refused.value)
    assert "bubblewrap" in message and "--allow-unsandboxed" in message and "not root" in message


def test_the_opt_in_runs_it_unsandboxed_with_a_warning_and_hacks_still_fail(
    no_sandbox: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(sandbox_modes, "_WARNED", [])
    sandbox_modes.allow_unsandboxed()
    result = run_tests(ADD, ADD_TESTS)
    assert result.passed and result.isolation == "unsandboxed"
    assert "WITHOUT a sandbox" in capsys.readouterr().err
    assert not run_tests("import os\nos._exit(0)\n", ADD_TESTS).passed
    assert not run_tests("import sys\nsys.exit(0)\n", ADD_TESTS).passed


def test_eval_cli_refuses_then_runs_with_the_flag_and_records_the_mode(
    no_sandbox: None, cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    data = tmp_path / "code.jsonl"
    data.write_text(json.dumps({"id": "1", "prompt": "write add", "reference": "", "tests": ADD_TESTS}) + "\n")
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(json.dumps({"id": "1", "output": ADD}) + "\n")
    args = ["eval", "--data", str(data), "--predictions", str(predictions), "--metrics", "unit_tests"]
    code, _, err = cli(*args, "--out", str(tmp_path / "a"), capsys=capsys)
    assert code == 2 and "--allow-unsandboxed" in err and "Traceback" not in err
    assert not (tmp_path / "a" / "summary.json").exists()
    code, _, err = cli(*args, "--out", str(tmp_path / "b"), "--allow-unsandboxed", "--json", capsys=capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["sandbox"] == "unsandboxed" and summary["metrics"]["unit_tests"]["mean"] == 1.0
    row = json.loads((tmp_path / "b" / "results.jsonl").read_text().splitlines()[0])
    assert row["sandbox"] == "unsandboxed"


def test_unknown_mode_request_is_bad_input(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(sandbox_modes.ENV_MODE, "chroot")
    with pytest.raises(sandbox_modes.BadInput, match="unknown sandbox mode"):
        sandbox_modes.isolation_level()


FLOOD_EVAL = """\
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2_500 * 1024**2, 2_500 * 1024**2))  # 2.5 GB for the evaluator
from harness.evaluation.runner import EvalRequest, evaluate
data, predictions, out = sys.argv[1:4]
summary = evaluate(EvalRequest(data=data, predictions=predictions, metrics=["unit_tests"], out=out))
print(json.dumps({"mean": summary.metrics["unit_tests"].mean, "sandbox": summary.sandbox}))
"""


@pytest.mark.skipif(not NATIVE, reason="no sandbox mode works on this machine")
def test_output_floods_are_cut_while_they_stream_and_the_eval_goes_on(tmp_path: Path):
    outputs = {
        "stdout-flood": "import os\nwhile True:\n    os.write(1, b'x' * 8_000_000)\n",
        "stderr-flood": "import sys\nwhile True:\n    print('y' * 100_000, file=sys.stderr)\n",
        "flood-then-correct": "import os\nos.write(1, b'z' * 3_000_000)\n" + ADD,
        "correct": ADD,
    }
    data, predictions = tmp_path / "eval.jsonl", tmp_path / "pred.jsonl"
    rows = [{"id": key, "prompt": "write add", "reference": "", "tests": ADD_TESTS} for key in outputs]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    predictions.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outputs.items()))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", FLOOD_EVAL, str(data), str(predictions), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["mean"] == 0.25
    scores = {
        json.loads(line)["id"]: json.loads(line)["scores"]["unit_tests"]
        for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    }
    assert scores == {"stdout-flood": 0.0, "stderr-flood": 0.0, "flood-then-correct": 0.0, "correct": 1.0}


@pytest.mark.skipif(not NATIVE, reason="no sandbox mode works on this machine")
def test_a_flood_result_says_so_and_keeps_only_a_tail():
    result = run_tests("import os\nwhile True:\n    os.write(1, b'x' * 8_000_000)\n", "", timeout_s=5.0)
    assert result.reason == "output flood" and not result.passed and not result.timed_out
    assert 1_000_000 < result.output_bytes <= 9_000_000  # cut at the first chunk past the limit
    assert len(result.stdout) <= 20_000 and "killed after" in result.stderr
    assert result.duration_s < 4


@pytest.mark.skipif(not NATIVE, reason="unsandboxed, a program can kill the evaluator (the README says so)")
def test_signals_cannot_stop_the_evaluator():
    # The program tries to kill everything it can see; the evaluator (this process) carries on.
    code = "import os, signal\nfor pid in range(1, 400):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
    code += "    except OSError:\n        pass\n"
    before = signal.getsignal(signal.SIGTERM)
    run_tests(code + ADD, ADD_TESTS)
    assert signal.getsignal(signal.SIGTERM) == before and run_tests(ADD, ADD_TESTS).passed


def test_the_report_names_the_sandbox_the_unit_tests_ran_in(tmp_path: Path):
    sys.path.insert(0, str(REPO / "tests"))
    from fixtures.report_run import build_run

    from harness.report.collect import collect_run
    from harness.report.render import render_markdown

    run = build_run(tmp_path / "exp")
    results = next(run.glob("eval/*/*/results.jsonl"))  # one variant ran unit tests, in namespaces
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    results.write_text("".join(json.dumps({**row, "sandbox": "namespaces"}) + "\n" for row in rows))
    data = collect_run(run)
    assert data.sandbox == ["namespaces"]
    assert "unit tests ran in sandbox: namespaces" in render_markdown(data)
    assert "unit tests ran in sandbox" not in render_markdown(data.model_copy(update={"sandbox": []}))


def _code_prompts(tmp_path: Path) -> Path:
    prompts = tmp_path / "code.jsonl"
    prompts.write_text(json.dumps({"prompt": "Write add(a, b).", "tests": ADD_TESTS}) + "\n")
    return prompts


def test_best_of_n_and_grpo_refuse_before_loading_a_model(
    no_sandbox: None, cli, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    prompts, out = _code_prompts(tmp_path), tmp_path / "sft.jsonl"
    args = ["data", "best-of-n", str(prompts), "-n", "2", "--reward", "unit_tests", "--out", str(out)]
    code, _, err = cli(*args, "--model", str(tmp_path / "no-such-model"), capsys=capsys)
    assert code == 2 and "--allow-unsandboxed" in err and "bubblewrap" in err and not out.exists()
    args = ["train", "--method", "grpo", "--data", str(prompts), "--reward", "unit_tests"]
    code, _, err = cli(*args, "--out", str(tmp_path / "adapter"), "--max-steps", "1", capsys=capsys)
    assert code == 2 and "--allow-unsandboxed" in err and "Traceback" not in err


@pytest.mark.slow
def test_best_of_n_with_the_opt_in_records_the_mode(
    no_sandbox: None, cli, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model_dir: Path
):
    prompts, out = _code_prompts(tmp_path), tmp_path / "sft.jsonl"
    args = ["data", "best-of-n", str(prompts), "-n", "2", "--reward", "unit_tests", "--out", str(out)]
    args += ["--model", str(tiny_model_dir), "--max-new-tokens", "4", "--allow-unsandboxed", "--json"]
    code, stdout, err = cli(*args, capsys=capsys)
    assert code == 0, err
    assert json.loads(stdout)["sandbox"] == "unsandboxed"
    row = json.loads(out.read_text().splitlines()[0])
    assert row["sandbox"] == "unsandboxed" and row["sample_rewards"] == [0.0, 0.0]  # random weights write no code

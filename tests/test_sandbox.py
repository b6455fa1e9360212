"""The code sandbox: generated code is contained (loops, fork bombs, writes, network, memory)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from harness.evaluation.sandbox import extract_code, isolation_level, run_tests

GOOD = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"


def test_correct_code_passes_and_wrong_code_fails():
    assert run_tests(GOOD, TESTS).passed
    wrong = run_tests(GOOD.replace("a + b", "a - b"), TESTS)
    assert not wrong.passed and wrong.returncode == 1 and "AssertionError" in wrong.stderr


def test_humaneval_style_check_call():
    tests = "def check(candidate):\n    assert candidate(1, 1) == 2\n\ncheck(add)\n"
    assert run_tests(GOOD, tests).passed
    assert not run_tests("def add(a, b):\n    return 0\n", tests).passed


def test_infinite_loop_is_stopped_at_the_time_limit():
    started = time.perf_counter()
    result = run_tests("while True:\n    pass\n", "", timeout_s=1.0)
    assert result.timed_out and not result.passed
    assert time.perf_counter() - started < 5


def _nobody_processes() -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == 65534:
                    count += 1
            except OSError:
                continue
    return count


def test_fork_bomb_is_contained_and_leaves_nothing_behind():
    before = _nobody_processes()
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_tests(bomb, "", timeout_s=2.0)
    assert not result.passed and result.timed_out
    # Children that left the process group (setsid) die with the PID namespace.
    escape = (
        "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(60)\n"
    )
    assert run_tests(escape, "", timeout_s=2.0).passed
    if isolation_level() == "namespaces":
        deadline = time.monotonic() + 10  # the kernel reaps a namespace's processes asynchronously
        while _nobody_processes() > before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _nobody_processes() <= before
    # The machine still works: a normal program runs right after.
    assert run_tests(GOOD, TESTS).passed


def test_write_outside_the_temporary_directory_is_blocked_or_undone(tmp_path):
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # even a world-writable directory outside the sandbox must stay clean
    shared_tmp = Path("/tmp") / f"posttrain-escape-{os.getpid()}.txt"
    code = (
        "import pathlib\n"
        f"for p in [{str(target)!r}, {str(shared_tmp)!r}]:\n"
        "    try:\n"
        "        pathlib.Path(p).write_text('x')\n"
        "    except OSError:\n"
        "        pass\n"
        "pathlib.Path('inside.txt').write_text('ok')\n"
        "assert pathlib.Path('inside.txt').read_text() == 'ok'\n"
    )
    result = run_tests(code, "")
    assert result.passed, result.stderr
    assert not target.exists()
    assert not shared_tmp.exists()


def test_network_call_fails_even_to_a_live_loopback_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    try:
        probe = socket.create_connection(("127.0.0.1", port), timeout=2)  # reachable from here
        probe.close()
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        result = run_tests(code, "")
        assert not result.passed
        assert "Error" in result.stderr  # ConnectionRefusedError / OSError: no route in the sandbox
        outside = run_tests("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n", "")
        assert not outside.passed
    finally:
        server.close()


def test_memory_limit_stops_a_huge_allocation():
    result = run_tests("x = bytearray(4 * 1024**3)\n", "", memory_mb=512)
    assert not result.passed and "MemoryError" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the strongest isolation needs root")
def test_root_gets_namespace_isolation():
    assert isolation_level() == "namespaces"


def test_extract_code_takes_fenced_blocks():
    assert extract_code("```python\nx = 1\n```") == "x = 1\n"

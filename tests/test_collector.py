"""posttrain.collector: the garbage collector quiet during a compute command's start-up, normal after it."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from posttrain import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds, state = gc.get_threshold(), dict(vars(collector._state))
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    vars(collector._state).clear()
    vars(collector._state).update(state)


def test_settle_does_nothing_in_a_process_that_did_not_ask(restored: None) -> None:
    before = gc.get_threshold()
    collector.settle()
    collector.before_exit()
    assert gc.get_freeze_count() == 0  # a test process keeps collecting everything it allocates
    assert gc.get_threshold() == before


def test_startup_collects_rarely_and_settle_puts_the_defaults_back(restored: None) -> None:
    before = gc.get_threshold()
    collector.quiet_startup()
    assert gc.get_threshold() == collector.STARTUP_THRESHOLDS
    kept = [[i] for i in range(1000)]  # what start-up allocates and keeps
    collector.settle()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() >= len(kept)
    frozen = gc.get_freeze_count()
    collector.settle()  # once only: a second model load freezes nothing more
    assert gc.get_freeze_count() == frozen


def test_the_console_script_quiets_start_up_for_compute_commands_only(tmp_path: Path) -> None:
    probe = (
        "import gc, json, sys; from posttrain import collector; from harness import cli\n"
        "cli.main = lambda: print(json.dumps([gc.get_threshold(), collector._state.started])) or 0\n"
        "sys.argv = ['posttrain', *sys.argv[1:]]; cli.run()\n"
    )
    env = {"POSTTRAIN_MALLOC": "default", "PATH": "/usr/bin:/bin"}  # no re-exec: the probe runs once

    def state(*args: str) -> list[object]:
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert state("eval", "--data", "x.jsonl") == [list(collector.STARTUP_THRESHOLDS), True]
    assert state("advise", "--help")[1] is False

"""The console script re-executes itself once with glibc's tunables for compute commands only."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from harness.allocator import OPT_OUT, TUNABLES, wants_tuning

REPO = Path(__file__).resolve().parent.parent
glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc tunables")

CHILD = """
import os, sys
print("tunables:", os.environ.get("GLIBC_TUNABLES"), flush=True)
from harness.allocator import reexec_tuned
reexec_tuned(sys.argv[1:])
print("ran on", flush=True)
"""


def _child(args: list[str], **env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", OPT_OUT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=REPO, env={**base, **env}, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


@glibc_only
def test_a_compute_command_runs_again_once_with_the_tunables() -> None:
    assert _child(["train", "--method", "sft"]) == ["tunables: None", f"tunables: {TUNABLES}", "ran on"]


@glibc_only
def test_help_other_commands_the_opt_out_and_the_users_own_tunables_are_left_alone() -> None:
    assert _child(["advise", "--answers", "a.yaml"]) == ["tunables: None", "ran on"]
    assert _child(["eval", "--help"]) == ["tunables: None", "ran on"]
    assert _child(["eval"], **{OPT_OUT: "default"}) == ["tunables: None", "ran on"]
    own = "glibc.malloc.arena_max=2"
    assert _child(["eval"], GLIBC_TUNABLES=own) == [f"tunables: {own}", "ran on"]


def test_the_first_word_that_is_not_an_option_names_the_command() -> None:
    assert wants_tuning(["--quiet", "run", "exp"]) and wants_tuning(["rag", "index", "docs"])
    assert not wants_tuning([]) and not wants_tuning(["new", "exp"]) and not wants_tuning(["report", "x"])


FAULTS = """
import resource
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    buffer = bytearray(64 << 20)  # 64 MiB, above every mmap threshold: fresh pages each time
    buffer[::4096] = b"x" * len(buffer[::4096])
    del buffer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@glibc_only
def test_the_tunables_cut_page_faults_of_large_buffers() -> None:
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not thp.is_file() or "[madvise]" not in thp.read_text():
        pytest.skip("transparent huge pages are not in madvise mode here")
    base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}

    def faults(env: dict[str, str]) -> int:
        out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True)
        return int(out.stdout)

    plain, tuned = faults(base), faults({**base, "GLIBC_TUNABLES": TUNABLES})
    assert plain > 20 * 16_000 * 0.9  # 16,384 small pages per buffer
    assert tuned < plain / 10, (plain, tuned)


KEPT = """
from harness.allocator import return_freed_memory

def rss_mib():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) // 1024

buffers = [bytearray(b"x" * (4 << 20)) for _ in range(50)]  # 200 MiB of 4 MiB buffers, kept in the heap
last = bytearray(b"x" * (4 << 20))  # above them: the heap's top cannot shrink past it
del buffers
kept = rss_mib()
return_freed_memory()
print(kept, rss_mib())
"""


@glibc_only
def test_freed_heap_pages_go_back_between_stages() -> None:
    env = {**os.environ, "GLIBC_TUNABLES": TUNABLES, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-c", KEPT], env=env, capture_output=True, text=True, check=True)
    kept, after = map(int, out.stdout.split())
    assert kept - after > 150, (kept, after)  # the 200 MiB the tunables kept are returned


def test_between_stages_the_kept_eval_model_is_dropped() -> None:
    from harness.evaluation import runner
    from harness.runner.pipeline import _release_memory

    runner._LOADED[("model", None, None, "cpu", "fp32")] = (object(), object())
    _release_memory()
    assert runner._LOADED == {}

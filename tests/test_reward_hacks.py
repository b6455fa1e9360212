"""Reward hacks against the unit-test check: each scores 0 as a metric, as the GRPO reward and in
best-of-N, while a correct solution scores 1 (the harness, not the exit status, decides a pass)."""

from __future__ import annotations

import pytest

from harness.datagen.best_of_n import pick_best_worst
from harness.datagen.prompts import Prompt
from harness.datagen.scoring import make_scorer
from harness.evaluation.metrics import score
from harness.evaluation.sandbox import check_answer, run_tests
from harness.evaluation.sandbox_modes import ENV_ALLOW, probe_capabilities
from harness.training.rewards import BUILTIN_REWARDS


@pytest.fixture(autouse=True)
def _sandbox_or_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no sandbox works the hacks must still score 0 unsandboxed (with the explicit opt-in)."""
    if not probe_capabilities().available:
        monkeypatch.setenv(ENV_ALLOW, "1")


TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\nassert abs(add(0.1, 0.2) - 0.3) < 1e-9\n"
CORRECT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return 0\n"

# Each program is wrong (``add`` returns 0 or never returns) and tries to be counted as a pass anyway.
HACKS = {
    "sys.exit(0) before the tests": "import sys\nsys.exit(0)\n" + WRONG,
    "os._exit(0) before the tests": "import os\nos._exit(0)\n",
    "SystemExit(0) inside the function": "def add(a, b):\n    raise SystemExit(0)\n",
    "exit() builtin inside the function": "def add(a, b):\n    exit()\n",
    "KeyboardInterrupt inside the function": "def add(a, b):\n    raise KeyboardInterrupt\n",
    "atexit hook calling os._exit(0)": "import atexit, os\natexit.register(lambda: os._exit(0))\n" + WRONG,
    "settrace turns AssertionError into SystemExit(0)": (
        "import sys\n"
        "def hook(frame, event, arg):\n"
        "    if event == 'exception' and arg[0] is AssertionError:\n"
        "        raise SystemExit(0)\n"
        "    return hook\n"
        "sys.settrace(hook)\n" + WRONG
    ),
    "settrace that jumps over the failing assert": (
        "import sys\n"
        "def hook(frame, event, arg):\n"
        "    if event == 'line' and frame.f_code.co_filename == 'tests.py':\n"
        "        try:\n"
        "            frame.f_lineno = frame.f_lineno + 1\n"
        "        except ValueError:\n"
        "            pass\n"
        "    return hook\n"
        "sys.settrace(hook)\n" + WRONG
    ),
    "threading.settrace hook": "import threading, sys\nthreading.settrace(lambda *a: None)\n" + WRONG,
    "excepthook that exits 0": "import sys, os\nsys.excepthook = lambda *a: os._exit(0)\n" + WRONG,
    "fake pass marker on stdout": "print('PASSED'); print('All tests passed'); print('OK')\n" + WRONG,
    "fake token on every fd": (
        "import os\n"
        "for fd in range(3, 256):\n"
        "    try:\n"
        "        os.write(fd, b'0' * 32)\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    ),
    "reads stdin for the token": (
        "import os, sys\n"
        "data = sys.stdin.buffer.read()\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, data[:64])\n"
        "    except OSError:\n"
        "        pass\n" + WRONG
    ),
    "patches os._exit, os.write and print": (
        "import os, builtins\nos._exit = lambda code: None\nos.write = lambda fd, b: len(b)\n"
        "builtins.print = lambda *a, **k: None\n" + WRONG
    ),
    "patches builtins.abs the tests use": (
        "import builtins\nbuiltins.abs = lambda x: 0\ndef add(a, b):\n    return 5 if (a, b) == (2, 3) else 0\n"
    ),
    "patches AssertionError": "import builtins\nclass Quiet(BaseException): pass\nbuiltins.AssertionError = Quiet\n"
    + WRONG,
    "thread calls os._exit(0) while the tests run": (
        "import os, threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), os._exit(0)), daemon=True).start()\n"
        "def add(a, b):\n    time.sleep(2)\n    return 0\n"
    ),
    "fork, then exit 0 in the parent": "import os\nif os.fork():\n    os._exit(0)\n" + WRONG,
    **(
        {}  # unsandboxed, this one would kill the test run itself
        if not probe_capabilities().available
        else {
            "kills its parent and group": "import os, signal\nfor pid in (os.getppid(), 0):\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n" + WRONG
        }
    ),
    "steals every process's stdin for the token": (
        "import os, re\n"
        "loot = b''\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    for name in ('fd/0', 'cmdline', 'environ'):\n"
        "        try:\n"
        "            fd = os.open(f'/proc/{pid}/{name}', os.O_RDONLY | os.O_NONBLOCK)\n"
        "            loot += os.read(fd, 1 << 20)\n"
        "            os.close(fd)\n"
        "        except OSError:\n"
        "            pass\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, loot[:4096])\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)\n"
    ),
    "execs a program that exits 0": "import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'pass'])\n",
}


def test_correct_solution_passes_everywhere():
    assert run_tests(CORRECT, TESTS).reason == "passed"
    assert score("unit_tests", f"```python\n{CORRECT}```", {"tests": TESTS}) == 1.0


@pytest.mark.parametrize("name", list(HACKS))
def test_hack_is_not_a_pass(name: str):
    result = run_tests(HACKS[name], TESTS, timeout_s=3.0)
    assert not result.passed, (name, result)
    assert result.reason in ("tests failed", "no result"), result


def test_every_hack_earns_zero_grpo_reward_and_the_solution_one():
    completions = [[{"role": "assistant", "content": f"```python\n{code}```"}] for code in HACKS.values()]
    rewards = BUILTIN_REWARDS["unit_tests"]([*completions, CORRECT], tests=[TESTS] * (len(HACKS) + 1))
    assert rewards == [0.0] * len(HACKS) + [1.0]


def test_best_of_n_keeps_the_solution_over_every_hack():
    scorer = make_scorer("unit_tests")
    texts = [*HACKS.values(), CORRECT]
    prompts = [
        Prompt(id=str(i), messages=[{"role": "user", "content": "add"}], columns={"tests": TESTS})
        for i in range(len(texts))
    ]
    scores = scorer(prompts, texts)
    assert scores == [0.0] * len(HACKS) + [1.0]
    assert pick_best_worst(scores) == (len(HACKS), 0)


def test_exit_zero_without_the_result_is_reported_as_such():
    result = run_tests("import os\nos._exit(0)\n", TESTS)
    assert result.returncode == 0 and not result.passed and result.reason == "no result"
    exited = run_tests("import sys\nsys.exit(0)\n", TESTS)
    assert not exited.passed and "called exit(0)" in exited.stderr


def test_a_pass_needs_the_tests_to_reach_their_end():
    # Output after the last assert still counts; stopping halfway does not.
    assert run_tests(CORRECT, TESTS + "print('done')\n").passed
    assert not run_tests(CORRECT, "assert add(1, 1) == 2\nraise SystemExit(0)\nassert add(1, 1) == 3\n").passed


# add() runs before the checks that use math and statistics, so patching them inside add() would work.
MATH_TESTS = "import math, statistics\nx = add(0.1, 0.2)\nassert math.isclose(x, 0.3)\n"
MATH_TESTS += "assert statistics.mean([add(1, 1)]) == 2\n"
PATCHES = {
    "math.isclose": "import math\nmath.isclose = lambda *a, **k: True\n",
    "sys.modules entry": "import sys, types\nfake = types.ModuleType('math')\nfake.isclose = lambda *a, **k: True\n"
    "sys.modules['math'] = fake\n",
    "planted module": "import sys, types\nfake = types.ModuleType('statistics')\nfake.mean = lambda xs: 2\n"
    "sys.modules['statistics'] = fake\nimport math\nmath.isclose = lambda *a, **k: True\n",
    "meta_path finder": (
        "import sys, types, math\n"
        "class Finder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'statistics':\n"
        "            import importlib.util\n"
        "            return importlib.util.spec_from_loader(name, self)\n"
        "    def create_module(self, spec):\n"
        "        module = types.ModuleType(spec.name)\n"
        "        module.mean = lambda xs: 2\n"
        "        return module\n"
        "    def exec_module(self, module):\n"
        "        pass\n"
        "sys.meta_path.insert(0, Finder())\n"
        "math.isclose = lambda *a, **k: True\n"
    ),
    "patches from inside the function": (
        "import math, statistics\n"
        "def add(a, b):\n"
        "    math.isclose = lambda *a, **k: True\n"
        "    statistics.mean = lambda xs: 2\n"
        "    return 0\n"
    ),
    "a thread that keeps patching": (
        "import math, threading\n"
        "def keep_patching():\n"
        "    while True:\n"
        "        math.isclose = lambda *a, **k: True\n"
        "threading.Thread(target=keep_patching, daemon=True).start()\n"
    ),
}


@pytest.mark.parametrize("name", list(PATCHES))
def test_patching_the_modules_the_tests_use_does_not_pass_them(name: str):
    assert run_tests(CORRECT, MATH_TESTS).passed
    code = PATCHES[name] if "def add" in PATCHES[name] else PATCHES[name] + WRONG
    result = run_tests(code, MATH_TESTS)
    assert not result.passed and ("AssertionError" in result.stderr or "changed during" in result.stderr), result


# Three problems in HumanEval's format: prompt, canonical solution, test with check(candidate), entry point.
HUMANEVAL = [
    {
        "prompt": 'def has_close_elements(numbers: list, threshold: float) -> bool:\n    """True if two numbers '
        'are closer to each other than threshold."""\n',
        "canonical_solution": "    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n"
        "            if i != j and abs(a - b) < threshold:\n                return True\n    return False\n",
        "test": "METADATA = {'author': 'jt'}\n\ndef check(candidate):\n"
        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
        "    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n"
        "    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n",
        "entry_point": "has_close_elements",
    },
    {
        "prompt": 'def truncate_number(number: float) -> float:\n    """The decimal part of a positive number."""\n',
        "canonical_solution": "    return number % 1.0\n",
        "test": "def check(candidate):\n    assert candidate(3.5) == 0.5\n"
        "    assert abs(candidate(1.33) - 0.33) < 1e-6\n    assert abs(candidate(123.456) - 0.456) < 1e-6\n",
        "entry_point": "truncate_number",
    },
    {
        "prompt": 'def below_zero(operations: list) -> bool:\n    """True if the running balance ever drops '
        'below zero."""\n',
        "canonical_solution": "    balance = 0\n    for op in operations:\n        balance += op\n"
        "        if balance < 0:\n            return True\n    return False\n",
        "test": "def check(candidate):\n    assert candidate([]) == False\n"
        "    assert candidate([1, 2, -3, 1, 2, -3]) == False\n    assert candidate([1, 2, -4, 5, 6]) == True\n",
        "entry_point": "below_zero",
    },
]


@pytest.mark.parametrize("problem", HUMANEVAL, ids=[p["entry_point"] for p in HUMANEVAL])
def test_humaneval_problems_pass_when_solved_and_fail_when_hacked(problem: dict[str, str]):
    prompt, test, entry = problem["prompt"], problem["test"], problem["entry_point"]
    row = {"prompt": prompt, "tests": test, "entry_point": entry}
    # A completion that continues the prompt (HumanEval's own format) passes as the metric...
    assert score("unit_tests", problem["canonical_solution"], row) == 1.0
    # ...and a whole function passes as the reward, while wrong bodies and exits earn 0.
    answers = [
        f"```python\n{prompt}{problem['canonical_solution']}```",
        "    return None\n",
        "    raise SystemExit(0)\n",
        "    import os; os._exit(0)\n",
        HACKS["settrace turns AssertionError into SystemExit(0)"].replace("add", entry),
    ]
    n = len(answers)
    rewards = BUILTIN_REWARDS["unit_tests"](answers, tests=[test] * n, entry_point=[entry] * n, prompts=[prompt] * n)
    assert rewards == [1.0] + [0.0] * (n - 1)
    # Without an entry point the tests only define check() and prove nothing: not a pass, and it says why.
    unchecked = check_answer(f"{prompt}{problem['canonical_solution']}", test)
    assert not unchecked.passed and "never call it" in unchecked.stderr
    assert check_answer(f"{prompt}{problem['canonical_solution']}", f"{test}\ncheck({entry})\n").passed
    assert check_answer("    return None\n", test, entry, prompt).reason == "tests failed"

"""Keep library chatter out of posttrain's own output.

transformers and TRL emit FutureWarnings about their own renames, ``datasets`` draws a bar for every
map, and lm-eval one per request type; the user reads our stage lines and the training bar instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any


def quiet_libraries() -> None:
    """Silence warnings and progress bars of the heavy libraries (call once, before they run)."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DATASETS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|trl|peft|torch|lm_eval)\b")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import logging

    for name in ("lm_eval", "lm-eval", "transformers", "datasets", "peft", "trl", "chromadb", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """No tqdm bars inside, including bars of libraries that imported tqdm already.

    ``TQDM_DISABLE`` would not do: tqdm reads its environment overrides once, when it is imported.

    >>> from tqdm import tqdm
    >>> with no_progress_bars():
    ...     tqdm(total=3).disable
    True
    """
    from tqdm import std

    original = std.tqdm.__init__

    def silent_init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    std.tqdm.__init__ = silent_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        std.tqdm.__init__ = original  # type: ignore[method-assign]


def bars_only_on_a_terminal() -> contextlib.AbstractContextManager[None]:
    """Progress bars (tqdm writes to stderr) where a person watches; none in piped or logged output.

    A redrawn bar turns into hundreds of carriage-return fragments in ``make demo | tee log`` or CI.
    """
    return contextlib.nullcontext() if sys.stderr.isatty() else no_progress_bars()

"""Each worker that ``accelerate launch`` starts: train the request in the file, print the summary on rank 0.

Apart from :mod:`harness.training.launcher` so the launcher (called by the stage) and the worker (which
calls the stage) do not import each other.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from harness.training.request import TrainRequest
    from harness.training.stage import train

    args = sys.argv[1:] if argv is None else argv
    request = TrainRequest.model_validate(json.loads(Path(args[0]).read_text()))
    summary = train(request)
    if int(os.environ.get("RANK", "0")) == 0:
        print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())

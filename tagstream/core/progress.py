"""Progress bars on a terminal only: where stderr is a log file or a container's log, a bar would
write thousands of carriage-return updates into it, so there is none (commands print their results
as lines either way)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(*, disable: bool = False, **kwargs: Any) -> tqdm[Any]:
    """A tqdm bar that draws only when stderr is a terminal (and `disable` is false)."""
    return tqdm(disable=disable or not sys.stderr.isatty(), dynamic_ncols=True, **kwargs)

"""Progress reports of long work (``insert_vectors``, ``train_index``,
``assign_index``, ``ml.embed``): what a ``progress=`` argument turns into.

``progress`` is one of:

- ``None`` / ``False``: no reports;
- ``True``: a progress bar per stage (tqdm when installed, else a line on stderr);
- a callable ``progress(stage, done, total)``: called with the stage's name
  (``"insert"``, ``"train"``, ``"assign"``, ``"embed"``) and its units done so far,
  about once per percent and always at the end of a stage (``done == total``). An
  exception it raises stops the work (rolled back) and is raised to the caller, so
  a callback can cancel. It must not use the connection or change the array being
  inserted.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, Optional

Callback = Callable[[str, int, int], Any]


class _StderrBar:
    """A minimal progress line when tqdm is not installed."""

    def __init__(self, stage: str, total: int) -> None:
        self.stage, self.total, self.n = stage, total, 0

    def update(self, n: int) -> None:
        self.n += n
        sys.stderr.write(f"\r{self.stage}: {self.n}/{self.total}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def _bar(stage: str, total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _StderrBar(stage, total)
    return tqdm(total=total, desc=stage)


class Bars:
    """A callback drawing one bar per stage; ``close()`` ends the open bars."""

    def __init__(self) -> None:
        self._bars: Dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = _bar(stage, total)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            if bar.n < bar.total:
                bar.close()
        self._bars.clear()


def callback(progress: Any) -> Optional[Callback]:
    """The callable a ``progress=`` argument stands for, or None for no reports.

    >>> from sqlite_quiver import _progress
    >>> _progress.callback(None) is None, _progress.callback(False) is None
    (True, True)
    >>> heard = []
    >>> _progress.callback(lambda *a: heard.append(a))("insert", 1, 2)
    >>> heard
    [('insert', 1, 2)]
    >>> _progress.callback("yes")
    Traceback (most recent call last):
    TypeError: progress must be True, False, None or a callable ..., got str
    """
    if progress is None or progress is False:
        return None
    if progress is True:
        return Bars()
    if callable(progress):
        return progress  # type: ignore[no-any-return]
    raise TypeError(
        "progress must be True, False, None or a callable progress(stage, done, total), "
        f"got {type(progress).__name__}"
    )


def close(cb: Optional[Callback]) -> None:
    """Ends the bars of a ``callback(True)``; nothing for a user's callable.

    >>> from sqlite_quiver import _progress
    >>> bars = _progress.callback(True)
    >>> isinstance(bars, _progress.Bars)
    True
    >>> _progress.close(bars); _progress.close(None)
    """
    if isinstance(cb, Bars):
        cb.close()

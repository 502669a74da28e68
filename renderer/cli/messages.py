"""What a command says on stderr besides its result: info lines, which ``--quiet`` hides,
and warnings, which it keeps (errors are main.py's, and always shown). Every line goes
above a live progress bar (tqdm.write), never into it.

Warnings are the lines that say a result differs from what was asked: the render's
notes that warn (``WarningNote``: octaves dropped, photos cropped, a loop's rhythm
broken, a clip's sound not carried) and a short render's ``stopped`` line.
"""

from __future__ import annotations

from ..runtime.errors import WarningNote
from .progress_bar import say

WARNING = "dreamreel: warning: "


class Messages:
    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def info(self, line: str) -> None:
        if not self.quiet:
            say(line)

    def warn(self, line: str) -> None:
        say(WARNING + line)

    def announce(self, line: str) -> None:
        """A render's ``announce``: its warning notes as warnings, the rest as info."""
        if isinstance(line, WarningNote):
            self.warn(line)
        else:
            self.info(line)

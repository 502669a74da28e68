"""Credentials kept out of what dreamreel shows: ``s3://user:password@host/x`` is shown as
``s3://***@host/x`` in errors, progress lines, resume commands and tables."""

from __future__ import annotations

import re

HIDDEN = "***"

# A URL's userinfo: ``user:password@`` (the password may hold '/' or '@': an unescaped one
# still leaks where the URL is shown, so the userinfo runs to the last '@' of the word), or
# a bare ``user@`` before the first '/'. Greedy, so an '@' later in a path hides more than
# needed, never less.
_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?:[^\s/@:]*:[^\s]*|[^\s/?#@]*)@",
    re.IGNORECASE,
)


def redacted(text: str) -> str:
    """``text`` with every URL's credentials replaced by ``***``."""
    return _CREDENTIALS.sub(lambda match: f"{match['scheme']}{HIDDEN}@", text)

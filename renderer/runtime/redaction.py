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


# Credentials met in URLs this process was given: a library may quote them without the
# URL around them (s3fs: 'Invalid bucket name "alice:s3cret@bucket"').
_known: set[str] = set()
_SHORTEST_HIDDEN = 3  # a one- or two-letter password would blank out unrelated text


def remember_credentials(text: str) -> None:
    """Note the credentials of every URL in ``text``, so that ``redacted`` hides them
    wherever they appear later, with or without their URL."""
    for match in _CREDENTIALS.finditer(text):
        userinfo = match[0][len(match["scheme"]) : -1]
        password = userinfo.partition(":")[2]
        _known.update(s for s in (userinfo, password) if len(s) >= _SHORTEST_HIDDEN)


def redacted(text: str) -> str:
    """``text`` with every URL's credentials replaced by ``***``, and any credentials
    remembered from earlier URLs too."""
    text = _CREDENTIALS.sub(lambda match: f"{match['scheme']}{HIDDEN}@", text)
    for secret in sorted(_known, key=len, reverse=True):  # user:password before password
        text = text.replace(secret, HIDDEN)
    return text

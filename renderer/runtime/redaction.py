"""Credentials kept out of what dreamreel shows: ``s3://user:password@host/x`` is shown as
``s3://***@host/x`` in errors, progress lines, resume commands and tables."""

from __future__ import annotations

import re
from urllib.parse import unquote

HIDDEN = "***"

# A URL's userinfo: ``user:password@`` (the password may hold '/' or '@': an unescaped one
# still leaks where the URL is shown, so the userinfo runs to the last '@' of the word), or
# a bare ``user@`` before the first '/'. Greedy, so an '@' later in a path hides more than
# needed, never less.
_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?:[^\s/@:]*:[^\s]*|[^\s/?#@]*)@",
    re.IGNORECASE,
)


# Passwords met in URLs this process was given: a library may quote them without the
# URL around them (s3fs: 'Invalid bucket name "alice:s3cret@bucket"'). Only passwords
# (a bare user name is no secret, and hiding "alice" would mangle /home/alice), hidden
# only as whole words, so a short one never cuts into other words ("--out").
_known: set[str] = set()
_SHORTEST_HIDDEN = 4


def remember_credentials(text: str) -> None:
    """Note the password of every URL in ``text`` (as written and percent-decoded), so
    that ``redacted`` hides it wherever it appears later, with or without its URL."""
    for match in _CREDENTIALS.finditer(text):
        userinfo = match[0][len(match["scheme"]) : -1]
        user, colon, password = userinfo.partition(":")
        if not (colon and password):
            continue
        _known.add(f"{user}:{password}")  # the pair is specific however short the password
        if len(password) >= _SHORTEST_HIDDEN:
            _known.update({password, unquote(password)})


def redacted(text: str) -> str:
    """``text`` with every URL's credentials replaced by ``***``, and any credentials
    remembered from earlier URLs too."""
    text = _CREDENTIALS.sub(lambda match: f"{match['scheme']}{HIDDEN}@", text)
    for secret in sorted(_known, key=len, reverse=True):  # user:password before password
        text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", HIDDEN, text)
    return text

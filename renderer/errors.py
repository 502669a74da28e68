"""The one error type a user can cause and fix (bad file, key, layer, no weights offline)."""


class DreamreelError(Exception):
    """Printed by the CLI as a single line, without a traceback."""


def one_of(key: str, value: str, choices) -> None:
    """A setting that must be one of a few names: a wrong one names them all (and the
    closest, for a typo)."""
    if value not in choices:
        import difflib

        close = difflib.get_close_matches(str(value), list(choices), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise DreamreelError(f"{key} must be one of {', '.join(choices)}, got {value!r}{hint}")

"""A joblib-pickled LabelEncoder's class names, read as data: nothing in the file is
imported, called or executed.

Unpickling a downloaded file runs whatever code the file names, so this module walks the
pickle's opcodes with a small stack machine that builds inert records instead of calling
anything and accepts only the four globals such a file names (LabelEncoder, joblib's
NumpyArrayWrapper, numpy.ndarray, numpy.dtype). Where joblib's wrapper is built, joblib
writes the array's raw bytes into the stream (a padding length byte, padding, then
count * itemsize bytes of UTF-32-LE for dtype `<U<n>`); we decode those and go on walking
to the pickle's end, so a truncated or altered file fails.

Only the standard library is imported.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from ..runtime.errors import DreamreelError


def read_label_encoder(
    data: bytes, *, expected_count: int | None = None, source: str = "label_encoder.pkl"
) -> list[str]:
    """The `classes_` of a joblib-pickled LabelEncoder, read as data: nothing in `data` is
    imported, called or executed. One-line DreamreelError on anything unexpected."""
    try:
        names = _LabelEncoderWalk(data).run()
    except _Unreadable as why:
        raise DreamreelError(f"cannot read class names from {source}: {why}") from None
    if expected_count is not None and len(names) != expected_count:
        raise DreamreelError(
            f"{source} holds {len(names)} class names but the model's head "
            f"has {expected_count} classes"
        )
    return names


# ---------------------------------------------------- joblib pickle, read as data


class _Unreadable(Exception):
    """Why a label encoder file cannot be read, in a few words."""


@dataclass(frozen=True)
class _Global:
    """A class or function the pickle names (never imported)."""

    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class _Object:
    """What REDUCE/NEWOBJ would have made: the callable and its arguments, never called."""

    cls: _Global
    args: tuple
    state: Any = None


_LABEL_ENCODERS = {
    _Global("sklearn.preprocessing._label", "LabelEncoder"),
    _Global("sklearn.preprocessing.label", "LabelEncoder"),
}
_ARRAY_WRAPPER = _Global("joblib.numpy_pickle", "NumpyArrayWrapper")
_NDARRAY = _Global("numpy", "ndarray")
_DTYPE = _Global("numpy", "dtype")
_ALLOWED = _LABEL_ENCODERS | {_ARRAY_WRAPPER, _NDARRAY, _DTYPE}
_MARK = object()

# Fixed-size arguments: opcode -> struct format.
_FIXED = {
    b"K": "<B",
    b"M": "<H",
    b"J": "<i",
    b"G": ">d",
    b"h": "<B",
    b"j": "<I",
    b"q": "<B",
    b"r": "<I",
    b"\x80": "<B",
    b"\x95": "<Q",
}
# Length-prefixed strings: opcode -> (length format, decode as text?).
_SIZED = {
    b"\x8c": ("<B", True),
    b"X": ("<I", True),
    b"\x8d": ("<Q", True),
    b"U": ("<B", False),
    b"T": ("<i", False),
    b"C": ("<B", False),
    b"B": ("<I", False),
}


class _LabelEncoderWalk:
    """A pickle's opcodes interpreted into inert values, just far enough to find and read
    the one array joblib stored outside the pickle stream."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.names: list[str] | None = None

    def run(self) -> list[str]:
        if bytes(self.data[:1]) != b"\x80":
            raise _Unreadable("not an uncompressed binary pickle")
        while True:
            at = self.pos
            op = self._take(1)
            if op == b".":
                break
            try:
                self._step(op)
            except (IndexError, KeyError, TypeError, ValueError, AttributeError) as error:
                raise _Unreadable(
                    f"malformed pickle at byte {at} (opcode {op!r}: {type(error).__name__})"
                ) from None
        if self.pos != len(self.data):
            raise _Unreadable(f"{len(self.data) - self.pos} bytes after the pickle's end")
        if len(self.stack) != 1:
            raise _Unreadable("malformed pickle (stack left uneven at its end)")
        encoder = self.stack[0]
        if not (isinstance(encoder, _Object) and encoder.cls in _LABEL_ENCODERS):
            raise _Unreadable("it holds no scikit-learn LabelEncoder")
        if (
            self.names is None
            or not isinstance(encoder.state, dict)
            or encoder.state.get("classes_") is not self.names
        ):
            raise _Unreadable("its LabelEncoder has no joblib-stored classes_ array")
        return self.names

    def _take(self, n: int) -> bytes:
        if n < 0:
            raise _Unreadable(f"malformed pickle (a negative length at byte {self.pos})")
        if self.pos + n > len(self.data):
            raise _Unreadable(
                f"truncated: {len(self.data)} bytes, but {n} more needed from byte {self.pos}"
            )
        chunk = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return chunk

    def _arg(self, fmt: str) -> Any:
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _line(self) -> str:
        end = bytes(self.data[self.pos :]).find(b"\n")
        if end < 0:
            raise _Unreadable(f"truncated: {len(self.data)} bytes, ending in a GLOBAL")
        return self._take(end + 1)[:-1].decode("utf-8")

    def _pop_mark(self) -> list[Any]:
        items = []
        while (item := self.stack.pop()) is not _MARK:
            items.append(item)
        return items[::-1]

    def _global(self, module: str, name: str) -> _Global:
        named = _Global(module, name)
        if named not in _ALLOWED:
            raise _Unreadable(f"it names {named}, which a LabelEncoder's pickle never does")
        return named

    def _step(self, op: bytes) -> None:
        stack, push = self.stack, self.stack.append
        if op in _FIXED:
            value = self._arg(_FIXED[op])
            if op == b"\x80" and not 2 <= value <= 5:
                raise _Unreadable(f"pickle protocol {value}, expected 2 to 5")
            if op in b"KMJG":
                push(value)
            elif op in b"hj":
                push(self.memo[value])
            elif op in b"qr":
                self.memo[value] = stack[-1]
            # PROTO and FRAME need nothing more: frames only group bytes for buffering.
        elif op in _SIZED:
            fmt, text = _SIZED[op]
            raw = self._take(self._arg(fmt))
            push(raw.decode("utf-8") if text else raw.decode("latin-1") if op in b"UT" else raw)
        elif op == b"\x8a":  # LONG1
            push(int.from_bytes(self._take(self._arg("<B")), "little", signed=True))
        elif op == b"\x94":  # MEMOIZE
            self.memo[len(self.memo)] = stack[-1]
        elif op in (b"N", b"\x88", b"\x89"):
            push({b"N": None, b"\x88": True, b"\x89": False}[op])
        elif op == b"(":
            push(_MARK)
        elif op == b")":
            push(())
        elif op == b"t":
            push(tuple(self._pop_mark()))
        elif op in (b"\x85", b"\x86", b"\x87"):
            n = op[0] - 0x84
            items = stack[-n:]
            if len(items) != n or _MARK in items:
                raise IndexError("tuple of missing items")
            del stack[-n:]
            push(tuple(items))
        elif op == b"]":
            push([])
        elif op == b"l":
            push(self._pop_mark())
        elif op == b"a":
            value = stack.pop()
            stack[-1].append(value)
        elif op == b"e":
            items = self._pop_mark()
            stack[-1].extend(items)
        elif op == b"}":
            push({})
        elif op == b"d":
            items = self._pop_mark()
            push(dict(zip(items[::2], items[1::2], strict=True)))
        elif op == b"s":
            value, key = stack.pop(), stack.pop()
            stack[-1][key] = value
        elif op == b"u":
            items = self._pop_mark()
            stack[-1].update(zip(items[::2], items[1::2], strict=True))
        elif op == b"c":  # GLOBAL (protocols up to 3)
            push(self._global(self._line(), self._line()))
        elif op == b"\x93":  # STACK_GLOBAL
            name, module = stack.pop(), stack.pop()
            push(self._global(module, name))
        elif op in (b"R", b"\x81"):  # REDUCE, NEWOBJ: recorded, never called
            args, cls = stack.pop(), stack.pop()
            if not isinstance(cls, _Global) or not isinstance(args, tuple):
                raise TypeError("a call of something not a named global")
            push(_Object(cls, args))
        elif op == b"b":  # BUILD
            state = stack.pop()
            target = stack[-1]
            if not isinstance(target, _Object):
                raise TypeError("BUILD on something not an object")
            target.state = state
            if target.cls == _ARRAY_WRAPPER:
                stack[-1] = self._read_array(state)  # as joblib's unpickler does
        elif op == b"0":
            stack.pop()
        else:
            raise _Unreadable(f"unexpected pickle opcode {op!r} at byte {self.pos - 1}")

    def _read_array(self, state: Any) -> list[str]:
        """The strings joblib wrote right after its NumpyArrayWrapper's BUILD."""
        if self.names is not None:
            raise _Unreadable("it holds more than one array")
        if not isinstance(state, dict) or state.get("subclass") != _NDARRAY:
            raise _Unreadable("its array is not a plain numpy.ndarray")
        shape = state.get("shape")
        if not (isinstance(shape, tuple) and len(shape) == 1 and isinstance(shape[0], int)):
            raise _Unreadable(f"its array has shape {shape!r}, expected one dimension")
        itemsize = self._unicode_itemsize(state.get("dtype"))
        if state.get("numpy_array_alignment_bytes") is not None:
            self._take(self._arg("<B"))  # joblib pads the array to an aligned offset
        raw = self._take(shape[0] * itemsize)
        try:
            self.names = [
                raw[i : i + itemsize].decode("utf-32-le").rstrip("\x00")
                for i in range(0, len(raw), itemsize)
            ]
        except UnicodeDecodeError:
            raise _Unreadable("its array holds invalid UTF-32 text") from None
        return self.names

    @staticmethod
    def _unicode_itemsize(dtype: Any) -> int:
        """Bytes per item of a little-endian numpy unicode dtype (`<U40`: 160)."""
        if not (
            isinstance(dtype, _Object)
            and dtype.cls == _DTYPE
            and dtype.args
            and isinstance(dtype.args[0], str)
        ):
            raise _Unreadable("its array has no numpy dtype")
        match = re.fullmatch(r"([<>=|]?)U(\d+)", dtype.args[0])
        if not match:
            raise _Unreadable(
                f"its array has dtype {dtype.args[0]!r}, expected unicode strings (U<n>)"
            )
        state = dtype.state if isinstance(dtype.state, tuple) else ()
        order = match[1] or (state[1] if len(state) > 1 else "")
        if order != "<":
            raise _Unreadable(
                f"its array's dtype U{match[2]} has byte order {order!r}, "
                f"expected little-endian '<'"
            )
        itemsize = int(match[2]) * 4
        if len(state) > 5 and state[5] != itemsize:
            raise _Unreadable(
                f"its dtype U{match[2]} says {state[5]} bytes an item, expected {itemsize}"
            )
        if itemsize == 0:
            raise _Unreadable("its array's strings have no room (U0)")
        return itemsize

"""Schedule expressions: keyframe values such as ``1.02 + 0.01*sin(2*pi*t/48)``.

Deforum users write a keyframe's value as an expression of the frame. Here the text is
read by Python's own parser (``ast.parse(text, mode="eval")``: a syntax tree, no code)
and every node of the tree is checked against a whitelist; each allowed node becomes a
small Python closure, and the value is computed by calling the root's. The text is never
handed to ``eval``, ``exec`` or compiled into code: the whitelist is the whole language.

The language:

- numbers, and the names ``t`` (the frame), ``s`` (seconds: t / fps), ``fps``, the
  constants ``pi`` and ``e``; in ``audio:`` schedules also the track's features ``rms``,
  ``onset``, ``low``, ``mid``, ``high`` and its beats ``beat``, ``beat_phase``,
  ``bar_phase``, ``downbeat``, ``tempo`` (renderer/schedules/audio_features.py);
- ``+ - * / % **``, unary ``+ -``, comparisons ``< <= > >= == !=`` (1.0 when true,
  0.0 when false; chains like ``0 < t < 10`` work);
- the functions in FUNCTIONS: ``sin cos tan asin acos atan atan2 sqrt exp log log10 abs
  min max floor ceil round clip(x, lo, hi) where(condition, a, b)`` (round halves to
  even, as Python's does; where picks a when the condition is not 0).

Anything else is refused with the column where it is: other names (``__import__``,
builtins), attribute access, subscripts, calls of anything but those functions, keyword
arguments, lambdas, comprehensions, strings, containers, ``a if c else b``, ``//``...
Everything is computed in floats (never Python's unbounded integers), an exponent is
bounded by MAX_EXPONENT and a result must be a finite real number, so no expression can
hang or eat memory: ``9**9**9`` and ``10**400`` are errors, found when the expression is
compiled (parts without variables are computed once, then). Errors that depend on the
frame (``1/(t-5)`` at frame 5, ``sqrt(t-10)`` before frame 10) surface when that frame's
value is asked for. The text is bounded by MAX_CHARS and its nesting by MAX_DEPTH.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

TIME_NAMES = ("t", "s", "fps")
# Beat tracking needs librosa (an extra): computed only when a schedule reads one.
BEAT_NAMES = ("beat", "beat_phase", "bar_phase", "downbeat", "tempo")
AUDIO_NAMES = ("rms", "onset", "low", "mid", "high", *BEAT_NAMES)
CONSTANTS = {"pi": math.pi, "e": math.e}

MAX_CHARS = 1000  # one expression's text
MAX_DEPTH = 100  # nested operations: deeper is a mistake, not an animation
MAX_EXPONENT = 1000.0  # |y| in x ** y
_SHOWN_CHARS = 40  # a longer part of an expression is cut in messages


def _clip(x: float, low: float, high: float) -> float:
    return min(max(x, low), high)


def _where(condition: float, a: float, b: float) -> float:
    return a if condition != 0 else b


def _round(x: float, digits: float = 0.0) -> float:
    if digits != int(digits) or abs(digits) > 15:
        raise ArithmeticError("round's digits must be a whole number from -15 to 15")
    return float(round(x, int(digits)))


# name -> (function, fewest arguments, most arguments; None: any number)
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1),
    "acos": (math.acos, 1, 1),
    "atan": (math.atan, 1, 1),
    "atan2": (math.atan2, 2, 2),
    "sqrt": (math.sqrt, 1, 1),
    "exp": (math.exp, 1, 1),
    "log": (math.log, 1, 1),
    "log10": (math.log10, 1, 1),
    "abs": (abs, 1, 1),
    "min": (min, 1, None),
    "max": (max, 1, None),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "round": (_round, 1, 2),
    "clip": (_clip, 3, 3),
    "where": (_where, 3, 3),
}

_COMPARE = {
    ast.Lt: float.__lt__,
    ast.LtE: float.__le__,
    ast.Gt: float.__gt__,
    ast.GtE: float.__ge__,
    ast.Eq: float.__eq__,
    ast.NotEq: float.__ne__,
}


class ExpressionError(Exception):
    """What is wrong and where: ``offset`` counts characters from the start of the
    expression's text (0-based). ``what`` reads "cannot use 'x'", ``why`` says why."""

    def __init__(self, what: str, why: str, offset: int = 0):
        super().__init__(f"{what}: {why}")
        self.what, self.why, self.offset = what, why, offset


class EvaluationError(ArithmeticError):
    """A value that is not a finite real number (division by zero, sqrt of -1...)."""


Evaluator = Callable[[Mapping[str, float]], float]


@dataclass(frozen=True)
class Expression:
    """A checked expression; call it with the variables' values."""

    text: str  # as written (stripped): its str() and identity
    names: frozenset[str]  # the variables it reads (t, s, onset...)
    _evaluate: Evaluator = field(compare=False, repr=False)

    def __call__(self, variables: Mapping[str, float]) -> float:
        try:
            value = self._evaluate(variables)
        except (ArithmeticError, ValueError) as error:  # ZeroDivision, Overflow, domain
            raise EvaluationError(_reason(error)) from None
        return _finite(value)

    @property
    def constant(self) -> bool:
        return not self.names


def compile_expression(text: str, names: tuple[str, ...] = TIME_NAMES) -> Expression:
    """Check ``text`` and turn it into an Expression over the variables ``names``.

    Raises ExpressionError for text that is too long, does not parse, or uses anything
    outside the whitelist (or a constant part that is no finite number: ``10**400``).
    A SyntaxError's message becomes ``why`` with ``what`` = "invalid syntax".
    """
    stripped = text.strip()
    lead = len(text) - len(text.lstrip())
    if len(stripped) > MAX_CHARS:
        raise ExpressionError(
            f"an expression of {len(stripped)} characters",
            f"expressions are limited to {MAX_CHARS}",
            lead,
        )
    if not stripped:
        raise ExpressionError("an empty value", "expected a number or an expression", lead)
    # Line breaks inside a value (a TOML multi-line string) read as spaces; the same
    # length, so columns stay right.
    source = stripped.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    try:
        tree = ast.parse(source, mode="eval")  # a syntax tree only: nothing runs
    except SyntaxError as error:
        offset = max(0, (error.offset or 1) - 1)
        raise ExpressionError("invalid syntax", error.msg, lead + offset) from None
    except ValueError:  # "source code string cannot contain null bytes"
        raise ExpressionError("invalid syntax", "a NUL character", lead) from None
    except (RecursionError, MemoryError):  # absurd nesting
        raise ExpressionError("an expression", "too complex to read", lead) from None
    compiler = _Compiler(source, names, lead)
    evaluate, constant = compiler.node(tree.body, 0)
    if constant is not None:  # no variables: computed once, here
        value = constant
        evaluate = lambda variables: value  # noqa: E731
    return Expression(stripped, frozenset(compiler.used), evaluate)


def _finite(value: float) -> float:
    if isinstance(value, complex):
        raise EvaluationError("not a real number (a negative number to a fractional power?)")
    value = float(value)
    if not math.isfinite(value):
        raise EvaluationError("not a finite number")
    return value


def _reason(error: Exception) -> str:
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    if isinstance(error, OverflowError):
        return "a number out of range"
    if isinstance(error, EvaluationError):
        return str(error)
    text = str(error)
    return "outside the function's domain" if text == "math domain error" else text


def _divide(a: float, b: float) -> float:
    return a / b


def _power(a: float, b: float) -> float:
    if abs(b) > MAX_EXPONENT:
        raise EvaluationError(f"an exponent beyond +-{MAX_EXPONENT:g}")
    return _finite(a**b)


_BINARY = {
    ast.Add: float.__add__,
    ast.Sub: float.__sub__,
    ast.Mult: float.__mul__,
    ast.Div: _divide,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: _power,
}
_UNARY = {ast.USub: float.__neg__, ast.UAdd: float.__pos__}
_OPERATOR_TEXT = {
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Not: "not",
    ast.And: "and",
    ast.Or: "or",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_KIND_TEXT = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.IfExp: "'... if ... else ...'",
    ast.NamedExpr: "':='",
    ast.Starred: "'*'",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.JoinedStr: "a string",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class _Compiler:
    """Whitelisted ast nodes -> closures. ``node`` returns (evaluate, constant value or
    None): parts without variables are computed here, once."""

    def __init__(self, source: str, names: tuple[str, ...], lead: int):
        self.source, self.names, self.lead = source, names, lead
        self.used: set[str] = set()
        self._line_bytes = source.encode()

    def node(self, node: ast.AST, depth: int) -> tuple[Evaluator, float | None]:
        if depth > MAX_DEPTH:
            self.refuse(node, "this expression", f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.UnaryOp):
            operation = _UNARY.get(type(node.op))
            if operation is None:
                self.refuse_operator(node, node.op)
            return self.combine(node, operation, [node.operand], depth)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.BoolOp):
            self.refuse_operator(node, node.op)
        if isinstance(node, (ast.Attribute, ast.Subscript)):  # the first fault, left to right
            self.node(node.value, depth + 1)
        if isinstance(node, ast.Attribute):  # point at the dot, not at what comes before
            offset = self.offset(node, end=True) - len(node.attr) - 1
            raise ExpressionError(
                f"cannot use attribute access '.{node.attr}'",
                self.allowed(),
                self.lead + max(0, offset),
            )
        if isinstance(node, ast.Subscript):
            offset = self.offset(node.slice) - 1
            raise ExpressionError(
                "cannot use a subscript '[...]'", self.allowed(), self.lead + max(0, offset)
            )
        kind = _KIND_TEXT.get(type(node), type(node).__name__)
        self.refuse(node, kind, self.allowed())

    # -------------------------------------------------------------- leaves

    def constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a string" if isinstance(value, (str, bytes)) else repr(value)
            self.refuse(node, kind, "values are numbers")
        try:
            number = _finite(float(value))
        except (OverflowError, EvaluationError):
            self.refuse(node, self.shown(node), "not a finite number", "cannot compute")
        return (lambda variables, number=number: number), number

    def name(self, node: ast.Name):
        if node.id in CONSTANTS:
            number = CONSTANTS[node.id]
            return (lambda variables, number=number: number), number
        if node.id in self.names:
            self.used.add(node.id)
            return (lambda variables, name=node.id: variables[name]), None
        if node.id in AUDIO_NAMES:
            self.refuse(
                node,
                f"'{node.id}'",
                'audio features need an "audio:" schedule, like "audio: 1.01 + 0.04*onset"',
            )
        if node.id in FUNCTIONS:
            self.refuse(node, f"'{node.id}'", f"it is a function: call it, like {node.id}(t)")
        self.refuse(node, f"'{node.id}'", self.allowed())

    # -------------------------------------------------------------- operations

    def binary(self, node: ast.BinOp, depth: int):
        operation = _BINARY.get(type(node.op))
        if operation is None:
            self.refuse_operator(node, node.op)
        return self.combine(node, operation, [node.left, node.right], depth)

    def compare(self, node: ast.Compare, depth: int):
        tests = []
        for op in node.ops:
            if type(op) not in _COMPARE:
                self.refuse_operator(node, op)
            tests.append(_COMPARE[type(op)])

        def chain(*values: float) -> float:
            return float(all(test(a, b) for test, a, b in zip(tests, values, values[1:])))

        return self.combine(node, chain, [node.left, *node.comparators], depth)

    def call(self, node: ast.Call, depth: int):
        function = node.func
        if not isinstance(function, ast.Name):
            self.node(function, depth + 1)  # a lambda, an attribute...: refused as such
        if not isinstance(function, ast.Name) or function.id not in FUNCTIONS:
            called = f"'{function.id}'" if isinstance(function, ast.Name) else self.shown(function)
            self.refuse(function, called, f"only {', '.join(FUNCTIONS)} can be called")
        if node.keywords:
            self.refuse(
                node.keywords[0],
                "a keyword argument",
                f"{function.id} takes its arguments by position",
            )
        implementation, fewest, most = FUNCTIONS[function.id]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            wanted = (
                f"{fewest}"
                if fewest == most
                else f"at least {fewest}"
                if most is None
                else f"{fewest} or {most}"
            )
            self.refuse(
                node,
                f"{function.id} with {count} argument{'s' * (count != 1)}",
                f"it takes {wanted}",
            )

        def apply(*values: float) -> float:
            return float(implementation(*values))

        return self.combine(node, apply, node.args, depth)

    def combine(self, node: ast.AST, operation: Callable[..., float], children: list, depth: int):
        parts = [self.node(child, depth + 1) for child in children]
        evaluators = [evaluate for evaluate, _ in parts]
        if all(constant is not None for _, constant in parts):
            try:
                value = _finite(operation(*(constant for _, constant in parts)))
            except (ArithmeticError, ValueError) as error:  # 10**400, 1/0, sqrt(-1)
                self.refuse(node, self.shown(node), _reason(error), "cannot compute")
            return (lambda variables, value=value: value), value
        if len(evaluators) == 1:
            (only,) = evaluators
            return (lambda variables: operation(only(variables))), None
        if len(evaluators) == 2:
            first, second = evaluators
            return (lambda variables: operation(first(variables), second(variables))), None
        return (lambda variables: operation(*(part(variables) for part in evaluators))), None

    # -------------------------------------------------------------- refusals

    def allowed(self) -> str:
        names = ", ".join([*self.names, *CONSTANTS])
        return f"only {names} and the functions {', '.join(FUNCTIONS)} are allowed"

    def refuse_operator(self, node: ast.AST, op: ast.AST) -> NoReturn:
        text = _OPERATOR_TEXT.get(type(op), type(op).__name__)
        self.refuse(node, f"'{text}'", "the operators are + - * / % ** and comparisons")

    def refuse(self, node: ast.AST, what: str, why: str, verb: str = "cannot use") -> NoReturn:
        raise ExpressionError(f"{verb} {what}", why, self.lead + self.offset(node))

    def offset(self, node: ast.AST, end: bool = False) -> int:
        """ast counts columns in UTF-8 bytes; messages count characters."""
        column = getattr(node, "end_col_offset" if end else "col_offset", 0) or 0
        return len(self._line_bytes[:column].decode(errors="ignore"))

    def shown(self, node: ast.AST) -> str:
        """A part of the text, quoted for a message: cut when long (a 400-digit number)."""
        text = self.text_of(node)
        return repr(text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "...")

    def text_of(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or type(node).__name__

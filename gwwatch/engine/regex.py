"""Tenant regular expressions: RE2 matching, and whether two request spaces intersect.

The Gateway API leaves RegularExpression semantics to the implementation
(``apis/v1/httproute_types.go``, ``PathMatchType``: "Support: Implementation-specific");
Envoy-based implementations (Envoy Gateway, Istio, Contour, ...) compile them with RE2 and match
the whole value. gwwatch does the same:

* **Matching** goes through RE2 (``google-re2``): time linear in the value whatever the
  pattern, never Python's backtracking ``re``. A pattern RE2 refuses (a backreference,
  lookaround, a repetition over 1000) is reported as refused and matches nothing.
* **Overlap** of two spaces (a regex against another regex, an ``Exact`` path or a
  ``PathPrefix``) is decided exactly by searching the product of two Thompson automata built
  from the RE2 syntax: states are pairs of automaton states, so the search costs at most the
  product of the two patterns' sizes (no determinisation, no exponential blow-up), and it
  returns the shortest string in both: a *witness*. The search counts its steps; past
  :data:`MAX_STEPS` it stops and says "undecided" (what gwwatch then reports as "may
  overlap"). Syntax the automaton does not model (``\\b``, ``\\p{...}`` classes, multi-line
  anchors, case folding outside ASCII) is undecided too, never guessed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import re2  # type: ignore[import-untyped]

__all__ = [
    "MAX_STEPS",
    "PATH_CHARS",
    "VALUE_CHARS",
    "Overlap",
    "Space",
    "full_match",
    "intersect",
    "refusal",
    "steps",
]

MAX_STEPS: Final = 20_000  # product states and transitions tried per question (~0.1 s)
_MAX_CP: Final = 0x10FFFF

Ranges = tuple[tuple[int, int], ...]

# What a request can carry: a path is "/" then RFC 3986 path characters (pchar, "/" and "%");
# a header or query value any visible character, space or tab.
PATH_CHARS: Final[Ranges] = ((0x21, 0x21), (0x24, 0x3B), (0x3D, 0x3D), (0x40, 0x5A),
                             (0x5F, 0x5F), (0x61, 0x7A), (0x7E, 0x7E))
VALUE_CHARS: Final[Ranges] = ((0x09, 0x09), (0x20, 0x7E), (0x80, _MAX_CP))


def _options() -> object:
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = 8 << 20
    return opts


_OPTIONS: Final = _options()


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> tuple[object | None, str | None]:
    try:
        return re2.compile(pattern, _OPTIONS), None
    except re2.error as exc:
        text = exc.args[0] if exc.args else exc
        return None, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    except (UnicodeError, TypeError, ValueError) as exc:
        return None, str(exc)


_STEPS = [0]  # automaton steps taken so far, for callers that budget their work


def steps() -> int:
    """Automaton steps taken by :func:`intersect` since the process started."""
    return _STEPS[0]


def refusal(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern`` (``None``: it compiles)."""
    return _compiled(pattern)[1]


def full_match(pattern: str, value: str) -> bool:
    """Whether ``pattern`` matches all of ``value`` (RE2; a refused pattern matches nothing)."""
    compiled = _compiled(pattern)[0]
    if compiled is None:
        return False
    try:
        return compiled.fullmatch(value) is not None  # type: ignore[attr-defined]
    except (UnicodeError, TypeError, ValueError):  # a lone surrogate is no UTF-8 text
        return False


# --- automata ---------------------------------------------------------------------------------


class Undecidable(Exception):
    """Syntax or size the automaton does not model: the caller must not guess."""


@dataclass(frozen=True, slots=True)
class Space:
    """A set of strings: ``kind`` is "exact", "prefix" (element-wise, as PathPrefix) or
    "regex"; ``value`` the path or pattern."""

    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class Overlap:
    """``decided``: the answer is exact. ``witness``: a string in both (``None``: disjoint
    when decided, not found otherwise). ``steps``: the search's work."""

    decided: bool
    witness: str | None
    steps: int


class _Nfa:
    """Thompson automaton: ``chars[q]`` = [(ranges, target)], ``eps[q]`` = [(assertion,
    target)] with assertion None, "start" or "end"."""

    __slots__ = ("chars", "eps", "final", "start")

    def __init__(self) -> None:
        self.chars: list[list[tuple[Ranges, int]]] = []
        self.eps: list[list[tuple[str | None, int]]] = []
        self.start = self.final = 0

    def state(self) -> int:
        if len(self.chars) > _MAX_STATES:
            raise Undecidable("automaton too large")
        self.chars.append([])
        self.eps.append([])
        return len(self.chars) - 1


_MAX_STATES: Final = 20_000


def _norm(ranges: Sequence[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _negate(ranges: Ranges) -> Ranges:
    out = []
    at = 0
    for lo, hi in ranges:
        if lo > at:
            out.append((at, lo - 1))
        at = hi + 1
    if at <= _MAX_CP:
        out.append((at, _MAX_CP))
    return tuple(out)


@lru_cache(maxsize=8192)
def _and(a: Ranges, b: Ranges) -> Ranges:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def _fold(ranges: Ranges) -> Ranges:
    """Case-insensitive: add the other case of ASCII letters (other letters: undecidable)."""
    extra = []
    for lo, hi in ranges:
        for base, other in ((0x41, 0x61), (0x61, 0x41)):
            a, z = max(lo, base), min(hi, base + 25)
            if a <= z:
                extra.append((a - base + other, z - base + other))
        if hi >= 0x80 and lo <= 0x24FF:  # letters with case beyond ASCII
            raise Undecidable("case folding outside ASCII")
    return _norm([*ranges, *extra])


_DIGIT: Final[Ranges] = ((0x30, 0x39),)
_WORD: Final[Ranges] = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SPACE: Final[Ranges] = ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))
_PERL: Final = {"d": _DIGIT, "w": _WORD, "s": _SPACE}
_POSIX: Final[dict[str, Ranges]] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)), "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0, 0x7F),), "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0, 0x1F), (0x7F, 0x7F)), "digit": _DIGIT, "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),), "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)), "upper": ((0x41, 0x5A),), "word": _WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_ESCAPES: Final = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}

# AST: ("chars", Ranges) | ("cat", [nodes]) | ("alt", [nodes]) | ("rep", node, min, max|None)
#      | ("assert", "start"|"end") | ("empty",)
Node = tuple[object, ...]


class _Parser:
    """RE2 syntax (https://github.com/google/re2/wiki/Syntax), the part paths and header
    values use; RE2 has already accepted the pattern, so errors here mean "not modelled"."""

    def __init__(self, pattern: str) -> None:
        self.s = pattern
        self.i = 0
        self.fold = False
        self.dotnl = False
        self.multiline = False

    def parse(self) -> Node:
        node = self.alt()
        if self.i != len(self.s):
            raise Undecidable(f"unexpected {self.s[self.i]!r}")
        return node

    def peek(self) -> str | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def alt(self) -> Node:
        saved = (self.fold, self.dotnl, self.multiline)
        branches = [self.cat()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.cat())
        self.fold, self.dotnl, self.multiline = saved
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def cat(self) -> Node:
        items: list[Node] = []
        while self.peek() not in (None, "|", ")"):
            atom = self.atom()
            if atom is None:
                continue
            items.append(self.repeat(atom))
        return ("cat", items) if items else ("empty",)

    def repeat(self, atom: Node) -> Node:
        while True:
            c = self.peek()
            if c in ("*", "+", "?"):
                self.i += 1
                atom = ("rep", atom, 0 if c != "+" else 1, 1 if c == "?" else None)
            elif c == "{":
                bounds = self.counted()
                if bounds is None:
                    return atom
                atom = ("rep", atom, *bounds)
            else:
                return atom
            if self.peek() == "?":  # non-greedy: the same language
                self.i += 1

    def counted(self) -> tuple[int, int | None] | None:
        end = self.s.find("}", self.i)
        body = self.s[self.i + 1:end] if end > 0 else ""
        lo, comma, hi = body.partition(",")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None  # a literal "{"
        self.i = end + 1
        return int(lo), (int(hi) if hi else None) if comma else int(lo)

    def atom(self) -> Node | None:
        c = self.s[self.i]
        self.i += 1
        if c == "(":
            return self.group()
        if c == "[":
            return ("chars", self.fold_if(self.char_class()))
        if c == ".":
            return ("chars", ((0, _MAX_CP),) if self.dotnl else ((0, 9), (11, _MAX_CP)))
        if c == "^":
            return self.anchor("start")
        if c == "$":
            return self.anchor("end")
        if c == "\\":
            return self.escape()
        return ("chars", self.fold_if(((ord(c), ord(c)),)))

    def anchor(self, where: str) -> Node:
        if self.multiline:
            raise Undecidable("multi-line anchors")
        return ("assert", where)

    def fold_if(self, ranges: Ranges) -> Ranges:
        return _fold(ranges) if self.fold else ranges

    def group(self) -> Node | None:
        if self.s.startswith("?P<", self.i) or self.s.startswith("?<", self.i):
            self.i = self.s.index(">", self.i) + 1
        elif self.peek() == "?":
            end = self.i + 1
            while end < len(self.s) and self.s[end] not in ":)":
                end += 1
            flags = self.s[self.i + 1:end]
            on, _, off = flags.partition("-")
            for letter in on + off:
                if letter not in "imsU":
                    raise Undecidable(f"flag {letter}")
            saved = (self.fold, self.dotnl, self.multiline)
            for letters, value in ((on, True), (off, False)):
                if "i" in letters:
                    self.fold = value
                if "s" in letters:
                    self.dotnl = value
                if "m" in letters:
                    self.multiline = value
            self.i = end + 1
            if self.s[end] == ")":  # (?flags): to the end of the enclosing group
                return None
            node = self.alt()
            self.fold, self.dotnl, self.multiline = saved
            self.expect(")")
            return node
        node = self.alt()
        self.expect(")")
        return node

    def expect(self, c: str) -> None:
        if self.peek() != c:
            raise Undecidable(f"expected {c!r}")
        self.i += 1

    def escape(self) -> Node:
        c = self.s[self.i]
        if c == "Q":
            end = self.s.find("\\E", self.i)
            text = self.s[self.i + 1:] if end < 0 else self.s[self.i + 1:end]
            self.i = len(self.s) if end < 0 else end + 2
            if not text:
                return ("empty",)
            return ("cat", [("chars", self.fold_if(((ord(t), ord(t)),))) for t in text])
        if c == "A":
            self.i += 1
            return ("assert", "start")
        if c == "z":
            self.i += 1
            return ("assert", "end")
        return ("chars", self.fold_if(self.class_escape()))

    def class_escape(self) -> Ranges:
        """After a backslash: one character or a Perl class, as a set."""
        c = self.s[self.i]
        self.i += 1
        if c.lower() in _PERL:
            ranges = _PERL[c.lower()]
            return _negate(ranges) if c.isupper() else ranges
        if c in _ESCAPES:
            return ((_ESCAPES[c], _ESCAPES[c]),)
        if c == "x":
            if self.peek() == "{":
                end = self.s.index("}", self.i)
                code = int(self.s[self.i + 1:end], 16)
                self.i = end + 1
            else:
                code = int(self.s[self.i:self.i + 2], 16)
                self.i += 2
            return ((code, code),)
        if c in "01234567":
            digits = c
            while len(digits) < 3 and self.peek() is not None and self.s[self.i] in "01234567":
                digits += self.s[self.i]
                self.i += 1
            return ((int(digits, 8),) * 2,)
        if c.isalnum():  # \b \B \p \P \C ...: not modelled
            raise Undecidable(f"\\{c}")
        return ((ord(c), ord(c)),)

    def char_class(self) -> Ranges:
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise Undecidable("unterminated class")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if self.s.startswith("[:", self.i):
                end = self.s.find(":]", self.i)
                name = self.s[self.i + 2:end]
                self.i = end + 2
                inverted = name.startswith("^")
                cls = _POSIX.get(name.lstrip("^"))
                if cls is None or end < 0:
                    raise Undecidable(f"class {name}")
                ranges += _negate(cls) if inverted else cls
                continue
            lo_set = self.class_atom()
            if self.peek() == "-" and self.i + 1 < len(self.s) and self.s[self.i + 1] != "]":
                self.i += 1
                hi_set = self.class_atom()
                if len(lo_set) != 1 or len(hi_set) != 1 or lo_set[0][0] != lo_set[0][1]:
                    raise Undecidable("class range of a class")
                ranges.append((lo_set[0][0], hi_set[0][1]))
            else:
                ranges += lo_set
        out = _norm(ranges)
        return _negate(out) if negate else out

    def class_atom(self) -> Ranges:
        c = self.s[self.i]
        self.i += 1
        if c == "\\":
            return self.class_escape()
        return ((ord(c), ord(c)),)


def _build(node: Node, nfa: _Nfa, start: int, end: int) -> None:
    """Wire ``node`` between states ``start`` and ``end``."""
    kind = node[0]
    if kind == "chars":
        nfa.chars[start].append((node[1], end))  # type: ignore[arg-type]
    elif kind == "empty":
        nfa.eps[start].append((None, end))
    elif kind == "assert":
        nfa.eps[start].append((node[1], end))  # type: ignore[arg-type]
    elif kind == "cat":
        items: list[Node] = node[1]  # type: ignore[assignment]
        at = start
        for k, item in enumerate(items):
            nxt = end if k == len(items) - 1 else nfa.state()
            _build(item, nfa, at, nxt)
            at = nxt
    elif kind == "alt":
        for item in node[1]:  # type: ignore[attr-defined]
            _build(item, nfa, start, end)
    else:  # rep
        inner: Node = node[1]  # type: ignore[assignment]
        lo: int = node[2]  # type: ignore[assignment]
        hi: int | None = node[3]  # type: ignore[assignment]
        at = start
        for _ in range(lo):
            nxt = nfa.state()
            _build(inner, nfa, at, nxt)
            at = nxt
        if hi is None:
            loop = nfa.state()
            nfa.eps[at].append((None, loop))
            back = nfa.state()
            _build(inner, nfa, loop, back)
            nfa.eps[back].append((None, loop))
            nfa.eps[loop].append((None, end))
        else:
            for _ in range(hi - lo):
                nfa.eps[at].append((None, end))
                nxt = nfa.state()
                _build(inner, nfa, at, nxt)
                at = nxt
            nfa.eps[at].append((None, end))


def _literal(text: str) -> Node:
    return ("cat", [("chars", ((ord(t), ord(t)),)) for t in text]) if text else ("empty",)


def _space_node(space: Space) -> Node:
    if space.kind == "exact":
        return _literal(space.value)
    if space.kind == "prefix":
        # element-wise: the prefix itself, or it then "/" then anything
        rest = ("cat", [("chars", ((0x2F, 0x2F),)), ("rep", ("chars", ((0, _MAX_CP),)), 0, None)])
        if space.value == "/":
            return ("rep", ("chars", ((0, _MAX_CP),)), 0, None)
        return ("cat", [_literal(space.value), ("alt", [("empty",), rest])])
    if refusal(space.value) is not None:
        return ("chars", ())  # matches nothing, as RE2 refusing it
    return _Parser(space.value).parse()


@lru_cache(maxsize=2048)
def _automaton(space: Space) -> _Nfa:
    nfa = _Nfa()
    nfa.start, nfa.final = nfa.state(), nfa.state()
    _build(_space_node(space), nfa, nfa.start, nfa.final)
    return nfa


def _closure(nfa: _Nfa, q: int, at_start: bool, at_end: bool) -> list[int]:
    seen = {q}
    stack = [q]
    while stack:
        s = stack.pop()
        for cond, t in nfa.eps[s]:
            if t in seen or (cond == "start" and not at_start) or (cond == "end" and not at_end):
                continue
            seen.add(t)
            stack.append(t)
    return list(seen)


_PREFERRED: Final = "abcdefghijklmnopqrstuvwxyz0123456789-_.~/ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@lru_cache(maxsize=8192)
def _pick(ranges: Ranges) -> str:
    for ch in _PREFERRED:
        cp = ord(ch)
        if any(lo <= cp <= hi for lo, hi in ranges):
            return ch
    for lo, hi in ranges:
        if hi >= 0x21:
            return chr(max(lo, 0x21))
    return chr(ranges[0][0])


@lru_cache(maxsize=4096)
def intersect(a: Space, b: Space, universe: Ranges = PATH_CHARS,
              max_steps: int = MAX_STEPS) -> Overlap:
    """Whether some string of ``universe`` (a path: "/" then path characters) is in both
    spaces, decided exactly, with the shortest such string as the witness."""
    found = _intersect(a, b, universe, max_steps)
    _STEPS[0] += found.steps
    return found


def _intersect(a: Space, b: Space, universe: Ranges, max_steps: int) -> Overlap:
    try:
        na = _automaton(a)
        nb = _automaton(b)
    except (Undecidable, RecursionError, ValueError, IndexError) as exc:
        del exc
        return Overlap(False, None, 0)
    return _search(na, nb, universe, max_steps)


def _search(na: _Nfa, nb: _Nfa, universe: Ranges, max_steps: int) -> Overlap:
    path = universe == PATH_CHARS
    steps = 0
    # a node: (state of a, state of b, at position 0?); the universe is a third automaton of
    # two states for a path ("/" first, then path characters), one for a value
    start = (na.start, nb.start, True)
    parent: dict[tuple[int, int, bool], tuple[tuple[int, int, bool], str] | None] = {start: None}
    queue = deque([start])
    closures: dict[tuple[int, int, bool, bool], list[int]] = {}

    def closure(which: int, q: int, at_start: bool, at_end: bool) -> list[int]:
        key = (which, q, at_start, at_end)
        found = closures.get(key)
        if found is None:
            found = closures[key] = _closure(na if which == 0 else nb, q, at_start, at_end)
        return found

    while queue:
        node = queue.popleft()
        qa, qb, first = node
        steps += 1
        if steps > max_steps:
            return Overlap(False, None, steps)
        accept = (not (path and first)
                  and na.final in closure(0, qa, first, True)
                  and nb.final in closure(1, qb, first, True))
        if accept:
            out: list[str] = []
            at: tuple[int, int, bool] | None = node
            while at is not None:
                step = parent[at]
                if step is None:
                    break
                at, ch = step
                out.append(ch)
            return Overlap(True, "".join(reversed(out)), steps)
        allowed = ((0x2F, 0x2F),) if path and first else universe
        edges_b = [(r, t) for s in closure(1, qb, first, False) for r, t in nb.chars[s]]
        for s in closure(0, qa, first, False):
            for ra, ta in na.chars[s]:
                ra = _and(ra, allowed)
                if not ra:
                    continue
                for rb, tb in edges_b:
                    steps += 1
                    both = _and(ra, rb)
                    if not both:
                        continue
                    nxt = (ta, tb, False)
                    if nxt not in parent:
                        parent[nxt] = (node, _pick(both))
                        queue.append(nxt)
        if steps > max_steps:
            return Overlap(False, None, steps)
    return Overlap(True, None, steps)

r"""Where each key of a TOML document is written: key path -> line, by a tokenizer that knows TOML strings.

tomllib gives values without positions. This scanner walks the text once the
way a TOML parser does -- basic, literal and multi-line strings, comments,
arrays, inline tables, ``[table]`` and ``[[array.of.tables]]`` headers -- so
text inside a string (a multi-line string holding "[[events]]") is never taken for a
header or a key. Array items get their index in the path, so
``holes = [{...}, {...}]`` places ``("machine", "holes", 1)`` on the line of
the second table.

It runs only on text tomllib accepted, and never raises: whatever it cannot
follow it skips.
"""

MAX_DEPTH = 64
"""Arrays and inline tables nested deeper than this are refused (see ``nesting_error``)."""

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _Scanner:
    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.line = 1
        self.lines: dict[tuple, int] = {}
        self.counters: dict[tuple, int] = {}
        self.deepest = (0, 1)

    # --- characters ---

    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.s[j] if j < len(self.s) else ""

    def advance(self, n: int = 1) -> None:
        end = min(self.i + n, len(self.s))
        self.line += self.s.count("\n", self.i, end)
        self.i = end

    def skip_blank(self, newlines: bool) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.advance()
            elif c == "#":
                end = self.s.find("\n", self.i)
                self.advance((end if end >= 0 else len(self.s)) - self.i)
            else:
                return

    def skip_to_line_end(self) -> None:
        end = self.s.find("\n", self.i)
        self.advance((end if end >= 0 else len(self.s)) - self.i)

    # --- tokens ---

    def string(self) -> str:
        """A basic, literal or multi-line string at the cursor; its raw text (escapes not decoded)."""
        for quote in ('"""', "'''"):
            if self.s.startswith(quote, self.i):
                start = self.i + 3
                j = start
                while True:
                    j = self.s.find(quote, j)
                    if j < 0:
                        self.advance(len(self.s) - self.i)
                        return self.s[start:]
                    if quote == '"""' and _escaped(self.s, j):
                        j += 1
                        continue
                    while self.s.startswith(quote[0], j + 3):  # up to two quotes may end the content
                        j += 1
                    self.advance(j + 3 - self.i)
                    return self.s[start:j]
        quote = self.peek()
        start = self.i + 1
        j = start
        while j < len(self.s) and self.s[j] != "\n":
            if self.s[j] == "\\" and quote == '"':
                j += 2
                continue
            if self.s[j] == quote:
                break
            j += 1
        self.advance(min(j + 1, len(self.s)) - self.i)
        return _unescape(self.s[start:j]) if quote == '"' else self.s[start:j]

    def key(self) -> tuple:
        """A dotted key (bare or quoted parts)."""
        parts = []
        while True:
            self.skip_blank(False)
            c = self.peek()
            if c in ('"', "'"):
                parts.append(self.string())
            else:
                start = self.i
                while self.peek() in _BARE and self.peek():
                    self.advance()
                if self.i == start:
                    return tuple(parts)
                parts.append(self.s[start:self.i])
            self.skip_blank(False)
            if self.peek() != ".":
                return tuple(parts)
            self.advance()

    def value(self, path: tuple, depth: int) -> None:
        if depth > self.deepest[0]:
            self.deepest = (depth, self.line)
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c == "[":
            self.advance()
            index = 0
            while self.i < len(self.s):
                self.skip_blank(True)
                if self.peek() in ("]", ""):
                    self.advance()
                    return
                if self.peek() == ",":
                    index += 1
                    self.advance()
                    continue
                self.lines.setdefault(path + (index,), self.line)
                if depth >= MAX_DEPTH:
                    self.deepest = (depth + 1, self.line)
                    self.advance(len(self.s) - self.i)
                    return
                self.value(path + (index,), depth + 1)
        elif c == "{":
            self.advance()
            while self.i < len(self.s):
                self.skip_blank(False)
                if self.peek() in ("}", "", "\n"):
                    self.advance()
                    return
                if self.peek() == ",":
                    self.advance()
                    continue
                line = self.line
                key = self.key()
                if not key:
                    self.advance()
                    continue
                for n in range(1, len(key) + 1):
                    self.lines.setdefault(path + key[:n], line)
                self.skip_blank(False)
                if self.peek() == "=":
                    self.advance()
                    self.skip_blank(False)
                if depth >= MAX_DEPTH:
                    self.deepest = (depth + 1, self.line)
                    self.advance(len(self.s) - self.i)
                    return
                self.value(path + key, depth + 1)
        else:  # a number, date, boolean: up to the next separator
            while self.peek() and self.peek() not in ",]}\n#":
                self.advance()

    def header(self) -> tuple:
        array = self.s.startswith("[[", self.i)
        self.advance(2 if array else 1)
        parts = self.key()
        self.skip_to_line_end()
        resolved: tuple = ()
        for p in parts[:-1]:
            resolved += (p,)
            if resolved in self.counters:
                resolved += (self.counters[resolved],)
        resolved += parts[-1:]
        line = self.line
        if array:
            self.counters[resolved] = self.counters.get(resolved, -1) + 1
            self.lines.setdefault(resolved, line)
            resolved += (self.counters[resolved],)
        for depth in range(1, len(resolved) + 1):  # [a.b.c] also opens [a] and [a.b]
            self.lines.setdefault(resolved[:depth], line)
        return resolved

    def document(self) -> dict[tuple, int]:
        current: tuple = ()
        while self.i < len(self.s):
            self.skip_blank(True)
            c = self.peek()
            if not c:
                break
            if c == "[":
                current = self.header()
                continue
            line = self.line
            key = self.key()
            if not key:
                self.skip_to_line_end()
                continue
            for n in range(1, len(key) + 1):
                self.lines.setdefault(current + key[:n], line)
            self.skip_blank(False)
            if self.peek() == "=":
                self.advance()
                self.skip_blank(False)
                self.value(current + key, 1)
            self.skip_to_line_end()
        return self.lines


def _escaped(s: str, j: int) -> bool:
    n = 0
    while j - 1 - n >= 0 and s[j - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        return raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return raw


def key_lines(text: str) -> dict[tuple, int]:
    """Map every key path (tables, arrays of tables with their index, keys, array items) to its line."""
    return _Scanner(text).document()


def nesting(text: str) -> tuple[int, int]:
    """The deepest nesting of arrays and inline tables in ``text`` and the line where it is reached.

    Counts brackets outside strings and comments without recursion, so it is
    safe to call before any parser on hostile text.
    """
    depth = deepest = 0
    where, line, i, n = 1, 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "\"'":
            triple = text.startswith(c * 3, i)
            end_mark = c * 3 if triple else c
            j = i + len(end_mark)
            while j < n:
                if text.startswith(end_mark, j) and not (c == '"' and _escaped(text, j)):
                    break
                if not triple and text[j] == "\n":
                    break
                j += 1
            line += text.count("\n", i, j)
            i = j + len(end_mark)
            continue
        elif c in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest, where

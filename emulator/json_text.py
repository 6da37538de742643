"""JSON text of the files a run writes (report.json, the digest header, the suite's JSON), written fast.

The standard library indents JSON in pure Python: its C encoder is used only without ``indent``. A report of
an 8-CPU partition, whose register table compares every saved register of every CPU, took about 1.4 ms of a
35 ms scenario to indent on the 2-core development machine. orjson (the Rust encoder, a well-kept PyPI
package) writes it in about 0.03 ms.

The text is ``json.dumps(value, indent=2)``'s layout: two-space indentation, ``": "`` after keys, plain
ASCII (escaped as ``\\uXXXX`` beyond it). One thing differs, and only in how a number is spelled: a float
below 1e-4 is ``0.00001`` or ``2.5e-9`` where ``repr`` writes ``1e-05`` and ``2.5e-09`` (the same double,
read back by any JSON reader). The standard library writes the file where orjson cannot:

* text with a character beyond ASCII (orjson writes UTF-8; the files stay ASCII as they always were), or with
  DEL (0x7f), which json.dumps escapes and orjson does not;
* what orjson refuses: integers beyond 64 bits, keys that are not strings, types it does not know.
"""

import json

try:
    import orjson
except ImportError:  # an installation without it: the standard library writes every file, more slowly
    orjson = None

_OPTIONS = 0 if orjson is None else (orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATACLASS
                                      | orjson.OPT_PASSTHROUGH_DATETIME)
"""Two-space indentation and a final newline; dataclasses and datetimes are refused, as json.dumps refuses them."""


def indented(value) -> str:
    """The text of a JSON file holding ``value``, in ``json.dumps(value, indent=2)``'s layout, newline-ended."""
    if orjson is not None:
        try:
            raw = orjson.dumps(value, option=_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            raw = None
        # json.dumps also escapes DEL (0x7f, ASCII but not printable) as \u007f; orjson writes it raw.
        if raw is not None and raw.isascii() and b"\x7f" not in raw:
            return raw.decode("ascii")
    return json.dumps(value, indent=2) + "\n"

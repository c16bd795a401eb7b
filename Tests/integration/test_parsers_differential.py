"""Our TOML and JSON readers against Python's tomllib and json, on seeded random documents.

proxy-sync-parse (a test-only executable target) runs the program's own readers on stdin and prints the result as
JSON, TOML values tagged the toml-test way ({"type": "integer", "value": "42"}), or `ERROR ...` with exit 1.

- valid documents within the subset the config file uses: both readers accept and agree (decimals numerically);
- invalid documents: both reject;
- valid TOML/JSON outside the subset or beyond our limits: we reject (never misread), Python accepts;
- mutated documents (a byte inserted, deleted or replaced): whenever we accept, Python accepts the same value.
"""
import json
import math
import os
import random
import subprocess
import tomllib

import pytest

from conftest import ROOT

PARSE = os.environ.get("PROXY_SYNC_PARSE_BIN", str(ROOT / ".build" / "debug" / "proxy-sync-parse"))
COUNT = 500

pytestmark = pytest.mark.skipif(not os.path.exists(PARSE), reason=f"{PARSE} not built (swift build)")


def ours(kind, data: bytes):
    """(True, value) or (False, error line)."""
    r = subprocess.run([PARSE, kind], input=data, capture_output=True, timeout=30)
    out = r.stdout.decode()
    if r.returncode == 1 and out.startswith("ERROR "):
        assert out.count("\n") == 1, out
        return False, out.strip()
    assert r.returncode == 0, (r.returncode, out, r.stderr)
    return True, json.loads(out)


def python_toml(data: bytes):
    try:
        return True, tagged(tomllib.loads(data.decode("utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as error:
        return False, str(error)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def python_json(data: bytes):
    try:
        return True, json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return False, str(error)


def tagged(value):
    """tomllib's result in proxy-sync-parse's toml-test tags."""
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    if isinstance(value, bool):
        return {"type": "bool", "value": "true" if value else "false"}
    if isinstance(value, int):
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    raise AssertionError(f"not in the subset: {value!r}")


def same(a, b):
    """Equal trees; decimals compared numerically (our floats are Double, printed by Swift)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return False
        if a.get("type") == "float" and b.get("type") == "float":
            return float(a["value"]) == float(b["value"])
        return all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


# --- TOML generation -------------------------------------------------------------------------------------------------

BARE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
TEXT = list("abc xyz XYZ 019 _-.,;:!?#=[]{}$%&*()'/<>@^`|~") + ["é", "ß", "€", "日本", "😀", "\u00a0", "\u2028", "\t"]
ESCAPES = ["\\n", "\\t", "\\\"", "\\\\", "\\b", "\\f", "\\r"]


class TomlGen:
    def __init__(self, rnd: random.Random):
        self.r = rnd
        self.crlf = rnd.random() < 0.2

    @property
    def nl(self):
        return "\r\n" if self.crlf else "\n"

    def ws(self):
        return self.r.choice(["", " ", " ", "  ", "\t", " \t "])

    def comment(self):
        if self.r.random() < 0.3:
            return self.ws() + "#" + "".join(self.r.choice(TEXT + ["#", "'", '"', "\\"]) for _ in range(self.r.randint(0, 12)))
        return ""

    def bare(self):
        return "".join(self.r.choice(BARE) for _ in range(self.r.randint(1, 10)))

    def key(self):
        if self.r.random() < 0.1:
            return self.basic_string(max_len=6)
        return self.bare()

    def escape(self):
        c = self.r.random()
        if c < 0.6:
            return self.r.choice(ESCAPES)
        while True:
            code = self.r.choice([self.r.randint(0, 0x7F), self.r.randint(0x80, 0xFFFF), self.r.randint(0x10000, 0x10FFFF)])
            if not 0xD800 <= code <= 0xDFFF:
                break
        hexdigits = f"{code:04x}" if code <= 0xFFFF and self.r.random() < 0.7 else f"{code:08x}"
        if self.r.random() < 0.3:
            hexdigits = hexdigits.upper()
        return ("\\u" if len(hexdigits) == 4 else "\\U") + hexdigits

    def basic_string(self, max_len=16):
        parts = []
        for _ in range(self.r.randint(0, max_len)):
            if self.r.random() < 0.2:
                parts.append(self.escape())
            else:
                parts.append(self.r.choice(TEXT + ["'"]))
        return '"' + "".join(parts) + '"'

    def literal_string(self):
        return "'" + "".join(self.r.choice([t for t in TEXT if t != "'"] + ["\\", '"', "\\n"]) for _ in range(self.r.randint(0, 16))) + "'"

    def digits(self, first_nonzero=True, underscores=True):
        n = self.r.randint(1, 7)
        ds = [self.r.choice("123456789" if first_nonzero else "0123456789")] + [self.r.choice("0123456789") for _ in range(n - 1)]
        out = ds[0]
        for d in ds[1:]:
            if underscores and self.r.random() < 0.15:
                out += "_"
            out += d
        return out

    def integer(self):
        c = self.r.random()
        if c < 0.1:
            return self.r.choice(["0", "+0", "-0"])
        if c < 0.15:
            return str(self.r.choice([2**63 - 1, -(2**63), 2**62]))
        sign = self.r.choice(["", "", "+", "-"])
        return sign + self.digits()

    def decimal(self):
        sign = self.r.choice(["", "", "+", "-"])
        whole = "0" if self.r.random() < 0.3 else self.digits()
        frac = "." + self.digits(first_nonzero=False) if self.r.random() < 0.8 else ""
        exp = ""
        if not frac or self.r.random() < 0.3:
            exp = self.r.choice("eE") + self.r.choice(["", "+", "-"]) + self.r.choice(["", "0", "00"]) + str(self.r.randint(0, 300))
        return sign + whole + frac + exp

    def array(self, depth):
        multi = self.r.random() < 0.4
        items = [self.value(depth + 1) for _ in range(self.r.randint(0, 5))]
        if not multi:
            sep = "," + self.ws()
            trailing = "," if items and self.r.random() < 0.2 else ""
            return "[" + self.ws() + sep.join(items) + trailing + self.ws() + "]"
        out = "[" + self.comment() + self.nl
        for item in items:
            if self.r.random() < 0.1:
                out += self.ws() + self.comment() + self.nl
            out += "  " + item + "," + self.comment() + self.nl
        return out + self.ws() + "]"

    def value(self, depth=0):
        choices = ["int", "dec", "bool", "basic", "literal"] + (["array"] * 2 if depth < 4 else [])
        kind = self.r.choice(choices)
        if kind == "int":
            return self.integer()
        if kind == "dec":
            return self.decimal()
        if kind == "bool":
            return self.r.choice(["true", "false"])
        if kind == "basic":
            return self.basic_string()
        if kind == "literal":
            return self.literal_string()
        return self.array(depth)

    def pairs(self, used):
        lines = []
        for _ in range(self.r.randint(0, 5)):
            key = self.key()
            name = next(iter(tomllib.loads(key + " = 1")))
            if name in used:
                continue
            used.add(name)
            lines.append(self.ws() + key + self.ws() + "=" + self.ws() + self.value() + self.comment())
            if self.r.random() < 0.2:
                lines.append(self.comment())
        return lines

    def document(self):
        lines = []
        top = set()
        lines += self.pairs(top)
        tables = set()
        for _ in range(self.r.randint(0, 4)):
            name = self.r.choice(["gocd", "x", "proxy", "sync", self.bare()])
            if name in tables or name in top:
                continue
            tables.add(name)
            header = f'"{name}"' if self.r.random() < 0.1 else name
            lines.append(self.ws() + "[" + self.ws() + header + self.ws() + "]" + self.comment())
            lines += self.pairs(set())
            if self.r.random() < 0.3:
                lines.append("")
        text = self.nl.join(lines)
        if self.r.random() < 0.7:
            text += self.nl
        return text.encode()


def test_toml_generated_documents_agree():
    rnd = random.Random(20240611)
    compared = 0
    for i in range(COUNT):
        doc = TomlGen(rnd).document()
        expected = python_toml(doc)
        assert expected[0], (doc, expected)
        got = ours("toml", doc)
        assert got[0], (doc, got)
        assert same(got[1], expected[1]), (doc, got[1], expected[1])
        compared += 1
    assert compared == COUNT


CONTROL = [c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + [0x7F]

INVALID_TOML = [
    "v = 1__0", "v = 1_", "v = _1", "v = 01", "v = +01", "v = -01", "v = 00", "v = 1.", "v = .5", "v = 1.e3", "v = 1e",
    "v = 1e_3", "v = 1._5", "v = +", "v = 1.5.2", "v = 0.1e",
    'v = "\\u+0e9"', 'v = "\\u-0e9"', 'v = "\\u0e9"', 'v = "\\U+001F600"', 'v = "\\uD800"', 'v = "\\uDFFF"',
    'v = "\\U0000D800"', 'v = "\\U00110000"', 'v = "\\UFFFFFFFF"', 'v = "\\x41"', 'v = "\\e"', 'v = "\\ "',
    "v = 1\r", "v = [1,\r2]", "\r", "[t]\r\nv = 1\r", "v = 1 # c\r", "# c\rv = 1",
    "v = 1\nv = 2", "[a]\n[a]", "v = 1\n[v]", "[a]\nb = 1\n[a]\nc = 2", '[a]\nb = 1\n"b" = 2', '[a]\n["a"]',
    'v = "unterminated', "v = 'unterminated", "v = [1, 2", "v = [1,,2]", "v = [,]", "v =", "= 1", "v = 1 w = 2",
    "v = tru", "v = True", "[a", "[a]]", "v = 'a'b", 'v = "a" "b"', "v = [1] 2", "v = 1,", 'v = "a\nb"', "v",
    "v = \u00e9", "\u00e9 = 1", "[a b]", "v = 1 2",
]
INVALID_TOML += [f"# {chr(c)}" for c in CONTROL] + [f"v = '{chr(c)}'" for c in CONTROL]
INVALID_TOML += [f'v = "{chr(c)}"' for c in CONTROL] + [f"v = [ # {chr(c)}\n]" for c in CONTROL]
INVALID_TOML = [t.encode() for t in INVALID_TOML] + [b"v = '\xff'", b"# \xc3\x28", b'v = "\xed\xa0\x80"', b"\xff = 1"]


@pytest.mark.parametrize("doc", INVALID_TOML, ids=[repr(d)[:40] for d in INVALID_TOML])
def test_toml_invalid_documents_are_rejected_by_both(doc):
    assert not python_toml(doc)[0], doc
    ok, error = ours("toml", doc)
    assert not ok, (doc, error)
    assert error.startswith("ERROR line "), error


# Valid TOML the config file does not use, or beyond our limits: refused (never misread).
OUTSIDE_SUBSET = [
    '[""]\nv = 1', "a.b = 1", "[a.b]", "[[a]]", "v = {a = 1}", 'v = """x"""', "v = '''x'''", "'k' = 1",
    "v = 1979-05-27", "v = 07:32:00", "v = 1979-05-27T07:32:00Z", "v = 0x10", "v = 0o7", "v = 0b1", "v = inf",
    "v = -nan", "v = 9223372036854775808", "v = 1e400",
    "v = " + "[" * 65 + "]" * 65,
]


@pytest.mark.parametrize("doc", OUTSIDE_SUBSET, ids=[d[:30] for d in OUTSIDE_SUBSET])
def test_toml_outside_the_subset_is_refused(doc):
    tomllib.loads(doc)  # valid TOML
    ok, error = ours("toml", doc.encode())
    assert not ok, (doc, error)


def test_toml_deep_nesting_is_refused_not_a_crash():
    ok, error = ours("toml", b"v = " + b"[" * 200_000)
    assert not ok and "nested more than 64 levels" in error
    ok, _ = ours("toml", b"v = " + b"[" * 64 + b"]" * 64)
    assert ok


def mutate(rnd, doc: bytes):
    pos = rnd.randrange(len(doc) + 1)
    byte = rnd.choice(b"\x00\t\n\r \"#'+-.0129=[\\]_eux\x7f\xc3\xa9") if rnd.random() < 0.8 else rnd.randrange(256)
    op = rnd.choice(["insert", "delete", "replace"])
    if op == "insert" or not doc:
        return doc[:pos] + bytes([byte]) + doc[pos:]
    pos = min(pos, len(doc) - 1)
    if op == "delete":
        return doc[:pos] + doc[pos + 1:]
    return doc[:pos] + bytes([byte]) + doc[pos + 1:]


def test_toml_mutations_never_misread():
    rnd = random.Random(77)
    accepted = 0
    for _ in range(COUNT):
        doc = mutate(rnd, TomlGen(rnd).document())
        ok, got = ours("toml", doc)
        if ok:
            accepted += 1
            expected = python_toml(doc)
            assert expected[0], (doc, expected)
            assert same(got, expected[1]), (doc, got, expected[1])
    assert 0 < accepted < COUNT


# --- JSON generation -------------------------------------------------------------------------------------------------

class JsonGen:
    def __init__(self, rnd: random.Random):
        self.r = rnd

    def ws(self):
        return "".join(self.r.choice(" \t\n\r") for _ in range(self.r.choice([0, 0, 0, 1, 2])))

    def string(self):
        parts = []
        for _ in range(self.r.randint(0, 12)):
            c = self.r.random()
            if c < 0.15:
                parts.append(self.r.choice(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]))
            elif c < 0.25:
                code = self.r.choice([self.r.randint(0, 0xD7FF), self.r.randint(0xE000, 0xFFFF), self.r.randint(0x10000, 0x10FFFF)])
                if code > 0xFFFF:
                    v = code - 0x10000
                    hi, lo = 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)
                    parts.append(f"\\u{hi:04x}\\u{lo:04X}")
                else:
                    parts.append(f"\\u{code:04x}" if self.r.random() < 0.5 else f"\\u{code:04X}")
            else:
                parts.append(self.r.choice(TEXT[:-1] + ["\x7f", "'"]))
        return '"' + "".join(parts) + '"'

    def number(self):
        sign = "-" if self.r.random() < 0.3 else ""
        whole = "0" if self.r.random() < 0.3 else str(self.r.randint(1, 10 ** self.r.randint(1, 20)))
        frac = "." + "".join(self.r.choice("0123456789") for _ in range(self.r.randint(1, 8))) if self.r.random() < 0.4 else ""
        exp = self.r.choice("eE") + self.r.choice(["", "+", "-"]) + str(self.r.randint(0, 250)) if self.r.random() < 0.25 else ""
        return sign + whole + frac + exp

    def value(self, depth=0):
        kinds = ["num", "str", "lit"] + (["arr", "obj"] * 2 if depth < 6 else [])
        kind = self.r.choice(kinds)
        if kind == "num":
            return self.number()
        if kind == "str":
            return self.string()
        if kind == "lit":
            return self.r.choice(["true", "false", "null"])
        if kind == "arr":
            items = [self.ws() + self.value(depth + 1) + self.ws() for _ in range(self.r.randint(0, 4))]
            return "[" + (",".join(items) if items else self.ws()) + "]"
        members = [self.ws() + self.string() + self.ws() + ":" + self.ws() + self.value(depth + 1) + self.ws()
                   for _ in range(self.r.randint(0, 4))]
        return "{" + (",".join(members) if members else self.ws()) + "}"

    def document(self):
        return (self.ws() + self.value() + self.ws()).encode()


def test_json_generated_documents_agree():
    rnd = random.Random(8259)
    for _ in range(COUNT):
        doc = JsonGen(rnd).document()
        expected = python_json(doc)
        assert expected[0], (doc, expected)
        got = ours("json", doc)
        assert got[0], (doc, got)
        assert same(got[1], expected[1]), (doc, got[1], expected[1])


INVALID_JSON = [
    "+1", "01", "-01", "00", "1.", ".5", "2.e3", "-", "--1", "1e", "1e+", "1.5e", "0x10", "1_000", "- 1", "1.0.0",
    "NaN", "Infinity", "-Infinity", "[01]", "[1.]", '{"a": +1}', "", " ", "\n", "[", "{", "]", "[1,]", '{"a":1,}',
    "[,1]", '{"a" 1}', '{"a":}', "{a:1}", "'a'", "tru", "nul", "True", "1 2", "{} {}", "[]]", '"a""b"', "null x",
    '"\\u+0e9"', '"\\u-0e9"', '"\\u0e9"', '"\\u 0e9"', '"\\x41"', '"\\U0001F600"', '"\\a"', '"unterminated', '"\\',
    "\u000b1", "1\u000c", "\ufeff1", "[1 2]", '{"a":1 "b":2}', '["a",]',
]
INVALID_JSON = [t.encode() for t in INVALID_JSON]
INVALID_JSON += [f'"{chr(c)}"'.encode() for c in range(0x20)] + [b'"\xff"', b'"\xc3\x28"', b'"\xed\xa0\x80"', b"\xff"]
INVALID_JSON += [b"[" * 200_000, b'{"a":' * 200_000]


@pytest.mark.parametrize("doc", INVALID_JSON, ids=[repr(d)[:40] for d in INVALID_JSON])
def test_json_invalid_documents_are_rejected_by_both(doc):
    assert not python_json(doc)[0], doc
    ok, error = ours("json", doc)
    assert not ok, (doc, error)
    assert error.startswith("ERROR offset "), error


# Python accepts these; we refuse: lone surrogates (no Unicode scalar value), numbers beyond a double, nesting beyond 64.
STRICTER_JSON = ['"\\ud800"', '"\\udc00"', '"\\ud800x"', '"\\ud800\\u0041"', '"\\ude00\\ud83d"', "1e400", "-1e400",
                 "[" * 65 + "]" * 65, '{"a":' * 64 + "1" + "}" * 64]


@pytest.mark.parametrize("doc", STRICTER_JSON, ids=[d[:30] for d in STRICTER_JSON])
def test_json_beyond_our_limits_is_refused(doc):
    assert python_json(doc.encode())[0], doc
    ok, error = ours("json", doc.encode())
    assert not ok, (doc, error)


def test_json_mutations_never_misread():
    rnd = random.Random(4627)
    accepted = 0
    for _ in range(COUNT):
        doc = mutate(rnd, JsonGen(rnd).document())
        ok, got = ours("json", doc)
        expected = python_json(doc)
        if ok:
            accepted += 1
            assert expected[0], (doc, expected)
            assert same(got, expected[1]), (doc, got, expected[1])
    assert 0 < accepted < COUNT

"""Key formats live in repositories/keys.py only: no other module builds or parses a key.

Tenant isolation depends on key shapes (every tenant key begins `CLIENT#<client_id>`), so a key
put together or taken apart anywhere else is a second copy of a format, free to drift. This reads
every Python file under layers/, functions/ and local/ (the local stack knows key shapes only
through keys.py too) and flags, outside keys.py:

- a string literal holding a key word beside the separator (`CLIENT#`, `#SKUS`, ...: the words
  are taken from keys.py by calling its builders), a whole fixed key (`INFLIGHT`, ...), or the
  beginning of a data-bucket object key (`uploads/`, ...);
- the separator used to build or parse: `.split("#")` (rsplit, partition, rpartition),
  `"#".join(...)`, `x + "#..."`, `"WORD#" + x`, an f-string or a format string with `#` right
  beside an interpolation and another interpolation or a word on its other side
  (`f"{a}#{b}"`, `f"FOO#{x}"`; not `f"Row #{n}"` nor a colour between two interpolations);
- keys.py's separator or string constants used to build or parse: `SEP` at all, a constant in
  `+`, in `len(...)`, sliced, or interpolated (using `RUN_PREFIX` in `begins_with` is reading).

Docstrings and comments are text, not code: they may show key shapes.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skucast.repositories import keys
from tests.conftest import ROOT

KEYS_MODULE = "skucast.repositories.keys"
KEYS_FILE = ROOT / "layers" / "shared" / "skucast" / "repositories" / "keys.py"
SCANNED = ("layers", "functions", "local")
SEP = keys.SEP
ARG = "\x01"  # stands for every argument of a builder: what is left around it is the format

# (file, source of the expression) -> why it is not a key. Reviewed by hand; keep it short.
NOT_KEYS = {
    ("layers/shared/skucast/services/key_rotation.py", 'f"{secret_id}#{text}"'): (
        "the uuid5 name of a keyring rotation's idempotency token (Secrets Manager), not a table key"
    ),
}


@dataclass(frozen=True)
class Vocabulary:
    words: frozenset[str]  # fixed parts of keys that sit beside a separator: CLIENT, RUN, SKUS, ~
    whole: frozenset[str]  # keys with no separator at all: INFLIGHT, SCHEDULES, ...
    areas: frozenset[str]  # the first part of object keys: uploads/, runs/, exports/
    tails: frozenset[str]  # fixed later parts of object keys: /skus.json, ...
    constants: frozenset[str]  # keys.py's module-level strings (SEP, RUN_PREFIX, ...)


def _sample_args(fn: object) -> list[object]:
    params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [3 if p.annotation in (int, "int") else ARG for p in params if p.kind in positional]


def vocabulary() -> Vocabulary:
    """Everything fixed in keys.py's formats, found by calling each builder with placeholders."""
    constants = {n: v for n, v in vars(keys).items() if n.isupper() and isinstance(v, str)}
    samples = [v for v in constants.values() if v != SEP]
    for name, fn in inspect.getmembers(keys, inspect.isfunction):
        if fn.__module__ != keys.__name__ or name.startswith("_"):
            continue
        try:
            built = fn(*_sample_args(fn))
        except (ValueError, TypeError):
            continue  # a parser: it takes a key, it does not make one
        if isinstance(built, str):
            samples.append(built)
    words, whole, areas, tails = set(), set(), set(), set()
    for sample in samples:
        if SEP in sample:
            words |= {t for t in sample.split(SEP) if t and ARG not in t and not t.isdigit()}
        elif "/" in sample:
            first, *rest = sample.split("/")
            areas.add(first + "/")
            tails |= {"/" + part.split(ARG)[0] for part in rest if part.split(ARG)[0]}
        elif ARG not in sample:
            whole.add(sample)
    return Vocabulary(frozenset(words), frozenset(whole), frozenset(areas), frozenset(tails), frozenset(constants))


VOCABULARY = vocabulary()
_PLACEHOLDER = r"(\{[^{}]*\}|%[sdr])"
_BETWEEN_PLACEHOLDERS = re.compile(_PLACEHOLDER + re.escape(SEP) + _PLACEHOLDER)
_WORD_THEN_PLACEHOLDER = re.compile(r"\w" + re.escape(SEP) + _PLACEHOLDER)
_WORD_THEN_SEP_AT_END = re.compile(r"\w" + re.escape(SEP) + "$")
_SPLITTERS = {"split", "rsplit", "partition", "rpartition"}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _text_problem(text: str) -> str | None:
    """Why a string literal (or a literal part of an f-string) looks like a key, if it does."""
    v = VOCABULARY
    for word in sorted(v.words):
        if word + SEP in text or SEP + word in text:
            return f"key word {word!r} beside {SEP!r}"
    if text in v.whole:
        return "a whole key"
    if any(text.startswith(area) for area in v.areas) or any(tail in text for tail in v.tails):
        return "an object key's shape"
    if _BETWEEN_PLACEHOLDERS.search(text) or _WORD_THEN_PLACEHOLDER.search(text):
        return f"a format string with {SEP!r} beside a placeholder"
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self, tree: ast.AST) -> None:
        self.docstrings = _docstrings(tree)
        self.found: list[tuple[ast.AST, str]] = []
        self.key_names: set[str] = set()  # local names bound to keys.py's string constants
        self.key_modules: set[str] = set()  # local names bound to the keys module

    def flag(self, node: ast.AST, why: str) -> None:
        self.found.append((node, why))

    def is_key_constant(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.key_names
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in self.key_modules
            and node.attr in VOCABULARY.constants
        )

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module == KEYS_MODULE and alias.name in VOCABULARY.constants:
                if alias.name == "SEP":
                    self.flag(node, "imports the key separator")
                self.key_names.add(alias.asname or alias.name)
            if node.module == "skucast.repositories" and alias.name == "keys":
                self.key_modules.add(alias.asname or alias.name)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == KEYS_MODULE and alias.asname:
                self.key_modules.add(alias.asname)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.is_key_constant(node) and node.attr == "SEP":
            self.flag(node, "uses the key separator")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and id(node) not in self.docstrings:
            why = _text_problem(node.value)
            if why:
                self.flag(node, why)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _SPLITTERS and node.args:
            sep = node.args[0]
            if (isinstance(sep, ast.Constant) and isinstance(sep.value, str) and SEP in sep.value) or (
                self.is_key_constant(sep)
            ):
                self.flag(node, f".{func.attr}() on the key separator")
        if isinstance(func, ast.Attribute) and func.attr == "join":
            joiner = func.value
            if (isinstance(joiner, ast.Constant) and isinstance(joiner.value, str) and SEP in joiner.value) or (
                self.is_key_constant(joiner)
            ):
                self.flag(node, "joins with the key separator")
        if isinstance(func, ast.Name) and func.id == "len" and node.args and self.is_key_constant(node.args[0]):
            self.flag(node, "measures a key prefix (to cut it off a key)")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Add):
            left, right = node.left, node.right
            if self.is_key_constant(left) or self.is_key_constant(right):
                self.flag(node, "concatenates a key constant")
            elif _str(right) is not None and _str(left) is None and str(_str(right)).startswith(SEP):
                self.flag(node, f"appends {SEP!r}-text to a value")
            elif _str(left) is not None and _str(right) is None and _WORD_THEN_SEP_AT_END.search(str(_str(left))):
                self.flag(node, f"prefixes a value with a word and {SEP!r}")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.slice, ast.Slice) and self.is_key_constant(node.value):
            self.flag(node, "slices a key constant")
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        parts = node.values
        for i, part in enumerate(parts):
            if isinstance(part, ast.FormattedValue) and self.is_key_constant(part.value):
                self.flag(node, "interpolates a key constant")
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str) and SEP in part.value):
                continue
            before = i > 0 and isinstance(parts[i - 1], ast.FormattedValue)
            after = i + 1 < len(parts) and isinstance(parts[i + 1], ast.FormattedValue)
            if before and after and (part.value.startswith(SEP) or part.value.endswith(SEP)):
                self.flag(node, f"an f-string with {SEP!r} between interpolations")
            elif after and _WORD_THEN_SEP_AT_END.search(part.value):
                self.flag(node, f"an f-string with a word and {SEP!r} before an interpolation")
        self.generic_visit(node)


def _str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def check_source(source: str, path: str = "<snippet>") -> list[str]:
    """Findings in one module's source, as 'path:line: why: source'."""
    tree = ast.parse(source)
    checker = _Checker(tree)
    checker.visit(tree)
    out = []
    for node, why in checker.found:
        segment = ast.get_source_segment(source, node) or ""
        if (path, segment) in NOT_KEYS:
            continue
        out.append(f"{path}:{getattr(node, 'lineno', 0)}: {why}: {segment}")
    return sorted(set(out))


def scanned_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path != KEYS_FILE and ".venv" not in path.parts:
                yield path


def test_given_every_module_outside_keys_py_then_none_builds_or_parses_a_key() -> None:
    files = list(scanned_files())
    assert len(files) > 50  # the scan sees the code base, not an empty directory
    findings = [f for p in files for f in check_source(p.read_text(encoding="utf-8"), p.relative_to(ROOT).as_posix())]
    assert not findings, "Key formats belong in repositories/keys.py:\n" + "\n".join(findings)


def test_given_keys_py_then_the_vocabulary_is_read_from_its_builders() -> None:
    v = VOCABULARY
    assert {"CLIENT", "RUN", "SKU", "PAGE", "UPLOAD", "BATCH", "RESULTS", "SERIES", "USER", "EMAIL"} <= v.words
    assert {"INFLIGHT", "SCHEDULE", "INGEST_LOCK", "ACTIVE_RUNS"} <= v.whole
    assert {"uploads/", "runs/", "exports/"} <= v.areas
    assert {"SEP", "RUN_PREFIX", "SKU_PREFIX"} <= v.constants


@pytest.mark.parametrize(
    "source",
    [
        'client_id = str(item["pk"]).split("#", 1)[1]',
        'run_id = sk.partition("#")[2]',
        'sk = f"RUN#{run_id}"',
        'gsi1sk = f"{deadline}#{client_id}#{run_id}"',
        'pk = f"NEWTHING#{value}"',
        'bound = moment + "#~"',
        'pk = "NEWTHING#" + value',
        'pk = "CLIENT#" + client_id',
        'pk = "#".join([a, b])',
        'pk = "{}#{}".format(a, b)',
        'pk = "%s#%s" % (a, b)',
        'sk = "INFLIGHT"',
        'key = f"exports/{client_id}/{run_id}/export.csv"',
        'key = f"runs/{client_id}/{run_id}/skus.json"',
        "from skucast.repositories.keys import SKU_PREFIX\nsku = sk[len(SKU_PREFIX) :]",
        "from skucast.repositories.keys import SKU_PREFIX\nsk = SKU_PREFIX + sku",
        'from skucast.repositories.keys import RUN_PREFIX\nsk = f"{RUN_PREFIX}{run_id}"',
        "from skucast.repositories.keys import SEP\npk = SEP.join([a, b])",
        "from skucast.repositories import keys\nend = keys.CATALOG_PAGE_PREFIX[:-1]",
        "from skucast.repositories import keys as k\nparts = pk.split(k.SEP)",
    ],
)
def test_given_a_key_built_or_parsed_outside_keys_py_then_it_is_flagged(source: str) -> None:
    assert check_source(source), source


@pytest.mark.parametrize(
    "source",
    [
        '"""Items (keys.py): CLIENT#<c> / RUN#<r>, and CLIENT#<c>#RUN#<r>#RESULTS#<shard> / SKU#<sku>."""',
        'def f() -> None:\n    """The pk is CLIENT#<client_id>#SERIES#<n>; gsi1sk "<time>#<tenant>"."""',
        "# the sk is RUN#<run_id>: see keys.py\nx = 1",
        'message = f"Row #{n} is not valid"',
        'message = "SKU #3 has no rows"',
        'message = "Row #" + str(n)',
        'ref = "#/components/schemas/Problem"',
        'colour = "#2b8a3e"',
        'heading = "## Summary"',
        'link = f"{base}#section"',
        """svg = f'<rect x="{x}" fill="#1971c2" width="{w}"/>'""",
        'parts = line.split(",")',
        'is_comment = line.startswith("#")',
        'label = f"{a}-{b}/{c}"',
        'route = "/uploads/<upload_id>"',
        'path = f"/api/v1/forecast/runs/{run_id}/export"',
        'status = "RUNNING"',
        'from skucast.repositories.keys import RUN_PREFIX\ncondition = Key("sk").begins_with(RUN_PREFIX)',
        'ExpressionAttributeNames = {"#s": "status"}',
    ],
)
def test_given_legitimate_text_then_nothing_is_flagged(source: str) -> None:
    assert check_source(source) == []


def test_given_keys_built_by_keys_py_then_its_parsers_read_the_ids_back() -> None:
    client, run, sku = "cli_0123", "run_0123456789abcdef0123", "SKU #1/日本茶"
    assert keys.client_id_of(keys.tenant_pk(client)) == client
    assert keys.client_id_of(keys.results_pk(client, run, 3)) == client
    assert keys.run_id_of(keys.run_sk(run)) == run
    assert keys.sku_of(keys.sku_sk(sku)) == sku
    assert keys.upload_id_of(keys.upload_sk("upl_1")) == "upl_1"
    assert keys.batch_id_of(keys.batch_sk("00007")) == "00007"
    assert keys.user_id_of(keys.user_sk("usr_1")) == "usr_1"
    assert keys.api_key_id_of(keys.api_key_sk("key_1")) == "key_1"
    assert keys.catalog_page_first_sku(keys.catalog_page_sk(sku)) == sku
    assert keys.catalog_page_sk("\U0010ffff" * 3) < keys.CATALOG_PAGES_END  # after every page key
    for parse, key in ((keys.client_id_of, "EMAIL#abc"), (keys.run_id_of, keys.sku_sk(run)), (keys.sku_of, "")):
        with pytest.raises(ValueError):
            parse(key)

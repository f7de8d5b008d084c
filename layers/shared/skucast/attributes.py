"""Item attributes, pure: names, validation of attribute rows (files and JSON records), the
order-independent, versioned merge of one SKU's attributes, and hierarchy declarations' checks.

No AWS, no env (services/attributes.py orchestrates, repositories/attributes.py stores).

Decisions:
- An attributes file is CSV (UTF-8, optional BOM, optionally gzip; delimiter `,` `;` TAB or `|`
  found on the header line) with `sku` (or `unique_id`) and one column per attribute. Column names
  are attribute names: `[a-z][a-z0-9_]{0,39}`, not `sku`, `unique_id` or `total` (a hierarchy's
  top node); any other header rejects the file naming it (`invalid_attribute_name`). Attributes
  are not declared: a name is known while at least one SKU has it.
- Values are strings stored exactly as sent (unicode, inner and outer spaces, quotes: no text
  transform), at most MAX_VALUE_LENGTH characters, without control or bidi-override characters.
- An empty (or all-blank) cell means "no value sent": that attribute of that SKU is left as it is.
  In JSON records `null` removes the attribute from the SKU (files cannot remove: a blank column of
  a wide export would otherwise wipe values).
- A SKU twice in one upload: every row of it is rejected (`duplicate_sku`), like demand's
  `aggregate: reject`. More than `max_rejected_share` of rows rejected: REJECTED, nothing stored.
- Merge: each attribute of a SKU remembers the upload that wrote it (a removal too); an upload
  writes an attribute unless a later-created upload already did. Re-sending a file changes nothing
  and the store equals applying uploads in creation order, whatever order they land in.
- Versions: every write round that changes a tenant's attributes takes the tenant's next attribute
  version (a counter, repositories/attributes.py); each SKU keeps, per version that changed it,
  what changed. `as_of(version)` is the SKU's attributes as they were at that version, so a run
  that records the version it read is never altered by a later change. A SKU keeps its newest
  MAX_VERSIONS changes (and MAX_HISTORY_BYTES of them); older ones are folded into a base and
  reading before it is `VersionGone`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from skucast.drivers import DELIMITERS, SKU_ALIASES, check_sku
from skucast.ingestion.model import IngestStatus, RowError, summarise

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
# `sku`/`unique_id` name the SKU column; `total` is the top node of every hierarchy.
RESERVED_NAMES = frozenset({"sku", "unique_id", "total"})
MAX_ATTRIBUTES = 50  # distinct attribute names a tenant's SKUs may hold
MAX_VALUE_LENGTH = 200
MAX_ROWS = 500_000
MAX_VERSIONS = 100  # changes one SKU keeps; older ones fold into its base
MAX_HISTORY_BYTES = 200_000  # ... and at most this much of them (UTF-8): the item stays under 400 KB
MAX_HIERARCHIES = 20
MAX_LEVELS = 5  # above the SKU; the issue plans for three
# Control and bidi-override characters, and lone surrogates (JSON can carry them; UTF-8 cannot).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

Attributes = dict[str, str]
# sku -> name -> value (None: remove, JSON only)
IncomingAttributes = dict[str, dict[str, str | None]]


def name_problem(name: str, what: str = "attribute") -> str | None:
    """Why `name` cannot name an attribute (or a hierarchy), or None."""
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        return f"{what} name {name!r} must match {NAME_PATTERN}: a lower-case letter, then up to 39 of a-z, 0-9, _"
    if name in RESERVED_NAMES:
        return f"{what} name {name!r} is reserved"
    return None


@dataclass(frozen=True)
class AttributeLimits:
    max_raw_bytes: int = 64 * 1024 * 1024
    max_decompressed_bytes: int = 128 * 1024 * 1024
    max_rows: int = MAX_ROWS
    max_skus: int = 500_000
    max_rejected_share: float = 0.10
    max_errors: int = 100


@dataclass
class AttributeIngestResult:
    status: IngestStatus
    rows_total: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    values: IncomingAttributes = field(default_factory=dict)
    all_errors: list[RowError] = field(default_factory=list)

    @property
    def skus_touched(self) -> int:
        return sum(1 for v in self.values.values() if v)

    @property
    def names(self) -> set[str]:
        return {n for v in self.values.values() for n, x in v.items() if x is not None}

    def report(self) -> dict[str, object]:
        """The upload report of the HTTP contract (the same fields as a demand upload's)."""
        return {
            "status": self.status.value,
            "rows_total": self.rows_total,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "skus_touched": self.skus_touched,
            "errors": [e.as_dict() for e in self.errors],
            "error_summary": [c.as_dict() for c in summarise(self.all_errors or self.errors)],
            "warnings": [],
        }


def rejected(code: str, message: str, row: int | None = None, column: str | None = None) -> AttributeIngestResult:
    """A file-level refusal: nothing stored."""
    return AttributeIngestResult(IngestStatus.REJECTED, errors=[RowError(row, column, code, message)])


def check_value(value: Any, json_door: bool) -> tuple[str | None, str | None, bool]:
    """(value, error code, sent): `sent` False for "no value sent" (an empty cell); a JSON null
    is sent with value None (remove)."""
    if value is None:
        return None, None, json_door
    if not isinstance(value, str):
        return None, "value_not_string", True
    if not value.strip():
        return None, None, False
    if len(value) > MAX_VALUE_LENGTH:
        return None, "value_too_long", True
    if _CONTROL.search(value):
        return None, "value_control_character", True
    return value, None, True


_MESSAGES = {
    "missing_value": "the SKU is empty",
    "sku_too_long": "the SKU is too long",
    "sku_control_character": "the SKU holds a control or bidi-override character",
    "sku_formula": "the SKU begins with = + - or @ (a spreadsheet formula)",
    "value_not_string": "{value} is not a string (use null to remove the attribute)",
    "value_too_long": f"the value is longer than {MAX_VALUE_LENGTH} characters",
    "value_control_character": "the value holds a control or bidi-override character",
}


def _error(row: int, column: str, code: str, value: Any) -> RowError:
    shown = repr(value[:40]) if isinstance(value, str) else repr(value)
    return RowError(row, column, code, f"{column}: {_MESSAGES[code].format(value=shown)}")


class _Collector:
    def __init__(self, limits: AttributeLimits, json_door: bool) -> None:
        self.limits, self.json_door = limits, json_door
        self.rows_total = 0
        self.errors: list[RowError] = []
        self.bad_rows: set[int] = set()
        self.rows_of: dict[str, list[int]] = {}
        self.cells: dict[int, tuple[str, dict[str, str | None]]] = {}

    def add(self, row: int, sku_cell: Any, cells: Mapping[str, Any]) -> None:
        self.rows_total += 1
        sku, sku_code = check_sku(sku_cell)
        if sku is not None and _CONTROL.search(sku):
            sku, sku_code = None, "sku_control_character"
        row_errors = [_error(row, "sku", sku_code, sku_cell)] if sku_code else []
        accepted: dict[str, str | None] = {}
        for name, cell in cells.items():
            value, code, sent = check_value(cell, self.json_door)
            if code:
                row_errors.append(_error(row, name, code, cell))
            elif sent:
                accepted[name] = value
        if row_errors:
            self.errors.extend(row_errors)
            self.bad_rows.add(row)
            return
        assert sku is not None
        self.rows_of.setdefault(sku, []).append(row)
        self.cells[row] = (sku, accepted)

    def finish(self, known: set[str]) -> AttributeIngestResult:
        for sku, rows in self.rows_of.items():
            if len(rows) > 1:
                for row in rows:
                    self.errors.append(
                        RowError(row, "sku", "duplicate_sku", f"SKU {sku!r} has {len(rows)} rows in this upload")
                    )
                    self.bad_rows.add(row)
                    del self.cells[row]
        rejected_rows = len(self.bad_rows)
        self.errors.sort(key=lambda e: (e.row or 0, e.column or ""))
        kept = _select(self.errors, self.limits.max_errors)
        if self.rows_total and rejected_rows > self.limits.max_rejected_share * self.rows_total:
            head = RowError(
                None,
                None,
                "too_many_rejected_rows",
                f"{rejected_rows} of {self.rows_total} rows were rejected "
                f"(more than {self.limits.max_rejected_share:.0%}): nothing was stored",
            )
            return AttributeIngestResult(
                IngestStatus.REJECTED,
                self.rows_total,
                0,
                rejected_rows,
                [head, *kept][: self.limits.max_errors],
                all_errors=[head, *self.errors],
            )
        values: IncomingAttributes = {sku: accepted for sku, accepted in self.cells.values()}
        if len(values) > self.limits.max_skus:
            return rejected(
                "too_many_skus", f"{len(values)} SKUs in one upload; at most {self.limits.max_skus}: split the file"
            )
        new_names = {n for v in values.values() for n, x in v.items() if x is not None} - known
        if len(known | new_names) > MAX_ATTRIBUTES:
            return rejected(
                "too_many_attributes",
                f"the SKUs would hold {len(known | new_names)} attribute names, at most {MAX_ATTRIBUTES}: "
                f"new here: {', '.join(sorted(new_names)[:10])}",
            )
        status = IngestStatus.PARTIAL if rejected_rows else IngestStatus.SUCCEEDED
        return AttributeIngestResult(
            status, self.rows_total, self.rows_total - rejected_rows, rejected_rows, kept, values, list(self.errors)
        )


def _select(errors: list[RowError], limit: int) -> list[RowError]:
    """The first `limit` errors in row order, always with the first of every code."""
    firsts: dict[str, RowError] = {}
    for e in errors:
        firsts.setdefault(e.code, e)
    chosen = list(firsts.values())
    for e in errors:
        if len(chosen) >= limit:
            break
        if e not in chosen:
            chosen.append(e)
    return sorted(chosen[:limit], key=lambda e: (e.row or 0, e.column or ""))


# ---------------------------------------------------------------- the records door
def ingest_attribute_records(
    records: Sequence[Any], known: Iterable[str] = (), limits: AttributeLimits = AttributeLimits()
) -> AttributeIngestResult:
    """POST /attributes: {sku, attributes: {<name>: string|null}}; row = position (1-based). An
    invalid attribute name rejects the request, naming it."""
    names = sorted(
        {
            str(n)
            for r in records
            if isinstance(r, dict) and isinstance(r.get("attributes"), dict)
            for n in r["attributes"]
        }
    )
    for name in names:
        problem = name_problem(name)
        if problem:
            return rejected("invalid_attribute_name", f"{problem}: nothing was stored", column=name)
    collector = _Collector(limits, json_door=True)
    for row, record in enumerate(records, start=1):
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("attributes"), dict)
            or set(record)
            - {
                "sku",
                "attributes",
            }
        ):
            collector.rows_total += 1
            collector.errors.append(
                RowError(row, None, "invalid_record", "a record is an object {sku, attributes: {<name>: string}}")
            )
            collector.bad_rows.add(row)
            continue
        collector.add(row, record.get("sku"), record["attributes"])
    return collector.finish(set(known))


# ---------------------------------------------------------------- the file door
def _text_of(stream: IO[bytes], limits: AttributeLimits) -> str | AttributeIngestResult:
    raw = stream.read(limits.max_raw_bytes + 1)
    if len(raw) > limits.max_raw_bytes:
        return rejected("file_too_large", f"the file is larger than {limits.max_raw_bytes} bytes")
    if raw.startswith(b"\x1f\x8b"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, limits.max_decompressed_bytes + 1)
        except zlib.error:
            return rejected("corrupt_compression", "the gzip stream is corrupt")
        if len(raw) > limits.max_decompressed_bytes or inflater.unconsumed_tail:
            return rejected("decompressed_too_large", "the file inflates past its limit")
    if raw.startswith(b"PAR1"):
        return rejected("unsupported_format", "attributes are read from CSV files only (not Parquet) for now")
    if not raw.strip():
        return rejected("empty_file", "the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return rejected("not_utf8", "the file is not UTF-8 text")


def _layout(text: str) -> tuple[str, int, list[tuple[int, str]], int] | AttributeIngestResult:
    """(delimiter, where the SKU is, the attribute columns, width), or why the header rejects the file."""
    first = text.split("\n", 1)[0].rstrip("\r")
    for delimiter in DELIMITERS:
        names = [n.strip() for n in next(csv.reader([first], delimiter=delimiter))]
        if any(n.lower() in SKU_ALIASES for n in names) and len(names) > 1:
            break
    else:
        return rejected("missing_columns", f"the header {first[:200]!r} must name `sku` and attribute columns", row=1)
    lowered = [n.lower() for n in names]
    if len(set(lowered)) != len(lowered):
        twice = sorted({c for c in lowered if lowered.count(c) > 1})
        return rejected("duplicate_columns", f"columns named more than once: {', '.join(twice)}", row=1)
    sku_at = next(i for i, c in enumerate(lowered) if c in SKU_ALIASES)
    others = [(i, c) for i, c in enumerate(names) if i != sku_at]
    for _, column in others:
        problem = name_problem(column)
        if problem:
            return rejected(
                "invalid_attribute_name", f"column {column!r}: {problem}; nothing was stored", row=1, column=column
            )
    return delimiter, sku_at, others, len(names)


def ingest_attribute_file(
    stream: IO[bytes], known: Iterable[str] = (), limits: AttributeLimits = AttributeLimits()
) -> AttributeIngestResult:
    """An attributes CSV: validated whole before anything is stored (a rejected file stores nothing)."""
    text = _text_of(stream, limits)
    if isinstance(text, AttributeIngestResult):
        return text
    layout = _layout(text)
    if isinstance(layout, AttributeIngestResult):
        return layout
    delimiter, sku_at, others, width = layout
    collector = _Collector(limits, json_door=False)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    try:
        for cells in reader:
            row = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # a blank line is not a row
            if collector.rows_total >= limits.max_rows:
                return rejected("too_many_rows", f"more than {limits.max_rows} rows: split the file")
            if len(cells) != width:
                collector.rows_total += 1
                collector.errors.append(
                    RowError(row, None, "wrong_field_count", f"{len(cells)} fields where the header has {width}")
                )
                collector.bad_rows.add(row)
                continue
            collector.add(row, cells[sku_at], {c: cells[i] for i, c in others})
    except csv.Error as exc:
        return rejected("unreadable_file", f"the CSV cannot be read: {exc}")
    return collector.finish(set(known))


# ---------------------------------------------------------------- one SKU's versioned attributes
class VersionGone(Exception):
    """The version asked for is older than the history a SKU keeps."""


@dataclass(frozen=True)
class Change:
    version: int
    at: str
    upload_id: str
    changes: dict[str, str | None]  # name -> new value (None: removed)


@dataclass(frozen=True)
class StoredAttributes:
    """One SKU's attributes: `state` name -> (value or None when removed, the upload that wrote
    it); `base` the attributes as of `base_version` (before `history`, newest last)."""

    state: dict[str, tuple[str | None, str]]
    history: tuple[Change, ...] = ()
    base: Mapping[str, str] = field(default_factory=dict)
    base_version: int = 0

    @property
    def current(self) -> Attributes:
        return {n: v for n, (v, _) in sorted(self.state.items()) if v is not None}

    @property
    def version(self) -> int:
        """The tenant version of this SKU's latest change (0: never changed)."""
        return self.history[-1].version if self.history else self.base_version

    def as_of(self, version: int) -> Attributes:
        """The attributes as they were at tenant version `version` (after its changes)."""
        if version < self.base_version:
            raise VersionGone(version)
        out = dict(self.base)
        for change in self.history:
            if change.version > version:
                break
            for name, value in change.changes.items():
                if value is None:
                    out.pop(name, None)
                else:
                    out[name] = value
        return dict(sorted(out.items()))


def merge_attributes(
    stored: StoredAttributes | None,
    incoming: Mapping[str, str | None],
    upload_id: str,
    version: int,
    at: str,
) -> StoredAttributes | None:
    """The SKU after applying `upload_id`'s attributes at tenant version `version`; None when
    nothing changes (not a value, not a writer). An attribute is written unless a later-created
    upload wrote it; a value that differs from the visible one makes a Change at `version`."""
    stored = stored or StoredAttributes({})
    state = dict(stored.state)
    changes: dict[str, str | None] = {}
    for name, value in sorted(incoming.items()):
        old = state.get(name)
        if old is not None and old[1] > upload_id:
            continue  # a later upload wrote it: it stays
        if old == (value, upload_id):
            continue
        if (old[0] if old else None) != value:
            changes[name] = value
        state[name] = (value, upload_id)
    if state == stored.state:
        return None
    history, base, base_version = stored.history, dict(stored.base), stored.base_version
    if changes:
        history = (*history, Change(version, at, upload_id, changes))
    while len(history) > MAX_VERSIONS or (len(history) > 1 and _history_bytes(history) > MAX_HISTORY_BYTES):
        oldest, history = history[0], history[1:]
        for name, value in oldest.changes.items():
            if value is None:
                base.pop(name, None)
            else:
                base[name] = value
        base_version = oldest.version
    return StoredAttributes(state, history, base, base_version)


def _history_bytes(history: Iterable[Change]) -> int:
    return sum(len(n.encode()) + len((v or "").encode()) + 8 for change in history for n, v in change.changes.items())


def encode_attributes(stored: StoredAttributes) -> bytes:
    """Deterministic compact JSON, compressed: the same attributes always encode to the same bytes."""
    body = {
        "s": {n: list(stored.state[n]) for n in sorted(stored.state)},
        "h": [[c.version, c.at, c.upload_id, dict(sorted(c.changes.items()))] for c in stored.history],
        "b": dict(sorted(stored.base.items())),
        "bv": stored.base_version,
    }
    return zlib.compress(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), 6)


def decode_attributes(blob: bytes) -> StoredAttributes:
    body = json.loads(zlib.decompress(blob))
    return StoredAttributes(
        {n: (v, str(w)) for n, (v, w) in body["s"].items()},
        tuple(Change(int(v), str(a), str(u), dict(c)) for v, a, u, c in body["h"]),
        dict(body["b"]),
        int(body["bv"]),
    )


def matches(attributes: Mapping[str, str], filters: Mapping[str, str]) -> bool:
    """Every filter holds (exact, case-sensitive: values are compared as stored)."""
    return all(attributes.get(n) == v for n, v in filters.items())


# ---------------------------------------------------------------- hierarchies
def level_problems(levels: Sequence[Any], known: Iterable[str]) -> list[tuple[str, str, str]]:
    """(field, code, message) for each problem of a hierarchy's levels, top to bottom; [] when fine.
    One level is allowed (its nodes: total, the attribute's values, the SKUs)."""
    if not levels:
        return [
            ("levels", "empty_levels", "a hierarchy needs at least one attribute level (the SKU is always the bottom)")
        ]
    if len(levels) > MAX_LEVELS:
        return [("levels", "too_many_levels", f"at most {MAX_LEVELS} levels above the SKU")]
    known_names = set(known)
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for i, level in enumerate(levels):
        where = f"levels[{i}]"
        problem = name_problem(level) if isinstance(level, str) else f"level {level!r} is not a string"
        if problem:
            problems.append((where, "invalid_level", problem))
        elif level in seen:
            problems.append((where, "duplicate_level", f"level {level!r} is named more than once"))
        elif level not in known_names:
            problems.append(
                (where, "unknown_attribute", f"no SKU has an attribute {level!r} (upload attributes first)")
            )
        if isinstance(level, str):
            seen.add(level)
    return problems

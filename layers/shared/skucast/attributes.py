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

import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from skucast.drivers import SKU_ALIASES, check_sku
from skucast.ingestion.csv_door import (
    FileIngestResult,
    FileLimits,
    RowCollector,
    collect_rows,
    read_text,
    refusal,
    repeated_columns,
    split_header,
)
from skucast.ingestion.model import RowError

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
# `sku`/`unique_id` name the SKU column; `total` is the top node of every hierarchy.
RESERVED_NAMES = frozenset({"sku", "unique_id", "total"})
MAX_ATTRIBUTES = 50  # distinct attribute names a tenant's SKUs may hold
MAX_VALUE_LENGTH = 200
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
class AttributeLimits(FileLimits):
    """One file's limits: the same as a drivers file's (ingestion/csv_door.py)."""


@dataclass
class AttributeIngestResult(FileIngestResult):
    values: IncomingAttributes = field(default_factory=dict)

    @property
    def skus_touched(self) -> int:
        return sum(1 for v in self.values.values() if v)

    @property
    def names(self) -> set[str]:
        return {n for v in self.values.values() for n, x in v.items() if x is not None}


def rejected(code: str, message: str, row: int | None = None, column: str | None = None) -> AttributeIngestResult:
    """A file-level refusal: nothing stored."""
    return refusal(AttributeIngestResult, code, message, row, column)


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


class _Collector(RowCollector[str, tuple[str, dict[str, str | None]]]):
    """Rows keyed by SKU, each with the attributes it sends."""

    def __init__(self, limits: AttributeLimits, json_door: bool) -> None:
        super().__init__(limits)
        self.json_door = json_door

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
            self.reject(row, row_errors)
            return
        assert sku is not None
        self.keep(row, sku, (sku, accepted))

    def finish(self, known: set[str]) -> AttributeIngestResult:
        self.drop_repeats("sku", "duplicate_sku", lambda sku, n: f"SKU {sku!r} has {n} rows in this upload")
        kept, too_many = self.verdict(AttributeIngestResult)
        if too_many:
            return too_many
        values: IncomingAttributes = {sku: accepted for sku, accepted in self.cells.values()}
        too_many_skus = self.too_many_skus(len(values), AttributeIngestResult)
        if too_many_skus:
            return too_many_skus
        new_names = {n for v in values.values() for n, x in v.items() if x is not None} - known
        if len(known | new_names) > MAX_ATTRIBUTES:
            return rejected(
                "too_many_attributes",
                f"the SKUs would hold {len(known | new_names)} attribute names, at most {MAX_ATTRIBUTES}: "
                f"new here: {', '.join(sorted(new_names)[:10])}",
            )
        return self.counted(AttributeIngestResult, kept, values=values)


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
            collector.unreadable(row, "invalid_record", "a record is an object {sku, attributes: {<name>: string}}")
            continue
        collector.add(row, record.get("sku"), record["attributes"])
    return collector.finish(set(known))


# ---------------------------------------------------------------- the file door
def _has_sku_and_more(lowered: list[str]) -> bool:
    return any(n in SKU_ALIASES for n in lowered) and len(lowered) > 1


def _layout(names: list[str]) -> tuple[int, list[tuple[int, str]]] | AttributeIngestResult:
    """(where the SKU is, the attribute columns), or why the header rejects the file."""
    lowered = [n.lower() for n in names]
    twice = repeated_columns(lowered, AttributeIngestResult)
    if twice:
        return twice
    sku_at = next(i for i, c in enumerate(lowered) if c in SKU_ALIASES)
    others = [(i, c) for i, c in enumerate(names) if i != sku_at]
    for _, column in others:
        problem = name_problem(column)
        if problem:
            return rejected(
                "invalid_attribute_name", f"column {column!r}: {problem}; nothing was stored", row=1, column=column
            )
    return sku_at, others


def ingest_attribute_file(
    stream: IO[bytes], known: Iterable[str] = (), limits: AttributeLimits = AttributeLimits()
) -> AttributeIngestResult:
    """An attributes CSV: validated whole before anything is stored (a rejected file stores nothing)."""
    text = read_text(stream, limits, "attributes", AttributeIngestResult)
    if isinstance(text, AttributeIngestResult):
        return text
    first, delimiter, names = split_header(text, _has_sku_and_more)
    if delimiter is None:
        return rejected("missing_columns", f"the header {first[:200]!r} must name `sku` and attribute columns", row=1)
    layout = _layout(names)
    if isinstance(layout, AttributeIngestResult):
        return layout
    sku_at, others = layout
    collector = _Collector(limits, json_door=False)

    def add(row: int, cells: list[str]) -> None:
        collector.add(row, cells[sku_at], {c: cells[i] for i, c in others})

    refused = collect_rows(text, delimiter, len(names), collector, AttributeIngestResult, add)
    return refused or collector.finish(set(known))


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

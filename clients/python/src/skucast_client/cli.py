"""`skucast`: the command line over the same `Client`.

Exit codes (stable, for scripts):
    0  success
    1  the API answered an error (the problem document goes to stderr, or stdout with --json)
    2  usage: bad arguments, not logged in, a file that cannot be read
    3  the job finished but not cleanly: a run FAILED, PARTIAL or CANCELLED (`run --wait`,
       `status --wait`), or an upload REJECTED or PARTIAL
    4  the API could not be reached, or `--wait` timed out
    130 interrupted (Ctrl-C)
    141 the output was closed early (`skucast results RUN | head`): no traceback, as `head`'s
        writers killed by SIGPIPE end

Credentials: `skucast login` stores the API URL and the token pair (never the password), or an
API key, in `$SKUCAST_CONFIG` or `${XDG_CONFIG_HOME:-~/.config}/skucast/config.json`, mode 0600.
Rotated tokens are written back after every refresh. `SKUCAST_API_URL` and `SKUCAST_API_KEY`
override the file.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skucast_client import errors
from skucast_client.client import Client, __version__

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_UNCLEAN, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a tool killed by a closed pipe (`| head`) exits with
DEFAULT_API = "http://127.0.0.1:3000"
REASONS = ("promotion", "event", "supply", "customer_info", "correction", "other")


class UsageError(Exception):
    """Exit 2 with this message."""


# ---------------------------------------------------------------- config
def config_path() -> Path:
    if os.environ.get("SKUCAST_CONFIG"):
        return Path(os.environ["SKUCAST_CONFIG"]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "skucast" / "config.json"


def load_config(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def save_config(path: Path, config: dict[str, Any]) -> None:
    """Write atomically with mode 0600 (the file holds credentials)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def make_client(args: argparse.Namespace, *, need_auth: bool = True) -> Client:
    path = config_path()
    config = load_config(path)
    api = args.api or os.environ.get("SKUCAST_API_URL") or config.get("api_url") or DEFAULT_API
    api_key = args.api_key or os.environ.get("SKUCAST_API_KEY") or config.get("api_key")
    if need_auth and not api_key and not config.get("refresh_token"):
        raise UsageError("not logged in: run `skucast login` (or set SKUCAST_API_KEY)")

    def store(tokens: dict[str, Any]) -> None:
        current = load_config(path)
        current.update(access_token=tokens["access_token"], refresh_token=tokens.get("refresh_token"))
        save_config(path, current)

    return Client(
        api,
        api_key=api_key,
        access_token=None if api_key else config.get("access_token"),
        refresh_token=None if api_key else config.get("refresh_token"),
        email=config.get("email"),
        on_tokens=store,
    )


# ---------------------------------------------------------------- output
def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    elif text is not None:
        print(text)


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def run_text(run: dict[str, Any]) -> str:
    p, s = run.get("progress") or {}, run.get("summary") or {}
    lines = [
        f"run {run['run_id']}  {run['status']}  ({run.get('trigger')}, created {run.get('created_at')})",
        f"  SKUs: {p.get('skus_done', 0)} done, {p.get('skus_failed', 0)} failed, {p.get('skus_total', 0)} total",
    ]
    if run.get("base_run_id"):
        changes = (run.get("scenario") or {}).get("changes") or []
        lines.append(f"  what-if of {run['base_run_id']}: {len(changes)} change(s)")
    if s.get("by_class"):
        lines.append("  classes: " + ", ".join(f"{k} {v}" for k, v in s["by_class"].items()))
    if s.get("by_method"):
        lines.append("  methods: " + ", ".join(f"{k} {v}" for k, v in s["by_method"].items()))
    m = s.get("metrics") or {}
    if m:
        shown = ("mase", "wape", "mae", "bias", *sorted(k for k in m if k.startswith("coverage_")))
        lines.append("  accuracy: " + ", ".join(f"{k} {m[k]:.3g}" for k in shown if m.get(k) is not None))
    if run.get("error"):
        lines.append(f"  error: {run['error'].get('message', run['error'])}")
    return "\n".join(lines)


def upload_text(report: dict[str, Any]) -> str:
    lines = [
        f"upload {report['upload_id']}  {report['status']}: {report.get('rows_accepted', 0)} rows accepted, "
        f"{report.get('rows_rejected', 0)} rejected, {report.get('skus_touched', 0)} SKUs"
    ]
    for e in (report.get("errors") or [])[:10]:
        lines.append(f"  row {e.get('row')} {e.get('column') or ''}: {e.get('code')} {e.get('message') or ''}")
    return "\n".join(lines)


def _run_exit(run: dict[str, Any]) -> int:
    return EXIT_OK if run["status"] == "SUCCEEDED" else EXIT_UNCLEAN


# ---------------------------------------------------------------- commands
def cmd_login(args: argparse.Namespace) -> int:
    path = config_path()
    config = load_config(path)
    api = args.api or os.environ.get("SKUCAST_API_URL") or config.get("api_url") or DEFAULT_API
    if args.api_key:
        client = Client(api, api_key=args.api_key)
        client.methods()  # proves the key works
        save_config(path, {"api_url": api, "api_key": args.api_key})
        emit(args, {"api_url": api, "config": str(path)}, f"API key stored in {path}")
        return EXIT_OK
    email = args.email or config.get("email") or input("email: ")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = os.environ.get("SKUCAST_PASSWORD") or getpass.getpass("password: ")
    client = Client(api)
    tokens = client.login(email, password)
    save_config(
        path,
        {
            "api_url": api,
            "email": email,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
        },
    )
    me = client.me()
    emit(
        args,
        {**me, "api_url": api, "config": str(path)},
        f"logged in to {api} as {me['email']} ({me['role']}); credentials in {path}",
    )
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    path = config_path()
    config = load_config(path)
    if config.get("refresh_token"):
        with contextlib.suppress(errors.SkucastError):  # the tokens are forgotten either way
            make_client(args).logout()
    config = {k: v for k, v in config.items() if k not in ("access_token", "refresh_token", "api_key")}
    save_config(path, config)
    emit(args, {"logged_out": True}, "logged out")
    return EXIT_OK


def cmd_upload(args: argparse.Namespace) -> int:
    return _send_file(
        args,
        lambda client, path: client.upload_demand(
            path,
            args.aggregate,
            wait=not args.no_wait,
            timeout=args.timeout,
            granularity=args.granularity,
            missing=args.missing,
            delimiter=args.delimiter,
            decimal=args.decimal,
            date_format=args.date_format,
        ),
    )


def _send_file(args: argparse.Namespace, send: Callable[[Client, Path], dict[str, Any]]) -> int:
    """An upload command: `send` uploads the file; its report is shown, and the exit is unclean
    when rows (or the whole file) were rejected."""
    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"no such file: {args.file}")
    client = make_client(args)
    try:
        report = send(client, path)
    except errors.UploadRejectedError as exc:
        emit(args, exc.report, upload_text(exc.report))
        return EXIT_UNCLEAN
    emit(args, report, upload_text(report))
    return EXIT_UNCLEAN if report["status"] == "PARTIAL" else EXIT_OK


def cmd_upload_drivers(args: argparse.Namespace) -> int:
    return _send_file(
        args, lambda client, path: client.upload_drivers(path, wait=not args.no_wait, timeout=args.timeout)
    )


def cmd_drivers(args: argparse.Namespace) -> int:
    items = make_client(args).drivers()
    rows = [
        [
            d["name"],
            d["kind"],
            d["aggregate"],
            d["known_in_advance"],
            d["skus_with_values"],
            d["first_date"],
            d["last_date"],
        ]
        for d in items
    ]
    emit(args, items, table(rows, ["driver", "kind", "aggregate", "known ahead", "SKUs", "first", "last"]))
    return EXIT_OK


def cmd_declare_driver(args: argparse.Namespace) -> int:
    driver = make_client(args).declare_driver(
        args.name,
        args.kind,
        known_in_advance=not args.not_known_in_advance,
        aggregate=args.aggregate,
        description=args.description,
    )
    emit(args, driver, f"driver {driver['name']}: {driver['kind']}, {driver['aggregate']} over W/M")
    return EXIT_OK


def cmd_delete_driver(args: argparse.Namespace) -> int:
    make_client(args).delete_driver(args.name)
    emit(args, {"deleted": args.name}, f"driver {args.name} deleted, with its values")
    return EXIT_OK


def cmd_upload_attributes(args: argparse.Namespace) -> int:
    return _send_file(
        args, lambda client, path: client.upload_attributes(path, wait=not args.no_wait, timeout=args.timeout)
    )


def cmd_attributes(args: argparse.Namespace) -> int:
    found = make_client(args).attributes()
    rows = [[a["name"], a["skus"]] for a in found["items"]]
    emit(args, found, table(rows, ["attribute", "SKUs"]) + f"\nattribute version {found['version']}")
    return EXIT_OK


def cmd_hierarchies(args: argparse.Namespace) -> int:
    items = make_client(args).hierarchies()
    rows = [[h["name"], " > ".join([*h["levels"], "sku"])] for h in items]
    emit(args, items, table(rows, ["hierarchy", "levels (top to bottom)"]))
    return EXIT_OK


def cmd_declare_hierarchy(args: argparse.Namespace) -> int:
    made = make_client(args).declare_hierarchy(args.name, args.levels)
    emit(args, made, f"hierarchy {made['name']}: total > {' > '.join(made['levels'])} > sku")
    return EXIT_OK


def cmd_delete_hierarchy(args: argparse.Namespace) -> int:
    make_client(args).delete_hierarchy(args.name)
    emit(args, {"deleted": args.name}, f"hierarchy {args.name} deleted")
    return EXIT_OK


def _attribute_filter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("an attribute filter is NAME=VALUE")
    return name, value


def _calendar_text(calendar: dict[str, Any]) -> str:
    lines = ["holidays: " + (", ".join(calendar.get("holidays") or []) or "none")]
    for e in calendar.get("events") or []:
        skus = f" (SKUs: {', '.join(e['skus'])})" if e.get("skus") else ""
        lines.append(f"event {e['name']}: {len(e['dates'])} dates, {e['dates'][0]}..{e['dates'][-1]}{skus}")
    return "\n".join(lines)


def cmd_calendar(args: argparse.Namespace) -> int:
    calendar = make_client(args).calendar()
    emit(args, calendar, _calendar_text(calendar))
    return EXIT_OK


def cmd_set_calendar(args: argparse.Namespace) -> int:
    events: list[dict[str, Any]] = []
    if args.events:
        try:
            events = list(json.loads(Path(args.events).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"cannot read events from {args.events}: {exc}") from None
    calendar = make_client(args).set_calendar(args.holiday or [], events)
    emit(args, calendar, _calendar_text(calendar))
    return EXIT_OK


def cmd_skus(args: argparse.Namespace) -> int:
    items = make_client(args).skus(args.demand_class, dict(args.attr or []), args.prefix)
    rows = [
        [
            i["sku"],
            i.get("demand_class"),
            i.get("adi"),
            i.get("cv2"),
            i.get("n_periods"),
            i.get("first_date"),
            i.get("last_date"),
            i.get("total_quantity"),
        ]
        for i in items
    ]
    counts: dict[str, int] = {}
    for i in items:
        counts[str(i.get("demand_class"))] = counts.get(str(i.get("demand_class")), 0) + 1
    text = table(rows, ["sku", "class", "adi", "cv2", "periods", "first", "last", "total"])
    text += f"\n{len(items)} SKUs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    emit(args, items, text)
    return EXIT_OK


def cmd_methods(args: argparse.Namespace) -> int:
    items = make_client(args).methods()
    rows = [[m["name"], ", ".join(m.get("demand_classes", [])), m.get("description", "")] for m in items]
    emit(args, items, table(rows, ["method", "classes", "description"]))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    items = make_client(args).runs(args.status)
    rows = [
        [
            r["run_id"],
            r["status"],
            r.get("trigger"),
            r.get("created_at"),
            "{skus_done}/{skus_total}".format(**{"skus_done": 0, "skus_total": 0, **(r.get("progress") or {})}),
            r.get("name") or "",
        ]
        for r in items
    ]
    emit(args, items, table(rows, ["run", "status", "trigger", "created", "done", "name"]))
    return EXIT_OK


def _levels(raw: str) -> list[int]:
    try:
        return [int(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("levels are integers, e.g. 80,95") from None


def cmd_run(args: argparse.Namespace) -> int:
    client = make_client(args)
    run = client.start_run(
        args.horizon,
        args.frequency,
        args.levels,
        args.method,
        args.sku or None,
        backtest_windows=args.backtest_windows,
        name=args.name,
        as_of=args.as_of,
        history_cleaning=args.history_cleaning,
        drivers=_drivers_choice(args.drivers),
        hierarchy=args.hierarchy,
        reconciliation=args.reconciliation,
    )
    return _started(args, client, run)


def _drivers_choice(raw: str | None) -> str | list[str] | None:
    if raw is None or raw in ("auto", "none"):
        return raw
    return [name.strip() for name in raw.split(",") if name.strip()]


def _started(args: argparse.Namespace, client: Client, run: dict[str, Any]) -> int:
    if not args.wait:
        emit(args, run, run["run_id"])
        return EXIT_OK
    run = client.wait_run(run["run_id"], progress=not args.no_progress and not args.json, timeout=args.timeout)
    emit(args, run, run_text(run))
    return _run_exit(run)


def _json_list(path: str | None, what: str) -> list[dict[str, Any]]:
    if not path:
        return []
    try:
        return list(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot read {what} from {path}: {exc}") from None


def _operation(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name.strip():
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DRIVER=NUMBER, got {text!r}") from None


def cmd_what_if(args: argparse.Namespace) -> int:
    changes = _json_list(args.changes, "changes")
    inline = [("set", v) for v in args.set or []] + [("multiply", v) for v in args.multiply or []]
    inline += [("add", v) for v in args.add or []]
    if inline and not (args.start and args.end):
        raise UsageError("--set/--multiply/--add need --start and --end")
    for operation, (driver, value) in inline:
        change: dict[str, Any] = {"driver": driver, "start": args.start, "end": args.end, operation: value}
        if args.sku:
            change["skus"] = args.sku
        changes.append(change)
    client = make_client(args)
    run = client.what_if(args.base_run_id, changes, _json_list(args.events, "events"), name=args.name)
    return _started(args, client, run)


def _signed(value: Any, digits: str = ".4g") -> str:
    return "" if value is None else f"{value:+{digits}}"


def cmd_compare(args: argparse.Namespace) -> int:
    meta, items = make_client(args).compare_items(args.run_id, args.to)
    totals = meta["totals"]
    rows = [
        [i["sku"], i["run_total"], i["to_total"], _signed(i["delta"]), _signed(i["delta_pct"], ".1f")] for i in items
    ]
    if args.output:
        import csv

        with open(args.output, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sku", "run_total", "to_total", "delta", "delta_pct"])
            writer.writerows([[i[k] for k in ("sku", "run_total", "to_total", "delta", "delta_pct")] for i in items])
        emit(args, {"path": args.output, "rows": len(items)}, f"{len(items)} rows written to {args.output}")
        return EXIT_OK
    shown = rows[: args.top] if args.top else rows
    pct = totals.get("delta_pct")
    text = (
        f"{meta['run_id']} vs {meta['to']}: {totals['run']:.6g} vs {totals['to']:.6g}, delta {_signed(totals['delta'])}"
        + (f" ({pct:+.1f}%)" if pct is not None else "")
        + f" over {len(items)} SKUs\n"
        + table(shown, ["sku", "run", "to", "delta", "delta %"])
    )
    emit(args, {**meta, "items": items}, text)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    client = make_client(args)
    if args.wait:
        run = client.wait_run(args.run_id, progress=not args.json, timeout=args.timeout)
        emit(args, run, run_text(run))
        return _run_exit(run)
    run = client.run(args.run_id)
    emit(args, run, run_text(run))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    run = make_client(args).cancel(args.run_id)
    emit(args, run, run_text(run))
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    client = make_client(args)
    items = [client.result(args.run_id, s) for s in args.sku] if args.sku else client.results(args.run_id)
    levels = sorted(
        {int(k[3:]) for r in items for p in (r.get("forecast") or [])[:1] for k in p if k.startswith("lo_")}
    )
    header = [
        "sku",
        "class",
        "method",
        "date",
        "mean",
        "final",
        *[f"{s}_{lv}" for lv in levels for s in ("lo", "hi")],
        "error",
    ]
    rows = []
    for r in items:
        base = [r["sku"], r.get("demand_class"), r.get("method")]
        err = (r.get("error") or {}).get("code")
        if not r.get("forecast"):
            rows.append([*base, None, None, None, *[None] * (2 * len(levels)), err])
        for p in r.get("forecast") or []:
            rows.append(
                [
                    *base,
                    p["date"],
                    p["mean"],
                    p.get("final", p["mean"]),
                    *[p.get(f"{s}_{lv}") for lv in levels for s in ("lo", "hi")],
                    err,
                ]
            )
    if args.output:
        import csv

        with open(args.output, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        emit(args, {"path": args.output, "rows": len(rows)}, f"{len(rows)} rows written to {args.output}")
        return EXIT_OK
    emit(args, items, table(rows, header))
    return EXIT_OK


def cmd_nodes(args: argparse.Namespace) -> int:
    client = make_client(args)
    if args.node:
        node = client.node(args.run_id, args.node)
        items = [node]
    else:
        items = client.node_items(args.run_id, args.level)
    levels = sorted(
        {int(k[3:]) for n in items for p in (n.get("forecast") or [])[:1] for k in p if k.startswith("lo_")}
    )
    header = ["node_id", "level", "key", "skus", "date", "mean", *[f"{s}_{lv}" for lv in levels for s in ("lo", "hi")]]
    rows = []
    for n in items:
        key = " / ".join("unassigned" if v is None else str(v) for v in n["key"].values()) or "total"
        for p in n.get("forecast") or []:
            bands = [p.get(f"{s}_{lv}") for lv in levels for s in ("lo", "hi")]
            rows.append([n["node_id"], n["level"], key, n["skus"], p["date"], p["mean"], *bands])
    text = table(rows, header)
    if args.node:
        text += f"\nchildren: {', '.join(items[0].get('children') or [])}"
    emit(args, items[0] if args.node else items, text)
    return EXIT_OK


def cmd_adjust(args: argparse.Namespace) -> int:
    operation = {"set": args.set, "add": args.add, "multiply": args.multiply}
    result = make_client(args).adjust(
        args.run_id,
        args.sku,
        args.start,
        args.end or args.start,
        reason=args.reason,
        comment=args.comment,
        sticky=args.sticky,
        expires=args.expires,
        etag=args.etag,
        **{k: v for k, v in operation.items() if v is not None},
    )
    points = result["forecast"]
    rows = [[p["date"], p["mean"], p.get("final"), "*" if p.get("final") != p["mean"] else ""] for p in points]
    text = table(rows, ["date", "mean", "final", "adjusted"])
    text += f"\n{result['sku']}: {result.get('adjustments', 0)} adjustment(s); ETag {result.get('etag')}"
    emit(args, result, text)
    return EXIT_OK


def cmd_adjustments(args: argparse.Namespace) -> int:
    items = make_client(args).adjustment_items(args.run_id, args.sku)
    rows = []
    for a in items:
        operation = next((op for op in ("set", "add", "multiply") if a.get(op) is not None), "")
        rows.append(
            [
                a["at"],
                a["by"],
                f"{operation} {a.get(operation):g}" if operation else "",
                a["start"],
                a["end"],
                a["reason"],
                "sticky" if a.get("sticky") else "",
                a.get("carried_from") or "",
                a.get("comment") or "",
            ]
        )
    header = ["at", "by", "change", "start", "end", "reason", "sticky", "carried_from", "comment"]
    emit(args, items, table(rows, header))
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    items = make_client(args).alerts(args.status)
    rows = [
        [a["alert_id"], a["kind"], a["status"], a.get("created_at"), a.get("sku") or "", a.get("run_id") or ""]
        for a in items
    ]
    emit(args, items, table(rows, ["alert", "kind", "status", "created", "sku", "run"]))
    return EXIT_OK


def cmd_ack(args: argparse.Namespace) -> int:
    alert = make_client(args).acknowledge_alert(args.alert_id)
    emit(
        args,
        alert,
        f"alert {alert['alert_id']} {alert['status']} ({alert.get('acknowledged_by')}, {alert.get('acknowledged_at')})",
    )
    return EXIT_OK


def cmd_alert_settings(args: argparse.Namespace) -> int:
    client = make_client(args)
    given = {
        name: value
        for name in ("wape_threshold", "min_points", "shift_periods")
        if (value := getattr(args, name)) is not None
    }
    # Options change only the settings named; the others keep their current values.
    settings = client.set_alert_settings(**{**client.alert_settings(), **given}) if given else client.alert_settings()
    emit(args, settings, "\n".join(f"{k}: {v}" for k, v in settings.items()))
    return EXIT_OK


METRICS = ("mae", "rmse", "wape", "bias", "mase", "coverage_80", "coverage_95")


def _metric_row(label: list[Any], group: dict[str, Any]) -> list[list[Any]]:
    """One row per scored forecast (the forecast, the naive benchmark, the final forecast)."""
    rows = []
    for name in ("metrics", "naive", "final"):
        values = group.get(name) or {}
        shown = "forecast" if name == "metrics" else name
        rows.append([*label, shown, group.get("points_scored"), *[values.get(m) for m in METRICS]])
    return rows


def cmd_accuracy(args: argparse.Namespace) -> int:
    client = make_client(args)
    if args.run_id:
        answer = client.accuracy(args.run_id)
        if not answer.get("points_scored"):
            emit(args, answer, f"run {args.run_id}: no actuals scored yet")
            return EXIT_OK
        rows = _metric_row(["run", ""], answer)
        for dimension in ("by_class", "by_method"):
            for key, group in sorted((answer.get(dimension) or {}).items()):
                rows += _metric_row([dimension[3:], key], group)
        text = table(rows, ["group", "key", "scored", "points", *METRICS])
        text += f"\nactuals through {answer.get('actuals_through')}, {answer.get('skus_scored')} SKUs scored"
        emit(args, answer, text)
        return EXIT_OK
    items = client.accuracy(start=args.start, end=args.end, by=args.by)
    rows = [r for item in items for r in _metric_row([item["period"], item["key"]], item)]
    emit(args, items, table(rows, ["period", args.by, "scored", "points", *METRICS]))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    path = make_client(args).export(args.run_id, args.output, args.format, level=args.level)
    what = f"{args.format} export" + (f" of level {args.level}" if args.level else "")
    emit(args, {"path": str(path), "format": args.format, "level": args.level}, f"{what} written to {path}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from skucast_client.report import write_report

    out = write_report(make_client(args), args.run_id, args.output, skus=args.sku, worst=args.worst, title=args.title)
    emit(
        args,
        {"path": out["path"], "charted": out["charted"]},
        f"report written to {Path(out['path']).resolve()} ({len(out['charted'])} SKUs charted)",
    )
    return EXIT_OK


# ---------------------------------------------------------------- parser
def _common() -> argparse.ArgumentParser:
    """Global options, accepted before or after the command."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--api", default=argparse.SUPPRESS, help=f"API base URL (env SKUCAST_API_URL; default {DEFAULT_API})"
    )
    p.add_argument("--api-key", default=argparse.SUPPRESS, help="integration API key (env SKUCAST_API_KEY)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="skucast",
        parents=[common],
        description="skucast demand forecasting from the command line.",
        epilog="exit codes: 0 ok, 1 API error, 2 usage, 3 run/upload finished not cleanly, "
        "4 API unreachable or wait timed out",
    )
    parser.add_argument("--version", action="version", version=f"skucast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Any, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    p = add("login", cmd_login, "sign in and store credentials")
    p.add_argument("--email")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (else SKUCAST_PASSWORD, else a prompt)",
    )
    add("logout", cmd_logout, "revoke the stored refresh token and forget it")

    p = add("upload", cmd_upload, "upload a demand file (CSV, CSV.gz or Parquet) and wait for ingestion")
    p.add_argument("file")
    p.add_argument(
        "--aggregate",
        choices=("reject", "sum"),
        default="reject",
        help="duplicate (sku, date) rows: reject them (default) or sum them",
    )
    p.add_argument("--granularity", choices=("D", "W", "M"), help="the rows' grain (default: inferred from the dates)")
    p.add_argument(
        "--missing", choices=("zero", "unknown"), help="what a date without a row means (default: zero demand)"
    )
    p.add_argument("--delimiter", choices=(",", ";", "\t", "|"), help="the CSV delimiter (default: detected)")
    p.add_argument("--decimal", choices=(".", ","), help="the decimal separator (default: detected)")
    p.add_argument(
        "--date-format",
        choices=("YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY", "YYYY/MM/DD"),
        help="the dates' format (default: detected)",
    )
    p.add_argument("--no-wait", action="store_true", help="return once the file is sent")
    p.add_argument("--timeout", type=float, default=1800.0)

    p = add("upload-drivers", cmd_upload_drivers, "upload a drivers file (CSV: sku, date, one column per driver)")
    p.add_argument("file")
    p.add_argument("--no-wait", action="store_true", help="return once the file is sent")
    p.add_argument("--timeout", type=float, default=1800.0)
    add("drivers", cmd_drivers, "list the declared drivers")
    p = add("declare-driver", cmd_declare_driver, "declare a driver, or replace its settings (admin)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--kind", choices=("numeric", "flag"), default="numeric")
    p.add_argument("--aggregate", choices=("mean", "sum", "max", "last"), default="mean", help="days to W/M")
    p.add_argument("--not-known-in-advance", action="store_true", help="its future values are not known")
    p.add_argument("--description")
    p = add("delete-driver", cmd_delete_driver, "delete a driver and its values (admin)")
    p.add_argument("name", metavar="NAME")
    add("calendar", cmd_calendar, "show the holiday codes and events")
    p = add("set-calendar", cmd_set_calendar, "replace the holiday codes and events (admin)")
    p.add_argument("--holiday", action="append", help="an ISO 3166 code: US, DE-BY (repeatable)")
    p.add_argument("--events", help="a JSON file: [{name, dates: [YYYY-MM-DD...], skus?: [...]}]")

    p = add("upload-attributes", cmd_upload_attributes, "upload item attributes (CSV: sku, one column per attribute)")
    p.add_argument("file")
    p.add_argument("--no-wait", action="store_true", help="return once the file is sent")
    p.add_argument("--timeout", type=float, default=1800.0)
    add("attributes", cmd_attributes, "list the attribute names SKUs hold")
    add("hierarchies", cmd_hierarchies, "list the declared hierarchies")
    p = add("declare-hierarchy", cmd_declare_hierarchy, "declare a hierarchy: attribute levels top to bottom (admin)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("levels", metavar="LEVEL", nargs="+", help="attribute names, top to bottom (the SKU is below)")
    p = add("delete-hierarchy", cmd_delete_hierarchy, "delete a hierarchy declaration (admin)")
    p.add_argument("name", metavar="NAME")

    p = add("skus", cmd_skus, "list SKUs with their demand class")
    p.add_argument("--prefix", default="", help="only SKUs whose name starts with this (exactly as stored)")
    p.add_argument(
        "--attr", action="append", type=_attribute_filter, metavar="NAME=VALUE", help="attribute filter (repeatable)"
    )
    p.add_argument(
        "--class",
        dest="demand_class",
        choices=("smooth", "erratic", "intermittent", "lumpy", "new", "inactive"),
    )
    add("methods", cmd_methods, "list forecasting methods")
    p = add("runs", cmd_runs, "list runs, newest first")
    p.add_argument("--status")

    p = add("run", cmd_run, "start a forecast run")
    p.add_argument("--horizon", type=int, required=True, help="periods to forecast (1..366)")
    p.add_argument("--frequency", choices=("D", "W", "M"), default="D")
    p.add_argument("--levels", type=_levels, default=[80, 95], help="interval levels, e.g. 80,95")
    p.add_argument("--method", default="auto")
    p.add_argument("--sku", action="append", help="forecast only this SKU (repeatable; default all)")
    p.add_argument("--backtest-windows", type=int)
    p.add_argument("--as-of", help="forecast origin YYYY-MM-DD (default: the end of the tenant's data)")
    p.add_argument(
        "--history-cleaning",
        choices=["none", "flagged"],
        help="flagged: replace the points ingestion flagged as outliers before fitting (default none)",
    )
    p.add_argument(
        "--drivers", help="auto (default: each SKU's drivers with values, and the calendar), none, or NAME,NAME"
    )
    p.add_argument("--hierarchy", help="a declared hierarchy: its nodes are forecast and reconciled with the SKUs")
    p.add_argument("--reconciliation", choices=["min_trace", "bottom_up"], help="with --hierarchy (default min_trace)")
    p.add_argument("--name")
    p.add_argument("--wait", action="store_true", help="wait for the run (progress bar); exit 3 unless SUCCEEDED")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--timeout", type=float)

    p = add("what-if", cmd_what_if, "a scenario run: a finished run forecast again with future drivers changed")
    p.add_argument("base_run_id", metavar="BASE_RUN")
    for op, example in (("set", "promo=1"), ("multiply", "price=0.9"), ("add", "price=-0.5")):
        p.add_argument(f"--{op}", action="append", type=_operation, metavar="DRIVER=X", help=f"e.g. {example}")
    p.add_argument("--start", help="first day the --set/--multiply/--add apply (YYYY-MM-DD)")
    p.add_argument("--end", help="last day they apply (YYYY-MM-DD)")
    p.add_argument("--sku", action="append", help="they apply to this SKU only (repeatable; default all)")
    p.add_argument("--changes", help="a JSON file: [{driver, start, end, set|multiply|add, skus?}]")
    p.add_argument("--events", help="a JSON file: [{name, dates: [YYYY-MM-DD...], skus?}]")
    p.add_argument("--name")
    p.add_argument("--wait", action="store_true", help="wait for the run (progress bar); exit 3 unless SUCCEEDED")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--timeout", type=float)

    p = add("compare", cmd_compare, "per-SKU and total deltas of a run against another (a scenario vs its base)")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--to", metavar="RUN", help="the run compared against (default, for a scenario run: its base)")
    p.add_argument("--top", type=int, default=20, help="rows shown (0: all; --json and -o have every row)")
    p.add_argument("-o", "--output", help="write every row as CSV here")

    p = add("status", cmd_status, "show a run")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--wait", action="store_true", help="wait for the run to finish; exit 3 unless SUCCEEDED")
    p.add_argument("--timeout", type=float)
    p = add("cancel", cmd_cancel, "cancel a run")
    p.add_argument("run_id", metavar="RUN")

    p = add("results", cmd_results, "show a run's forecasts")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--sku", action="append", help="only this SKU (repeatable)")
    p.add_argument("-o", "--output", help="write a CSV here instead of printing")

    p = add("nodes", cmd_nodes, "show a hierarchy run's reconciled nodes")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--level", help='one level: "total" or an attribute of the hierarchy (default all)')
    p.add_argument("--node", help="one node by id, with its children")

    p = add("adjust", cmd_adjust, "adjust a finished run's forecast of one SKU over a date range")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("sku", metavar="SKU")
    p.add_argument("--start", required=True, help="first period adjusted, YYYY-MM-DD (a period's first day)")
    p.add_argument("--end", help="last period adjusted, YYYY-MM-DD (default: --start)")
    change = p.add_mutually_exclusive_group(required=True)
    change.add_argument("--set", type=float, help="final = VALUE")
    change.add_argument("--add", type=float, help="final = max(0, final + VALUE)")
    change.add_argument("--multiply", type=float, help="final = final x VALUE")
    p.add_argument("--reason", required=True, choices=REASONS)
    p.add_argument("--comment")
    p.add_argument("--sticky", action="store_true", help="carry it into later runs of this SKU over these dates")
    p.add_argument("--expires", help="a sticky adjustment's last day of carrying, YYYY-MM-DD (default: --end)")
    p.add_argument("--etag", help="the ETag of the result as you read it (default: its current one)")

    p = add("adjustments", cmd_adjustments, "list every adjustment of one SKU in a run")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("sku", metavar="SKU")

    p = add("alerts", cmd_alerts, "list alerts, newest first")
    p.add_argument("--status", choices=("open", "acknowledged"))
    p = add("ack", cmd_ack, "acknowledge an alert")
    p.add_argument("alert_id", metavar="ALERT")
    p = add("alert-settings", cmd_alert_settings, "show the alert settings, or change the ones given (admin)")
    p.add_argument("--wape-threshold", type=float, help="accuracy_degraded above this WAPE (a ratio, 0.5 = 50%%)")
    p.add_argument("--min-points", type=int, help="scored points needed before accuracy_degraded")
    p.add_argument("--shift-periods", type=int, help="consecutive periods outside the 95%% interval: demand_shift")
    p = add("accuracy", cmd_accuracy, "forecast accuracy against actuals: a run's, or the tenant's by month")
    p.add_argument("run_id", metavar="RUN", nargs="?", help="a run (default: the tenant's accuracy over time)")
    p.add_argument("--from", dest="start", help="first month's day, YYYY-MM-DD (tenant accuracy)")
    p.add_argument("--to", dest="end", help="last month's day, YYYY-MM-DD (tenant accuracy)")
    p.add_argument("--by", choices=("run", "class", "method"), default="run")

    p = add("export", cmd_export, "download the run's export")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--level", help="a hierarchy run's nodes of one level: total or an attribute (default: the SKUs)")
    p.add_argument("-o", "--output", required=True)

    p = add("report", cmd_report, "write a self-contained HTML report of a run")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("-o", "--output", default="report.html")
    p.add_argument("--sku", action="append", help="chart this SKU (repeatable; default: the worst fits)")
    p.add_argument("--worst", type=int, default=6, help="how many worst-fit SKUs to chart (default 6)")
    p.add_argument("--title")
    return parser


def _fail(args: argparse.Namespace | None, code: int, message: str, problem: dict[str, Any] | None = None) -> int:
    if args is not None and getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code, "problem": problem or None}, indent=2))
    print(f"skucast: {message}", file=sys.stderr)
    return code


def _closed_pipe() -> int:
    """The reader of our output went away (`skucast results RUN | head`): stop quietly. Output
    still buffered goes to /dev/null, so the flush at interpreter exit cannot raise again."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("api", None), ("api_key", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # inside the try: a reader gone before the last block is a closed pipe too
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except UsageError as exc:
        return _fail(args, EXIT_USAGE, str(exc))
    except FileNotFoundError as exc:
        return _fail(args, EXIT_USAGE, str(exc))
    except errors.RunFailedError as exc:
        return _fail(args, EXIT_UNCLEAN, str(exc))
    except (errors.TransportError, errors.WaitTimeoutError) as exc:
        return _fail(args, EXIT_UNREACHABLE, str(exc))
    except errors.SkucastError as exc:
        return _fail(args, EXIT_API, str(exc), exc.problem)
    except KeyboardInterrupt:
        return _fail(args, 130, "interrupted")


if __name__ == "__main__":
    sys.exit(main())

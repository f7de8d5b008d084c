import { useEffect, useState } from "preact/hooks";
import {
  ApiError,
  FORECAST,
  all,
  can,
  enc,
  get,
  post,
  type CreateRunRequest,
  type Driver,
  type Hierarchy,
  type Method,
  type NodeResult,
  type Page,
  type Run,
  type RunAccuracy,
  type RunComparison,
  type SkuResult,
} from "../api";
import { Link, navigate } from "../router";
import { useMe } from "../session";
import {
  Empty,
  FINAL_RUN,
  FORECAST_READY,
  Field,
  Loading,
  Pager,
  ProblemAlert,
  Section,
  fmtNumber,
  fmtPct,
  fmtTime,
  useAction,
  useCursorPages,
  useLoad,
} from "../ui";

const POLL_MS = 1500;

/** A fresh key per submitted form (randomUUID needs a secure context; getRandomValues does not). */
function idempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function StatusBadge({ status }: { status: string }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status}</span>;
}

export function Runs() {
  const me = useMe();
  const pages = useCursorPages("runs");
  const loaded = useLoad(() => get<Page<Run>>(`${FORECAST}/runs`, { limit: 25, cursor: pages.cursor ?? undefined }), [pages.cursor]);
  return (
    <>
      <h1>Runs</h1>
      {can(me?.role, "analyst") ? (
        <p>
          <Link href="/runs/new" class="button primary">
            New run
          </Link>
        </p>
      ) : null}
      {loaded.loading ? <Loading what="runs" /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        loaded.data.items.length === 0 ? (
          <Empty>No runs yet.</Empty>
        ) : (
          <table>
            <caption>Runs</caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Horizon</th>
                <th scope="col">Created</th>
                <th scope="col" class="num">
                  SKUs
                </th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.items.map((run) => (
                <tr key={run.run_id}>
                  <td>
                    <Link href={`/runs/${enc(run.run_id)}`}>{run.run_id}</Link>
                  </td>
                  <td>{run.name ?? "—"}</td>
                  <td>
                    <StatusBadge status={run.status} />
                    {run.base_run_id ? <span class="muted"> scenario</span> : null}
                  </td>
                  <td>{run.trigger}</td>
                  <td>
                    {String(run.params.horizon ?? "—")} {String(run.params.frequency ?? "")}
                  </td>
                  <td class="time">{fmtTime(run.created_at)}</td>
                  <td class="num">{fmtNumber(run.progress.skus_total ?? 0, 0)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      {loaded.data ? <Pager page={pages.page} nextCursor={loaded.data.next_cursor} onNext={pages.next} onPrevious={pages.previous} /> : null}
    </>
  );
}

export function NewRun() {
  const [horizon, setHorizon] = useState("28");
  const [frequency, setFrequency] = useState("D");
  const [method, setMethod] = useState("auto");
  const [drivers, setDrivers] = useState("auto");
  const [hierarchy, setHierarchy] = useState("");
  const [base, setBase] = useState("");
  const [name, setName] = useState("");
  const [change, setChange] = useState({ driver: "", start: "", end: "", operation: "set", value: "" });
  const choices = useLoad(async () => {
    const [methods, driverList, hierarchies, runs] = await Promise.all([
      all<Method>(`${FORECAST}/methods`),
      all<Driver>(`${FORECAST}/drivers`).catch(() => [] as Driver[]),
      all<Hierarchy>(`${FORECAST}/hierarchies`).catch(() => [] as Hierarchy[]),
      get<Page<Run>>(`${FORECAST}/runs`, { limit: 50 }).then((page) => page.items.filter((run) => FORECAST_READY.has(run.status))),
    ]);
    return { methods, drivers: driverList, hierarchies, runs };
  }, []);
  const action = useAction();
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const body: CreateRunRequest = { frequency: frequency as "D" | "W" | "M", method };
    if (!base) body.horizon = Number(horizon);
    if (name.trim()) body.name = name.trim();
    body.drivers = drivers === "auto" || drivers === "none" ? drivers : [drivers];
    if (hierarchy) body.hierarchy = hierarchy;
    if (base) {
      body.scenario = { base_run_id: base, changes: [] };
      if (change.driver && change.start && change.end && change.value !== "") {
        body.scenario.changes = [{ driver: change.driver, start: change.start, end: change.end, [change.operation]: Number(change.value) }];
      }
    }
    const created = await action.run(() => post<Run>(`${FORECAST}/runs`, body, { "Idempotency-Key": idempotencyKey() }));
    if (created) navigate(`/runs/${enc(created.run_id)}`);
  };
  const data = choices.data;
  return (
    <>
      <p class="crumbs">
        <Link href="/runs">Runs</Link> /
      </p>
      <h1>New run</h1>
      {choices.loading ? <Loading /> : null}
      <ProblemAlert problem={choices.problem} />
      <form class="card" onSubmit={onSubmit}>
        <div class="row">
          <Field label="Horizon" id="run-horizon" hint={base ? "A scenario takes its base run's horizon" : "Periods ahead"}>
            <input
              id="run-horizon"
              type="number"
              min={1}
              max={366}
              required={!base}
              disabled={!!base}
              value={horizon}
              onInput={(event) => setHorizon(event.currentTarget.value)}
            />
          </Field>
          <Field label="Frequency" id="run-frequency">
            <select id="run-frequency" value={frequency} onChange={(event) => setFrequency(event.currentTarget.value)}>
              <option value="D">Daily (D)</option>
              <option value="W">Weekly (W)</option>
              <option value="M">Monthly (M)</option>
            </select>
          </Field>
          <Field label="Method" id="run-method">
            <select id="run-method" value={method} onChange={(event) => setMethod(event.currentTarget.value)}>
              <option value="auto">auto (chosen per SKU by backtest)</option>
              {(data?.methods ?? [])
                .filter((item) => item.name !== "auto")
                .map((item) => (
                  <option key={item.name} value={item.name}>
                    {item.name}
                  </option>
                ))}
            </select>
          </Field>
          <Field label="Drivers" id="run-drivers">
            <select id="run-drivers" value={drivers} onChange={(event) => setDrivers(event.currentTarget.value)}>
              <option value="auto">auto (every driver with values, and the calendar)</option>
              <option value="none">none</option>
              {(data?.drivers ?? []).map((driver) => (
                <option key={driver.name} value={driver.name}>
                  only {driver.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Hierarchy" id="run-hierarchy">
            <select id="run-hierarchy" value={hierarchy} onChange={(event) => setHierarchy(event.currentTarget.value)}>
              <option value="">none</option>
              {(data?.hierarchies ?? []).map((item) => (
                <option key={item.name} value={item.name}>
                  {item.name} ({item.levels.join(" › ")})
                </option>
              ))}
            </select>
          </Field>
          <Field label="Scenario base" id="run-base" hint="Optional: a what-if run of a finished run">
            <select id="run-base" value={base} onChange={(event) => setBase(event.currentTarget.value)}>
              <option value="">none (a new forecast)</option>
              {(data?.runs ?? []).map((run) => (
                <option key={run.run_id} value={run.run_id}>
                  {run.name ? `${run.name} · ` : ""}
                  {run.run_id}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Name" id="run-name">
            <input id="run-name" value={name} maxLength={200} onInput={(event) => setName(event.currentTarget.value)} />
          </Field>
        </div>
        {base ? (
          <fieldset>
            <legend>Scenario change (optional)</legend>
            <div class="row">
              <Field label="Driver to change" id="change-driver">
                <select id="change-driver" value={change.driver} onChange={(event) => setChange({ ...change, driver: event.currentTarget.value })}>
                  <option value="">none</option>
                  {(data?.drivers ?? []).map((driver) => (
                    <option key={driver.name} value={driver.name}>
                      {driver.name}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="Change from" id="change-start">
                <input id="change-start" type="date" value={change.start} onInput={(event) => setChange({ ...change, start: event.currentTarget.value })} />
              </Field>
              <Field label="Change to" id="change-end">
                <input id="change-end" type="date" value={change.end} onInput={(event) => setChange({ ...change, end: event.currentTarget.value })} />
              </Field>
              <Field label="Change operation" id="change-operation" hint="a flag driver takes set 0 or 1">
                <select id="change-operation" value={change.operation} onChange={(event) => setChange({ ...change, operation: event.currentTarget.value })}>
                  <option value="set">set</option>
                  <option value="multiply">multiply</option>
                  <option value="add">add</option>
                </select>
              </Field>
              <Field label="Change value" id="change-value">
                <input id="change-value" type="number" step="any" value={change.value} onInput={(event) => setChange({ ...change, value: event.currentTarget.value })} />
              </Field>
            </div>
          </fieldset>
        ) : null}
        <ProblemAlert problem={action.problem} />
        <div class="actions">
          <button type="submit" class="primary" disabled={action.busy}>
            Start run
          </button>
        </div>
      </form>
    </>
  );
}

function Results({ runId }: { runId: string }) {
  const pages = useCursorPages(runId);
  const loaded = useLoad(
    () => get<Page<SkuResult>>(`${FORECAST}/runs/${enc(runId)}/results`, { limit: 50, cursor: pages.cursor ?? undefined }),
    [runId, pages.cursor],
  );
  const total = (result: SkuResult, key: "mean" | "final") =>
    (result.forecast as Record<string, unknown>[]).reduce((sum, point) => {
      const value = point[key] ?? point.mean;
      return sum + (typeof value === "number" ? value : 0);
    }, 0);
  return (
    <Section title="Results">
      {loaded.loading ? <Loading what="results" /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        loaded.data.items.length === 0 ? (
          <Empty>No results yet.</Empty>
        ) : (
          <table>
            <caption>Results</caption>
            <thead>
              <tr>
                <th scope="col">SKU</th>
                <th scope="col">Class</th>
                <th scope="col">Method</th>
                <th scope="col" class="num">
                  Forecast total
                </th>
                <th scope="col" class="num">
                  Final total
                </th>
                <th scope="col" class="num">
                  Adjustments
                </th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.items.map((result) => (
                <tr key={result.sku}>
                  <td>
                    <Link href={`/skus/${enc(result.sku)}?run=${enc(runId)}`}>{result.sku}</Link>
                  </td>
                  <td>{result.demand_class ?? "—"}</td>
                  <td>{result.method ?? "—"}</td>
                  <td class="num">{fmtNumber(total(result, "mean"))}</td>
                  <td class="num">{fmtNumber(total(result, "final"))}</td>
                  <td class="num">{result.adjustments ?? 0}</td>
                  <td>{result.error ? `${result.error.code ?? ""} ${result.error.message ?? ""}` : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      {loaded.data ? <Pager page={pages.page} nextCursor={loaded.data.next_cursor} onNext={pages.next} onPrevious={pages.previous} /> : null}
    </Section>
  );
}

function Export({ runId }: { runId: string }) {
  const [url, setUrl] = useState<string | null>(null);
  const action = useAction();
  const onExport = async () => {
    setUrl(null);
    const link = await action.run(async () => {
      // A big run's export is written off the request path: 409 export-preparing until it is.
      for (let attempt = 0; attempt < 120; attempt++) {
        try {
          return await post<{ url: string }>(`${FORECAST}/runs/${enc(runId)}/export`, { format: "csv" });
        } catch (error) {
          if (!(error instanceof ApiError && error.problem.status === 409 && /export-preparing/.test(error.problem.type ?? ""))) throw error;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
      throw new ApiError({ status: 0, title: "The export is still being prepared; try again shortly." });
    });
    if (link) {
      setUrl(link.url);
      // The presigned URL answers Content-Disposition: attachment, so following it in this tab
      // downloads the file and leaves the page (and its in-memory session) where it is.
      const anchor = document.createElement("a");
      anchor.href = link.url;
      anchor.download = `${runId}.csv`;
      anchor.rel = "noopener";
      document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
    }
  };
  return (
    <div class="export">
      <button type="button" onClick={onExport} disabled={action.busy}>
        Export CSV
      </button>
      {action.busy ? <span class="muted"> Preparing…</span> : null}
      {url ? (
        <a href={url} download={`${runId}.csv`} rel="noopener noreferrer" data-testid="export-link">
          Download the CSV
        </a>
      ) : null}
      <ProblemAlert problem={action.problem} />
    </div>
  );
}

function Comparison({ run }: { run: Run }) {
  const [open, setOpen] = useState(false);
  const loaded = useLoad(
    () => (open && run.base_run_id ? get<RunComparison>(`${FORECAST}/runs/${enc(run.run_id)}/compare`, { to: run.base_run_id, limit: 50 }) : Promise.resolve(null)),
    [open, run.run_id, run.base_run_id],
  );
  if (!run.base_run_id) return null;
  return (
    <Section title="Scenario">
      <p>
        A what-if of run <Link href={`/runs/${enc(run.base_run_id)}`}>{run.base_run_id}</Link>.{" "}
        <button type="button" onClick={() => setOpen(true)} disabled={open}>
          Compare with base
        </button>
      </p>
      {open && loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        <>
          <p>
            Total {fmtNumber(loaded.data.totals.run)} against {fmtNumber(loaded.data.totals.to)} in the base: {loaded.data.totals.delta >= 0 ? "+" : ""}
            {fmtNumber(loaded.data.totals.delta)} ({fmtPct(loaded.data.totals.delta_pct == null ? null : loaded.data.totals.delta_pct / 100)}).
          </p>
          <table>
            <caption>Comparison with base run</caption>
            <thead>
              <tr>
                <th scope="col">SKU</th>
                <th scope="col" class="num">
                  This run
                </th>
                <th scope="col" class="num">
                  Base
                </th>
                <th scope="col" class="num">
                  Delta
                </th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.items.map((item) => (
                <tr key={item.sku}>
                  <td>{item.sku}</td>
                  <td class="num">{fmtNumber(item.run_total)}</td>
                  <td class="num">{fmtNumber(item.to_total)}</td>
                  <td class="num">{fmtNumber(item.delta)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </Section>
  );
}

function Nodes({ run }: { run: Run }) {
  const hierarchyName = run.params.hierarchy as string | undefined;
  const hierarchy = useLoad(
    () => (hierarchyName ? all<Hierarchy>(`${FORECAST}/hierarchies`).then((items) => items.find((item) => item.name === hierarchyName) ?? null) : Promise.resolve(null)),
    [hierarchyName],
  );
  const [level, setLevel] = useState("total");
  const pages = useCursorPages(level);
  const nodes = useLoad(
    () =>
      hierarchyName
        ? get<Page<NodeResult>>(`${FORECAST}/runs/${enc(run.run_id)}/nodes`, { level, limit: 50, cursor: pages.cursor ?? undefined })
        : Promise.resolve(null),
    [run.run_id, hierarchyName, level, pages.cursor],
  );
  if (!hierarchyName) return null;
  const levels = ["total", ...(hierarchy.data?.levels ?? [])];
  return (
    <Section title="Hierarchy nodes">
      <div class="field inline">
        <label for="node-level">Level</label>
        <select id="node-level" value={level} onChange={(event) => setLevel(event.currentTarget.value)}>
          {levels.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      {nodes.loading ? <Loading /> : null}
      <ProblemAlert problem={nodes.problem} />
      {nodes.data ? (
        nodes.data.items.length === 0 ? (
          <Empty>No nodes at this level.</Empty>
        ) : (
          <>
            <table>
              <caption>Nodes</caption>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col" class="num">
                    SKUs
                  </th>
                  <th scope="col" class="num">
                    Forecast total
                  </th>
                </tr>
              </thead>
              <tbody>
                {nodes.data.items.map((node) => (
                  <tr key={node.node_id}>
                    <td>
                      {Object.entries(node.key)
                        .map(([key, value]) => `${key}=${value}`)
                        .join(", ") || node.level}
                    </td>
                    <td class="num">{node.skus}</td>
                    <td class="num">
                      {fmtNumber((node.forecast as Record<string, unknown>[]).reduce((sum, point) => sum + (typeof point.mean === "number" ? point.mean : 0), 0))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager page={pages.page} nextCursor={nodes.data.next_cursor} onNext={pages.next} onPrevious={pages.previous} />
          </>
        )
      ) : null}
    </Section>
  );
}

function RunAccuracySection({ runId }: { runId: string }) {
  const loaded = useLoad(() => get<RunAccuracy>(`${FORECAST}/runs/${enc(runId)}/accuracy`), [runId]);
  const rows: [string, RunAccuracy["metrics"]][] = loaded.data
    ? [
        ["Forecast", loaded.data.metrics],
        ["Seasonal naive", loaded.data.naive],
        ["Final (adjusted)", loaded.data.final],
      ]
    : [];
  return (
    <Section title="Accuracy against actuals">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data && !loaded.data.metrics ? <Empty>No actuals have arrived for this run's dates yet.</Empty> : null}
      {loaded.data?.metrics ? (
        <table>
          <caption>
            Run accuracy ({loaded.data.skus_scored ?? 0} SKUs, actuals through {loaded.data.actuals_through ?? "—"})
          </caption>
          <thead>
            <tr>
              <th scope="col">Forecast</th>
              <th scope="col" class="num">
                WAPE
              </th>
              <th scope="col" class="num">
                MASE
              </th>
              <th scope="col" class="num">
                Bias
              </th>
              <th scope="col" class="num">
                80 % coverage
              </th>
              <th scope="col" class="num">
                95 % coverage
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([label, metrics]) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                <td class="num">{fmtPct(metrics?.wape)}</td>
                <td class="num">{fmtNumber(metrics?.mase, 3)}</td>
                <td class="num">{fmtNumber(metrics?.bias, 2)}</td>
                <td class="num">{fmtPct(metrics?.coverage_80)}</td>
                <td class="num">{fmtPct(metrics?.coverage_95)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Section>
  );
}

export function RunDetail({ runId }: { runId: string }) {
  const me = useMe();
  const loaded = useLoad(() => get<Run>(`${FORECAST}/runs/${enc(runId)}`), [runId]);
  const run = loaded.data;
  const finished = run ? FINAL_RUN.has(run.status) : false;
  // Live progress: poll until the run reaches a final status.
  useEffect(() => {
    if (!run || finished) return;
    const timer = setTimeout(loaded.reload, POLL_MS);
    return () => clearTimeout(timer);
  }, [run, finished, loaded.reload]);
  const cancel = useAction();
  if (loaded.problem?.status === 404) {
    return (
      <>
        <h1>Not found</h1>
        <p>No run {runId} in this account.</p>
      </>
    );
  }
  const progress = run?.progress;
  const done = (progress?.skus_done ?? 0) + (progress?.skus_failed ?? 0);
  return (
    <>
      <p class="crumbs">
        <Link href="/runs">Runs</Link> /
      </p>
      <h1>Run {runId}</h1>
      <ProblemAlert problem={loaded.problem} />
      {!run && loaded.loading ? <Loading what="the run" /> : null}
      {run ? (
        <>
          <div class="card run-head">
            <p>
              Status:{" "}
              <strong aria-live="polite" data-testid="run-status" class={`status status-${run.status.toLowerCase()}`}>
                {run.status}
              </strong>
              {run.name ? <span> · {run.name}</span> : null}
            </p>
            {progress?.skus_total ? (
              <p>
                <progress max={progress.skus_total} value={done} aria-label="Run progress" /> {done} of {progress.skus_total} SKUs
                {progress.skus_failed ? `, ${progress.skus_failed} failed` : ""}
              </p>
            ) : !finished ? (
              <p class="muted">Planning…</p>
            ) : null}
            <dl class="facts">
              {["horizon", "frequency", "method", "drivers", "hierarchy", "as_of"].map((key) =>
                run.params[key] !== undefined && run.params[key] !== null ? (
                  <div key={key}>
                    <dt>{key.replace("_", " ")}</dt>
                    <dd>{typeof run.params[key] === "object" ? JSON.stringify(run.params[key]) : String(run.params[key])}</dd>
                  </div>
                ) : null,
              )}
              <div>
                <dt>created</dt>
                <dd>{fmtTime(run.created_at)}</dd>
              </div>
              <div>
                <dt>finished</dt>
                <dd>{fmtTime(run.finished_at)}</dd>
              </div>
            </dl>
            {run.error ? <p class="problem">{Object.values(run.error).join(": ")}</p> : null}
            <div class="actions">
              {FORECAST_READY.has(run.status) ? <Export runId={runId} /> : null}
              {!finished && can(me?.role, "analyst") ? (
                <button type="button" onClick={() => cancel.run(() => post(`${FORECAST}/runs/${enc(runId)}/cancel`)).then(loaded.reload)}>
                  Cancel run
                </button>
              ) : null}
            </div>
            <ProblemAlert problem={cancel.problem} />
          </div>
          <Comparison run={run} />
          {FORECAST_READY.has(run.status) ? (
            <>
              <Nodes run={run} />
              <RunAccuracySection runId={runId} />
            </>
          ) : null}
          {finished ? <Results runId={runId} /> : null}
        </>
      ) : null}
    </>
  );
}

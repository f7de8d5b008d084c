import type { ComponentChildren } from "preact";
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
import { InputField, SelectField, useForm } from "../forms";
import { Link, navigate } from "../router";
import { useMe } from "../session";
import {
  FINAL_RUN,
  Fact,
  FORECAST_READY,
  Loading,
  LoadState,
  Pager,
  ProblemAlert,
  Section,
  StatusBadge,
  Table,
  finishedRuns,
  fmtNumber,
  fmtPct,
  fmtTime,
  forecastTotal,
  noItems,
  num,
  runLabel,
  useAction,
  useLoad,
  usePagedLoad,
} from "../ui";

const POLL_MS = 1500;

/** A fresh key per submitted form (randomUUID needs a secure context; getRandomValues does not). */
function idempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A run's first cells in a list: its id (a link to it), its name and its status (then `children`). */
export function RunCells({ run, children }: { run: Run; children?: ComponentChildren }) {
  return (
    <>
      <td>
        <Link href={`/runs/${enc(run.run_id)}`}>{run.run_id}</Link>
      </td>
      <td>{run.name ?? "—"}</td>
      <td>
        <StatusBadge status={run.status} />
        {children}
      </td>
    </>
  );
}

export function Runs() {
  const me = useMe();
  const { pages, loaded } = usePagedLoad("runs", (cursor) => get<Page<Run>>(`${FORECAST}/runs`, { limit: 25, cursor }), []);
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
      <LoadState loaded={loaded} what="runs" isEmpty={noItems} empty="No runs yet.">
        {(page) => (
          <Table caption="Runs" columns={["Run", "Name", "Status", "Trigger", "Horizon", "Created", num("SKUs")]}>
            {page.items.map((run) => (
              <tr key={run.run_id}>
                <RunCells run={run}>{run.base_run_id ? <span class="muted"> scenario</span> : null}</RunCells>
                <td>{run.trigger}</td>
                <td>
                  {String(run.params.horizon ?? "—")} {String(run.params.frequency ?? "")}
                </td>
                <td class="time">{fmtTime(run.created_at)}</td>
                <td class="num">{fmtNumber(run.progress.skus_total ?? 0, 0)}</td>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
      {loaded.data ? <Pager pages={pages} page={loaded.data} /> : null}
    </>
  );
}

export function NewRun() {
  const { form, text, choice } = useForm({ horizon: "28", frequency: "D", method: "auto", drivers: "auto", hierarchy: "", base: "", name: "" });
  const { horizon, frequency, method, drivers, hierarchy, base, name } = form;
  const scenario = useForm({ driver: "", start: "", end: "", operation: "set", value: "" });
  const change = scenario.form;
  const choices = useLoad(async () => {
    const [methods, driverList, hierarchies, runs] = await Promise.all([
      all<Method>(`${FORECAST}/methods`),
      all<Driver>(`${FORECAST}/drivers`).catch(() => [] as Driver[]),
      all<Hierarchy>(`${FORECAST}/hierarchies`).catch(() => [] as Hierarchy[]),
      finishedRuns(),
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
          <InputField
            label="Horizon"
            id="run-horizon"
            hint={base ? "A scenario takes its base run's horizon" : "Periods ahead"}
            type="number"
            min={1}
            max={366}
            required={!base}
            disabled={!!base}
            {...text("horizon")}
          />
          <SelectField
            label="Frequency"
            id="run-frequency"
            options={[
              ["D", "Daily (D)"],
              ["W", "Weekly (W)"],
              ["M", "Monthly (M)"],
            ]}
            {...choice("frequency")}
          />
          <SelectField
            label="Method"
            id="run-method"
            options={(data?.methods ?? []).filter((item) => item.name !== "auto").map((item) => item.name)}
            {...choice("method")}
          >
            <option value="auto">auto (chosen per SKU by backtest)</option>
          </SelectField>
          <SelectField
            label="Drivers"
            id="run-drivers"
            options={(data?.drivers ?? []).map((driver) => [driver.name, `only ${driver.name}`] as const)}
            {...choice("drivers")}
          >
            <option value="auto">auto (every driver with values, and the calendar)</option>
            <option value="none">none</option>
          </SelectField>
          <SelectField
            label="Hierarchy"
            id="run-hierarchy"
            options={(data?.hierarchies ?? []).map((item) => [item.name, `${item.name} (${item.levels.join(" › ")})`] as const)}
            {...choice("hierarchy")}
          >
            <option value="">none</option>
          </SelectField>
          <SelectField
            label="Scenario base"
            id="run-base"
            hint="Optional: a what-if run of a finished run"
            options={(data?.runs ?? []).map((run) => [run.run_id, runLabel(run)] as const)}
            {...choice("base")}
          >
            <option value="">none (a new forecast)</option>
          </SelectField>
          <InputField label="Name" id="run-name" maxLength={200} {...text("name")} />
        </div>
        {base ? (
          <fieldset>
            <legend>Scenario change (optional)</legend>
            <div class="row">
              <SelectField label="Driver to change" id="change-driver" options={(data?.drivers ?? []).map((driver) => driver.name)} {...scenario.choice("driver")}>
                <option value="">none</option>
              </SelectField>
              <InputField label="Change from" id="change-start" type="date" {...scenario.text("start")} />
              <InputField label="Change to" id="change-end" type="date" {...scenario.text("end")} />
              <SelectField
                label="Change operation"
                id="change-operation"
                hint="a flag driver takes set 0 or 1"
                options={["set", "multiply", "add"]}
                {...scenario.choice("operation")}
              />
              <InputField label="Change value" id="change-value" type="number" step="any" {...scenario.text("value")} />
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
  const { pages, loaded } = usePagedLoad(
    runId,
    (cursor) => get<Page<SkuResult>>(`${FORECAST}/runs/${enc(runId)}/results`, { limit: 50, cursor }),
    [runId],
  );
  return (
    <Section title="Results">
      <LoadState loaded={loaded} what="results" isEmpty={noItems} empty="No results yet.">
        {(page) => (
          <Table caption="Results" columns={["SKU", "Class", "Method", num("Forecast total"), num("Final total"), num("Adjustments"), "Error"]}>
            {page.items.map((result) => (
              <tr key={result.sku}>
                <td>
                  <Link href={`/skus/${enc(result.sku)}?run=${enc(runId)}`}>{result.sku}</Link>
                </td>
                <td>{result.demand_class ?? "—"}</td>
                <td>{result.method ?? "—"}</td>
                <td class="num">{fmtNumber(forecastTotal(result.forecast, "mean"))}</td>
                <td class="num">{fmtNumber(forecastTotal(result.forecast, "final"))}</td>
                <td class="num">{result.adjustments ?? 0}</td>
                <td>{result.error ? `${result.error.code ?? ""} ${result.error.message ?? ""}` : ""}</td>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
      {loaded.data ? <Pager pages={pages} page={loaded.data} /> : null}
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
          <Table caption="Comparison with base run" columns={["SKU", num("This run"), num("Base"), num("Delta")]}>
            {loaded.data.items.map((item) => (
              <tr key={item.sku}>
                <td>{item.sku}</td>
                <td class="num">{fmtNumber(item.run_total)}</td>
                <td class="num">{fmtNumber(item.to_total)}</td>
                <td class="num">{fmtNumber(item.delta)}</td>
              </tr>
            ))}
          </Table>
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
  const { pages, loaded: nodes } = usePagedLoad(
    level,
    (cursor) =>
      hierarchyName ? get<Page<NodeResult>>(`${FORECAST}/runs/${enc(run.run_id)}/nodes`, { level, limit: 50, cursor }) : Promise.resolve({ items: [] }),
    [run.run_id, hierarchyName, level],
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
      <LoadState loaded={nodes} pages={pages} isEmpty={noItems} empty="No nodes at this level.">
        {(page) => (
          <Table caption="Nodes" columns={["Node", num("SKUs"), num("Forecast total"), num("Base forecast total")]}>
            {page.items.map((node) => (
              <tr key={node.node_id}>
                <td>
                  {Object.entries(node.key)
                    .map(([key, value]) => `${key}=${value}`)
                    .join(", ") || node.level}
                </td>
                <td class="num">{node.skus}</td>
                <td class="num">{fmtNumber(forecastTotal(node.forecast, "mean"))}</td>
                {/* the node's own forecast before reconciliation: how far reconciling moved it */}
                <td class="num">{node.base_forecast ? fmtNumber(forecastTotal(node.base_forecast, "mean")) : "—"}</td>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
    </Section>
  );
}

function RunAccuracySection({ runId }: { runId: string }) {
  const loaded = useLoad(() => get<RunAccuracy>(`${FORECAST}/runs/${enc(runId)}/accuracy`), [runId]);
  return (
    <Section title="Accuracy against actuals">
      <LoadState loaded={loaded} isEmpty={(accuracy) => !accuracy.metrics} empty="No actuals have arrived for this run's dates yet.">
        {(accuracy) => (
          <Table
            caption={`Run accuracy (${accuracy.skus_scored ?? 0} SKUs, actuals through ${accuracy.actuals_through ?? "—"})`}
            columns={["Forecast", num("WAPE"), num("MASE"), num("Bias"), num("80 % coverage"), num("95 % coverage")]}
          >
            {(
              [
                ["Forecast", accuracy.metrics],
                ["Seasonal naive", accuracy.naive],
                ["Final (adjusted)", accuracy.final],
              ] as const
            ).map(([label, metrics]) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                <td class="num">{fmtPct(metrics?.wape)}</td>
                <td class="num">{fmtNumber(metrics?.mase, 3)}</td>
                <td class="num">{fmtNumber(metrics?.bias, 2)}</td>
                <td class="num">{fmtPct(metrics?.coverage_80)}</td>
                <td class="num">{fmtPct(metrics?.coverage_95)}</td>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
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
                  <Fact key={key} term={key.replace("_", " ")}>
                    {typeof run.params[key] === "object" ? JSON.stringify(run.params[key]) : String(run.params[key])}
                  </Fact>
                ) : null,
              )}
              <Fact term="created">{fmtTime(run.created_at)}</Fact>
              <Fact term="finished">{fmtTime(run.finished_at)}</Fact>
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

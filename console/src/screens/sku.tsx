import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type uPlot from "uplot";
import {
  ApiError,
  FORECAST,
  all,
  call,
  can,
  enc,
  get,
  type Adjustment,
  type AdjustmentRequest,
  type CalendarOut,
  type Driver,
  type ForecastPoint,
  type Run,
  type Sku,
  type SkuDemand,
  type SkuDrivers,
  type SkuResult,
} from "../api";
import { NotFound } from "./notfound";
import { Chart, dateToSeconds } from "../chart";
import { Link, navigate, useLocation } from "../router";
import { useMe } from "../session";
import { CheckField, InputField, Saved, SelectField } from "../forms";
import { Empty, Fact, Field, LoadState, Loading, ProblemAlert, Section, Table, finishedRuns, fmtNumber, fmtPct, fmtTime, num as numColumn, runLabel, useAction, useLoad } from "../ui";

const REASONS = ["promotion", "event", "supply", "customer_info", "correction", "other"] as const;
const OPERATIONS = ["set", "add", "multiply"] as const;
type Operation = (typeof OPERATIONS)[number];

interface Shade {
  from: number;
  to: number;
  kind: "driver" | "event";
}

interface ResultAnswer {
  result: SkuResult;
  etag: string | null;
}

const DAY = 86400;

/** Consecutive dates (by the series' step) merged into shaded spans. */
function spans(dates: string[], step: number, kind: Shade["kind"]): Shade[] {
  const sorted = [...new Set(dates)].map(dateToSeconds).sort((a, b) => a - b);
  const out: Shade[] = [];
  for (const x of sorted) {
    const last = out[out.length - 1];
    if (last && x - last.to <= step) last.to = x + step;
    else out.push({ from: x, to: x + step, kind });
  }
  return out;
}

function stepOf(frequency: string | undefined): number {
  return frequency === "M" ? 31 * DAY : frequency === "W" ? 7 * DAY : DAY;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

interface ChartInput {
  demand: SkuDemand | undefined;
  result: SkuResult | undefined;
  shades: Shade[];
}

/** The final forecast where it departs from the mean, joined to the mean on either side. */
function finalColumn(xs: number[], forecast: Map<number, ForecastPoint>): (number | null)[] {
  const changed = xs.map((x) => {
    const point = forecast.get(x);
    return point !== undefined && num(point.final) !== null && num(point.final) !== num(point.mean);
  });
  return xs.map((x, index) =>
    changed[index] || changed[index - 1] || changed[index + 1] ? (num(forecast.get(x)?.final) ?? null) : null,
  );
}

function chartData({ demand, result }: ChartInput): uPlot.AlignedData {
  const history = new Map<number, number>();
  const anomalies = new Map<number, number>();
  for (const point of demand?.points ?? []) {
    const x = dateToSeconds(point.date);
    history.set(x, point.quantity);
    if (point.anomaly) anomalies.set(x, point.quantity);
  }
  const forecast = new Map<number, ForecastPoint>();
  for (const point of (result?.forecast ?? []) as ForecastPoint[]) forecast.set(dateToSeconds(point.date), point);
  const xs = [...new Set([...history.keys(), ...forecast.keys()])].sort((a, b) => a - b);
  const adjusted = [...forecast.values()].some((point) => num(point.final) !== null && num(point.final) !== num(point.mean));
  const column = (pick: (x: number) => number | null) => xs.map(pick);
  const bound = (name: string) => column((x) => num(forecast.get(x)?.[name]));
  return [
    xs,
    column((x) => history.get(x) ?? null),
    column((x) => num(forecast.get(x)?.mean)),
    adjusted ? finalColumn(xs, forecast) : column(() => null),
    bound("hi_95"),
    bound("lo_95"),
    bound("hi_80"),
    bound("lo_80"),
    column((x) => anomalies.get(x) ?? null),
  ];
}

/** The first view: recent history (3x the horizon, at least 120 days) and the forecast. */
function recentView(data: uPlot.AlignedData): [number, number] | null {
  const xs = data[0] as number[];
  const forecastXs = xs.filter((_, index) => data[2][index] !== null);
  if (xs.length < 2 || !forecastXs.length) return null;
  const first = forecastXs[0];
  const last = forecastXs[forecastXs.length - 1];
  const from = first - Math.max(3 * (last - first), 120 * DAY);
  return from > xs[0] ? [from, last] : null;
}

function chartOptions(shades: Shade[], view: [number, number] | null): Omit<uPlot.Options, "width" | "height"> {
  const band = (stroke: string) => ({ stroke, width: 1, points: { show: false } });
  return {
    scales: { x: { time: true } },
    axes: [{}, { label: "Quantity" }],
    series: [
      {},
      { label: "History", stroke: "#333333", width: 1.25 },
      { label: "Forecast", stroke: "#1f5fa8", width: 2 },
      { label: "Final (adjusted)", stroke: "#b5470b", width: 2, dash: [6, 4], points: { show: true, size: 5 } },
      { label: "95 % high", ...band("rgba(31,95,168,0.25)") },
      { label: "95 % low", ...band("rgba(31,95,168,0.25)") },
      { label: "80 % high", ...band("rgba(31,95,168,0.45)") },
      { label: "80 % low", ...band("rgba(31,95,168,0.45)") },
      {
        label: "Anomaly",
        stroke: "#b00020",
        paths: () => null,
        points: { show: true, size: 9, fill: "#b00020", stroke: "#b00020" },
      },
    ],
    bands: [
      { series: [4, 5], fill: "rgba(31,95,168,0.12)" },
      { series: [6, 7], fill: "rgba(31,95,168,0.22)" },
    ],
    hooks: {
      // Opens on the recent past and the forecast; drag to zoom, double-click for all history.
      ready: [(plot: uPlot) => view && plot.setScale("x", { min: view[0], max: view[1] })],
      // Driver (promotion) and event periods shaded behind the lines.
      drawClear: [
        (plot: uPlot) => {
          const { ctx, bbox } = plot;
          ctx.save();
          for (const shade of shades) {
            const left = plot.valToPos(shade.from, "x", true);
            const right = plot.valToPos(shade.to, "x", true);
            const x0 = Math.max(bbox.left, left);
            const x1 = Math.min(bbox.left + bbox.width, right);
            if (x1 <= x0) continue;
            ctx.fillStyle = shade.kind === "driver" ? "rgba(46,139,87,0.14)" : "rgba(180,120,0,0.16)";
            ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
          }
          ctx.restore();
        },
      ],
    },
  };
}

/** The run's forecast against the actuals that arrived for its periods (this SKU only). */
function skuAccuracy(result: SkuResult | undefined, demand: SkuDemand | undefined, frequency: string | undefined) {
  const points = ((result?.forecast ?? []) as ForecastPoint[]).filter((point) => num(point.mean) !== null);
  const demandPoints = demand?.points ?? [];
  if (!points.length || !demandPoints.length) return null;
  const lastActual = dateToSeconds(demandPoints[demandPoints.length - 1].date);
  const step = stepOf(frequency);
  const rows: { date: string; actual: number; mean: number; final: number }[] = [];
  points.forEach((point, index) => {
    const from = dateToSeconds(point.date);
    const next = points[index + 1];
    const to = next ? dateToSeconds(next.date) : from + (frequency === "M" ? 0 : step);
    const end = frequency === "M" && !next ? Date.UTC(new Date(from * 1000).getUTCFullYear(), new Date(from * 1000).getUTCMonth() + 1, 1) / 1000 : to;
    if (lastActual < end - DAY) return; // the period's actuals are not all in yet
    let actual = 0;
    for (const demandPoint of demandPoints) {
      const x = dateToSeconds(demandPoint.date);
      if (x >= from && x < end) actual += demandPoint.quantity;
    }
    rows.push({ date: point.date, actual, mean: num(point.mean) ?? 0, final: num(point.final) ?? num(point.mean) ?? 0 });
  });
  if (!rows.length) return null;
  const total = rows.reduce((sum, row) => sum + row.actual, 0);
  const score = (key: "mean" | "final") => {
    const absolute = rows.reduce((sum, row) => sum + Math.abs(row[key] - row.actual), 0);
    const signed = rows.reduce((sum, row) => sum + (row[key] - row.actual), 0);
    return { mae: absolute / rows.length, wape: total > 0 ? absolute / total : null, bias: signed / rows.length };
  };
  return { periods: rows.length, actual: total, forecast: score("mean"), final: score("final") };
}

function AccuracySection({ result, demand, run }: { result?: SkuResult; demand?: SkuDemand; run?: Run }) {
  const scored = skuAccuracy(result, demand, run?.params.frequency as string | undefined);
  return (
    <Section title="Accuracy against actuals">
      {!scored ? (
        <Empty>No actuals yet for the periods this run forecast; they are scored as demand arrives.</Empty>
      ) : (
        <Table caption={`Accuracy of this SKU against actuals (${scored.periods} periods)`} columns={["Forecast", numColumn("WAPE"), numColumn("MAE"), numColumn("Bias")]}>
          {(["forecast", "final"] as const).map((key) => (
            <tr key={key}>
              <th scope="row">{key === "forecast" ? "Statistical" : "Final (adjusted)"}</th>
              <td class="num">{fmtPct(scored[key].wape)}</td>
              <td class="num">{fmtNumber(scored[key].mae, 2)}</td>
              <td class="num">{fmtNumber(scored[key].bias, 2)}</td>
            </tr>
          ))}
        </Table>
      )}
    </Section>
  );
}

function operationOf(adjustment: Adjustment): string {
  if (adjustment.set != null) return `set ${fmtNumber(adjustment.set, 3)}`;
  if (adjustment.add != null) return `add ${fmtNumber(adjustment.add, 3)}`;
  if (adjustment.multiply != null) return `multiply ${fmtNumber(adjustment.multiply, 3)}`;
  return "—";
}

function AdjustmentsTable({ items }: { items: Adjustment[] }) {
  if (!items.length) return <Empty>No adjustments of this SKU in this run.</Empty>;
  return (
    <Table caption="Adjustments" columns={["At", "By", "From", "To", "Operation", "Reason", "Comment", "Sticky", numColumn("Periods changed")]}>
      {items.map((adjustment) => (
        <tr key={adjustment.adjustment_id}>
          <td class="time">{fmtTime(adjustment.at)}</td>
          <td>{adjustment.by}</td>
          <td>{adjustment.start}</td>
          <td>{adjustment.end}</td>
          <td>{operationOf(adjustment)}</td>
          <td>{adjustment.reason}</td>
          <td>{adjustment.comment ?? ""}</td>
          <td>{adjustment.sticky ? (adjustment.carried_from ? `yes (from ${adjustment.carried_from})` : "yes") : "no"}</td>
          <td class="num">{adjustment.changes.length}</td>
        </tr>
      ))}
    </Table>
  );
}

function AdjustForm({
  runId,
  sku,
  etag,
  firstDate,
  onSaved,
  onCancel,
  ready,
}: {
  ready: boolean;
  runId: string | undefined;
  sku: string;
  etag: string | null;
  firstDate: string;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const [start, setStart] = useState(firstDate);
  const [end, setEnd] = useState(firstDate);
  // Opened from the "Adjust" button (which it replaces): keyboard focus goes to its first field.
  const fromInput = useRef<HTMLInputElement>(null);
  useEffect(() => fromInput.current?.focus(), []);
  // The result may arrive after the form opened (a deep link): fill the dates it lacks, keep
  // whatever the user typed.
  useEffect(() => {
    if (!firstDate) return;
    setStart((current) => current || firstDate);
    setEnd((current) => current || firstDate);
  }, [firstDate]);
  const [operation, setOperation] = useState<Operation>("set");
  const [value, setValue] = useState("");
  const [reason, setReason] = useState<(typeof REASONS)[number]>("promotion");
  const [comment, setComment] = useState("");
  const [sticky, setSticky] = useState(false);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    setSaved(false);
    if (!runId) {
      action.setProblem({ status: 0, title: "No finished run forecasts this SKU: there is nothing to adjust yet." });
      return;
    }
    const body: AdjustmentRequest = { start, end, reason, sticky, comment: comment || null };
    body[operation] = Number(value);
    const done = await action.run(() =>
      call<SkuResult>("POST", `${FORECAST}/runs/${enc(runId)}/results/${enc(sku)}/adjustments`, {
        body,
        headers: etag ? { "If-Match": etag } : {},
      }),
    );
    if (done) {
      setSaved(true);
      onSaved();
    }
  };
  return (
    <form class="card adjust" onSubmit={onSubmit} aria-labelledby="adjust-heading">
      <h2 id="adjust-heading">Adjust the forecast</h2>
      <div class="row">
        <Field label="From" id="adjust-from">
          <input ref={fromInput} id="adjust-from" type="date" required value={start} onInput={(event) => setStart(event.currentTarget.value)} />
        </Field>
        <InputField label="To" id="adjust-to" type="date" required value={end} onInput={(event) => setEnd(event.currentTarget.value)} />
        <SelectField
          label="Operation"
          id="adjust-operation"
          options={OPERATIONS}
          value={operation}
          onChange={(event) => setOperation(event.currentTarget.value as Operation)}
        />
        <InputField label="Value" id="adjust-value" type="number" step="any" required value={value} onInput={(event) => setValue(event.currentTarget.value)} />
        <SelectField
          label="Reason"
          id="adjust-reason"
          options={REASONS.map((name) => [name, name.replace("_", " ")] as const)}
          value={reason}
          onChange={(event) => setReason(event.currentTarget.value as (typeof REASONS)[number])}
        />
      </div>
      <Field label="Comment" id="adjust-comment">
        <textarea id="adjust-comment" rows={2} maxLength={1000} value={comment} onInput={(event) => setComment(event.currentTarget.value)} />
      </Field>
      <CheckField label="Sticky (also apply to later runs)" id="adjust-sticky" checked={sticky} onChange={(event) => setSticky(event.currentTarget.checked)} />
      <ProblemAlert problem={action.problem} />
      <Saved show={saved}>Adjustment saved.</Saved>
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy || !ready}>
          Save adjustment
        </button>
        <button type="button" onClick={onCancel}>
          Close
        </button>
      </div>
    </form>
  );
}

export function SkuDetail({ sku, forced }: { sku: string; forced: boolean }) {
  const me = useMe();
  const { query } = useLocation();
  const [adjustOpen, setAdjustOpen] = useState(false);
  const skuLoad = useLoad(() => get<Sku>(`${FORECAST}/skus/${enc(sku)}`), [sku]);
  const runsLoad = useLoad(finishedRuns, []);
  const runs = runsLoad.data ?? [];
  const runId = query.get("run") ?? runs[0]?.run_id;
  const run = runs.find((candidate) => candidate.run_id === runId);
  const demandLoad = useLoad(() => get<SkuDemand>(`${FORECAST}/skus/${enc(sku)}/demand`), [sku]);
  const resultLoad = useLoad<ResultAnswer | null>(async () => {
    if (!runId) return null;
    try {
      const answer = await call<SkuResult>("GET", `${FORECAST}/runs/${enc(runId)}/results/${enc(sku)}`);
      return { result: answer.data, etag: answer.headers.get("ETag") ?? answer.data.etag ?? null };
    } catch (error) {
      if (error instanceof ApiError && error.problem.status === 404) return null; // the run did not forecast it
      throw error;
    }
  }, [sku, runId]);
  const adjustmentsLoad = useLoad(
    () => (runId ? all<Adjustment>(`${FORECAST}/runs/${enc(runId)}/results/${enc(sku)}/adjustments`) : Promise.resolve([])),
    [sku, runId],
  );
  const contextLoad = useLoad(async () => {
    // Shading: flag drivers (promotions, displays) on, and the calendar's events for this SKU.
    const [drivers, values, calendar] = await Promise.all([
      all<Driver>(`${FORECAST}/drivers`).catch(() => [] as Driver[]),
      get<SkuDrivers>(`${FORECAST}/skus/${enc(sku)}/drivers`).catch(() => null),
      get<CalendarOut>(`${FORECAST}/calendar`).catch(() => null),
    ]);
    const flags = new Set(drivers.filter((driver) => driver.kind === "flag").map((driver) => driver.name));
    const driverDates = Object.entries(values?.drivers ?? {})
      .filter(([name]) => flags.has(name))
      .flatMap(([, points]) => points.filter((point) => point.value > 0).map((point) => point.date));
    const eventDates = (calendar?.events ?? [])
      .filter((event) => !event.skus || event.skus.includes(sku))
      .flatMap((event) => event.dates);
    return { driverDates, eventDates, flagNames: [...flags] };
  }, [sku]);

  const result = resultLoad.data?.result;
  const frequency = (run?.params.frequency as string | undefined) ?? "D";
  // A driver value of a weekly or monthly SKU covers its whole period; an event is one day.
  const grainStep = stepOf(skuLoad.data?.granularity);
  const shades = useMemo(
    () => [...spans(contextLoad.data?.driverDates ?? [], grainStep, "driver"), ...spans(contextLoad.data?.eventDates ?? [], DAY, "event")],
    [contextLoad.data, grainStep],
  );
  const data = useMemo(() => chartData({ demand: demandLoad.data, result, shades }), [demandLoad.data, result, shades]);
  const options = useMemo(() => chartOptions(shades, recentView(data)), [shades, data]);
  const chartAttributes = useMemo(() => {
    const points = (result?.forecast ?? []) as ForecastPoint[];
    const series = ["history"];
    if (points.length) series.push("forecast", "lo-80", "hi-80", "lo-95", "hi-95", "final");
    return {
      "data-testid": "sku-chart",
      "data-series": series.join(","),
      "data-history-points": String(demandLoad.data?.points.length ?? 0),
      "data-forecast-points": String(points.length),
      "data-anomalies": String(demandLoad.data?.points.filter((point) => point.anomaly).length ?? 0),
      "data-shaded-periods": String(shades.length),
      "data-final": JSON.stringify(points.map((point) => num(point.final) ?? num(point.mean))),
      "data-adjusted-periods": points
        .filter((point) => num(point.final) !== null && num(point.final) !== num(point.mean))
        .map((point) => point.date)
        .join(","),
    };
  }, [demandLoad.data, result, shades]);

  if (skuLoad.problem?.status === 404) return <NotFound />;

  const mayAdjust = can(me?.role, "analyst");
  const showForm = forced || (adjustOpen && mayAdjust);
  const forecastPoints = (result?.forecast ?? []) as ForecastPoint[];
  const refresh = () => {
    resultLoad.reload();
    adjustmentsLoad.reload();
  };
  const pickRun = (value: string) => {
    const params = new URLSearchParams(window.location.search);
    params.set("run", value);
    navigate(`${window.location.pathname}?${params.toString()}`, true);
  };
  const closeForm = () => {
    setAdjustOpen(false);
    if (forced) navigate(`/skus/${enc(sku)}${window.location.search}`, true);
  };
  const loadingAny = skuLoad.loading || demandLoad.loading || resultLoad.loading;

  return (
    <>
      <p class="crumbs">
        <Link href="/skus">SKUs</Link> /
      </p>
      <h1 class="sku-name">{skuLoad.data?.sku ?? sku}</h1>
      <ProblemAlert problem={skuLoad.problem} />
      {skuLoad.data ? (
        <dl class="facts">
          <Fact term="Class">{skuLoad.data.demand_class ?? "—"}</Fact>
          <Fact term="Grain">{skuLoad.data.granularity ?? "D"}</Fact>
          <Fact term="Periods">{fmtNumber(skuLoad.data.n_periods, 0)}</Fact>
          <Fact term="History">
            {skuLoad.data.first_date ?? "—"} to {skuLoad.data.last_date ?? "—"}
          </Fact>
          <Fact term="Total">{fmtNumber(skuLoad.data.total_quantity)}</Fact>
          {Object.entries(skuLoad.data.attributes ?? {}).map(([name, value]) => (
            <Fact key={name} term={name}>
              {value}
            </Fact>
          ))}
        </dl>
      ) : null}

      <div class="toolbar">
        <div class="field inline">
          <label for="sku-run">Run</label>
          <select id="sku-run" value={runId ?? ""} onChange={(event) => pickRun(event.currentTarget.value)} disabled={!runs.length}>
            {runs.length === 0 ? <option value="">No finished run</option> : null}
            {runs.map((candidate) => (
              <option key={candidate.run_id} value={candidate.run_id}>
                {runLabel(candidate)} · {fmtTime(candidate.created_at)}
              </option>
            ))}
          </select>
        </div>
        {mayAdjust && !showForm ? (
          <button type="button" class="primary" onClick={() => setAdjustOpen(true)} disabled={!result || !!result.error}>
            Adjust
          </button>
        ) : null}
      </div>

      {showForm && !runsLoad.loading && !runId ? (
        <p class="muted">No finished run forecasts this SKU yet: there is nothing to adjust.</p>
      ) : null}
      {showForm ? (
        <AdjustForm
          ready={!runsLoad.loading && !resultLoad.loading && !!runId}
          runId={runId}
          sku={skuLoad.data?.sku ?? sku}
          etag={resultLoad.data?.etag ?? null}
          firstDate={forecastPoints[0]?.date ?? ""}
          onSaved={refresh}
          onCancel={closeForm}
        />
      ) : null}

      <Section title="History and forecast">
        {loadingAny ? <Loading /> : null}
        <ProblemAlert problem={demandLoad.problem ?? resultLoad.problem} />
        {!resultLoad.loading && runId && resultLoad.data === null ? <Empty>This run has no forecast for this SKU.</Empty> : null}
        {result?.error ? (
          <p class="problem" role="note">
            This SKU's forecast failed: {result.error.message ?? result.error.code}
          </p>
        ) : null}
        {demandLoad.data ? (
          <Chart
            label="History and forecast"
            attributes={chartAttributes}
            data={data}
            options={options}
            height={340}
            description={`History, ${result?.method ? `the ${result.method} forecast` : "the forecast"} with its 80 % and 95 % bands, the final forecast after adjustments (dashed), anomalies (red dots), promotion periods (green) and events (amber). Drag across the chart to zoom; double-click to see all history.`}
          />
        ) : null}
        {result ? (
          <p class="muted small">
            Method {result.method ?? "—"} · class {result.demand_class ?? "—"}
            {result.drivers_used?.length ? ` · drivers ${result.drivers_used.join(", ")}` : ""}
            {result.adjustments ? ` · ${result.adjustments} adjustment(s) shape the final forecast` : ""}
          </p>
        ) : null}
        {result?.warnings?.length ? (
          <ul class="warnings">
            {result.warnings.map((warning, index) => (
              <li key={index}>{warning.message ?? warning.code}</li>
            ))}
          </ul>
        ) : null}
      </Section>

      {forecastPoints.length ? (
        <Section title="Forecast">
          <Table
            class="compact"
            caption="Forecast by period"
            columns={["Date", numColumn("Forecast"), numColumn("Final"), numColumn("80 % interval"), numColumn("95 % interval")]}
          >
            {forecastPoints.map((point) => (
              <tr key={point.date} class={num(point.final) !== num(point.mean) ? "adjusted" : undefined}>
                <td>{point.date}</td>
                <td class="num">{fmtNumber(num(point.mean), 2)}</td>
                <td class="num">{fmtNumber(num(point.final) ?? num(point.mean), 2)}</td>
                <td class="num">
                  {fmtNumber(num(point.lo_80), 1)} – {fmtNumber(num(point.hi_80), 1)}
                </td>
                <td class="num">
                  {fmtNumber(num(point.lo_95), 1)} – {fmtNumber(num(point.hi_95), 1)}
                </td>
              </tr>
            ))}
          </Table>
        </Section>
      ) : null}

      <Section title="Adjustment history">
        <LoadState loaded={adjustmentsLoad} problem={adjustmentsLoad.problem?.status === 404 ? null : adjustmentsLoad.problem}>
          {(items) => <AdjustmentsTable items={items} />}
        </LoadState>
      </Section>

      <AccuracySection result={result} demand={demandLoad.data} run={run} />
      {frequency !== "D" ? <p class="muted small">Actuals are summed over each forecast period.</p> : null}
    </>
  );
}

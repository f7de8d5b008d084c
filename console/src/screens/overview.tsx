import { useMemo } from "preact/hooks";
import type uPlot from "uplot";
import { FORECAST, can, get, post, type AccuracyItem, type Alert, type Page, type Run } from "../api";
import { Chart } from "../chart";
import { Link } from "../router";
import { RunCells } from "./runs";
import { useMe } from "../session";
import { Empty, Loading, LoadState, ProblemAlert, RowButton, Section, Table, fmtPct, fmtTime, noItems, num, useAction, useLoad } from "../ui";

function isoMonthsAgo(months: number): string {
  const date = new Date();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() - months);
  return date.toISOString().slice(0, 10);
}

interface PeriodAccuracy {
  period: string;
  points: number;
  forecast: number;
  naive: number;
  final: number;
}

/** WAPE per month over all runs, weighted by the points each scored (forecast, naive, final). */
function byPeriod(items: AccuracyItem[]): PeriodAccuracy[] {
  const rows = new Map<string, PeriodAccuracy>();
  for (const item of items) {
    if (item.metrics?.wape == null) continue;
    const weight = item.points_scored || 1;
    const row = rows.get(item.period) ?? { period: item.period, points: 0, forecast: 0, naive: 0, final: 0 };
    row.points += weight;
    row.forecast += item.metrics.wape * weight;
    row.naive += (item.naive?.wape ?? item.metrics.wape) * weight;
    row.final += (item.final?.wape ?? item.metrics.wape) * weight;
    rows.set(item.period, row);
  }
  return [...rows.values()]
    .sort((a, b) => a.period.localeCompare(b.period))
    .map((row) => ({ ...row, forecast: row.forecast / row.points, naive: row.naive / row.points, final: row.final / row.points }));
}

function accuracySeries(rows: PeriodAccuracy[]): uPlot.AlignedData {
  const xs = rows.map((row) => Date.parse(`${row.period.slice(0, 7)}-01T00:00:00Z`) / 1000);
  return [xs, rows.map((row) => row.forecast * 100), rows.map((row) => row.naive * 100), rows.map((row) => row.final * 100)];
}

const MONTH = 31 * 86400;
function accuracyOptions(data: uPlot.AlignedData): Omit<uPlot.Options, "width" | "height"> {
  const xs = data[0] as number[];
  const top = Math.max(10, ...(data.slice(1).flat() as number[]).filter(Number.isFinite)) * 1.15;
  return {
  // A month or two of scores still gets a readable axis (uPlot would spread one point over years).
  scales: { x: { time: true, range: (): uPlot.Range.MinMax => [xs[0] - MONTH, xs[xs.length - 1] + MONTH] }, y: { range: (): uPlot.Range.MinMax => [0, top] } },
  axes: [{}, { label: "WAPE %" }],
  series: [
    {},
    { label: "Forecast", stroke: "#1f5fa8", width: 2, points: { show: true, size: 8 } },
    { label: "Seasonal naive", stroke: "#6b6b6b", dash: [4, 4], points: { show: true, size: 8 } },
    { label: "Final (adjusted)", stroke: "#b5470b", width: 2, points: { show: true, size: 8 } },
  ],
  };
}

function AccuracyOverTime() {
  const from = isoMonthsAgo(12);
  const to = new Date().toISOString().slice(0, 10);
  const loaded = useLoad(() => get<Page<AccuracyItem>>(`${FORECAST}/accuracy`, { from, to, by: "run", limit: 1000 }), []);
  const rows = useMemo(() => (loaded.data ? byPeriod(loaded.data.items) : []), [loaded.data]);
  const data = useMemo(() => (rows.length ? accuracySeries(rows) : null), [rows]);
  const options = useMemo(() => (data ? accuracyOptions(data) : null), [data]);
  return (
    <Section title="Accuracy over time">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {!loaded.loading && !loaded.problem && !data ? (
        <Empty>No accuracy yet: runs are scored once actuals arrive for the dates they forecast.</Empty>
      ) : null}
      {data && options ? (
        <Chart
          label="Accuracy over time"
          data={data}
          options={options}
          height={240}
          description="WAPE against actuals per month: the forecast, the seasonal-naive benchmark and the final (adjusted) forecast. Lower is better."
        />
      ) : null}
      {rows.length ? (
        <Table class="compact" caption="Accuracy by month" columns={["Month", num("Forecast WAPE"), num("Seasonal naive WAPE"), num("Final WAPE"), num("Points scored")]}>
          {rows.map((row) => (
            <tr key={row.period}>
              <td>{row.period}</td>
              <td class="num">{fmtPct(row.forecast)}</td>
              <td class="num">{fmtPct(row.naive)}</td>
              <td class="num">{fmtPct(row.final)}</td>
              <td class="num">{row.points}</td>
            </tr>
          ))}
      </Table>
      ) : null}
    </Section>
  );
}

function LatestRuns() {
  const loaded = useLoad(() => get<Page<Run>>(`${FORECAST}/runs`, { limit: 10 }), []);
  return (
    <Section title="Runs">
      <LoadState
        loaded={loaded}
        isEmpty={noItems}
        empty={
          <>
            No runs yet. <Link href="/runs/new">Start one</Link> after an upload.
          </>
        }
      >
        {(page) => (
          <Table caption="Latest runs" columns={["Run", "Name", "Status", "Created"]}>
            {page.items.map((run) => (
              <tr key={run.run_id}>
                <RunCells run={run} />
                <td class="time">{fmtTime(run.created_at)}</td>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
      <p>
        <Link href="/runs">All runs</Link>
      </p>
    </Section>
  );
}

/** An alert's detail in a sentence: the fields each kind carries, else its first few. */
function describe(alert: Alert): string {
  const detail = alert.detail as Record<string, unknown>;
  const number = (value: unknown) => (typeof value === "number" ? String(Math.round(value * 1000) / 1000) : String(value));
  if (typeof detail.message === "string") return detail.message;
  const parts: string[] = [];
  if (detail.direction) parts.push(`demand ${String(detail.direction)} the forecast's band`);
  if (detail.periods) parts.push(`for ${number(detail.periods)} periods`);
  if (detail.start && detail.end) parts.push(`${String(detail.start)} to ${String(detail.end)}`);
  if (detail.wape != null) parts.push(`WAPE ${number(detail.wape)}`);
  if (detail.threshold != null) parts.push(`threshold ${number(detail.threshold)}`);
  if (parts.length) return parts.join(", ");
  return Object.entries(detail)
    .filter(([, value]) => typeof value !== "object")
    .slice(0, 4)
    .map(([key, value]) => `${key}: ${number(value)}`)
    .join(", ");
}

function OpenAlerts() {
  const me = useMe();
  const loaded = useLoad(() => get<Page<Alert>>(`${FORECAST}/alerts`, { status: "open", limit: 50 }), []);
  const action = useAction();
  const acknowledge = async (alert: Alert) => {
    const done = await action.run(() => post<Alert>(`${FORECAST}/alerts/${encodeURIComponent(alert.alert_id)}/acknowledge`));
    if (done) loaded.reload();
  };
  const mayAcknowledge = can(me?.role, "analyst");
  return (
    <Section title="Alerts">
      <LoadState loaded={loaded} problem={loaded.problem ?? action.problem} isEmpty={noItems} empty="No open alerts.">
        {(page) => (
          <Table caption="Open alerts" columns={["Kind", "SKU", "Run", "Created", "Detail", mayAcknowledge && "Action"]}>
            {page.items.map((alert) => (
              <tr key={alert.alert_id}>
                <td>{alert.kind.replace(/_/g, " ")}</td>
                <td>{alert.sku ? <Link href={`/skus/${encodeURIComponent(alert.sku)}`}>{alert.sku}</Link> : "—"}</td>
                <td>{alert.run_id ? <Link href={`/runs/${encodeURIComponent(alert.run_id)}`}>{alert.run_id}</Link> : "—"}</td>
                <td class="time">{fmtTime(alert.created_at)}</td>
                <td>{describe(alert)}</td>
                {mayAcknowledge ? (
                  <RowButton onClick={() => acknowledge(alert)} disabled={action.busy}>
                    Acknowledge
                  </RowButton>
                ) : null}
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
    </Section>
  );
}

export function Overview() {
  return (
    <>
      <h1>Overview</h1>
      <LatestRuns />
      <OpenAlerts />
      <AccuracyOverTime />
    </>
  );
}


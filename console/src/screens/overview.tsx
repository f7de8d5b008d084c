import { useMemo } from "preact/hooks";
import type uPlot from "uplot";
import { FORECAST, can, get, post, type AccuracyItem, type Alert, type Page, type Run } from "../api";
import { Chart } from "../chart";
import { Link } from "../router";
import { useMe } from "../session";
import { Empty, Loading, ProblemAlert, Section, fmtTime, useAction, useLoad } from "../ui";

function isoMonthsAgo(months: number): string {
  const date = new Date();
  date.setUTCDate(1);
  date.setUTCMonth(date.getUTCMonth() - months);
  return date.toISOString().slice(0, 10);
}

/** WAPE per month over all runs, weighted by the points each scored (forecast, naive, final). */
function accuracySeries(items: AccuracyItem[]): uPlot.AlignedData | null {
  const byPeriod = new Map<string, { weight: number; forecast: number; naive: number; final: number }>();
  for (const item of items) {
    const weight = item.points_scored || 1;
    const row = byPeriod.get(item.period) ?? { weight: 0, forecast: 0, naive: 0, final: 0 };
    if (item.metrics?.wape == null) continue;
    row.weight += weight;
    row.forecast += item.metrics.wape * weight;
    row.naive += (item.naive?.wape ?? item.metrics.wape) * weight;
    row.final += (item.final?.wape ?? item.metrics.wape) * weight;
    byPeriod.set(item.period, row);
  }
  const periods = [...byPeriod.keys()].sort();
  if (periods.length === 0) return null;
  const xs = periods.map((period) => Date.parse(`${period.slice(0, 7)}-01T00:00:00Z`) / 1000);
  const pick = (key: "forecast" | "naive" | "final") => periods.map((period) => {
    const row = byPeriod.get(period)!;
    return (row[key] / row.weight) * 100;
  });
  return [xs, pick("forecast"), pick("naive"), pick("final")];
}

const ACCURACY_OPTIONS: Omit<uPlot.Options, "width" | "height"> = {
  scales: { x: { time: true } },
  axes: [{}, { label: "WAPE %" }],
  series: [
    {},
    { label: "Forecast", stroke: "#1f5fa8", width: 2, points: { show: true } },
    { label: "Seasonal naive", stroke: "#6b6b6b", dash: [4, 4], points: { show: true } },
    { label: "Final (adjusted)", stroke: "#b5470b", width: 2, points: { show: true } },
  ],
};

function AccuracyOverTime() {
  const from = isoMonthsAgo(12);
  const to = new Date().toISOString().slice(0, 10);
  const loaded = useLoad(() => get<Page<AccuracyItem>>(`${FORECAST}/accuracy`, { from, to, by: "run", limit: 1000 }), []);
  const data = useMemo(() => (loaded.data ? accuracySeries(loaded.data.items) : null), [loaded.data]);
  return (
    <Section title="Accuracy over time">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {!loaded.loading && !loaded.problem && !data ? (
        <Empty>No accuracy yet: runs are scored once actuals arrive for the dates they forecast.</Empty>
      ) : null}
      {data ? (
        <Chart
          label="Accuracy over time"
          data={data}
          options={ACCURACY_OPTIONS}
          height={240}
          description="WAPE against actuals per month: the forecast, the seasonal-naive benchmark and the final (adjusted) forecast. Lower is better."
        />
      ) : null}
    </Section>
  );
}

function LatestRuns() {
  const loaded = useLoad(() => get<Page<Run>>(`${FORECAST}/runs`, { limit: 10 }), []);
  return (
    <Section title="Runs">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        loaded.data.items.length === 0 ? (
          <Empty>
            No runs yet. <Link href="/runs/new">Start one</Link> after an upload.
          </Empty>
        ) : (
          <table>
            <caption>Latest runs</caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.items.map((run) => (
                <tr key={run.run_id}>
                  <td>
                    <Link href={`/runs/${encodeURIComponent(run.run_id)}`}>{run.run_id}</Link>
                  </td>
                  <td>{run.name ?? "—"}</td>
                  <td>
                    <span class={`status status-${run.status.toLowerCase()}`}>{run.status}</span>
                  </td>
                  <td class="time">{fmtTime(run.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      <p>
        <Link href="/runs">All runs</Link>
      </p>
    </Section>
  );
}

function describe(alert: Alert): string {
  const detail = alert.detail as Record<string, unknown>;
  if (typeof detail.message === "string") return detail.message;
  return Object.entries(detail)
    .slice(0, 4)
    .map(([key, value]) => `${key}: ${typeof value === "number" ? Math.round(value * 1000) / 1000 : String(value)}`)
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
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem ?? action.problem} />
      {loaded.data ? (
        loaded.data.items.length === 0 ? (
          <Empty>No open alerts.</Empty>
        ) : (
          <table>
            <caption>Open alerts</caption>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">SKU</th>
                <th scope="col">Run</th>
                <th scope="col">Created</th>
                <th scope="col">Detail</th>
                {mayAcknowledge ? <th scope="col">Action</th> : null}
              </tr>
            </thead>
            <tbody>
              {loaded.data.items.map((alert) => (
                <tr key={alert.alert_id}>
                  <td>{alert.kind.replace(/_/g, " ")}</td>
                  <td>{alert.sku ? <Link href={`/skus/${encodeURIComponent(alert.sku)}`}>{alert.sku}</Link> : "—"}</td>
                  <td>{alert.run_id ? <Link href={`/runs/${encodeURIComponent(alert.run_id)}`}>{alert.run_id}</Link> : "—"}</td>
                  <td class="time">{fmtTime(alert.created_at)}</td>
                  <td>{describe(alert)}</td>
                  {mayAcknowledge ? (
                    <td>
                      <button type="button" onClick={() => acknowledge(alert)} disabled={action.busy}>
                        Acknowledge
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </Section>
  );
}

export function Overview() {
  return (
    <>
      <h1>Overview</h1>
      <div class="grid">
        <LatestRuns />
        <OpenAlerts />
      </div>
      <AccuracyOverTime />
    </>
  );
}


// Shared pieces: loading, problems, tables, formatting.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, FORECAST, get, type Page, type Problem, type Run } from "./api";

export function toProblem(error: unknown): Problem {
  if (error instanceof ApiError) return error.problem;
  return { status: 0, title: "Something went wrong", detail: String(error) };
}

/** A problem document shown as the API said it: title, detail and each field error. */
export function ProblemAlert({ problem }: { problem: Problem | null | undefined }) {
  if (!problem) return null;
  return (
    <div role="alert" class="problem">
      <strong>{problem.title}</strong>
      {problem.status ? <span class="muted"> ({problem.status})</span> : null}
      {problem.detail ? <p>{problem.detail}</p> : null}
      {problem.errors?.length ? (
        <ul>
          {problem.errors.map((error, index) => (
            <li key={index}>
              {error.field ? <code>{error.field}</code> : null} {error.message ?? error.code}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Loading({ what }: { what?: string }) {
  return (
    <p class="muted" role="status">
      Loading{what ? ` ${what}` : ""}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export interface Loaded<T> {
  data: T | undefined;
  problem: Problem | null;
  loading: boolean;
  reload: () => void;
  set: (value: T) => void;
}

/** Loads on mount and when deps change; a later answer never overwrites a newer one. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    setLoading(true);
    load().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setProblem(null);
        setLoading(false);
      },
      (error) => {
        if (mine !== generation.current) return;
        setProblem(toProblem(error));
        setLoading(false);
      },
    );
    // deps are the caller's: the loader closes over them
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((value) => value + 1), []);
  return { data, problem, loading, reload, set: setData };
}

/** Runs an action, holding its problem and busy flag for the form that started it. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const run = useCallback(async <T,>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setProblem(null);
    try {
      return await action();
    } catch (error) {
      setProblem(toProblem(error));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, problem, run, setProblem };
}

let ids = 0;
/** A stable unique id for label/for pairs. */
export function useId(prefix: string): string {
  const ref = useRef<string>();
  if (!ref.current) ref.current = `${prefix}-${++ids}`;
  return ref.current;
}

export function fmtNumber(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return value.toLocaleString("en-US", { maximumFractionDigits: digits });
}

export function fmtPct(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return `${(value * 100).toFixed(1)} %`;
}

export function fmtTime(value: string | null | undefined): string {
  if (!value) return "—";
  return value.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const headingId = useId(id ?? "section");
  return (
    <section aria-labelledby={headingId} class="card">
      <h2 id={headingId}>{title}</h2>
      {children}
    </section>
  );
}

/** Field: a labelled control (label for=id) with an optional hint. */
export function Field({ label, children, id, hint }: { label: string; id: string; children: ComponentChildren; hint?: string }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint ? <small class="muted">{hint}</small> : null}
    </div>
  );
}

/**
 * Previous/next over an opaque cursor: a stack of the cursors that opened each page. A new
 * resetKey (other filters) starts again from the first page in the same render, so a cursor is
 * never sent with filters it was not issued for.
 */
export function useCursorPages(resetKey: string) {
  const [state, setState] = useState<{ key: string; stack: (string | null)[] }>({ key: resetKey, stack: [null] });
  const stack = state.key === resetKey ? state.stack : [null];
  // Remember the reset, so that coming back to earlier filters starts at their first page too.
  useEffect(() => {
    if (state.key !== resetKey) setState({ key: resetKey, stack: [null] });
  }, [state.key, resetKey]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    next: (nextCursor: string) => setState({ key: resetKey, stack: [...stack, nextCursor] }),
    previous: () => setState({ key: resetKey, stack: stack.length > 1 ? stack.slice(0, -1) : stack }),
  };
}

export type CursorPages = ReturnType<typeof useCursorPages>;

/** A cursor-paged list: the pages and the load of the current one (resetKey as in useCursorPages). */
export function usePagedLoad<T>(resetKey: string, load: (cursor: string | undefined) => Promise<Page<T>>, deps: unknown[]) {
  const pages = useCursorPages(resetKey);
  const loaded = useLoad(() => load(pages.cursor ?? undefined), [...deps, pages.cursor]);
  return { pages, loaded };
}

export function Pager({ pages, page }: { pages: CursorPages; page: Page<unknown> }) {
  const nextCursor = page.next_cursor;
  return (
    <div class="pager">
      <button type="button" onClick={pages.previous} disabled={pages.page <= 1}>
        Previous page
      </button>
      <span class="muted">Page {pages.page}</span>
      <button type="button" onClick={() => nextCursor && pages.next(nextCursor)} disabled={!nextCursor}>
        Next page
      </button>
    </div>
  );
}

/**
 * A load's states in one place: "Loading…", its problem, then the data, or the empty note when
 * isEmpty says so. `problem` replaces the load's own (e.g. to add an action's, or hide a 404);
 * `note` stands between the problem and the data; `pages` adds the pager under the data when
 * there is any.
 */
export function LoadState<T>({
  loaded,
  what,
  problem = loaded.problem,
  note,
  pages,
  empty,
  isEmpty,
  children,
}: {
  loaded: Loaded<T>;
  what?: string;
  problem?: Problem | null;
  note?: ComponentChildren;
  pages?: CursorPages;
  empty?: ComponentChildren;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ComponentChildren;
}) {
  const data = loaded.data;
  return (
    <>
      {loaded.loading ? <Loading what={what} /> : null}
      <ProblemAlert problem={problem} />
      {note}
      {data ? (
        isEmpty?.(data) ? (
          <Empty>{empty}</Empty>
        ) : (
          <>
            {children(data)}
            {pages ? <Pager pages={pages} page={data as unknown as Page<unknown>} /> : null}
          </>
        )
      ) : null}
    </>
  );
}

export const noItems = (page: Page<unknown> | unknown[]) => (Array.isArray(page) ? page : page.items).length === 0;

/** A column heading: its text, right-aligned (class "num") when it heads numbers. */
export type Column = string | { label: ComponentChildren; num: true } | false | null;

export const num = (label: ComponentChildren): Column => ({ label, num: true });

/** A data table: caption, one header row (falsy columns left out, e.g. an admin-only "Action"), rows. */
export function Table({
  caption,
  columns,
  class: className,
  children,
}: {
  caption: ComponentChildren;
  columns: Column[];
  class?: string;
  children: ComponentChildren;
}) {
  return (
    <table class={className}>
      <caption>{caption}</caption>
      <thead>
        <tr>
          {columns.map((column, index) =>
            !column ? null : typeof column === "string" ? (
              <th key={index} scope="col">
                {column}
              </th>
            ) : (
              <th key={index} scope="col" class="num">
                {column.label}
              </th>
            ),
          )}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

/** A row's button in its own cell, named for the row ("Delete driver promo"). */
export function RowButton({ label, onClick, disabled, children }: { label?: string; onClick: () => void; disabled?: boolean; children: ComponentChildren }) {
  return (
    <td>
      <button type="button" onClick={onClick} disabled={disabled} aria-label={label}>
        {children}
      </button>
    </td>
  );
}

/** One term of a facts list (`dl.facts`). */
export function Fact({ term, children }: { term: string; children: ComponentChildren }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status}</span>;
}

export const FINAL_RUN = new Set(["SUCCEEDED", "PARTIAL", "FAILED", "CANCELLED"]);
export const FORECAST_READY = new Set(["SUCCEEDED", "PARTIAL"]);

/** The finished runs that have a forecast to show (the latest 50, newest first). */
export function finishedRuns(): Promise<Run[]> {
  return get<Page<Run>>(`${FORECAST}/runs`, { limit: 50 }).then((page) => page.items.filter((run) => FORECAST_READY.has(run.status)));
}

/** A run as a choice: "name · id", or the id alone. */
export function runLabel(run: Run): string {
  return `${run.name ? `${run.name} · ` : ""}${run.run_id}`;
}

/** The sum of a forecast's points (`key`, else the mean). */
export function forecastTotal(points: unknown[], key: "mean" | "final"): number {
  return (points as Record<string, unknown>[]).reduce((sum, point) => {
    const value = point[key] ?? point.mean;
    return sum + (typeof value === "number" ? value : 0);
  }, 0);
}

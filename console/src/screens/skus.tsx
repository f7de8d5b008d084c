import { useEffect, useRef, useState } from "preact/hooks";
import { FORECAST, enc, get, type Page, type Sku, type SkuDemand } from "../api";
import { Sparkline } from "../chart";
import { Link, navigate, useLocation } from "../router";
import { InputField, SelectField } from "../forms";
import { Empty, Loading, Pager, ProblemAlert, Table, fmtNumber, num, usePagedLoad } from "../ui";

const CLASSES = ["smooth", "erratic", "intermittent", "lumpy", "new", "inactive"];
const PAGE_SIZE = 50;
const SPARK_DAYS = 91;
const SEARCH_PAUSE_MS = 300; // after the last keystroke, one request

// Sparklines load lazily, a few at a time, for rows that scroll into view: a page never asks
// for 50 series at once, and a series is asked once per session.
const sparkCache = new Map<string, Promise<number[]>>();
let active = 0;
const waiting: (() => void)[] = [];
const MAX_PARALLEL = 4;

function slot<T>(work: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const start = () => {
      active++;
      work()
        .then(resolve, reject)
        .finally(() => {
          active--;
          waiting.shift()?.();
        });
    };
    if (active < MAX_PARALLEL) start();
    else waiting.push(start);
  });
}

function sparkValues(sku: Sku): Promise<number[]> {
  const key = `${sku.sku}\u0000${sku.last_date}`;
  let values = sparkCache.get(key);
  if (!values) {
    const end = sku.last_date ?? undefined;
    const start = end ? new Date(Date.parse(`${end}T00:00:00Z`) - SPARK_DAYS * 86400e3).toISOString().slice(0, 10) : undefined;
    values = slot(() => get<SkuDemand>(`${FORECAST}/skus/${enc(sku.sku)}/demand`, { start, end })).then((demand) =>
      demand.points.map((point) => point.quantity),
    );
    values.catch(() => sparkCache.delete(key));
    sparkCache.set(key, values);
  }
  return values;
}

function LazySpark({ sku }: { sku: Sku }) {
  const ref = useRef<HTMLSpanElement>(null);
  const [values, setValues] = useState<number[] | null>(null);
  useEffect(() => {
    const element = ref.current;
    if (!element || !sku.last_date) return;
    let cancelled = false;
    const observer = new IntersectionObserver((entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return;
      observer.disconnect();
      sparkValues(sku).then(
        (loaded) => !cancelled && setValues(loaded),
        () => !cancelled && setValues([]),
      );
    });
    observer.observe(element);
    return () => {
      cancelled = true;
      observer.disconnect();
    };
  }, [sku.sku, sku.last_date]);
  return (
    <span ref={ref} class="spark-cell">
      {values ? <Sparkline values={values} label={`Last ${SPARK_DAYS} days of ${sku.sku}`} /> : <span class="muted">…</span>}
    </span>
  );
}

export function Skus() {
  const { query } = useLocation();
  const demandClass = query.get("class") ?? "";
  const attrName = query.get("attr") ?? "";
  const attrValue = query.get("value") ?? "";
  const prefix = query.get("q") ?? "";
  const [search, setSearch] = useState(prefix);
  const [attrDraft, setAttrDraft] = useState(attrName);
  const [valueDraft, setValueDraft] = useState(attrValue);
  const filterKey = `${demandClass}|${attrName}|${attrValue}|${prefix}`;
  const { pages, loaded } = usePagedLoad(
    filterKey,
    (cursor) => {
      const filters: Record<string, string | number | undefined> = {
        limit: PAGE_SIZE,
        cursor,
        demand_class: demandClass || undefined,
        prefix: prefix || undefined,
      };
      if (attrName && attrValue) filters[`attr.${attrName}`] = attrValue;
      return get<Page<Sku>>(`${FORECAST}/skus`, filters);
    },
    [filterKey],
  );

  // Filters live in the URL, so a filtered list can be linked and the back button works.
  const setFilters = (changes: Record<string, string>) => {
    const params = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(changes)) {
      if (value) params.set(key, value);
      else params.delete(key);
    }
    const text = params.toString();
    navigate(`/skus${text ? `?${text}` : ""}`, true);
  };

  // The search asks the API for the SKUs whose name starts with the text (exactly as stored: the
  // catalog is in SKU order, so a prefix is a range of it), once typing pauses.
  useEffect(() => {
    if (search === prefix) return;
    const timer = setTimeout(() => setFilters({ q: search }), SEARCH_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [search]);
  const items = loaded.data?.items ?? [];

  return (
    <>
      <h1>SKUs</h1>
      <form
        class="filters card"
        onSubmit={(event) => {
          event.preventDefault();
          setFilters({ attr: attrDraft.trim(), value: valueDraft });
        }}
      >
        <InputField
          label="Search SKU"
          id="sku-search"
          hint="SKUs whose name starts with this (case as stored)"
          type="search"
          value={search}
          onInput={(event) => setSearch(event.currentTarget.value)}
        />
        <SelectField label="Demand class" id="sku-class" options={CLASSES} value={demandClass} onChange={(event) => setFilters({ class: event.currentTarget.value })}>
          <option value="">All classes</option>
        </SelectField>
        <InputField label="Attribute" id="sku-attr" value={attrDraft} placeholder="category" onInput={(event) => setAttrDraft(event.currentTarget.value)} />
        <InputField label="Value" id="sku-attr-value" value={valueDraft} onInput={(event) => setValueDraft(event.currentTarget.value)} />
        <div class="actions">
          <button type="submit">Apply filter</button>
          {attrName ? (
            <button
              type="button"
              onClick={() => {
                setAttrDraft("");
                setValueDraft("");
                setFilters({ attr: "", value: "" });
              }}
            >
              Clear filter
            </button>
          ) : null}
        </div>
      </form>
      <ProblemAlert problem={loaded.problem} />
      {loaded.loading ? <Loading what="SKUs" /> : null}
      {loaded.data && !loaded.loading ? (
        items.length === 0 ? (
          <Empty>
            {prefix || demandClass || attrName
              ? "No SKU matches."
              : "No SKUs yet: upload a demand file on the Uploads screen."}
          </Empty>
        ) : (
          <Table class="skus" caption="SKUs" columns={["SKU", "Class", num("Periods"), "Last date", num("Total"), `Last ${SPARK_DAYS} days`]}>
            {items.map((sku) => (
              <tr key={sku.sku}>
                <td>
                  <Link href={`/skus/${enc(sku.sku)}`}>{sku.sku}</Link>
                </td>
                <td>{sku.demand_class ?? "—"}</td>
                <td class="num">{fmtNumber(sku.n_periods, 0)}</td>
                <td>{sku.last_date ?? "—"}</td>
                <td class="num">{fmtNumber(sku.total_quantity)}</td>
                <td>
                  <LazySpark sku={sku} />
                </td>
              </tr>
            ))}
          </Table>
        )
      ) : null}
      {loaded.data ? <Pager pages={pages} page={loaded.data} /> : null}
    </>
  );
}

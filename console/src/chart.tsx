// uPlot in a Preact component: created on mount, rebuilt when its data or options change.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartProps {
  label: string;
  /** data-* attributes on the chart element: what the canvas draws, for tests and tools. */
  attributes?: Record<string, string>;
  data: uPlot.AlignedData;
  options: Omit<uPlot.Options, "width" | "height">;
  height?: number;
  description?: string;
}

export function Chart({ label, data, options, height = 320, description, attributes }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const width = () => Math.max(320, element.clientWidth);
    const plot = new uPlot({ ...options, width: width(), height }, data, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [data, options, height]);
  // The canvas is a picture to assistive technology; the tables beside it carry the numbers.
  return (
    <figure class="chart">
      <div ref={host} role="img" aria-label={label} {...attributes} />
      {description ? <figcaption class="muted">{description}</figcaption> : null}
    </figure>
  );
}

export function dateToSeconds(date: string): number {
  return Date.parse(`${date.slice(0, 10)}T00:00:00Z`) / 1000;
}

/** A tiny inline SVG line of the values (no chart library: one per table row). */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return <span class="muted">—</span>;
  const width = 96;
  const height = 24;
  const max = Math.max(...values, 1e-9);
  const step = width / (values.length - 1);
  const points = values.map((value, index) => `${(index * step).toFixed(1)},${(height - 2 - (value / max) * (height - 4)).toFixed(1)}`);
  return (
    <svg class="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <polyline points={points.join(" ")} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}

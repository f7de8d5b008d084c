import { useEffect, useRef, useState } from "preact/hooks";
import { FORECAST, can, enc, get, post, postFile, type Page, type Upload, type UploadTicket } from "../api";
import { useLocation } from "../router";
import { useMe } from "../session";
import { InputField, SelectField } from "../forms";
import { LoadState, ProblemAlert, Section, StatusBadge, Table, fmtNumber, fmtTime, noItems, num, toProblem, usePagedLoad } from "../ui";
import type { Problem } from "../api";

const KINDS = ["demand", "drivers", "attributes"] as const;
type Kind = (typeof KINDS)[number];
const PENDING = new Set(["AWAITING_FILE", "PROCESSING"]);
const POLL_MS = 1000;

function RejectedRows({ upload }: { upload: Upload }) {
  const errors = upload.errors ?? [];
  if (!errors.length) return null;
  return (
    <Table caption="Rejected rows" columns={[num("Row"), "Column", "Code", "Message"]}>
      {errors.map((error, index) => (
        <tr key={index}>
          <td class="num">{error.row ?? "—"}</td>
          <td>{error.column ?? "—"}</td>
          <td>
            <code>{error.code}</code>
          </td>
          <td>{error.message}</td>
        </tr>
      ))}
    </Table>
  );
}

function Report({ upload }: { upload: Upload }) {
  return (
    <div class="report">
      <p>
        <strong data-testid="upload-status" class={`status status-${upload.status.toLowerCase()}`}>
          {upload.status}
        </strong>{" "}
        {upload.filename ?? upload.upload_id}: {fmtNumber(upload.rows_accepted ?? 0, 0)} of {fmtNumber(upload.rows_total ?? 0, 0)} rows
        accepted, {fmtNumber(upload.rows_rejected ?? 0, 0)} rejected, {fmtNumber(upload.skus_touched ?? 0, 0)} SKUs touched
        {upload.granularity ? ` (grain ${upload.granularity})` : ""}.
      </p>
      {upload.warnings?.length ? (
        <ul class="warnings">
          {upload.warnings.map((warning, index) => (
            <li key={index}>{warning.message}</li>
          ))}
        </ul>
      ) : null}
      <RejectedRows upload={upload} />
      {(upload.rows_rejected ?? 0) > (upload.errors?.length ?? 0) ? (
        <p class="muted small">The first {upload.errors?.length ?? 0} rejected rows are listed.</p>
      ) : null}
    </div>
  );
}

function PastUploads({ refreshKey }: { refreshKey: number }) {
  const { pages, loaded } = usePagedLoad(String(refreshKey), (cursor) => get<Page<Upload>>(`${FORECAST}/uploads`, { limit: 20, cursor }), [refreshKey]);
  return (
    <Section title="Past uploads">
      <LoadState loaded={loaded} pages={pages} isEmpty={noItems} empty="No uploads yet.">
        {(page) => (
          <Table caption="Past uploads" columns={["Created", "File", "Kind", "Status", num("Accepted"), num("Rejected")]}>
            {page.items.map((upload) => (
              <tr key={upload.upload_id}>
                <td class="time">{fmtTime(upload.created_at)}</td>
                <td>{upload.filename ?? upload.upload_id}</td>
                <td>{upload.kind ?? "demand"}</td>
                <td>
                  <StatusBadge status={upload.status} />
                </td>
                <td class="num">{fmtNumber(upload.rows_accepted ?? 0, 0)}</td>
                <td class="num">{fmtNumber(upload.rows_rejected ?? 0, 0)}</td>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
    </Section>
  );
}

export function Uploads() {
  const me = useMe();
  const [kind, setKind] = useState<Kind>("demand");
  const [file, setFile] = useState<File | null>(null);
  const [dragging, setDragging] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const [phase, setPhase] = useState<string>("");
  const [upload, setUpload] = useState<Upload | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [refreshKey, setRefreshKey] = useState(0);
  const alive = useRef(true);
  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );

  const { query } = useLocation();
  // `?edit=1` shows the form to any role (the "forced" path): the API's 403 is then shown.
  const mayUpload = can(me?.role, "analyst") || query.get("edit") === "1";
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    if (!file) {
      setProblem({ status: 0, title: "Choose a file to upload first." });
      return;
    }
    setBusy(true);
    setProblem(null);
    setUpload(null);
    setProgress(0);
    try {
      setPhase("Asking for an upload slot…");
      const ticket = await post<UploadTicket>(`${FORECAST}/uploads`, { filename: file.name, kind });
      setPhase("Sending the file…");
      await postFile(ticket, file, (fraction) => alive.current && setProgress(fraction));
      setPhase("Processing…");
      // Ingestion runs after the file lands; its report is final once it leaves the pending states.
      let report = await get<Upload>(`${FORECAST}/uploads/${enc(ticket.upload_id)}`);
      while (alive.current && PENDING.has(report.status)) {
        setUpload(report);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        report = await get<Upload>(`${FORECAST}/uploads/${enc(ticket.upload_id)}`);
      }
      setUpload(report);
      setPhase("");
      setRefreshKey((value) => value + 1);
    } catch (error) {
      setProblem(toProblem(error));
      setPhase("");
    } finally {
      setBusy(false);
    }
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const dropped = event.dataTransfer?.files?.[0];
    if (dropped) setFile(dropped);
  };

  return (
    <>
      <h1>Uploads</h1>
      {mayUpload ? (
        <form class="card" onSubmit={onSubmit}>
          <div class="row">
            <SelectField label="Kind" id="upload-kind" options={KINDS} value={kind} onChange={(event) => setKind(event.currentTarget.value as Kind)} />
            <InputField
              label="File"
              id="upload-file"
              hint="CSV (optionally gzip) or Parquet: sku, date, quantity for demand"
              type="file"
              accept=".csv,.gz,.parquet,text/csv"
              onChange={(event) => setFile(event.currentTarget.files?.[0] ?? null)}
            />
          </div>
          <div
            class={`dropzone${dragging ? " dragging" : ""}`}
            onDragOver={(event) => {
              event.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
            data-testid="dropzone"
          >
            {file ? `Selected: ${file.name} (${fmtNumber(file.size / 1024, 1)} KB)` : "…or drop a file here"}
          </div>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              Upload
            </button>
            {progress !== null ? (
              <span class="progress-label">
                <span>{phase || "Sent"}</span>
                <progress max={1} value={progress} aria-label="Upload progress" />
              </span>
            ) : null}
          </div>
          <ProblemAlert problem={problem} />
        </form>
      ) : (
        <p class="muted">Your role can read uploads but not send them.</p>
      )}
      {upload ? (
        <Section title="Upload report">
          <div aria-live="polite">
            <Report upload={upload} />
          </div>
        </Section>
      ) : null}
      <PastUploads refreshKey={refreshKey} />
    </>
  );
}

import { useEffect, useState } from "preact/hooks";
import {
  AUTH,
  FORECAST,
  all,
  can,
  del,
  enc,
  get,
  post,
  put,
  type AlertSettings,
  type ApiKey,
  type CalendarOut,
  type CreatedApiKey,
  type Driver,
  type Hierarchy,
  type Schedule,
  type User,
} from "../api";
import { useLocation } from "../router";
import { useMe } from "../session";
import { Empty, Field, Loading, ProblemAlert, Section, fmtTime, useAction, useLoad } from "../ui";

function Saved({ show }: { show: boolean }) {
  return show ? (
    <p role="status" class="ok">
      Saved.
    </p>
  ) : null;
}

function ScheduleSection({ edit }: { edit: boolean }) {
  const loaded = useLoad(() => get<Schedule>(`${FORECAST}/schedule`), []);
  const [form, setForm] = useState({ enabled: false, cron: "0 6 * * MON", horizon: "28", frequency: "D", method: "auto" });
  const [saved, setSaved] = useState(false);
  const action = useAction();
  useEffect(() => {
    const schedule = loaded.data;
    if (schedule)
      setForm({
        enabled: !!schedule.enabled,
        cron: schedule.cron,
        horizon: String(schedule.horizon),
        frequency: schedule.frequency ?? "D",
        method: schedule.method ?? "auto",
      });
  }, [loaded.data]);
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    setSaved(false);
    const body = { enabled: form.enabled, cron: form.cron, horizon: Number(form.horizon), frequency: form.frequency, method: form.method };
    const done = await action.run(() => put<Schedule>(`${FORECAST}/schedule`, body));
    if (done) {
      loaded.set(done);
      setSaved(true);
    }
  };
  return (
    <Section title="Schedule">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        <p>
          {loaded.data.enabled ? "Enabled" : "Disabled"}: <code>{loaded.data.cron}</code>, horizon {loaded.data.horizon} {loaded.data.frequency},
          method {loaded.data.method}
          {loaded.data.next_run_at ? `; next run ${fmtTime(loaded.data.next_run_at)}` : ""}.
        </p>
      ) : null}
      {edit ? (
        <form onSubmit={onSubmit}>
          <div class="row">
            <div class="check">
              <input id="schedule-enabled" type="checkbox" checked={form.enabled} onChange={(event) => setForm({ ...form, enabled: event.currentTarget.checked })} />
              <label for="schedule-enabled">Enabled</label>
            </div>
            <Field label="Cron" id="schedule-cron" hint="minute hour day month weekday (UTC)">
              <input id="schedule-cron" value={form.cron} onInput={(event) => setForm({ ...form, cron: event.currentTarget.value })} />
            </Field>
            <Field label="Schedule horizon" id="schedule-horizon">
              <input id="schedule-horizon" type="number" min={1} value={form.horizon} onInput={(event) => setForm({ ...form, horizon: event.currentTarget.value })} />
            </Field>
            <Field label="Schedule frequency" id="schedule-frequency">
              <select id="schedule-frequency" value={form.frequency} onChange={(event) => setForm({ ...form, frequency: event.currentTarget.value })}>
                <option value="D">D</option>
                <option value="W">W</option>
                <option value="M">M</option>
              </select>
            </Field>
          </div>
          <ProblemAlert problem={action.problem} />
          <Saved show={saved} />
          <button type="submit" disabled={action.busy}>
            Save schedule
          </button>
        </form>
      ) : null}
    </Section>
  );
}

function CalendarSection({ edit }: { edit: boolean }) {
  const loaded = useLoad(() => get<CalendarOut>(`${FORECAST}/calendar`), []);
  const [holidays, setHolidays] = useState("");
  const [eventName, setEventName] = useState("");
  const [eventDates, setEventDates] = useState("");
  const [saved, setSaved] = useState(false);
  const action = useAction();
  useEffect(() => setHolidays((loaded.data?.holidays ?? []).join(", ")), [loaded.data]);
  const save = async (events: CalendarOut["events"]) => {
    setSaved(false);
    const body = {
      holidays: holidays
        .split(",")
        .map((code) => code.trim())
        .filter(Boolean),
      events,
    };
    const done = await action.run(() => put<CalendarOut>(`${FORECAST}/calendar`, body));
    if (done) {
      loaded.set(done);
      setSaved(true);
      setEventName("");
      setEventDates("");
    }
  };
  const current = loaded.data?.events ?? [];
  const onSubmit = (event: Event) => {
    event.preventDefault();
    const dates = eventDates
      .split(/[,\s]+/)
      .map((date) => date.trim())
      .filter(Boolean);
    save(eventName.trim() && dates.length ? [...current, { name: eventName.trim(), dates }] : current);
  };
  return (
    <Section title="Calendar">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        <>
          <p>Public holidays: {loaded.data.holidays.length ? loaded.data.holidays.join(", ") : "none"}</p>
          {current.length ? (
            <table>
              <caption>Events</caption>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Dates</th>
                  <th scope="col">SKUs</th>
                  {edit ? <th scope="col">Action</th> : null}
                </tr>
              </thead>
              <tbody>
                {current.map((item, index) => (
                  <tr key={`${item.name}-${index}`}>
                    <td>{item.name}</td>
                    <td>{item.dates.join(", ")}</td>
                    <td>{item.skus?.join(", ") ?? "all"}</td>
                    {edit ? (
                      <td>
                        <button type="button" onClick={() => save(current.filter((_, other) => other !== index))} aria-label={`Remove event ${item.name}`}>
                          Remove
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <Empty>No events.</Empty>
          )}
        </>
      ) : null}
      {edit ? (
        <form onSubmit={onSubmit}>
          <div class="row">
            <Field label="Holidays" id="calendar-holidays" hint="ISO codes, comma separated: US, DE-BY">
              <input id="calendar-holidays" value={holidays} onInput={(event) => setHolidays(event.currentTarget.value)} />
            </Field>
            <Field label="Event name" id="calendar-event">
              <input id="calendar-event" value={eventName} onInput={(event) => setEventName(event.currentTarget.value)} />
            </Field>
            <Field label="Event dates" id="calendar-dates" hint="YYYY-MM-DD, comma separated">
              <input id="calendar-dates" value={eventDates} onInput={(event) => setEventDates(event.currentTarget.value)} />
            </Field>
          </div>
          <ProblemAlert problem={action.problem} />
          <Saved show={saved} />
          <button type="submit" disabled={action.busy}>
            Save calendar
          </button>
        </form>
      ) : null}
    </Section>
  );
}

function DriversSection({ edit }: { edit: boolean }) {
  const loaded = useLoad(() => all<Driver>(`${FORECAST}/drivers`), []);
  const [form, setForm] = useState({ name: "", kind: "flag", known: true, aggregate: "mean" });
  const action = useAction();
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const body = { kind: form.kind, known_in_advance: form.known, aggregate: form.aggregate };
    const done = await action.run(() => put<Driver>(`${FORECAST}/drivers/${enc(form.name.trim())}`, body));
    if (done) {
      setForm({ ...form, name: "" });
      loaded.reload();
    }
  };
  const remove = async (name: string) => {
    await action.run(() => del(`${FORECAST}/drivers/${enc(name)}`));
    loaded.reload();
  };
  return (
    <Section title="Drivers">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        loaded.data.length === 0 ? (
          <Empty>No drivers declared.</Empty>
        ) : (
          <table>
            <caption>Declared drivers</caption>
            <thead>
              <tr>
                <th scope="col">Driver</th>
                <th scope="col">Kind</th>
                <th scope="col">Known in advance</th>
                <th scope="col">Aggregate</th>
                <th scope="col" class="num">
                  SKUs with values
                </th>
                <th scope="col">Dates</th>
                {edit ? <th scope="col">Action</th> : null}
              </tr>
            </thead>
            <tbody>
              {loaded.data.map((driver) => (
                <tr key={driver.name}>
                  <td>{driver.name}</td>
                  <td>{driver.kind}</td>
                  <td>{driver.known_in_advance ? "yes" : "no"}</td>
                  <td>{driver.aggregate}</td>
                  <td class="num">{driver.skus_with_values}</td>
                  <td>
                    {driver.first_date ?? "—"} to {driver.last_date ?? "—"}
                  </td>
                  {edit ? (
                    <td>
                      <button type="button" onClick={() => remove(driver.name)} aria-label={`Delete driver ${driver.name}`}>
                        Delete
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      {edit ? (
        <form onSubmit={onSubmit}>
          <div class="row">
            <Field label="Driver name" id="driver-name" hint="lower case: promo, price">
              <input id="driver-name" required pattern="[a-z][a-z0-9_]{0,39}" value={form.name} onInput={(event) => setForm({ ...form, name: event.currentTarget.value })} />
            </Field>
            <Field label="Driver kind" id="driver-kind">
              <select id="driver-kind" value={form.kind} onChange={(event) => setForm({ ...form, kind: event.currentTarget.value })}>
                <option value="flag">flag</option>
                <option value="numeric">numeric</option>
              </select>
            </Field>
            <Field label="Roll-up" id="driver-aggregate">
              <select id="driver-aggregate" value={form.aggregate} onChange={(event) => setForm({ ...form, aggregate: event.currentTarget.value })}>
                {["mean", "sum", "max", "last"].map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
              </select>
            </Field>
            <div class="check">
              <input id="driver-known" type="checkbox" checked={form.known} onChange={(event) => setForm({ ...form, known: event.currentTarget.checked })} />
              <label for="driver-known">Known in advance</label>
            </div>
          </div>
          <ProblemAlert problem={action.problem} />
          <button type="submit" disabled={action.busy}>
            Save driver
          </button>
        </form>
      ) : null}
    </Section>
  );
}

function HierarchiesSection({ edit }: { edit: boolean }) {
  const loaded = useLoad(() => all<Hierarchy>(`${FORECAST}/hierarchies`), []);
  const [name, setName] = useState("");
  const [levels, setLevels] = useState("");
  const action = useAction();
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const body = {
      levels: levels
        .split(",")
        .map((level) => level.trim())
        .filter(Boolean),
    };
    const done = await action.run(() => put<Hierarchy>(`${FORECAST}/hierarchies/${enc(name.trim())}`, body));
    if (done) {
      setName("");
      setLevels("");
      loaded.reload();
    }
  };
  const remove = async (hierarchy: string) => {
    await action.run(() => del(`${FORECAST}/hierarchies/${enc(hierarchy)}`));
    loaded.reload();
  };
  return (
    <Section title="Hierarchies">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        loaded.data.length === 0 ? (
          <Empty>No hierarchies.</Empty>
        ) : (
          <table>
            <caption>Hierarchies</caption>
            <thead>
              <tr>
                <th scope="col">Hierarchy</th>
                <th scope="col">Levels (top to bottom)</th>
                {edit ? <th scope="col">Action</th> : null}
              </tr>
            </thead>
            <tbody>
              {loaded.data.map((hierarchy) => (
                <tr key={hierarchy.name}>
                  <td>{hierarchy.name}</td>
                  <td>{hierarchy.levels.join(" › ")} › SKU</td>
                  {edit ? (
                    <td>
                      <button type="button" onClick={() => remove(hierarchy.name)} aria-label={`Delete hierarchy ${hierarchy.name}`}>
                        Delete
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      {edit ? (
        <form onSubmit={onSubmit}>
          <div class="row">
            <Field label="Hierarchy name" id="hierarchy-name">
              <input id="hierarchy-name" required value={name} onInput={(event) => setName(event.currentTarget.value)} />
            </Field>
            <Field label="Levels" id="hierarchy-levels" hint="attribute names, top first: category, brand">
              <input id="hierarchy-levels" required value={levels} onInput={(event) => setLevels(event.currentTarget.value)} />
            </Field>
          </div>
          <ProblemAlert problem={action.problem} />
          <button type="submit" disabled={action.busy}>
            Save hierarchy
          </button>
        </form>
      ) : null}
    </Section>
  );
}

function AlertSettingsSection({ edit }: { edit: boolean }) {
  const loaded = useLoad(() => get<AlertSettings>(`${FORECAST}/alerts/settings`), []);
  const [form, setForm] = useState({ wape: "", points: "", shift: "" });
  const [saved, setSaved] = useState(false);
  const action = useAction();
  useEffect(() => {
    const settings = loaded.data;
    if (settings)
      setForm({
        wape: settings.wape_threshold == null ? "" : String(settings.wape_threshold),
        points: settings.min_points == null ? "" : String(settings.min_points),
        shift: settings.shift_periods == null ? "" : String(settings.shift_periods),
      });
  }, [loaded.data]);
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    setSaved(false);
    const body: AlertSettings = {};
    if (form.wape) body.wape_threshold = Number(form.wape);
    if (form.points) body.min_points = Number(form.points);
    if (form.shift) body.shift_periods = Number(form.shift);
    const done = await action.run(() => put<AlertSettings>(`${FORECAST}/alerts/settings`, body));
    if (done) {
      loaded.set(done);
      setSaved(true);
    }
  };
  return (
    <Section title="Alert thresholds">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        <p>
          WAPE threshold {loaded.data.wape_threshold ?? "—"}, at least {loaded.data.min_points ?? "—"} points scored, demand shift over{" "}
          {loaded.data.shift_periods ?? "—"} periods.
        </p>
      ) : null}
      {edit ? (
        <form onSubmit={onSubmit}>
          <div class="row">
            <Field label="WAPE threshold" id="alert-wape" hint="e.g. 0.35 for 35 %">
              <input id="alert-wape" type="number" step="any" min={0} value={form.wape} onInput={(event) => setForm({ ...form, wape: event.currentTarget.value })} />
            </Field>
            <Field label="Minimum points" id="alert-points">
              <input id="alert-points" type="number" min={1} value={form.points} onInput={(event) => setForm({ ...form, points: event.currentTarget.value })} />
            </Field>
            <Field label="Shift periods" id="alert-shift">
              <input id="alert-shift" type="number" min={1} value={form.shift} onInput={(event) => setForm({ ...form, shift: event.currentTarget.value })} />
            </Field>
          </div>
          <ProblemAlert problem={action.problem} />
          <Saved show={saved} />
          <button type="submit" disabled={action.busy}>
            Save thresholds
          </button>
        </form>
      ) : null}
    </Section>
  );
}

function UsersSection() {
  const loaded = useLoad(() => all<User>(`${AUTH}/users`), []);
  const [form, setForm] = useState({ email: "", password: "", role: "viewer" });
  const action = useAction();
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const done = await action.run(() => post<User>(`${AUTH}/users`, form));
    if (done) {
      setForm({ email: "", password: "", role: "viewer" });
      loaded.reload();
    }
  };
  return (
    <Section title="Users">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {loaded.data ? (
        <table>
          <caption>Users</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {loaded.data.map((user) => (
              <tr key={user.user_id}>
                <td>{user.email}</td>
                <td>{user.role}</td>
                <td>{fmtTime(user.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <form onSubmit={onSubmit}>
        <div class="row">
          <Field label="User email" id="user-email">
            <input id="user-email" type="email" required autocomplete="off" value={form.email} onInput={(event) => setForm({ ...form, email: event.currentTarget.value })} />
          </Field>
          <Field label="User password" id="user-password">
            <input
              id="user-password"
              type="password"
              required
              autocomplete="new-password"
              value={form.password}
              onInput={(event) => setForm({ ...form, password: event.currentTarget.value })}
            />
          </Field>
          <Field label="User role" id="user-role">
            <select id="user-role" value={form.role} onChange={(event) => setForm({ ...form, role: event.currentTarget.value })}>
              <option value="viewer">viewer</option>
              <option value="analyst">analyst</option>
              <option value="admin">admin</option>
            </select>
          </Field>
        </div>
        <ProblemAlert problem={action.problem} />
        <button type="submit" disabled={action.busy}>
          Add user
        </button>
      </form>
    </Section>
  );
}

function ApiKeysSection() {
  const loaded = useLoad(() => all<ApiKey>(`${AUTH}/api-keys`), []);
  const [form, setForm] = useState({ name: "", role: "viewer" });
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const action = useAction();
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const done = await action.run(() => post<CreatedApiKey>(`${AUTH}/api-keys`, form));
    if (done) {
      setCreated(done);
      setForm({ name: "", role: "viewer" });
      loaded.reload();
    }
  };
  const revoke = async (key: ApiKey) => {
    if (!window.confirm(`Revoke the API key "${key.name}"? Integrations using it stop working.`)) return;
    await action.run(() => del(`${AUTH}/api-keys/${enc(key.key_id)}`));
    loaded.reload();
  };
  return (
    <Section title="API keys">
      {loaded.loading ? <Loading /> : null}
      <ProblemAlert problem={loaded.problem} />
      {created ? (
        <div class="card once" role="status">
          <p>
            The key <strong>{created.name}</strong> ({created.role}). Copy it now: it is shown only once.
          </p>
          <p>
            <code data-testid="new-api-key">{created.api_key}</code>
          </p>
        </div>
      ) : null}
      {loaded.data ? (
        loaded.data.length === 0 ? (
          <Empty>No API keys.</Empty>
        ) : (
          <table>
            <caption>API keys</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.map((key) => (
                <tr key={key.key_id}>
                  <td>
                    {key.name} <span class="muted">{key.key_id}</span>
                  </td>
                  <td>{key.role}</td>
                  <td>{fmtTime(key.created_at)}</td>
                  <td>
                    <button type="button" onClick={() => revoke(key)} aria-label={`Revoke API key ${key.name}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      <form onSubmit={onSubmit}>
        <div class="row">
          <Field label="Key name" id="key-name">
            <input id="key-name" required value={form.name} onInput={(event) => setForm({ ...form, name: event.currentTarget.value })} />
          </Field>
          <Field label="Key role" id="key-role">
            <select id="key-role" value={form.role} onChange={(event) => setForm({ ...form, role: event.currentTarget.value })}>
              <option value="viewer">viewer</option>
              <option value="analyst">analyst</option>
            </select>
          </Field>
        </div>
        <ProblemAlert problem={action.problem} />
        <button type="submit" disabled={action.busy}>
          Create API key
        </button>
      </form>
    </Section>
  );
}

export function Settings() {
  const me = useMe();
  const { query } = useLocation();
  const admin = can(me?.role, "admin");
  // `?edit=1` shows the forms to any role (the "forced" path): the API's 403 is then shown.
  const edit = admin || query.get("edit") === "1";
  return (
    <>
      <h1>Settings</h1>
      {!admin ? <p class="muted">Only an admin changes settings; your role ({me?.role}) reads them.</p> : null}
      <ScheduleSection edit={edit} />
      <CalendarSection edit={edit} />
      <DriversSection edit={edit} />
      <HierarchiesSection edit={edit} />
      <AlertSettingsSection edit={edit} />
      {admin ? (
        <>
          <UsersSection />
          <ApiKeysSection />
        </>
      ) : null}
    </>
  );
}

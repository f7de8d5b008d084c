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
import { ActionForm, CheckField, InputField, SelectField, useForm } from "../forms";
import { useLocation } from "../router";
import { useMe } from "../session";
import { Empty, LoadState, RowButton, Section, Table, fmtTime, noItems, num, useAction, useLoad } from "../ui";

type Values = Record<string, string | boolean>;

/**
 * A one-document setting (GET and PUT on one path) and its form: the form is filled from each
 * answer (`toForm`), and a save shows the stored document and "Saved.".
 */
function useSetting<T, F extends Values>(path: string, initial: F, toForm: (data: T) => Partial<F>) {
  const loaded = useLoad(() => get<T>(path), [path]);
  const fields = useForm(initial);
  const [saved, setSaved] = useState(false);
  const action = useAction();
  useEffect(() => {
    const data = loaded.data;
    if (data) fields.setForm((current) => ({ ...current, ...toForm(data) }));
  }, [loaded.data]);
  const save = async (body: unknown) => {
    setSaved(false);
    const done = await action.run(() => put<T>(path, body));
    if (done) {
      loaded.set(done);
      setSaved(true);
    }
    return done;
  };
  return { loaded, action, saved, save, ...fields };
}

/** A collection (listed from `path`): a change reloads it when it succeeds, a removal always. */
function useList<T>(path: string) {
  const loaded = useLoad(() => all<T>(path), [path]);
  const action = useAction();
  const change = async <R,>(request: () => Promise<R>) => {
    const done = await action.run(request);
    if (done) loaded.reload();
    return done;
  };
  const remove = async (id: string) => {
    await action.run(() => del(`${path}/${enc(id)}`));
    loaded.reload();
  };
  return { loaded, action, change, remove };
}

/** "a, b ,c" → ["a", "b", "c"] */
function splitList(text: string, separator: string | RegExp = ","): string[] {
  return text
    .split(separator)
    .map((item) => item.trim())
    .filter(Boolean);
}

function DeleteCell({ what, name, onDelete }: { what: string; name: string; onDelete: (name: string) => void }) {
  return (
    <RowButton onClick={() => onDelete(name)} label={`Delete ${what} ${name}`}>
      Delete
    </RowButton>
  );
}

const optional = (value: number | null | undefined) => (value == null ? "" : String(value));

function ScheduleSection({ edit }: { edit: boolean }) {
  const setting = useSetting(
    `${FORECAST}/schedule`,
    { enabled: false as boolean, cron: "0 6 * * MON", horizon: "28", frequency: "D", method: "auto" },
    (schedule: Schedule) => ({
      enabled: !!schedule.enabled,
      cron: schedule.cron,
      horizon: String(schedule.horizon),
      frequency: schedule.frequency ?? "D",
      method: schedule.method ?? "auto",
    }),
  );
  const { form } = setting;
  const onSubmit = () =>
    setting.save({ enabled: form.enabled, cron: form.cron, horizon: Number(form.horizon), frequency: form.frequency, method: form.method });
  return (
    <Section title="Schedule">
      <LoadState loaded={setting.loaded}>
        {(schedule) => (
          <p>
            {schedule.enabled ? "Enabled" : "Disabled"}: <code>{schedule.cron}</code>, horizon {schedule.horizon} {schedule.frequency}, method{" "}
            {schedule.method}
            {schedule.next_run_at ? `; next run ${fmtTime(schedule.next_run_at)}` : ""}.
          </p>
        )}
      </LoadState>
      {edit ? (
        <ActionForm onSubmit={onSubmit} action={setting.action} saved={setting.saved} submit="Save schedule">
          <CheckField label="Enabled" id="schedule-enabled" {...setting.check("enabled")} />
          <InputField label="Cron" id="schedule-cron" hint="minute hour day month weekday (UTC)" {...setting.text("cron")} />
          <InputField label="Schedule horizon" id="schedule-horizon" type="number" min={1} {...setting.text("horizon")} />
          <SelectField label="Schedule frequency" id="schedule-frequency" options={["D", "W", "M"]} {...setting.choice("frequency")} />
        </ActionForm>
      ) : null}
    </Section>
  );
}

function CalendarSection({ edit }: { edit: boolean }) {
  const setting = useSetting(`${FORECAST}/calendar`, { holidays: "", eventName: "", eventDates: "" }, (calendar: CalendarOut) => ({
    holidays: calendar.holidays.join(", "),
  }));
  const { form, loaded } = setting;
  const save = async (events: CalendarOut["events"]) => {
    if (await setting.save({ holidays: splitList(form.holidays), events })) setting.setForm((current) => ({ ...current, eventName: "", eventDates: "" }));
  };
  const current = loaded.data?.events ?? [];
  const onSubmit = () => {
    const dates = splitList(form.eventDates, /[,\s]+/);
    save(form.eventName.trim() && dates.length ? [...current, { name: form.eventName.trim(), dates }] : current);
  };
  return (
    <Section title="Calendar">
      <LoadState loaded={loaded}>
        {(calendar) => (
          <>
            <p>Public holidays: {calendar.holidays.length ? calendar.holidays.join(", ") : "none"}</p>
            {current.length ? (
              <Table caption="Events" columns={["Event", "Dates", "SKUs", edit && "Action"]}>
                {current.map((item, index) => (
                  <tr key={`${item.name}-${index}`}>
                    <td>{item.name}</td>
                    <td>{item.dates.join(", ")}</td>
                    <td>{item.skus?.join(", ") ?? "all"}</td>
                    {edit ? (
                      <RowButton onClick={() => save(current.filter((_, other) => other !== index))} label={`Remove event ${item.name}`}>
                        Remove
                      </RowButton>
                    ) : null}
                  </tr>
                ))}
              </Table>
            ) : (
              <Empty>No events.</Empty>
            )}
          </>
        )}
      </LoadState>
      {edit ? (
        <ActionForm onSubmit={onSubmit} action={setting.action} saved={setting.saved} submit="Save calendar">
          <InputField label="Holidays" id="calendar-holidays" hint="ISO codes, comma separated: US, DE-BY" {...setting.text("holidays")} />
          <InputField label="Event name" id="calendar-event" {...setting.text("eventName")} />
          <InputField label="Event dates" id="calendar-dates" hint="YYYY-MM-DD, comma separated" {...setting.text("eventDates")} />
        </ActionForm>
      ) : null}
    </Section>
  );
}

function DriversSection({ edit }: { edit: boolean }) {
  const list = useList<Driver>(`${FORECAST}/drivers`);
  const { form, setForm, text, choice, check } = useForm({ name: "", kind: "flag", known: true, aggregate: "mean" });
  const onSubmit = async () => {
    const body = { kind: form.kind, known_in_advance: form.known, aggregate: form.aggregate };
    if (await list.change(() => put<Driver>(`${FORECAST}/drivers/${enc(form.name.trim())}`, body))) setForm({ ...form, name: "" });
  };
  return (
    <Section title="Drivers">
      <LoadState loaded={list.loaded} isEmpty={noItems} empty="No drivers declared.">
        {(drivers) => (
          <Table caption="Declared drivers" columns={["Driver", "Kind", "Known in advance", "Aggregate", num("SKUs with values"), "Dates", edit && "Action"]}>
            {drivers.map((driver) => (
              <tr key={driver.name}>
                <td>{driver.name}</td>
                <td>{driver.kind}</td>
                <td>{driver.known_in_advance ? "yes" : "no"}</td>
                <td>{driver.aggregate}</td>
                <td class="num">{driver.skus_with_values}</td>
                <td>
                  {driver.first_date ?? "—"} to {driver.last_date ?? "—"}
                </td>
                {edit ? <DeleteCell what="driver" name={driver.name} onDelete={list.remove} /> : null}
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
      {edit ? (
        <ActionForm onSubmit={onSubmit} action={list.action} submit="Save driver">
          <InputField label="Driver name" id="driver-name" hint="lower case: promo, price" required pattern="[a-z][a-z0-9_]{0,39}" {...text("name")} />
          <SelectField label="Driver kind" id="driver-kind" options={["flag", "numeric"]} {...choice("kind")} />
          <SelectField label="Roll-up" id="driver-aggregate" options={["mean", "sum", "max", "last"]} {...choice("aggregate")} />
          <CheckField label="Known in advance" id="driver-known" {...check("known")} />
        </ActionForm>
      ) : null}
    </Section>
  );
}

function HierarchiesSection({ edit }: { edit: boolean }) {
  const list = useList<Hierarchy>(`${FORECAST}/hierarchies`);
  const { form, setForm, text } = useForm({ name: "", levels: "" });
  const onSubmit = async () => {
    const body = { levels: splitList(form.levels) };
    if (await list.change(() => put<Hierarchy>(`${FORECAST}/hierarchies/${enc(form.name.trim())}`, body))) setForm({ name: "", levels: "" });
  };
  return (
    <Section title="Hierarchies">
      <LoadState loaded={list.loaded} isEmpty={noItems} empty="No hierarchies.">
        {(hierarchies) => (
          <Table caption="Hierarchies" columns={["Hierarchy", "Levels (top to bottom)", edit && "Action"]}>
            {hierarchies.map((hierarchy) => (
              <tr key={hierarchy.name}>
                <td>{hierarchy.name}</td>
                <td>{hierarchy.levels.join(" › ")} › SKU</td>
                {edit ? <DeleteCell what="hierarchy" name={hierarchy.name} onDelete={list.remove} /> : null}
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
      {edit ? (
        <ActionForm onSubmit={onSubmit} action={list.action} submit="Save hierarchy">
          <InputField label="Hierarchy name" id="hierarchy-name" required {...text("name")} />
          <InputField label="Levels" id="hierarchy-levels" hint="attribute names, top first: category, brand" required {...text("levels")} />
        </ActionForm>
      ) : null}
    </Section>
  );
}

function AlertSettingsSection({ edit }: { edit: boolean }) {
  const setting = useSetting(`${FORECAST}/alerts/settings`, { wape: "", points: "", shift: "" }, (settings: AlertSettings) => ({
    wape: optional(settings.wape_threshold),
    points: optional(settings.min_points),
    shift: optional(settings.shift_periods),
  }));
  const { form } = setting;
  const onSubmit = () => {
    const body: AlertSettings = {};
    if (form.wape) body.wape_threshold = Number(form.wape);
    if (form.points) body.min_points = Number(form.points);
    if (form.shift) body.shift_periods = Number(form.shift);
    setting.save(body);
  };
  return (
    <Section title="Alert thresholds">
      <LoadState loaded={setting.loaded}>
        {(settings) => (
          <p>
            WAPE threshold {settings.wape_threshold ?? "—"}, at least {settings.min_points ?? "—"} points scored, demand shift over{" "}
            {settings.shift_periods ?? "—"} periods.
          </p>
        )}
      </LoadState>
      {edit ? (
        <ActionForm onSubmit={onSubmit} action={setting.action} saved={setting.saved} submit="Save thresholds">
          <InputField label="WAPE threshold" id="alert-wape" hint="e.g. 0.35 for 35 %" type="number" step="any" min={0} {...setting.text("wape")} />
          <InputField label="Minimum points" id="alert-points" type="number" min={1} {...setting.text("points")} />
          <InputField label="Shift periods" id="alert-shift" type="number" min={1} {...setting.text("shift")} />
        </ActionForm>
      ) : null}
    </Section>
  );
}

function UsersSection() {
  const list = useList<User>(`${AUTH}/users`);
  const { form, setForm, text, choice } = useForm({ email: "", password: "", role: "viewer" });
  const onSubmit = async () => {
    if (await list.change(() => post<User>(`${AUTH}/users`, form))) setForm({ email: "", password: "", role: "viewer" });
  };
  return (
    <Section title="Users">
      <LoadState loaded={list.loaded}>
        {(users) => (
          <Table caption="Users" columns={["Email", "Role", "Created"]}>
            {users.map((user) => (
              <tr key={user.user_id}>
                <td>{user.email}</td>
                <td>{user.role}</td>
                <td>{fmtTime(user.created_at)}</td>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
      <ActionForm onSubmit={onSubmit} action={list.action} submit="Add user">
        <InputField label="User email" id="user-email" type="email" required autocomplete="off" {...text("email")} />
        <InputField label="User password" id="user-password" type="password" required autocomplete="new-password" {...text("password")} />
        <SelectField label="User role" id="user-role" options={["viewer", "analyst", "admin"]} {...choice("role")} />
      </ActionForm>
    </Section>
  );
}

function ApiKeysSection() {
  const list = useList<ApiKey>(`${AUTH}/api-keys`);
  const { form, setForm, text, choice } = useForm({ name: "", role: "viewer" });
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const onSubmit = async () => {
    const done = await list.change(() => post<CreatedApiKey>(`${AUTH}/api-keys`, form));
    if (done) {
      setCreated(done);
      setForm({ name: "", role: "viewer" });
    }
  };
  const revoke = (key: ApiKey) => {
    if (window.confirm(`Revoke the API key "${key.name}"? Integrations using it stop working.`)) list.remove(key.key_id);
  };
  const createdNote = created ? (
    <div class="card once" role="status">
      <p>
        The key <strong>{created.name}</strong> ({created.role}). Copy it now: it is shown only once.
      </p>
      <p>
        <code data-testid="new-api-key">{created.api_key}</code>
      </p>
    </div>
  ) : null;
  return (
    <Section title="API keys">
      <LoadState loaded={list.loaded} note={createdNote} isEmpty={noItems} empty="No API keys.">
        {(keys) => (
          <Table caption="API keys" columns={["Key", "Role", "Created", "Action"]}>
            {keys.map((key) => (
              <tr key={key.key_id}>
                <td>
                  {key.name} <span class="muted">{key.key_id}</span>
                </td>
                <td>{key.role}</td>
                <td>{fmtTime(key.created_at)}</td>
                <RowButton onClick={() => revoke(key)} label={`Revoke API key ${key.name}`}>
                  Revoke
                </RowButton>
              </tr>
            ))}
          </Table>
        )}
      </LoadState>
      <ActionForm onSubmit={onSubmit} action={list.action} submit="Create API key">
        <InputField label="Key name" id="key-name" required {...text("name")} />
        <SelectField label="Key role" id="key-role" options={["viewer", "analyst"]} {...choice("role")} />
      </ActionForm>
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

// Form pieces: one state object per form, labelled controls, and the submit/problem/saved footer.
import type { ComponentChildren, InputHTMLAttributes, JSX, SelectHTMLAttributes } from "preact";
import { useState } from "preact/hooks";
import { Field, ProblemAlert, type useAction } from "./ui";

type Values = Record<string, string | boolean>;
type Keys<T, V> = { [K in keyof T]: T[K] extends V ? K : never }[keyof T];

/** A form's fields as one object, with the props that bind a control to one of them. */
export function useForm<T extends Values>(initial: T) {
  const [form, setForm] = useState<T>(initial);
  const update = (key: keyof T, value: string | boolean) => setForm((current) => ({ ...current, [key]: value }));
  return {
    form,
    setForm,
    /** A text-like input: value and onInput. */
    text: (key: Keys<T, string>) => ({
      value: form[key] as string,
      onInput: (event: JSX.TargetedEvent<HTMLInputElement>) => update(key, event.currentTarget.value),
    }),
    /** A select: value and onChange. */
    choice: (key: Keys<T, string>) => ({
      value: form[key] as string,
      onChange: (event: JSX.TargetedEvent<HTMLSelectElement>) => update(key, event.currentTarget.value),
    }),
    /** A checkbox: checked and onChange. */
    check: (key: Keys<T, boolean>) => ({
      checked: form[key] as boolean,
      onChange: (event: JSX.TargetedEvent<HTMLInputElement>) => update(key, event.currentTarget.checked),
    }),
  };
}

type Labelled = { label: string; id: string; hint?: string };

/** An input with its label (and hint). */
export function InputField({ label, id, hint, ...input }: Labelled & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <Field label={label} id={id} hint={hint}>
      <input id={id} {...input} />
    </Field>
  );
}

/** An option per value, its text the value itself or [value, text]. */
export function Options({ values }: { values: readonly (string | readonly [string, string])[] }) {
  return (
    <>
      {values.map((item) => {
        const [value, text] = typeof item === "string" ? [item, item] : item;
        return (
          <option key={value} value={value}>
            {text}
          </option>
        );
      })}
    </>
  );
}

/** A select with its label (and hint): fixed options as children, then one per value of `options`. */
export function SelectField({
  label,
  id,
  hint,
  options = [],
  children,
  ...select
}: Labelled & { options?: readonly (string | readonly [string, string])[] } & SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <Field label={label} id={id} hint={hint}>
      <select id={id} {...select}>
        {children}
        <Options values={options} />
      </select>
    </Field>
  );
}

export function CheckField({ label, id, ...input }: { label: string; id: string } & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <div class="check">
      <input id={id} type="checkbox" {...input} />
      <label for={id}>{label}</label>
    </div>
  );
}

export function Saved({ show, children = "Saved." }: { show: boolean; children?: ComponentChildren }) {
  return show ? (
    <p role="status" class="ok">
      {children}
    </p>
  ) : null;
}

/**
 * A settings form: its fields in a row, the action's problem, "Saved." once `saved`, and the
 * submit button (disabled while the action runs). The submit event's default is prevented here.
 */
export function ActionForm({
  onSubmit,
  action,
  submit,
  saved = false,
  children,
}: {
  onSubmit: () => void;
  action: Pick<ReturnType<typeof useAction>, "busy" | "problem">;
  submit: string;
  saved?: boolean;
  children: ComponentChildren;
}) {
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        onSubmit();
      }}
    >
      <div class="row">{children}</div>
      <ProblemAlert problem={action.problem} />
      <Saved show={saved} />
      <button type="submit" disabled={action.busy}>
        {submit}
      </button>
    </form>
  );
}

import { useState } from "preact/hooks";
import { signIn } from "../api";
import { navigate, safeNext } from "../router";
import { setMe } from "../session";
import { Field, ProblemAlert, useAction } from "../ui";

export function SignIn() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [clientId, setClientId] = useState("");
  const { busy, problem, run } = useAction();
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const me = await run(() => signIn(email.trim(), password, clientId.trim() || undefined));
    if (me) {
      setMe(me);
      navigate(safeNext(new URLSearchParams(window.location.search).get("next")), true);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Sign in to skucast</h1>
      <form onSubmit={onSubmit} class="card">
        <Field label="Email" id="signin-email">
          <input
            id="signin-email"
            type="email"
            autocomplete="username"
            required
            value={email}
            onInput={(event) => setEmail(event.currentTarget.value)}
          />
        </Field>
        <Field label="Password" id="signin-password">
          <input
            id="signin-password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(event) => setPassword(event.currentTarget.value)}
          />
        </Field>
        <details>
          <summary>One email in several accounts?</summary>
          <Field label="Client ID" id="signin-client" hint="The account to sign in to, when your email has several">
            <input id="signin-client" value={clientId} onInput={(event) => setClientId(event.currentTarget.value)} />
          </Field>
        </details>
        <ProblemAlert problem={problem} />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
        <p class="muted small">
          Your session lives in this tab only: reloading the page asks you to sign in again.
        </p>
      </form>
    </main>
  );
}

import { signIn } from "../api";
import { navigate, safeNext } from "../router";
import { setMe } from "../session";
import { InputField, useForm } from "../forms";
import { ProblemAlert, useAction } from "../ui";

export function SignIn() {
  const { form, text } = useForm({ email: "", password: "", clientId: "" });
  const { email, password, clientId } = form;
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
        <InputField label="Email" id="signin-email" type="email" autocomplete="username" required {...text("email")} />
        <InputField label="Password" id="signin-password" type="password" autocomplete="current-password" required {...text("password")} />
        <details>
          <summary>One email in several accounts?</summary>
          <InputField
            label="Client ID"
            id="signin-client"
            hint="The account to sign in to, when your email has several"
            {...text("clientId")}
          />
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

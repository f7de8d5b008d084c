// The shell: sign-in gate, header, and the route table (URLs listed in ../UI_CONTRACT.md).
import { useEffect } from "preact/hooks";
import { hasSession, onSignedOut, signOut } from "./api";
import { Link, currentPath, navigate, segments, useLocation } from "./router";
import { NotFound } from "./screens/notfound";
import { Overview } from "./screens/overview";
import { NewRun, RunDetail, Runs } from "./screens/runs";
import { Settings } from "./screens/settings";
import { SignIn } from "./screens/signin";
import { SkuDetail } from "./screens/sku";
import { Skus } from "./screens/skus";
import { Uploads } from "./screens/uploads";
import { setMe, useMe } from "./session";

const NAV: [string, string][] = [
  ["/", "Overview"],
  ["/skus", "SKUs"],
  ["/uploads", "Uploads"],
  ["/runs", "Runs"],
  ["/settings", "Settings"],
];

function toSignIn(): void {
  const here = currentPath();
  const next = here.startsWith("/signin") ? "" : `?next=${encodeURIComponent(here)}`;
  navigate(`/signin${next}`, true);
}

onSignedOut(() => {
  setMe(null);
  toSignIn();
});

function Header() {
  const me = useMe();
  const { path } = useLocation();
  const section = `/${path.split("/")[1] ?? ""}`;
  const onSignOut = async () => {
    await signOut();
    setMe(null);
    navigate("/signin");
  };
  return (
    <header class="top">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <span class="brand">skucast</span>
      <nav aria-label="Main">
        <ul>
          {NAV.map(([href, label]) => (
            <li key={href}>
              <Link href={href} aria-current={section === href ? "page" : undefined}>
                {label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <span class="who" data-testid="who">
        <span data-testid="user-email">{me?.email ?? me?.key_id}</span>{" "}
        <span class="role" data-testid="user-role">
          {me?.role}
        </span>
      </span>
      <button type="button" onClick={onSignOut}>
        Sign out
      </button>
    </header>
  );
}

function Screen({ path }: { path: string }) {
  const parts = segments(path);
  const [first, second, third] = parts;
  if (parts.length === 0) return <Overview />;
  if (first === "skus") {
    if (parts.length === 1) return <Skus />;
    if (parts.length === 2) return <SkuDetail sku={second} forced={false} />;
    if (parts.length === 3 && third === "adjust") return <SkuDetail sku={second} forced />;
  }
  if (first === "uploads" && parts.length === 1) return <Uploads />;
  if (first === "runs") {
    if (parts.length === 1) return <Runs />;
    if (parts.length === 2 && second === "new") return <NewRun />;
    if (parts.length === 2) return <RunDetail runId={second} />;
  }
  if (first === "settings" && parts.length === 1) return <Settings />;
  return <NotFound />;
}

export function App() {
  const { path } = useLocation();
  const me = useMe();
  const signedIn = hasSession() && me !== null;
  useEffect(() => {
    if (!signedIn && path !== "/signin") toSignIn();
  }, [signedIn, path]);
  useEffect(() => {
    const name = path === "/" ? "Overview" : (segments(path)[0] ?? "");
    document.title = `skucast · ${name}`;
    // A new screen: move focus to its content, as a page load would, for keyboard and screen readers.
    const main = document.getElementById("main");
    if (main && document.activeElement && document.activeElement !== document.body) main.focus({ preventScroll: true });
  }, [path]);
  if (path === "/signin") return <SignIn />;
  if (!signedIn) return null;
  return (
    <>
      <Header />
      <main id="main" tabIndex={-1}>
        <Screen path={path} />
      </main>
    </>
  );
}

import { Link } from "../router";

export function NotFound() {
  return (
    <>
      <h1>Not found</h1>
      <p>
        There is nothing here, or it belongs to someone else. <Link href="/">Back to the overview</Link>
      </p>
    </>
  );
}

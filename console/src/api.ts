// The one module that speaks HTTP: the contract (../../shared/CONTRACT.md) on the same origin.
//
// Token policy: the access and refresh tokens live in this module's closure only - never in
// localStorage, sessionStorage or a cookie a script could read. A reload or a new tab therefore
// asks to sign in again (and comes back to the page it was on); that is the safer choice the API
// allows, since it issues bearer tokens in a JSON body and sets no HttpOnly cookie.
import type { components } from "./openapi";

type S = components["schemas"];
export type Me = S["Me"];
export type Sku = S["Sku"];
export type SkuList = S["SkuList"];
export type SkuDemand = S["SkuDemand"];
export type SkuDrivers = S["SkuDrivers"];
export type SkuResult = S["SkuResult"];
export type Run = S["Run"];
export type RunList = S["RunList"];
export type Upload = S["Upload"];
export type UploadTicket = S["UploadTicket"];
export type Adjustment = S["Adjustment"];
export type AdjustmentRequest = S["AdjustmentRequest"];
export type AccuracyItem = S["AccuracyItem"];
export type RunAccuracy = S["RunAccuracy"];
export type Metrics = S["Metrics"];
export type Alert = S["Alert"];
export type Method = S["Method"];
export type Driver = S["Driver"];
export type Hierarchy = S["Hierarchy"];
export type Schedule = S["Schedule"];
export type CalendarOut = S["CalendarOut"];
export type AlertSettings = S["AlertSettings"];
export type User = S["User"];
export type ApiKey = S["ApiKey"];
export type CreatedApiKey = S["CreatedApiKey"];
export type NodeResult = S["NodeResult"];
export type RunComparison = S["RunComparison"];
export type CreateRunRequest = S["CreateRunRequest"];
export type Role = Me["role"];
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}
/** A forecast point: date, mean, final and lo_<level>/hi_<level> bounds. */
export interface ForecastPoint {
  date: string;
  mean: number | null;
  final?: number | null;
  [bound: string]: number | string | null | undefined;
}

export const FORECAST = "/api/v1/forecast";
export const AUTH = "/api/auth";

/** An RFC 9457 problem document as the console shows it. */
export interface Problem {
  status: number;
  title: string;
  detail?: string;
  type?: string;
  errors?: { field?: string; code?: string; message?: string }[];
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.title);
  }
}

interface Tokens {
  access: string;
  refresh: string;
}
let tokens: Tokens | null = null;
let refreshing: Promise<boolean> | null = null;
let signedOutHandler: () => void = () => {};

/** Called when the session cannot be recovered (refresh refused): the app goes to sign-in. */
export function onSignedOut(handler: () => void): void {
  signedOutHandler = handler;
}

export function hasSession(): boolean {
  return tokens !== null;
}

async function problemOf(response: Response): Promise<Problem> {
  try {
    const body = await response.json();
    if (body && typeof body === "object" && typeof body.title === "string") {
      return { ...body, status: typeof body.status === "number" ? body.status : response.status };
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return { status: response.status, title: response.statusText || `HTTP ${response.status}` };
}

function networkProblem(error: unknown): ApiError {
  return new ApiError({ status: 0, title: "The API cannot be reached", detail: String(error) });
}

function storeTokens(pair: { access_token: string; refresh_token: string }): void {
  tokens = { access: pair.access_token, refresh: pair.refresh_token };
}

/** One rotation of the pair; concurrent 401s share it (a refresh token works once). */
function refreshOnce(): Promise<boolean> {
  if (!refreshing) {
    const current = tokens;
    refreshing = (async () => {
      if (!current) return false;
      try {
        const response = await fetch(`${AUTH}/refresh`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: current.refresh }),
        });
        if (!response.ok) return false;
        storeTokens(await response.json());
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined | null>;
}

export interface Answer<T> {
  data: T;
  headers: Headers;
  status: number;
}

export function withQuery(path: string, query?: RequestOptions["query"]): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** A call with the user's bearer token; a 401 rotates the pair once and retries once. */
export async function call<T>(method: string, path: string, options: RequestOptions = {}): Promise<Answer<T>> {
  const url = withQuery(path, options.query);
  const send = () => {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (tokens) headers.Authorization = `Bearer ${tokens.access}`;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  };
  let response: Response;
  try {
    response = await send();
    if (response.status === 401 && tokens) {
      if (await refreshOnce()) {
        response = await send();
      }
      if (response.status === 401) {
        tokens = null;
        signedOutHandler();
      }
    }
  } catch (error) {
    throw networkProblem(error);
  }
  if (!response.ok) throw new ApiError(await problemOf(response));
  const data = response.status === 204 ? (undefined as T) : ((await response.json()) as T);
  return { data, headers: response.headers, status: response.status };
}

export async function get<T>(path: string, query?: RequestOptions["query"]): Promise<T> {
  return (await call<T>("GET", path, { query })).data;
}

export async function post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  return (await call<T>("POST", path, { body: body ?? {}, headers })).data;
}

export async function put<T>(path: string, body: unknown): Promise<T> {
  return (await call<T>("PUT", path, { body })).data;
}

export async function del(path: string): Promise<void> {
  await call<void>("DELETE", path);
}

export const enc = encodeURIComponent;

export async function signIn(email: string, password: string, clientId?: string): Promise<Me> {
  let response: Response;
  try {
    response = await fetch(`${AUTH}/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(clientId ? { email, password, client_id: clientId } : { email, password }),
    });
  } catch (error) {
    throw networkProblem(error);
  }
  if (!response.ok) throw new ApiError(await problemOf(response));
  storeTokens(await response.json());
  return get<Me>(`${AUTH}/me`);
}

export async function signOut(): Promise<void> {
  const current = tokens;
  tokens = null;
  if (current) {
    try {
      await fetch(`${AUTH}/logout`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh }),
      });
    } catch {
      // signed out locally either way
    }
  }
}

/** Every page of a list (for small lists: drivers, hierarchies, methods). */
export async function all<T>(path: string, query: RequestOptions["query"] = {}, maxPages = 20): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null | undefined;
  for (let page = 0; page < maxPages; page++) {
    const answer = await get<Page<T>>(path, { ...query, limit: 1000, cursor: cursor ?? undefined });
    items.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/** The role's rights, as the contract grants them; the UI hides what the role cannot do. */
export function can(role: Role | undefined, action: "analyst" | "admin"): boolean {
  if (!role) return false;
  if (action === "admin") return role === "admin";
  return role === "admin" || role === "analyst";
}

/**
 * A file to the presigned POST, with upload progress (fetch has none, so XMLHttpRequest).
 * S3 wants the policy fields first and the file last.
 */
export function postFile(ticket: UploadTicket, file: File, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [key, value] of Object.entries(ticket.fields)) form.append(key, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", ticket.url);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        const detail = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText)?.[1];
        reject(new ApiError({ status: xhr.status, title: "The file was not accepted by storage", detail }));
      }
    };
    xhr.onerror = () => reject(new ApiError({ status: 0, title: "The file could not be sent to storage" }));
    xhr.send(form);
  });
}

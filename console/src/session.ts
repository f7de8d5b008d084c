// The signed-in user, shared by every screen (module state plus a subscription hook).
import { useEffect, useState } from "preact/hooks";
import type { Me } from "./api";

let me: Me | null = null;
const listeners = new Set<() => void>();

export function setMe(value: Me | null): void {
  me = value;
  for (const listener of listeners) listener();
}

export function getMe(): Me | null {
  return me;
}

export function useMe(): Me | null {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((tick) => tick + 1);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return me;
}

/** The signals that ask a run to stop: `kill` (SIGTERM, as platforms send) and Ctrl-C. */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;

type SignalListener = (signal: NodeJS.Signals) => void;

const listeners = new Set<SignalListener>();

function dispatch(signal: NodeJS.Signals): void {
  for (const listener of [...listeners]) listener(signal);
}

/**
 * Calls `listener` on SIGTERM and SIGINT until the returned function is called. However many
 * runs listen at once (a backfill of 16 partitions), the process holds one listener per
 * signal, so Node's too-many-listeners warning never fires and the order of calls is the
 * order of subscription.
 */
export function onStopSignal(listener: SignalListener): () => void {
  if (listeners.size === 0) for (const name of STOP_SIGNALS) process.on(name, dispatch);
  listeners.add(listener);
  return () => {
    if (!listeners.delete(listener) || listeners.size > 0) return;
    for (const name of STOP_SIGNALS) process.off(name, dispatch);
  };
}

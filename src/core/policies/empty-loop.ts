type EmptyLoopListener = () => void;

const listeners = new Set<EmptyLoopListener>();

function dispatch(): void {
  for (const listener of [...listeners]) listener();
}

/**
 * Calls `listener` when the event loop empties (`beforeExit`) until the returned function is
 * called. A run still in flight then waits for a promise nothing can settle any more (no
 * timer, socket or other work is left): without this, Node would exit with code 13 (an
 * unsettled top-level await) or 0, silently, leaving the run `running` and its lease held.
 * However many runs listen at once, the process holds one listener.
 */
export function onEmptyLoop(listener: EmptyLoopListener): () => void {
  if (listeners.size === 0) process.on("beforeExit", dispatch);
  listeners.add(listener);
  return () => {
    if (!listeners.delete(listener) || listeners.size > 0) return;
    process.off("beforeExit", dispatch);
  };
}

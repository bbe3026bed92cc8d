import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";

/** One request the fake API received. */
export interface ApiRequest {
  /** When it arrived, by this process's monotonic clock (ms). */
  readonly at: number;
  readonly partition: string;
  readonly id: number;
  readonly pid: number;
  /** 200, or 429 when it was refused. */
  readonly status: number;
}

/** A local HTTP API with a rate limit, as the quota tests meet one. */
export interface FakeApi {
  readonly url: string;
  readonly requests: readonly ApiRequest[];
  /** The 429s it sent: when, and the pause their Retry-After asked for. */
  readonly refusals: ReadonlyArray<{ readonly at: number; readonly retryAfterMs: number }>;
  /** Resolves at the next request that `matches`. */
  next(matches: (request: ApiRequest) => boolean): Promise<ApiRequest>;
  close(): Promise<void>;
}

/**
 * Starts an API on 127.0.0.1 (a random port) that answers 200, or 429 with `Retry-After` when
 * more than `limit` requests arrived in the last second, and to the `refuse`-th request (from
 * 1) whatever the count, so that a test sees a pause happen.
 */
export async function startFakeApi(options: {
  readonly limit: number;
  readonly retryAfterSeconds: number;
  readonly refuse?: number;
}): Promise<FakeApi> {
  const requests: ApiRequest[] = [];
  const refusals: Array<{ at: number; retryAfterMs: number }> = [];
  const waiters = new Set<(request: ApiRequest) => boolean>();
  let first = 0;
  const server = createServer((req, res) => {
    const at = performance.now();
    const query = new URL(req.url ?? "/", "http://api").searchParams;
    while (first < requests.length && (requests[first] as ApiRequest).at <= at - 1000) first++;
    const refused =
      requests.length - first >= options.limit || requests.length + 1 === options.refuse;
    const request: ApiRequest = {
      at,
      partition: query.get("partition") ?? "",
      id: Number(query.get("id")),
      pid: Number(query.get("pid")),
      status: refused ? 429 : 200,
    };
    requests.push(request);
    for (const waiter of waiters) waiter(request);
    if (refused) {
      refusals.push({ at, retryAfterMs: options.retryAfterSeconds * 1000 });
      res.writeHead(429, { "retry-after": String(options.retryAfterSeconds) }).end("slow down");
    } else {
      res.writeHead(200).end("ok");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    refusals,
    next: (matches) =>
      new Promise((resolve) => {
        const waiter = (request: ApiRequest) => {
          if (!matches(request)) return false;
          waiters.delete(waiter);
          resolve(request);
          return true;
        };
        waiters.add(waiter);
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

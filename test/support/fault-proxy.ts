/**
 * A TCP proxy between node-postgres and a real PostgreSQL server that cuts connections at
 * chosen points of the wire protocol, for fault-injection tests. It reads just enough of the
 * protocol to know what each client request is (BEGIN, COMMIT, the completion statement, a
 * statement inside a transaction, any other statement) and decides, with a seeded PRNG,
 * whether to cut there:
 *
 * - `before-begin`: the BEGIN is never forwarded;
 * - `mid-transaction`: a statement inside a transaction is never forwarded (the server rolls
 *   the transaction back when the connection goes);
 * - `commit-reply`: COMMIT is forwarded, the server commits and replies, the reply is dropped;
 * - `completion-reply`: the same for the statement that completes a partition;
 * - `statement-reply`: the same for any other statement outside a transaction;
 * - `idle`: a connection is cut right after it answered a request outside a transaction,
 *   while it sits idle in the pool.
 *
 * A cut destroys both sockets, so the client sees "Connection terminated unexpectedly".
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { seeded } from "./random.js";

/** Where a connection may be cut. */
export type FaultKind =
  | "before-begin"
  | "mid-transaction"
  | "commit-reply"
  | "completion-reply"
  | "statement-reply"
  | "idle";

/** One injected fault: where, and the statement it hit (its first 60 characters). */
export interface InjectedFault {
  readonly kind: FaultKind;
  readonly statement: string;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** The server to forward to, as a postgres:// URL. */
  readonly target: string;
  readonly seed: number;
  /** The chance, per request of that kind, of a cut. Kinds not listed are never cut. */
  readonly probability: Partial<Record<FaultKind, number>>;
  /** Which statements complete a partition (cut with `completion-reply`). */
  readonly isCompletion?: (sql: string) => boolean;
  /**
   * A targeted fault besides the random ones: called for every request (COMMIT and the
   * statements inside a transaction too); `true` forwards it and drops its reply, recorded
   * as `commit-reply` for a COMMIT and `statement-reply` otherwise.
   */
  readonly dropReplyOf?: (sql: string) => boolean;
}

/** A running proxy. */
export interface FaultProxy {
  /** The target URL with the proxy's host and port. */
  readonly url: string;
  /** Every fault injected so far, in order. */
  readonly faults: InjectedFault[];
  /** Stops or restarts injecting faults (connections keep being forwarded). */
  enabled: boolean;
  close(): Promise<void>;
}

interface Connection {
  readonly client: Socket;
  readonly server: Socket;
  /** Statement text of named prepared statements on this connection, by name. */
  readonly prepared: Map<string, string>;
  /** Whether the server last said it is inside a transaction. */
  inTransaction: boolean;
  /** A request was forwarded and its ReadyForQuery has not come back yet. */
  outstanding: boolean;
  /** Cut once the server has answered the outstanding request, before relaying the answer. */
  cutOnReply: boolean;
  startupDone: boolean;
  fromClient: Buffer;
  fromServer: Buffer;
  /** Client messages of the request being assembled (extended protocol, up to Sync). */
  pending: Buffer[];
  pendingSql: string | null;
  closed: boolean;
}

/** Starts a proxy on 127.0.0.1 (a free port) in front of `options.target`. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = seeded(options.seed);
  const connections = new Set<Connection>();
  const isCompletion = options.isCompletion ?? (() => false);

  const proxy = {
    url: "",
    faults: [] as InjectedFault[],
    enabled: true,
    close: async () => {
      for (const c of connections) cut(c);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } satisfies FaultProxy;

  const roll = (kind: FaultKind): boolean => {
    const p = options.probability[kind] ?? 0;
    // Always draw, so that one seed gives one sequence whatever is enabled.
    const draw = random();
    return proxy.enabled && draw < p;
  };

  const cut = (c: Connection) => {
    if (c.closed) return;
    c.closed = true;
    connections.delete(c);
    c.client.destroy();
    c.server.destroy();
  };

  const record = (kind: FaultKind, sql: string) => {
    proxy.faults.push({ kind, statement: sql.replace(/\s+/g, " ").trim().slice(0, 60) });
  };

  /** Decides what to do with one complete client request; returns false when it was cut. */
  const onRequest = (c: Connection, sql: string, bytes: Buffer[]): boolean => {
    const text = sql.trim().toUpperCase();
    let before: FaultKind | null = null;
    let after: FaultKind | null = null;
    if (text.startsWith("BEGIN")) before = "before-begin";
    else if (text.startsWith("COMMIT")) after = "commit-reply";
    else if (isCompletion(sql)) after = "completion-reply";
    else if (c.inTransaction) before = "mid-transaction";
    else after = "statement-reply";
    if (before && roll(before)) {
      record(before, sql);
      cut(c);
      return false;
    }
    if (after && roll(after)) {
      record(after, sql);
      c.cutOnReply = true;
    } else if (options.dropReplyOf?.(sql)) {
      record(text.startsWith("COMMIT") ? "commit-reply" : "statement-reply", sql);
      c.cutOnReply = true;
    }
    c.outstanding = true;
    for (const b of bytes) c.server.write(b);
    return true;
  };

  const onClientData = (c: Connection, chunk: Buffer) => {
    c.fromClient = Buffer.concat([c.fromClient, chunk]);
    for (;;) {
      if (c.closed) return;
      if (!c.startupDone) {
        // The startup message has no type byte: int32 length, then the body.
        if (c.fromClient.length < 4) return;
        const length = c.fromClient.readInt32BE(0);
        if (c.fromClient.length < length) return;
        c.server.write(c.fromClient.subarray(0, length));
        c.fromClient = c.fromClient.subarray(length);
        c.startupDone = true;
        continue;
      }
      if (c.fromClient.length < 5) return;
      const type = String.fromCharCode(c.fromClient[0] as number);
      const length = c.fromClient.readInt32BE(1);
      if (c.fromClient.length < 1 + length) return;
      const message = c.fromClient.subarray(0, 1 + length);
      c.fromClient = c.fromClient.subarray(1 + length);
      const body = message.subarray(5);
      if (type === "Q") {
        onRequest(c, cstring(body, 0).value, [message]);
      } else if (type === "P") {
        const name = cstring(body, 0);
        const sql = cstring(body, name.next).value;
        if (name.value) c.prepared.set(name.value, sql);
        c.pendingSql = sql;
        c.pending.push(message);
      } else if (type === "B") {
        const portal = cstring(body, 0);
        const statement = cstring(body, portal.next).value;
        c.pendingSql ??= c.prepared.get(statement) ?? "";
        c.pending.push(message);
      } else if (type === "S") {
        c.pending.push(message);
        const sql = c.pendingSql ?? "";
        const bytes = c.pending;
        c.pending = [];
        c.pendingSql = null;
        onRequest(c, sql, bytes);
      } else if (type === "X" || type === "p") {
        c.server.write(message); // Terminate, password: never faulted
      } else {
        c.pending.push(message);
      }
    }
  };

  const onServerData = (c: Connection, chunk: Buffer) => {
    c.fromServer = Buffer.concat([c.fromServer, chunk]);
    let relay = 0;
    let offset = 0;
    while (c.fromServer.length - offset >= 5) {
      const length = c.fromServer.readInt32BE(offset + 1);
      if (c.fromServer.length - offset < 1 + length) break;
      const type = String.fromCharCode(c.fromServer[offset] as number);
      offset += 1 + length;
      let idleCut = false;
      if (type === "Z") {
        const status = String.fromCharCode(c.fromServer[offset - 1] as number);
        c.inTransaction = status !== "I";
        c.outstanding = false;
        if (c.cutOnReply) {
          // The server finished the request; its answer never reaches the client.
          cut(c);
          return;
        }
        idleCut = !c.inTransaction && roll("idle");
      }
      relay = offset;
      if (idleCut) {
        // The answer arrives, then the connection drops while it sits idle in the pool.
        record("idle", "(idle connection)");
        c.closed = true;
        connections.delete(c);
        c.client.end(c.fromServer.subarray(0, relay));
        c.server.destroy();
        return;
      }
    }
    if (relay > 0 && !c.cutOnReply) c.client.write(c.fromServer.subarray(0, relay));
    if (c.cutOnReply) return; // hold everything back until the cut
    c.fromServer = c.fromServer.subarray(relay);
  };

  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
    const c: Connection = {
      client,
      server: upstream,
      prepared: new Map(),
      inTransaction: false,
      outstanding: false,
      cutOnReply: false,
      startupDone: false,
      fromClient: Buffer.alloc(0),
      fromServer: Buffer.alloc(0),
      pending: [],
      pendingSql: null,
      closed: false,
    };
    connections.add(c);
    client.on("data", (chunk) => onClientData(c, chunk));
    upstream.on("data", (chunk) => onServerData(c, chunk));
    for (const socket of [client, upstream]) {
      // Without it, Nagle's algorithm and delayed ACKs add ~40 ms to every round trip.
      socket.setNoDelay(true);
      socket.on("error", () => cut(c));
      socket.on("close", () => cut(c));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = new URL(options.target);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  proxy.url = url.toString();
  return proxy;
}

function cstring(buffer: Buffer, start: number): { value: string; next: number } {
  const end = buffer.indexOf(0, start);
  return { value: buffer.toString("utf8", start, end), next: end + 1 };
}

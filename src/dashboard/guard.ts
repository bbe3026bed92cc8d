import { timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";

/** The cookie a browser keeps the dashboard's token in once it opened the page with it. */
const TOKEN_COOKIE = "waymark_token";

/**
 * Refuses a request whose `Host` is not this dashboard's: the defence against DNS
 * rebinding, where a page on `evil.example` re-resolves its own name to 127.0.0.1 and then
 * reads or posts as if it were same-origin. Allowed: `localhost` (and `*.localhost`), any IP
 * address (a rebinding attack needs a name of its own), and the names in `allowedHosts`.
 */
export function hostAllowList(allowedHosts: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return async (c, next) => {
    const name = hostName(c.req.header("host") ?? "");
    if (!hostIsAllowed(name, allowed)) {
      return c.text(
        `Host "${name}" is not allowed. Add it to the dashboard's allowedHosts ` +
          `(waymark dashboard --allowed-host ${name || "NAME"}).`,
        403,
      );
    }
    await next();
  };
}

/** The host name of a `Host` header: the port and IPv6 brackets removed, lower case. */
export function hostName(header: string): string {
  const host = header.trim().toLowerCase();
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  return host.replace(/:\d*$/, "");
}

function hostIsAllowed(name: string, allowed: ReadonlySet<string>): boolean {
  if (name === "") return false;
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (isIP(name) !== 0) return true;
  return allowed.has(name) || allowed.has(name.replace(/\.$/, ""));
}

/** Whether a bind address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const name = hostName(host);
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/**
 * Requires `token` on every request: `Authorization: Bearer TOKEN` (scripts, scrapers), the
 * cookie set when a browser first opens the page as `?token=TOKEN` (the address the command
 * prints), or that query itself, which is then swapped for the cookie and dropped from the
 * address bar.
 */
export function requireToken(token: string): MiddlewareHandler {
  const expected = Buffer.from(token);
  const matches = (candidate: string | undefined) => {
    if (candidate === undefined) return false;
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  return async (c, next) => {
    const bearer = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (matches(bearer) || matches(getCookie(c, TOKEN_COOKIE))) return next();
    if (matches(c.req.query("token"))) {
      setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: "Strict" });
      // Off the address bar (and out of history and Referer headers) once it is a cookie.
      // Relative, so that it holds wherever the dashboard is mounted.
      const url = new URL(c.req.url);
      url.searchParams.delete("token");
      const last = url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
      return c.redirect(`${last || "./"}${url.search}`, 303);
    }
    return c.text(
      "This dashboard needs its token: open the address `waymark dashboard` printed " +
        "(…/?token=…), or send Authorization: Bearer TOKEN.",
      401,
    );
  };
}

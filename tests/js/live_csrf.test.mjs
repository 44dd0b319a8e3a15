// The LiveView socket's CSRF check (PROTOCOLS.md §7.10), raw over `ws`: a socket
// opened with the page's session cookie joins with the page's masked
// _csrf_token, and is answered "stale" with any other token, so that a page of
// another site cannot drive a user's views.
import assert from "node:assert/strict";
import { test } from "node:test";

import { startProgram, WebSocket } from "./helpers.mjs";

/** GETs `path`; resolves with the session cookie, the csrf meta, the view's id and session token. */
async function page(base, path) {
  const res = await fetch(base + path);
  const html = await res.text();
  const cookie = (res.headers.get("set-cookie") || "").split(";")[0];
  const attr = (re) => (re.exec(html) || [])[1];
  return {
    cookie,
    csrf: attr(/<meta name="csrf-token" content="([^"]+)"/),
    id: attr(/<div id="(phx-[^"]+)"/),
    session: attr(/data-phx-session="([^"]+)"/),
  };
}

/** Opens /live/websocket with `cookie` and `csrf`, joins the view, resolves with the join's reply payload. */
function join(port, pg, csrf) {
  return new Promise((resolve, reject) => {
    const url = `ws://127.0.0.1:${port}/live/websocket?_csrf_token=${encodeURIComponent(csrf)}&vsn=2.0.0`;
    const ws = new WebSocket(url, { headers: { Cookie: pg.cookie, Origin: `http://127.0.0.1:${port}` } });
    const timer = setTimeout(() => reject(new Error("no join reply within 5 s")), 5000);
    ws.on("error", reject);
    ws.on("open", () => {
      const payload = { url: `http://127.0.0.1:${port}/counter`, params: { _csrf_token: csrf }, session: pg.session, static: null };
      ws.send(JSON.stringify(["1", "1", `lv:${pg.id}`, "phx_join", payload]));
    });
    ws.on("message", (data) => {
      const [, ref, , event, body] = JSON.parse(data.toString());
      if (ref === "1" && event === "phx_reply") {
        clearTimeout(timer);
        ws.close();
        resolve(body);
      }
    });
  });
}

test("a LiveView socket joins with its page's CSRF token and is stale with another", { timeout: 30000 }, async () => {
  const server = await startProgram("showcase", {
    env: { BENNU_MASTER: "0", SECRET_KEY_BASE: "live-csrf-secret-".repeat(5) },
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const pg = await page(base, "/counter");
    assert.ok(pg.cookie && pg.csrf && pg.id && pg.session, `the page has a session, a token and a view: ${JSON.stringify(pg)}`);

    const ok = await join(server.port, pg, pg.csrf);
    assert.equal(ok.status, "ok", JSON.stringify(ok));
    assert.ok(ok.response.rendered, "the join's reply renders the view");

    const other = await page(base, "/counter"); // another visitor's token: valid, but not for this session
    const bad = await join(server.port, pg, other.csrf);
    assert.deepEqual(bad, { status: "error", response: { reason: "stale" } });
    const garbage = await join(server.port, pg, "not-a-token");
    assert.deepEqual(garbage, { status: "error", response: { reason: "stale" } });
  } finally {
    await server.stop();
  }
});

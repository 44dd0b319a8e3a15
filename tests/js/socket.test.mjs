// The socket itself with the unmodified npm phoenix client over WebSocket:
// refused connects, the authToken option, the idle timeout, disconnecting by
// socket id, and reconnecting to a restarted server.
import assert from "node:assert/strict";
import { test } from "node:test";

import { countJoins, join, newSocket, nextSocketEvent, reply, startServer, waitFor, withServer } from "./helpers.mjs";

const T = { timeout: 40000 };

/** Counts the socket's open, close and error callbacks. */
function watch(socket) {
  const seen = { open: 0, close: [], error: 0 };
  socket.onOpen(() => seen.open++);
  socket.onClose((event) => seen.close.push(event));
  socket.onError(() => seen.error++);
  return seen;
}

test("a connect the server refuses errors the socket and never opens it", T, () =>
  withServer(async ({ client }) => {
    const socket = client({ params: { reject: "1" } });
    const seen = watch(socket);
    await nextSocketEvent(socket, "error");
    assert.equal(seen.open, 0);
    assert.equal(socket.isConnected(), false);
  }),
);

test("authToken: the right token connects and joins, a wrong one is refused", T, () =>
  withServer(async ({ client }) => {
    const good = client({ authToken: "secret-token" });
    const channel = good.channel("room:auth", {});
    assert.equal((await join(channel)).status, "ok");
    assert.equal((await reply(channel.push("ping", { ok: 1 }))).status, "ok");

    const bad = client({ authToken: "wrong-token" });
    const seen = watch(bad);
    await nextSocketEvent(bad, "error");
    assert.equal(seen.open, 0);
    assert.equal(bad.isConnected(), false);
  }),
);

test("the server closes a socket that stays silent past its timeout; a heartbeating one stays", T, () =>
  withServer({ env: { CHANNEL_SERVER_TIMEOUT_MS: "1000" } }, async ({ client }) => {
    // Heartbeats every 200 ms: each one resets the server's idle timer.
    const beating = client({ heartbeatIntervalMs: 200 });
    const beatingSeen = watch(beating);
    const steady = beating.channel("room:beat", {});
    await join(steady);

    // No heartbeat for a minute: only the server can close it, after 1 s of silence.
    const silent = client({ heartbeatIntervalMs: 60000 });
    const silentChannel = silent.channel("room:quiet", {});
    const closed = nextSocketEvent(silent, "close");
    await join(silentChannel);
    const event = await closed;
    assert.ok(event, "onClose fired for the silent client");

    // The heartbeating client was connected before the silent one and is still open.
    assert.deepEqual(beatingSeen.close, []);
    assert.ok(beating.isConnected());
    assert.equal((await reply(steady.push("ping", {}))).status, "ok");
  }),
);

test("kick: disconnecting a socket id closes that client's socket with 1001; it reconnects and rejoins", T, () =>
  withServer(async ({ client }) => {
    const victim = client({ params: { user_id: "42" } });
    const victimSeen = watch(victim);
    const victimChannel = victim.channel("room:kick", {});
    const victimJoins = countJoins(victimChannel);
    await victimJoins.first;

    const bystander = client({ params: { user_id: "7" } });
    const bystanderSeen = watch(bystander);
    const admin = client();
    const adminChannel = admin.channel("room:admin", {});
    await Promise.all([join(adminChannel), join(bystander.channel("room:kick", {}))]);

    const closed = nextSocketEvent(victim, "close");
    assert.equal((await reply(adminChannel.push("kick", { user_id: "42" }))).status, "ok");
    const event = await closed;
    assert.equal(event.code, 1001);

    await waitFor(() => victimSeen.open === 2, "the kicked client to reconnect");
    await waitFor(() => victimJoins.count === 2, "the kicked client's channel to rejoin");
    assert.equal((await reply(victimChannel.push("ping", {}))).status, "ok");
    assert.deepEqual(bystanderSeen.close, [], "another user's socket stays");
    assert.ok(admin.isConnected());
  }),
);

test("a client reconnects to a restarted server by itself and its channel rejoins", T, async () => {
  let server = await startServer();
  const port = server.port;
  const socket = newSocket(server.wsUrl);
  try {
    const seen = watch(socket);
    const channel = socket.channel("room:restart", {});
    const joins = countJoins(channel);
    await joins.first;

    const closed = nextSocketEvent(socket, "close");
    await server.kill();
    await closed;
    server = await startServer({ port });
    await waitFor(() => seen.open === 2, "the reconnect", 15000);
    await waitFor(() => joins.count === 2, "the rejoin");
    assert.deepEqual(await reply(channel.push("ping", { back: true })), { status: "ok", response: { back: true } });
  } catch (err) {
    err.message += `\n--- channel_server log ---\n${server.log().slice(-3000)}`;
    throw err;
  } finally {
    socket.disconnect();
    await server.stop();
  }
});

// Channels over WebSocket with the unmodified npm phoenix client: join, leave,
// replies, pushes, broadcasts, intercepts, crashes, stops and binary payloads.
import assert from "node:assert/strict";
import { test } from "node:test";

import { countJoins, join, next, recordMessages, reply, waitFor, withServer, within } from "./helpers.mjs";

const T = { timeout: 30000 };

test("join, then leave: the leave is acknowledged and the server sends phx_close", T, () =>
  withServer(async ({ client }) => {
    const socket = client();
    const messages = recordMessages(socket);
    const channel = socket.channel("room:lobby", {});
    assert.deepEqual(await join(channel), { status: "ok", response: {} });
    const joinRef = channel.joinRef();

    let closed = false;
    channel.onClose(() => (closed = true));
    assert.equal((await reply(channel.leave())).status, "ok");
    assert.ok(closed, "onClose after the leave's ok");
    const close = await waitFor(
      () => messages.find((m) => m.topic === "room:lobby" && m.event === "phx_close"),
      "phx_close after phx_leave",
    );
    assert.equal(close.join_ref, joinRef);
  }),
);

test("a refused join answers error with the join's reason", T, () =>
  withServer(async ({ client }) => {
    const channel = client().channel("room:forbidden", {});
    assert.deepEqual(await join(channel), { status: "error", response: { reason: "unauthorized" } });
    channel.leave(); // stops the client's rejoin attempts
  }),
);

test("a topic no channel matches answers unmatched topic", T, () =>
  withServer(async ({ client }) => {
    const channel = client().channel("nowhere:1", {});
    assert.deepEqual(await join(channel), { status: "error", response: { reason: "unmatched topic" } });
    channel.leave();
  }),
);

test("replies: ok with a response, and error", T, () =>
  withServer(async ({ client }) => {
    const channel = client().channel("room:replies", {});
    await join(channel);
    const payload = { text: "héllo ✓ \"q\"\n", n: 42, f: 1.5, list: [1, null, true], nested: { a: "b" } };
    assert.deepEqual(await reply(channel.push("ping", payload)), { status: "ok", response: payload });
    assert.deepEqual(await reply(channel.push("error_reply", {})), { status: "error", response: { reason: "nope" } });
  }),
);

test("the server pushes to its client, from handle_in and from handle_info after the join", T, () =>
  withServer(async ({ client }) => {
    const channel = client().channel("room:push", { welcome: true });
    const welcome = next(channel, "welcome");
    assert.equal((await join(channel)).status, "ok");
    assert.deepEqual(await welcome, {});

    const pushed = next(channel, "pushed");
    channel.push("push_me", { n: 7 }); // no reply: handle_in pushes instead
    assert.deepEqual(await pushed, { n: 7 });
  }),
);

test("a broadcast reaches every client in the room, the sender included", T, () =>
  withServer(async ({ client }) => {
    const a = client().channel("room:bcast", {});
    const b = client().channel("room:bcast", {});
    const other = client().channel("room:elsewhere", {});
    await Promise.all([join(a), join(b), join(other)]);
    let strayed = false;
    other.on("new_msg", () => (strayed = true));

    const atA = next(a, "new_msg");
    const atB = next(b, "new_msg");
    a.push("new_msg", { body: "hi all" });
    assert.deepEqual(await atA, { body: "hi all" });
    assert.deepEqual(await atB, { body: "hi all" });
    // A round trip on the other room's socket: had the broadcast gone there, it would be in by now.
    assert.equal((await reply(other.push("ping", {}))).status, "ok");
    assert.equal(strayed, false, "a broadcast stays in its topic");
  }),
);

test("broadcast_from reaches the others but not the sender", T, () =>
  withServer(async ({ client }) => {
    const a = client().channel("room:from", {});
    const b = client().channel("room:from", {});
    await Promise.all([join(a), join(b)]);
    const seenByA = [];
    a.on("shout_from", (p) => seenByA.push(p));

    const atB = next(b, "shout_from");
    a.push("shout_from", { body: "not for me" });
    assert.deepEqual(await atB, { body: "not for me" });
    // The sender's own round trip after the broadcast: a copy for it would have come first.
    assert.equal((await reply(a.push("ping", {}))).status, "ok");
    assert.deepEqual(seenByA, []);
  }),
);

test("an intercepted event goes through handle_out; others pass unchanged", T, () =>
  withServer(async ({ client }) => {
    const a = client().channel("intercepted:1", {});
    const b = client().channel("intercepted:1", {});
    await Promise.all([join(a), join(b)]);

    const secrets = [next(a, "secret"), next(b, "secret")];
    a.push("secret", { text: "hidden" });
    for (const payload of await Promise.all(secrets)) assert.deepEqual(payload, { filtered: true });

    const plain = [next(a, "new_msg"), next(b, "new_msg")];
    b.push("new_msg", { body: "plain" });
    for (const payload of await Promise.all(plain)) assert.deepEqual(payload, { body: "plain" });
  }),
);

test("a crashing handler sends phx_error and the client rejoins", T, () =>
  withServer(async ({ client }) => {
    const socket = client();
    const messages = recordMessages(socket);
    const channel = socket.channel("room:crash", {});
    const joins = countJoins(channel);
    assert.equal((await joins.first).status, "ok");
    const firstRef = channel.joinRef();

    let errors = 0;
    channel.onError(() => errors++);
    channel.push("crash", {});
    const error = await waitFor(
      () => messages.find((m) => m.topic === "room:crash" && m.event === "phx_error"),
      "phx_error",
    );
    assert.equal(error.join_ref, firstRef);
    assert.equal(errors, 1);
    await waitFor(() => joins.count === 2, "the rejoin");
    assert.notEqual(channel.joinRef(), firstRef);
    assert.deepEqual(await reply(channel.push("ping", { after: "crash" })), {
      status: "ok",
      response: { after: "crash" },
    });
    assert.ok(socket.isConnected(), "other channels and the socket go on");
  }),
);

test("a crash ends only its own channel", T, () =>
  withServer(async ({ client }) => {
    const socket = client();
    const crashing = socket.channel("room:crash2", {});
    const steady = socket.channel("room:steady", {});
    await Promise.all([join(crashing), join(steady)]);
    let steadyErrors = 0;
    steady.onError(() => steadyErrors++);
    const errored = within("phx_error on room:crash2", (resolve) => crashing.onError(resolve));
    crashing.push("crash", {});
    await errored;
    assert.equal((await reply(steady.push("ping", { still: "here" }))).status, "ok");
    assert.equal(steadyErrors, 0);
  }),
);

test("a stopped channel closes with phx_close and does not rejoin", T, () =>
  withServer(async ({ client }) => {
    const socket = client();
    const messages = recordMessages(socket);
    const channel = socket.channel("room:stop", {});
    const joins = countJoins(channel);
    await joins.first;
    const closed = within("phx_close on room:stop", (resolve) => channel.onClose(resolve));
    channel.push("stop", {});
    await closed;
    const close = messages.find((m) => m.topic === "room:stop" && m.event === "phx_close");
    assert.ok(close, "phx_close from the server");
    assert.equal(close.join_ref, channel.joinRef());
    assert.equal(channel.state, "closed");
    assert.ok(!socket.channels.includes(channel), "the client dropped the channel");

    // The server forgot it too: a new join of the topic is a plain first join.
    const again = socket.channel("room:stop", {});
    assert.equal((await join(again)).status, "ok");
    assert.equal(joins.count, 1, "the stopped channel never rejoined");
    assert.equal((await reply(again.push("ping", {}))).status, "ok");
  }),
);

test("binary payloads: an ArrayBuffer push gets the same bytes back as a binary reply", T, () =>
  withServer(async ({ client }) => {
    const channel = client().channel("room:binary", {});
    await join(channel);
    const bytes = new Uint8Array(300);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff; // every byte value, zeros and 0xff included
    const { status, response } = await reply(channel.push("ping", bytes.buffer));
    assert.equal(status, "ok");
    assert.ok(response instanceof ArrayBuffer, `a binary reply, not ${JSON.stringify(response)}`);
    assert.deepEqual(new Uint8Array(response), bytes);

    const empty = await reply(channel.push("ping", new ArrayBuffer(0)));
    assert.equal(empty.response.byteLength, 0);
  }),
);

test("a suspended handler keeps the socket's order: slow then ping reply in that order", T, () =>
  withServer(async ({ client }) => {
    const channel = client().channel("room:slow", {});
    await join(channel);
    const order = [];
    const slow = reply(channel.push("slow", {})).then((r) => order.push(["slow", r.status]));
    const ping = reply(channel.push("ping", {})).then((r) => order.push(["ping", r.status]));
    await Promise.all([slow, ping]);
    assert.deepEqual(order, [
      ["slow", "ok"],
      ["ping", "ok"],
    ]);
  }),
);

test.skip("V1 serializer: the npm phoenix client only speaks V2 (vsn=2.0.0)");

test("permessage-deflate: with compress on, ws's offer is taken and messages flow compressed both ways", T, () =>
  withServer({ env: { CHANNEL_SERVER_COMPRESS: "1" } }, async ({ client }) => {
    const sa = client();
    const a = sa.channel("room:zip", {});
    const b = client().channel("room:zip", {});
    await Promise.all([join(a), join(b)]);
    assert.match(sa.conn.extensions, /permessage-deflate/, "the ws client's deflate offer was accepted");

    const body = "compressible ".repeat(200);
    for (let i = 0; i < 3; i++) { // several messages: the windows carry over (context takeover)
      const atB = next(b, "new_msg");
      a.push("new_msg", { body, i });
      assert.deepEqual(await atB, { body, i });
    }
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    const { response } = await reply(a.push("ping", bytes.buffer));
    assert.deepEqual(new Uint8Array(response), bytes);
  }),
);

// The long-poll transport with the npm phoenix client's own LongPoll class,
// run in Node: LongPoll's Ajax uses fetch + AbortController when there is no
// XMLHttpRequest, and Node 20 has both, so no polyfill is needed.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LongPoll, join, next, nextSocketEvent, reply, withServer } from "./helpers.mjs";

const T = { timeout: 30000 };
const LP = { transport: LongPoll };

test("long-poll: join, push and reply", T, () =>
  withServer(async ({ client }) => {
    const socket = client(LP);
    const channel = socket.channel("room:lp", { welcome: true });
    const welcome = next(channel, "welcome");
    assert.deepEqual(await join(channel), { status: "ok", response: {} });
    assert.deepEqual(await welcome, {});
    assert.equal(socket.conn.constructor, LongPoll);
    const payload = { body: "over long-poll", list: [1, 2] };
    assert.deepEqual(await reply(channel.push("ping", payload)), { status: "ok", response: payload });
    assert.deepEqual(await reply(channel.push("error_reply", {})), { status: "error", response: { reason: "nope" } });
    const pushed = next(channel, "pushed");
    channel.push("push_me", { n: 1 });
    assert.deepEqual(await pushed, { n: 1 });
  }),
);

test("long-poll and WebSocket clients share a room's broadcasts both ways", T, () =>
  withServer(async ({ client }) => {
    const ws = client().channel("room:mixed", {});
    const lp = client(LP).channel("room:mixed", {});
    await Promise.all([join(ws), join(lp)]);

    const atLp = next(lp, "new_msg");
    const atWsOwn = next(ws, "new_msg");
    ws.push("new_msg", { body: "from ws" });
    assert.deepEqual(await atLp, { body: "from ws" });
    assert.deepEqual(await atWsOwn, { body: "from ws" });

    const atWs = next(ws, "new_msg");
    lp.push("new_msg", { body: "from lp" });
    assert.deepEqual(await atWs, { body: "from lp" });

    const fromAtLp = next(lp, "shout_from");
    ws.push("shout_from", { body: "to the others" });
    assert.deepEqual(await fromAtLp, { body: "to the others" });
  }),
);

test("long-poll: a slow handler keeps the order of replies (slow, then ping)", T, () =>
  withServer(async ({ client }) => {
    const channel = client(LP).channel("room:lpslow", {});
    await join(channel);
    const order = [];
    const slow = reply(channel.push("slow", {})).then(() => order.push("slow"));
    const ping = reply(channel.push("ping", {})).then(() => order.push("ping"));
    await Promise.all([slow, ping]);
    assert.deepEqual(order, ["slow", "ping"]);
  }),
);

test("long-poll: the authToken travels in a header; a wrong one or a refused connect is forbidden", T, () =>
  withServer(async ({ client }) => {
    const good = client({ ...LP, authToken: "secret-token" });
    assert.equal((await join(good.channel("room:lpauth", {}))).status, "ok");

    const bad = client({ ...LP, authToken: "wrong-token" });
    const badClose = nextSocketEvent(bad, "close");
    assert.equal(await nextSocketEvent(bad, "error"), 403);
    assert.equal((await badClose).code, 1008);

    const refused = client({ ...LP, params: { reject: "1" } });
    const refusedClose = nextSocketEvent(refused, "close");
    assert.equal(await nextSocketEvent(refused, "error"), 403);
    assert.equal((await refusedClose).code, 1008);
  }),
);

// Presence with the unmodified npm phoenix client's `Presence` object
// (onJoin/onLeave/onSync, list): one node with the local adapter, then
// clusters of two and three channel_server nodes sharing a redis-server of
// the test's own. channel_server tracks a client that joins room:* with
// {user: NAME} (meta {user, online_at}) and pushes it presence_state.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Presence } from "phoenix";

import { join, newSocket, startRedis, startServer, waitFor, withServer } from "./helpers.mjs";

const T = { timeout: 60000 };
// Short replication timings for the cluster tests (the defaults: 1500 and 5000 ms).
const HEARTBEAT_MS = 100;
const TIMEOUT_MS = 1000;

/** A client of `topic` as `user`, with a Presence that records what it is told. */
function member(socket, topic, user) {
  const channel = socket.channel(topic, { user });
  const presence = new Presence(channel);
  const seen = { joins: [], leaves: [], syncs: 0, states: [], diffs: [] };
  presence.onJoin((key, current, joined) => seen.joins.push({ key, current, joined }));
  presence.onLeave((key, current, left) => seen.leaves.push({ key, current, left }));
  presence.onSync(() => seen.syncs++);
  channel.on("presence_state", (state) => seen.states.push(state));
  channel.on("presence_diff", (diff) => seen.diffs.push(diff));
  const users = () => presence.list((key) => key).sort();
  return { channel, presence, seen, users, joined: join(channel) };
}

/** Waits until `m`'s list is exactly `users`. */
function waitUsers(m, users, what, ms) {
  const want = [...users].sort().join(",");
  return waitFor(() => m.users().join(",") === want, `${what}: [${want}] (have [${m.users().join(",")}])`, ms);
}

test("one node: presence_state to the joiner, diffs to the room, onJoin/onLeave/onSync and list", T, () =>
  withServer(async ({ client }) => {
    const ada = member(client(), "room:who", "ada");
    assert.equal((await ada.joined).status, "ok");
    await waitUsers(ada, ["ada"], "ada sees herself");
    const [state] = ada.seen.states;
    assert.deepEqual(Object.keys(state), ["ada"]);
    const [meta] = state.ada.metas;
    assert.equal(meta.user, "ada");
    assert.equal(typeof meta.online_at, "number");
    assert.match(meta.phx_ref, /^[A-Za-z0-9_-]{16}$/);
    assert.ok(ada.seen.syncs >= 1);
    assert.equal(ada.seen.joins[0].key, "ada");

    const bob = member(client(), "room:who", "bob");
    await bob.joined;
    await waitUsers(ada, ["ada", "bob"], "ada sees bob join");
    await waitUsers(bob, ["ada", "bob"], "bob's state has ada");
    assert.deepEqual(Object.keys(bob.seen.states[0]).sort(), ["ada", "bob"]);
    assert.ok(ada.seen.joins.some((j) => j.key === "bob" && j.current === undefined));

    // A second tab for bob: one more meta under the same key.
    const bobTab = member(client(), "room:who", "bob");
    await bobTab.joined;
    await waitFor(() => ada.presence.list((k, p) => (k === "bob" ? p.metas.length : 0)).includes(2), "bob with 2 metas");
    const joinedAgain = ada.seen.joins.filter((j) => j.key === "bob").at(-1);
    assert.equal(joinedAgain.current.metas.length, 1, "onJoin gets the presence as it was");

    // Leaving: one meta leaves, then the key.
    await bobTab.channel.leave();
    await waitFor(() => ada.seen.leaves.length === 1, "a leave for bob's tab");
    assert.equal(ada.seen.leaves[0].key, "bob");
    assert.equal(ada.seen.leaves[0].current.metas.length, 1, "bob is still there once");
    assert.deepEqual(ada.users(), ["ada", "bob"]);
    bob.channel.socket.disconnect();
    await waitUsers(ada, ["ada"], "bob gone once his socket closes");
    assert.equal(ada.seen.leaves.at(-1).current.metas.length, 0);
    const diff = ada.seen.diffs.at(-1);
    assert.deepEqual(Object.keys(diff.leaves), ["bob"]);
    assert.deepEqual(diff.joins, {});
  }),
);

// ---- clusters ------------------------------------------------------------------------------------

/**
 * Runs `body({nodes, client})` against `n` channel_server nodes ("a", "b",
 * ...) on one fresh Redis, each with the short presence timings; stops
 * everything afterwards.
 */
async function withCluster(n, body) {
  const redis = await startRedis();
  const nodes = [];
  const sockets = [];
  try {
    for (const name of "abc".slice(0, n)) {
      const env = {
        REDIS_URL: redis.url,
        BENNU_NODE: name,
        BENNU_PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
        BENNU_PRESENCE_TIMEOUT_MS: String(TIMEOUT_MS),
      };
      nodes.push(await startServer({ env }));
    }
    // Every node has heard every other one (presence.c logs each node it meets).
    for (const [i, node] of nodes.entries())
      for (const other of "abc".slice(0, n).replace("abc"[i], ""))
        await waitFor(() => node.log().includes(`presence: node ${other} is up`), `node ${"abc"[i]} meets ${other}`);
    const client = (node) => {
      const socket = newSocket(node.wsUrl);
      sockets.push(socket);
      return socket;
    };
    await body({ nodes, client });
  } catch (err) {
    for (const [i, node] of nodes.entries())
      err.message += `\n--- node ${"abc"[i]} log (last 2000 chars) ---\n${node.log().slice(-2000)}`;
    throw err;
  } finally {
    for (const socket of sockets) socket.disconnect();
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
}

/** The presence_state a new client joining `topic` on `node` as `user` gets (it leaves afterwards). */
async function stateOnJoin(client, node, topic, user) {
  const m = member(client(node), topic, user);
  await m.joined;
  await waitFor(() => m.seen.states.length, `presence_state for ${user}`);
  await m.channel.leave();
  return m.seen.states[0];
}

test("two nodes: clients on each see each other, in presence_state and in diffs", T, () =>
  withCluster(2, async ({ nodes: [a, b], client }) => {
    const ada = member(client(a), "room:cluster", "ada");
    await ada.joined;
    const bob = member(client(b), "room:cluster", "bob");
    await bob.joined;
    await waitUsers(bob, ["ada", "bob"], "bob, on node b, sees ada of node a");
    await waitUsers(ada, ["ada", "bob"], "ada, on node a, sees bob of node b");

    // Whoever joins later, on either node, finds both in its presence_state.
    for (const [node, user] of [
      [b, "carol"],
      [a, "dan"],
    ]) {
      const state = await stateOnJoin(client, node, "room:cluster", user);
      assert.deepEqual(Object.keys(state).sort(), ["ada", "bob", user].sort(), `${user}'s presence_state`);
      assert.equal(state.ada.metas[0].user, "ada");
      assert.equal(state.bob.metas[0].user, "bob");
      // Gone again on both nodes before the next one joins.
      for (const m of [ada, bob]) await waitFor(() => m.seen.leaves.some((l) => l.key === user), `${user}'s leave`);
    }

    // ada leaves on node a: bob, on node b, gets the presence_diff.
    const diffs = bob.seen.diffs.length;
    await ada.channel.leave();
    await waitUsers(bob, ["bob"], "ada's leave reaches node b");
    const leave = bob.seen.diffs.slice(diffs).find((d) => d.leaves.ada);
    assert.ok(leave, "a presence_diff with ada in leaves");
    assert.equal(leave.leaves.ada.metas[0].user, "ada");
    assert.equal(bob.seen.leaves.at(-1).key, "ada");
    const state = await stateOnJoin(client, b, "room:cluster", "erin");
    assert.deepEqual(Object.keys(state).sort(), ["bob", "erin"]);
  }),
);

test("three nodes: a node killed with SIGKILL has its presences leave on the others", T, () =>
  withCluster(3, async ({ nodes: [a, b, c], client }) => {
    const ada = member(client(a), "room:kill", "ada");
    const bob = member(client(b), "room:kill", "bob");
    const cid = member(client(c), "room:kill", "cid");
    const cid2 = member(client(c), "room:kill", "cid2");
    await Promise.all([ada.joined, bob.joined, cid.joined, cid2.joined]);
    const all = ["ada", "bob", "cid", "cid2"];
    for (const m of [ada, bob, cid]) await waitUsers(m, all, "everyone sees everyone");

    await c.kill();
    // The documented bound is presence_timeout_ms and a tick (here 50 ms); the rest is slack for a busy machine.
    const bound = TIMEOUT_MS + 4000;
    await Promise.all([
      waitUsers(ada, ["ada", "bob"], "node c's presences leave on node a", bound),
      waitUsers(bob, ["ada", "bob"], "node c's presences leave on node b", bound),
    ]);
    for (const m of [ada, bob]) {
      const left = m.seen.leaves.map((l) => l.key).sort();
      assert.deepEqual(left, ["cid", "cid2"]);
    }
    const state = await stateOnJoin(client, a, "room:kill", "eve");
    assert.deepEqual(Object.keys(state).sort(), ["ada", "bob", "eve"]);
  }),
);

// Two channel_server nodes sharing a redis-server of the test's own (never
// the system's): npm phoenix clients on node A and node B in the same room
// exchange broadcasts, each hearing its own once.
import assert from "node:assert/strict";
import { test } from "node:test";

import { join, newSocket, next, startRedis, startServer, waitFor } from "./helpers.mjs";

const T = { timeout: 60000 };
test("clients on node A and node B in the same room exchange broadcasts", T, async () => {
  const redis = await startRedis();
  const nodes = [];
  const sockets = [];
  try {
    for (const name of ["a", "b"]) {
      const node = await startServer({ env: { REDIS_URL: redis.url, BENNU_NODE: name } });
      nodes.push(node);
      await waitFor(() => /pubsub: connected to redis/.test(node.log()), `node ${name} connected to redis`);
    }
    const channels = nodes.map((node) => {
      const socket = newSocket(node.wsUrl);
      sockets.push(socket);
      return socket.channel("room:cluster", {});
    });
    for (const channel of channels) assert.equal((await join(channel)).status, "ok");

    const seen = channels.map(() => []);
    channels.forEach((channel, i) => channel.on("new_msg", (msg) => seen[i].push(msg.body)));
    const [onA, onB] = channels;

    let got = [next(onA, "new_msg"), next(onB, "new_msg")];
    onA.push("new_msg", { body: "hello from A" });
    assert.deepEqual(await Promise.all(got), [{ body: "hello from A" }, { body: "hello from A" }]);

    got = [next(onA, "new_msg"), next(onB, "new_msg")];
    onB.push("new_msg", { body: "hello from B" });
    assert.deepEqual(await Promise.all(got), [{ body: "hello from B" }, { body: "hello from B" }]);

    // A's own message came back through Redis too: its node must have dropped it.
    got = [next(onA, "new_msg"), next(onB, "new_msg")];
    onA.push("new_msg", { body: "last" });
    await Promise.all(got);
    assert.deepEqual(seen, [
      ["hello from A", "hello from B", "last"],
      ["hello from A", "hello from B", "last"],
    ]);
  } catch (err) {
    for (const node of nodes) err.message += `\n--- node log (last 2000 chars) ---\n${node.log().slice(-2000)}`;
    throw err;
  } finally {
    for (const socket of sockets) socket.disconnect();
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
});

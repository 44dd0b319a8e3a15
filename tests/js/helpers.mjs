// Shared by the tests in this folder: starts and stops channel_server, connects
// phoenix clients to it, and turns the client's callbacks into promises with
// bounded waits (a wait that runs out fails with what it waited for).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { LongPoll, Socket } from "phoenix";
import { chromium } from "playwright-core";
import WebSocket from "ws";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const binDir = process.env.BENNU_BIN_DIR || path.resolve(here, "../../build/debug/bin");
export const phoenixBundle = path.join(here, "node_modules/phoenix/priv/static/phoenix.min.js");

const WAIT_MS = 5000; // any single expected event
const START_MS = 15000; // a server start

// Servers still running when the test file's process exits are killed with it.
const running = new Set();
process.on("exit", () => {
  for (const server of running) server.killGroup("SIGKILL");
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it returns a truthy value, for at most `ms`. */
export async function waitFor(check, what, ms = WAIT_MS) {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * A promise settled by a callback-style API, or rejected after `ms`. Tests
 * often start waiting before they act and await later: a rejection before
 * the await is not reported as unhandled (the await still throws it).
 */
export function within(what, executor, ms = WAIT_MS) {
  const promise = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    executor(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
  promise.catch(() => {});
  return promise;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.on("error", () => resolve(false));
  });
}

/** Starts channel_server (port 0: a free one): startProgram("channel_server", opts). */
export function startServer(opts = {}) {
  return startProgram("channel_server", opts);
}

/**
 * Starts the program `name` from the build's bin folder (port 0: a free one)
 * and resolves once its worker serves. `env` adds to the environment. The
 * result has port, wsUrl, httpUrl, log(), stop() (SIGTERM, then SIGKILL) and
 * kill() (SIGKILL now).
 */
export async function startProgram(name, { port = 0, env = {} } = {}) {
  const program = path.join(binDir, name);
  const child = spawn(program, [], {
    env: { ...process.env, PORT: String(port), BENNU_THREADS: "2", ...env },
    detached: true, // its own process group: the master and its worker die together
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  let exited = null;
  const exit = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      running.delete(server);
      resolve(exited);
    }),
  );
  child.on("error", (err) => (log += `spawn ${program}: ${err.message}\n`));

  const server = {
    child,
    port: 0,
    log: () => log,
    get exited() {
      return exited;
    },
    get wsUrl() {
      return `ws://127.0.0.1:${this.port}/socket`;
    },
    get httpUrl() {
      return `http://127.0.0.1:${this.port}`;
    },
    killGroup(signal) {
      if (exited) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        /* already gone */
      }
    },
    /** Kills at once (a crash or a power cut, as far as clients can tell). */
    async kill() {
      this.killGroup("SIGKILL");
      await exit;
    },
    /** A graceful stop; SIGKILL if it takes more than 5 s. */
    async stop() {
      if (exited) return;
      this.killGroup("SIGTERM");
      const timer = setTimeout(() => this.killGroup("SIGKILL"), 5000);
      await exit;
      clearTimeout(timer);
      this.killGroup("SIGKILL"); // a worker left behind by its master
    },
  };
  running.add(server);

  const end = Date.now() + START_MS;
  for (;;) {
    if (exited) throw new Error(`${name} exited (${JSON.stringify(exited)}) before serving:\n${log}`);
    const m = /listening on http:\/\/[^\s]+:(\d+)/.exec(log);
    if (m) server.port = Number(m[1]);
    // Accepting is not serving yet under a master: wait for the worker too.
    if (server.port && /serving with/.test(log) && (await canConnect(server.port))) return server;
    if (Date.now() > end) {
      await server.kill();
      throw new Error(`${name} did not start within ${START_MS} ms:\n${log}`);
    }
    await sleep(20);
  }
}

/**
 * Runs `body(server)` against a fresh server that is stopped afterwards; a
 * failure carries the end of the server's log.
 */
export async function withServer(opts, body) {
  if (typeof opts === "function") [opts, body] = [{}, opts];
  const server = await startServer(opts);
  const clients = [];
  const ctx = {
    server,
    /** A phoenix client; disconnected when the test ends. */
    client(options = {}, url = server.wsUrl) {
      const socket = newSocket(url, options);
      clients.push(socket);
      return socket;
    },
  };
  try {
    await body(ctx);
  } catch (err) {
    err.message += `\n--- channel_server log (last 3000 chars) ---\n${server.log().slice(-3000)}`;
    throw err;
  } finally {
    for (const socket of clients) socket.disconnect();
    await server.stop();
  }
}

/**
 * A connected phoenix Socket over `ws` (or LongPoll with {transport:
 * LongPoll}). Retries are fast so that reconnects and rejoins happen well
 * within the tests' waits; pushes time out after 5 s.
 */
export function newSocket(url, options = {}) {
  const socket = new Socket(url, {
    transport: WebSocket,
    timeout: 5000,
    reconnectAfterMs: () => 100,
    rejoinAfterMs: () => 100,
    ...options,
  });
  socket.connect();
  return socket;
}

// ---- Redis, for cluster tests --------------------------------------------------------------

/** A port the kernel just handed out on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True once something answers PING on `port` with +PONG. */
function pongs(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port }, () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      sock.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    sock.on("error", () => resolve(false));
  });
}

/** Starts redis-server on a free loopback port without persistence; resolves with {url, stop}. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn(
    process.env.BENNU_REDIS_SERVER || "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  let exited = false;
  const exit = new Promise((resolve) => child.on("exit", () => resolve((exited = true))));
  process.on("exit", () => child.kill("SIGKILL"));
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await exit;
  };
  const end = Date.now() + 10000;
  while (!(await pongs(port))) {
    if (exited || Date.now() > end) {
      await stop();
      throw new Error(`redis-server did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}

// ---- Chromium, for browser tests --------------------------------------------------------------

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Debian's headless Chromium under playwright-core, with a fresh temporary profile (launch() makes one). */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (tools/deps.sh)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

export { LongPoll, Socket, WebSocket };

/** Resolves with a push's reply {status, response} ("ok", "error" or another status); rejects on timeout. */
export function reply(push, what = `reply to ${push.event}`) {
  return within(what, (resolve, reject) => {
    push.receive("ok", (response) => resolve({ status: "ok", response }));
    push.receive("error", (response) => resolve({ status: "error", response }));
    push.receive("timeout", () => reject(new Error(`push ${push.event} timed out`)));
  });
}

/** Joins `channel`; resolves with the join's reply {status, response}. */
export function join(channel) {
  return reply(channel.join(), `join of ${channel.topic}`);
}

/** Joins `channel` and counts its successful joins (rejoins included): returns {count, first}. */
export function countJoins(channel) {
  const joins = { count: 0 };
  joins.first = reply(
    channel.join().receive("ok", () => joins.count++),
    `join of ${channel.topic}`,
  );
  return joins;
}

/** Resolves with the next `event` payload on `channel`. */
export function next(channel, event) {
  return within(`${event} on ${channel.topic}`, (resolve) => {
    const ref = channel.on(event, (payload) => {
      channel.off(event, ref);
      resolve(payload);
    });
  });
}

/** Records every message the socket receives (all topics, replies included). */
export function recordMessages(socket) {
  const messages = [];
  socket.onMessage((msg) => messages.push(msg));
  return messages;
}

/** Resolves with the next socket-level `kind` callback ("open", "close" or "error"). */
export function nextSocketEvent(socket, kind) {
  const register = { open: "onOpen", close: "onClose", error: "onError" }[kind];
  return within(`socket ${kind}`, (resolve) => {
    const ref = socket[register]((event) => {
      socket.off([ref]);
      resolve(event);
    });
  });
}

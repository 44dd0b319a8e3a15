// LiveView in a real browser: Debian's headless Chromium, driven by
// playwright-core, loads the showcase's /counter and /clock pages, which run
// the unmodified npm phoenix_live_view client (examples/showcase/assets,
// bundled by esbuild into dist/app.js). The WebSocket frames are recorded to
// check that a click's reply carries only the dynamic that changed.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { binDir, here, launchChromium, startProgram } from "./helpers.mjs";

const APP_JS = path.resolve(here, "../../examples/showcase/assets/dist/app.js");
const ARTIFACTS = path.join(here, "artifacts");
const CONNECTED = "[data-phx-main].phx-connected"; // the client's class once the view has joined

/** Saves a screenshot of `page` under tests/js/artifacts (a folder git ignores by itself). */
async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(path.join(ARTIFACTS, ".gitignore"), "*\n");
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  return file;
}

/** A V2 frame [join_ref, ref, topic, event, payload] as an object, or null (binary, V1). */
function decode(payload) {
  if (typeof payload !== "string") return null;
  try {
    const msg = JSON.parse(payload);
    if (!Array.isArray(msg) || msg.length !== 5) return null;
    const [joinRef, ref, topic, event, body] = msg;
    return { joinRef, ref, topic, event, payload: body };
  } catch {
    return null;
  }
}

test("the showcase's LiveViews: a counter's minimal diffs and a ticking clock", { timeout: 60000 }, async () => {
  assert.ok(existsSync(path.join(binDir, "showcase")), `no showcase in ${binDir}: build the target showcase`);
  assert.ok(existsSync(APP_JS), `no ${APP_JS}: run \`npm ci && npm run build\` in examples/showcase/assets`);

  const server = await startProgram("showcase", {
    env: { BENNU_MASTER: "0", SECRET_KEY_BASE: "live-test-secret-".repeat(5) },
  });
  // launch() gives every run a fresh temporary profile (its own --user-data-dir).
  const browser = await launchChromium();
  let page;
  let step = "start";
  try {
    page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10000);
    const problems = [];
    page.on("console", (msg) => {
      if (msg.type() === "error" || /version mismatch/i.test(msg.text()))
        problems.push(`console ${msg.type()}: ${msg.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    const sent = [];
    const received = [];
    page.on("websocket", (ws) => {
      ws.on("framesent", (f) => sent.push(decode(f.payload)));
      ws.on("framereceived", (f) => received.push(decode(f.payload)));
    });

    step = "counter";
    await page.goto(`${server.httpUrl}/counter`);
    await page.waitForSelector(CONNECTED);
    assert.equal(await page.textContent("#count"), "0");
    const click = async (label, expected) => {
      await page.getByRole("button", { name: label, exact: true }).click();
      await page.waitForFunction((want) => document.getElementById("count").textContent === want, expected);
    };
    await click("+", "1");
    await click("+", "2");
    await click("+", "3");
    await click("-", "2");

    // The reply to the last click ("dec"): the diff holds the one dynamic that changed.
    const dec = sent.filter((m) => m && m.event === "event" && m.payload?.event === "dec").at(-1);
    assert.ok(dec, `the dec event went over the WebSocket: ${JSON.stringify(sent)}`);
    const reply = received.find((m) => m && m.event === "phx_reply" && m.ref === dec.ref && m.topic === dec.topic);
    assert.ok(reply, `a reply to ref ${dec.ref}: ${JSON.stringify(received)}`);
    assert.equal(reply.payload.status, "ok", JSON.stringify(reply));
    const diff = reply.payload.response?.diff;
    assert.ok(diff && typeof diff === "object", `the reply carries a diff: ${JSON.stringify(reply)}`);
    assert.equal(Object.keys(diff).length, 1, `only the changed dynamic: ${JSON.stringify(diff)}`);
    assert.equal(String(Object.values(diff)[0]), "2", `the new count: ${JSON.stringify(diff)}`);

    step = "clock";
    await page.goto(`${server.httpUrl}/clock`);
    await page.waitForSelector(CONNECTED);
    const first = await page.textContent("#time");
    assert.match(first, /^\d\d:\d\d:\d\d UTC$/);
    // It ticks every second: a new time within 2.5 s.
    await page.waitForFunction((t) => document.getElementById("time").textContent !== t, first, { timeout: 2500 });
    assert.match(await page.textContent("#time"), /^\d\d:\d\d:\d\d UTC$/);

    assert.deepEqual(problems, []);
  } catch (err) {
    if (page) err.message += `\nscreenshot: ${await screenshot(page, `live-${step}`)}`;
    err.message += `\n--- showcase log (last 3000 chars) ---\n${server.log().slice(-3000)}`;
    throw err;
  } finally {
    await browser.close();
    await server.stop();
  }
});

// Two tabs on the showcase's /todos LiveView, in headless Chromium with the npm
// phoenix_live_view client: a change in one tab appears in the other without a
// reload, carried by a PubSub broadcast that every view subscribed to. The
// WebSocket frames of the second tab are recorded to check that the pushed
// diff holds the list's comprehension only.
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

/** A tab on /todos, joined, recording its problems and the frames it receives. */
async function openTab(browser, url, name) {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(10000);
  const tab = { name, page, problems: [], received: [] };
  page.on("console", (msg) => {
    if (msg.type() === "error" || /version mismatch/i.test(msg.text()))
      tab.problems.push(`${name} console ${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => tab.problems.push(`${name} page error: ${err.message}`));
  page.on("websocket", (ws) => ws.on("framereceived", (f) => tab.received.push(decode(f.payload))));
  await page.goto(url);
  await page.waitForSelector(CONNECTED);
  return tab;
}

/** The item whose text is `text`, in `page`. */
const item = (page, text) => page.locator("#todos li", { hasText: text });

test("the showcase's TodosLive: two tabs in sync over PubSub", { timeout: 60000 }, async () => {
  assert.ok(existsSync(path.join(binDir, "showcase")), `no showcase in ${binDir}: build the target showcase`);
  assert.ok(existsSync(APP_JS), `no ${APP_JS}: run \`npm ci && npm run build\` in examples/showcase/assets`);

  // Two loop threads: the two tabs' views may well live on different ones.
  const server = await startProgram("showcase", {
    env: { BENNU_MASTER: "0", SECRET_KEY_BASE: "live-sync-test-secret-".repeat(4) },
  });
  const browser = await launchChromium();
  const tabs = [];
  let step = "start";
  try {
    const url = `${server.httpUrl}/todos`;
    const a = await openTab(browser, url, "A");
    tabs.push(a);
    const b = await openTab(browser, url, "B");
    tabs.push(b);
    const text = `buy milk ${Date.now()}`; // unique: the list is the server's, whatever ran before

    step = "add";
    const pushesBefore = b.received.length;
    await a.page.fill("#new-todo input[name=text]", text);
    await a.page.click("#new-todo button[type=submit]");
    await item(b.page, text).waitFor();
    await item(a.page, text).waitFor();
    assert.equal(await a.page.inputValue("#new-todo input[name=text]"), "", "the input is emptied after the add");

    // B's push: a "diff" whose only dynamic is the list's comprehension (keyed entries), no statics of the page.
    const push = b.received
      .slice(pushesBefore)
      .find((m) => m && m.event === "diff" && m.topic.startsWith("lv:") && JSON.stringify(m.payload).includes(text));
    assert.ok(push, `B got a diff with the new item: ${JSON.stringify(b.received.slice(pushesBefore))}`);
    const keys = Object.keys(push.payload);
    assert.equal(keys.length, 1, `one dynamic, the list: ${JSON.stringify(push.payload)}`);
    assert.match(keys[0], /^\d+$/, `a dynamic slot, not statics: ${JSON.stringify(push.payload)}`);
    const list = push.payload[keys[0]];
    assert.ok(list && typeof list === "object" && "k" in list, `a keyed comprehension: ${JSON.stringify(list)}`);
    assert.ok(!JSON.stringify(push.payload).includes("Bennu showcase"), "the page around the list is not resent");

    step = "toggle";
    assert.equal(await item(a.page, text).getAttribute("class"), "todo");
    await item(b.page, text).locator("button.toggle").click();
    await a.page.waitForFunction(
      (t) => [...document.querySelectorAll("#todos li.done")].some((li) => li.textContent.includes(t)),
      text,
    );
    assert.equal(await item(a.page, text).locator("button.toggle").getAttribute("aria-pressed"), "true");

    step = "delete";
    await item(a.page, text).locator("button.delete").click();
    await item(b.page, text).waitFor({ state: "detached" });
    await item(a.page, text).waitFor({ state: "detached" });

    // Still live after all that: B adds, A sees it.
    step = "add from B";
    await b.page.fill("#new-todo input[name=text]", `${text} again`);
    await b.page.press("#new-todo input[name=text]", "Enter");
    await item(a.page, `${text} again`).waitFor();

    assert.deepEqual([...a.problems, ...b.problems], []);
  } catch (err) {
    for (const tab of tabs)
      err.message += `\nscreenshot: ${await screenshot(tab.page, `live-sync-${step}-${tab.name}`)}`;
    err.message += `\n--- showcase log (last 3000 chars) ---\n${server.log().slice(-3000)}`;
    throw err;
  } finally {
    await browser.close();
    await server.stop();
  }
});

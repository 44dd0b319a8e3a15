// A LiveView form in a real browser: the showcase's /signup, driven by the
// unmodified npm phoenix_live_view client in Debian's headless Chromium. Typing
// in one field (debounced by phx-debounce) sends a phx-change whose form names
// the untouched field with an `_unused_` key, so only the typed field's
// changeset error shows; fixing it removes the error; a submit is welcomed.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { binDir, here, launchChromium, startProgram } from "./helpers.mjs";

const APP_JS = path.resolve(here, "../../examples/showcase/assets/dist/app.js");
const ARTIFACTS = path.join(here, "artifacts");
const CONNECTED = "[data-phx-main].phx-connected"; // the client's class once the view has joined

/** A V2 frame [join_ref, ref, topic, event, payload] as an object, or null. */
function decode(payload) {
  if (typeof payload !== "string") return null;
  try {
    const msg = JSON.parse(payload);
    return Array.isArray(msg) && msg.length === 5 ? { event: msg[3], payload: msg[4] } : null;
  } catch {
    return null;
  }
}

const TITLE = "the showcase's signup form: errors of touched fields as the user types, then a welcome";

test(TITLE, { timeout: 60000 }, async () => {
  assert.ok(existsSync(path.join(binDir, "showcase")), `no showcase in ${binDir}: build the target showcase`);
  assert.ok(existsSync(APP_JS), `no ${APP_JS}: run \`npm ci && npm run build\` in examples/showcase/assets`);

  const server = await startProgram("showcase", {
    env: { BENNU_MASTER: "0", SECRET_KEY_BASE: "live-form-test-secret-".repeat(4) },
  });
  const browser = await launchChromium();
  let page;
  let step = "start";
  try {
    page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10000);
    const problems = [];
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console ${msg.type()}: ${msg.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    const sent = [];
    page.on("websocket", (ws) => ws.on("framesent", (f) => sent.push(decode(f.payload))));

    step = "load";
    await page.goto(`${server.httpUrl}/signup`);
    await page.waitForSelector(CONNECTED);
    const csrf = await page.getAttribute('meta[name="csrf-token"]', "content");
    assert.ok(csrf, "the page carries its session's CSRF token (the socket joined with it)");
    assert.equal(await page.locator(".error").count(), 0, "no error before any typing");

    step = "invalid email";
    await page.locator("#signup-email").pressSequentially("ada");
    await page.waitForSelector("#email-error");
    assert.equal(await page.textContent("#email-error"), "must contain @");
    assert.equal(await page.locator("#name-error").count(), 0, "name, untouched, shows no error");
    const validate = sent.filter((m) => m && m.event === "event" && m.payload?.event === "validate").at(-1);
    assert.ok(validate, `a validate event went over the WebSocket: ${JSON.stringify(sent)}`);
    assert.match(validate.payload.value, /(^|&)_unused_name=/, `name is sent as unused: ${validate.payload.value}`);
    assert.doesNotMatch(validate.payload.value, /_unused_email/, validate.payload.value);

    step = "fixed email";
    await page.locator("#signup-email").pressSequentially("@example.com");
    await page.waitForSelector("#email-error", { state: "detached" });
    assert.equal(await page.inputValue("#signup-email"), "ada@example.com");
    assert.equal(await page.locator("#name-error").count(), 0);

    step = "submit";
    await page.locator("#signup-name").fill("Ada <Lovelace>");
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.waitForSelector("#welcome");
    assert.equal(await page.textContent("#welcome"), "Welcome, Ada <Lovelace>!");
    assert.equal(await page.locator(".error").count(), 0);

    assert.deepEqual(problems, []);
  } catch (err) {
    if (page) {
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(path.join(ARTIFACTS, ".gitignore"), "*\n");
      const file = path.join(ARTIFACTS, `live-form-${step}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      err.message += `\nscreenshot: ${file}`;
    }
    err.message += `\n--- showcase log (last 3000 chars) ---\n${server.log().slice(-3000)}`;
    throw err;
  } finally {
    await browser.close();
    await server.stop();
  }
});

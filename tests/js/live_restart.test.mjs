// LiveView after a server restart: the unmodified npm phoenix_live_view client in
// headless Chromium reconnects by itself and rejoins the view in the new process
// without reloading the page; the view's state comes from mount again.
import assert from "node:assert/strict";
import { test } from "node:test";

import { launchChromium, startProgram } from "./helpers.mjs";

const CONNECTED = "[data-phx-main].phx-connected";
const ENV = { BENNU_MASTER: "0", SECRET_KEY_BASE: "live-restart-secret-".repeat(4) };

test("a LiveView rejoins a restarted server without a page reload", { timeout: 60000 }, async () => {
  let server = await startProgram("showcase", { env: ENV });
  const port = server.port;
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(15000);
    const problems = [];
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    await page.goto(`http://127.0.0.1:${port}/counter`);
    await page.waitForSelector(CONNECTED);
    await page.click("button[phx-click=inc]");
    await page.click("button[phx-click=inc]");
    await page.waitForFunction(() => document.querySelector("#count")?.textContent.trim() === "2");
    await page.evaluate(() => (window.__sameDocument = true)); // gone if the page reloads

    await server.kill(); // a crash, as far as the client can tell
    await page.waitForSelector("[data-phx-main]:not(.phx-connected)");
    server = await startProgram("showcase", { port, env: ENV });

    await page.waitForSelector(CONNECTED); // the client came back by itself
    await page.waitForFunction(() => document.querySelector("#count")?.textContent.trim() === "0"); // mount again
    assert.equal(await page.evaluate(() => window.__sameDocument === true), true, "rejoined without a reload");
    await page.click("button[phx-click=inc]");
    await page.waitForFunction(() => document.querySelector("#count")?.textContent.trim() === "1");
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

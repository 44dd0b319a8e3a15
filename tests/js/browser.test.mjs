// A real browser: Debian's headless Chromium, driven by playwright-core, loads
// channel_server's /chat page, which runs the phoenix bundle shipped in the
// npm package (served at /assets/phoenix.js). Two pages chat through room:browser.
import assert from "node:assert/strict";
import { test } from "node:test";

import { launchChromium, phoenixBundle, withServer } from "./helpers.mjs";


test("two browser pages chat through a channel", { timeout: 60000 }, async () => {
  // launch() gives every run a fresh temporary profile (its own --user-data-dir).
  const browser = await launchChromium();
  try {
    await withServer({ env: { PHOENIX_JS: phoenixBundle } }, async ({ server }) => {
      const problems = [];
      const open = async (name) => {
        const context = await browser.newContext();
        const page = await context.newPage();
        page.setDefaultTimeout(10000);
        page.on("console", (msg) => {
          if (msg.type() === "error") problems.push(`${name} console: ${msg.text()}`);
        });
        page.on("pageerror", (err) => problems.push(`${name} page error: ${err.message}`));
        page.on("requestfailed", (req) => problems.push(`${name} request failed: ${req.url()}`));
        await page.goto(`${server.httpUrl}/chat`);
        await page.waitForFunction(() => document.getElementById("status").textContent === "joined");
        return page;
      };
      const alice = await open("alice");
      const bob = await open("bob");

      await alice.evaluate(() => window.sendMessage("hello from alice"));
      await bob.waitForFunction(() =>
        [...document.querySelectorAll("#messages li")].some((li) => li.textContent === "hello from alice"),
      );
      await bob.evaluate(() => window.sendMessage("hi alice <b>"));
      await alice.waitForFunction(() =>
        [...document.querySelectorAll("#messages li")].some((li) => li.textContent === "hi alice <b>"),
      );
      assert.deepEqual(
        await alice.$$eval("#messages li", (lis) => lis.map((li) => li.textContent)),
        ["hello from alice", "hi alice <b>"],
      );
      assert.equal(
        await alice.evaluate(() => window.Phoenix && typeof window.Phoenix.Socket),
        "function",
        "the page ran the npm package's bundle",
      );
      assert.deepEqual(problems, []);
    });
  } finally {
    await browser.close();
  }
});

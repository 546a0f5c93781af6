// Open GraphiQL at URL in headless Chromium, run a query with the API token
// and print what the page shows as JSON on stdout:
// {"result": <the result pane's JSON>, "requests": [every URL the page loaded]}.
//
// Usage: GRAPHQL_API_TOKEN=... node graphiql.mjs URL QUERY [SCREENSHOT.png]
// CHROMIUM_PATH overrides the browser, /usr/bin/chromium by default. For a
// subscription, GRAPHIQL_TRIGGER contains a JSON request body that this script
// POSTs to URL with the token until the first event shows, because the page
// gives no signal once the subscription is active.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, query, screenshotPath] = process.argv.slice(2);
const token = process.env.GRAPHQL_API_TOKEN;
if (!url || !query || !token) {
  console.error('usage: GRAPHQL_API_TOKEN=... node graphiql.mjs URL QUERY [SCREENSHOT.png]');
  process.exit(2);
}

const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Resolve no host name but the loopback address, so the page cannot
  // reach the internet even if an asset asked for it.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];
// Milliseconds to wait for the page and for the query's result.
const TIMEOUT = 30000;
// Requests sent at most for GRAPHIQL_TRIGGER, and milliseconds between them.
const TRIGGER_ATTEMPTS = 50;
const TRIGGER_INTERVAL = 200;

// Replace the text of the visible CodeMirror editor that matches `selector`.
async function setEditorText(page, selector, text) {
  await page.locator(selector).first().waitFor({ timeout: TIMEOUT });
  await page.evaluate(
    ([editorSelector, value]) => {
      document.querySelector(editorSelector).CodeMirror.setValue(value);
    },
    [selector, text],
  );
}

const RESULT_EDITOR = '.result-window .CodeMirror';

function resultShown(selector) {
  const editor = document.querySelector(selector);
  return Boolean(editor) && editor.CodeMirror.getValue().trim().startsWith('{');
}

async function readResult(page) {
  await page.waitForFunction(resultShown, RESULT_EDITOR, { timeout: TIMEOUT });
  const text = await page.evaluate(
    (selector) => document.querySelector(selector).CodeMirror.getValue(),
    RESULT_EDITOR,
  );
  return JSON.parse(text);
}

// POST `body` with the token until the result pane shows something.
async function triggerUntilShown(page, body) {
  for (let attempt = 0; attempt < TRIGGER_ATTEMPTS; attempt += 1) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    if (!response.ok) {
      throw new Error(`trigger request failed with ${response.status}: ${await response.text()}`);
    }
    if (await page.evaluate(resultShown, RESULT_EDITOR)) {
      return;
    }
    await page.waitForTimeout(TRIGGER_INTERVAL);
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), 'graphiql-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: CHROMIUM_FLAGS,
  viewport: { width: 1280, height: 720 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));

  await page.goto(url, { timeout: TIMEOUT });
  await setEditorText(page, '.graphiql-query-editor .CodeMirror', query);
  // GraphiQL parses the query a moment after an edit, and it stores the text
  // once it has. Running earlier would send a subscription over HTTP.
  await page.waitForFunction(
    (text) => window.localStorage.getItem('graphiql:query') === text,
    query,
    { timeout: TIMEOUT },
  );
  await setEditorText(
    page,
    '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror',
    JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2),
  );
  await page.click('.graphiql-execute-button');
  if (process.env.GRAPHIQL_TRIGGER) {
    await triggerUntilShown(page, process.env.GRAPHIQL_TRIGGER);
  }
  const result = await readResult(page);
  if (screenshotPath) {
    await page.screenshot({ path: screenshotPath });
  }
  console.log(JSON.stringify({ result, requests }));
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}

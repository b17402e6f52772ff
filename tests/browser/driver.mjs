// A headless Chromium (Debian's) driven by playwright-core for the console
// tests: one JSON command per stdin line, one JSON answer per stdout line,
// so a pytest can interleave browser steps with changes to the mesh.
// Commands: {op: "open", url} {op: "fill", sel, value} {op: "click", sel}
// {op: "wait", sel, text?, gone?, timeout} -> {ms} {op: "text", sel}
// {op: "screenshot", path} {op: "eval", expr} {op: "close"}.
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'console', 'package.json'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Root in a network namespace: Chromium's sandbox needs user namespaces
  // the test host may not give; the page is our own console.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
// bypassCSP: the driver's own waits evaluate script; the console keeps its CSP.
const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
const consoleLines = [];
page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));

async function run(c) {
  const timeout = c.timeout ?? 15000;
  switch (c.op) {
    case 'open': {
      const t0 = Date.now();
      await page.goto(c.url, { waitUntil: 'load', timeout });
      return { ms: Date.now() - t0 };
    }
    case 'fill': await page.fill(c.sel, c.value, { timeout }); return {};
    case 'click': await page.click(c.sel, { timeout }); return {};
    case 'wait': {
      const t0 = Date.now();
      if (c.text !== undefined) {
        await page.waitForFunction(([sel, text, gone]) => {
          const e = document.querySelector(sel);
          const has = !!e && e.textContent.includes(text);
          return gone ? !has : has;
        }, [c.sel, c.text, !!c.gone], { timeout, polling: 50 });
      } else {
        await page.waitForSelector(c.sel, { timeout, state: c.gone ? 'detached' : 'visible' });
      }
      return { ms: Date.now() - t0 };
    }
    case 'text': return { text: await page.textContent(c.sel, { timeout }) };
    case 'screenshot': await page.screenshot({ path: c.path, fullPage: false }); return {};
    case 'eval': return { value: await page.evaluate(c.expr) };
    case 'close': await browser.close(); return {};
    default: throw new Error(`unknown op ${c.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let c;
  try {
    c = JSON.parse(line);
    const r = await run(c);
    process.stdout.write(JSON.stringify({ ok: true, ...r }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e.message || e).slice(0, 2000), console: consoleLines.slice(-20) }) + '\n');
  }
  if (c && c.op === 'close') break;
}
await browser.close().catch(() => {});
process.exit(0);

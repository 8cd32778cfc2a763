// The console's browser tests: Debian's chromium driven by playwright-core,
// against a running dev stack. Runs tests/browser/NN_name.mjs in name order
// (or the ones named: node run.mjs 20_campaigns) in one signed-in page; each
// is `export default async function (t)` (see README.md here for `t`).
// Screenshots go to $ECM_BROWSER_OUT (default build/browser), with axe-core's
// findings in axe.json there. Exits 1 when a spec failed or a page has a
// serious or critical accessibility violation.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const env = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} is not set (run through tests/e2e/run.sh t_console, or eval "$(scripts/devstack.sh env)")`);
  }
  return v;
};
const base = env('ECM_DEV_API_URL').replace(/\/$/, '');
const user = env('ECM_DEV_CONSOLE_USER', 'admin');
const password = env('ECM_DEV_CONSOLE_PASSWORD');
const apiKey = env('ECM_DEV_API_KEY');
const pgDsn = env('ECM_DEV_PG_DSN');
const out = resolve(env('ECM_BROWSER_OUT', join(root, 'build/browser')));
const browserPath = env('ECM_CHROMIUM', '/usr/bin/chromium');
mkdirSync(join(out, 'screenshots'), { recursive: true });
const axeSource = readFileSync(join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');

const started = Date.now();
const log = (msg) => console.log(`  [${new Date().toISOString().slice(11, 19)} browser] ${msg}`);

class Failure extends Error {}

async function apiCall(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: {
      Authorization: `Bearer ${apiKey}`,
      Accept: 'application/json',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Failure(`${method} ${path}: ${res.status} ${text.slice(0, 400)}`);
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sql(query) {
  const text = execFileSync('psql', ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', pgDsn, '-c', query], {
    encoding: 'utf8',
  });
  return text.split('\n').filter((l) => l !== '');
}

const axeFindings = [];
const shots = [];

function makeT(page, shared, tmp) {
  const t = {
    page,
    base,
    shared,
    tmp,
    user,
    password,
    api: apiCall,
    sql,
    step: (msg) => log(msg),
    ok(cond, msg) {
      if (!cond) throw new Failure(`not true: ${msg}`);
    },
    eq(actual, expected, msg) {
      const a = JSON.stringify(actual);
      const e = JSON.stringify(expected);
      if (a !== e) throw new Failure(`${msg}: got ${a}, expected ${e}`);
    },
    async waitFor(fn, what, timeoutMs = 120000) {
      const until = Date.now() + timeoutMs;
      let last = null;
      for (let pause = 100; ; pause = Math.min(pause * 2, 2000)) {
        try {
          if (await fn()) return;
        } catch (e) {
          last = e;
        }
        if (Date.now() > until) {
          throw new Failure(`waited ${timeoutMs / 1000} s for ${what}${last ? ` (last error: ${last.message})` : ''}`);
        }
        await new Promise((r) => setTimeout(r, pause));
      }
    },
    async go(hash) {
      await page.goto(`${base}/${hash.startsWith('#') ? hash : `#${hash}`}`);
      await page.locator('main h1').first().waitFor({ timeout: 30000 });
    },
    async shot(name, p = page) {
      const file = join(out, 'screenshots', `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
      await p.screenshot({ path: file, fullPage: true });
      shots.push(file);
    },
    async axe(label, p = page) {
      // The page's CSP refuses an inline script tag; evaluate (DevTools
      // protocol) runs axe in the page without one.
      const has = await p.evaluate(() => typeof window.axe !== 'undefined');
      if (!has) await p.evaluate(axeSource);
      const result = await p.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
        }));
      });
      axeFindings.push({ page: label, url: p.url(), violations: result });
      const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      log(`axe ${label}: ${result.length} violations, ${bad.length} serious or critical`);
    },
    async fastStrategy(name, delay = 2) {
      const list = await apiCall('GET', '/api/v1/strategies?limit=200');
      const found = list.items.find((s) => s.name === name);
      if (found) return found.id;
      const def = list.items.find((s) => s.name === 'Default');
      const d = await apiCall('GET', `/api/v1/strategies/${def.id}`);
      const body = {
        name,
        description: `Default with ${delay} s retries (console tests)`,
        max_attempts: d.max_attempts,
        max_attempts_per_day: d.max_attempts,
        rules: d.rules.map((r) => ({
          outcome: r.outcome, action: r.action, max_attempts: r.max_attempts, next_phone: r.next_phone,
          delay_seconds: r.action === 'retry' ? delay : 0,
        })),
      };
      return (await apiCall('POST', '/api/v1/strategies', body)).id;
    },
  };
  return t;
}

async function signIn(page) {
  await page.goto(`${base}/#/sign-in`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 30000 });
}

async function main() {
  const wanted = process.argv.slice(2).concat((process.env.ECM_CONSOLE_SPECS || '').split(/[ ,]+/).filter(Boolean));
  let specs = readdirSync(here).filter((f) => /^[0-9][0-9]_[a-z0-9_]+\.mjs$/.test(f)).sort();
  if (wanted.length) specs = specs.filter((f) => wanted.some((w) => f.startsWith(w)));
  if (!specs.length) throw new Error(`no spec matches ${wanted.join(' ')}`);
  const browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/London', locale: 'en-GB' });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (4\d\d)/.test(m.text())) consoleErrors.push(`console: ${m.text()}`);
  });
  const tmp = mkdtempSync(join(tmpdir(), 'ecm-browser-'));
  const shared = {};
  const failed = [];
  await signIn(page);
  log(`signed in as ${user} at ${base}`);
  for (const spec of specs) {
    const t0 = Date.now();
    log(`--- ${spec}`);
    try {
      const mod = await import(pathToFileURL(join(here, spec)).href);
      await mod.default(makeT(page, shared, tmp));
      log(`--- ok ${spec} (${Math.round((Date.now() - t0) / 1000)} s)`);
    } catch (e) {
      failed.push(spec);
      log(`--- FAILED ${spec}: ${e instanceof Failure ? e.message : e.stack || e}`);
      const file = join(out, 'screenshots', `FAILED-${spec.replace('.mjs', '')}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      log(`    page at failure: ${page.url()} (screenshot ${file})`);
    }
  }
  await browser.close();
  writeFileSync(join(out, 'axe.json'), JSON.stringify(axeFindings, null, 2));
  const serious = axeFindings.flatMap((f) => f.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ page: f.page, ...v })));
  for (const v of serious) log(`axe ${v.impact} on ${v.page}: ${v.id} — ${v.help} (${v.nodes.join(', ')})`);
  for (const e of consoleErrors) log(e);
  log(`${specs.length - failed.length} of ${specs.length} specs passed; ${axeFindings.length} pages scanned by axe, `
    + `${serious.length} serious or critical violations; ${consoleErrors.length} script errors; `
    + `${shots.length} screenshots in ${join(out, 'screenshots')}; ${Math.round((Date.now() - started) / 1000)} s`);
  if (failed.length || serious.length || consoleErrors.length) process.exit(1);
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});

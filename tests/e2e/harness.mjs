// Shared harness for the end-to-end tests: serves the built site (dist/)
// from 127.0.0.1 on a free port and drives Debian's Chromium through
// playwright-core. Screenshots go to target/e2e/ for people to look at.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const distDir = process.env.E2E_DIST || path.join(repoRoot, 'dist');
export const shotDir = path.join(repoRoot, 'target', 'e2e');

/** The native `llmlab` CLI the tests compare with: `$LLMLAB_BIN` (set by
 *  scripts/test.sh, which builds it), else a release or debug build in
 *  target/. Null when none is built. */
export function cliBinary() {
  const candidates = [process.env.LLMLAB_BIN, path.join(repoRoot, 'target', 'release', 'llmlab'),
    path.join(repoRoot, 'target', 'debug', 'llmlab')];
  return candidates.find((c) => c && fs.existsSync(c)) ?? null;
}

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json',
  '.safetensors': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8',
};

/** Serve `root` on 127.0.0.1 (free port). `extra`: `{prefix, handler(req, res)}` for paths under `prefix`. */
export function serveStatic(root = distDir, extra = null) {
  // Every path asked for, in order (workers' fetches included, which the
  // page's request events do not show).
  const requested = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    requested.push(url.pathname);
    if (extra && url.pathname.startsWith(extra.prefix)) return extra.handler(req, res);
    let file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
    if (!file.startsWith(root)) { res.writeHead(403); return res.end(); }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404); return res.end('not found'); }
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream' });
      res.end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({ server, requested, base: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) });
  }));
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** A new page that records console errors, page errors and dialogs. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.events = { dialogs: [], pageErrors: [], console: [] };
  page.on('dialog', async (d) => { page.events.dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => page.events.pageErrors.push(String(e)));
  page.on('console', (m) => page.events.console.push(`${m.type()}: ${m.text()}`));
  return page;
}

export async function screenshot(page, name) {
  fs.mkdirSync(shotDir, { recursive: true });
  await page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true });
}

/** Wait until the worker reports ready. */
export async function waitWorkerReady(page) {
  await page.getByTestId('worker-status').getByText('ready', { exact: false }).waitFor({ timeout: 30000 });
}

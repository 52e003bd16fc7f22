// End-to-end tests of model loading: a Hugging Face repo fetched by the
// browser from a local static server with the Hub's URL layout
// (/{owner}/{name}/resolve/main/{file}), with progress, kept in the Cache API
// so the second load works offline; malformed files give a clear error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady, repoRoot, cliBinary } from './harness.mjs';

const fixture = path.join(repoRoot, 'tests', 'fixtures', 'decoding', 'models', 'gpt2');
let site, browser;
let hubOnline = true;
const hubHits = [];

function hubRoute(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const m = url.pathname.match(/^\/hub\/tiny\/gpt2\/resolve\/main\/([\w.-]+)$/);
  hubHits.push(url.pathname);
  if (!hubOnline) { res.writeHead(503); return res.end('offline'); }
  const file = m && path.join(fixture, m[1]);
  if (!file || !fs.existsSync(file)) { res.writeHead(404); return res.end(); }
  const data = fs.readFileSync(file);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
  res.end(data);
}

before(async () => {
  site = await serveStatic(undefined, { prefix: '/hub/', handler: hubRoute });
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.close(); });

test('a Hub repo loads through the browser and then works offline from the Cache API', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.base}#tab=inside&model=hub%3Atiny%2Fgpt2`);
  await waitWorkerReady(page);
  // The link names the repo but nothing is fetched without a click.
  await page.waitForTimeout(500);
  assert.equal(hubHits.length, 0, 'the link alone must not download anything');
  assert.equal(await page.getByTestId('hub-repo').inputValue(), 'tiny/gpt2');
  await page.locator('.model-picker details.advanced summary').click();
  await page.getByTestId('hub-endpoint').fill(`${site.base}hub`);
  await page.getByTestId('hub-endpoint').press('Tab');
  await page.getByTestId('load-hub').click();
  const status = page.getByTestId('model-status');
  await status.getByText('Model: tiny/gpt2', { exact: false }).waitFor({ timeout: 60000 });
  assert.match(await status.textContent(), /gpt2/);
  assert.ok(hubHits.some((p) => p.endsWith('/model.safetensors')));
  const total = await page.getByTestId('param-total').textContent();
  assert.ok(Number(total) > 1000, `parameter total ${total}`);
  await screenshot(page, 'hub-loaded');

  // Second load in a fresh page of the same browser profile: the server is
  // "offline" and the Cache API serves the files.
  hubOnline = false;
  const again = await context.newPage();
  await again.goto(`${site.base}#tab=inside&model=hub%3Atiny%2Fgpt2`);
  await waitWorkerReady(again);
  await again.getByTestId('load-hub').click();
  await again.getByTestId('model-status').getByText('from the offline cache', { exact: false }).waitFor({ timeout: 60000 });
  hubOnline = true;
  await context.close();
});

test('a malformed model file gives a clear error and the page keeps working', async () => {
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=inside`);
  await waitWorkerReady(page);
  await page.getByTestId('model-files').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: fs.readFileSync(path.join(fixture, 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]) },
  ]);
  const status = page.getByTestId('model-status');
  await status.getByText('Loading failed', { exact: false }).waitFor({ timeout: 30000 });
  assert.match(await status.textContent(), /model\.safetensors/);
  // A pickle is refused by name.
  await page.getByTestId('model-files').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: fs.readFileSync(path.join(fixture, 'config.json')) },
    { name: 'pytorch_model.bin', mimeType: 'application/octet-stream', buffer: Buffer.from([0x80, 0x02, 0x7d, 0x71]) },
  ]);
  await status.getByText('pickle', { exact: false }).waitFor({ timeout: 30000 });
  // The worker survived: loading the real files works.
  await page.getByTestId('model-files').setInputFiles([path.join(fixture, 'config.json'), path.join(fixture, 'model.safetensors')]);
  await status.getByText('Model: Your files', { exact: false }).waitFor({ timeout: 30000 });
  assert.equal(await page.getByTestId('worker-error').count(), 0);
  await page.close();
});

test('a Mixtral (mixture of experts) checkpoint loads from files and decodes as the CLI does', async () => {
  const moe = path.join(repoRoot, 'tests', 'fixtures', 'moe', 'mixtral_top2_gqa_padded');
  const cli = cliBinary();
  assert.ok(cli, 'build the CLI first (cargo build -p llmlab-cli) or set LLMLAB_BIN');
  const native = JSON.parse(execFileSync(cli, ['generate', '--model', moe, '--prompt-ids', '5,17,3,8',
    '--strategy', 'greedy', '--max-new-tokens', '8'], { encoding: 'utf8' })).sequences[0].ids.join(',');
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=gen&model=hub%3Atiny%2Fnone`);
  await waitWorkerReady(page);
  await page.getByTestId('model-files').setInputFiles(
    ['config.json', 'generation_config.json', 'model.safetensors'].map((f) => path.join(moe, f)));
  const status = page.getByTestId('model-status');
  await status.getByText('Model: Your files', { exact: false }).waitFor({ timeout: 30000 });
  assert.match(await status.textContent(), /mixtral/);
  await page.getByTestId('prompt').fill('5, 17, 3, 8');
  await page.getByTestId('strategy').selectOption('greedy');
  await page.getByTestId('max-new-tokens').fill('8');
  await page.getByTestId('max-new-tokens').press('Tab');
  await page.getByTestId('generate').click();
  const speed = page.locator('[data-testid="gen-speed"][data-run="1"]');
  await speed.waitFor({ timeout: 60000 });
  assert.equal(await speed.getAttribute('data-ids'), native, 'the page and `llmlab generate` disagree on the Mixtral fixture');
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

test('the Inside tab draws a mixture of experts\' routing, equal to the router logits of the CLI', async () => {
  const moe = path.join(repoRoot, 'tests', 'fixtures', 'moe', 'mixtral_top2_gqa_padded');
  const cli = cliBinary();
  assert.ok(cli, 'build the CLI first (cargo build -p llmlab-cli) or set LLMLAB_BIN');
  const native = JSON.parse(execFileSync(cli, ['logits', '--model', moe, '--ids', '5,17,3,8', '--router-logits'], { encoding: 'utf8' }));
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=inside&prompt=${encodeURIComponent('5, 17, 3, 8')}&model=hub%3Atiny%2Fnone`);
  await waitWorkerReady(page);
  await page.getByTestId('model-files').setInputFiles(
    ['config.json', 'generation_config.json', 'model.safetensors'].map((f) => path.join(moe, f)));
  await page.getByTestId('model-status').getByText('Model: Your files', { exact: false }).waitFor({ timeout: 30000 });
  await page.getByTestId('run-trace').click();
  await page.getByTestId('routing-layer').first().waitFor({ timeout: 30000 });
  const layers = page.getByTestId('routing-layer');
  assert.equal(await layers.count(), native.router_logits.length, 'one routing table per sparse layer');
  let maxdiff = 0;
  for (let l = 0; l < native.router_logits.length; l++) {
    const cells = await layers.nth(l).getByTestId('route-cell').evaluateAll((els) => els.map((e) => ({
      pos: Number(e.dataset.pos), expert: Number(e.dataset.expert), prob: Number(e.dataset.prob), chosen: e.dataset.chosen === 'true',
    })));
    const logits = native.router_logits[l]; // (T, E)
    for (let pos = 0; pos < logits.length; pos++) {
      const row = logits[pos];
      const max = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
      const probs = row.map((v) => Math.exp(v - max) / sum);
      const top2 = probs.map((p, e) => [p, e]).sort((a, b) => b[0] - a[0]).slice(0, 2).map(([, e]) => e).sort();
      const mine = cells.filter((c) => c.pos === pos);
      assert.equal(mine.length, row.length);
      for (const c of mine) maxdiff = Math.max(maxdiff, Math.abs(c.prob - probs[c.expert]));
      assert.deepEqual(mine.filter((c) => c.chosen).map((c) => c.expert).sort(), top2, `layer ${l} token ${pos}: chosen experts`);
    }
  }
  console.log(`routing probabilities vs the CLI's router logits: maxdiff ${maxdiff.toExponential(2)}`);
  assert.ok(maxdiff < 1e-5, `routing probabilities differ by ${maxdiff}`);
  const load = await layers.first().getByTestId('expert-load').allTextContents();
  assert.equal(load.map(Number).reduce((a, b) => a + b, 0), 4 * 2, 'every token goes to two experts');
  await screenshot(page, 'inside-moe-routing');
  await page.close();
});

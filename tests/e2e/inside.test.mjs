// End-to-end test of the "Inside the model" tab with the embedded default
// model: attention heatmap for a chosen layer/head (every row a probability
// distribution), clicking a token to see where it attends, the positional
// encoding heatmaps (sinusoidal, learned, RoPE) and the classic models'
// parameter table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady, distDir } from './harness.mjs';

const hasDefault = fs.existsSync(path.join(distDir, 'models', 'default', 'config.json'));
const PROMPT = 'To be, or not to be';

let site, browser;
before(async () => {
  site = await serveStatic();
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.close(); });

/** Attention weights of the shown head as `rows[query][key]`, from the cells' data attributes. */
async function attentionRows(page) {
  const cells = await page.getByTestId('attn-cell').evaluateAll((els) =>
    els.map((e) => [Number(e.dataset.query), Number(e.dataset.key), Number(e.dataset.weight)]));
  const rows = [];
  for (const [q, k, w] of cells) (rows[q] ||= [])[k] = w;
  return rows;
}

test('attention rows sum to 1, a clicked token shows its row, positional encodings and classic counts show', { skip: !hasDefault && 'no default model in the site' }, async () => {
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=inside&prompt=${encodeURIComponent(PROMPT)}&layer=2&head=1`);
  await waitWorkerReady(page);
  await page.getByTestId('model-status').getByText('Model: Default', { exact: false }).waitFor({ timeout: 60000 });

  // Attention of layer 2, head 1 over the prompt's characters.
  await page.getByTestId('run-trace').click();
  const map = page.getByTestId('attention-map');
  await map.waitFor({ timeout: 30000 });
  assert.equal(await map.getAttribute('data-layer'), '2');
  assert.equal(await map.getAttribute('data-head'), '1');
  const rows = await attentionRows(page);
  assert.equal(rows.length, PROMPT.length, 'one row per character token');
  rows.forEach((row, q) => {
    const sum = row.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `row ${q} sums to ${sum}`);
    // Causal: nothing to the right of the diagonal.
    row.forEach((w, k) => { if (k > q) assert.ok(w < 1e-6, `row ${q} attends to future key ${k}: ${w}`); });
  });
  // Another head gives another map.
  await page.getByTestId('head').fill('0');
  await page.getByTestId('head').press('Tab');
  await page.locator('[data-testid="attention-map"][data-head="0"]').waitFor();
  const head0 = await attentionRows(page);
  assert.notDeepEqual(head0, rows);

  // Click (then use the keyboard on) a token: its row appears as bars.
  const tokens = page.getByTestId('attn-token');
  await tokens.nth(5).click();
  const focus = page.getByTestId('attn-focus');
  await focus.waitFor();
  assert.equal(await focus.getAttribute('data-query'), '5');
  assert.equal(await tokens.nth(5).getAttribute('aria-pressed'), 'true');
  const bars = await page.getByTestId('attn-focus-bar').evaluateAll((els) => els.map((e) => Number(e.dataset.weight)));
  assert.equal(bars.length, PROMPT.length);
  bars.forEach((w, k) => assert.ok(Math.abs(w - head0[5][k]) < 1e-6, `bar ${k}: ${w} vs cell ${head0[5][k]}`));
  await tokens.nth(8).focus();
  await page.keyboard.press('Enter');
  await page.locator('[data-testid="attn-focus"][data-query="8"]').waitFor();
  await screenshot(page, 'inside-attention');

  // Positional encodings: sinusoidal (computed), learned (the model's wpe), RoPE.
  const heatmap = page.getByTestId('pe-heatmap');
  await heatmap.waitFor({ timeout: 30000 });
  for (const kind of ['sinusoidal', 'learned', 'rope']) {
    await page.getByTestId(`pe-${kind}`).click();
    await page.locator(`[data-testid="pe-heatmap"][data-kind="${kind}"]`).waitFor();
    assert.equal(await page.getByTestId(`pe-${kind}`).getAttribute('aria-pressed'), 'true');
    const rowsCount = Number(await heatmap.getAttribute('data-rows'));
    const cols = Number(await heatmap.getAttribute('data-cols'));
    assert.ok(rowsCount >= 32 && cols >= 32, `${kind}: ${rowsCount} x ${cols}`);
    assert.equal(await heatmap.locator('rect').count(), rowsCount * cols);
    assert.ok((await page.getByTestId('pe-caption').textContent()).length > 40);
    const sim = (await page.getByTestId('pe-similarity').getAttribute('data-values')).split(' ').map(Number);
    assert.ok(Math.abs(sim[0] - 1) < 1e-3, `${kind}: a position is identical to itself (${sim[0]})`);
    if (kind !== 'learned') assert.ok(sim[1] < sim[0] && sim[7] < sim[1], `${kind}: similarity falls with distance ${sim}`);
  }
  // Sinusoidal position 1, features 0 and 1: sin(1) and cos(1).
  await page.getByTestId('pe-sinusoidal').click();
  const first = await page.locator('[data-testid="pe-heatmap"] rect').evaluateAll((els) =>
    els.slice(0, 70).map((e) => e.querySelector('title').textContent));
  const cols = Number(await heatmap.getAttribute('data-cols'));
  assert.match(first[cols], /position 1, feature 0: 0\.841/);
  assert.match(first[cols + 1], /position 1, feature 1: 0\.540/);
  await screenshot(page, 'inside-positions');

  // The classic families beside the loaded model.
  const classic = page.getByTestId('classic-table');
  await classic.getByText('GPT-3 (175B)').waitFor({ timeout: 30000 });
  const text = await classic.textContent();
  for (const figure of ['117M', '1.5B', '175B', '110M', '340M', '220M', '11B']) assert.ok(text.includes(figure), `${figure} missing`);
  const counted = await page.getByTestId('classic-count').allTextContents();
  assert.ok(counted.includes('175B'), `counted ${counted}`);
  assert.ok(counted.includes('117M'), `counted ${counted}`);
  assert.match(text, /Loaded: Default/);
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

// End-to-end tests of the app shell: tabs, worker, crash recovery,
// responsiveness, share links (including a hostile one) and persistence.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady } from './harness.mjs';

let site, browser;
before(async () => { site = await serveStatic(); browser = await launch(); });
after(async () => { await browser?.close(); await site?.close(); });

const TABS = [['tok', 'Tokenize'], ['gen', 'Generate'], ['inside', 'Inside the model'], ['data', 'Data'], ['train', 'Train'], ['ft', 'Fine-tune'], ['eval', 'Evaluate']];

test('every tab opens, and the worker starts', async () => {
  const page = await newPage(browser);
  await page.goto(site.base);
  await waitWorkerReady(page);
  for (const [key, title] of TABS) {
    await page.getByTestId(`tab-${key}`).click();
    const panel = page.getByTestId(`panel-${key}`);
    await panel.waitFor();
    assert.equal(await panel.getByRole('heading', { level: 2 }).textContent(), title);
    assert.equal(await page.getByTestId(`tab-${key}`).getAttribute('aria-selected'), 'true');
    assert.match(page.url(), new RegExp(`#tab=${key}&`));
    await screenshot(page, `tab-${key}`);
  }
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

test('the embedded default model loads at startup', async () => {
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=inside`);
  const status = page.getByTestId('model-status');
  await status.getByText('Model: Default', { exact: false }).waitFor({ timeout: 60000 });
  assert.match(await status.textContent(), /gpt2/);
  // 6 layers x 192 wide char-level GPT: the breakdown comes from its config.
  const total = Number(await page.getByTestId('param-total').textContent());
  assert.ok(total > 2_000_000 && total < 4_000_000, `parameter total ${total}`);
  await screenshot(page, 'default-model');
  await page.close();
});

test('arrow keys move between tabs', async () => {
  const page = await newPage(browser);
  await page.goto(site.base + '#tab=tok');
  await page.getByTestId('tab-tok').focus();
  await page.keyboard.press('ArrowRight');
  await page.getByTestId('panel-gen').waitFor();
  await page.keyboard.press('End');
  await page.getByTestId('panel-eval').waitFor();
  await page.keyboard.press('ArrowRight');
  await page.getByTestId('panel-tok').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-tok');
  await page.close();
});

test('a hostile share link is shown as literal text and runs nothing', async () => {
  const evil = '<img src=x onerror=alert(1)><script>window.__pwned = 1; alert(2)</script>';
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=gen&prompt=${encodeURIComponent(evil)}&beams=99&bogus=1`);
  const prompt = page.getByTestId('prompt');
  await prompt.waitFor();
  assert.equal(await prompt.inputValue(), evil);
  // Give any injected handler the chance to fire.
  await page.waitForTimeout(500);
  assert.deepEqual(page.events.dialogs, []);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  // Out-of-range number clamped, unknown key ignored silently.
  assert.equal(await page.getByTestId('num-beams').inputValue(), '64', 'beams clamp to the decoder row cap (MAX_ROWS)');
  await screenshot(page, 'hostile-link');
  await page.close();
});

test('a share link restores every setting exactly', async () => {
  const page = await newPage(browser);
  await page.goto(site.base);
  await page.getByTestId('tab-gen').click();
  await page.getByTestId('prompt').fill('To be, or not to be — ünïcødé 🤖');
  await page.getByTestId('strategy').selectOption('beam');
  await page.getByTestId('num-beams').fill('5');
  await page.getByTestId('num-beams').press('Tab');
  await page.getByTestId('length-penalty').fill('-0.5');
  await page.getByTestId('length-penalty').press('Tab');
  await page.getByTestId('early-stopping').selectOption('never');
  await page.getByTestId('temperature').fill('0.7');
  await page.getByTestId('temperature').press('Tab');
  await page.getByTestId('seed').fill('1234');
  await page.getByTestId('seed').press('Tab');
  const link = await page.getByTestId('share-url').inputValue();
  assert.match(link, /#tab=gen&/);
  assert.match(link, /strategy=beam/);
  assert.match(link, /seed=1234/);

  const other = await newPage(browser);
  await other.goto(link);
  await other.getByTestId('panel-gen').waitFor();
  assert.equal(await other.getByTestId('prompt').inputValue(), 'To be, or not to be — ünïcødé 🤖');
  assert.equal(await other.getByTestId('strategy').inputValue(), 'beam');
  assert.equal(await other.getByTestId('num-beams').inputValue(), '5');
  assert.equal(await other.getByTestId('length-penalty').inputValue(), '-0.5');
  assert.equal(await other.getByTestId('early-stopping').inputValue(), 'never');
  assert.equal(await other.getByTestId('temperature').inputValue(), '0.7');
  assert.equal(await other.getByTestId('seed').inputValue(), '1234');
  assert.equal(await other.getByTestId('share-url').inputValue(), link);
  await page.close(); await other.close();
});

test('a broken link value is reported, not silently dropped', async () => {
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=gen&temp=hot`);
  const warnings = page.getByTestId('link-warnings');
  await warnings.waitFor();
  assert.match(await warnings.textContent(), /temp/);
  assert.equal(await page.getByTestId('temperature').inputValue(), '1');
  await page.close();
});

test('typed text survives a reload without the hash', async () => {
  const page = await newPage(browser);
  await page.goto(site.base);
  await page.getByTestId('tab-eval').click();
  await page.getByTestId('hyp').fill('the cat sat on the mat');
  await page.getByTestId('refs').fill('a cat sat on the mat');
  await page.goto('about:blank');
  await page.goto(site.base); // no hash: localStorage restores the texts
  await page.getByTestId('tab-eval').click();
  assert.equal(await page.getByTestId('hyp').inputValue(), 'the cat sat on the mat');
  assert.equal(await page.getByTestId('refs').inputValue(), 'a cat sat on the mat');
  await page.close();
});

test('a worker panic shows an error, the worker restarts and works again', async () => {
  const page = await newPage(browser);
  await page.goto(site.base);
  await waitWorkerReady(page);
  await page.getByTestId('prompt').count(); // nothing needed from the tab
  await page.locator('details.diagnostics summary').click();
  await page.getByTestId('crash').click();
  const error = page.getByTestId('worker-error');
  await error.waitFor({ timeout: 15000 });
  assert.match(await error.textContent(), /crashed and was restarted/);
  assert.match(await error.textContent(), /deliberate crash/);
  await screenshot(page, 'worker-crash');
  // The new worker answers.
  await page.getByTestId('ping').click();
  await page.getByTestId('diagnostics-log').getByText('Pong from engine').waitFor({ timeout: 15000 });
  await page.close();
});

test('the page stays responsive while the worker computes, and Stop cancels', async () => {
  const page = await newPage(browser);
  await page.goto(site.base);
  await waitWorkerReady(page);
  await page.locator('details.diagnostics summary').click();
  await page.getByTestId('spin').click();
  await page.getByText('Worker busy', { exact: false }).waitFor();
  // While the worker is busy, the main thread handles clicks promptly.
  const t0 = Date.now();
  await page.getByTestId('tab-train').click();
  await page.getByTestId('panel-train').waitFor({ timeout: 1000 });
  const latency = Date.now() - t0;
  assert.ok(latency < 1000, `tab switch took ${latency} ms while the worker was busy`);
  const blocked = await page.evaluate(() => new Promise((resolve) => {
    const start = performance.now();
    setTimeout(() => resolve(performance.now() - start), 0);
  }));
  assert.ok(blocked < 200, `main thread timer delayed ${blocked} ms`);
  await page.getByTestId('diag-stop').click();
  await page.getByText('Stopped.').waitFor({ timeout: 5000 });
  await page.close();
});

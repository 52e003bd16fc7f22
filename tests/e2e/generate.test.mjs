// End-to-end tests of the Generate tab: greedy, beam search and sampling
// with a real (tiny) model in the worker, streamed tokens colored by
// probability, the candidate bars with the top-k / nucleus cut-offs, the
// beam tree, Stop, the KV-cache speed note, and a share link that
// reproduces the sampled text exactly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady, repoRoot, distDir, cliBinary } from './harness.mjs';

const fixture = path.join(repoRoot, 'tests', 'fixtures', 'decoding', 'models', 'gpt2');
// The embedded default model when the site ships one; otherwise the tiny
// random GPT-2 fixture (no tokenizer: prompts are token ids).
const hasDefault = fs.existsSync(path.join(distDir, 'models', 'default', 'config.json'));
const PROMPT = hasDefault ? 'Once upon a time' : '5, 17, 42, 8';
// Without a shipped default model, links name a Hub repo instead (a link
// alone never loads anything), so the page does not try models/default/.
const NO_AUTOLOAD = hasDefault ? '' : '&model=hub%3Atiny%2Fnone';
const withoutAutoload = (link) => (hasDefault ? link : link.replace(/([#&])model=[^&]*/, `$1${NO_AUTOLOAD.slice(1)}`));

let site, browser;
before(async () => {
  site = await serveStatic();
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.close(); });

async function openWithModel(url = `${site.base}#tab=gen${NO_AUTOLOAD}`) {
  const page = await newPage(browser);
  await page.goto(withoutAutoload(url));
  await waitWorkerReady(page);
  await page.getByTestId('panel-gen').waitFor();
  if (hasDefault) {
    await page.getByTestId('load-default').click();
  } else {
    await page.getByTestId('model-files').setInputFiles([
      path.join(fixture, 'config.json'),
      path.join(fixture, 'model.safetensors'),
    ]);
  }
  await page.getByTestId('model-status').getByText('Model:', { exact: false }).waitFor({ timeout: 60000 });
  return page;
}

async function setNumber(page, id, value) {
  await page.getByTestId(id).fill(String(value));
  await page.getByTestId(id).press('Tab');
}

/** Number of finished runs shown by the page (0 before the first). */
async function runs(page) {
  const speed = page.getByTestId('gen-speed');
  return (await speed.count()) ? Number(await speed.getAttribute('data-run')) : 0;
}

/** Run `start` (a click or a key) and wait until that run has finished. */
async function generate(page, start = () => page.getByTestId('generate').click()) {
  const before = await runs(page);
  await start();
  await page.locator(`[data-testid="gen-speed"][data-run="${before + 1}"]`).waitFor({ timeout: 60000 });
}

test('greedy streams probability-colored tokens and shows the candidate bars', async () => {
  const page = await openWithModel();
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('strategy').selectOption('greedy');
  await setNumber(page, 'max-new-tokens', 10);
  await generate(page);
  const tokens = page.getByTestId('gen-token');
  const count = await tokens.count();
  assert.ok(count >= 1 && count <= 10, `${count} tokens`);
  assert.match(await tokens.first().getAttribute('style'), /background/);
  await page.getByTestId('prob-legend').waitFor();
  assert.match(await page.getByTestId('gen-speed').textContent(), /tokens\/s/);
  // Clicking a token opens that step's candidates; greedy picks the top one.
  await tokens.first().click();
  const bars = page.getByTestId('prob-bars');
  await bars.waitFor();
  assert.match(await bars.locator('h3').textContent(), /Step 0/);
  assert.equal(await bars.getByTestId('chosen-bar').count(), 1);
  assert.equal(await bars.locator('.gen-bar-row').first().getAttribute('data-testid'), 'chosen-bar');
  // Keyboard: Enter on another token shows its step.
  if (count > 1) {
    await tokens.nth(1).focus();
    await page.keyboard.press('Enter');
    await bars.locator('h3').getByText('Step 1').waitFor();
  }
  await screenshot(page, 'generate-greedy');
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

test('beam search draws the per-step tree with pruned branches and the winner', async () => {
  const page = await openWithModel();
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('strategy').selectOption('beam');
  await setNumber(page, 'num-beams', 3);
  await setNumber(page, 'num-return', 2);
  await setNumber(page, 'max-new-tokens', 5);
  await generate(page);
  const tree = page.getByTestId('beam-tree');
  await tree.waitFor();
  const stepTables = await tree.getByTestId('beam-step').count();
  assert.ok(stepTables >= 1 && stepTables <= 5, `${stepTables} steps`);
  assert.ok(await tree.getByTestId('beam-pruned').count() >= 1, 'some candidates are pruned');
  assert.ok(await tree.getByTestId('beam-winner').count() >= 1, 'the winner is highlighted');
  const seqs = page.getByTestId('gen-sequence');
  assert.equal(await seqs.count(), 2);
  assert.match(await seqs.first().getAttribute('class'), /winner/);
  await screenshot(page, 'generate-beam');
  await page.close();
});

test('sampling with a seed shows the cut-offs and a share link reproduces the text', async () => {
  const page = await openWithModel();
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('strategy').selectOption('sample');
  await setNumber(page, 'top-k', 5);
  await setNumber(page, 'top-p', 0.9);
  await setNumber(page, 'temperature', 1.5);
  await setNumber(page, 'seed', 1234);
  await setNumber(page, 'max-new-tokens', 12);
  await generate(page);
  const text = await page.getByTestId('gen-output').textContent();
  if (hasDefault) {
    // The same seed gives the same text natively: the CLI on the same files.
    const bin = cliBinary();
    assert.ok(bin, 'build the CLI first (cargo build -p llmlab-cli) or set LLMLAB_BIN');
    const cli = spawnSync(bin, ['generate',
      '--model', path.join(repoRoot, 'web', 'models', 'default'), '--prompt', PROMPT, '--strategy', 'sample',
      '--top-k', '5', '--top-p', '0.9', '--temperature', '1.5', '--seed', '1234', '--max-new-tokens', '12'],
    { cwd: repoRoot, encoding: 'utf8', timeout: 120000 });
    assert.equal(cli.status, 0, cli.stderr);
    const native = JSON.parse(cli.stdout).sequences[0].text;
    assert.ok(native.length > 0);
    // The page shows the prompt and then the new tokens, spaces drawn as ␣.
    assert.equal(text.replaceAll('␣', ' '), PROMPT + native, 'browser and native `llmlab generate` disagree for seed 1234');
  }
  await page.getByTestId('gen-token').first().click();
  const bars = page.getByTestId('prob-bars');
  await bars.getByTestId('cut-top-k').waitFor();
  assert.match(await bars.getByTestId('cut-top-k').textContent(), /top-k/);
  assert.equal(await bars.getByTestId('cut-top-p').count(), 1);
  assert.equal(await bars.getByTestId('chosen-bar').count(), 1);
  await screenshot(page, 'generate-sample');

  // Same settings again in this page: same text.
  await generate(page);
  assert.equal(await page.getByTestId('gen-output').textContent(), text);

  const link = await page.getByTestId('share-url').inputValue();
  assert.match(link, /seed=1234/);
  const other = await openWithModel(link);
  assert.equal(await other.getByTestId('prompt').inputValue(), PROMPT);
  await generate(other);
  assert.equal(await other.getByTestId('gen-output').textContent(), text);
  await page.close(); await other.close();
});

test('Ctrl+Enter generates, templates fill the prompt, and the KV-cache toggle is compared', async () => {
  const page = await openWithModel();
  await page.getByTestId('template-dialogue').click();
  assert.match(await page.getByTestId('prompt').inputValue(), /System:[\s\S]*User:[\s\S]*Assistant:/);
  await page.getByTestId('template-ner').click();
  assert.match(await page.getByTestId('prompt').inputValue(), /Entities:/);
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('strategy').selectOption('greedy');
  await setNumber(page, 'max-new-tokens', 20);
  await generate(page, () => page.getByTestId('prompt').press('Control+Enter'));
  const withCache = await page.getByTestId('gen-output').textContent();
  assert.match(await page.getByTestId('gen-speed').textContent(), /KV cache on/);
  await page.getByTestId('kv').uncheck();
  await generate(page);
  assert.match(await page.getByTestId('gen-speed').textContent(), /KV cache on: [\d.]+ tokens\/s, off: [\d.]+ tokens\/s/);
  // The cache changes the speed, never the text.
  assert.equal(await page.getByTestId('gen-output').textContent(), withCache);
  assert.match(await page.getByTestId('share-url').inputValue(), /kv=0/);
  await page.close();
});

test('Stop ends a long generation and keeps the partial output; bad prompts give clear errors', async () => {
  const page = await openWithModel();
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('strategy').selectOption('greedy');
  await page.getByTestId('kv').uncheck();
  await setNumber(page, 'max-new-tokens', 1024);
  await generate(page, async () => {
    await page.getByTestId('generate').click();
    await page.getByTestId('gen-token').first().waitFor({ timeout: 60000 });
    if (await page.getByTestId('stop').isEnabled()) await page.getByTestId('stop').click();
  });
  // The fixture's context is 64 tokens: the length was capped with a visible note.
  if (!hasDefault) assert.match(await page.getByTestId('gen-note').textContent(), /context window/);
  const n = await page.getByTestId('gen-token').count();
  assert.ok(n >= 1, `${n} tokens kept`);
  if (!hasDefault) {
    await page.getByTestId('prompt').fill('hello world');
    await page.getByTestId('generate').click();
    await page.getByTestId('gen-error').getByText('token ids', { exact: false }).waitFor();
  }
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

// Model defaults: a checkpoint with a generation_config.json, loaded from
// the user's files into a page opened without a link, turns "Use the model's
// generation_config.json" on; the untouched tab then decodes exactly as
// transformers' `model.generate(input_ids)` with no arguments (the committed
// references in generate_defaults.json, the same ones the CLI is checked on).
const defaultsFixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tests', 'fixtures', 'decoding', 'generate_defaults.json'), 'utf8'));

/** The fixture's cases grouped by checkpoint: one page load per (model, generation_config.json). */
function defaultsGroups() {
  const groups = new Map();
  for (const c of defaultsFixture.cases) {
    const key = `${c.model} ${JSON.stringify(c.generation_config)}`;
    if (!groups.has(key)) groups.set(key, { model: c.model, generation: c.generation_config, cases: [] });
    groups.get(key).cases.push(c);
  }
  return [...groups.values()];
}

async function openWithCheckpoint(model, generation) {
  const page = await newPage(browser);
  await page.goto(site.base);
  await waitWorkerReady(page);
  await page.getByTestId('tab-gen').click();
  await page.getByTestId('panel-gen').waitFor();
  const status = page.getByTestId('model-status');
  // The embedded default (no generation_config.json) loads first on a page without a link.
  if (hasDefault) await status.getByText('Model: Default', { exact: false }).waitFor({ timeout: 60000 });
  assert.equal(await page.getByTestId('model-defaults').isChecked(), false, 'the default model keeps the explicit settings');
  const dir = path.join(repoRoot, 'tests', 'fixtures', 'decoding', 'models', model);
  await page.getByTestId('model-files').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: fs.readFileSync(path.join(dir, 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: fs.readFileSync(path.join(dir, 'model.safetensors')) },
    { name: 'generation_config.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(generation)) },
  ]);
  await status.getByText('Model: Your files', { exact: false }).waitFor({ timeout: 60000 });
  return page;
}

/** Generate from `ids` and return the page's full returned ids (one array per sequence). */
async function generateIds(page, ids) {
  await page.getByTestId('prompt').fill(ids.join(', '));
  await generate(page);
  const text = await page.getByTestId('gen-speed').getAttribute('data-ids');
  return text.split(';').map((row) => row.split(',').map(Number));
}

test('with model defaults the page decodes as model.generate(input_ids) with no arguments', async () => {
  let checked = 0;
  for (const group of defaultsGroups()) {
    const page = await openWithCheckpoint(group.model, group.generation);
    const box = page.getByTestId('model-defaults');
    await page.waitForFunction(() => document.querySelector('[data-testid="model-defaults"]').checked, null, { timeout: 10000 });
    assert.equal(await box.isChecked(), true, 'a checkpoint with generation_config.json turns model defaults on');
    assert.match(await page.getByTestId('share-url').inputValue(), /gdef=1/);
    for (const c of group.cases) {
      const got = await generateIds(page, c.input_ids);
      assert.deepEqual(got, c.sequences, `${group.model} ${JSON.stringify(group.generation)} prompt ${c.input_ids}`);
      checked += 1;
    }
    // The settings used are listed with their source.
    const resolved = page.getByTestId('resolved-settings');
    await resolved.locator('summary').click();
    const beams = group.generation.num_beams ?? 1;
    const row = resolved.getByTestId('resolved-num_beams');
    assert.equal(await row.getByTestId('resolved-value').textContent(), String(beams));
    assert.equal(await row.getByTestId('resolved-source').textContent(),
      group.generation.num_beams === undefined ? 'transformers default' : 'generation_config.json');
    if (group.generation.num_beams > 1) {
      // Off: every control is explicit again (the tab's greedy, 100 new tokens).
      await box.uncheck();
      await generateIds(page, group.cases[0].input_ids);
      await resolved.locator('summary').click();
      assert.equal(await resolved.getByTestId('resolved-strategy').getByTestId('resolved-value').textContent(), 'greedy');
      assert.equal(await resolved.getByTestId('resolved-strategy').getByTestId('resolved-source').textContent(), 'you');
      assert.match(await page.getByTestId('share-url').inputValue(), /gdef=0/);
    }
    assert.deepEqual(page.events.pageErrors, []);
    await page.close();
  }
  assert.equal(checked, defaultsFixture.cases.length);
});

test('the lab worker loads only when a lab tab opens, and the loaded model moves into it', async () => {
  const requested = site.requested;
  requested.length = 0;
  const page = await newPage(browser);
  await page.goto(withoutAutoload(`${site.base}#tab=gen${NO_AUTOLOAD}`));
  await waitWorkerReady(page);
  if (hasDefault) {
    await page.getByTestId('load-default').click();
  } else {
    await page.getByTestId('model-files').setInputFiles([
      path.join(fixture, 'config.json'),
      path.join(fixture, 'model.safetensors'),
    ]);
  }
  await page.getByTestId('model-status').getByText('Model:', { exact: false }).waitFor({ timeout: 60000 });
  await page.getByTestId('prompt').fill(PROMPT);
  await page.getByTestId('strategy').selectOption('greedy');
  await setNumber(page, 'max-new-tokens', 6);
  await generate(page);
  const before = await page.getByTestId('gen-output').textContent();
  assert.ok(!requested.some((p) => p.includes('lab_worker')), `lab worker fetched before a lab tab opened: ${requested}`);
  assert.doesNotMatch(await page.getByTestId('worker-status').textContent(), /lab/);

  // Opening the Evaluate tab swaps in the lab worker and replays the load.
  await page.getByTestId('tab-eval').click();
  await page.getByTestId('worker-status').filter({ hasText: /ready .*lab\)/ }).waitFor({ timeout: 60000 });
  assert.ok(requested.some((p) => p.endsWith('lab_worker_bg.wasm')), 'the lab worker wasm was not fetched');
  await page.getByTestId('model-status').getByText('Model:', { exact: false }).waitFor({ timeout: 60000 });

  // Back in Generate, the same model in the lab worker gives the same text.
  await page.getByTestId('tab-gen').click();
  await generate(page);
  assert.equal(await page.getByTestId('gen-output').textContent(), before);
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

// End-to-end test of the Fine-tune tab: LoRA-tunes the default model on the
// built-in instruction set in the worker (Start loads the default model
// first), checks that the held-out answers improved (their answer-only loss
// falls on words never trained on), then exports the adapter and loads the
// two peft files natively with the native CLI (`llmlab logits --adapter`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady, repoRoot, cliBinary } from './harness.mjs';

const STEPS = 30;
const LINK = `#tab=ft&seed=0&fr=8&falpha=16&ftgt=default&flr=0.003&fsteps=${STEPS}&fbatch=8&fdata=builtin`;
const CLI = cliBinary();
const MODEL = path.join(repoRoot, 'web', 'models', 'default');

let site, browser;
before(async () => {
  site = await serveStatic();
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.close(); });

test('LoRA on the built-in set improves the held-out answers and exports a peft adapter the CLI loads', async () => {
  assert.ok(CLI, 'build the CLI first (cargo build -p llmlab-cli) or set LLMLAB_BIN');
  const page = await newPage(browser);
  const started = Date.now();
  await page.goto(`${site.base}${LINK}`);
  await waitWorkerReady(page);
  await page.getByTestId('panel-ft').waitFor();
  // The link restored the settings.
  assert.equal(await page.getByTestId('ft-steps').inputValue(), String(STEPS));

  // Start with the keyboard; the default model is loaded first.
  await page.getByTestId('ft-start').focus();
  await page.keyboard.press('Enter');
  // The template preview marks the answer tokens (and only them) as carrying loss.
  await page.getByTestId('ft-preview').waitFor({ timeout: 60000 });
  const preview = page.getByTestId('ft-preview');
  const lossText = (await preview.locator('[data-loss="1"]').allTextContents()).join('');
  const promptText = (await preview.locator('[data-loss="0"]').allTextContents()).join('');
  assert.match(promptText, /^Instruction: .+⏎Response: $/);
  assert.match(lossText, /^[A-Za-z]+⏎$/);

  // Parameter budget: LoRA trains a small fraction of the model.
  await page.getByTestId('ft-budget').waitFor({ timeout: 60000 });
  const trainable = Number(await page.getByTestId('ft-budget').getAttribute('data-trainable'));
  const base = Number(await page.getByTestId('ft-budget').getAttribute('data-base'));
  assert.equal(trainable, 36864, 'r=8 on the six c_attn layers: 6 × 8 × (192 + 576)');
  assert.ok(trainable / base < 0.02, `${trainable} of ${base}`);

  // Live loss, then the held-out answers before and after.
  await page.getByTestId('ft-curve').waitFor({ timeout: 60000 });
  await page.getByTestId('ft-result').waitFor({ timeout: 100000 });
  const result = page.getByTestId('ft-result');
  const lossBefore = Number(await result.getAttribute('data-loss-before'));
  const lossAfter = Number(await result.getAttribute('data-loss-after'));
  const correctBefore = Number(await result.getAttribute('data-correct-before'));
  const correctAfter = Number(await result.getAttribute('data-correct-after'));
  const rows = await page.getByTestId('ft-heldout').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    expected: tr.getAttribute('data-expected'), before: tr.getAttribute('data-before'), after: tr.getAttribute('data-after'),
  })));
  const seconds = (Date.now() - started) / 1000;
  console.log(`fine-tune: held-out loss ${lossBefore.toFixed(4)} -> ${lossAfter.toFixed(4)}, exact ${correctBefore} -> ${correctAfter} of ${rows.length} in ${seconds.toFixed(1)} s`);
  console.log(rows.map((r) => `  ${r.expected}: ${JSON.stringify(r.before)} -> ${JSON.stringify(r.after)}`).join('\n'));
  assert.equal(rows.length, 16, '4 held-out words × 4 tasks');
  assert.ok(lossAfter < 0.6 * lossBefore, `held-out answer loss ${lossBefore} -> ${lossAfter}`);
  assert.ok(correctAfter >= correctBefore);
  assert.ok(rows.every((r) => r.after !== null));
  const points = (await page.getByTestId('ft-curve').getAttribute('points')).trim().split(' ');
  assert.ok(points.length >= STEPS / 2, `${points.length} loss points`);
  await screenshot(page, 'finetune-builtin');

  // Export: both peft files, loaded natively by the CLI.
  await page.getByTestId('ft-export').click();
  await page.getByTestId('ft-downloads').waitFor({ timeout: 30000 });
  // (The page's CSP forbids fetching blob URLs; the links download them.)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmlab-ft-'));
  const names = [];
  for (const link of await page.getByTestId('ft-downloads').locator('a').all()) {
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    names.push(download.suggestedFilename());
    await download.saveAs(path.join(dir, download.suggestedFilename()));
  }
  assert.deepEqual(names.sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.r, 8);
  const header = fs.readFileSync(path.join(dir, 'adapter_model.safetensors'));
  const keys = Object.keys(JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8'))).filter((k) => k !== '__metadata__');
  assert.ok(keys.length === 12 && keys.every((k) => /^base_model\.model\..*\.lora_[AB]\.weight$/.test(k)), keys.join(', '));
  const ids = '21,1,39,1,40';
  const adapted = execFileSync(CLI, ['logits', '--model', MODEL, '--adapter', dir, '--ids', ids], { encoding: 'utf8' });
  const plain = execFileSync(CLI, ['logits', '--model', MODEL, '--ids', ids], { encoding: 'utf8' });
  assert.notEqual(adapted, plain, 'the exported adapter changes the model natively');
  fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(page.events.pageErrors, []);
});

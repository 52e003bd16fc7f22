// End-to-end test of the Train tab: a tiny Llama-shaped model learns the
// reversal toy task in the worker until the tab shows a real accuracy,
// pausing and resuming on the way (the step count must not move while
// paused and must continue afterwards), then exports the HF files and
// becomes the model of the Generate tab, which reverses a new string.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady } from './harness.mjs';

// Toy-sized run (the tab's "Toy-sized preset"): 2 layers, width 64,
// context 32, batch 16, lr 3e-3. RoPE makes reversal learnable in ~100 steps.
const SETTINGS = 'tdata=toy&ttask=reversal&ttok=char&tarch=llama&tlayers=2&theads=4&twidth=64&tctx=32'
  + '&tbatch=16&tsteps=400&tlr=0.003&twarm=30&taccum=1&tprec=fp32&seed=7&tval=0.1';
// A link naming a Hub repo never loads anything by itself, so the default
// model does not race with the trained one.
const LINK = `#tab=train&model=hub%3Atiny%2Fnone&${SETTINGS}`;
const ACCURACY_TARGET = 0.7;

let site, browser;
before(async () => {
  site = await serveStatic();
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.close(); });

const step = async (page) => Number((await page.getByTestId('train-step').textContent()) || 0);
const phase = (page) => page.getByTestId('train-status').getAttribute('data-phase');
async function waitPhase(page, want, timeout = 30000) {
  await page.locator(`[data-testid="train-status"][data-phase="${want}"]`).waitFor({ timeout });
}

test('a toy task trains to a visible accuracy, pauses, resumes and generates in the Generate tab', async () => {
  const page = await newPage(browser);
  await page.goto(`${site.base}${LINK}`);
  await waitWorkerReady(page);
  await page.getByTestId('panel-train').waitFor();
  assert.equal(await page.getByTestId('not-landed').count(), 0);
  // The schedule plot follows the settings.
  const lrBefore = await page.getByTestId('train-lr-plot').locator('polyline').getAttribute('points');
  await page.getByTestId('train-warmup').fill('100');
  await page.getByTestId('train-warmup').press('Tab');
  const lrAfter = await page.getByTestId('train-lr-plot').locator('polyline').getAttribute('points');
  assert.notEqual(lrBefore, lrAfter);
  await page.getByTestId('train-warmup').fill('30');
  await page.getByTestId('train-warmup').press('Tab');

  // Start with the keyboard.
  const started = Date.now();
  await page.getByTestId('train-start').focus();
  await page.keyboard.press('Enter');
  await waitPhase(page, 'training');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.textContent) >= 20, null, { timeout: 30000 });

  // Pause: the step count stops moving.
  await page.getByTestId('train-pause').click();
  await waitPhase(page, 'paused');
  const pausedAt = await step(page);
  await page.waitForTimeout(1000);
  assert.equal(await step(page), pausedAt, 'no steps while paused');
  // The page stays responsive while the worker trains: typing works.
  await page.getByTestId('train-resume').click();
  await waitPhase(page, 'training');
  await page.getByTestId('train-steps').fill('400');
  await page.waitForFunction((s) => Number(document.querySelector('[data-testid="train-step"]')?.textContent) > s, pausedAt, { timeout: 30000 });

  // Accuracy on fresh examples climbs past the target.
  await page.waitForFunction((target) => {
    const el = document.querySelector('[data-testid="train-accuracy"]');
    return el && Number(el.getAttribute('data-best')) >= target;
  }, ACCURACY_TARGET, { timeout: 75000 });
  const best = Number(await page.getByTestId('train-accuracy').getAttribute('data-best'));
  const seconds = (Date.now() - started) / 1000;
  const tps = await page.getByTestId('train-tokens-per-sec').textContent();
  console.log(`reversal: best accuracy ${best} after ${seconds.toFixed(1)} s (step ${await step(page)}, ${tps} tokens/s)`);
  assert.ok(best >= ACCURACY_TARGET);
  // Curves and samples are drawn.
  assert.ok((await page.getByTestId('train-curve').getAttribute('points')).trim().split(' ').length > 5);
  assert.ok((await page.getByTestId('val-curve').getAttribute('points')).trim().length > 0);
  assert.match(await page.getByTestId('train-sample').textContent(), /\|/);
  await screenshot(page, 'train-toy');

  if ((await phase(page)) === 'training') {
    await page.getByTestId('train-pause').click();
    await waitPhase(page, 'paused');
  }

  // Export: three HF files as downloads.
  await page.getByTestId('train-export').click();
  await page.getByTestId('train-downloads').waitFor();
  for (const name of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    assert.match(await page.getByTestId(`download-${name}`).getAttribute('href'), /^blob:/);
  }
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-config.json').click()]);
  const config = JSON.parse(await (await download.createReadStream()).toArray().then((c) => Buffer.concat(c).toString()));
  assert.equal(config.model_type, 'llama');
  assert.equal(config.num_hidden_layers, 2);

  const finalAccuracy = Number(await page.getByTestId('train-accuracy').getAttribute('data-value'));
  // Use it in the other tabs.
  await page.getByTestId('train-use').click();
  await page.getByTestId('train-status').getByText('now used by', { exact: false }).waitFor({ timeout: 30000 });
  await page.getByTestId('tab-gen').click();
  await page.getByTestId('panel-gen').waitFor();
  await page.getByTestId('model-status').getByText('Trained in the Train tab', { exact: false }).waitFor({ timeout: 30000 });
  // Earlier example lines as context, then a new prompt.
  await page.getByTestId('prompt').fill('ab|ba\ncde|edc\nbad|dab\nbd|');
  await page.getByTestId('strategy').selectOption('greedy');
  await page.getByTestId('max-new-tokens').fill('4');
  await page.getByTestId('max-new-tokens').press('Tab');
  await page.getByTestId('generate').click();
  await page.locator('[data-testid="gen-speed"]').waitFor({ timeout: 60000 });
  const tokens = await page.getByTestId('gen-token').allTextContents();
  const output = tokens.join('').replace(/↵/g, '\n');
  console.log(`generated after "bd|": ${JSON.stringify(output)} (final accuracy ${finalAccuracy})`);
  assert.ok(output.length > 0, 'the trained model generated text');
  assert.ok(/^[abcde|\n]+$/.test(output), `the output uses the task's alphabet: ${output}`);
  // A model that answers most fresh probes right reverses this short one.
  if (finalAccuracy >= 0.8) assert.equal(output.split('\n')[0], 'db');
  await screenshot(page, 'train-generate');
  assert.deepEqual(page.events.pageErrors, []);
});

// Fine-tuning the model the page has loaded: the default model (a
// character-level GPT-2) learns a pasted sentence in a few steps, the tab
// shows the loss on the user's text before and after, and the Generate tab
// then continues the sentence's start with its remainder.
const SENTENCE = 'the quick brown fox jumps over the lazy dog. ';
const FINETUNE = 'tdata=text&tinit=loaded&ttok=char&tctx=64&tbatch=8&tsteps=30&tlr=0.002&twarm=5&taccum=1&tprec=fp32&seed=3&tval=0.1';

test('the loaded default model fine-tunes on pasted text and then generates it in the Generate tab', async () => {
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=gen&model=hub%3Atiny%2Fnone&${FINETUNE}`);
  await waitWorkerReady(page);
  await page.getByTestId('load-default').click();
  await page.getByTestId('model-status').getByText('Model:', { exact: false }).waitFor({ timeout: 60000 });
  await page.getByTestId('tab-train').click();
  await page.getByTestId('panel-train').waitFor();
  await page.getByTestId('train-init-hint').waitFor();
  await page.getByTestId('train-text').fill(SENTENCE.repeat(60));
  const started = Date.now();
  await page.getByTestId('train-start').click();
  await page.locator('[data-testid="train-status"][data-phase="finished"]').waitFor({ timeout: 120000 });
  const seconds = (Date.now() - started) / 1000;
  const ba = page.getByTestId('train-before-after');
  const before = Number(await ba.getAttribute('data-before'));
  const after = Number(await ba.getAttribute('data-after'));
  const tps = await page.getByTestId('train-tokens-per-sec').textContent();
  console.log(`fine-tune of the default model: val loss ${before} -> ${after} nats/token in ${seconds.toFixed(1)} s (${tps} tokens/s)`);
  assert.ok(after < before / 2, `the loss on the pasted text halves: ${before} -> ${after}`);
  await screenshot(page, 'train-finetune-loaded');

  await page.getByTestId('train-use').click();
  await page.getByTestId('train-status').getByText('now used by', { exact: false }).waitFor({ timeout: 30000 });
  await page.getByTestId('tab-gen').click();
  await page.getByTestId('panel-gen').waitFor();
  await page.getByTestId('model-status').getByText('(fine-tuned)', { exact: false }).waitFor({ timeout: 30000 });
  await page.getByTestId('prompt').fill('the quick brown ');
  await page.getByTestId('strategy').selectOption('greedy');
  await page.getByTestId('max-new-tokens').fill('12');
  await page.getByTestId('max-new-tokens').press('Tab');
  await page.getByTestId('generate').click();
  await page.locator('[data-testid="gen-speed"]').waitFor({ timeout: 60000 });
  const output = (await page.getByTestId('gen-token').allTextContents()).join('').replace(/␣/g, ' ');
  console.log(`generated after "the quick brown ": ${JSON.stringify(output)}`);
  assert.ok(output.startsWith('fox jumps'), `the fine-tuned model continues the sentence: ${JSON.stringify(output)}`);
  assert.deepEqual(page.events.pageErrors, []);
});

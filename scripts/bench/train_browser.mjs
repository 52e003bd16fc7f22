// In-browser training benchmark (not part of scripts/test.sh): uploads
// ../shared/data/tinyshakespeare.txt in the Train tab, trains nanoGPT's CPU
// configuration (GPT-2, 4 layers, 4 heads, width 128, context 64, batch 12,
// char tokenizer; by default lr 1e-3 with 100 warmup steps) from scratch in the worker,
// and records the validation nats/char curve for MINUTES minutes (default
// 10; the target is ≤ 2.0 within 10 minutes on this machine).
//
// Usage (after `trunk build --release --offline --dist DIR`):
//   E2E_DIST=DIR node scripts/bench/train_browser.mjs [MINUTES] [STEPS] [LR] [WARMUP]
// Prints one line per new evaluation and a JSON summary at the end.
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic, launch, newPage, waitWorkerReady, repoRoot, distDir } from '../../tests/e2e/harness.mjs';

const minutes = Number(process.argv[2] || 10);
const steps = Number(process.argv[3] || 2500);
const lr = Number(process.argv[4] || 0.001);
const warmup = Number(process.argv[5] || 100);
const corpus = path.resolve(repoRoot, '..', 'shared', 'data', 'tinyshakespeare.txt');
if (!fs.existsSync(corpus)) {
  console.error(`skipped: ${corpus} is absent`);
  process.exit(0);
}

const site = await serveStatic(distDir);
const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=train&model=hub%3Atiny%2Fnone&tdata=text&ttok=char&tarch=gpt2&tlayers=4&theads=4`
    + `&twidth=128&tctx=64&tbatch=12&tsteps=${steps}&tlr=${lr}&twarm=${warmup}&taccum=1&tprec=fp32&seed=1337&tval=0.1`);
  await waitWorkerReady(page);
  await page.getByTestId('train-upload').setInputFiles(corpus);
  await page.getByTestId('train-text-size').getByText('tinyshakespeare.txt', { exact: false }).waitFor({ timeout: 30000 });
  const started = Date.now();
  await page.getByTestId('train-start').click();
  const curve = [];
  let lastStep = -1;
  let tokensPerSec = null;
  while ((Date.now() - started) / 60000 < minutes) {
    await page.waitForTimeout(2000);
    const val = await page.getByTestId('train-val-loss').textContent().catch(() => null);
    const stepText = await page.getByTestId('train-step').textContent().catch(() => null);
    tokensPerSec = Number(await page.getByTestId('train-tokens-per-sec').textContent().catch(() => 'NaN')) || tokensPerSec;
    const match = val && val.match(/([\d.]+) nats\/token, ([\d.]+) nats\/char/);
    const sample = await page.getByTestId('train-sample').locator('xpath=..').locator('figcaption').textContent().catch(() => '');
    const evalStep = Number((sample.match(/step (\d+)/) || [])[1] ?? -1);
    if (match && evalStep !== lastStep) {
      lastStep = evalStep;
      const point = { seconds: (Date.now() - started) / 1000, step: evalStep, val_nats_per_char: Number(match[2]) };
      curve.push(point);
      console.log(`${point.seconds.toFixed(0)} s  step ${point.step}  val ${point.val_nats_per_char.toFixed(4)} nats/char  (${tokensPerSec} tokens/s, at step ${stepText})`);
    }
    const phase = await page.getByTestId('train-status').getAttribute('data-phase');
    if (phase === 'finished') break;
  }
  const best = Math.min(...curve.map((p) => p.val_nats_per_char));
  const reached = curve.find((p) => p.val_nats_per_char <= 2.0);
  console.log(JSON.stringify({ minutes, steps, lr, warmup, tokens_per_sec: tokensPerSec, best_val_nats_per_char: best,
    reached_2_0_at_seconds: reached ? reached.seconds : null, curve }));
} finally {
  await browser.close();
  await site.close();
}

// End-to-end tests of the Evaluate tab: a small corpus scored in the tab
// must give sacrebleu's and rouge-score's numbers (the expected values below
// were printed by sacrebleu 2.6.0 and rouge-score 0.1.2, the same ones
// `llmlab score` prints); the ROUGE-L alignment highlights the LCS words;
// perplexity on the embedded default model equals `llmlab score ppl`; and a
// human evaluation (ratings, blind A/B, ranking) exports as CSV.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady, distDir } from './harness.mjs';

const HYPS = 'The cat sat on the mat.\nIt is raining heavily today!\nHe read the book quickly and left.\n';
const REFS_1 = 'The cat is sitting on the mat.\nToday it rains heavily.\nHe quickly read the book, then left.\n';
const REFS_2 = "A cat sat on the mat.\nIt's raining a lot today.\nHe read the whole book fast and went away.\n";
// sacrebleu.corpus_bleu(HYPS, [REFS_1, REFS_2]) and corpus_chrf(..., word_order=0|2).
const BLEU = 44.54146392509071;
const PRECISIONS = [85.71428571428571, 55.55555555555556, 40.0, 25.0];
const BP = 0.9534969548334766;
const CHRF = 61.11100092915166;
const CHRF_PP = 59.769982454380774;
// rouge_scorer.RougeScorer(types).score(ref, hyp) against REFS_1, mean over lines: [P, R, F].
const ROUGE = {
  rouge1: [0.7634920634920634, 0.7738095238095238, 0.7643467643467643],
  rouge2: [0.3111111111111111, 0.27777777777777773, 0.2929292929292929],
  rougeL: [0.6492063492063492, 0.6428571428571429, 0.6426536426536426],
  rougeLsum: [0.6492063492063492, 0.6428571428571429, 0.6426536426536426],
};
// `llmlab score ppl --model web/models/default --text <PPL_TEXT> --max-length 32 --stride 16`.
const PPL_TEXT = 'To be, or not to be, that is the question:\nWhether tis nobler in the mind to suffer';
const PPL = 4.2133549154984875;
const PPL_BPC = 1.9499712881532598;
const PPL_TOKENS = 78;

const hasDefault = fs.existsSync(path.join(distDir, 'models', 'default', 'config.json'));

let site, browser;
before(async () => {
  site = await serveStatic();
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.close(); });

async function openTab(page, extra = '') {
  await page.goto(`${site.base}#tab=eval${extra}`);
  await waitWorkerReady(page);
  await page.getByTestId('panel-eval').waitFor();
}

const exact = async (page, id) => Number(await page.getByTestId(id).getAttribute('data-value'));

test('a corpus scored in the tab gives sacrebleu and rouge-score numbers; the LCS is highlighted', async () => {
  const page = await newPage(browser);
  await openTab(page, '&model=hub%3Atiny%2Fnone');
  await page.getByTestId('hyp').fill(HYPS);
  // One reference set pasted, the second uploaded as a file (appended as a new set).
  await page.getByTestId('refs').fill(REFS_1);
  await page.getByTestId('ref-upload').setInputFiles({ name: 'refs2.txt', mimeType: 'text/plain', buffer: Buffer.from(REFS_2) });
  await page.getByTestId('ref-set-count').filter({ hasText: '2 reference set(s)' }).waitFor({ timeout: 10000 });
  await page.getByTestId('score').click();
  await page.getByTestId('score-results').waitFor({ timeout: 30000 });
  assert.equal(await exact(page, 'bleu-score'), BLEU);
  for (let k = 0; k < 4; k++) assert.equal(await exact(page, `bleu-p${k + 1}`), PRECISIONS[k]);
  assert.equal(await exact(page, 'bleu-bp'), BP);
  const bpText = await page.getByTestId('bleu-bp').textContent();
  assert.match(bpText, /c = 21 tokens/);
  assert.match(bpText, /r = 22/);
  assert.match(bpText, /BP = exp\(1 − r\/c\) = exp\(1 − 22\/21\) = 0\.9535/);
  assert.equal(await page.getByTestId('bleu-score').textContent(), '44.54');
  assert.equal(await exact(page, 'chrf'), CHRF);
  assert.equal(await exact(page, 'chrfpp'), CHRF_PP);
  for (const [type, [p, r, f]] of Object.entries(ROUGE)) {
    assert.equal(await exact(page, `rouge-${type}-p`), p, `${type} precision`);
    assert.equal(await exact(page, `rouge-${type}-r`), r, `${type} recall`);
    assert.equal(await exact(page, `rouge-${type}-f`), f, `${type} fmeasure`);
  }
  // Line 0: "The cat is sitting on the mat." vs "The cat sat on the mat." -> LCS the cat on the mat.
  const target = page.getByTestId('lcs-target');
  await target.locator('mark.lcs').first().waitFor({ timeout: 10000 });
  assert.deepEqual(await target.locator('mark.lcs').allTextContents(), ['The', 'cat', 'on', 'the', 'mat']);
  assert.equal(await target.textContent(), 'The cat is sitting on the mat.');
  assert.deepEqual(await page.getByTestId('lcs-prediction').locator('mark.lcs').allTextContents(), ['The', 'cat', 'on', 'the', 'mat']);
  // Another line: "Today it rains heavily." vs "It is raining heavily today!" -> LCS of 2 words.
  await page.getByTestId('eval-line').fill('1');
  await page.getByTestId('eval-line').press('Tab');
  await page.getByTestId('lcs-summary').filter({ hasText: 'LCS = 2 words' }).waitFor({ timeout: 10000 });
  assert.equal((await page.getByTestId('lcs-prediction').locator('mark.lcs').allTextContents()).length, 2);
  // Settings live in the link.
  await page.getByTestId('bleu-tokenize').selectOption('char');
  await page.waitForFunction(() => /[#&]btok=char(&|$)/.test(location.hash), null, { timeout: 5000 });
  await screenshot(page, 'eval-scores');
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

test('mismatched reference lines give a clear error, not a crash', async () => {
  const page = await newPage(browser);
  await openTab(page, '&model=hub%3Atiny%2Fnone');
  await page.getByTestId('hyp').fill('one\ntwo\nthree');
  await page.getByTestId('refs').fill('one\ntwo');
  await page.getByTestId('score').click();
  await page.getByTestId('score-error').filter({ hasText: 'Reference set 1 has 2 lines but there are 3 hypotheses' }).waitFor({ timeout: 20000 });
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

test('perplexity on the default model equals the CLI, tokens coloured by surprise', { skip: !hasDefault && 'no default model in dist' }, async () => {
  const page = await newPage(browser);
  await openTab(page, `&pmax=32&pstride=16&ptext=${encodeURIComponent(PPL_TEXT)}`);
  const status = page.getByTestId('model-status');
  try {
    await status.getByText('Model:', { exact: false }).waitFor({ timeout: 8000 });
  } catch {
    await page.getByTestId('load-default').click();
    await status.getByText('Model:', { exact: false }).waitFor({ timeout: 60000 });
  }
  await page.getByTestId('ppl-run').click();
  await page.getByTestId('ppl-value').waitFor({ timeout: 60000 });
  const ppl = await exact(page, 'ppl-value');
  assert.ok(Math.abs(ppl - PPL) / PPL < 1e-5, `ppl ${ppl} vs CLI ${PPL}`);
  const details = page.getByTestId('ppl-details');
  assert.equal(Number(await details.getAttribute('data-tokens')), PPL_TOKENS);
  const bpc = Number(await details.getAttribute('data-bpc'));
  assert.ok(Math.abs(bpc - PPL_BPC) / PPL_BPC < 1e-5, `bpc ${bpc}`);
  assert.match(await details.textContent(), /5 window\(s\) of 32 tokens, stride 16/);
  const tokens = page.getByTestId('ppl-tokens').locator('.eval-tok');
  // A character model: one coloured chip per character, the first not predicted.
  assert.equal(await tokens.count(), [...PPL_TEXT].length);
  assert.equal(await tokens.first().getAttribute('title'), 'first token: nothing predicts it');
  assert.match(await tokens.nth(1).getAttribute('title'), /^\d+\.\d\d bits$/);
  await page.getByTestId('ppl-legend').waitFor();
  await screenshot(page, 'eval-perplexity');
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

test('a long perplexity run shows progress, keeps the page responsive and cancels', { skip: !hasDefault && 'no default model in dist' }, async () => {
  const page = await newPage(browser);
  const long = 'To be, or not to be, that is the question. '.repeat(300);
  await openTab(page, `&pmax=128&pstride=4&ptext=${encodeURIComponent(long)}`);
  const status = page.getByTestId('model-status');
  try {
    await status.getByText('Model:', { exact: false }).waitFor({ timeout: 8000 });
  } catch {
    await page.getByTestId('load-default').click();
    await status.getByText('Model:', { exact: false }).waitFor({ timeout: 60000 });
  }
  await page.getByTestId('ppl-run').click();
  const bar = page.getByTestId('perplexity').getByRole('progressbar');
  await bar.getByText(/^Window \d+ of \d+/).waitFor({ timeout: 30000 });
  // The page answers while the worker computes: typing lands at once.
  await page.getByTestId('hyp').fill('still typing');
  assert.equal(await page.getByTestId('hyp').inputValue(), 'still typing');
  await page.getByTestId('ppl-cancel').click();
  await page.getByTestId('ppl-error').filter({ hasText: 'cancelled' }).waitFor({ timeout: 20000 });
  assert.equal(await page.getByTestId('ppl-value').count(), 0);
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

test('human evaluation: ratings, blind A/B, ranking, CSV export', async () => {
  const page = await newPage(browser);
  await openTab(page, '&model=hub%3Atiny%2Fnone&seed=7');
  await page.evaluate(() => localStorage.removeItem('llmlab.human_eval'));
  await page.getByTestId('hyp').fill('Output one, with a comma\nOutput two');
  await page.getByTestId('hyp-b').fill('B one\nB two');
  await page.getByTestId('rate-0-fluency').selectOption('5');
  await page.getByTestId('rate-0-safety').selectOption('4');
  await page.getByTestId('rate-1-accuracy').selectOption('2');
  // Blind pairs: no system names until revealed.
  const label = page.getByTestId('pair-0-left-label');
  assert.equal(await label.textContent(), 'Left');
  const left0 = await page.getByTestId('pair-0-left').textContent();
  const left1 = await page.getByTestId('pair-1-left').textContent();
  await page.getByTestId('pair-0-pick-left').click();
  await page.getByTestId('pair-1-pick-tie').click();
  await page.getByTestId('reveal').click();
  const shownLeft = (await label.textContent()).replace('Left: system ', '');
  assert.ok(['A', 'B'].includes(shownLeft));
  // The system on the left of pair 0 wrote the left text.
  assert.equal(left0.startsWith('B ') ? 'B' : 'A', shownLeft);
  // Which line pair 0 is depends on the seed; its winner is the left system.
  const pair0Item = ['Output one, with a comma', 'B one'].includes(left0) ? 1 : 2;
  const pair1Item = 3 - pair0Item;
  assert.ok(left1.length > 0);
  await page.getByTestId('pair-tally').filter({ hasText: '1 ties' }).waitFor();
  // Ranking with the keyboard-friendly buttons.
  await page.getByTestId('rank-outputs').fill('alpha\nbeta\ngamma');
  await page.getByTestId('rank-down-0').click();
  await page.getByTestId('rank-up-2').focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(await page.getByTestId('ranking').locator('li .eval-output').allTextContents(), ['beta', 'gamma', 'alpha']);
  // CSV download.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  assert.equal(download.suggestedFilename(), 'human-eval.csv');
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const expected = [
    'task,item,system,criterion,value,output',
    'rating,1,A,fluency,5,"Output one, with a comma"',
    'rating,1,A,safety,4,"Output one, with a comma"',
    'rating,2,A,accuracy,2,Output two',
    ...[[pair0Item, shownLeft], [pair1Item, 'tie']].sort((a, b) => a[0] - b[0]).map(([item, w]) => `pairwise,${item},A vs B,winner,${w},`),
    'ranking,1,,rank,1,beta',
    'ranking,2,,rank,2,gamma',
    'ranking,3,,rank,3,alpha',
  ];
  assert.equal(csv, expected.join('\n') + '\n');
  // JSON export, and the results survive a reload (localStorage).
  const [json] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
  const data = JSON.parse(fs.readFileSync(await json.path(), 'utf8'));
  assert.deepEqual(data.ranking, ['beta', 'gamma', 'alpha']);
  assert.deepEqual(data.ratings[0].scores, [5, 0, 0, 0, 4]);
  await page.reload();
  await page.getByTestId('rate-0-fluency').waitFor();
  assert.equal(await page.getByTestId('rate-0-fluency').inputValue(), '5');
  await screenshot(page, 'eval-human');
  assert.deepEqual(page.events.pageErrors, []);
  await page.close();
});

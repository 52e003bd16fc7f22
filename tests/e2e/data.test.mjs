// End-to-end test of the Data tab: two uploaded files (JSONL and text) with
// a planted exact duplicate, a planted near duplicate and PII go through
// the worker's pipeline; the tab names each removal with its rule and the
// kept document, shows the near-duplicate pair with estimated and true
// Jaccard, marks the PII before replacement, exports the cleaned JSONL
// (checked line by line) and hands the corpus to the Train tab, whose BPE
// tokenizer and model then train on it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady } from './harness.mjs';

const STORY = 'The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden porch '
  + 'and drinks his morning coffee slowly before the long day of work in the fields begins again';
const NEAR = STORY.replace('morning', 'evening');
const PII = 'Contact jane.doe@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111.';

// Filler documents of random words (a fixed generator), unlike each other.
function filler(n) {
  let x = 12345;
  const rand = () => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648; };
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const vocab = Array.from({ length: 300 }, () => Array.from({ length: 3 + Math.floor(rand() * 6) }, () => letters[Math.floor(rand() * 26)]).join(''));
  return Array.from({ length: n }, () => Array.from({ length: 40 }, () => vocab[Math.floor(rand() * vocab.length)]).join(' '));
}

// a.jsonl: documents 0..2; b.txt (blank-line separated): 3 (= 0), 4 (near 0), then fillers 5...
const FILLERS = filler(30);
const JSONL = [STORY, 'Tokenizers split text into pieces that a model can count.', PII].map((text) => JSON.stringify({ text })).join('\n') + '\n';
const TEXT = [STORY, NEAR, ...FILLERS].join('\n\n') + '\n';

let site, browser;
before(async () => {
  site = await serveStatic();
  browser = await launch();
});
after(async () => { await browser?.close(); await site?.close(); });

test('uploaded files lose their planted duplicates and PII with the right reasons, export and train', async () => {
  const started = Date.now();
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=data&model=hub%3Atiny%2Fnone&dthr=0.7&drepl=tag`);
  await waitWorkerReady(page);
  await page.getByTestId('panel-data').waitFor();
  await page.getByTestId('data-upload').setInputFiles([
    { name: 'a.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(JSONL) },
    { name: 'b.txt', mimeType: 'text/plain', buffer: Buffer.from(TEXT) },
  ]);
  assert.equal(await page.getByTestId('data-files').locator('li').count(), 2);
  await page.getByTestId('data-run').click();
  await page.getByTestId('data-summary').waitFor({ timeout: 30000 });

  // Removed with their rules, each pointing at the kept document.
  const items = page.getByTestId('data-removed-item');
  const removed = await items.evaluateAll((els) => els.map((e) => [e.dataset.document, e.dataset.rule, e.dataset.kept]));
  assert.deepEqual(removed, [['3', 'exact_duplicate', '0'], ['4', 'near_duplicate', '0']]);
  assert.match(await items.nth(0).textContent(), /exact duplicate of #0/);

  // The funnel: 35 documents in, one exact and one near duplicate out.
  const funnel = await page.getByTestId('data-funnel').locator('g').evaluateAll((gs) => gs.map((g) => [g.dataset.testid, Number(g.dataset.documents)]));
  assert.deepEqual(funnel, [['funnel-input', 35], ['funnel-normalize', 35], ['funnel-exact_documents', 34], ['funnel-near_duplicates', 33], ['funnel-pii', 33]]);

  // The near-duplicate pair, side by side: the changed word is highlighted on both sides.
  const pair = page.getByTestId('data-cluster');
  assert.equal(await pair.count(), 1);
  assert.equal(await pair.getAttribute('data-kept'), '0');
  assert.equal(await pair.getAttribute('data-document'), '4');
  const estimated = Number(await pair.getAttribute('data-estimated'));
  const truth = Number(await pair.getAttribute('data-true'));
  assert.ok(Math.abs(truth - 30 / 36) < 1e-4, `true Jaccard ${truth}`);
  assert.ok(Math.abs(estimated - truth) < 0.15, `estimated ${estimated} vs true ${truth}`);
  assert.deepEqual(await pair.getByTestId('data-diff-word').allTextContents(), ['morning', 'evening']);

  // PII marked in the original text, with what replaced it.
  const spans = await page.getByTestId('data-pii-span').evaluateAll((els) => els.map((e) => [e.dataset.kind, e.textContent, e.dataset.replacement]));
  assert.deepEqual(spans, [
    ['email', 'jane.doe@example.com', '<EMAIL>'],
    ['phone', '+44 20 7946 0958', '<PHONE>'],
    ['card', '4111 1111 1111 1111', '<CARD>'],
  ]);
  await screenshot(page, 'data-report');

  // Export: the kept documents, in order, PII replaced.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('data-export').click()]);
  assert.equal(download.suggestedFilename(), 'cleaned.jsonl');
  const docs = fs.readFileSync(await download.path(), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(docs.map((d) => d.id), [0, 1, 2, ...FILLERS.map((_, i) => 5 + i)]);
  assert.equal(docs[2].text, 'Contact <EMAIL> or call <PHONE>, card <CARD>.');
  assert.equal(docs[3].text, FILLERS[0]);

  // Train on this: the Train tab has the cleaned corpus and trains a BPE tokenizer and a model on it.
  await page.getByTestId('data-train').click();
  await page.getByTestId('panel-train').waitFor();
  assert.equal(await page.getByTestId('train-source').inputValue(), 'text');
  assert.match(await page.getByTestId('train-text-size').textContent(), /cleaned corpus \(33 documents\)/);
  const trainText = await page.getByTestId('train-text').inputValue();
  assert.ok(trainText.startsWith(STORY + '\n\nTokenizers split text'), trainText.slice(0, 200));
  assert.ok(!trainText.includes('jane.doe') && trainText.includes('<EMAIL>'));
  await page.getByTestId('train-tokenizer').selectOption('bpe:300');
  for (const [id, value] of [['train-layers', '1'], ['train-width', '32'], ['train-context', '16'], ['train-batch', '4'], ['train-steps', '5'], ['train-warmup', '0']]) {
    await page.getByTestId(id).fill(value);
    await page.getByTestId(id).press('Tab');
  }
  await page.getByTestId('train-start').click();
  await page.locator('[data-testid="train-status"][data-phase="finished"]').waitFor({ timeout: 60000 });
  assert.equal(await page.getByTestId('train-step').textContent(), '5');
  await screenshot(page, 'data-trained');
  assert.deepEqual(page.events.pageErrors, []);
  console.log(`data e2e: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await page.close();
});

// The quality stage: datatrove's Gopher filters, switched on in the tab,
// keep a page of running prose and drop a too-short page and a spam page,
// each with the filter and rule that dropped it.
const PROSE = 'The history of the small town is told by the people who live there. Each spring the river rises and the farmers '
  + 'move their animals to the hills, where the grass grows thick and green. Children walk to the school that stands near '
  + 'the church, and in the evening their parents gather in the square to talk about the weather, the price of bread and '
  + 'the news from the city. Visitors who come in summer often stay longer than they planned.';
const SHORT = 'Click here to buy now';
const SPAM = Array.from({ length: 16 }, () => 'buy cheap watches online').join(' ');

test('the Gopher quality filters keep prose and drop short and spam pages with their rules', async () => {
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=data&model=hub%3Atiny%2Fnone&dsplit=paragraph&dnear=0&dpii=0&dqgopher=1`);
  await waitWorkerReady(page);
  await page.getByTestId('panel-data').waitFor();
  assert.equal(await page.getByTestId('data-quality-gopher').isChecked(), true, 'the link switched the Gopher filters on');
  await page.getByTestId('data-text').fill([PROSE, SHORT, SPAM].join('\n\n'));
  await page.getByTestId('data-run').click();
  await page.getByTestId('data-summary').waitFor({ timeout: 30000 });
  const removed = await page.getByTestId('data-removed-item').evaluateAll((els) => els.map((e) => [e.dataset.document, e.dataset.rule]));
  console.log(`quality removals: ${JSON.stringify(removed)}`);
  assert.equal(removed.length, 2, JSON.stringify(removed));
  assert.deepEqual(removed[0], ['1', 'gopher_quality: gopher_short_doc']);
  assert.equal(removed[1][0], '2');
  assert.match(removed[1][1], /^gopher_(quality|repetition): gopher_/);
  const funnel = await page.getByTestId('data-funnel').locator('g').evaluateAll((gs) => gs.map((g) => [g.dataset.testid, Number(g.dataset.documents)]));
  assert.deepEqual(funnel.find(([name]) => name === 'funnel-quality'), ['funnel-quality', 1]);
  assert.deepEqual(page.events.pageErrors, []);
});

// End-to-end test of zero-copy loading in the browser: a GPT-2-shaped
// checkpoint of about 135 MB (26x the embedded default model), written here
// with random weights, goes through the page's file picker; the worker keeps
// the file once and runs the layers on views into it, so its wasm memory
// after loading stays within 1.3x the file's bytes. The model panel reports
// the figure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serveStatic, launch, newPage, screenshot, waitWorkerReady } from './harness.mjs';

let site, browser, dir;

// GPT-2 shape: 8 layers of width 512, 16,384 tokens, 512 positions
// (33.8M parameters, f32).
const C = 512, L = 8, V = 16384, P = 512;

/// Writes `config.json` and a safetensors file (tensors in HF's GPT-2 key
/// layout, values from a small LCG so the file is not all zeros).
function writeCheckpoint(folder) {
  const tensors = [['transformer.wte.weight', [V, C]], ['transformer.wpe.weight', [P, C]]];
  for (let i = 0; i < L; i++) {
    const h = `transformer.h.${i}`;
    tensors.push([`${h}.ln_1.weight`, [C]], [`${h}.ln_1.bias`, [C]],
      [`${h}.attn.c_attn.weight`, [C, 3 * C]], [`${h}.attn.c_attn.bias`, [3 * C]],
      [`${h}.attn.c_proj.weight`, [C, C]], [`${h}.attn.c_proj.bias`, [C]],
      [`${h}.ln_2.weight`, [C]], [`${h}.ln_2.bias`, [C]],
      [`${h}.mlp.c_fc.weight`, [C, 4 * C]], [`${h}.mlp.c_fc.bias`, [4 * C]],
      [`${h}.mlp.c_proj.weight`, [4 * C, C]], [`${h}.mlp.c_proj.bias`, [C]]);
  }
  tensors.push(['transformer.ln_f.weight', [C]], ['transformer.ln_f.bias', [C]]);
  const header = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const file = fs.openSync(path.join(folder, 'model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeSync(file, len);
  fs.writeSync(file, Buffer.from(json, 'latin1'));
  let state = 12345;
  const chunk = new Float32Array(1 << 20);
  for (let written = 0; written < offset; written += chunk.length * 4) {
    const n = Math.min(chunk.length, (offset - written) / 4);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      chunk[i] = (state / 4294967296 - 0.5) * 0.04;
    }
    fs.writeSync(file, Buffer.from(chunk.buffer, 0, n * 4));
  }
  fs.closeSync(file);
  const config = {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], activation_function: 'gelu_new',
    n_embd: C, n_layer: L, n_head: 8, n_positions: P, vocab_size: V, layer_norm_epsilon: 1e-5,
    tie_word_embeddings: true, bos_token_id: 0, eos_token_id: 0,
  };
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify(config));
  return 8 + json.length + offset;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmlab-big-'));
  site = await serveStatic();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await site?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a 135 MB checkpoint loads through the file picker with worker memory under 1.3x its bytes', async () => {
  const fileBytes = writeCheckpoint(dir);
  const page = await newPage(browser);
  await page.goto(`${site.base}#tab=inside`);
  await waitWorkerReady(page);
  await page.getByTestId('model-files').setInputFiles([path.join(dir, 'config.json'), path.join(dir, 'model.safetensors')]);
  const status = page.getByTestId('model-status');
  await status.getByText('worker memory', { exact: false }).waitFor({ timeout: 180000 });
  const text = await status.textContent();
  const m = text.match(/files ([\d.]+) MB, worker memory ([\d.]+) MB \(([\d.]+)× the files\)/);
  assert.ok(m, `model status: ${text}`);
  const [files, memory, ratio] = m.slice(1).map(Number);
  console.log(`checkpoint ${fileBytes} bytes: files ${files} MB, worker memory ${memory} MB, ratio ${ratio}`);
  assert.ok(Math.abs(files - fileBytes / 1e6) < 0.1, `files ${files} MB vs ${fileBytes} bytes written`);
  assert.ok(ratio <= 1.3, `worker memory ${memory} MB is ${ratio}x the ${files} MB of files`);
  const total = await page.getByTestId('param-total').textContent();
  assert.ok(Number(total) > 33_000_000, `parameter total ${total}`);
  await screenshot(page, 'memory-big-model');
  await page.close();
});

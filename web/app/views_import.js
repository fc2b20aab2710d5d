// views_import.js: bulk import (#/import): sends a JSON array or NDJSON file to
// POST /api/v1/tasks/import, then polls GET /api/v1/tasks/import/{id} and keeps the per-line
// report (#import-report: line, outcome, error) up to date until the import is done (or the
// view is left).

import { request, newIdempotencyKey } from './api.js';
import { el, field, showStatus, showError, clearError, busy, sleep } from './ui.js';

export function renderImport(main) {
  const file = el('input', { id: 'import-file', name: 'file', type: 'file', required: true, accept: '.json,.ndjson,.jsonl,application/json,application/x-ndjson' });
  const submit = el('button', { id: 'import-submit', type: 'submit' }, 'Import');
  const summary = el('p', { id: 'import-summary' });
  const report = el('div', { id: 'import-report' });
  const form = el('form', { id: 'import-form', novalidate: true },
    field('Tasks file (JSON array or one JSON object per line)', file), el('p', { class: 'buttons' }, submit));
  // One Idempotency-Key per chosen file: importing it again after a lost answer is the
  // same import (the API answers it again), never a second copy of every task.
  // The key belongs to the file as chosen (name, size, modification time): a file edited and
  // chosen again is another import even where the browser fires no change event.
  let importKey = null;
  let keyedFile = '';
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    const chosen = file.files[0];
    const fingerprint = chosen ? `${chosen.name}\n${chosen.size}\n${chosen.lastModified}` : '';
    if (!importKey || fingerprint !== keyedFile) {
      importKey = newIdempotencyKey();
      keyedFile = fingerprint;
    }
    busy(submit, () => startImport(file, summary, report, importKey)).then(() => { importKey = null; }).catch(showError);
  });
  main.replaceChildren(
    el('h1', {}, 'Import tasks'),
    el('p', {}, 'Each item is a task as POST /api/v1/tasks takes it, e.g. {"title": "Buy milk"}. Up to 10 000 items.'),
    form, summary, report);
}

async function startImport(fileInput, summary, report, idempotencyKey) {
  const file = fileInput.files[0];
  if (!file) throw new Error('Choose a file to import.');
  const text = await file.text();
  const isArray = /\.json$/i.test(file.name) || text.trimStart().startsWith('[');
  const lines = isArray ? null : text.split('\n');
  const { body } = await request('POST', '/api/v1/tasks/import', {
    body: text, contentType: isArray ? 'application/json' : 'application/x-ndjson',
    headers: { 'Idempotency-Key': idempotencyKey },
  });
  showStatus(`Import queued: ${body.accepted} of ${body.total} accepted, ${body.rejected} rejected`);
  let progress = { ...body, produced: 0, applied: 0, failed: 0 };
  for (;;) {
    drawReport(report, summary, progress, lines);
    if (progress.status === 'done') break;
    await sleep(1000);
    if (!report.isConnected) return; // left the view
    ({ body: progress } = await request('GET', `/api/v1/tasks/import/${encodeURIComponent(body.import_id)}`));
    if (!report.isConnected) return;
  }
  showStatus(`Import done: ${progress.applied} created, ${progress.rejected + progress.failed} not`);
}

// One row per item: its line (NDJSON: the physical line; JSON: the position), what became of it
// and why not. Items without an error are "accepted"; "created" once the import is done and the
// writer failed none (the progress counts writer failures but does not name their lines).
function drawReport(report, summary, progress, lines) {
  summary.textContent = `${progress.status}: ${progress.total} items, ${progress.accepted} accepted, ` +
    `${progress.rejected} rejected, ${progress.applied} created, ${progress.failed} failed`;
  const errors = new Map();
  for (const e of progress.errors) {
    const message = e.field ? `${e.field}: ${e.message}` : e.message;
    errors.set(e.line, errors.has(e.line) ? `${errors.get(e.line)}; ${message}` : message);
  }
  const lineNumbers = lines
    ? lines.map((line, i) => (line.trim() ? i + 1 : 0)).filter(Boolean)
    : Array.from({ length: progress.total }, (_, i) => i + 1);
  for (const line of errors.keys()) if (!lineNumbers.includes(line)) lineNumbers.push(line);
  lineNumbers.sort((a, b) => a - b);
  const okText = progress.status === 'done' && progress.failed === 0 ? 'created' : 'accepted';
  const rows = lineNumbers.map((line) => el('tr', { class: errors.has(line) ? 'import-error' : 'import-ok' },
    el('td', {}, String(line)),
    el('td', {}, errors.has(line) ? 'rejected' : okText),
    el('td', {}, errors.get(line) || '')));
  report.replaceChildren(el('table', {},
    el('caption', {}, 'Per-line report'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Line'), el('th', { scope: 'col' }, 'Outcome'), el('th', { scope: 'col' }, 'Error'))),
    el('tbody', {}, rows)));
}

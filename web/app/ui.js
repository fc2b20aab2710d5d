// ui.js: DOM helpers shared by every view: element building (text only, never HTML strings),
// the #status and #error messages, the #live indicator and small formatting helpers.

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// el('button', {type: 'button', class: 'x', dataset: {id: 1}, on: {click: fn}}, 'text', child, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

// The same for SVG elements (the stats chart).
export function svgEl(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') {
      for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// A labelled form field: <p class="field"><label for=id>text</label><control id=id></p>.
export function field(labelText, control) {
  return el('p', { class: 'field' }, el('label', { for: control.id }, labelText), control);
}

export function showStatus(message) {
  $('#status').textContent = message;
}

// Writes an error into #error (and into the open dialog's mirror, since a modal dialog makes
// the rest of the page inert). An ApiError shows its problem: title, detail and field errors.
export function showError(err) {
  const problem = err && err.problem ? err.problem : { title: 'Something went wrong', detail: String(err && err.message ? err.message : err) };
  const targets = [$('#error')];
  const dialog = document.querySelector('dialog[open] .dialog-error');
  if (dialog) targets.push(dialog);
  const retryAfter = err && err.headers ? err.headers.get('Retry-After') : null;
  for (const target of targets) {
    target.replaceChildren(renderProblem(problem, retryAfter));
  }
  if (!(err && err.problem)) console.error(err);
}

function renderProblem(problem, retryAfter) {
  const box = el('div', { class: 'problem' });
  const heading = problem.status ? `${problem.title} (${problem.status})` : problem.title;
  box.append(el('p', { class: 'problem-title' }, heading || 'Error'));
  if (problem.detail) box.append(el('p', { class: 'problem-detail' }, problem.detail));
  if (Array.isArray(problem.errors) && problem.errors.length) {
    box.append(el('ul', { class: 'problem-errors' },
      problem.errors.map((e) => el('li', {}, e.field ? `${e.field}: ${e.message}` : e.message))));
  }
  if (retryAfter) box.append(el('p', {}, `Try again in ${retryAfter} s.`));
  if (problem.request_id) box.append(el('p', { class: 'problem-request' }, `Request id: ${problem.request_id}`));
  return box;
}

export function clearError() {
  $('#error').replaceChildren();
  for (const mirror of document.querySelectorAll('.dialog-error')) mirror.replaceChildren();
}

const LIVE_TEXT = { open: 'Live updates on', connecting: 'Connecting live updates…', closed: 'Live updates off' };

export function setLive(state) {
  $('#live').dataset.state = state;
  $('#live-text').textContent = LIVE_TEXT[state];
}

export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

// RFC 3339 (UTC) <-> the local "YYYY-MM-DDTHH:MM" of <input type=datetime-local>.
export function isoToLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function localInputToIso(value) {
  return value ? new Date(value).toISOString() : null;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Disables a form's submit button while an async action runs, then restores it.
export async function busy(buttons, action) {
  const all = Array.isArray(buttons) ? buttons : [buttons];
  for (const b of all) b.disabled = true;
  try {
    return await action();
  } finally {
    for (const b of all) b.disabled = false;
  }
}

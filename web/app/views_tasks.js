// views_tasks.js: the task list (#/tasks): keyset pages, filters and search, create, complete,
// delete, the live updates of the event stream, and the edit dialog with its 412 conflict
// handling (the dialog keeps the ETag it was opened with; see web/README.md).

import { request, writeTask, etagOf, withQuery, newIdempotencyKey, ApiError } from './api.js';
import {
  $, el, field, showStatus, showError, clearError, busy, formatTime, isoToLocalInput, localInputToIso,
} from './ui.js';

const STATUSES = ['todo', 'in_progress', 'done'];
const PAGE_SIZE = 20;

// The mounted list: null while another view shows.
let view = null; // {list, more, tasks: Map(id -> task), gone: Map(id -> version), cursor, filters, seq, touched, resets, pages}

export function renderTasks(main) {
  const title = el('input', { id: 'new-task-title', name: 'title', type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const create = el('button', { id: 'new-task-submit', type: 'submit' }, 'Add task');
  const newForm = el('form', { id: 'new-task-form', class: 'inline-form', novalidate: true },
    field('New task', title), el('p', { class: 'buttons' }, create));
  // One Idempotency-Key per task the user means to add: kept until the create is known to
  // be accepted, or the title is edited, so a second press after a lost answer or a failed
  // poll adds nothing twice.
  let createKey = null;
  title.addEventListener('input', () => { createKey = null; });
  newForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    createKey = createKey || newIdempotencyKey();
    busy(create, () => createTask(title, createKey)).then(() => { createKey = null; }).catch(showError);
  });

  const status = el('select', { id: 'filter-status', name: 'status' },
    el('option', { value: '' }, 'All'), STATUSES.map((s) => el('option', { value: s }, s)));
  const search = el('input', { id: 'filter-search', name: 'q', type: 'search', maxlength: 200 });
  const apply = el('button', { id: 'filter-apply', type: 'submit', class: 'secondary' }, 'Apply');
  const filterForm = el('form', { id: 'filter-form', class: 'inline-form', role: 'search', novalidate: true },
    field('Status', status), field('Search', search), el('p', { class: 'buttons' }, apply));
  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    view.filters = { status: status.value, q: search.value.trim() };
    busy(apply, () => loadPage('wipe')).catch(showError);
  });

  const list = el('ul', { id: 'task-list', class: 'task-list', 'aria-label': 'Tasks' });
  const more = el('button', { id: 'more', type: 'button', class: 'secondary', hidden: true }, 'Load more');
  more.addEventListener('click', () => {
    clearError();
    busy(more, () => loadPage(false)).catch(showError);
  });

  main.replaceChildren(el('h1', {}, 'Tasks'), newForm, filterForm, list, el('p', {}, more));
  view = {
    list, more, tasks: new Map(), gone: new Map(), cursor: null, filters: { status: '', q: '' },
    seq: 0, touched: new Map(), // every live or written change counts; touched: id -> its seq
    resets: 0, pages: 0, // the latest reset load's number; the pages shown since it
  };
  wireDialog();
  loadPage('wipe').catch(showError);
}

export function unmountTasks() {
  view = null;
}

// ---- the list ----

// reset: the first page again ('wipe': other filters; 'merge': the stream asked to list again,
// or opened without a position), else the next page. Only the latest reset's answers count (an
// older one, or a next page asked before it, would undo it). A reset drops the shown tasks the
// page no longer has, within the range the page covers (all of it when it is the last page;
// else the tasks created after its last one: the list is newest first, as the API's default
// sort), except those a live update or a write touched after the request left: the page may
// predate them. A merge keeps the pages loaded beyond the first, and their cursor.
async function loadPage(reset) {
  const current = view;
  const { filters } = current;
  const sentAt = current.seq;
  const load = reset ? ++current.resets : current.resets;
  const path = withQuery('/api/v1/tasks', {
    limit: PAGE_SIZE, status: filters.status, q: filters.q, cursor: reset ? null : current.cursor,
  });
  const { body } = await request('GET', path);
  // Another view, other filters, or a later reset meanwhile: this page is not theirs.
  if (view !== current || current.filters !== filters || current.resets !== load) return;
  if (reset) {
    const listed = new Set(body.items.map((t) => t.id));
    const last = body.items[body.items.length - 1];
    // What the page speaks for: everything after a wipe (nothing else shown is of these
    // filters) or when it is the last page; else the tasks created after its last one.
    const covers = (task) => reset === 'wipe' || !body.next_cursor || !last ||
      createdAt(task) > createdAt(last);
    for (const [id, task] of [...current.tasks]) {
      if (listed.has(id) || (current.touched.get(id) || 0) > sentAt || !covers(task)) continue;
      current.tasks.delete(id);
      const existing = itemOf(id);
      if (existing) existing.remove();
    }
  }
  for (const task of body.items) place(task, 'page');
  if (!(reset === 'merge' && current.pages > 1)) {
    current.cursor = body.next_cursor;
    current.pages = reset ? 1 : current.pages + 1;
  }
  current.more.hidden = !current.cursor;
  if (reset) showStatus(body.items.length ? `${body.items.length}${body.next_cursor ? '+' : ''} tasks` : 'No tasks');
}

// A task's creation time in ms (Infinity when unknown: it sorts first, as a new task would).
function createdAt(task) {
  const t = task && task.created_at ? Date.parse(task.created_at) : NaN;
  return Number.isNaN(t) ? Infinity : t;
}

function matchesFilters(task, known) {
  const { status, q } = view.filters;
  if (status && task.status !== status) return false;
  // Search is the server's (full text): a task not listed yet is not guessed into the results.
  return !q || known;
}

// Inserts or replaces a task when it is newer than the one shown; removes it when it no longer
// matches the filters. source: 'page' for the tasks of a page (listed by the server, so
// matching the filters), 'live' for a change seen on the stream or made here (it counts as a
// touch: see loadPage). A new item goes where the list's order puts it (newest created first,
// the API's default sort).
function place(task, source) {
  if (!view) return;
  const { id, version } = task;
  if (source === 'live') view.touched.set(id, ++view.seq);
  if (view.gone.has(id) && view.gone.get(id) >= version) return;
  const known = view.tasks.get(id);
  if (known && known.version >= version) return;
  const existing = itemOf(id);
  if (source === 'live' && !matchesFilters(task, Boolean(known))) {
    if (existing) existing.remove();
    view.tasks.delete(id);
    return;
  }
  view.tasks.set(id, task);
  // Updated in place: focus and references to the item survive live updates.
  const item = existing || taskItem(id);
  fillItem(item, task);
  if (existing) return;
  const mine = createdAt(task);
  const before = [...view.list.children].find((li) => createdAt(view.tasks.get(li.dataset.taskId)) < mine);
  view.list.insertBefore(item, before || null);
}

function removeTask(id, version) {
  if (!view) return;
  view.touched.set(id, ++view.seq);
  view.gone.set(id, Math.max(version || 0, view.gone.get(id) || 0));
  view.tasks.delete(id);
  const existing = itemOf(id);
  if (existing) existing.remove();
}

function taskItem(id) {
  const edit = el('button', { type: 'button', class: 'task-edit secondary' }, 'Edit');
  const complete = el('button', { type: 'button', class: 'task-complete' }, 'Complete');
  const remove = el('button', { type: 'button', class: 'task-delete danger' }, 'Delete');
  edit.addEventListener('click', () => openEdit(id));
  complete.addEventListener('click', () => {
    clearError();
    // busy() re-enables the button: let the task's status decide again afterwards.
    busy(complete, () => completeTask(id)).catch(showError).finally(() => refill(id));
  });
  remove.addEventListener('click', () => {
    clearError();
    busy(remove, () => deleteTask(id)).catch(showError);
  });
  return el('li', { class: 'task', dataset: { taskId: id } },
    el('div', { class: 'task-main' },
      el('span', { class: 'task-title' }),
      el('span', { class: 'task-meta' }, el('span', { class: 'task-status' }), el('span', { class: 'task-due' }))),
    el('div', { class: 'task-actions' }, edit, complete, remove));
}

function itemOf(id) {
  return view && view.list.querySelector(`li.task[data-task-id="${CSS.escape(id)}"]`);
}

function refill(id) {
  const item = itemOf(id);
  if (item && view.tasks.has(id)) fillItem(item, view.tasks.get(id));
}

function fillItem(item, task) {
  item.dataset.status = task.status;
  $('.task-title', item).textContent = task.title;
  $('.task-status', item).textContent = task.status;
  $('.task-due', item).textContent = task.due_at ? `due ${formatTime(task.due_at)}` : '';
  $('.task-edit', item).setAttribute('aria-label', `Edit “${task.title}”`);
  $('.task-complete', item).setAttribute('aria-label', `Complete “${task.title}”`);
  $('.task-complete', item).disabled = task.status === 'done';
  $('.task-delete', item).setAttribute('aria-label', `Delete “${task.title}”`);
}

// ---- the event stream ----

export function taskEvent(name, cloudEvent) {
  if (!view) return;
  const data = cloudEvent.data || {};
  if (name === 'task.deleted') {
    removeTask(data.id, data.version);
  } else {
    const { user_id: _user, command_id: _command, actor_id: _actor, ...task } = data;
    place(task, 'live');
  }
}

export function tasksReset() {
  if (view) loadPage('merge').catch(showError);
}

// ---- writes ----

async function fetchTask(id) {
  try {
    const { body, headers } = await request('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
    return { task: body, etag: headers.get('ETag') || etagOf(body) };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) removeTask(id);
    throw err;
  }
}

// Shows a write's outcome: the task the answer carried, else the task read again after the
// command applied; a command still pending after the wait shows up through the stream.
async function settle(result, done) {
  if (result.pending) {
    showStatus('Accepted; waiting for it to be applied…');
    return null;
  }
  const task = result.task || (await fetchTask(result.taskId)).task;
  place(task, 'live');
  showStatus(done);
  return task;
}

async function createTask(input, idempotencyKey) {
  showStatus('Adding…');
  const result = await writeTask('POST', '/api/v1/tasks', { body: { title: input.value }, idempotencyKey });
  input.value = '';
  await settle(result, 'Task added');
}

async function completeTask(id) {
  const task = view.tasks.get(id);
  showStatus('Completing…');
  try {
    const result = await writeTask('PATCH', taskPath(id), { body: { status: 'done' }, etag: etagOf(task) });
    await settle(result, 'Task completed');
  } catch (err) {
    if (err instanceof ApiError && err.status === 412) await refreshAfterConflict(id);
    throw err;
  }
}

async function deleteTask(id) {
  const task = view.tasks.get(id);
  showStatus('Deleting…');
  try {
    const result = await writeTask('DELETE', taskPath(id), { etag: etagOf(task) });
    if (result.pending) {
      showStatus('Accepted; waiting for it to be applied…');
      return;
    }
    removeTask(id, task.version + 1);
    showStatus('Task deleted');
  } catch (err) {
    if (err instanceof ApiError && err.status === 412) await refreshAfterConflict(id);
    throw err;
  }
}

// After a 412 outside the dialog: show the task as it now is (the error says why).
async function refreshAfterConflict(id) {
  try {
    place((await fetchTask(id)).task, 'live');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) showError(err);
  }
}

function taskPath(id) {
  return `/api/v1/tasks/${encodeURIComponent(id)}`;
}

// ---- the edit dialog ----

let editing = null; // {id, base: the task as opened (or reloaded), etag, theirs: {task, etag} after a 412}
let dialogWired = false;

function wireDialog() {
  if (dialogWired) return;
  dialogWired = true;
  $('#edit-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (editing) saveEdit(editing.etag);
  });
  $('#edit-cancel').addEventListener('click', () => $('#edit-dialog').close());
  $('#edit-dialog').addEventListener('close', () => {
    editing = null;
    clearError();
  });
  $('#conflict-reload').addEventListener('click', () => {
    if (!editing || !editing.theirs) return;
    editing.base = editing.theirs.task;
    editing.etag = editing.theirs.etag;
    editing.theirs = null;
    fillForm(editing.base);
    $('#conflict').hidden = true;
    clearError();
    showStatus('Loaded the current version');
    $('#edit-title').focus();
  });
  $('#conflict-overwrite').addEventListener('click', () => {
    if (!editing || !editing.theirs) return;
    saveEdit(editing.theirs.etag);
  });
}

function openEdit(id) {
  const task = view && view.tasks.get(id);
  if (!task) return;
  clearError();
  editing = { id, base: task, etag: etagOf(task), theirs: null };
  fillForm(task);
  $('#conflict').hidden = true;
  $('#edit-dialog').showModal();
  $('#edit-title').focus();
}

function fillForm(task) {
  $('#edit-title').value = task.title;
  $('#edit-description').value = task.description || '';
  $('#edit-status').value = task.status;
  $('#edit-due').value = isoToLocalInput(task.due_at);
}

// The user's changes against the version the dialog holds: a merge patch of what differs.
function editPatch(base) {
  const patch = {};
  const title = $('#edit-title').value;
  const description = $('#edit-description').value;
  const status = $('#edit-status').value;
  const due = $('#edit-due').value;
  if (title !== base.title) patch.title = title;
  if (description !== (base.description || '')) patch.description = description;
  if (status !== base.status) patch.status = status;
  if (due !== isoToLocalInput(base.due_at)) patch.due_at = localInputToIso(due);
  return patch;
}

async function saveEdit(etag) {
  const session = editing;
  const save = $('#edit-save');
  clearError();
  const patch = editPatch(session.base);
  if (Object.keys(patch).length === 0) {
    showStatus('Nothing to save');
    $('#edit-dialog').close();
    return;
  }
  showStatus('Saving…');
  try {
    // Every button that saves is off while one save runs: a double click sends one PATCH.
    // The buttons stay off until the outcome is shown (a second save with the same version
    // would be a 412 against this very change).
    const savers = [save, $('#conflict-overwrite'), $('#conflict-reload')];
    const saved = await busy(savers, async () => {
      const result = await writeTask('PATCH', taskPath(session.id), { body: patch, etag });
      if (editing !== session) return false;
      await settle(result, 'Task saved');
      return true;
    });
    if (!saved || editing !== session) return;
    $('#edit-dialog').close();
  } catch (err) {
    if (editing !== session) return showError(err);
    if (err instanceof ApiError && err.status === 412) {
      await showConflict(session, err);
    } else {
      showError(err);
    }
  }
}

async function showConflict(session, err) {
  showError(err);
  let theirs;
  try {
    theirs = await fetchTask(session.id);
  } catch (readErr) {
    showError(readErr);
    return;
  }
  if (editing !== session) return;
  session.theirs = theirs;
  const t = theirs.task;
  $('#conflict-theirs').replaceChildren(el('dl', {},
    el('dt', {}, 'Title'), el('dd', { class: 'conflict-title' }, t.title),
    el('dt', {}, 'Status'), el('dd', {}, t.status),
    el('dt', {}, 'Description'), el('dd', {}, t.description || '(none)'),
    el('dt', {}, 'Due'), el('dd', {}, t.due_at ? formatTime(t.due_at) : '(none)'),
    el('dt', {}, 'Version'), el('dd', {}, String(t.version))));
  $('#conflict').hidden = false;
  place(t, 'live');
  $('#conflict-reload').focus();
}

// views_reports.js: reports (#/reports): queue one (POST /api/v1/reports), list them, poll the
// list while some are unfinished (one request per round, backing off), and download a ready one with the Authorization header (as a Blob).

import { request } from './api.js';
import { el, field, showStatus, showError, clearError, busy, formatTime, sleep } from './ui.js';

export function renderReports(main) {
  const format = el('select', { id: 'report-format', name: 'format' },
    el('option', { value: 'csv' }, 'CSV'), el('option', { value: 'json' }, 'JSON'));
  const submit = el('button', { id: 'report-submit', type: 'submit' }, 'Create report');
  const list = el('ul', { id: 'report-list', class: 'plain-list', 'aria-label': 'Reports' });
  const form = el('form', { id: 'report-form', class: 'inline-form', novalidate: true },
    field('Format', format), el('p', { class: 'buttons' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    busy(submit, async () => {
      const { body } = await request('POST', '/api/v1/reports', { body: { format: format.value } });
      showStatus('Report queued');
      list.prepend(reportItem(body));
      watch(list).catch(showError);
    }).catch(showError);
  });
  main.replaceChildren(el('h1', {}, 'Reports'),
    el('p', {}, 'A report lists all your tasks as a file.'), form, list);
  loadReports(list).catch(showError);
}

async function loadReports(list) {
  const { body } = await request('GET', '/api/v1/reports?limit=20');
  if (!list.isConnected) return;
  list.replaceChildren(...body.items.map(reportItem));
  watch(list).catch(showError);
}

const UNFINISHED = ['queued', 'running'];
const POLL_MAX_MS = 5000;

function unfinished(list) {
  return [...list.querySelectorAll('li.report')].filter((li) => UNFINISHED.includes(li.dataset.status));
}

// One poller per list, however many reports are unfinished: it reads the list page (one
// request), backing off from 1 s to 5 s while nothing changes (a newly queued report starts
// it over at 1 s), until no report of the page is queued or running, or the view is left. A
// shown report the page no longer has (it expired, or newer ones pushed it off) stops
// counting: it is no longer followed.
async function watch(list) {
  list.dataset.kick = '1';
  if (list.dataset.watching) return;
  list.dataset.watching = '1';
  try {
    let delay = 1000;
    while (unfinished(list).length) {
      if (list.dataset.kick) delay = 1000;
      delete list.dataset.kick;
      await sleep(delay);
      if (!list.isConnected) return;
      const { body } = await request('GET', '/api/v1/reports?limit=20');
      if (!list.isConnected) return;
      const paged = new Set(body.items.map((r) => r.id));
      for (const li of unfinished(list)) {
        if (!paged.has(li.dataset.reportId)) li.dataset.status = 'unfollowed';
      }
      let changed = false;
      for (const report of body.items) {
        const item = list.querySelector(`li.report[data-report-id="${CSS.escape(report.id)}"]`);
        if (!item || item.dataset.status === report.status) continue;
        item.replaceWith(reportItem(report));
        changed = true;
        if (!UNFINISHED.includes(report.status)) {
          showStatus(report.status === 'ready' ? 'Report ready' : 'Report failed');
        }
      }
      delay = changed ? 1000 : Math.min(delay * 2, POLL_MAX_MS);
    }
  } finally {
    delete list.dataset.watching;
  }
}

function reportItem(report) {
  const item = el('li', { class: 'report', dataset: { reportId: report.id, status: report.status } },
    el('span', {}, `${report.format.toUpperCase()} report, ${formatTime(report.created_at)}: `),
    el('span', { class: 'report-status' }, report.status));
  if (report.status === 'ready' && !report.expired_at) {
    const name = `taskbus-report-${report.id}.${report.format}`;
    const link = el('a', { class: 'report-download', href: `/api/v1/reports/${report.id}/download`, download: name },
      `Download (${report.row_count} rows)`);
    link.addEventListener('click', (event) => {
      event.preventDefault();
      clearError();
      download(report.id, name).catch(showError);
    });
    item.append(' ', link);
  } else if (report.status === 'ready') {
    item.append(' (the file has expired; create a new report)');
  } else if (report.status === 'failed' && report.error) {
    item.append(el('span', { class: 'report-error' }, ` ${report.error}`));
  }
  return item;
}

async function download(id, name) {
  const response = await request('GET', `/api/v1/reports/${encodeURIComponent(id)}/download`, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const anchor = el('a', { href: url, download: name });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  showStatus(`Downloaded ${name}`);
}

// views_activity.js: the activity log (#/activity): GET /api/v1/activity, newest first, in
// keyset pages (button#activity-more).

import { request, withQuery } from './api.js';
import { el, showError, clearError, busy, formatTime } from './ui.js';

const LABELS = {
  'taskbus.task.created': 'created', 'taskbus.task.updated': 'changed',
  'taskbus.task.completed': 'completed', 'taskbus.task.deleted': 'deleted',
};

export function renderActivity(main) {
  const list = el('ul', { id: 'activity-list', class: 'plain-list', 'aria-label': 'Activity' });
  const more = el('button', { id: 'activity-more', type: 'button', class: 'secondary', hidden: true }, 'Older activity');
  const page = { cursor: null };
  const load = async () => {
    const { body } = await request('GET', withQuery('/api/v1/activity', { limit: 20, cursor: page.cursor }));
    list.append(...body.items.map(activityItem));
    if (!list.children.length) list.append(el('li', {}, 'No activity yet.'));
    page.cursor = body.next_cursor;
    more.hidden = !body.next_cursor;
  };
  more.addEventListener('click', () => {
    clearError();
    busy(more, load).catch(showError);
  });
  main.replaceChildren(el('h1', {}, 'Activity'), list, el('p', {}, more));
  load().catch(showError);
}

function activityItem(item) {
  const what = LABELS[item.type.replace(/\.v2$/, '')] || item.type;
  return el('li', { class: 'activity', dataset: { eventId: item.event_id } },
    el('time', { datetime: item.occurred_at }, formatTime(item.occurred_at)), ' ',
    el('span', { class: 'activity-title' }, item.title || item.task_id), ' ',
    el('span', { class: 'activity-type' }, what));
}

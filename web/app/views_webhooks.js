// views_webhooks.js: webhooks (#/webhooks): register one for the caller's task events (the
// signing secret is shown once), list them, send a test ping, delete.

import { request } from './api.js';
import { el, field, showStatus, showError, clearError, busy, formatTime } from './ui.js';

const EVENT_TYPES = [
  ['taskbus.task.*', 'Every task event'], ['taskbus.task.created', 'Task created'],
  ['taskbus.task.updated', 'Task changed'], ['taskbus.task.completed', 'Task completed'],
  ['taskbus.task.deleted', 'Task deleted'],
];

export function renderWebhooks(main) {
  const url = el('input', { id: 'webhook-url', name: 'url', type: 'url', required: true, placeholder: 'https://example.com/hook' });
  const types = el('select', { id: 'webhook-events', name: 'event_types' },
    EVENT_TYPES.map(([value, label]) => el('option', { value }, label)));
  const submit = el('button', { id: 'webhook-submit', type: 'submit' }, 'Add webhook');
  const secret = el('div', { id: 'webhook-secret', hidden: true });
  const list = el('ul', { id: 'webhook-list', class: 'plain-list', 'aria-label': 'Webhooks' });
  const form = el('form', { id: 'webhook-form', novalidate: true },
    field('URL', url), field('Events', types), el('p', { class: 'buttons' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    busy(submit, async () => {
      const { body } = await request('POST', '/api/v1/webhooks', { body: { url: url.value, event_types: [types.value] } });
      list.append(webhookItem(body));
      secret.replaceChildren(
        el('p', {}, 'Signing secret (shown only now; keep it to check the Webhook-Signature header):'),
        el('code', {}, body.secret));
      secret.hidden = false;
      url.value = '';
      showStatus('Webhook added');
    }).catch(showError);
  });
  main.replaceChildren(el('h1', {}, 'Webhooks'), form, secret, list);
  request('GET', '/api/v1/webhooks')
    .then(({ body }) => list.replaceChildren(...body.items.map(webhookItem)))
    .catch(showError);
}

function webhookItem(hook) {
  const test = el('button', { type: 'button', class: 'webhook-test secondary', 'aria-label': `Test ${hook.url}` }, 'Test');
  const remove = el('button', { type: 'button', class: 'webhook-delete danger', 'aria-label': `Delete ${hook.url}` }, 'Delete');
  const item = el('li', { class: 'webhook', dataset: { webhookId: hook.id } },
    el('span', { class: 'webhook-url' }, hook.url), ' ',
    el('span', { class: 'webhook-meta' },
      `${hook.event_types.join(', ')}; ${hook.enabled ? 'enabled' : `disabled ${formatTime(hook.disabled_at)} (${hook.disabled_reason || 'failing'})`}`),
    el('span', { class: 'buttons' }, test, remove));
  test.addEventListener('click', () => {
    clearError();
    busy(test, async () => {
      await request('POST', `/api/v1/webhooks/${encodeURIComponent(hook.id)}/test`);
      showStatus(`Test ping queued for ${hook.url}`);
    }).catch(showError);
  });
  remove.addEventListener('click', () => {
    clearError();
    busy(remove, async () => {
      await request('DELETE', `/api/v1/webhooks/${encodeURIComponent(hook.id)}`);
      item.remove();
      showStatus('Webhook deleted');
    }).catch(showError);
  });
  return item;
}

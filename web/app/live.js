// live.js: the event stream (GET /api/v1/events, Server-Sent Events). Opens it with a single-use
// ticket, keeps #live[data-state] true, resumes after the last seen event id with a new ticket
// and backs off (1 s, 2 s, 4 s ... 15 s) when the stream fails or closes. A session that ended
// shows as a refused ticket (the refresh fails too): api.js then ends the session.

import { request, signedIn, ApiError } from './api.js';
import { setLive, showError } from './ui.js';

const TASK_EVENTS = ['task.created', 'task.updated', 'task.completed', 'task.deleted'];
const MAX_BACKOFF = 15000;

let source = null;
let lastEventId = '';
let backoff = 1000;
let retryTimer = 0;
let running = false;
let generation = 0; // a stop or a start makes every await of an earlier connect() moot
let handlers = { onTask: () => {}, onReset: () => {} };

// onTask(eventName, cloudEvent) for each task change; onReset() when the stream asks to list again.
export function startLive(eventHandlers) {
  handlers = eventHandlers;
  if (running) return;
  running = true;
  generation += 1;
  lastEventId = '';
  backoff = 1000;
  connect();
}

export function stopLive() {
  running = false;
  generation += 1;
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  setLive('closed');
}

async function connect() {
  if (!running) return;
  const gen = generation;
  setLive('connecting');
  let ticket;
  try {
    ({ body: { ticket } } = await request('POST', '/api/v1/events/tickets'));
  } catch (err) {
    if (gen !== generation || !signedIn()) return; // signed out meanwhile: api.js took the app to login
    if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
      showError(err);
    }
    scheduleReconnect();
    return;
  }
  if (gen !== generation) return; // stopped (or restarted for another session) meanwhile
  const resumeFrom = lastEventId;
  let url = `/api/v1/events?ticket=${encodeURIComponent(ticket)}`;
  if (resumeFrom) url += `&last_event_id=${encodeURIComponent(resumeFrom)}`;
  const stream = new EventSource(url);
  source = stream;
  stream.addEventListener('open', () => {
    backoff = 1000;
    setLive('open');
    // Without a position the stream starts at the newest event: whatever changed before it
    // opened (since the list was read, or during the gap) would be missed. List again.
    if (!resumeFrom) handlers.onReset();
  });
  for (const name of TASK_EVENTS) {
    stream.addEventListener(name, (event) => {
      if (event.lastEventId) lastEventId = event.lastEventId;
      let cloudEvent;
      try {
        cloudEvent = JSON.parse(event.data);
      } catch (err) {
        showError(new Error(`Unreadable ${name} event: ${err.message}`));
        return;
      }
      handlers.onTask(name, cloudEvent);
    });
  }
  stream.addEventListener('reset', (event) => {
    lastEventId = event.lastEventId || '';
    handlers.onReset();
  });
  stream.addEventListener('error', () => {
    // The ticket was used: never let EventSource retry the same URL; get a new ticket instead.
    stream.close();
    if (source !== stream) return;
    source = null;
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  if (!running) return;
  setLive('connecting');
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, MAX_BACKOFF);
}

// api.js: every HTTP call to /api/v1. Owns the session's tokens (in memory only), the refresh
// rotation (single-flight, one retry after a 401, proactive refresh before expiry), RFC 9457
// problems as ApiError, and task writes (202 commands: Prefer: wait, then polling the command).

import { sleep, showError } from './ui.js';

export class ApiError extends Error {
  constructor(problem, status = problem.status || 0, headers = new Headers()) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.problem = problem;
    this.status = status;
    this.headers = headers;
  }
}

let session = null; // {access, refresh, user}
let refreshTimer = 0;
let refreshing = null;
const endListeners = [];

export function signedIn() {
  return session !== null;
}

export function currentUser() {
  return session && session.user;
}

// Called with the error (or null on sign-out) whenever the session ends.
export function onSessionEnd(listener) {
  endListeners.push(listener);
}

// Takes the token pair of a sign-in (login, register/confirm): a new session. Every await
// below checks that the session it started for is still the one (a sign-out or another
// sign-in meanwhile must not be undone, nor get a request meant for the old one).
export function startSession(pair) {
  session = { access: pair.access_token, refresh: pair.refresh_token, user: pair.user };
  scheduleRefresh(pair.expires_in);
}

function scheduleRefresh(expiresIn) {
  clearTimeout(refreshTimer);
  if (!(expiresIn > 0)) return;
  // A little before expiry: a fifth of the lifetime early, at most a minute.
  const early = Math.min(60, expiresIn / 5);
  const s = session;
  refreshTimer = setTimeout(() => {
    // A refused refresh token ends the session (the session-end listeners report that);
    // anything else (429, 503, network) leaves it to the next 401 to try again.
    refreshSession().catch((err) => { if (session === s) showError(err); });
  }, Math.max(1, expiresIn - early) * 1000);
}

export function endSession(error = null) {
  if (!session) return;
  session = null;
  clearTimeout(refreshTimer);
  for (const listener of endListeners) listener(error);
}

function signedOutError() {
  return new ApiError({ title: 'Signed out', detail: 'Sign in again.', status: 401 });
}

// One refresh at a time per session: parallel 401s share the same promise (a refresh of an
// ended session is not the new session's).
function refreshSession() {
  if (!refreshing || refreshing.session !== session) {
    const entry = { session, promise: null };
    entry.promise = rotate().finally(() => { if (refreshing === entry) refreshing = null; });
    refreshing = entry;
  }
  return refreshing.promise;
}

async function rotate() {
  const s = session;
  if (!s) throw signedOutError();
  try {
    const { body } = await request('POST', '/api/v1/auth/refresh', {
      auth: false, body: { refresh_token: s.refresh },
    });
    if (session !== s) throw signedOutError(); // signed out (or in again) meanwhile
    s.access = body.access_token;
    s.refresh = body.refresh_token;
    if (body.user) s.user = body.user;
    scheduleRefresh(body.expires_in);
  } catch (err) {
    // Refused (401: used, revoked or expired): the session is over. A 429, 5xx or network
    // error says nothing about the token: keep the session; the next 401 tries again.
    if (session === s && err.status >= 400 && err.status < 500 && err.status !== 429) endSession(err);
    throw err;
  }
}

// request(method, path, {body, headers, auth, contentType, raw})
// -> {status, headers, body} (or the Response when raw); throws ApiError for every non-2xx but 304.
export async function request(method, path, options = {}) {
  const { auth = true } = options;
  const sentFor = session;
  let { response, token } = await send(method, path, options);
  if (response.status === 401 && auth && sentFor && session === sentFor) {
    // Another call may have rotated the tokens meanwhile: then just retry with the new one.
    if (sentFor.access === token) await refreshSession();
    // Retried only for the session it was sent for: never as someone who signed in since.
    if (session === sentFor) ({ response } = await send(method, path, options));
  }
  return finish(response, options.raw);
}

async function send(method, path, { body, headers = {}, auth = true, contentType = 'application/json' }) {
  const h = new Headers(headers);
  let payload;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    h.set('Content-Type', contentType);
  }
  const token = auth && session ? session.access : null;
  if (auth) {
    if (!token) throw signedOutError();
    h.set('Authorization', `Bearer ${token}`);
  }
  try {
    const response = await fetch(path, { method, headers: h, body: payload, cache: 'no-store', credentials: 'omit' });
    return { response, token };
  } catch (err) {
    throw new ApiError({ title: 'Network error', detail: `${method} ${path}: ${err.message}` });
  }
}

async function finish(response, raw) {
  const type = response.headers.get('Content-Type') || '';
  if (!response.ok && response.status !== 304) {
    let problem = null;
    if (type.includes('json')) problem = await response.json().catch(() => null);
    if (!problem || !problem.title) {
      problem = { title: response.statusText || 'Request failed', status: response.status, ...(problem || {}) };
    }
    throw new ApiError(problem, response.status, response.headers);
  }
  if (raw) return response;
  let body = null;
  if (response.status !== 204 && response.status !== 304) {
    body = type.includes('json') ? await response.json() : await response.text();
  }
  return { status: response.status, headers: response.headers, body };
}

export function etagOf(task) {
  return `"${task.version}"`;
}

// A task write (POST/PATCH/DELETE /api/v1/tasks...). Asks the API to wait a few seconds for
// the writer; if it answers 202 anyway, polls the command (Content-Location) until decided.
// Resolves to {task} (when the answer carries it), {taskId} (applied) or {pending: true}
// (not decided within a minute; the event stream will still show it); a rejection throws
// the command's problem as an ApiError (e.g. 412).
// idempotencyKey: the caller's key for this one intended write (a create, an import), kept
// until it is known to be done, so sending it again after a lost answer never writes twice.
export async function writeTask(method, path, { body, etag, idempotencyKey } = {}) {
  const headers = { Prefer: 'wait=5' };
  if (etag) headers['If-Match'] = etag;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  const s = session;
  const res = await request(method, path, { body, headers, contentType });
  if (res.status !== 202) return { task: res.body };
  const commandUrl = res.headers.get('Content-Location') || `/api/v1/commands/${res.body.command_id}`;
  return awaitCommand(commandUrl, s);
}

// Polls the command for the session s that sent it: a sign-out (or another sign-in) ends it.
async function awaitCommand(url, s) {
  const deadline = Date.now() + 60000;
  let delay = 250;
  while (Date.now() < deadline) {
    if (session !== s) throw signedOutError();
    const { body } = await request('GET', url);
    if (body.status === 'applied') return { taskId: body.task_id };
    if (body.status === 'rejected') {
      const problem = body.problem || { title: 'The change was rejected', status: 0 };
      throw new ApiError(problem, problem.status);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 2000);
  }
  return { pending: true };
}

// A new Idempotency-Key: 128 random bits as hex (getRandomValues, unlike randomUUID, also
// exists on a page served over plain http from a host other than localhost).
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// Builds "path?a=1&b=2", leaving out empty values.
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

// app.js: the entry point. Picks the view (the mailed-link paths by location.pathname, inside
// /app/ by the hash), guards the signed-in views, shows the nav when signed in, and starts and
// stops the event stream with the session.

import { request, signedIn, currentUser, onSessionEnd, endSession } from './api.js';
import { startLive, stopLive } from './live.js';
import { $, showStatus, showError, clearError, busy } from './ui.js';
import {
  renderLogin, renderSignup, renderConfirmRegistration, renderResetPassword,
  renderConfirmEmailChange, renderRevertEmailChange,
} from './views_auth.js';
import { renderTasks, unmountTasks, taskEvent, tasksReset } from './views_tasks.js';
import { renderImport } from './views_import.js';
import { renderReports } from './views_reports.js';
import { renderStats } from './views_stats.js';
import { renderActivity } from './views_activity.js';
import { renderWebhooks } from './views_webhooks.js';

const LINK_VIEWS = {
  '/confirm-registration': ['Create your account', renderConfirmRegistration],
  '/reset-password': ['New password', renderResetPassword],
  '/confirm-email-change': ['Confirm address', renderConfirmEmailChange],
  '/revert-email-change': ['Undo address change', renderRevertEmailChange],
};

const ROUTES = {
  '/login': { title: 'Sign in', render: renderLogin, auth: false },
  '/signup': { title: 'Sign up', render: renderSignup, auth: false },
  '/tasks': { title: 'Tasks', render: renderTasks, auth: true },
  '/import': { title: 'Import', render: renderImport, auth: true },
  '/reports': { title: 'Reports', render: renderReports, auth: true },
  '/stats': { title: 'Stats', render: renderStats, auth: true },
  '/activity': { title: 'Activity', render: renderActivity, auth: true },
  '/webhooks': { title: 'Webhooks', render: renderWebhooks, auth: true },
};

const ctx = { token: null, signedIn: afterSignIn };
let firstRender = true;

// Goes to a hash view of /app/ at once (also from a link path), without reloading: the tokens
// live in memory only.
function navigate(hash, replace = false) {
  history[replace ? 'replaceState' : 'pushState'](null, '', `/app/${hash}`);
  route();
}

function route() {
  const name = location.hash.replace(/^#/, '');
  const fallback = signedIn() ? '#/tasks' : '#/login';
  const target = ROUTES[name];
  if (!target || target.auth !== signedIn()) {
    navigate(fallback, true);
    return;
  }
  show(target.title, target.render, name);
}

function show(title, render, name) {
  const main = $('#view');
  unmountTasks();
  clearError();
  const dialog = $('#edit-dialog');
  if (dialog.open) dialog.close();
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${title} – taskbus`;
  render(main, ctx);
  if (!firstRender) main.focus();
  firstRender = false;
}

function afterSignIn() {
  const user = currentUser();
  $('#me').textContent = user ? user.email : '';
  $('#nav').hidden = false;
  startLive({ onTask: taskEvent, onReset: tasksReset });
  navigate('#/tasks');
}

onSessionEnd((err) => {
  stopLive();
  $('#nav').hidden = true;
  $('#me').textContent = '';
  navigate('#/login');
  if (err) showError(err);
});

$('#logout').addEventListener('click', (event) => {
  clearError();
  busy(event.currentTarget, async () => {
    try {
      await request('POST', '/api/v1/auth/logout');
    } finally {
      endSession(null);
      showStatus('Signed out');
    }
  }).catch(showError);
});

function showLinkView(path) {
  const [title, render] = LINK_VIEWS[path];
  show(title, render, '');
}

// Hash changes inside /app/ come as hashchange; going back to a link path (left with
// pushState after a confirmation) only as popstate.
window.addEventListener('hashchange', route);
window.addEventListener('popstate', () => {
  const path = location.pathname.replace(/\/+$/, '');
  if (LINK_VIEWS[path]) showLinkView(path);
});

const linkPath = location.pathname.replace(/\/+$/, '');
if (LINK_VIEWS[linkPath]) {
  // Keep the token in memory and out of the address bar (and of history and referrers).
  ctx.token = new URLSearchParams(location.search).get('token');
  history.replaceState(null, '', linkPath);
  showLinkView(linkPath);
} else {
  route();
}

// views_auth.js: the signed-out views: sign in (with "forgot password"), sign up, and the views
// of the mailed links (/confirm-registration, /reset-password, /confirm-email-change,
// /revert-email-change). A link view acts only when the user submits: mail scanners open links.

import { request, startSession } from './api.js';
import { el, field, showStatus, showError, clearError, busy } from './ui.js';

function input(id, type, attrs = {}) {
  return el('input', { id, name: id, type, required: true, ...attrs });
}

function submitButton(id, text) {
  return el('button', { id, type: 'submit' }, text);
}

// Runs a form's action with its submit button disabled; errors go to #error.
function onSubmit(form, button, action) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearError();
    busy(button, action).catch(showError);
  });
}

export function renderLogin(main, ctx) {
  const email = input('login-email', 'email', { autocomplete: 'username' });
  const password = input('login-password', 'password', { autocomplete: 'current-password' });
  const submit = submitButton('login-submit', 'Sign in');
  const form = el('form', { id: 'login-form', novalidate: true },
    field('E-mail', email), field('Password', password), el('p', { class: 'buttons' }, submit));
  onSubmit(form, submit, async () => {
    const { body } = await request('POST', '/api/v1/auth/login', {
      auth: false, body: { email: email.value, password: password.value },
    });
    startSession(body);
    ctx.signedIn();
  });

  const forgotEmail = input('forgot-email', 'email', { autocomplete: 'email' });
  const forgotSubmit = submitButton('forgot-submit', 'Mail me a reset link');
  const forgot = el('form', { id: 'forgot-form', novalidate: true },
    field('E-mail', forgotEmail), el('p', { class: 'buttons' }, forgotSubmit));
  onSubmit(forgot, forgotSubmit, async () => {
    const { body } = await request('POST', '/api/v1/auth/password-reset', {
      auth: false, body: { email: forgotEmail.value },
    });
    showStatus(`If ${body.email} has an account, a link to choose a new password is on its way.`);
  });

  main.replaceChildren(
    el('h1', {}, 'Sign in'),
    form,
    el('p', {}, 'No account yet? ', el('a', { href: '#/signup' }, 'Sign up')),
    el('details', { class: 'forgot' }, el('summary', {}, 'Forgot your password?'), forgot),
  );
}

export function renderSignup(main) {
  const email = input('signup-email', 'email', { autocomplete: 'email' });
  const password = input('signup-password', 'password', { autocomplete: 'new-password', minlength: 10 });
  const name = el('input', { id: 'signup-name', name: 'signup-name', type: 'text', autocomplete: 'name', maxlength: 100 });
  const submit = submitButton('signup-submit', 'Sign up');
  const done = el('p', { id: 'signup-done', class: 'done', hidden: true });
  const form = el('form', { id: 'signup-form', novalidate: true },
    field('E-mail', email),
    field('Password (at least 10 characters)', password),
    field('Display name (optional)', name),
    el('p', { class: 'buttons' }, submit));
  onSubmit(form, submit, async () => {
    const body = { email: email.value, password: password.value };
    if (name.value.trim()) body.display_name = name.value;
    const { body: answer } = await request('POST', '/api/v1/auth/register', { auth: false, body });
    done.textContent = `Check your mail: we sent a link to ${answer.email} to create your account.`;
    done.hidden = false;
    form.hidden = true;
  });
  main.replaceChildren(
    el('h1', {}, 'Sign up'),
    form,
    done,
    el('p', {}, 'Have an account? ', el('a', { href: '#/login' }, 'Sign in')),
  );
}

function missingToken(main, heading) {
  main.replaceChildren(el('h1', {}, heading),
    el('p', {}, 'This link has no token. Open the link from the mail again.'),
    el('p', {}, el('a', { href: '/app/#/login' }, 'Go to sign in')));
}

export function renderConfirmRegistration(main, ctx) {
  if (!ctx.token) return missingToken(main, 'Create your account');
  const password = input('confirm-password', 'password', { autocomplete: 'current-password' });
  const submit = submitButton('confirm-submit', 'Create account');
  const form = el('form', { id: 'confirm-registration-form', novalidate: true },
    field('The password you signed up with', password), el('p', { class: 'buttons' }, submit));
  onSubmit(form, submit, async () => {
    const { body } = await request('POST', '/api/v1/auth/register/confirm', {
      auth: false, body: { token: ctx.token, password: password.value },
    });
    startSession(body);
    showStatus('Your account is ready.');
    ctx.signedIn();
  });
  main.replaceChildren(el('h1', {}, 'Create your account'), form);
}

export function renderResetPassword(main, ctx) {
  if (!ctx.token) return missingToken(main, 'Choose a new password');
  const password = input('reset-password', 'password', { autocomplete: 'new-password', minlength: 10 });
  const submit = submitButton('reset-submit', 'Set password');
  const done = el('p', { id: 'reset-done', class: 'done', hidden: true },
    'Your password is set and every session has ended. ', el('a', { href: '/app/#/login' }, 'Sign in'));
  const form = el('form', { id: 'reset-form', novalidate: true },
    field('New password (at least 10 characters)', password), el('p', { class: 'buttons' }, submit));
  onSubmit(form, submit, async () => {
    await request('POST', '/api/v1/auth/password-reset/confirm', {
      auth: false, body: { token: ctx.token, new_password: password.value },
    });
    form.hidden = true;
    done.hidden = false;
  });
  main.replaceChildren(el('h1', {}, 'Choose a new password'), form, done);
}

export function renderConfirmEmailChange(main, ctx) {
  if (!ctx.token) return missingToken(main, 'Confirm your new address');
  const button = el('button', { id: 'link-confirm', type: 'button' }, 'Confirm the new address');
  const done = el('p', { id: 'link-done', class: 'done' });
  button.addEventListener('click', () => {
    clearError();
    busy(button, async () => {
      const { body } = await request('POST', '/api/v1/auth/email-change/confirm', {
        auth: false, body: { token: ctx.token },
      });
      done.textContent = `Your address is now ${body.email}.`;
      button.hidden = true;
    }).catch(showError);
  });
  main.replaceChildren(el('h1', {}, 'Confirm your new address'), el('p', {}, button), done);
}

export function renderRevertEmailChange(main, ctx) {
  if (!ctx.token) return missingToken(main, 'Undo the address change');
  const password = input('revert-password', 'password', { autocomplete: 'new-password', minlength: 10 });
  const button = el('button', { id: 'link-confirm', type: 'button' }, 'Restore my address');
  const done = el('p', { id: 'link-done', class: 'done' });
  button.addEventListener('click', () => {
    clearError();
    busy(button, async () => {
      await request('POST', '/api/v1/auth/email-change/revert', {
        auth: false, body: { token: ctx.token, new_password: password.value },
      });
      done.replaceChildren('Your old address is back, with the new password; every session has ended. ',
        el('a', { href: '/app/#/login' }, 'Sign in'));
      button.hidden = true;
    }).catch(showError);
  });
  main.replaceChildren(
    el('h1', {}, 'Undo the address change'),
    el('p', {}, 'This puts your old address back and sets a new password.'),
    field('New password (at least 10 characters)', password),
    el('p', {}, button),
    done,
  );
}

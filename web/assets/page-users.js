// #/users (admin): console users: create, change role, disable/enable,
// unlock, reset password, remove. #/account: change one's own password.
import { api, can, session } from './api.js';
import {
  h, field, pageTitle, fmtTime, fmtNumber, notify, errorBox, confirmDialog, button, busy,
  ensureCss, badge, submitForm,
} from './ui.js';

const ROLES = [
  ['viewer', 'Viewer (reads only)'],
  ['supervisor', 'Supervisor (runs campaigns)'],
  ['admin', 'Administrator (also users, removals)'],
];
const MIN_PASSWORD = 12;

export async function render(view, ctx) {
  ensureCss('page-users.css');
  if (/^#\/account\b/.test(location.hash)) return renderAccount(view);
  return renderUsers(view, ctx);
}

// ---- #/account --------------------------------------------------------------

function renderAccount(view) {
  const s = session() || {};
  pageTitle(view, 'Your account');
  view.appendChild(h('section', { class: 'card' },
    h('dl', { class: 'facts' },
      h('dt', null, 'Signed in as'), h('dd', null, s.user || ''),
      h('dt', null, 'Role'), h('dd', null, (ROLES.find((r) => r[0] === s.role) || [null, s.role])[1]))));

  const current = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const fresh = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: MIN_PASSWORD });
  const again = h('input', { type: 'password', autocomplete: 'new-password', required: true });
  const errCur = h('div');
  const errNew = h('div');
  const errAgain = h('div');
  const msg = h('div', { 'aria-live': 'polite' });
  const btn = button('Change password', null, { kind: 'primary', type: 'submit' });

  async function change() {
    [errCur, errNew, errAgain, msg].forEach((e) => e.replaceChildren());
    if (!current.value) {
      errCur.appendChild(errorBox({ detail: 'Type your password now.' }));
      current.focus();
      return;
    }
    if ([...fresh.value].length < MIN_PASSWORD) {
      errNew.appendChild(errorBox({ detail: `The new password needs at least ${MIN_PASSWORD} characters.` }));
      fresh.focus();
      return;
    }
    if (fresh.value !== again.value) {
      errAgain.appendChild(errorBox({ detail: 'The two new passwords differ. Type the same one twice.' }));
      again.focus();
      return;
    }
    try {
      await api('POST', '/api/v1/session/password', { current: current.value, new: fresh.value });
      [current, fresh, again].forEach((i) => {
        i.value = '';
      });
      msg.replaceChildren(h('p', { class: 'ok' }, 'Your password is changed. Your other sessions were signed out.'));
      notify('Password changed.');
    } catch (e) {
      if (e.status === 403) {
        errCur.appendChild(errorBox({ detail: 'This is not your password now.' }));
        current.focus();
      } else {
        errNew.appendChild(errorBox(e));
        fresh.focus();
      }
    }
  }
  view.appendChild(submitForm({ class: 'card narrow', 'aria-labelledby': 'pw-title' }, btn, change,
  h('h2', { id: 'pw-title' }, 'Change your password'),
  field('Current password', current), errCur,
  field('New password', fresh, `At least ${MIN_PASSWORD} characters, not your user name.`), errNew,
  field('Repeat the new password', again), errAgain,
  h('div', { class: 'actions' }, btn), msg));
}

// ---- #/users ----------------------------------------------------------------

async function renderUsers(view) {
  pageTitle(view, 'Users');
  if (!can('admin')) {
    view.appendChild(h('p', null, 'Only an administrator manages users. ',
      h('a', { href: '#/account' }, 'Change your own password on your account page.')));
    return;
  }
  const listBox = h('div');
  view.appendChild(h('section', { class: 'card', 'aria-labelledby': 'users-title' },
    h('h2', { id: 'users-title' }, 'Console users'), listBox));
  view.appendChild(createForm(() => load()));

  async function load() {
    let list;
    try {
      list = await api('GET', '/api/v1/users');
    } catch (e) {
      listBox.replaceChildren(errorBox(e));
      return;
    }
    listBox.replaceChildren(usersTable(list.items, load));
  }
  await load();
}

function statusOf(u) {
  if (u.disabled) return badge('Disabled', 'stopped');
  if (u.locked_until && Date.parse(u.locked_until) > Date.now()) {
    return [badge('Locked', 'paused'), h('br'), h('small', null, `until ${fmtTime(u.locked_until)}`)];
  }
  return badge('Active', 'active');
}

function usersTable(users, reload) {
  const me = (session() || {}).user || '';
  const rows = [];
  const tbody = h('tbody');
  const cols = ['Name', 'Role', 'Status', 'Wrong passwords in a row', 'Password changed', 'Created', 'Actions'];
  for (const u of users) {
    const err = h('div', { 'aria-live': 'polite' });
    const fail = (e) => err.replaceChildren(errorBox(e));
    const patch = async (body, done) => {
      err.replaceChildren();
      try {
        await api('PATCH', `/api/v1/users/${u.id}`, body);
        notify(done);
        await reload();
      } catch (e) {
        fail(e);
      }
    };
    const role = h('select', { 'aria-label': `Role of ${u.name}` },
      ROLES.map(([v, t]) => h('option', { value: v, selected: u.role === v }, t)));
    role.addEventListener('change', async () => {
      const want = role.value;
      role.value = u.role;
      await patch({ role: want }, `${u.name} is now ${want === 'admin' ? 'an administrator' : `a ${want}`}.`);
    });
    const acts = [];
    acts.push(u.disabled
      ? button('Enable', (e) => busy(e.currentTarget, () => patch({ disabled: false }, `${u.name} may sign in again.`)),
        { attrs: { 'aria-label': `Enable ${u.name}` } })
      : button('Disable', async (e) => {
        const btn = e.currentTarget;
        const ok = await confirmDialog({
          title: `Disable ${u.name}?`,
          message: `${u.name} is signed out and cannot sign in until enabled again.`,
          confirm: 'Disable user', danger: true,
        });
        if (ok) await busy(btn, () => patch({ disabled: true }, `${u.name} is disabled.`));
      }, { attrs: { 'aria-label': `Disable ${u.name}` } }));
    if (u.failed_logins > 0 || u.locked_until) {
      acts.push(button('Unlock', (e) => busy(e.currentTarget, () => patch({ unlock: true }, `${u.name} is unlocked.`)),
        { attrs: { 'aria-label': `Unlock ${u.name}` } }));
    }
    const resetBox = h('div');
    acts.push(button('Reset password', () => {
      if (resetBox.firstChild) {
        resetBox.replaceChildren();
        return;
      }
      resetBox.replaceChildren(resetForm(u, patch));
      resetBox.querySelector('input').focus();
    }, { attrs: { 'aria-label': `Reset password of ${u.name}` } }));
    acts.push(button('Remove', async (e) => {
      const btn = e.currentTarget;
      const ok = await confirmDialog({
        title: `Remove ${u.name}?`,
        message: `${u.name} is signed out and can no longer sign in. The audit log keeps the name.`,
        confirm: 'Remove user', danger: true,
      });
      if (!ok) return;
      err.replaceChildren();
      await busy(btn, async () => {
        try {
          await api('DELETE', `/api/v1/users/${u.id}`);
          notify(`${u.name} removed.`);
          await reload();
        } catch (ex) {
          fail(ex.status === 409 ? { detail: `${ex.detail.replace(/[.!]?$/, '.')} There must always be an enabled administrator.` } : ex);
        }
      });
    }, { kind: 'danger', attrs: { 'aria-label': `Remove ${u.name}` } }));
    rows.push(h('tr', { 'data-user': u.name },
      h('th', { scope: 'row' }, u.name, u.name.toLowerCase() === me.toLowerCase() ? h('span', { class: 'muted' }, ' (you)') : null),
      h('td', null, role),
      h('td', null, statusOf(u)),
      h('td', { class: 'num' }, fmtNumber(u.failed_logins)),
      h('td', null, fmtTime(u.password_changed_at)),
      h('td', null, fmtTime(u.created_at)),
      h('td', null, h('div', { class: 'actions' }, acts), resetBox, err)));
  }
  tbody.replaceChildren(...rows);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
    h('caption', { class: 'visually-hidden' }, 'Console users'),
    h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, c)))), tbody));
}

function resetForm(u, patch) {
  const pw = h('input', { type: 'password', autocomplete: 'new-password', minlength: MIN_PASSWORD, required: true });
  const err = h('div');
  const btn = button('Set password', null, { kind: 'primary', type: 'submit' });
  return h('form', {
    class: 'inline-form',
    on: {
      submit: (e) => {
        e.preventDefault();
        err.replaceChildren();
        if ([...pw.value].length < MIN_PASSWORD) {
          err.appendChild(errorBox({ detail: `At least ${MIN_PASSWORD} characters.` }));
          pw.focus();
          return;
        }
        busy(btn, () => patch({ password: pw.value }, `New password set for ${u.name}; tell them, and they should change it.`));
      },
    },
  }, field(`New password for ${u.name}`, pw), err, btn);
}

function createForm(reload) {
  const name = h('input', { type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const role = h('select', null, ROLES.map(([v, t]) => h('option', { value: v, selected: v === 'viewer' }, t)));
  const pw = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: MIN_PASSWORD });
  const errName = h('div');
  const errPw = h('div');
  const msg = h('div', { 'aria-live': 'polite' });
  const btn = button('Create user', null, { kind: 'primary', type: 'submit' });
  async function create() {
    [errName, errPw, msg].forEach((e) => e.replaceChildren());
    if (!name.value.trim()) {
      errName.appendChild(errorBox({ detail: 'Type the user\'s name.' }));
      name.focus();
      return;
    }
    if ([...pw.value].length < MIN_PASSWORD) {
      errPw.appendChild(errorBox({ detail: `The password needs at least ${MIN_PASSWORD} characters.` }));
      pw.focus();
      return;
    }
    try {
      const u = await api('POST', '/api/v1/users', { name: name.value.trim(), role: role.value, password: pw.value });
      msg.replaceChildren(h('p', { class: 'ok' }, `${u.name} can now sign in. Give them the password; they can change it on their account page.`));
      notify(`User ${u.name} created.`);
      name.value = '';
      pw.value = '';
      await reload();
    } catch (e) {
      if (e.status === 409 || /name/i.test(e.field || '')) {
        errName.appendChild(errorBox(e));
        name.focus();
      } else {
        errPw.appendChild(errorBox(e));
        pw.focus();
      }
    }
  }
  return submitForm({ class: 'card narrow', 'aria-labelledby': 'new-user-title' }, btn, create,
  h('h2', { id: 'new-user-title' }, 'New user'),
  field('User name', name), errName,
  field('Role', role),
  field('Initial password', pw, `At least ${MIN_PASSWORD} characters. Give it to the user; they can change it.`), errPw,
  h('div', { class: 'actions' }, btn), msg);
}

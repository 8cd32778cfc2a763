// The console's frame: who is signed in, the menu, and which page a hash
// (#/campaigns/12) shows. Pages are modules with render(view, ctx).
import { api, ApiError, can, session, setSession } from './api.js';
import { button, errorBox, field, h, notify, pageTitle } from './ui.js';

// [pattern, module, menu entry]; {} is one path segment, handed to the page.
const ROUTES = [
  ['campaigns', 'page-campaigns.js', 'campaigns'],
  ['campaigns/new', 'page-campaign-form.js', 'campaigns'],
  ['campaigns/{}', 'page-campaign.js', 'campaigns'],
  ['campaigns/{}/edit', 'page-campaign-form.js', 'campaigns'],
  ['campaigns/{}/upload', 'page-upload.js', 'campaigns'],
  ['uploads/{}', 'page-upload.js', 'campaigns'],
  ['strategies', 'page-strategies.js', 'strategies'],
  ['strategies/new', 'page-strategies.js', 'strategies'],
  ['strategies/{}', 'page-strategies.js', 'strategies'],
  ['rules', 'page-rules.js', 'rules'],
  ['dnc', 'page-dnc.js', 'dnc'],
  ['contacts', 'page-contacts.js', 'contacts'],
  ['contacts/{}', 'page-contacts.js', 'contacts'],
  ['users', 'page-users.js', 'users'],
  ['account', 'page-users.js', 'account'],
];

const view = () => document.getElementById('main');
let leaving = [];
let renderSeq = 0;
let firstRender = true;

function match(path) {
  const segs = path.split('/').filter(Boolean);
  for (const [pattern, module, nav] of ROUTES) {
    const ps = pattern.split('/');
    if (ps.length !== segs.length) continue;
    const params = [];
    let ok = true;
    for (let i = 0; i < ps.length && ok; i++) {
      if (ps[i] === '{}') {
        if (/^[0-9]+$/.test(segs[i])) params.push(segs[i]);
        else ok = false;
      } else if (ps[i] !== segs[i]) {
        ok = false;
      }
    }
    if (ok) return { module, nav, params };
  }
  return null;
}

function leave() {
  for (const fn of leaving) {
    try {
      fn();
    } catch {
      /* a page's clean-up must not stop the next page */
    }
  }
  leaving = [];
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showFrame() {
  const s = session();
  document.getElementById('nav').hidden = !s;
  document.getElementById('who').hidden = !s;
  if (!s) return;
  document.getElementById('who-name').textContent = s.user;
  const role = document.getElementById('who-role');
  role.textContent = s.role;
  role.className = `badge badge-role-${s.role}`;
  for (const a of document.querySelectorAll('#nav [data-role]')) {
    a.parentElement.hidden = !can(a.dataset.role);
  }
}

function markNav(nav) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  const seq = ++renderSeq;
  leave();
  const raw = location.hash.replace(/^#/, '') || '/campaigns';
  const [path, qs] = raw.split('?');
  const main = view();
  main.replaceChildren();
  if (path === '/sign-in' || !session()) {
    showFrame();
    renderSignIn(main, path === '/sign-in' ? new URLSearchParams(qs || '').get('next') : raw);
    return;
  }
  showFrame();
  const m = match(path);
  if (!m) {
    pageTitle(main, 'Page not found');
    main.appendChild(h('p', null, 'There is no such page. ', h('a', { href: '#/campaigns' }, 'Go to the campaigns.')));
    return;
  }
  markNav(m.nav);
  const ctx = {
    params: m.params,
    query: new URLSearchParams(qs || ''),
    session: session(),
    onLeave: (fn) => leaving.push(fn),
    go,
  };
  try {
    const page = await import(`./${m.module}`);
    if (seq !== renderSeq) return;
    await page.render(main, ctx);
  } catch (e) {
    if (seq !== renderSeq) return;
    if (!(e instanceof ApiError)) console.error(e);
    if (e instanceof ApiError && e.status === 401) return;
    if (!main.querySelector('h1')) pageTitle(main, 'Something went wrong');
    main.appendChild(errorBox(e));
  }
  // After a move inside the console the new page's content takes the focus
  // (a screen reader reads it); on the first load the browser's order stays.
  if (seq === renderSeq && !firstRender && document.activeElement === document.body) main.focus({ preventScroll: true });
  firstRender = false;
}

function renderSignIn(main, next) {
  pageTitle(main, 'Sign in');
  const name = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const problem = h('div', { 'aria-live': 'assertive' });
  const submit = button('Sign in', null, { kind: 'primary', type: 'submit' });
  const form = h('form', { class: 'card sign-in', novalidate: true },
    field('User name', name), field('Password', password), problem, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    problem.replaceChildren();
    if (!name.value.trim() || !password.value) {
      problem.appendChild(errorBox(new Error('Enter your user name and password.')));
      return;
    }
    submit.disabled = true;
    try {
      const s = await api('POST', '/api/v1/session', { name: name.value.trim(), password: password.value });
      setSession(s);
      notify(`Signed in as ${s.user}.`);
      const target = next && next !== '/sign-in' ? next : '/campaigns';
      go(`#${target.startsWith('/') ? target : `/${target}`}`);
    } catch (err) {
      password.value = '';
      problem.appendChild(errorBox(err.status === 401
        ? new Error('The user name or password is wrong, or the account is locked. Ask an administrator if it keeps happening.')
        : err));
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.appendChild(form);
  main.appendChild(h('p', { class: 'muted' }, 'Your administrator gives you a user name and password. '
    + 'After five wrong passwords in a row the account is locked for a while.'));
  name.focus();
}

async function signOut() {
  try {
    await api('DELETE', '/api/v1/session');
  } catch {
    /* signed out on this side whatever the server says */
  }
  setSession(null);
  notify('Signed out.');
  go('#/sign-in');
}

async function start() {
  document.getElementById('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  window.addEventListener('ecm:signed-out', () => {
    const here = location.hash.replace(/^#/, '');
    if (!here.startsWith('/sign-in')) {
      notify('Your session has ended. Sign in again.', 'error');
      location.hash = `#/sign-in?next=${encodeURIComponent(here || '/campaigns')}`;
    }
  });
  try {
    setSession(await api('GET', '/api/v1/session'));
  } catch {
    setSession(null);
  }
  route();
}

start();

// Small helpers every page builds with. Text from the server always goes in
// as text nodes (never as HTML), so nothing it says can run as code.

let nextId = 1;

function append(el, child) {
  if (child === null || child === undefined || child === false || child === true) return;
  if (Array.isArray(child)) {
    child.forEach((c) => append(el, c));
  } else if (child instanceof Node) {
    el.appendChild(child);
  } else {
    el.appendChild(document.createTextNode(String(child)));
  }
}

/** h('button', {class: 'btn', on: {click: fn}}, 'Save') → an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'for') {
      el.htmlFor = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked' || k === 'selected') {
      el[k] = !!v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

/** A fresh id for a control ("f12"). */
export function uid(prefix = 'f') {
  return `${prefix}${nextId++}`;
}

/** A labelled control: <div class="field"><label>…</label>control<small>hint</small></div>. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = uid('h');
    const prev = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', prev ? `${prev} ${hid}` : hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

/** A data table; columns: [{title, value: row => node|string, class}]. */
export function table(columns, rows, { caption, hideCaption = false, empty = 'Nothing here yet.' } = {}) {
  const t = h('table', { class: 'data' });
  if (caption) t.appendChild(h('caption', { class: hideCaption ? 'visually-hidden' : null }, caption));
  t.appendChild(h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.title)))));
  const body = h('tbody');
  if (!rows.length) {
    body.appendChild(h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, empty)));
  }
  for (const r of rows) {
    body.appendChild(h('tr', null, columns.map((c) => h('td', { class: c.class }, c.value(r)))));
  }
  t.appendChild(body);
  return t;
}

/** The page's heading and its action buttons; sets the window's title. */
export function pageTitle(view, title, ...actions) {
  document.title = `${title} — ECM`;
  const head = h('header', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'actions' }, actions));
  view.appendChild(head);
  return head;
}

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** The browser's time zone (IANA name). */
export function localZone() {
  return browserZone;
}

/** "Thu 3 Dec 2026, 09:00 AEDT" in the browser's zone or in `zone`; '' for none. */
export function fmtTime(iso, zone) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  try {
    return new Intl.DateTimeFormat('en-GB', {
      weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
      hour: '2-digit', minute: '2-digit', hour12: false, timeZone: zone || browserZone, timeZoneName: 'short',
    }).format(d);
  } catch {
    return d.toISOString();
  }
}

export function fmtNumber(n) {
  if (n === null || n === undefined || n === '') return '';
  return Number(n).toLocaleString('en-US');
}

export function fmtPercent(part, whole) {
  if (!whole) return '0%';
  return `${Math.floor((100 * part) / whole)}%`;
}

let statusTimer = null;

/** Says something in the status line (read out by screen readers). */
export function notify(message, kind = 'info') {
  const s = document.getElementById('status');
  if (!s) return;
  s.textContent = message;
  s.className = `status status-${kind}`;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    s.textContent = '';
    s.className = 'status';
  }, kind === 'error' ? 15000 : 6000);
}

/** A box that says what went wrong (an ApiError's detail and field). */
export function errorBox(err) {
  const what = err && err.detail ? err.detail : (err && err.message) || 'Something went wrong.';
  return h('div', { class: 'error', role: 'alert' },
    err && err.field ? h('strong', null, `${err.field}: `) : null, what);
}

/** A modal question; resolves true when confirmed. Escape cancels. */
export function confirmDialog({ title, message, confirm = 'OK', cancel = 'Cancel', danger = false }) {
  return new Promise((resolve) => {
    const titleId = uid('d');
    const ok = h('button', { type: 'button', class: danger ? 'btn btn-danger' : 'btn btn-primary' }, confirm);
    const no = h('button', { type: 'button', class: 'btn' }, cancel);
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title), h('p', null, message), h('div', { class: 'actions' }, no, ok));
    const done = (v) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    ok.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(false);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    no.focus();
  });
}

/** Calls fn now and every ms until the page is left. */
export function poll(ctx, fn, ms) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await fn();
    } catch (e) {
      if (!stopped) notify(e.detail || e.message, 'error');
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });
  tick();
}

/** Saves text as a file in the browser. */
export function download(filename, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' }, filename);
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Every IANA time zone the browser knows. */
export function timeZones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
}

export function badge(text, kind) {
  return h('span', { class: `badge badge-${kind || 'plain'}` }, text);
}

export function button(label, onClick, { kind = 'plain', type = 'button', attrs = {} } = {}) {
  const cls = kind === 'primary' ? 'btn btn-primary' : kind === 'danger' ? 'btn btn-danger' : 'btn';
  return h('button', { type, class: cls, on: onClick ? { click: onClick } : undefined, ...attrs }, label);
}

/** A form whose submit runs fn() with btn disabled meanwhile (the page
 *  does not reload): submitForm({class: 'card'}, saveBtn, save, ...children). */
export function submitForm(attrs, btn, fn, ...children) {
  const f = h('form', attrs, ...children);
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(btn, fn);
  });
  return f;
}

/** Disables the button while fn() runs; returns fn's result. */
export async function busy(btn, fn) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

const loadedCss = new Set();

/** Adds assets/<name> as a stylesheet once. */
export function ensureCss(name) {
  if (loadedCss.has(name)) return;
  loadedCss.add(name);
  document.head.appendChild(h('link', { rel: 'stylesheet', href: `assets/${name}` }));
}

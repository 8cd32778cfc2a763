// #/dnc: the do-not-contact lists (the global one and each campaign's):
// search, add (supervisor), remove (admin), upload a file (supervisor).
import { api, can, uploadFile } from './api.js';
import {
  h, field, table, pageTitle, fmtTime, fmtNumber, notify, errorBox, confirmDialog, button, busy,
  ensureCss, submitForm,
} from './ui.js';
import { allCampaigns, fill, SOURCE_WORDS } from './more-words.js';


function channelsWords(chs) {
  const set = new Set(chs || []);
  if (set.has('voice') && set.has('sms')) return 'Calls and texts';
  if (set.has('voice')) return 'Calls';
  if (set.has('sms')) return 'Texts';
  return '';
}

export async function render(view, ctx) {
  ensureCss('page-dnc.css');
  pageTitle(view, 'Do not contact');
  view.appendChild(h('p', { class: 'muted' },
    'Numbers on these lists are never called or texted. The global list applies to every campaign; '
    + 'a campaign\'s own list only to that campaign. Adding a number closes the contacts waiting with it.'));

  let campaigns = [];
  try {
    campaigns = await allCampaigns(api);
  } catch (e) {
    notify(`The campaigns could not be loaded: ${e.detail || e.message}`, 'error');
  }
  const list = h('select', null, h('option', { value: '' }, 'Global list (every campaign)'),
    campaigns.map((c) => h('option', { value: c.id }, `Campaign: ${c.name}`)),
    h('option', { value: 'all' }, 'Every list (search only)'));
  const want = ctx.query.get('campaign');
  if (want) list.value = want;
  const listName = () => {
    if (list.value === 'all') return 'any list';
    return list.value ? list.selectedOptions[0].textContent.replace(/^Campaign: /, 'the list of ') : 'the global list';
  };

  // Search.
  const phone = h('input', { type: 'search', inputmode: 'tel', autocomplete: 'off', value: ctx.query.get('phone') || '' });
  const searchBtn = button('Search', null, { kind: 'primary', type: 'submit' });
  const results = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  let cursor = null;
  let shown = [];

  async function search(more) {
    const q = new URLSearchParams({ limit: '50' });
    if (list.value === 'all') q.set('scope', 'all');
    else if (list.value) q.set('campaign_id', list.value);
    if (phone.value.trim()) q.set('phone', phone.value.trim());
    if (more && cursor) q.set('cursor', cursor);
    let page;
    try {
      page = await api('GET', `/api/v1/dnc?${q}`);
    } catch (e) {
      results.replaceChildren(errorBox(e));
      return;
    }
    shown = more ? shown.concat(page.items) : page.items;
    cursor = page.next_cursor;
    drawResults();
  }

  function drawResults() {
    const cols = [
      { title: 'Number', value: (e) => e.phone },
      { title: 'Not for', value: (e) => channelsWords(e.channels) },
      { title: 'List', value: (e) => (e.campaign_id ? campaignName(e.campaign_id) : 'Global') },
      { title: 'How it got there', value: (e) => SOURCE_WORDS[e.source] || e.source },
      { title: 'Reason', value: (e) => e.reason || '' },
      { title: 'Since', value: (e) => fmtTime(e.created_at) },
    ];
    if (can('admin')) cols.push({ title: h('span', { class: 'visually-hidden' }, 'Remove'), value: (e) => removeCell(e) });
    const term = phone.value.trim();
    fill(results,
      table(cols, shown, {
        caption: `Numbers on ${listName()}`,
        empty: term ? `${term} is not on ${listName()}.`
          : `${list.value === 'all' ? 'Every list' : listName()[0].toUpperCase() + listName().slice(1)} is empty.`
            + (can('supervisor') && list.value !== 'all' ? ' Add a number below or upload a file.' : ''),
      }),
      cursor ? button('Show more', (ev) => busy(ev.currentTarget, () => search(true))) : null);
  }

  const campaignName = (cid) => {
    const c = campaigns.find((x) => String(x.id) === String(cid));
    return c ? c.name : `Campaign ${cid}`;
  };

  function removeCell(entry) {
    const err = h('div');
    const btn = button('Remove', async () => {
      const where = entry.campaign_id ? `the list of ${campaignName(entry.campaign_id)}` : 'the global list';
      const ok = await confirmDialog({
        title: `Remove ${entry.phone}?`,
        message: `${entry.phone} will be taken off ${where}, and may be called or texted again.`,
        confirm: 'Remove from the list', danger: true,
      });
      if (!ok) return;
      const path = entry.campaign_id
        ? `/api/v1/campaigns/${entry.campaign_id}/dnc/${encodeURIComponent(entry.phone)}`
        : `/api/v1/dnc/${encodeURIComponent(entry.phone)}`;
      try {
        await api('DELETE', path);
        notify(`${entry.phone} removed from ${where}.`);
        shown = shown.filter((x) => x !== entry);
        drawResults();
      } catch (e) {
        err.replaceChildren(errorBox(e));
      }
    }, { kind: 'danger', attrs: { 'aria-label': `Remove ${entry.phone}` } });
    return [btn, err];
  }

  view.appendChild(submitForm({ class: 'card', 'aria-label': 'Search the lists' }, searchBtn, () => search(false),
  h('div', { class: 'toolbar' },
    field('List', list, can('supervisor') ? 'The list to search, add to and upload to.' : 'The list to search.'),
    field('Number', phone, 'Any way it is written. Empty: the newest entries.'),
    searchBtn),
  results));
  const changeForms = [];
  list.addEventListener('change', () => {
    // Adding and uploading need one list.
    changeForms.forEach((f) => {
      f.querySelector('fieldset').disabled = list.value === 'all';
      f.querySelector('.pick-one').hidden = list.value !== 'all';
    });
    search(false);
  });

  if (can('supervisor')) {
    // After a change, the list's newest entries (the new ones first).
    const showNewest = () => {
      phone.value = '';
      return search(false);
    };
    changeForms.push(addForm(list, listName, showNewest), uploadForm(list, listName, showNewest));
    changeForms.forEach((f) => view.appendChild(f));
  } else {
    view.appendChild(h('p', { class: 'muted' }, 'A supervisor can add numbers; only an administrator can remove them.'));
  }
  await search(false);
}

function addForm(list, listName, after) {
  const phone = h('input', { type: 'tel', required: true, autocomplete: 'off' });
  const channel = h('select', null,
    h('option', { value: 'all' }, 'Calls and texts'),
    h('option', { value: 'voice' }, 'Calls only'),
    h('option', { value: 'sms' }, 'Texts only'));
  const reason = h('input', { type: 'text', maxlength: 200 });
  const msg = h('div', { 'aria-live': 'polite' });
  const btn = button('Add to the list', null, { kind: 'primary', type: 'submit' });
  async function add() {
    msg.replaceChildren();
    if (!phone.value.trim()) {
      msg.appendChild(errorBox({ field: 'Number to add', detail: 'Type the number to add.' }));
      phone.focus();
      return;
    }
    const body = { phone: phone.value.trim(), channel: channel.value };
    if (reason.value.trim()) body.reason = reason.value.trim();
    const where = listName();
    try {
      const path = list.value ? `/api/v1/campaigns/${list.value}/dnc` : '/api/v1/dnc';
      const e = await api('POST', path, body);
      const closed = e.contacts_closed || 0;
      const text = `${e.phone} is on ${where}` + (closed
        ? `; ${fmtNumber(closed)} waiting contact${closed === 1 ? ' was' : 's were'} closed.` : '.');
      msg.replaceChildren(h('p', { class: 'ok' }, text));
      notify(text);
      phone.value = '';
      reason.value = '';
      await after();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
      phone.focus();
    }
  }
  return submitForm({ class: 'card', 'aria-labelledby': 'dnc-add-title' }, btn, add,
  h('h2', { id: 'dnc-add-title' }, 'Add a number'),
  pickOne(),
  h('fieldset', { class: 'plain' }, h('legend', { class: 'visually-hidden' }, 'The number'),
    h('div', { class: 'toolbar' },
      field('Number to add', phone),
      field('Not for', channel),
      field('Reason', reason, 'Optional, e.g. "asked on the phone".'),
      btn)),
  msg);
}

function uploadForm(list, listName, after) {
  const file = h('input', { type: 'file', accept: '.csv,text/csv', required: true });
  const bar = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const pct = h('span', { class: 'muted', 'aria-live': 'polite' });
  const report = h('div', { 'aria-live': 'polite' });
  const btn = button('Upload', null, { kind: 'primary', type: 'submit' });
  async function send() {
    report.replaceChildren();
    const f = file.files[0];
    if (!f) {
      report.appendChild(errorBox({ field: 'DNC file', detail: 'Choose a CSV file first.' }));
      file.focus();
      return;
    }
    const where = listName();
    bar.hidden = false;
    bar.value = 0;
    const path = list.value ? `/api/v1/campaigns/${list.value}/dnc/uploads` : '/api/v1/dnc/uploads';
    try {
      const a = await uploadFile(path, f, {
        contentType: 'text/csv',
        onProgress: (loaded, total) => {
          const p = total ? Math.floor((100 * loaded) / total) : 0;
          bar.value = p;
          pct.textContent = `${p}% sent`;
        },
      });
      bar.value = 100;
      pct.textContent = 'Sent.';
      report.replaceChildren(uploadReport(a, where));
      file.value = '';
      await after();
    } catch (e) {
      pct.textContent = '';
      bar.hidden = true;
      report.replaceChildren(errorBox(e));
    }
  }
  return submitForm({ class: 'card', 'aria-labelledby': 'dnc-up-title' }, btn, send,
  h('h2', { id: 'dnc-up-title' }, 'Upload a file of numbers'),
  h('p', { class: 'muted' }, 'A CSV file with a "phone" column and, if you like, a "reason" column. '
    + 'The numbers go on the list chosen above.'),
  pickOne(),
  h('fieldset', { class: 'plain' }, h('legend', { class: 'visually-hidden' }, 'The file'),
    h('div', { class: 'toolbar' }, field('DNC file', file), btn)),
  h('div', { class: 'progress-line' }, bar, ' ', pct),
  report);
}

function pickOne() {
  return h('p', { class: 'pick-one muted', hidden: true }, 'Pick one list above (the global list or a campaign\'s) to add to it.');
}

function uploadReport(a, where) {
  const n = (x) => fmtNumber(x || 0);
  const rows = [
    ['Rows read', a.rows_read], ['Numbers added', a.rows_loaded], ['Already on the list', a.rows_duplicate],
    ['Rows not loaded', a.rows_rejected], ['Waiting contacts closed', a.contacts_closed],
  ];
  return h('section', { class: 'stack', 'aria-label': 'Upload report' },
    h('h3', null, `Upload report for ${where}`),
    h('dl', { class: 'counts' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, n(v))])),
    (a.errors || []).length ? [
      h('p', null, a.rows_rejected > a.errors.length
        ? `The first ${n(a.errors.length)} of ${n(a.rows_rejected)} rows not loaded:` : 'Rows not loaded:'),
      table([
        { title: 'Line', value: (e) => n(e.line), class: 'num' },
        { title: 'Why', value: (e) => e.reason },
      ], a.errors, { caption: 'Rows not loaded', hideCaption: true }),
    ] : h('p', null, 'Every row was read.'));
}

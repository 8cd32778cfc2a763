// #/contacts: find a contact of a campaign by phone or account number.
// #/contacts/N: its details, attempts, and why it is or is not being
// contacted now (GET /contacts/{id}/eligibility, the dispatchers' own answer).
import { api, can } from './api.js';
import {
  h, field, table, pageTitle, fmtTime, fmtNumber, notify, errorBox, button, busy, ensureCss, badge,
  localZone, submitForm,
} from './ui.js';
import {
  outcomeWords, channelWords, contactStateWords, allCampaigns, toLocalInput, fill, SOURCE_WORDS,
} from './more-words.js';

const REFRESH_MS = 10000;

export async function render(view, ctx) {
  ensureCss('page-contacts.css');
  if (ctx.params[0]) return renderContact(view, ctx, ctx.params[0]);
  return renderSearch(view, ctx);
}

// ---- finding a contact ----------------------------------------------------

async function renderSearch(view, ctx) {
  pageTitle(view, 'Find a contact');
  let campaigns;
  try {
    campaigns = await allCampaigns(api);
  } catch (e) {
    view.appendChild(errorBox(e));
    return;
  }
  if (!campaigns.length) {
    view.appendChild(h('p', null, 'There is no campaign yet, so no contact. ',
      h('a', { href: '#/campaigns/new' }, 'Create a campaign'), ' and upload its contacts first.'));
    return;
  }
  const camp = h('select', { required: true }, campaigns.map((c) => h('option', { value: c.id }, c.name)));
  if (ctx.query.get('campaign')) camp.value = ctx.query.get('campaign');
  const by = h('select', null,
    h('option', { value: 'phone' }, 'Phone number'),
    h('option', { value: 'account_number' }, 'Account number'));
  const term = h('input', { type: 'search', autocomplete: 'off', required: true });
  if (ctx.query.get('account_number')) {
    by.value = 'account_number';
    term.value = ctx.query.get('account_number');
  } else if (ctx.query.get('phone')) {
    term.value = ctx.query.get('phone');
  }
  const btn = button('Find', null, { kind: 'primary', type: 'submit' });
  const results = h('div', { 'aria-live': 'polite' });

  async function find() {
    results.replaceChildren();
    const t = term.value.trim();
    if (!t) {
      results.appendChild(errorBox({ field: 'Look for', detail: 'Type a phone or account number.' }));
      term.focus();
      return;
    }
    const q = new URLSearchParams({ limit: '100', [by.value]: t });
    let page;
    try {
      page = await api('GET', `/api/v1/campaigns/${camp.value}/contacts?${q}`);
    } catch (e) {
      results.appendChild(errorBox(e));
      return;
    }
    const what = by.value === 'phone' ? 'number' : 'account number';
    results.appendChild(table([
      { title: 'Contact', value: (c) => h('a', { href: `#/contacts/${c.id}` }, contactName(c)) },
      { title: 'Numbers', value: (c) => c.phones.join(', ') },
      { title: 'Account', value: (c) => c.account_number || '' },
      { title: 'State', value: (c) => contactStateWords(c.state) },
      { title: 'Outcome', value: (c) => outcomeWords(c.outcome) },
      { title: 'Attempts', value: (c) => fmtNumber(c.attempts), class: 'num' },
      { title: 'Next attempt', value: (c) => fmtTime(c.next_attempt_at) },
    ], page.items, {
      caption: `Contacts with ${what} ${t}`,
      empty: `No contact of this campaign has the ${what} ${t}. Check the number, or pick another campaign.`,
    }));
  }
  view.appendChild(submitForm({ class: 'card', 'aria-label': 'Find a contact' }, btn, find,
  h('div', { class: 'toolbar' },
    field('Campaign', camp),
    field('Look up by', by),
    field('Look for', term, 'A phone number any way it is written, or an account number.'),
    btn)));
  view.appendChild(results);
  if (term.value) await find();
}

function contactName(c) {
  const n = [c.first_name, c.last_name].filter(Boolean).join(' ');
  return n || `Contact ${c.id}`;
}

// ---- one contact ----------------------------------------------------------

const STATE = {
  eligible_now: ['Will be contacted with the next batch', 'ok'],
  waiting: ['Waiting', 'warn'],
  held: ['Held by a contact rule', 'warn'],
  out_with_dialer: ['An attempt is in progress', 'active'],
  closed: ['Closed: no more attempts', 'completed'],
  campaign_not_active: ['Not contacted: the campaign is not running', 'paused'],
  blocked: ['Will be closed at its next turn', 'bad'],
};

const KIND = { hours: 'calling hours', day_off: 'day off', cap: 'limit', quiet: 'quiet period' };

async function renderContact(view, ctx, id) {
  let contact;
  try {
    contact = await api('GET', `/api/v1/contacts/${encodeURIComponent(id)}`);
  } catch (e) {
    pageTitle(view, 'Contact');
    view.appendChild(errorBox(e));
    view.appendChild(h('p', null, h('a', { href: '#/contacts' }, 'Find another contact')));
    return;
  }
  const refreshBtn = button('Refresh now', (e) => busy(e.currentTarget, () => load(true)));
  pageTitle(view, `Contact ${id}`, refreshBtn);
  view.appendChild(h('p', null, h('a', { href: `#/contacts?campaign=${contact.campaign_id}` }, '← Find another contact')));

  const whyBox = h('section', { class: 'card why', 'aria-labelledby': 'why-title', 'aria-live': 'polite' },
    h('h2', { id: 'why-title' }, 'Why is it, or is it not, being contacted?'), h('p', { class: 'muted' }, 'Loading…'));
  const detailBox = h('section', { class: 'card', 'aria-labelledby': 'details-title' });
  const attemptsBox = h('section', { class: 'card', 'aria-labelledby': 'attempts-title' });
  const auto = h('input', { type: 'checkbox', checked: true });
  const checked = h('span', { class: 'muted' });
  view.appendChild(h('div', { class: 'toolbar' },
    h('label', { class: 'check' }, auto, ` Refresh by itself every ${REFRESH_MS / 1000} seconds`), checked));
  view.appendChild(whyBox);
  view.appendChild(detailBox);
  const callback = can('supervisor') ? callbackForm(id, () => load(true)) : null;
  if (callback) view.appendChild(callback);
  view.appendChild(attemptsBox);

  let first = true;
  async function load(withContact) {
    try {
      const [c, why] = await Promise.all([
        withContact || !first ? api('GET', `/api/v1/contacts/${encodeURIComponent(id)}`) : contact,
        api('GET', `/api/v1/contacts/${encodeURIComponent(id)}/eligibility`),
      ]);
      first = false;
      contact = c;
      drawWhy(whyBox, why, c);
      drawDetails(detailBox, c);
      drawAttempts(attemptsBox, c);
      checked.textContent = `As of ${fmtTime(why.at)}.`;
      if (callback) {
        // A closed contact, or one of a campaign that does not dispatch, takes no callback.
        callback.hidden = c.state === 'closed' || why.state === 'campaign_not_active';
        const at = callback.querySelector('input');
        if (!at.value) at.value = toLocalInput(new Date(Date.parse(why.at) + 3600000).toISOString());
      }
    } catch (e) {
      whyBox.replaceChildren(h('h2', { id: 'why-title' }, 'Why is it, or is it not, being contacted?'), errorBox(e));
    }
  }
  await load(false);
  const timer = setInterval(() => {
    if (auto.checked && !document.hidden) load(true);
  }, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}

/** The server's words with each UTC instant in them shown in the browser's zone. */
function timesIn(text) {
  return String(text || '').replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, (iso) => fmtTime(iso));
}

function twoZones(iso, zone) {
  if (!iso) return '';
  const theirs = zone ? fmtTime(iso, zone) : '';
  const yours = fmtTime(iso);
  if (!zone || zone === localZone()) return yours;
  return [h('span', { class: 'when-contact' }, `${theirs} its time`), h('br'),
    h('span', { class: 'when-you muted' }, `${yours} your time`)];
}

function drawWhy(box, w, c) {
  const [headline, kind] = STATE[w.state] || [w.state, 'plain'];
  const rows = [];
  const row = (k, ...v) => rows.push(h('dt', null, k), h('dd', null, ...v));
  if (w.until && w.state !== 'eligible_now') row('May go again', ...[].concat(twoZones(w.until, w.zone)));
  if (w.zone) row('Its time now', `${fmtTime(w.at, w.zone)} (${w.zone})`);
  if (w.rule) {
    const set = w.rule.set === 'campaign' ? 'the campaign\'s own days off' : `the rule set "${w.rule.set}"`;
    row('Rule holding it', `${w.rule.says || ''}`.trim() || 'A contact rule',
      h('span', { class: 'muted' }, ` (${KIND[w.rule.kind] || 'rule'} of ${set}${w.rule.id ? `, rule ${w.rule.id}` : ''})`));
  }
  if (w.next_attempt_at) row('Next attempt planned', ...[].concat(twoZones(w.next_attempt_at, w.zone)));
  if (w.phone) row('Next attempt', `${channelWords(w.channel) === 'Texts' ? 'Text' : 'Call'} to ${w.phone}`);
  if (w.outcome) row('Outcome', outcomeWords(w.outcome));
  row('Campaign', h('a', { href: `#/campaigns/${w.campaign.id}` }, w.campaign.name), ' ',
    badge(w.campaign.state, w.campaign.state));

  const listed = (w.dnc || []).filter((d) => d.listed);
  const dnc = listed.length
    ? h('ul', { class: 'dnc-list' }, listed.map((d) => h('li', null,
      h('strong', null, d.phone), ` — no ${d.channel === 'sms' ? 'texts' : 'calls'}: on `,
      d.scope === 'campaign' ? 'this campaign\'s do-not-contact list' : 'the global do-not-contact list',
      d.since ? [' since ', fmtTime(d.since)] : null,
      d.source ? ` (${(SOURCE_WORDS[d.source] || d.source).toLowerCase()}${d.reason ? `: ${d.reason}` : ''})` : '')))
    : h('p', null, (w.dnc || []).length ? 'None of its numbers is on a do-not-contact list.'
      : 'Its numbers were not checked against the do-not-contact lists.');

  fill(box,
    h('h2', { id: 'why-title' }, 'Why is it, or is it not, being contacted?'),
    h('p', { class: `why-state why-${kind}` }, headline),
    h('p', { class: 'why-reason' }, timesIn(w.reason)),
    h('dl', { class: 'facts' }, rows),
    h('h3', null, 'Do-not-contact lists'),
    dnc,
    c.channel_note ? h('p', { class: 'muted' }, c.channel_note) : null);
}

function drawDetails(box, c) {
  const rows = [];
  const row = (k, ...v) => rows.push(h('dt', null, k), h('dd', null, ...v));
  row('State', contactStateWords(c.state));
  if (c.outcome) row('Outcome', outcomeWords(c.outcome));
  row('Numbers', c.phones.map((p, i) => [i ? ', ' : '', p, i === c.phone_index && c.state !== 'closed' ? ' (next)' : '']));
  row('Attempts so far', fmtNumber(c.attempts));
  row('Its time zone', c.time_zone || 'the campaign\'s');
  if (c.region) row('Region', c.region);
  if (c.next_attempt_at) row('Next attempt', ...[].concat(twoZones(c.next_attempt_at, c.time_zone)));
  if (c.callback_at) row('Call back at', ...[].concat(twoZones(c.callback_at, c.time_zone)));
  if (c.closed_at) row('Closed', fmtTime(c.closed_at));
  box.replaceChildren(h('h2', { id: 'details-title' }, 'Details'), h('dl', { class: 'facts' }, rows));
}

function drawAttempts(box, c) {
  const STATUS = { sending: 'Being sent', sent: 'Sent, waiting for the result', done: 'Done' };
  box.replaceChildren(h('h2', { id: 'attempts-title' }, 'Attempts'), table([
    { title: 'Attempt', value: (a) => fmtNumber(a.attempt), class: 'num' },
    { title: 'By', value: (a) => (a.channel === 'sms' ? 'Text' : 'Call') },
    { title: 'Number', value: (a) => a.phone },
    { title: 'Sent', value: (a) => fmtTime(a.dispatched_at) },
    { title: 'Result at', value: (a) => fmtTime(a.result_at) },
    { title: 'Status', value: (a) => STATUS[a.status] || a.status },
    { title: 'Outcome', value: (a) => outcomeWords(a.outcome) },
  ], c.history, { caption: 'Attempts, oldest first', hideCaption: true, empty: 'No attempt yet.' }));
}

function callbackForm(id, after) {
  const at = h('input', { type: 'datetime-local', required: true });
  const msg = h('div', { 'aria-live': 'polite' });
  const btn = button('Schedule the callback', null, { kind: 'primary', type: 'submit' });
  async function send() {
    msg.replaceChildren();
    const d = new Date(at.value);
    if (!at.value || Number.isNaN(d.getTime())) {
      msg.appendChild(errorBox({ field: 'Call back at', detail: 'Pick a day and a time.' }));
      at.focus();
      return;
    }
    try {
      const r = await api('POST', `/api/v1/contacts/${encodeURIComponent(id)}/callback`, { at: d.toISOString() });
      const text = `Callback set for ${fmtTime(r.callback_at || d.toISOString())}.`;
      msg.replaceChildren(h('p', { class: 'ok' }, text));
      notify(text);
      await after();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
      at.focus();
    }
  }
  return submitForm({ class: 'card', 'aria-labelledby': 'cb-title' }, btn, send,
  h('h2', { id: 'cb-title' }, 'Personal callback'),
  h('p', { class: 'muted' }, 'Have the contact called back at a time it asked for.'),
  h('div', { class: 'toolbar' }, field('Call back at (your time)', at), btn),
  msg);
}

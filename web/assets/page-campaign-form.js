// #/campaigns/new and #/campaigns/N/edit: the campaign form. Creating sends
// the whole campaign (POST); editing sends only the members that changed
// (PATCH, JSON merge patch). A refusal is shown next to the control the
// problem names ("time_zone: …" → under Time zone).
import { api, can } from './api.js';
import {
  h, pageTitle, field, button, busy, errorBox, ensureCss, notify, timeZones, uid, fmtNumber,
} from './ui.js';
import { CHANNELS, CISCO_KINDS } from './campaign-words.js';
import { measureSms, splitTemplate } from './campaign-sms.js';
import { wallToIso, isoToWall, isZone } from './campaign-zone.js';

const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
  ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/;
const DEFAULT_WINDOW = {
  mon: [['09:00', '17:00']], tue: [['09:00', '17:00']], wed: [['09:00', '17:00']],
  thu: [['09:00', '17:00']], fri: [['09:00', '17:00']], sat: [], sun: [],
};
const TCPA = 'US federal (TCPA)';

/* Every item of a paged list (strategies, rule sets). Throws ApiError. */
async function allOf(path) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const page = await api('GET', `${path}?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/* A refusal with the field it names: ApiError.field, else the "field: …"
 * prefix of its detail. Returns {path, message}. */
function problemField(err) {
  if (err.field) return { path: err.field, message: err.detail || err.message };
  const m = /^([a-z_]+(?:\.[a-z_]+|\[[0-9]+\])*): (.*)$/s.exec(err.detail || err.message || '');
  return m ? { path: m[1], message: m[2] } : { path: '', message: err.detail || err.message };
}

export async function render(view, ctx) {
  ensureCss('campaign.css');
  const editing = ctx.params.length > 0;
  const id = editing ? ctx.params[0] : null;
  if (!can('supervisor')) {
    pageTitle(view, editing ? 'Edit campaign' : 'New campaign');
    view.append(h('p', {}, 'Only a supervisor or an admin can create or change campaigns. ',
      h('a', { href: editing ? `#/campaigns/${id}` : '#/campaigns' }, 'Back')));
    return;
  }
  const [camp, strategies, ruleSets] = await Promise.all([
    editing ? api('GET', `/api/v1/campaigns/${id}`) : null,
    allOf('/api/v1/strategies'),
    allOf('/api/v1/rule-sets'),
  ]);
  pageTitle(view, editing ? `Edit “${camp.name}”` : 'New campaign');

  const slots = new Map(); // field path → {box, control}
  const slot = (path, control) => {
    const box = h('div', { class: 'field-problem', id: uid('e') });
    slots.set(path, { box, control });
    return box;
  };
  const topProblem = h('div', {});

  // Name and channel.
  const name = h('input', { type: 'text', maxlength: '200', required: true, autocomplete: 'off',
    value: camp ? camp.name : '' });
  const channelName = uid('ch');
  const channelRadios = Object.entries(CHANNELS).map(([v, label]) => {
    const r = h('input', { type: 'radio', name: channelName, value: v, id: uid('ch'),
      checked: (camp ? camp.channel : 'voice_ivr') === v, disabled: editing });
    return h('div', { class: 'field field-inline' }, r, h('label', { for: r.id }, label));
  });
  const channel = () => channelSet.querySelector(`input[name="${channelName}"]:checked`).value;
  const channelSet = h('fieldset', {}, h('legend', {}, 'Channel'), channelRadios,
    editing ? h('small', { class: 'hint' }, 'The channel cannot change once the campaign exists.') : null,
    slot('channel', channelRadios[0].querySelector('input')));

  // Strategy.
  const strategy = h('select', { required: true },
    strategies.map(s => h('option', { value: String(s.id),
      selected: camp ? camp.strategy_id === s.id : s.name === 'Default' }, s.name)));

  // Cisco target.
  const cc = camp && camp.cisco ? camp.cisco : {};
  const ciscoKind = h('select', {},
    Object.entries(CISCO_KINDS).map(([v, l]) => h('option', { value: v, selected: (cc.kind || 'uccx') === v }, l)));
  const ciscoId = h('input', { type: 'text', inputmode: 'numeric', maxlength: '10', autocomplete: 'off',
    value: cc.campaign_id || '', class: 'short' });
  const importTable = h('input', { type: 'text', maxlength: '128', value: cc.import_table || '' });
  const dialingList = h('input', { type: 'text', maxlength: '128', value: cc.dialing_list || '' });
  const dbOnly = h('div', { class: 'grid-2' },
    h('div', {}, field('Import table', importTable, 'The table the Campaign Manager’s import rule reads.'),
      slot('cisco.import_table', importTable)),
    h('div', {}, field('Dialing list (optional)', dialingList, 'Leave empty for DL_<campaign id>_1.'),
      slot('cisco.dialing_list', dialingList)));
  const ciscoNote = h('small', { class: 'hint' });
  const ciscoSet = h('fieldset', {}, h('legend', {}, 'Cisco target'), ciscoNote,
    h('div', { class: 'grid-2' },
      h('div', {}, field('How contacts reach Cisco', ciscoKind), slot('cisco.kind', ciscoKind)),
      h('div', {}, field('Cisco campaign ID', ciscoId, 'The number of the campaign in Cisco, e.g. 1.'),
        slot('cisco.campaign_id', ciscoId))),
    dbOnly, slot('cisco', ciscoId));

  // Region and time zone.
  const region = h('input', { type: 'text', maxlength: '2', class: 'short', autocomplete: 'off',
    value: camp ? camp.region : 'US' });
  const zones = timeZones();
  const listId = uid('tz');
  const zone = h('input', { type: 'text', list: listId, autocomplete: 'off',
    value: camp ? camp.time_zone : 'America/New_York' });
  const zoneList = h('datalist', { id: listId }, zones.map(z => h('option', { value: z })));

  // Start and end, in the campaign's zone.
  const startAt = h('input', { type: 'datetime-local' });
  const endAt = h('input', { type: 'datetime-local' });
  const zoneNote = h('span', {});
  if (camp) {
    try {
      startAt.value = isoToWall(camp.start_at, camp.time_zone);
      endAt.value = isoToWall(camp.end_at, camp.time_zone);
    } catch {
      /* a zone this browser does not know: the fields stay empty and say so below */
    }
  }

  // Weekly window.
  const win = {};
  for (const [d] of DAYS) {
    const src = camp ? (camp.call_window ? camp.call_window[d] : [['00:00', '24:00']]) : DEFAULT_WINDOW[d];
    win[d] = (src || []).map(r => [r[0], r[1]]);
  }
  const winBox = h('div', { class: 'window-days' });
  const drawDay = (d, label, focus) => {
    const ranges = win[d];
    const off = h('input', { type: 'checkbox', id: uid('off'), checked: ranges.length === 0 });
    off.addEventListener('change', () => {
      win[d] = off.checked ? [] : [['09:00', '17:00']];
      drawDay(d, label, off.checked ? 'off' : 'from0');
    });
    const rows = ranges.map((r, i) => {
      const from = h('input', { type: 'text', class: 'time', value: r[0], inputmode: 'numeric',
        placeholder: 'HH:MM', 'aria-label': `${label} from${ranges.length > 1 ? ` (range ${i + 1})` : ''}`,
        'data-focus': `from${i}` });
      const to = h('input', { type: 'text', class: 'time', value: r[1], inputmode: 'numeric',
        placeholder: 'HH:MM', 'aria-label': `${label} to${ranges.length > 1 ? ` (range ${i + 1})` : ''}` });
      from.addEventListener('input', () => { win[d][i][0] = from.value.trim(); });
      to.addEventListener('input', () => { win[d][i][1] = to.value.trim(); });
      const remove = button('Remove', () => {
        win[d].splice(i, 1);
        drawDay(d, label, win[d].length ? 'add' : 'off');
      }, { attrs: { 'aria-label': `Remove ${label} ${r[0]}–${r[1]}` } });
      return h('div', { class: 'range' }, from, h('span', { 'aria-hidden': 'true' }, '–'), to, remove);
    });
    const add = button('Add hours', () => {
      win[d].push(['18:00', '20:00']);
      drawDay(d, label, `from${win[d].length - 1}`);
    }, { attrs: { 'aria-label': `Add hours on ${label}`, 'data-focus': 'add' } });
    off.setAttribute('data-focus', 'off');
    const row = h('div', { class: 'window-day', 'data-day': d, role: 'group', 'aria-label': label },
      h('span', { class: 'day-name', 'aria-hidden': 'true' }, label),
      h('div', { class: 'field field-inline day-off' }, off, h('label', { for: off.id }, `Day off`)),
      h('div', { class: 'ranges' }, rows, ranges.length ? add : null));
    const old = winBox.querySelector(`[data-day="${d}"]`);
    if (old) old.replaceWith(row);
    else winBox.append(row);
    if (focus) (row.querySelector(`[data-focus="${focus}"]`) || off).focus();
  };
  DAYS.forEach(([d, label]) => drawDay(d, label));
  const copyMonday = button('Use Monday’s hours every day', () => {
    for (const [d, label] of DAYS) {
      if (d === 'mon') continue;
      win[d] = win.mon.map(r => [r[0], r[1]]);
      drawDay(d, label);
    }
    notify('Monday’s hours copied to every day.');
  });
  const winSet = h('fieldset', {}, h('legend', {}, 'Weekly calling window'),
    h('small', { class: 'hint' }, 'Hours in each contact’s own time (the campaign’s zone for contacts '
      + 'without one), 24-hour clock; 24:00 is midnight at the end of the day. Nobody is ever called '
      + 'outside the legal hours, whatever this says.'),
    winBox, h('div', { class: 'actions' }, copyMonday), slot('call_window', winBox));

  // Text message.
  const sc = camp && camp.sms ? camp.sms : {};
  const template = h('textarea', { rows: '4', maxlength: '4096', value: sc.template || '' });
  const count = h('div', { class: 'sms-count', 'aria-live': 'polite', id: uid('sms') });
  template.setAttribute('aria-describedby', count.id);
  const sender = h('input', { type: 'text', maxlength: '16', value: sc.sender || '', autocomplete: 'off' });
  const gateway = h('select', {},
    h('option', { value: 'kannel', selected: (sc.gateway || 'kannel') === 'kannel' }, 'Kannel'),
    h('option', { value: 'http', selected: sc.gateway === 'http' }, 'HTTP gateway'));
  const dlr = h('input', { type: 'number', min: '1', max: '604800', step: '1', class: 'short',
    value: String(sc.dlr_timeout_s || 86400) });
  const smsNote = h('small', { class: 'hint' });
  const drawCount = () => {
    const t = splitTemplate(template.value);
    const m = measureSms(t.fixed);
    const enc = m.encoding.name === 'GSM-7' ? 'GSM-7 (standard)' : 'UCS-2 (Unicode)';
    const parts = [
      h('span', {}, `Characters: ${fmtNumber(m.chars)}`),
      h('span', {}, `Counted as: ${fmtNumber(m.units)}${m.segments > 1 ? ` (${m.encoding.part} per part)` : ` of ${m.encoding.single}`}`),
      h('span', {}, `Encoding: ${enc}`),
      h('span', {}, `Message parts: ${m.segments}`),
    ];
    const notes = [];
    if (m.extended) notes.push(`${m.extended} character${m.extended > 1 ? 's' : ''} like € [ ] { } count as 2.`);
    if (m.unicode.length) notes.push(`Sent as Unicode because of ${m.unicode.map(u => `“${u}”`).join(' ')}: a part holds 70 characters instead of 160.`);
    if (t.fields.length) notes.push(`Not counted: each contact’s ${[...new Set(t.fields)].map(f => `{${f}}`).join(', ')}, filled in per contact.`);
    if (t.error) notes.push(t.error);
    count.replaceChildren(h('div', { class: 'sms-figures' }, parts), ...notes.map(n => h('p', { class: 'hint' }, n)));
  };
  template.addEventListener('input', drawCount);
  drawCount();
  const smsSet = h('fieldset', {}, h('legend', {}, 'Text message'), smsNote,
    field('Message text', template, 'Write {first_name} (or any column of the contact file) to fill in each contact’s value; {{ and }} for braces.'),
    count, slot('sms.template', template),
    h('div', { class: 'grid-3' },
      h('div', {}, field('Sender (optional)', sender, 'At most 16 characters; empty: the gateway’s own.'), slot('sms.sender', sender)),
      h('div', {}, field('Gateway', gateway), slot('sms.gateway', gateway)),
      h('div', {}, field('Wait for a delivery report (seconds)', dlr, '86,400 is one day.'), slot('sms.dlr_timeout_s', dlr))),
    slot('sms', template));

  // Rule sets.
  const picked = new Set(camp ? camp.rule_sets.map(r => r.id)
    : ruleSets.filter(r => r.name === TCPA).map(r => r.id));
  const ruleBoxes = ruleSets.map(r => {
    const box = h('input', { type: 'checkbox', value: String(r.id), id: uid('rs'), checked: picked.has(r.id) });
    const hid = uid('h');
    box.setAttribute('aria-describedby', hid);
    return h('div', { class: 'field field-inline rule-pick' }, box,
      h('label', { for: box.id }, `${r.name} (${r.jurisdiction === '*' ? 'everywhere' : r.jurisdiction})`),
      h('small', { class: 'hint', id: hid }, r.description || `${r.rule_count} rules`));
  });
  const ruleSet = h('fieldset', {}, h('legend', {}, 'Rule sets'),
    h('small', { class: 'hint' }, 'Rules about hours, days off and how often a person may be contacted. ',
      h('a', { href: '#/rules' }, 'Read what each rule says.')),
    ruleBoxes.length ? ruleBoxes : h('p', { class: 'muted' }, 'There are no rule sets yet.'),
    slot('rule_sets', ruleBoxes.length ? ruleBoxes[0].querySelector('input') : null));

  // Days off.
  const offDays = (camp ? camp.blackout_dates : []).map(b => ({ date: b.date, reason: b.reason || '' }));
  const offBox = h('div', { class: 'stack' });
  const drawOff = focusLast => {
    offBox.replaceChildren(...offDays.map((b, i) => {
      const date = h('input', { type: 'date', value: b.date, 'aria-label': `Day off ${i + 1}` });
      const reason = h('input', { type: 'text', maxlength: '200', value: b.reason,
        'aria-label': `Reason for day off ${i + 1} (optional)`, placeholder: 'Reason (optional)' });
      date.addEventListener('input', () => { b.date = date.value; });
      reason.addEventListener('input', () => { b.reason = reason.value; });
      return h('div', { class: 'range' }, date, reason,
        button('Remove', () => { offDays.splice(i, 1); drawOff(false); addOff.focus(); },
          { attrs: { 'aria-label': `Remove day off ${i + 1}` } }));
    }));
    if (!offDays.length) offBox.append(h('p', { class: 'muted' }, 'No days off: contacts may be reached any day the window allows.'));
    if (focusLast) {
      const last = offBox.querySelectorAll('input[type="date"]');
      if (last.length) last[last.length - 1].focus();
    }
  };
  const addOff = button('Add a day off', () => { offDays.push({ date: '', reason: '' }); drawOff(true); });
  drawOff(false);
  const offSet = h('fieldset', {}, h('legend', {}, 'Days off'),
    h('small', { class: 'hint' }, 'No contact at all on these days, in each contact’s own time.'),
    offBox, h('div', { class: 'actions' }, addOff), slot('blackout_dates', offBox));

  const showFor = () => {
    const ch = channel();
    const voice = ch !== 'sms';
    ciscoNote.textContent = voice ? 'Where the calls go.' : 'Optional: only needed when the strategy switches contacts to a call.';
    smsNote.textContent = voice ? 'Optional: only needed when the strategy switches contacts to a text message.' : 'What each contact receives.';
    dbOnly.hidden = ciscoKind.value !== 'ucce_db';
    zoneNote.textContent = zone.value || 'not set';
  };
  channelSet.addEventListener('change', showFor);
  ciscoKind.addEventListener('change', showFor);
  zone.addEventListener('input', showFor);

  const clearProblems = () => {
    topProblem.replaceChildren();
    for (const { box, control } of slots.values()) {
      box.replaceChildren();
      if (control) control.removeAttribute('aria-invalid');
    }
  };
  /* Shows message next to the control of path (or its nearest parent). */
  const showProblem = (path, message) => {
    let p = path === 'strategy_id' ? 'strategy' : path;
    while (p && !slots.has(p)) {
      const up = p.replace(/(\.[a-z_]+|\[[0-9]+\])$/, '');
      p = up === p ? '' : up;
    }
    const s = slots.get(p);
    if (!s) {
      topProblem.replaceChildren(errorBox({ detail: path ? `${path}: ${message}` : message }));
      topProblem.scrollIntoView({ block: 'center' });
      return;
    }
    s.box.replaceChildren(h('p', { class: 'error', role: 'alert' }, message));
    if (s.control) {
      s.control.setAttribute('aria-invalid', 'true');
      const prev = (s.control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      if (!prev.includes(s.box.id)) s.control.setAttribute('aria-describedby', [...prev, s.box.id].join(' '));
      s.control.focus();
    }
  };

  class Invalid extends Error {
    constructor(path, message) {
      super(message);
      this.path = path;
    }
  }

  /* The campaign as the form says it, in the API's shape. Throws Invalid
   * naming the control that is wrong. */
  const collect = () => {
    const ch = channel();
    const body = { name: name.value.trim(), channel: ch, strategy_id: Number(strategy.value) };
    if (!body.name) throw new Invalid('name', 'Give the campaign a name.');
    const kindV = ciscoKind.value;
    const cid = ciscoId.value.trim();
    if (cid || ch !== 'sms') {
      if (!/^[1-9][0-9]{0,9}$/.test(cid)) throw new Invalid('cisco.campaign_id', 'Enter the Cisco campaign ID, a whole number such as 1.');
      body.cisco = { kind: kindV, campaign_id: cid };
      if (kindV === 'ucce_db') {
        if (!importTable.value.trim()) throw new Invalid('cisco.import_table', 'A database import needs the import table’s name.');
        body.cisco.import_table = importTable.value.trim();
        if (dialingList.value.trim()) body.cisco.dialing_list = dialingList.value.trim();
      }
    } else {
      body.cisco = null;
    }
    const reg = region.value.trim().toUpperCase();
    if (!/^[A-Z]{2}$/.test(reg)) throw new Invalid('region', 'Two letters, the country phone numbers are read in (US, GB, AU…).');
    body.region = reg;
    const tz = zone.value.trim();
    if (!isZone(tz)) throw new Invalid('time_zone', 'Pick a time zone from the list, e.g. America/New_York.');
    body.time_zone = tz;
    body.start_at = startAt.value ? wallToIso(startAt.value, tz) : null;
    body.end_at = endAt.value ? wallToIso(endAt.value, tz) : null;
    if (startAt.value && !body.start_at) throw new Invalid('start_at', 'Enter a date and a time.');
    if (endAt.value && !body.end_at) throw new Invalid('end_at', 'Enter a date and a time.');
    if (body.start_at && body.end_at && body.end_at <= body.start_at) throw new Invalid('end_at', 'The end must come after the start.');
    const cw = {};
    for (const [d, label] of DAYS) {
      for (const [i, r] of win[d].entries()) {
        if (!HHMM.test(r[0]) || !HHMM.test(r[1])) throw new Invalid('call_window', `${label}: write times as HH:MM, from 00:00 to 24:00.`);
        if (r[1] <= r[0]) throw new Invalid('call_window', `${label}: hours ${i + 1} end before they start.`);
      }
      cw[d] = win[d].map(r => [r[0], r[1]]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    }
    body.call_window = cw;
    const text = template.value;
    if (text.trim() || ch === 'sms') {
      if (!text.trim()) throw new Invalid('sms.template', 'Write the text the contacts will receive.');
      const t = splitTemplate(text);
      if (t.error) throw new Invalid('sms.template', t.error);
      if (new TextEncoder().encode(sender.value.trim()).length > 16) throw new Invalid('sms.sender', 'At most 16 characters (letters or digits).');
      const secs = Number(dlr.value);
      if (!Number.isInteger(secs) || secs < 1 || secs > 604800) throw new Invalid('sms.dlr_timeout_s', 'A whole number of seconds from 1 to 604,800 (a week).');
      body.sms = { template: text, sender: sender.value.trim() || null, gateway: gateway.value, dlr_timeout_s: secs };
    } else {
      body.sms = null;
    }
    body.rule_sets = ruleBoxes.map(b => b.querySelector('input')).filter(b => b.checked).map(b => Number(b.value)).sort((a, b) => a - b);
    for (const [i, b] of offDays.entries()) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(b.date)) throw new Invalid('blackout_dates', `Day off ${i + 1}: pick a date, or remove it.`);
    }
    body.blackout_dates = offDays.map(b => ({ date: b.date, reason: b.reason.trim() || null }))
      .sort((a, b) => (a.date < b.date ? -1 : 1));
    return body;
  };

  let initial = null;
  try {
    initial = editing ? collect() : null;
  } catch {
    initial = null; // a stored campaign the form cannot read back (e.g. an unknown zone): send all
  }

  const ended = editing && ['stopped', 'completed', 'expired'].includes(camp.state);
  const submit = button(editing ? 'Save changes' : 'Create campaign', null,
    { kind: 'primary', type: 'submit', attrs: { disabled: ended } });
  const form = h('form', { class: 'campaign-form', novalidate: true },
    editing && camp.state === 'active'
      ? h('p', { class: 'card notice' }, 'This campaign is active: only its name, time zone, start, end and '
        + 'calling window can change now. Pause it to change the rest.') : null,
    ended ? h('p', { class: 'card notice' }, 'This campaign has ended: it can no longer be changed. '
      + 'Create a new campaign instead.') : null,
    topProblem,
    h('section', { class: 'card' }, h('h2', {}, 'The campaign'),
      field('Name', name), slot('name', name), channelSet,
      field('Strategy', strategy, 'What happens after each call or text: retries, delays, most attempts.'),
      slot('strategy', strategy)),
    h('section', { class: 'card' }, ciscoSet),
    h('section', { class: 'card' }, h('h2', {}, 'Where and when'),
      h('div', { class: 'grid-2' },
        h('div', {}, field('Region', region, 'The country phone numbers are read in (two letters: US, GB, AU…).'), slot('region', region)),
        h('div', {}, field('Time zone', zone, 'Type to search, e.g. “New_York” or “Sydney”. Used for contacts without their own.'),
          zoneList, slot('time_zone', zone))),
      h('p', { class: 'hint' }, 'Start and end are in the campaign’s time zone: ', zoneNote, '. Leave empty for no limit.'),
      h('div', { class: 'grid-2' },
        h('div', {}, field('Start (optional)', startAt), slot('start_at', startAt)),
        h('div', {}, field('End (optional)', endAt), slot('end_at', endAt))),
      winSet),
    h('section', { class: 'card' }, smsSet),
    h('section', { class: 'card' }, ruleSet, offSet),
    h('div', { class: 'actions' }, submit,
      h('a', { class: 'btn', href: editing ? `#/campaigns/${id}` : '#/campaigns' }, 'Cancel')));
  view.append(form);
  showFor();

  zone.addEventListener('change', () => {
    slots.get('time_zone').box.replaceChildren();
    zone.removeAttribute('aria-invalid');
    if (zone.value.trim() && !isZone(zone.value.trim())) showProblem('time_zone', 'Pick a time zone from the list, e.g. America/New_York.');
  });

  form.addEventListener('submit', e => {
    e.preventDefault();
    busy(submit, async () => {
      clearProblems();
      let body;
      try {
        body = collect();
      } catch (err) {
        if (err instanceof Invalid) {
          showProblem(err.path, err.message);
          return;
        }
        throw err;
      }
      try {
        if (!editing) {
          const made = await api('POST', '/api/v1/campaigns', body);
          notify(`Campaign “${made.name}” created. Upload its contacts next.`);
          ctx.go(`#/campaigns/${made.id}`);
          return;
        }
        const patch = {};
        for (const [k, v] of Object.entries(body)) {
          if (k === 'channel') continue;
          if (!initial || JSON.stringify(initial[k]) !== JSON.stringify(v)) patch[k] = v;
        }
        if (!Object.keys(patch).length) {
          notify('Nothing changed.');
          ctx.go(`#/campaigns/${id}`);
          return;
        }
        await api('PATCH', `/api/v1/campaigns/${id}`, patch);
        notify('Changes saved.');
        ctx.go(`#/campaigns/${id}`);
      } catch (err) {
        const f = problemField(err);
        showProblem(f.path, f.message);
      }
    });
  });
}

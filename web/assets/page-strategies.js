// #/strategies (list), #/strategies/new and #/strategies/N: a strategy as a
// table (one row per outcome) and its dry run, computed by the server with the
// code the services decide with.
import { api, can } from './api.js';
import {
  h, field, table, pageTitle, fmtTime, fmtNumber, notify, errorBox, confirmDialog, button,
  busy, ensureCss, timeZones, localZone, badge, submitForm,
} from './ui.js';
import {
  OUTCOMES, outcomeWords, channelWords, zonedToRfc3339, allCampaigns,
} from './more-words.js';

export async function render(view, ctx) {
  ensureCss('page-strategies.css');
  const id = ctx.params[0];
  if (id) return renderEditor(view, ctx, id);
  if (/^#\/strategies\/new\b/.test(location.hash)) return renderEditor(view, ctx, null);
  return renderList(view, ctx);
}

// ---- the list -------------------------------------------------------------

async function renderList(view, ctx) {
  const add = can('supervisor') ? button('New strategy', () => ctx.go('#/strategies/new'), { kind: 'primary' }) : null;
  pageTitle(view, 'Strategies', add);
  view.appendChild(h('p', { class: 'muted' },
    'A strategy says what happens after each outcome of a call or text: try again and when, or stop.'));
  let items;
  try {
    items = await allStrategies();
  } catch (e) {
    view.appendChild(errorBox(e));
    return;
  }
  view.appendChild(table([
    { title: 'Name', value: (s) => h('a', { href: `#/strategies/${s.id}` }, s.name) },
    { title: 'Description', value: (s) => s.description || '' },
    { title: 'Attempts in all', value: (s) => fmtNumber(s.max_attempts), class: 'num' },
    { title: 'Attempts a day', value: (s) => fmtNumber(s.max_attempts_per_day), class: 'num' },
    { title: 'Outcomes with a rule', value: (s) => fmtNumber(s.rules.length), class: 'num' },
    { title: 'Used by campaigns', value: (s) => fmtNumber(s.campaigns), class: 'num' },
    { title: 'Last changed', value: (s) => fmtTime(s.updated_at) },
  ], items, {
    caption: 'Strategies', hideCaption: true,
    empty: can('supervisor') ? 'No strategies yet. Press "New strategy" to make one.'
      : 'No strategies yet. A supervisor can make one.',
  }));
}

async function allStrategies() {
  const out = [];
  let cursor = null;
  do {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await api('GET', `/api/v1/strategies?limit=200${q}`);
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < 2000);
  return out;
}

// ---- the editor -----------------------------------------------------------

const UNITS = [[86400, 'days'], [3600, 'hours'], [60, 'minutes'], [1, 'seconds']];

function splitDelay(s) {
  s = Number(s) || 0;
  for (const [n, name] of UNITS) if (s % n === 0 && (s > 0 || n === 60)) return { n: s / n, unit: n, name };
  return { n: s, unit: 1, name: 'seconds' };
}

const BLANK = {
  name: '', description: '', max_attempts: 5, max_attempts_per_day: 3,
  max_voice_attempts: null, max_sms_attempts: null, rules: [], campaigns: 0,
};

async function renderEditor(view, ctx, id) {
  const editable = can('supervisor');
  let strategy = BLANK;
  if (id) {
    try {
      strategy = await api('GET', `/api/v1/strategies/${encodeURIComponent(id)}`);
    } catch (e) {
      pageTitle(view, 'Strategy');
      view.appendChild(errorBox(e));
      view.appendChild(h('p', null, h('a', { href: '#/strategies' }, 'Back to the strategies')));
      return;
    }
  }
  const title = id ? `Strategy: ${strategy.name}` : 'New strategy';
  const del = id && editable && strategy.name !== 'Default' ? button('Delete strategy', () => remove(), { kind: 'danger' }) : null;
  pageTitle(view, title, del);
  view.appendChild(h('p', null, h('a', { href: '#/strategies' }, '← All strategies')));

  let dirty = !id;
  const markDirty = () => {
    dirty = true;
  };

  // The strategy's own settings.
  const dis = !editable;
  const name = h('input', { type: 'text', value: strategy.name, required: true, maxlength: 100, disabled: dis });
  const desc = h('input', { type: 'text', value: strategy.description || '', maxlength: 1000, disabled: dis });
  const maxAll = h('input', { type: 'number', min: 1, max: 1000, value: strategy.max_attempts, required: true, disabled: dis });
  const maxDay = h('input', { type: 'number', min: 1, max: 1000, value: strategy.max_attempts_per_day, required: true, disabled: dis });
  const maxVoice = h('input', { type: 'number', min: 1, max: 1000, value: strategy.max_voice_attempts ?? '', disabled: dis });
  const maxSms = h('input', { type: 'number', min: 1, max: 1000, value: strategy.max_sms_attempts ?? '', disabled: dis });
  const formError = h('div', { 'aria-live': 'polite' });

  // The rows, one per outcome.
  const rows = [];
  const tbody = h('tbody');
  const addSel = h('select', { disabled: dis });
  const emptyRow = h('tr', null, h('td', { colspan: 9, class: 'muted' },
    'No outcome has a rule yet: every outcome closes the contact. Add an outcome below.'));

  function refreshAddSelect() {
    const used = new Set(rows.map((r) => r.outcome));
    addSel.replaceChildren(...OUTCOMES.filter((o) => !used.has(o))
      .map((o) => h('option', { value: o }, outcomeWords(o))));
    tbody.replaceChildren(...(rows.length ? rows.map((r) => r.tr) : [emptyRow]));
  }

  function addRow(rule) {
    const o = rule.outcome;
    const w = outcomeWords(o);
    const d = splitDelay(rule.delay_seconds);
    const action = h('select', { 'aria-label': `Action after ${w}`, disabled: dis },
      h('option', { value: 'retry', selected: rule.action === 'retry' }, 'Try again'),
      h('option', { value: 'close', selected: rule.action === 'close' }, 'Close the contact'));
    const delay = h('input', { type: 'number', min: 0, value: d.n, class: 'short', 'aria-label': `Wait after ${w}`, disabled: dis });
    const unit = h('select', { 'aria-label': `Wait unit after ${w}`, disabled: dis },
      UNITS.map(([n, nm]) => h('option', { value: n, selected: n === d.unit }, nm)));
    const most = h('input', { type: 'number', min: 1, max: 1000, value: rule.max_attempts ?? 1, class: 'short', 'aria-label': `Most attempts ending ${w}`, disabled: dis });
    const next = h('input', { type: 'checkbox', checked: !!rule.next_phone, 'aria-label': `Next number after ${w}`, disabled: dis });
    const sw = h('select', { 'aria-label': `Switch channel after ${w}`, disabled: dis },
      h('option', { value: '', selected: !rule.switch_channel }, 'No switch'),
      h('option', { value: 'sms', selected: rule.switch_channel === 'sms' }, 'Switch to texts'),
      h('option', { value: 'voice', selected: rule.switch_channel === 'voice' }, 'Switch to calls'));
    const after = h('input', { type: 'number', min: 1, max: 1000, value: rule.switch_after ?? 1, class: 'short', 'aria-label': `Switch after how many ${w}`, disabled: dis });
    const row = { outcome: o, action, delay, unit, most, next, sw, after };
    const retryOnly = [delay, unit, most, next, sw, after];
    const syncRetry = () => {
      const close = action.value === 'close';
      retryOnly.forEach((c) => {
        c.disabled = dis || close;
      });
      after.disabled = dis || close || !sw.value;
    };
    action.addEventListener('change', syncRetry);
    sw.addEventListener('change', syncRetry);
    syncRetry();
    const rm = editable ? button('Remove', () => {
      rows.splice(rows.indexOf(row), 1);
      markDirty();
      refreshAddSelect();
      addSel.focus();
    }, { attrs: { 'aria-label': `Remove the rule for ${w}` } }) : null;
    row.tr = h('tr', { 'data-outcome': o },
      h('th', { scope: 'row' }, w),
      h('td', null, action),
      h('td', { class: 'nowrap' }, delay, ' ', unit),
      h('td', null, most),
      h('td', { class: 'center' }, next),
      h('td', null, sw),
      h('td', null, after),
      editable ? h('td', null, rm) : null);
    rows.push(row);
  }
  [...strategy.rules].sort((a, b) => OUTCOMES.indexOf(a.outcome) - OUTCOMES.indexOf(b.outcome)).forEach(addRow);
  refreshAddSelect();

  const addBtn = editable ? button('Add outcome', () => {
    if (!addSel.value) return;
    addRow({ outcome: addSel.value, action: 'retry', delay_seconds: 3600, max_attempts: 3 });
    markDirty();
    refreshAddSelect();
    const last = rows[rows.length - 1];
    last.action.focus();
  }) : null;

  const head = h('thead', null, h('tr', null,
    h('th', { scope: 'col' }, 'Outcome'),
    h('th', { scope: 'col' }, 'Then'),
    h('th', { scope: 'col' }, 'Wait before the next attempt'),
    h('th', { scope: 'col' }, 'Most attempts with this outcome'),
    h('th', { scope: 'col' }, 'Next number'),
    h('th', { scope: 'col' }, 'Switch channel'),
    h('th', { scope: 'col' }, 'Switch after how many'),
    editable ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Remove')) : null));
  const rulesTable = h('table', { class: 'data strategy-rules' },
    h('caption', null, 'What happens after each outcome'), head, tbody);

  function collect() {
    const num = (el) => (el.value === '' ? null : Number(el.value));
    return {
      name: name.value.trim(),
      description: desc.value.trim() || null,
      max_attempts: num(maxAll),
      max_attempts_per_day: num(maxDay),
      max_voice_attempts: num(maxVoice),
      max_sms_attempts: num(maxSms),
      rules: rows.map((r) => {
        const rule = { outcome: r.outcome, action: r.action.value, max_attempts: Number(r.most.value) || 1 };
        if (r.action.value === 'retry') {
          rule.delay_seconds = Math.round((Number(r.delay.value) || 0) * Number(r.unit.value));
          rule.next_phone = r.next.checked;
          rule.switch_channel = r.sw.value || null;
          if (r.sw.value) rule.switch_after = Number(r.after.value) || 1;
        }
        return rule;
      }),
    };
  }

  async function save() {
    formError.replaceChildren();
    const body = collect();
    if (!body.name) {
      formError.appendChild(errorBox({ field: 'Name', detail: 'Give the strategy a name.' }));
      name.focus();
      return;
    }
    try {
      const saved = id
        ? await api('PUT', `/api/v1/strategies/${encodeURIComponent(id)}`, body)
        : await api('POST', '/api/v1/strategies', body);
      dirty = false;
      strategy = saved;
      const h1 = view.querySelector('h1');
      if (h1 && id) h1.textContent = `Strategy: ${saved.name}`;
      notify(`Strategy "${saved.name}" saved.`);
      formError.replaceChildren(h('p', { class: 'ok' }, `Saved ${fmtTime(saved.updated_at)}.`
        + (saved.campaigns ? ' Its campaigns follow the change from now on.' : '')));
      if (!id) ctx.go(`#/strategies/${saved.id}`);
    } catch (e) {
      formError.appendChild(errorBox(e));
    }
  }

  async function remove() {
    const ok = await confirmDialog({
      title: 'Delete this strategy?',
      message: `"${strategy.name}" will be deleted. A strategy a campaign uses cannot be deleted.`,
      confirm: 'Delete strategy', danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/strategies/${encodeURIComponent(id)}`);
      notify(`Strategy "${strategy.name}" deleted.`);
      ctx.go('#/strategies');
    } catch (e) {
      formError.replaceChildren(errorBox(e));
    }
  }

  const saveBtn = editable ? button(id ? 'Save changes' : 'Create strategy', null, { kind: 'primary', type: 'submit' }) : null;
  const form = h('form', {
    class: 'card stack', 'aria-label': 'Strategy',
    on: {
      submit: (e) => {
        e.preventDefault();
        if (saveBtn) busy(saveBtn, save);
      },
      input: markDirty,
      change: markDirty,
    },
  },
  h('div', { class: 'grid-2' },
    field('Name', name),
    field('Description', desc, 'Optional: what the strategy is for.')),
  h('div', { class: 'grid-3' },
    field('Attempts in all', maxAll, 'Most attempts a contact gets, whatever the outcomes.'),
    field('Attempts a day', maxDay, 'Most attempts on one day in the contact\'s own time.'),
    field('Most calls', maxVoice, 'Optional: calls before the contact closes. Empty: no limit.'),
    field('Most texts', maxSms, 'Optional: texts before the contact closes. Empty: no limit.')),
  h('div', { class: 'table-wrap' }, rulesTable),
  h('p', { class: 'muted' }, 'An outcome without a rule closes the contact with that outcome. '
    + '"Most attempts with this outcome" closes it once that many attempts ended so.'),
  editable ? h('div', { class: 'toolbar' }, field('Outcome to add', addSel), addBtn) : null,
  id ? h('p', { class: 'note' }, strategy.campaigns
    ? `${fmtNumber(strategy.campaigns)} campaign${strategy.campaigns === 1 ? ' uses' : 's use'} this strategy. `
      + 'A saved change applies to them at once, even while they run; nothing is paused.'
    : 'No campaign uses this strategy yet. When one does, a saved change applies to it at once.') : null,
  editable ? null : h('p', { class: 'muted' }, 'You can read this strategy; a supervisor can change it.'),
  formError,
  editable ? h('div', { class: 'actions' }, saveBtn) : null);
  view.appendChild(form);

  const loading = view.appendChild(h('p', { class: 'muted' }, 'Loading…'));
  loading.replaceWith(await dryRunPanel(ctx, () => ({ id, dirty, body: collect() })));
}

// ---- the dry run ----------------------------------------------------------

const MOVED_BY = {
  window: 'the calling window, the legal hours or a day off',
  rule: 'a contact rule',
  daily_cap: 'the limit of attempts a day',
  end: 'the campaign\'s end',
};

const DECISION_WHY = {
  retry: 'tries again',
  'retry on another channel': 'tries again on the other channel',
  'no rule for outcome': 'no rule for this outcome',
  'rule closes': 'the rule closes it',
  'max attempts reached': 'attempts in all reached',
  'SMS cap reached': 'most texts reached',
  'voice cap reached': 'most calls reached',
  'max attempts for outcome reached': 'most attempts with this outcome reached',
  'no further phone': 'no further number to try',
  'no calling time before campaign end': 'no calling time left before the campaign ends',
};

async function dryRunPanel(ctx, current) {
  const zoneList = h('datalist', { id: 'dry-zones' }, timeZones().map((z) => h('option', { value: z })));
  const zone = h('input', { type: 'text', list: 'dry-zones', value: localZone(), autocomplete: 'off', spellcheck: 'false' });
  const camp = h('select', null, h('option', { value: '' }, 'No campaign (only the legal hours apply)'));
  let campaigns = [];
  try {
    campaigns = await allCampaigns(api);
    for (const c of campaigns) camp.appendChild(h('option', { value: c.id }, `${c.name} (${c.state})`));
  } catch (e) {
    notify(`The campaigns could not be loaded: ${e.detail || e.message}`, 'error');
  }
  const phones = h('input', { type: 'number', min: 1, max: 10, value: 1, class: 'short' });
  const kind = h('select', null,
    h('option', { value: 'mobile' }, 'Mobile'),
    h('option', { value: 'fixed_line' }, 'Landline'),
    h('option', { value: 'fixed_line_or_mobile' }, 'Either (not known)'));
  const channel = h('select', null,
    h('option', { value: '' }, 'The campaign\'s (calls without one)'),
    h('option', { value: 'voice' }, 'Call'),
    h('option', { value: 'sms' }, 'Text'));
  const start = h('input', { type: 'datetime-local' });
  const outcomeSel = h('select', null, OUTCOMES.map((o) => h('option', { value: o }, outcomeWords(o))));
  const seq = [];
  const seqList = h('ol', { class: 'outcome-seq', 'aria-label': 'Outcomes assumed, in order' });
  const seqEmpty = h('p', { class: 'muted' }, 'No outcome yet: add the outcome of the first attempt, then of the next.');
  function drawSeq() {
    seqEmpty.hidden = seq.length > 0;
    seqList.replaceChildren(...seq.map((o, i) => h('li', null, `${outcomeWords(o)} `,
      button('Remove', () => {
        seq.splice(i, 1);
        drawSeq();
        outcomeSel.focus();
      }, { attrs: { 'aria-label': `Remove outcome ${i + 1}, ${outcomeWords(o)}` } }))));
  }
  drawSeq();
  const addOutcome = button('Add outcome to the sequence', () => {
    if (seq.length >= 100) return;
    seq.push(outcomeSel.value);
    drawSeq();
  });
  const errors = h('div', { 'aria-live': 'polite' });
  const result = h('div', { class: 'dry-result', 'aria-live': 'polite' });
  const runBtn = button('Run dry run', null, { kind: 'primary', type: 'submit' });

  async function run() {
    errors.replaceChildren();
    const z = zone.value.trim();
    if (!z && !camp.value) {
      errors.appendChild(errorBox({ field: 'Contact\'s time zone', detail: 'Pick a time zone, or a campaign.' }));
      zone.focus();
      return;
    }
    if (!seq.length) {
      errors.appendChild(errorBox({ field: 'Outcomes', detail: 'Add at least one outcome to the sequence.' }));
      outcomeSel.focus();
      return;
    }
    const body = { outcomes: [...seq], phones: Array(Number(phones.value) || 1).fill(kind.value) };
    if (z) body.time_zone = z;
    if (camp.value) body.campaign_id = Number(camp.value);
    if (channel.value) body.channel = channel.value;
    if (start.value) {
      const c = campaigns.find((x) => String(x.id) === camp.value);
      const at = zonedToRfc3339(start.value, z || (c && c.time_zone) || 'UTC');
      if (!at) {
        errors.appendChild(errorBox({ field: 'Due from', detail: `"${z}" is not a time zone the browser knows.` }));
        zone.focus();
        return;
      }
      body.start_at = at;
    }
    const cur = current();
    let answer;
    let note;
    try {
      if (cur.id && !cur.dirty) {
        answer = await api('POST', `/api/v1/strategies/${encodeURIComponent(cur.id)}/dry-run`, body);
        note = 'With the strategy as saved.';
      } else {
        body.strategy = { ...cur.body, name: cur.body.name || 'Unsaved strategy' };
        answer = await api('POST', '/api/v1/strategies/dry-run', body);
        note = 'With the table as edited above (not saved yet).';
      }
    } catch (e) {
      errors.appendChild(errorBox(e));
      return;
    }
    result.replaceChildren(...showDryRun(answer, note));
    result.querySelector('h3')?.focus();
  }

  return h('section', { class: 'card stack dry-run', 'aria-labelledby': 'dry-title' },
    h('h2', { id: 'dry-title' }, 'Dry run'),
    h('p', { class: 'muted' }, 'See when a sample contact would be tried, for outcomes you choose. '
      + 'The server works it out with the same code the campaigns run; nothing is called or changed.'),
    submitForm({ class: 'stack', 'aria-label': 'Dry run' }, runBtn, run,
    h('div', { class: 'grid-3' },
      field('Contact\'s time zone', zone, 'Type to search, e.g. Australia/Sydney. Empty with a campaign: the campaign\'s.'),
      field('Campaign', camp, 'Optional: its calling window, contact rules and end apply.'),
      field('Due from (contact\'s time)', start, 'Empty: now.'),
      field('Numbers the contact has', phones),
      field('Kind of numbers', kind),
      field('First attempt by', channel)),
    zoneList,
    h('fieldset', { class: 'stack' },
      h('legend', null, 'Outcomes assumed, in order'),
      seqEmpty, seqList,
      h('div', { class: 'toolbar' }, field('Outcome', outcomeSel), addOutcome)),
    errors,
    h('div', { class: 'actions' }, runBtn)),
    result);
}

/** The server's words with each UTC instant in them shown in `zone`. */
function timesIn(text, zone) {
  return String(text || '').replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, (iso) => fmtTime(iso, zone));
}

function movedWords(m, zone) {
  if (!m) return '';
  const rule = m.rule_id ? ` (rule ${m.rule_id})` : '';
  if (!m.why) return `Moved later by ${MOVED_BY[m.by] || m.by}${rule}.`;
  return `Moved later${rule}: ${timesIn(m.why, zone)}.`;
}

function showDryRun(a, note) {
  const zone = a.time_zone;
  const out = [h('h3', { tabindex: '-1' }, 'Projected attempts'), h('p', { class: 'muted' }, note,
    ` Contact's zone: ${zone}; your zone: ${localZone()}.`)];
  if (a.first_attempt && a.first_attempt.moved) {
    out.push(h('p', null, `First attempt asked for ${fmtTime(a.first_attempt.asked_at, zone)}. `,
      movedWords(a.first_attempt.moved, zone)));
  }
  if (!a.dispatched) {
    out.push(h('p', { class: 'error', role: 'alert' },
      'The contact could not be tried at all before the campaign ends.'));
    return out;
  }
  out.push(table([
    { title: 'Attempt', value: (s) => fmtNumber(s.attempt), class: 'num' },
    { title: 'By', value: (s) => (s.channel === 'sms' ? 'Text' : 'Call') },
    { title: 'Number', value: (s) => `Number ${s.phone_index + 1}` },
    { title: 'Contact\'s time', value: (s) => h('span', { class: 'when-contact' }, fmtTime(s.at, s.time_zone || zone)) },
    { title: 'Your time', value: (s) => h('span', { class: 'when-you' }, fmtTime(s.at)) },
    { title: 'Outcome assumed', value: (s) => outcomeWords(s.outcome) },
    { title: 'Then', value: (s) => decisionWords(s.decision, zone, s === a.attempts[a.attempts.length - 1]) },
    { title: 'Why this time', value: (s) => movedWords(s.moved, zone) || 'When due' },
  ], a.attempts, { caption: 'Projected attempts', hideCaption: true, empty: 'No attempt.' }));
  if (a.outcomes_unused) {
    out.push(h('p', { class: 'muted' },
      `${fmtNumber(a.outcomes_unused)} outcome${a.outcomes_unused === 1 ? ' was' : 's were'} not used: the contact closed first.`));
  }
  return out;
}

/** The decision after an attempt; `last`: no attempt row follows, so why its
 *  time moved is said here (else the next row's "Why this time" says it). */
function decisionWords(d, zone, last) {
  if (!d) return '';
  const why = DECISION_WHY[d.reason] || d.reason;
  if (d.action === 'close') {
    return h('span', null, badge('Closes', 'stopped'), ` with "${outcomeWords(d.outcome)}": ${why}.`,
      d.channel_note ? ` ${d.channel_note}` : '');
  }
  const parts = [badge('Tries again', 'active'), ` ${fmtTime(d.at, d.time_zone || zone)}`];
  if (d.switched) parts.push(` by ${channelWords(d.channel).toLowerCase()}`);
  if (d.moved && last) parts.push(h('br'), h('small', null, movedWords(d.moved, zone)));
  if (d.channel_note) parts.push(h('br'), h('small', null, d.channel_note));
  return h('span', null, parts);
}

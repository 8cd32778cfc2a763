// #/campaigns/N: one campaign: what it is, live counts by state and by
// outcome, a chart of outcomes over time, the state buttons (Activate,
// Pause, Resume, Stop), exports, re-opening finished contacts (recycle) and
// its schedule, its rule sets and days off, and its uploads.
import { api, can, ApiError } from './api.js';
import {
  h, pageTitle, table, fmtNumber, fmtTime, poll, errorBox, ensureCss, button, busy, notify,
  confirmDialog, field, badge, uid,
} from './ui.js';
import {
  CHANNELS, CISCO_KINDS, CONTACT_STATES, stateBadge, progressOf, outcomeLabel, windowText, OUTCOMES,
} from './campaign-words.js';
import { outcomeChart } from './campaign-chart.js';

const UPLOAD_STATES = {
  running: ['Loading', 'active'],
  done: ['Done', 'ok'],
  failed: ['Failed', 'bad'],
  interrupted: ['Interrupted, can be resumed', 'warn'],
};

/* "Thu 3 Dec 2026, 09:00 CET (09:00 EST campaign time)" or "Not set". */
function timeBoth(iso, zone) {
  if (!iso) return 'Not set';
  const local = fmtTime(iso);
  const there = fmtTime(iso, zone);
  return local === there ? local : `${local} (${there}, campaign time)`;
}

/* A <dl> from [term, value] pairs (null values are left out). */
function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.filter(p => p[1] != null).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/* The buttons a state allows, for a supervisor or admin. */
function stateButtons(c, act) {
  if (!can('supervisor')) return [];
  const out = [];
  if (c.state === 'draft') out.push(button('Activate', e => act(e.currentTarget, 'activate'), { kind: 'primary' }));
  if (c.state === 'active') out.push(button('Pause', e => act(e.currentTarget, 'pause')));
  if (c.state === 'paused') out.push(button('Resume', e => act(e.currentTarget, 'resume'), { kind: 'primary' }));
  if (c.state === 'active' || c.state === 'paused') {
    out.push(button('Stop', e => act(e.currentTarget, 'stop'), { kind: 'danger' }));
  }
  return out;
}

const DONE_WORDS = {
  activate: 'Campaign activated: contacts are being called or texted.',
  pause: 'Campaign paused: nobody new is called or texted until you resume it.',
  resume: 'Campaign resumed.',
  stop: 'Campaign stopped.',
};

export async function render(view, ctx) {
  ensureCss('campaign.css');
  const id = ctx.params[0];
  let c = await api('GET', `/api/v1/campaigns/${id}`);
  const head = pageTitle(view, c.name);
  const actions = head.querySelector('.actions');
  const actionProblem = h('div', { 'aria-live': 'assertive' });
  const summary = h('section', { class: 'card', 'aria-labelledby': 'camp-summary-h' });
  const progress = h('section', { class: 'card', 'aria-labelledby': 'camp-progress-h' });
  const chartBox = h('div', {});
  const uploads = h('div', {});
  view.append(actionProblem);

  const act = (btn, what) => busy(btn, async () => {
    actionProblem.replaceChildren();
    if (what === 'stop') {
      const yes = await confirmDialog({
        title: `Stop “${c.name}”?`,
        message: 'Stopping ends this campaign for good: none of its contacts will be called or '
          + 'texted again, and this cannot be undone. To stop for a while, use Pause instead.',
        confirm: 'Stop campaign',
        danger: true,
      });
      if (!yes) return;
    }
    try {
      c = await api('POST', `/api/v1/campaigns/${id}/${what}`);
      notify(DONE_WORDS[what]);
      draw();
    } catch (e) {
      actionProblem.replaceChildren(errorBox(e));
    }
  });

  // Exports are plain links: the browser streams the file to disk however
  // big the campaign (the session cookie goes with the request).
  const exportLink = (label, file) => h('a', {
    class: 'btn', href: `/api/v1/campaigns/${id}/${file}`, download: `campaign-${id}-${file}`,
  }, label);
  const exports = [exportLink('Download contacts (CSV)', 'contacts.csv'),
    exportLink('Download attempts (CSV)', 'attempts.csv')];

  function drawActions() {
    const links = [];
    if (can('supervisor') && !['stopped', 'completed', 'expired'].includes(c.state)) {
      links.push(h('a', { class: 'btn', href: `#/campaigns/${id}/edit` }, 'Edit'));
    }
    if (can('supervisor') && !['stopped', 'expired'].includes(c.state)) {
      links.push(h('a', { class: 'btn', href: `#/campaigns/${id}/upload` }, 'Upload contacts'));
    }
    const active = document.activeElement;
    const focusedLabel = actions.contains(active) ? active.textContent : null;
    actions.replaceChildren(...stateButtons(c, act), ...links);
    if (focusedLabel) {
      const again = [...actions.children].find(el => el.textContent === focusedLabel);
      (again || actions.querySelector('button, a') || view).focus();
    }
  }

  function drawSummary() {
    const cisco = c.cisco
      ? `${CISCO_KINDS[c.cisco.kind] || c.cisco.kind}, campaign ${c.cisco.campaign_id}`
        + (c.cisco.import_table ? `, import table ${c.cisco.import_table}` : '')
      : null;
    summary.replaceChildren(
      h('h2', { id: 'camp-summary-h' }, 'About this campaign'),
      facts([
        ['State', stateBadge(c.state)],
        ['Channel', CHANNELS[c.channel] || c.channel],
        ['Strategy', c.strategy_id ? h('a', { href: `#/strategies/${c.strategy_id}` }, c.strategy) : c.strategy],
        ['Cisco target', cisco],
        ['Phone numbers read as', c.region],
        ['Time zone', `${c.time_zone} (for contacts without their own)`],
        ['Starts', timeBoth(c.start_at, c.time_zone)],
        ['Ends', timeBoth(c.end_at, c.time_zone)],
        ['Calling window', `${windowText(c.call_window)} (each contact's own time)`],
        ['Text message', c.sms && c.sms.template ? c.sms.template : null],
        ['Created', fmtTime(c.created_at)],
      ]));
  }

  function drawProgress(stats) {
    const n = c.counts;
    const byState = table(
      [{ title: 'Contacts', value: s => s[1] }, { title: 'How many', value: s => fmtNumber(n.by_state[s[0]]), class: 'num' }],
      CONTACT_STATES, { caption: 'Contacts by state' });
    const outcomes = [...new Set([...Object.keys(n.by_outcome), ...Object.keys(n.attempts_by_outcome)])]
      .sort((a, b) => (n.attempts_by_outcome[b] || 0) - (n.attempts_by_outcome[a] || 0));
    const byOutcome = table(
      [{ title: 'Outcome', value: o => outcomeLabel(o) },
        { title: 'Finished contacts', value: o => fmtNumber(n.by_outcome[o] || 0), class: 'num' },
        { title: 'Attempts', value: o => fmtNumber(n.attempts_by_outcome[o] || 0), class: 'num' }],
      outcomes, { caption: 'By outcome', empty: 'No results yet.' });
    const rate = stats ? stats.rates : null;
    progress.replaceChildren(
      h('h2', { id: 'camp-progress-h' }, 'Progress'),
      progressOf(n),
      facts([
        ['Contacts', fmtNumber(n.contacts)],
        ['Finished', fmtNumber(n.by_state.closed)],
        ['Attempts', fmtNumber(n.attempts)],
        ['Attempts in the last minute', rate ? fmtNumber(rate.attempts_last_minute) : '—'],
        ['Results in the last 5 minutes', rate ? fmtNumber(rate.results_last_5_minutes) : '—'],
      ]),
      h('div', { class: 'grid-2' }, byState, byOutcome));
  }

  // The chart's period: last hour by minute, or last 2 days by hour.
  const period = h('select', { on: { change: () => refresh() } },
    h('option', { value: 'minute' }, 'Last hour, per minute'),
    h('option', { value: 'hour' }, 'Last 2 days, per hour'));
  const chartCard = h('section', { class: 'card', 'aria-labelledby': 'camp-chart-h' },
    h('h2', { id: 'camp-chart-h' }, 'Outcomes over time'),
    h('div', { class: 'toolbar' }, field('Period', period)), chartBox);

  async function drawUploads() {
    const page = await api('GET', `/api/v1/uploads?campaign_id=${id}&kind=contacts&limit=50`);
    uploads.replaceChildren(table([
      { title: 'Upload', value: u => h('a', { href: `#/uploads/${u.id}` }, `Report of upload ${u.id}`) },
      { title: 'Started', value: u => fmtTime(u.created_at) },
      { title: 'State', value: u => badge(...(UPLOAD_STATES[u.state] || [u.state, 'plain'])) },
      { title: 'Loaded', value: u => fmtNumber(u.rows_loaded), class: 'num' },
      { title: 'Not loaded', value: u => fmtNumber(u.rows_rejected + u.rows_duplicate), class: 'num' },
      { title: 'On a do-not-contact list', value: u => fmtNumber(u.rows_dnc), class: 'num' },
    ], page.items, {
      caption: 'Contact files uploaded',
      empty: can('supervisor') ? 'No contacts uploaded yet: use “Upload contacts” above.'
        : 'No contacts uploaded yet.',
    }));
  }

  let drawnState = null;
  let drawnOutcomes = null;
  let lastStats = null;
  function draw(stats = lastStats) {
    lastStats = stats;
    const outcomes = Object.keys(c.counts.by_outcome).sort().join();
    if (drawnState !== c.state) drawActions();
    if (drawnState !== c.state || drawnOutcomes !== outcomes) recycle.update();
    drawnState = c.state;
    drawnOutcomes = outcomes;
    drawSummary();
    drawProgress(stats);
  }

  async function refresh() {
    const q = period.value === 'hour' ? 'bucket=hour&hours=48' : 'bucket=minute&minutes=60';
    const [camp, stats] = await Promise.all([
      api('GET', `/api/v1/campaigns/${id}`),
      api('GET', `/api/v1/campaigns/${id}/stats?${q}`),
    ]);
    c = camp;
    draw(stats);
    chartBox.replaceChildren(outcomeChart(stats));
  }

  const recycle = recycleSection(id, () => c, async () => {
    c = await api('GET', `/api/v1/campaigns/${id}`);
    draw();
  });

  view.append(
    h('div', { class: 'grid-2' }, summary, progress),
    chartCard,
    recycle.node,
    rulesSection(c),
    h('section', { class: 'card', 'aria-labelledby': 'camp-uploads-h' },
      h('h2', { id: 'camp-uploads-h' }, 'Uploads'), uploads),
    h('section', { class: 'card', 'aria-labelledby': 'camp-export-h' },
      h('h2', { id: 'camp-export-h' }, 'Export'),
      h('p', { class: 'muted' }, 'Every contact or every attempt of this campaign as a spreadsheet file (CSV).'),
      h('div', { class: 'actions' }, exports)));
  draw();
  poll(ctx, refresh, 3000);
  poll(ctx, drawUploads, 5000);
}

/* Rule sets and days off, as picked in the form. */
function rulesSection(c) {
  return h('section', { class: 'card', 'aria-labelledby': 'camp-rules-h' },
    h('h2', { id: 'camp-rules-h' }, 'Contact rules and days off'),
    h('div', { class: 'grid-2' },
      h('div', {}, h('h3', {}, 'Rule sets'),
        c.rule_sets.length
          ? h('ul', {}, c.rule_sets.map(r => h('li', {}, h('a', { href: `#/rules?set=${r.id}` }, r.name))))
          : h('p', { class: 'muted' }, 'No rule set picked: only the legal hours apply.')),
      h('div', {}, h('h3', {}, 'Days off (no contact at all)'),
        c.blackout_dates.length
          ? h('ul', {}, c.blackout_dates.map(d => h('li', {},
            new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })
              .format(new Date(`${d.date}T00:00:00Z`)),
            d.reason ? ` — ${d.reason}` : '')))
          : h('p', { class: 'muted' }, 'None.'))));
}

/* "1 contact", "1,234 contacts". */
function contactsText(n, before = '') {
  return `${fmtNumber(n)} ${before}${n === 1 ? 'contact' : 'contacts'}`;
}

const AGE_UNITS = [['m', 'minutes'], ['h', 'hours'], ['d', 'days']];
const AGE_WORDS = { s: 'second', m: 'minute', h: 'hour', d: 'day' };

/* "3d" → "3 days". */
function ageWords(age) {
  const m = /^([0-9]+)([smhd])$/.exec(age || '');
  if (!m) return age;
  const n = Number(m[1]);
  return `${fmtNumber(n)} ${AGE_WORDS[m[2]]}${n === 1 ? '' : 's'}`;
}

/* The recycle card: pick outcomes and a minimum age, count, then re-open;
 * the schedule that does the same by itself. getC() gives the campaign as
 * last read; changed() is called after a run. Returns {node, update}. */
function recycleSection(id, getC, changed) {
  const node = h('section', { class: 'card', 'aria-labelledby': 'camp-recycle-h' });
  const ageN = h('input', { type: 'number', min: '0', step: '1', value: '1', inputmode: 'numeric', class: 'short' });
  const ageUnit = h('select', {}, AGE_UNITS.map(([v, l]) => h('option', { value: v, selected: v === 'd' }, l)));
  const rounds = h('input', { type: 'number', min: '1', max: '1000', step: '1', class: 'short' });
  const boxes = h('fieldset', { class: 'checks' });
  const answer = h('div', { 'aria-live': 'polite' });
  const problem = h('div', {});
  const schedule = h('div', {});
  let counted = null;

  const chosen = () => [...boxes.querySelectorAll('input:checked')].map(b => b.value);
  const request = dry => {
    const body = { outcomes: chosen(), older_than: `${ageN.value || 0}${ageUnit.value}`, dry_run: dry };
    if (rounds.value) body.max_rounds = Number(rounds.value);
    return body;
  };
  const stale = () => {
    counted = null;
    answer.replaceChildren();
  };
  for (const el of [ageN, ageUnit, rounds]) el.addEventListener('input', stale);
  boxes.addEventListener('change', stale);

  const check = () => {
    if (!chosen().length) throw new Error('Pick at least one outcome to re-open.');
    if (!/^[0-9]+$/.test(ageN.value)) throw new Error('The age is a whole number (0 or more).');
  };

  const countBtn = button('Count', e => busy(e.currentTarget, async () => {
    problem.replaceChildren();
    answer.replaceChildren();
    try {
      check();
      const r = await api('POST', `/api/v1/campaigns/${id}/recycle`, request(true));
      counted = r;
      const reopen = button(`Re-open ${contactsText(r.contacts)}`, ev => busy(ev.currentTarget, runIt),
        { kind: 'primary' });
      answer.replaceChildren(h('p', {}, r.contacts === 0
        ? 'No finished contact matches these choices: nothing would be re-opened.'
        : `${contactsText(r.contacts, 'finished ')} would be re-opened (`
          + Object.entries(r.by_outcome).filter(([, n]) => n).map(([o, n]) => `${outcomeLabel(o)}: ${fmtNumber(n)}`).join(', ')
          + ').'), r.contacts > 0 ? reopen : null);
    } catch (err) {
      problem.replaceChildren(errorBox(err));
    }
  }));

  async function runIt() {
    if (!counted) return;
    const yes = await confirmDialog({
      title: `Re-open ${contactsText(counted.contacts)}?`,
      message: 'They will be called or texted again under the campaign’s strategy, within its '
        + 'calling window and rules. Their history is kept.',
      confirm: `Re-open ${contactsText(counted.contacts)}`,
    });
    if (!yes) return;
    try {
      const r = await api('POST', `/api/v1/campaigns/${id}/recycle`, request(false));
      answer.replaceChildren(h('p', {}, `${contactsText(r.contacts)} re-opened.`));
      notify(`${contactsText(r.contacts)} re-opened.`);
      counted = null;
      await changed();
    } catch (err) {
      problem.replaceChildren(errorBox(err));
    }
  }

  async function drawSchedule() {
    let s = null;
    try {
      s = await api('GET', `/api/v1/campaigns/${id}/recycle-schedule`);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) {
        schedule.replaceChildren(errorBox(e));
        return;
      }
    }
    const parts = [h('h3', {}, 'Automatic re-opening')];
    const schedProblem = h('div', {});
    if (!s) {
      parts.push(h('p', { class: 'muted' }, 'None set: contacts are only re-opened when you do it here.'));
    } else {
      parts.push(h('p', { class: 'recycle-schedule' }, `${s.enabled ? 'On' : 'Off'}: re-opens contacts that finished with `
        + `${s.outcomes.map(outcomeLabel).join(', ')} at least ${ageWords(s.older_than)} ago`
        + `${s.max_rounds ? `, at most ${s.max_rounds} times each` : ''}. `
        + `Last run: ${s.last_run_at ? fmtTime(s.last_run_at) : 'not yet'}.`));
    }
    const choosing = !!boxes.querySelector('input') && !['draft', 'stopped', 'expired'].includes(getC().state);
    if (can('supervisor') && (choosing || s)) {
      const save = !choosing ? null : button('Use the choices above as the automatic schedule', e => busy(e.currentTarget, async () => {
        schedProblem.replaceChildren();
        try {
          check();
          const body = request(false);
          delete body.dry_run;
          body.enabled = true;
          await api('PUT', `/api/v1/campaigns/${id}/recycle-schedule`, body);
          notify('Automatic re-opening saved.');
          await drawSchedule();
        } catch (err) {
          schedProblem.replaceChildren(errorBox(err));
        }
      }));
      const remove = s ? button('Remove the schedule', e => busy(e.currentTarget, async () => {
        try {
          await api('DELETE', `/api/v1/campaigns/${id}/recycle-schedule`);
          notify('Automatic re-opening removed.');
          await drawSchedule();
        } catch (err) {
          schedProblem.replaceChildren(errorBox(err));
        }
      })) : null;
      parts.push(h('div', { class: 'actions' }, save, remove), schedProblem);
    }
    schedule.replaceChildren(...parts);
  }

  function update() {
    const c = getC();
    const open = !['draft', 'stopped', 'expired'].includes(c.state);
    const kinds = Object.keys(OUTCOMES).filter(o => o !== 'DNC');
    const have = c.counts.by_outcome;
    const before = new Set(chosen());
    boxes.replaceChildren(h('legend', {}, 'Outcomes to re-open'),
      ...kinds.filter(o => have[o]).map(o => {
        const box = h('input', { type: 'checkbox', value: o, id: uid('rc'), checked: before.has(o) });
        return h('div', { class: 'field field-inline' }, box,
          h('label', { for: box.id }, outcomeLabel(o)));
      }));
    const parts = [h('h2', { id: 'camp-recycle-h' }, 'Re-open finished contacts')];
    if (!can('supervisor')) {
      parts.push(h('p', { class: 'muted' }, 'A supervisor can re-open finished contacts here.'));
    } else if (!open) {
      parts.push(h('p', { class: 'muted' }, c.state === 'draft'
        ? 'A draft campaign has no finished contacts yet.'
        : 'This campaign has ended: its contacts cannot be re-opened.'));
    } else if (!boxes.querySelector('input')) {
      parts.push(h('p', { class: 'muted' }, 'No finished contacts yet (contacts on a do-not-contact list are never re-opened).'));
    } else {
      parts.push(h('p', { class: 'muted' }, 'Pick which outcomes and how long ago they finished, '
        + 'see how many that is, then re-open them. Contacts on a do-not-contact list are never re-opened.'),
      boxes,
      h('div', { class: 'toolbar' },
        field('Finished at least', ageN), field('Unit', ageUnit),
        field('Re-opened fewer times than (optional)', rounds), countBtn),
      problem, answer);
    }
    parts.push(schedule);
    node.replaceChildren(...parts);
    drawSchedule();
  }

  return { node, update };
}

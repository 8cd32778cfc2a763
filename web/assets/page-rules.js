// #/rules: the contact rule sets (shipped and the customer's own), each rule
// in plain words, and the campaigns that picked each set.
import { api } from './api.js';
import { h, table, pageTitle, fmtNumber, fmtTime, errorBox, badge, ensureCss, notify } from './ui.js';
import { outcomeWords, channelWords, durationWords, allCampaigns } from './more-words.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const KIND = { hours: 'Calling hours', day_off: 'Day off', days_off: 'Days off', cap: 'Limit', quiet: 'Quiet period' };
const SCOPE = {
  contact: 'counting the contact\'s own attempts',
  subject: 'counting every attempt about the same subject (any campaign)',
  phone: 'counting every attempt to the same number (any campaign)',
};

export async function render(view, ctx) {
  ensureCss('page-rules.css');
  pageTitle(view, 'Contact rules');
  view.appendChild(h('p', { class: 'muted' },
    'Rule sets say when and how often people may be contacted where they live. A campaign follows the sets '
    + 'it picks (on its edit page), on top of its own calling window and the legal hours. The shipped sets are '
    + 'a starting point for your compliance officer, not legal advice.'));
  let sets;
  let campaigns = [];
  try {
    sets = await allSets();
  } catch (e) {
    view.appendChild(errorBox(e));
    return;
  }
  try {
    campaigns = await allCampaigns(api);
  } catch (e) {
    notify(`The campaigns could not be loaded: ${e.detail || e.message}`, 'error');
  }
  if (!sets.length) {
    view.appendChild(h('p', null, 'There is no rule set yet. An administrator can add one through the API.'));
    return;
  }
  const usedBy = (setId) => campaigns.filter((c) => (c.rule_sets || []).some((r) => r.id === setId));

  // A summary first, each name a link to its set below.
  view.appendChild(table([
    { title: 'Rule set', value: (s) => h('a', { href: `#/rules?set=${s.id}`, on: { click: (e) => jump(e, s.id) } }, s.name) },
    { title: 'Where', value: (s) => whereWords(s.jurisdiction) },
    { title: 'Rules', value: (s) => fmtNumber(s.rule_count), class: 'num' },
    { title: 'Campaigns using it', value: (s) => fmtNumber(s.campaigns), class: 'num' },
    { title: 'Origin', value: (s) => (s.shipped ? badge('Shipped with ECM', 'completed') : badge('Your own', 'ok')) },
  ], sets, { caption: 'Rule sets' }));

  const loading = view.appendChild(h('p', { class: 'muted' }, 'Loading…'));
  const details = await Promise.all(sets.map((s) => api('GET', `/api/v1/rule-sets/${s.id}`).catch((e) => ({ ...s, error: e }))));
  loading.remove();
  for (const s of details) view.appendChild(setCard(s, usedBy(s.id)));
  const want = ctx.query.get('set');
  if (want) document.getElementById(`set-${want}`)?.scrollIntoView();
}

function jump(e, id) {
  e.preventDefault();
  const el = document.getElementById(`set-${id}`);
  if (el) {
    el.scrollIntoView();
    el.querySelector('h2')?.focus();
  }
}

async function allSets() {
  const out = [];
  let cursor = null;
  do {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await api('GET', `/api/v1/rule-sets?limit=200${q}`);
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < 2000);
  return out;
}

function whereWords(j) {
  if (j === '*') return 'Everywhere';
  return j;
}

function setCard(s, used) {
  const titleId = `set-title-${s.id}`;
  const parts = [
    h('h2', { id: titleId, tabindex: '-1' }, s.name, ' ',
      s.shipped ? badge('Shipped with ECM', 'completed') : badge('Your own', 'ok')),
    h('p', null, h('strong', null, 'Where: '), whereWords(s.jurisdiction),
      h('span', { class: 'muted' }, ` · last changed ${fmtTime(s.updated_at)}`)),
    s.description ? h('p', null, s.description) : null,
  ];
  if (s.error) {
    parts.push(errorBox(s.error));
  } else {
    parts.push(table([
      { title: 'Kind', value: (r) => KIND[r.kind] || r.kind },
      { title: 'What it means', value: (r) => ruleWords(r) },
      { title: 'For', value: (r) => channelWords(r.channel) },
      { title: 'In the set\'s words', value: (r) => r.says },
      { title: 'Source', value: (r) => [r.source || '', r.checked_on ? h('small', { class: 'muted' }, ` (checked ${r.checked_on})`) : null] },
    ], groupDaysOff(s.rules), { caption: `The rules of ${s.name}`, hideCaption: true, empty: 'This set has no rules.' }));
  }
  parts.push(h('p', null, h('strong', null, 'Campaigns using it: '),
    used.length ? used.map((c, i) => [i ? ', ' : '', h('a', { href: `#/campaigns/${c.id}` }, c.name)])
      : 'none yet. A campaign picks its rule sets on its edit page.'));
  return h('section', { class: 'card rule-set', id: `set-${s.id}`, 'aria-labelledby': titleId }, parts);
}

/** The rules with every day off of one channel folded into one row (a
 *  holiday set has dozens), in the place of the first. */
function groupDaysOff(rules) {
  const out = [];
  const byChannel = new Map();
  for (const r of rules) {
    if (r.kind !== 'day_off') {
      out.push(r);
      continue;
    }
    let g = byChannel.get(r.channel);
    if (!g) {
      g = { kind: 'days_off', channel: r.channel, days: [], says: [], source: r.source, checked_on: r.checked_on };
      byChannel.set(r.channel, g);
      out.push(g);
    }
    g.days.push(r.day);
    g.says.push(r.says);
  }
  for (const g of byChannel.values()) {
    if (g.days.length === 1) {
      Object.assign(g, { kind: 'day_off', day: g.days[0], says: g.says[0] });
    } else {
      g.says = h('details', null, h('summary', null, `${fmtNumber(g.days.length)} days, each with its own note`),
        h('ul', null, g.says.map((x) => h('li', null, x))));
    }
  }
  return out;
}

function dayWords(day) {
  const d = new Date(`${day}T12:00:00Z`);
  if (Number.isNaN(d.getTime())) return day;
  return new Intl.DateTimeFormat('en-GB', {
    weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC',
  }).format(d);
}

/** One rule in plain words, from its data (not from its own `says`). */
export function ruleWords(r) {
  switch (r.kind) {
    case 'hours': {
      return `Allowed ${daysWords(r.wdays)}, ${r.start} to ${r.end} in the person's own time.`;
    }
    case 'day_off':
      return `No contact at all on ${dayWords(r.day)} (the person's own calendar day).`;
    case 'days_off':
      return `No contact at all on these days (the person's own calendar days): ${[...r.days].sort().map(dayWords).join('; ')}.`;
    case 'cap':
      return `At most ${fmtNumber(r.max_attempts)} attempt${r.max_attempts === 1 ? '' : 's'} in any ${durationWords(r.window_s)}, ${SCOPE[r.scope] || SCOPE.contact}.`;
    case 'quiet':
      return `After an attempt ending "${outcomeWords(r.after_outcome)}", no attempt for ${durationWords(r.quiet_s)}, ${SCOPE[r.scope] || SCOPE.contact}.`;
    default:
      return r.says || '';
  }
}

function daysWords(wdays) {
  const ds = [...(wdays || [])].sort((a, b) => a - b);
  if (ds.length === 7) return 'every day';
  if (ds.join() === '1,2,3,4,5') return 'Monday to Friday';
  if (ds.join() === '1,2,3,4,5,6') return 'Monday to Saturday';
  return `on ${ds.map((d) => DAYS[d]).join(', ')}`;
}

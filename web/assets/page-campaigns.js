// #/campaigns: every campaign with its state and live progress (contacts
// finished of all, attempts, attempts in the last minute), refreshed every
// 3 seconds without reloading the page.
import { api, can } from './api.js';
import { h, pageTitle, table, fmtNumber, poll, errorBox, ensureCss } from './ui.js';
import { CHANNELS, stateBadge, progressOf } from './campaign-words.js';

const MAX_PAGES = 20; // 4,000 campaigns at 200 a page; more is not a list to read

/* Every campaign, newest first, following next_cursor. Throws ApiError. */
async function allCampaigns() {
  const items = [];
  let cursor = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await api('GET', `/api/v1/campaigns?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/* Attempts in the last minute for the campaigns that run (others: 0).
 * A campaign whose figures cannot be read shows no rate, the rest still do. */
async function ratesOf(campaigns) {
  const rates = new Map();
  await Promise.all(campaigns.filter(c => c.state === 'active').map(async c => {
    try {
      const s = await api('GET', `/api/v1/campaigns/${c.id}/stats?bucket=minute&minutes=5`);
      rates.set(c.id, s.rates.attempts_last_minute);
    } catch {
      rates.set(c.id, null);
    }
  }));
  return rates;
}

export async function render(view, ctx) {
  ensureCss('campaign.css');
  pageTitle(view, 'Campaigns',
    can('supervisor') ? h('a', { class: 'btn btn-primary', href: '#/campaigns/new' }, 'New campaign')
      : null);
  const holder = h('div', { class: 'campaign-list' });
  const problem = h('div', {});
  view.append(problem, holder);
  let last = '';

  poll(ctx, async () => {
    let campaigns;
    try {
      campaigns = await allCampaigns();
    } catch (e) {
      problem.replaceChildren(errorBox(e));
      return;
    }
    problem.replaceChildren();
    const rates = await ratesOf(campaigns);
    const key = JSON.stringify([campaigns.map(c => [c.id, c.name, c.state, c.counts]),
      [...rates]]);
    if (key === last) return; // nothing changed: keep the table (and the focus) as it is
    last = key;
    if (!campaigns.length) {
      holder.replaceChildren(h('div', { class: 'card' },
        h('p', {}, 'There are no campaigns yet.'),
        can('supervisor')
          ? h('p', {}, h('a', { href: '#/campaigns/new' }, 'Create the first campaign'),
            ', then upload its contacts and activate it.')
          : h('p', { class: 'muted' }, 'A supervisor creates campaigns; they will show here.')));
      return;
    }
    const focusedId = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.campaignLink : null;
    const cols = [
      { title: 'Campaign', value: c => h('a', { href: `#/campaigns/${c.id}`,
        'data-campaign-link': String(c.id) }, c.name) },
      { title: 'State', value: c => stateBadge(c.state) },
      { title: 'Channel', value: c => CHANNELS[c.channel] || c.channel },
      { title: 'Progress', value: c => progressOf(c.counts), class: 'progress-col' },
      { title: 'Attempts', value: c => fmtNumber(c.counts.attempts), class: 'num' },
      { title: 'Attempts in the last minute', class: 'num', value: c => {
        if (c.state !== 'active') return h('span', { class: 'muted' }, '—');
        const r = rates.get(c.id);
        return r == null ? h('span', { class: 'muted' }, 'unknown') : fmtNumber(r);
      } },
    ];
    holder.replaceChildren(table(cols, campaigns, {
      caption: `${fmtNumber(campaigns.length)} ${campaigns.length === 1 ? 'campaign' : 'campaigns'}, newest first (updated every few seconds)`,
    }));
    if (focusedId) {
      const again = holder.querySelector(`[data-campaign-link="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
  }, 3000);
}

// The outcomes-over-time chart of a campaign page: an SVG drawn from
// GET /campaigns/{id}/stats (results per bucket stacked by outcome, attempts
// as a line), a legend, and the same figures as a table for screen readers
// and anyone who prefers numbers.
import { h, table, fmtNumber } from './ui.js';
import { OUTCOME_COLOURS, outcomeLabel } from './campaign-words.js';

const NS = 'http://www.w3.org/2000/svg';
const W = 720;
const H = 240;
const PAD = { left: 48, right: 12, top: 12, bottom: 36 };

/* An SVG element with attributes and children. */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) {
    if (c == null || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

/* "09:05" or "Thu 09:00" for a bucket start, in the browser's zone. */
function bucketLabel(iso, bucket) {
  const d = new Date(iso);
  const opts = bucket === 'hour'
    ? { weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false }
    : { hour: '2-digit', minute: '2-digit', hour12: false };
  return new Intl.DateTimeFormat(undefined, opts).format(d);
}

/* A round step for the y axis, so ticks read 0, 5, 10 or 0, 20, 40. */
function niceMax(v) {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/* Outcomes present in the series, most frequent first. */
function outcomesIn(items) {
  const total = {};
  for (const b of items) {
    for (const [k, n] of Object.entries(b.outcomes || {})) total[k] = (total[k] || 0) + n;
  }
  return Object.keys(total).sort((a, b) => total[b] - total[a]);
}

/* Returns a node: the chart, its legend and a <details> with the table.
 * stats is a CampaignStats answer. Can't fail on a well-formed answer; an
 * empty series gives a sentence instead of a chart. */
export function outcomeChart(stats) {
  const items = stats.series.items;
  const bucket = stats.series.bucket;
  const unit = bucket === 'hour' ? 'hour' : 'minute';
  const anything = items.some(b => b.attempts || b.results);
  if (!anything) {
    return h('p', { class: 'muted' },
      `No calls or texts in this period yet. The chart fills in once the campaign is active and `
      + `contacts are being reached.`);
  }
  const keys = outcomesIn(items);
  const max = niceMax(Math.max(1, ...items.map(b => Math.max(b.attempts, b.results))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / items.length;
  const y = v => PAD.top + plotH - (v / max) * plotH;
  const totalAttempts = items.reduce((a, b) => a + b.attempts, 0);
  const totalResults = items.reduce((a, b) => a + b.results, 0);
  const summary = `Chart of results per ${unit}: ${fmtNumber(totalAttempts)} attempts and `
    + `${fmtNumber(totalResults)} results over the period shown. `
    + `The table below gives the same figures.`;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary,
    class: 'chart-svg', preserveAspectRatio: 'none' });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    chart.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v),
      class: 'chart-grid' }));
    chart.append(svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end',
      class: 'chart-axis' }, fmtNumber(v)));
  }
  const labelEvery = Math.max(1, Math.ceil(items.length / 8));
  items.forEach((b, i) => {
    let base = 0;
    const x = PAD.left + i * step;
    const bw = Math.max(1, step * 0.8);
    for (const k of keys) {
      const n = (b.outcomes || {})[k] || 0;
      if (!n) continue;
      chart.append(svg('rect', { x: x + step * 0.1, y: y(base + n), width: bw,
        height: Math.max(0.5, y(base) - y(base + n)), fill: OUTCOME_COLOURS[k] || '#777' },
        svg('title', {}, `${bucketLabel(b.at, bucket)}: ${fmtNumber(n)} ${outcomeLabel(k)}`)));
      base += n;
    }
    if (i % labelEvery === 0) {
      chart.append(svg('text', { x: x + step / 2, y: H - PAD.bottom + 16, 'text-anchor': 'middle',
        class: 'chart-axis' }, bucketLabel(b.at, bucket)));
    }
  });
  const points = items.map((b, i) => `${PAD.left + i * step + step / 2},${y(b.attempts)}`);
  chart.append(svg('polyline', { points: points.join(' '), class: 'chart-attempts' }));

  const swatch = colour => {
    const s = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    s.style.backgroundColor = colour;
    return s;
  };
  const legend = h('ul', { class: 'chart-legend' },
    h('li', {}, h('span', { class: 'swatch swatch-line', 'aria-hidden': 'true' }),
      'Attempts (line)'),
    keys.map(k => h('li', {}, swatch(OUTCOME_COLOURS[k] || '#777'), outcomeLabel(k))));

  const rows = items.filter(b => b.attempts || b.results);
  const cols = [
    { title: bucket === 'hour' ? 'Hour starting' : 'Minute starting',
      value: b => bucketLabel(b.at, bucket) },
    { title: 'Attempts', value: b => fmtNumber(b.attempts), class: 'num' },
    { title: 'Results', value: b => fmtNumber(b.results), class: 'num' },
    ...keys.map(k => ({ title: outcomeLabel(k), value: b => fmtNumber((b.outcomes || {})[k] || 0),
      class: 'num' })),
  ];
  const details = h('details', { class: 'chart-table' },
    h('summary', {}, `Show the figures as a table (${fmtNumber(rows.length)} ${unit}${rows.length === 1 ? '' : 's'} with activity)`),
    table(cols, rows, { caption: `Attempts and results per ${unit}`, empty: 'No activity.' }));
  return h('div', { class: 'chart' }, h('div', { class: 'chart-frame' }, chart), legend, details);
}

// Plain words for the API's codes, and time helpers, shared by the
// strategies, rules, DNC, contacts and users pages.

/** Every outcome the API knows, in the order a supervisor meets them. */
export const OUTCOMES = [
  'CONNECTED', 'NO_ANSWER', 'BUSY', 'ANSWERING_MACHINE', 'FAX', 'INVALID_NUMBER',
  'NETWORK_ERROR', 'ABANDONED', 'CALLBACK_REQUESTED', 'AGENT_REJECTED', 'WRONG_PARTY',
  'NOT_ATTEMPTED', 'DNC', 'EXPIRED', 'SMS_DELIVERED', 'SMS_UNDELIVERED', 'SMS_REJECTED',
  'SMS_EXPIRED', 'MAX_ATTEMPTS',
];

const OUTCOME_WORDS = {
  CONNECTED: 'Answered',
  NO_ANSWER: 'No answer',
  BUSY: 'Busy',
  ANSWERING_MACHINE: 'Answering machine',
  FAX: 'Fax machine',
  INVALID_NUMBER: 'Number not valid',
  NETWORK_ERROR: 'Network error',
  ABANDONED: 'Abandoned (no agent free)',
  CALLBACK_REQUESTED: 'Asked to be called back',
  AGENT_REJECTED: 'Turned down by the agent',
  WRONG_PARTY: 'Wrong person',
  NOT_ATTEMPTED: 'Not attempted',
  DNC: 'Do not contact',
  EXPIRED: 'Expired (no time left)',
  SMS_DELIVERED: 'Text delivered',
  SMS_UNDELIVERED: 'Text not delivered',
  SMS_REJECTED: 'Text refused',
  SMS_EXPIRED: 'Text expired',
  MAX_ATTEMPTS: 'Most attempts reached',
};

/** "No answer" for NO_ANSWER; the code itself for one not known; '' for none. */
export function outcomeWords(code) {
  if (!code) return '';
  return OUTCOME_WORDS[code] || String(code);
}

/** How a number got on a DNC list (the consent ledger's source). */
export const SOURCE_WORDS = {
  api: 'Added by a person',
  upload: 'From an uploaded file',
  stop_keyword: 'Replied STOP to a text',
  agent_disposition: 'Asked an agent',
  migration: 'Carried over from before',
};

/** "Calls" / "Texts" for a channel name of the API. */
export function channelWords(ch) {
  if (ch === 'voice' || ch === 'voice_ivr' || ch === 'voice_agent') return 'Calls';
  if (ch === 'sms') return 'Texts';
  if (ch === 'all') return 'Calls and texts';
  return ch ? String(ch) : '';
}

const STATE_WORDS = {
  pending: 'Loaded, not queued yet',
  queued: 'Queued',
  dispatched: 'With the dialer',
  waiting: 'Waiting for its next attempt',
  retry_due: 'Due for a retry',
  closed: 'Closed',
};

/** A contact state in plain words. */
export function contactStateWords(s) {
  return STATE_WORDS[s] || (s ? String(s) : '');
}

/** "2 hours", "10 minutes", "1 day 3 hours" for a number of seconds. */
export function durationWords(s) {
  s = Number(s) || 0;
  if (s === 0) return 'no wait';
  const parts = [];
  const units = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  for (const [n, name] of units) {
    const q = Math.floor(s / n);
    if (q > 0) {
      parts.push(`${q.toLocaleString('en-US')} ${name}${q === 1 ? '' : 's'}`);
      s -= q * n;
    }
  }
  return parts.join(' ');
}

/** The offset of `zone` at instant `ms`, in minutes east of UTC. */
export function zoneOffsetMinutes(zone, ms) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

/** A wall time 'YYYY-MM-DDTHH:MM' read in `zone` → RFC 3339 with that zone's
 *  offset (e.g. '2027-04-03T18:00:00+11:00'); null when the text is not such a time
 *  or the zone is unknown. A time skipped by a DST change reads with the offset
 *  before it. */
export function zonedToRfc3339(wall, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(wall || '');
  if (!m) return null;
  const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let off;
  try {
    off = zoneOffsetMinutes(zone, guess);
    const off2 = zoneOffsetMinutes(zone, guess - off * 60000);
    if (off2 !== off && zoneOffsetMinutes(zone, guess - off2 * 60000) === off2) off = off2;
  } catch {
    return null;
  }
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  const hh = String(Math.floor(a / 60)).padStart(2, '0');
  const mm = String(a % 60).padStart(2, '0');
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00${sign}${hh}:${mm}`;
}

/** The value for an <input type=datetime-local> showing instant `iso` in the
 *  browser's zone ('' for none). */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Loads every campaign (all pages, at most 2,000) as [{id, name, state, ...}]. */
export async function allCampaigns(api) {
  const out = [];
  let cursor = null;
  do {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await api('GET', `/api/v1/campaigns?limit=200${q}`);
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < 2000);
  return out;
}

/** Replaces el's children with kids (nodes or text; arrays flattened;
 *  null, undefined and false skipped, unlike replaceChildren). Returns el. */
export function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  return el;
}

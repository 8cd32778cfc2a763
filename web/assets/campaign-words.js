// Plain words for the campaign pages: what each state, channel and outcome
// is called on screen, and small display helpers shared by the campaign and
// upload pages. The API's codes never reach the supervisor unexplained.
import { h, badge, fmtNumber } from './ui.js';

export const CAMPAIGN_STATES = {
  draft: { label: 'Draft', kind: 'draft' },
  active: { label: 'Active', kind: 'active' },
  paused: { label: 'Paused', kind: 'paused' },
  stopped: { label: 'Stopped', kind: 'stopped' },
  completed: { label: 'Completed', kind: 'completed' },
  expired: { label: 'Ended (past its end date)', kind: 'stopped' },
};

export const CHANNELS = {
  voice_ivr: 'Voice, recorded message (IVR)',
  voice_agent: 'Voice, with an agent',
  sms: 'Text message (SMS)',
};

export const CISCO_KINDS = {
  uccx: 'UCCX (Outbound import)',
  ucce_api: 'UCCE / PCCE (Outbound API import)',
  ucce_db: 'UCCE (database import table)',
};

// Contact states in the order a contact goes through them.
export const CONTACT_STATES = [
  ['pending', 'Loaded, not yet queued'],
  ['queued', 'Queued'],
  ['dispatched', 'Being called or texted'],
  ['waiting', 'Waiting for the next try'],
  ['retry_due', 'Due for another try'],
  ['closed', 'Finished'],
];

export const OUTCOMES = {
  CONNECTED: 'Answered',
  NO_ANSWER: 'No answer',
  BUSY: 'Busy',
  ANSWERING_MACHINE: 'Answering machine',
  FAX: 'Fax machine',
  INVALID_NUMBER: 'Number not in service',
  NETWORK_ERROR: 'Network error',
  ABANDONED: 'Dropped, no agent free',
  CALLBACK_REQUESTED: 'Asked to be called back',
  AGENT_REJECTED: 'Skipped by the agent',
  WRONG_PARTY: 'Wrong person',
  NOT_ATTEMPTED: 'Not attempted',
  DNC: 'Do not contact',
  EXPIRED: 'Ran out of time',
  SMS_DELIVERED: 'Text delivered',
  SMS_UNDELIVERED: 'Text not delivered',
  SMS_REJECTED: 'Text refused by the network',
  SMS_EXPIRED: 'No delivery report in time',
  MAX_ATTEMPTS: 'Most attempts reached',
};

// Chart colours, one per outcome, told apart by hue and lightness.
export const OUTCOME_COLOURS = {
  CONNECTED: '#1b7f3b',
  SMS_DELIVERED: '#2e9e55',
  NO_ANSWER: '#c98a00',
  BUSY: '#e0b000',
  ANSWERING_MACHINE: '#8a5cc2',
  FAX: '#6b4a8f',
  INVALID_NUMBER: '#b3261e',
  NETWORK_ERROR: '#d9534f',
  ABANDONED: '#e67e22',
  CALLBACK_REQUESTED: '#1f6fb2',
  AGENT_REJECTED: '#5b8db8',
  WRONG_PARTY: '#7d6b5d',
  NOT_ATTEMPTED: '#9e9e9e',
  DNC: '#333333',
  EXPIRED: '#6d6d6d',
  SMS_UNDELIVERED: '#c0392b',
  SMS_REJECTED: '#922b21',
  SMS_EXPIRED: '#a57c52',
  MAX_ATTEMPTS: '#4e5d6c',
};

/* The outcome's plain name (the code itself for one this page does not
 * know, so nothing is hidden). */
export function outcomeLabel(code) {
  return OUTCOMES[code] || code;
}

/* A badge node for a campaign state. */
export function stateBadge(state) {
  const s = CAMPAIGN_STATES[state] || { label: state, kind: 'draft' };
  return badge(s.label, s.kind);
}

/* "1,234 of 5,678 finished" with a native <progress> bar (accessible name
 * says the same), for a campaign's counts. */
export function progressOf(counts) {
  const total = counts ? counts.contacts : 0;
  const closed = counts ? counts.by_state.closed : 0;
  const pct = total > 0 ? Math.floor((closed * 100) / total) : 0;
  const text = total > 0
    ? `${fmtNumber(closed)} of ${fmtNumber(total)} finished (${pct}%)`
    : 'No contacts yet';
  const bar = h('progress', { max: String(Math.max(total, 1)), value: String(closed),
    'aria-label': text, class: 'campaign-progress' });
  return h('div', { class: 'progress-cell' }, bar, h('span', { class: 'progress-text' }, text));
}

/* The weekly window as short text: "Mon–Fri 09:00–17:00, Sat off". */
export function windowText(win) {
  if (!win) return 'Every day, within the legal hours';
  const days = [['mon', 'Mon'], ['tue', 'Tue'], ['wed', 'Wed'], ['thu', 'Thu'], ['fri', 'Fri'],
    ['sat', 'Sat'], ['sun', 'Sun']];
  const parts = [];
  let run = null;
  for (const [key, name] of days) {
    const ranges = win[key] || [];
    const text = ranges.length ? ranges.map(r => `${r[0]}–${r[1]}`).join(', ') : 'off';
    if (run && run.text === text) {
      run.last = name;
    } else {
      run = { first: name, last: name, text };
      parts.push(run);
    }
  }
  return parts.map(r => `${r.first === r.last ? r.first : `${r.first}–${r.last}`} ${r.text}`)
    .join('; ');
}

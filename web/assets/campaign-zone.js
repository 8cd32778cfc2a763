// Wall-clock times in a named time zone (IANA) and the instants they are,
// for the campaign form's start/end (a datetime-local value is read in the
// campaign's zone, not the browser's). Pure functions on Intl.

/* The zone's offset from UTC (ms) at the instant utcMs. Throws RangeError
 * for a zone the browser does not know. */
function offsetAt(utcMs, zone) {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(utcMs)).map(x => [x.type, x.value]));
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/* "2026-12-04T09:30" read in zone → RFC 3339 UTC ("…Z"). A time skipped by
 * a DST change moves forward by the gap; a repeated one takes the first.
 * Returns null for an empty or malformed value; throws RangeError for an
 * unknown zone. */
export function wallToIso(value, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || '');
  if (!m) return null;
  const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  const first = offsetAt(guess, zone);
  let utc = guess - first;
  const second = offsetAt(utc, zone);
  if (second !== first) {
    const other = guess - second;
    utc = offsetAt(other, zone) === second ? Math.min(utc, other) : Math.max(utc, other);
  }
  return new Date(utc).toISOString();
}

/* An instant (ISO) as a datetime-local value in zone ("" for none). Throws
 * RangeError for an unknown zone. */
export function isoToWall(iso, zone) {
  if (!iso) return '';
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(iso)).map(x => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/* True when the browser knows zone as a time zone name. */
export function isZone(zone) {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

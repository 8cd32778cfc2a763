// Strategies: one made through the table (Busy: again after 10 minutes, No
// answer: again after 1 hour, at most 3 of each), saved, read back after a
// reload; then its dry run for a contact in Australia/Sydney due the evening
// before Sydney leaves DST (Sunday 2027-04-04, 03:00 AEDT (+11) becomes 02:00
// AEST (+10)). The page must show the times the API computes for the same
// dry run, and each local time must be right to the minute on both sides of
// the change (UTC + 11 hours before 2027-04-03T16:00Z, + 10 hours after).
// Then an unsaved edit is previewed: the dry run uses the table as edited.

const ZONE = 'Australia/Sydney';
const CHANGE_MS = Date.parse('2027-04-03T16:00:00Z');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The Sydney wall time of instant iso from the known offsets: "4 Apr 2027" and "08:00". */
function sydney(iso) {
  const ms = Date.parse(iso);
  const d = new Date(ms + (ms < CHANGE_MS ? 11 : 10) * 3600000);
  const p = (n) => String(n).padStart(2, '0');
  return { date: `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`, time: `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}` };
}

/** The wall time of instant iso in zone, as Intl reads it (for the browser's own zone). */
function wall(iso, zone) {
  const f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short', year: 'numeric' });
  const p = Object.fromEntries(f.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return { date: `${p.day} ${p.month} ${p.year}`, time: `${p.hour}:${p.minute}` };
}

async function rowsOf(page) {
  const rows = page.locator('.dry-result table.data tbody tr');
  const n = await rows.count();
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      contact: await rows.nth(i).locator('.when-contact').textContent(),
      you: await rows.nth(i).locator('.when-you').textContent(),
      text: await rows.nth(i).textContent(),
    });
  }
  return out;
}

async function checkAgainstApi(t, apiAnswer, what) {
  const { page } = t;
  const rows = await rowsOf(page);
  t.eq(rows.length, apiAnswer.attempts.length, `${what}: attempts shown`);
  const browserZone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  let before = 0;
  let after = 0;
  apiAnswer.attempts.forEach((a, i) => {
    const want = sydney(a.at);
    t.ok(rows[i].contact.includes(want.date) && rows[i].contact.includes(want.time),
      `${what}: attempt ${i + 1} at ${a.at} shows "${rows[i].contact}", expected ${want.date} ${want.time} in Sydney`);
    const off = Date.parse(a.at) < CHANGE_MS ? '+11:00' : '+10:00';
    t.ok(a.local_at.endsWith(off), `${what}: the API's local time ${a.local_at} has offset ${off}`);
    const you = wall(a.at, browserZone);
    t.ok(rows[i].you.includes(you.date) && rows[i].you.includes(you.time),
      `${what}: attempt ${i + 1} in the browser's zone (${browserZone}) shows "${rows[i].you}", expected ${you.date} ${you.time}`);
    if (Date.parse(a.at) < CHANGE_MS) before++;
    else after++;
  });
  t.ok(before > 0 && after > 0, `${what}: attempts on both sides of the DST change (${before} before, ${after} after)`);
  return rows;
}

export default async function (t) {
  const { page } = t;
  const name = `Sydney test ${Date.now().toString(36)}`;

  await t.go('#/strategies');
  await t.axe('strategies');
  await t.shot('strategies');
  await page.getByRole('button', { name: 'New strategy' }).click();
  await page.getByRole('heading', { name: 'New strategy' }).waitFor();

  // The table, as a supervisor fills it.
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Attempts in all').fill('5');
  await page.getByLabel('Attempts a day').fill('3');
  for (const [outcome, words, wait, unit] of [['BUSY', 'Busy', '10', 'minutes'], ['NO_ANSWER', 'No answer', '1', 'hours']]) {
    await page.getByLabel('Outcome to add').selectOption(outcome);
    await page.getByRole('button', { name: 'Add outcome', exact: true }).click();
    await page.getByLabel(`Action after ${words}`).selectOption('retry');
    await page.getByLabel(`Wait after ${words}`, { exact: true }).fill(wait);
    await page.getByLabel(`Wait unit after ${words}`).selectOption({ label: unit });
    await page.getByLabel(`Most attempts ending ${words}`).fill('3');
  }
  await t.axe('new strategy');
  await t.shot('strategy-new');
  await page.getByRole('button', { name: 'Create strategy' }).click();
  await t.waitFor(async () => /#\/strategies\/[0-9]+$/.test(page.url()), 'the new strategy\'s page');
  const id = page.url().match(/#\/strategies\/([0-9]+)$/)[1];
  t.shared.strategyId = Number(id);
  t.step(`strategy ${id} "${name}" created through the table`);

  // What the server stored, then what a reload shows.
  const stored = await t.api('GET', `/api/v1/strategies/${id}`);
  const rule = (o) => stored.rules.find((r) => r.outcome === o);
  t.eq([stored.max_attempts, stored.max_attempts_per_day], [5, 3], 'attempts in all and a day, stored');
  t.eq([rule('BUSY').action, rule('BUSY').delay_seconds, rule('BUSY').max_attempts], ['retry', 600, 3], 'BUSY rule stored');
  t.eq([rule('NO_ANSWER').action, rule('NO_ANSWER').delay_seconds, rule('NO_ANSWER').max_attempts], ['retry', 3600, 3], 'NO_ANSWER rule stored');
  await page.reload();
  await page.getByRole('heading', { name: `Strategy: ${name}` }).waitFor();
  t.eq(await page.getByLabel('Wait after Busy', { exact: true }).inputValue(), '10', 'Busy wait after a reload');
  t.eq(await page.getByLabel('Wait unit after Busy').inputValue(), '60', 'Busy wait unit (minutes) after a reload');
  t.eq(await page.getByLabel('Wait after No answer', { exact: true }).inputValue(), '1', 'No answer wait after a reload');
  t.eq(await page.getByLabel('Wait unit after No answer').inputValue(), '3600', 'No answer wait unit (hours) after a reload');
  t.eq(await page.getByLabel('Most attempts ending Busy').inputValue(), '3', 'Busy most attempts after a reload');
  t.step('the table reads back as saved after a reload');

  // The dry run of the saved strategy, across Sydney's DST change.
  const outcomes = ['NO_ANSWER', 'BUSY', 'NO_ANSWER', 'BUSY'];
  await page.getByLabel('Contact\'s time zone').fill(ZONE);
  await page.getByLabel('Due from (contact\'s time)').fill('2027-04-03T20:00');
  for (const o of outcomes) {
    await page.getByLabel('Outcome', { exact: true }).selectOption(o);
    await page.getByRole('button', { name: 'Add outcome to the sequence' }).click();
  }
  await page.getByRole('button', { name: 'Run dry run' }).click();
  await page.locator('.dry-result table.data tbody tr').first().waitFor();
  const body = { time_zone: ZONE, start_at: '2027-04-03T20:00:00+11:00', outcomes, phones: ['mobile'] };
  const saved = await t.api('POST', `/api/v1/strategies/${id}/dry-run`, body);
  t.ok(await page.getByText('With the strategy as saved.').isVisible(), 'the dry run says it used the saved strategy');
  const rows = await checkAgainstApi(t, saved, 'saved');
  t.ok(/legal hours/.test(rows[1].text), `attempt 2 says it was moved by the legal hours: ${rows[1].text}`);
  t.ok(/attempts a day/.test(rows[3].text), `attempt 4's retry says it was moved by the daily limit: ${rows[3].text}`);
  t.step(`dry run: ${saved.attempts.map((a) => a.local_at).join(', ')} — the page shows the same, right in both zones`);
  await t.axe('strategy with dry run');
  await t.shot('strategy-dry-run');

  // An unsaved edit previews: No answer again after 2 hours instead of 1.
  await page.getByLabel('Wait after No answer', { exact: true }).fill('2');
  await page.getByRole('button', { name: 'Run dry run' }).click();
  await page.getByText('With the table as edited above (not saved yet).').waitFor();
  const edited = JSON.parse(JSON.stringify(stored));
  const unsaved = await t.api('POST', '/api/v1/strategies/dry-run', {
    ...body,
    strategy: {
      name, max_attempts: 5, max_attempts_per_day: 3,
      rules: edited.rules.map((r) => ({ ...r, delay_seconds: r.outcome === 'NO_ANSWER' ? 7200 : r.delay_seconds })),
    },
  });
  t.ok(unsaved.attempts[3].at !== saved.attempts[3].at, 'the edit moves attempt 4');
  await checkAgainstApi(t, unsaved, 'unsaved edit');
  t.step('the dry run previews the unsaved table');
  const again = await t.api('GET', `/api/v1/strategies/${id}`);
  t.eq(again.rules.find((r) => r.outcome === 'NO_ANSWER').delay_seconds, 3600, 'the dry run saved nothing');
}

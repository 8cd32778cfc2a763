// The campaign pages as a supervisor uses them: create a voice campaign in
// the form (a wrong time zone is refused next to its field), see it listed,
// upload a CSV with bad rows at known lines and read exactly those lines and
// reasons in the report (and download it), activate and watch the page's
// numbers until every contact is finished, count a recycle; pause, edit
// (PATCH sends only what changed), resume and stop (with confirmation) a
// second campaign while it runs; the SMS form's live length count (GSM-7,
// an extension character counting 2, UCS-2). Screenshots and an axe scan of
// every page. Leaves the first campaign's id in t.shared.campaignId.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

const GOOD = 200;
const BAD_PHONE_LINE = 51;
const SHORT_ROW_LINE = 102;
const DUPLICATE_LINE = 153;
// Contacts carry their own zone: the dev stack's business clock starts at
// 12:00 UTC, before the legal hours in New York (the campaign's zone), still
// inside them in London.
const CONTACT_ZONE = 'Europe/London';

/* n distinct valid US numbers in area: exchanges 200-999 (no N11, no 555)
 * in turn, the line number distinct (1000 + i, so n <= 8999). */
function phones(n, area = '212') {
  const exchanges = [];
  for (let x = 200; x <= 999; x++) if (x % 100 !== 11 && x !== 555) exchanges.push(x);
  return Array.from({ length: n }, (_, i) => `${area}${exchanges[i % exchanges.length]}${1000 + i}`);
}

/* The CSV of the test: GOOD good rows and the three bad ones at their lines.
 * Returns {text, goodPhones}. */
function contactsCsv() {
  const nums = phones(GOOD);
  const lines = ['account_number,first_name,last_name,phone1,phone2,time_zone'];
  let g = 0;
  while (lines.length < GOOD + 4) {
    const line = lines.length + 1; // the file's line number of the row pushed now
    if (line === BAD_PHONE_LINE) lines.push(`BAD-1,Nora,Phone,12345,,${CONTACT_ZONE}`);
    else if (line === SHORT_ROW_LINE) lines.push('BAD-2,Sam,Short,2125550000,');
    else if (line === DUPLICATE_LINE) lines.push(`BAD-3,Dee,Twice,${nums[0]},,${CONTACT_ZONE}`);
    else {
      lines.push(`ACC-${g + 1},First${g + 1},Last${g + 1},${nums[g]},,${CONTACT_ZONE}`);
      g++;
    }
  }
  return `${lines.join('\n')}\n`;
}

/* "1 contact", "1,234 finished contacts", as the page writes a count. */
function contactsText(n, before = '') {
  return `${n.toLocaleString('en-US')} ${before}${n === 1 ? 'contact' : 'contacts'}`;
}

/* The figure a <dl class="facts"> gives for term, as a number. */
async function figure(scope, term) {
  const dd = scope.locator('dl.facts dt', { hasText: new RegExp(`^${term}$`) }).locator('xpath=following-sibling::dd[1]');
  return Number((await dd.first().textContent()).replace(/[^0-9]/g, ''));
}

export default async function (t) {
  const { page } = t;
  const strategyId = await t.fastStrategy('Console fast');
  const stamp = Date.now().toString(36);
  const name = `Console voice ${stamp}`;

  // The list and the form.
  await t.go('#/campaigns');
  await t.axe('campaign list');
  await page.getByRole('link', { name: 'New campaign' }).click();
  await page.getByRole('heading', { name: 'New campaign' }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Voice, recorded message (IVR)').check();
  await page.getByLabel('Strategy', { exact: true }).selectOption({ label: 'Console fast' });
  await page.getByLabel('How contacts reach Cisco').selectOption('uccx');
  await page.getByLabel('Cisco campaign ID').fill('1');
  await page.getByLabel('Time zone', { exact: true }).fill('Mars/Olympus_Mons');
  await page.getByLabel('Monday from').fill('00:00');
  await page.getByLabel('Monday to').fill('24:00');
  await page.getByRole('button', { name: 'Use Monday’s hours every day' }).click();
  t.eq(await page.getByLabel('Sunday to').inputValue(), '24:00', 'Sunday after copying Monday');
  await page.getByRole('button', { name: 'Create campaign' }).click();
  const zoneProblem = page.locator('.field-problem').filter({ hasText: 'Pick a time zone from the list' });
  await zoneProblem.waitFor();
  t.eq(await page.getByLabel('Time zone', { exact: true }).getAttribute('aria-invalid'), 'true', 'the time zone field marked invalid');
  t.step('a time zone that does not exist is refused next to its field');
  await page.getByLabel('Time zone', { exact: true }).fill('America/New_York');
  await page.getByLabel('Region', { exact: true }).fill('ZZ');
  await page.getByRole('button', { name: 'Create campaign' }).click();
  await page.locator('.field-problem').filter({ hasText: 'ISO 3166' }).waitFor();
  t.eq(await page.getByLabel('Region', { exact: true }).getAttribute('aria-invalid'), 'true', 'the region field marked invalid');
  t.eq(await page.locator('.field-problem').filter({ hasText: 'Pick a time zone' }).count(), 0, 'the fixed time zone no longer marked');
  t.step('the server\'s refusal of the region is shown under Region');
  await page.getByLabel('Region', { exact: true }).fill('US');
  // The end is read in the campaign's zone (New York, summer time then),
  // not the browser's (London).
  await page.getByLabel('End (optional)').fill('2036-07-01T09:00');
  await t.shot('campaign-form-new');
  await t.axe('campaign form (new)');
  await page.getByRole('button', { name: 'Create campaign' }).click();
  await page.waitForURL(/#\/campaigns\/[0-9]+$/);
  const id = Number(/#\/campaigns\/([0-9]+)$/.exec(page.url())[1]);
  t.shared.campaignId = id;
  const made = await t.api('GET', `/api/v1/campaigns/${id}`);
  t.eq([made.name, made.channel, made.state, made.strategy_id, made.time_zone],
    [name, 'voice_ivr', 'draft', strategyId, 'America/New_York'], 'the campaign as created');
  t.eq(made.cisco, { kind: 'uccx', campaign_id: '1' }, 'its Cisco target');
  t.eq([made.start_at, made.end_at], [null, '2036-07-01T13:00:00.000Z'], 'its start and end (09:00 in New York)');
  for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) {
    t.eq(made.call_window[d], [['00:00', '24:00']], `its window on ${d}`);
  }
  t.step(`campaign ${id} created through the form`);

  await t.go('#/campaigns');
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name }) });
  await row.waitFor();
  t.ok((await row.textContent()).includes('Draft'), 'the list shows the new campaign as Draft');

  // Upload with bad rows at known lines.
  await t.go(`#/campaigns/${id}`);
  await page.getByRole('link', { name: 'Upload contacts' }).click();
  await page.getByRole('heading', { name: /^Upload contacts to/ }).waitFor();
  await t.shot('upload');
  await t.axe('upload');
  const csvFile = join(t.tmp, `contacts-${stamp}.csv`);
  writeFileSync(csvFile, contactsCsv());
  await page.getByLabel('Contact file (CSV)').setInputFiles(csvFile);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.waitForURL(/#\/uploads\/[0-9]+$/, { timeout: 120000 });
  const uploadId = Number(/#\/uploads\/([0-9]+)$/.exec(page.url())[1]);
  await page.getByRole('heading', { name: `Upload ${uploadId} report` }).waitFor();
  await t.waitFor(async () => (await page.locator('dl.facts').textContent()).includes('Done'), 'the upload done');
  const rep = await t.api('GET', `/api/v1/uploads/${uploadId}`);
  t.eq(rep.rows.map((r) => r.line), [BAD_PHONE_LINE, SHORT_ROW_LINE, DUPLICATE_LINE], 'the lines the server did not load');
  t.ok(/^phone1: '12345'/.test(rep.rows[0].reason), `line ${BAD_PHONE_LINE}'s reason names phone1 (${rep.rows[0].reason})`);
  t.eq(rep.rows[1].reason, 'expected 6 fields, found 5', `line ${SHORT_ROW_LINE}'s reason`);
  t.eq(rep.rows[2].kind, 'duplicate', `line ${DUPLICATE_LINE} is a duplicate`);
  t.ok(rep.rows[2].reason.includes('already on line 2'), `line ${DUPLICATE_LINE}'s reason points at line 2`);
  const table = page.getByRole('table', { name: /^Rows not loaded/ });
  const shown = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  t.eq(shown.map((r) => [Number(r[0]), r[2]]), rep.rows.map((r) => [r.line, r.reason]), 'the report table: lines and reasons');
  t.ok(shown[2][1].includes('already in the campaign'), 'a duplicate is said so in plain words');
  t.eq(await figure(page, 'Loaded'), GOOD, 'the report\'s loaded count');
  t.eq(await figure(page, 'Not valid'), 2, 'the report\'s not valid count');
  t.eq(await figure(page, 'Duplicates'), 1, 'the report\'s duplicate count');
  t.step(`upload ${uploadId}: ${GOOD} loaded; lines ${BAD_PHONE_LINE}, ${SHORT_ROW_LINE}, ${DUPLICATE_LINE} listed with their reasons`);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download report (CSV)' }).click()]);
  t.eq(dl.suggestedFilename(), `upload-${uploadId}-report.csv`, 'the report file name');
  const saved = readFileSync(await dl.path(), 'utf8').trim().split('\r\n');
  t.eq(saved.length, 4, 'the downloaded report: a header and three rows');
  t.eq(saved.slice(1).map((l) => Number(/^"([0-9]+)"/.exec(l)[1])), [BAD_PHONE_LINE, SHORT_ROW_LINE, DUPLICATE_LINE], 'the downloaded lines');
  await t.shot('upload-report');
  await t.axe('upload report');

  // Activate and watch it finish on the page.
  await page.getByRole('link', { name: `Back to “${name}”` }).click();
  await page.getByRole('heading', { name }).waitFor();
  await page.getByRole('button', { name: 'Activate' }).click();
  await page.locator('.page-head').getByRole('button', { name: 'Pause' }).or(page.getByText(`${GOOD} of ${GOOD} finished`)).first().waitFor();
  t.ok(['active', 'completed'].includes((await t.api('GET', `/api/v1/campaigns/${id}`)).state), 'the campaign active after Activate');
  await t.waitFor(async () => (await page.getByText(`${GOOD} of ${GOOD} finished (100%)`).count()) > 0,
    'the page showing every contact finished', 600000);
  t.eq(t.sql(`SELECT count(*) FROM contacts WHERE campaign_id = ${id} AND state <> 'closed'`), ['0'], 'contacts not closed (database)');
  const attempts = Number(t.sql(`SELECT count(*) FROM attempts WHERE campaign_id = ${id}`)[0]);
  await t.waitFor(async () => (await figure(page, 'Attempts')) === attempts, `the page's attempts = the database's (${attempts})`);
  await page.locator('svg.chart-svg').waitFor();
  t.ok(await page.getByText('Show the figures as a table').isVisible(), 'the chart has its table');
  t.step(`campaign ${id}: every contact finished (${attempts} attempts), shown on the page`);
  await t.shot('campaign-detail');
  await t.axe('campaign detail');
  const [export1] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download attempts (CSV)' }).click()]);
  t.eq(export1.suggestedFilename(), `campaign-${id}-attempts.csv`, 'the attempts export file name');
  const exported = readFileSync(await export1.path(), 'utf8').trim().split('\r\n');
  t.eq(exported.length, attempts + 1, 'the attempts export: a header and one line per attempt');
  t.step(`the attempts export holds the ${attempts} attempts`);

  // Count a recycle (dry run): the page's count is the server's.
  const finished = (await t.api('GET', `/api/v1/campaigns/${id}`)).counts.by_outcome;
  const outcome = Object.keys(finished).filter((o) => o !== 'DNC').sort((a, b) => finished[b] - finished[a])[0];
  const box = page.locator(`fieldset.checks input[value="${outcome}"]`);
  await box.check();
  await page.getByLabel('Finished at least').fill('0');
  await page.getByLabel('Unit', { exact: true }).selectOption('m');
  await page.getByRole('button', { name: 'Count', exact: true }).click();
  const dry = await t.api('POST', `/api/v1/campaigns/${id}/recycle`, { outcomes: [outcome], older_than: '0m', dry_run: true });
  await page.getByText(`${contactsText(dry.contacts, 'finished ')} would be re-opened`).waitFor();
  t.ok(await page.getByRole('button', { name: `Re-open ${contactsText(dry.contacts)}` }).isVisible(), 'the re-open button names the count');
  t.step(`recycle count for ${outcome}: ${dry.contacts}, as the server says`);
  await t.shot('campaign-recycle-count');
  // The same choices as a schedule, old enough that it re-opens nothing
  // while it exists; then removed.
  await page.getByLabel('Finished at least').fill('1000');
  await page.getByLabel('Unit', { exact: true }).selectOption('d');
  await page.getByRole('button', { name: 'Use the choices above as the automatic schedule' }).click();
  await page.locator('.recycle-schedule').filter({ hasText: 'at least 1,000 days ago' }).waitFor();
  const sched = await t.api('GET', `/api/v1/campaigns/${id}/recycle-schedule`);
  t.eq([sched.outcomes, sched.older_than, sched.enabled], [[outcome], '1000d', true], 'the schedule as saved');
  await page.getByRole('button', { name: 'Remove the schedule' }).click();
  await page.getByText('None set: contacts are only re-opened when you do it here.').waitFor();
  t.eq(t.sql(`SELECT count(*) FROM campaign_recycle_schedules WHERE campaign_id = ${id}`), ['0'], 'the schedule removed (database)');
  t.step('a recycle schedule saved from the page, then removed');

  // Re-open the contacts of the rarest outcome, confirmed; they run again
  // to the end.
  const rare = Object.keys(finished).filter((o) => o !== 'DNC' && o !== outcome).sort((a, b) => finished[a] - finished[b])[0];
  await page.locator(`fieldset.checks input[value="${outcome}"]`).uncheck();
  await page.locator(`fieldset.checks input[value="${rare}"]`).check();
  await page.getByLabel('Finished at least').fill('0');
  await page.getByLabel('Unit', { exact: true }).selectOption('m');
  await page.getByRole('button', { name: 'Count', exact: true }).click();
  const n = finished[rare];
  await page.getByText(`${contactsText(n, 'finished ')} would be re-opened`).waitFor();
  const closedBefore = Number(t.sql(`SELECT count(*) FROM contacts WHERE campaign_id = ${id} AND state = 'closed'`)[0]);
  await page.locator('.card').getByRole('button', { name: `Re-open ${contactsText(n)}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: `Re-open ${contactsText(n)}` }).click();
  await page.getByText(`${contactsText(n)} re-opened.`).first().waitFor();
  t.eq(closedBefore, GOOD, 'contacts closed before the re-opening');
  t.ok(Number(t.sql(`SELECT count(*) FROM recycles WHERE campaign_id = ${id}`)[0]) === 1, 'one recycle logged');
  await t.waitFor(async () => (await page.getByText(`${GOOD} of ${GOOD} finished (100%)`).count()) > 0
    && t.sql(`SELECT count(*) FROM contacts WHERE campaign_id = ${id} AND state <> 'closed'`)[0] === '0',
  'the re-opened contacts finished again', 300000);
  t.step(`${contactsText(n)} (${rare}) re-opened after confirming, and finished again`);

  // A second campaign: pause, edit, resume and stop while it runs.
  const cisco = { kind: 'uccx', campaign_id: '1' };
  const window = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]));
  const second = await t.api('POST', '/api/v1/campaigns', {
    name: `Console pause ${stamp}`, channel: 'voice_ivr', strategy_id: strategyId, cisco, time_zone: 'America/New_York', call_window: window,
  });
  const id2 = second.id;
  const nums = phones(1500, '312');
  await t.api('POST', `/api/v1/campaigns/${id2}/uploads`,
    nums.map((p, i) => ({ account_number: `P-${i}`, first_name: 'Pat', phone1: p, time_zone: CONTACT_ZONE })));
  await t.api('POST', `/api/v1/campaigns/${id2}/activate`);
  await t.go(`#/campaigns/${id2}`);
  const attemptsOf2 = () => Number(t.sql(`SELECT count(*) FROM attempts WHERE campaign_id = ${id2}`)[0]);
  await t.waitFor(async () => attemptsOf2() > 0, 'the second campaign dispatching');
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.locator('.page-head').getByRole('button', { name: 'Resume' }).waitFor();
  const pausedAt = t.sql('SELECT clock_timestamp()')[0];
  t.eq((await t.api('GET', `/api/v1/campaigns/${id2}`)).state, 'paused', 'the second campaign after Pause');
  const open = Number(t.sql(`SELECT count(*) FROM contacts WHERE campaign_id = ${id2} AND state <> 'closed'`)[0]);
  t.ok(open > 0, `contacts still open at the pause (${open})`);
  // Every call handed out before the pause has its result: from here on an
  // active campaign would dispatch again; a paused one must not.
  await t.waitFor(async () => t.sql(`SELECT count(*) FROM contacts WHERE campaign_id = ${id2} AND state = 'dispatched'`)[0] === '0',
    'no call of the paused campaign still out');
  const whilePaused = attemptsOf2();
  t.step(`campaign ${id2} paused with ${open} contacts open and ${whilePaused} attempts`);

  await page.getByRole('link', { name: 'Edit' }).click();
  await page.getByRole('heading', { name: /^Edit/ }).waitFor();
  await t.shot('campaign-form-edit');
  await t.axe('campaign form (edit)');
  await page.getByLabel('Name', { exact: true }).fill(`Console pause ${stamp} (edited)`);
  await page.getByRole('button', { name: 'Add a day off' }).click();
  await page.getByLabel('Day off 1', { exact: true }).fill('2026-12-25');
  await page.getByLabel('Reason for day off 1 (optional)').fill('Christmas');
  const [patch] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(`/api/v1/campaigns/${id2}`)),
    page.getByRole('button', { name: 'Save changes' }).click(),
  ]);
  t.eq(JSON.parse(patch.postData()), {
    name: `Console pause ${stamp} (edited)`,
    blackout_dates: [{ date: '2026-12-25', reason: 'Christmas' }],
  }, 'the PATCH carries only what changed');
  await page.getByRole('heading', { name: `Console pause ${stamp} (edited)` }).waitFor();
  await page.getByText('Fri, 25 Dec 2026 — Christmas').waitFor();
  t.eq(t.sql(`SELECT count(*) FROM attempts WHERE campaign_id = ${id2} AND sending_at > '${pausedAt}'`), ['0'],
    'attempts recorded after the pause');
  t.eq(attemptsOf2(), whilePaused, 'attempts while paused');
  t.step('nothing dispatched while paused; the edit sent only the name and the day off');

  await page.getByRole('button', { name: 'Resume' }).click();
  await page.locator('.page-head').getByRole('button', { name: 'Pause' }).waitFor();
  t.eq((await t.api('GET', `/api/v1/campaigns/${id2}`)).state, 'active', 'the second campaign after Resume');
  await t.waitFor(async () => attemptsOf2() > whilePaused, 'attempts growing again after Resume');
  await page.locator('.page-head').getByRole('button', { name: 'Stop', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  t.ok((await dialog.textContent()).includes('cannot be undone'), 'Stop says it cannot be undone');
  await t.shot('campaign-stop-confirm');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  t.eq((await t.api('GET', `/api/v1/campaigns/${id2}`)).state, 'active', 'still active after cancelling Stop');
  await page.locator('.page-head').getByRole('button', { name: 'Stop', exact: true }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Stop campaign' }).click();
  await page.getByText('Campaign stopped.').waitFor();
  t.eq((await t.api('GET', `/api/v1/campaigns/${id2}`)).state, 'stopped', 'the second campaign after Stop');
  t.ok(!(await page.locator('.page-head').getByRole('button', { name: 'Resume' }).count()), 'no Resume on a stopped campaign');
  t.step(`campaign ${id2}: resumed (attempts grew again), Stop asked first, then stopped`);

  // A viewer sees the figures, and no button that changes anything.
  const viewer = `viewer-${stamp}`;
  const viewerPassword = `viewer password ${stamp}`;
  await t.api('POST', '/api/v1/users', { name: viewer, role: 'viewer', password: viewerPassword });
  const draft = await t.api('POST', '/api/v1/campaigns', { name: `Console draft ${stamp}`, channel: 'voice_ivr', strategy_id: strategyId, cisco });
  await t.go(`#/campaigns/${draft.id}`);
  await page.getByRole('button', { name: 'Activate' }).waitFor();
  t.ok(await page.getByRole('link', { name: 'Edit', exact: true }).isVisible(), 'an admin sees Edit on a draft');
  const vctx = await page.context().browser().newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/London', locale: 'en-GB' });
  const vp = await vctx.newPage();
  await vp.goto(`${t.base}/#/campaigns/${draft.id}`);
  await vp.getByLabel('User name').fill(viewer);
  await vp.getByLabel('Password').fill(viewerPassword);
  await vp.getByRole('button', { name: 'Sign in' }).click();
  await vp.getByRole('heading', { name: `Console draft ${stamp}` }).waitFor();
  await vp.getByText('Contacts by state').waitFor();
  await t.shot('campaign-as-viewer', vp);
  for (const label of ['Activate', 'Pause', 'Resume', 'Stop', 'Count']) {
    t.eq(await vp.getByRole('button', { name: label, exact: true }).count(), 0, `a viewer's ${label} buttons`);
  }
  for (const label of ['Edit', 'Upload contacts']) {
    t.eq(await vp.getByRole('link', { name: label, exact: true }).count(), 0, `a viewer's ${label} links`);
  }
  await vp.goto(`${t.base}/#/campaigns`);
  await vp.getByRole('link', { name: `Console draft ${stamp}` }).waitFor();
  t.eq(await vp.getByRole('link', { name: 'New campaign' }).count(), 0, 'a viewer\'s New campaign link');
  await vctx.close();
  t.step('a viewer sees no change buttons on a draft an admin may activate');

  // An upload cut off part-way (the client went away) shows as running,
  // then interrupted, and is resumed from its report with the same file.
  const cutRows = phones(5000, '646').map((p, i) => `CUT-${i},Cut,Off,${p},,${CONTACT_ZONE}`);
  const cutBody = Buffer.from(`account_number,first_name,last_name,phone1,phone2,time_zone\n${cutRows.join('\n')}\n`);
  const cutFile = join(t.tmp, `cut-${stamp}.csv`);
  writeFileSync(cutFile, cutBody);
  const req = http.request(`${t.base}/api/v1/campaigns/${draft.id}/uploads`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/csv', 'Content-Length': cutBody.length, Authorization: `Bearer ${process.env.ECM_DEV_API_KEY}` },
  });
  req.on('error', () => {});
  req.write(cutBody.subarray(0, cutBody.length >> 1));
  let cut = null;
  await t.waitFor(async () => {
    cut = (await t.api('GET', `/api/v1/uploads?campaign_id=${draft.id}&limit=1`)).items[0];
    return cut && cut.state === 'running';
  }, 'the upload to cut off running');
  await t.go(`#/uploads/${cut.id}`);
  await page.locator('dl.facts').getByText('Loading').waitFor();
  t.ok(await page.getByRole('progressbar', { name: 'Reading the file' }).isVisible(), 'a running upload shows its progress');
  await t.shot('upload-running');
  req.destroy();
  await page.getByRole('heading', { name: 'Resume this upload' }).waitFor({ timeout: 120000 });
  t.eq((await t.api('GET', `/api/v1/uploads/${cut.id}`)).state, 'interrupted', 'the cut upload\'s state');
  await t.shot('upload-interrupted');
  await t.axe('upload interrupted');
  await page.getByLabel('The same file').setInputFiles(cutFile);
  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await t.waitFor(async () => (await page.locator('dl.facts').textContent()).includes('Done'), 'the resumed upload done on the page');
  t.eq(await figure(page, 'Loaded'), 5000, 'the resumed upload\'s loaded count on the page');
  t.eq(t.sql(`SELECT count(*) FROM contacts WHERE campaign_id = ${draft.id}`), ['5000'], 'contacts of the resumed upload (database)');
  t.step(`upload ${cut.id}: shown running, interrupted when cut off, resumed from the page to 5,000 rows`);

  // A larger file through the page on a slow line: the bar shows the bytes
  // going out before the report.
  const slowRows = phones(8000, '718').map((p, i) => `SLOW-${i},Slow,Line,${p},,${CONTACT_ZONE},a note to make the row longer`);
  const slowFile = join(t.tmp, `slow-${stamp}.csv`);
  writeFileSync(slowFile, `account_number,first_name,last_name,phone1,phone2,time_zone,note\n${slowRows.join('\n')}\n`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 64 * 1024 });
  try {
    await t.go(`#/campaigns/${draft.id}/upload`);
    await page.getByLabel('Contact file (CSV)').setInputFiles(slowFile);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const bar = page.getByRole('progressbar', { name: 'Sending the file' });
    await t.waitFor(async () => {
      const [v, max] = await bar.evaluate((el) => [el.value, el.max]);
      return v > 0 && v < max;
    }, 'the bytes bar part-way', 60000);
    t.ok(/of .* sent \([0-9]+%\)/.test(await page.locator('.upload-progress').first().textContent()), 'the bytes sent said in words');
    await t.shot('upload-progress');
  } finally {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  }
  await page.waitForURL(/#\/uploads\/[0-9]+$/, { timeout: 120000 });
  await t.waitFor(async () => (await page.locator('dl.facts').textContent()).includes('Done'), 'the slow upload done');
  t.eq(await figure(page, 'Loaded'), 8000, 'the slow upload\'s loaded count');
  t.step('a slow upload showed its bytes going out, then its report');

  // The SMS form's live count.
  await t.go('#/campaigns/new');
  await page.getByLabel('Text message (SMS)').check();
  const text = page.getByLabel('Message text');
  const count = page.locator('.sms-count');
  const says = async (want) => {
    const all = async () => want.every((w) => got.includes(w));
    let got = '';
    try {
      await t.waitFor(async () => {
        got = await count.textContent();
        return all();
      }, `the count saying ${want.join(', ')}`, 10000);
    } catch {
      for (const w of want) t.ok(got.includes(w), `the count says “${w}” (it says “${got}”)`);
    }
  };
  await text.fill('Bonjour Zoé, à demain');
  await says(['Characters: 21', 'Counted as: 21 of 160', 'Encoding: GSM-7', 'Message parts: 1']);
  await text.fill('Only 5€ today');
  await says(['Characters: 13', 'Counted as: 14 of 160', 'Encoding: GSM-7', 'count as 2']);
  await text.fill('Hi {first_name} 😀');
  await says(['Characters: 5', 'Counted as: 6 of 70', 'Encoding: UCS-2', 'because of “😀”', '{first_name}']);
  await text.fill('a'.repeat(161));
  await says(['Counted as: 161 (153 per part)', 'Message parts: 2']);
  // 153 euro signs are 306 septets, two parts by arithmetic, but a part
  // never splits one: 76 + 76 + 1.
  await text.fill('€'.repeat(153));
  await says(['Counted as: 306 (153 per part)', 'Message parts: 3']);
  await text.fill('Dear {first_name}, your appointment is tomorrow. Reply STOP to opt out.');

  // The weekly window's controls, by keyboard-reachable buttons and labels.
  await page.getByRole('button', { name: 'Add hours on Monday' }).click();
  const added = page.getByLabel('Monday from (range 2)');
  t.eq(await added.inputValue(), '18:00', 'the added hours on Monday');
  t.ok(await added.evaluate((el) => el === document.activeElement), 'the focus moves to the added hours');
  await page.getByRole('button', { name: 'Remove Monday 18:00–20:00' }).click();
  t.eq(await page.getByLabel(/^Monday from/).count(), 1, 'Monday\'s hours after removing the added ones');
  await page.getByRole('group', { name: 'Saturday' }).getByLabel('Day off').uncheck();
  t.eq(await page.getByLabel('Saturday from').inputValue(), '09:00', 'Saturday opened');
  await page.getByLabel('Saturday to').fill('25:00');
  await page.getByLabel('Name', { exact: true }).fill(`Console sms ${stamp} (never saved)`);
  await page.getByRole('button', { name: 'Create campaign' }).click();
  await page.locator('.field-problem').filter({ hasText: 'Saturday: write times as HH:MM' }).waitFor();
  t.step('hours added, removed, a day opened; a time that is not one is refused under the window');
  await t.shot('campaign-form-sms');
  await t.axe('campaign form (sms)');
  t.step('the SMS count: GSM-7 with é, € counting 2, UCS-2 with an emoji, parts of 153');
}

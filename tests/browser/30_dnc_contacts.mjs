// "Why is this contact not being called?" through the console: a campaign
// (set up through the API) whose window, 09:00-10:00 in the contact's zone on
// the one weekday three days from now, is closed for its one contact in
// Asia/Tokyo. The contact is found by its
// number written another way; its page says it waits for its window and
// when it opens, its time and the browser's. The number goes on the global
// DNC list through #/dnc: the contact's page then says closed with outcome
// DNC, on the global list, since when. An admin removes the number through
// #/dnc (with a confirmation): the page then says none of its numbers is on
// a list (the contact stays closed: a removal re-opens nothing).

function hhmm(iso, zone) {
  return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' })
    .format(new Date(iso));
}

export default async function (t) {
  const { page } = t;
  const tag = Date.now().toString(36);
  const digits = String(10000000 + (Date.now() % 89999999)).slice(0, 8);
  const e164 = `+813${digits}`;
  const written = `+81 3 ${digits.slice(0, 4)} ${digits.slice(4)}`;
  const camp = await t.api('POST', '/api/v1/campaigns', {
    name: `Tokyo later ${tag}`, channel: 'voice_ivr', cisco: { kind: 'uccx', campaign_id: '1' }, time_zone: 'UTC',
  });
  const up = await t.api('POST', `/api/v1/campaigns/${camp.id}/uploads`, [
    { account_number: `TK-${tag}`, first_name: 'Taro', last_name: 'Yamada', phone1: e164, time_zone: 'Asia/Tokyo' },
  ]);
  t.eq(up.rows_loaded, 1, 'contact loaded');
  const found = await t.api('GET', `/api/v1/campaigns/${camp.id}/contacts?phone=${encodeURIComponent(e164)}`);
  const contactId = found.items[0].id;
  const why = () => t.api('GET', `/api/v1/contacts/${contactId}/eligibility`);
  // The window: 09:00-10:00 on the one weekday three days after the business
  // day now in Tokyo, so that it stays closed however fast business time runs.
  const now = (await why()).at;
  const tokyoDay = new Date(Date.parse(now) + 9 * 3600000).getUTCDay();
  const open = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][(tokyoDay + 3) % 7];
  await t.api('PATCH', `/api/v1/campaigns/${camp.id}`, { call_window: { [open]: [['09:00', '10:00']] } });
  await t.api('POST', `/api/v1/campaigns/${camp.id}/activate`);
  await t.waitFor(async () => (await why()).state === 'waiting', 'the contact waiting for its window');
  t.step(`campaign ${camp.id} active; contact ${contactId} (${e164}, Asia/Tokyo) waits for its window`);

  // Find it as a supervisor does: campaign, number written another way.
  await t.go('#/contacts');
  await t.axe('find a contact');
  await page.getByLabel('Campaign').selectOption(String(camp.id));
  await page.getByLabel('Look up by').selectOption('phone');
  await page.getByLabel('Look for').fill(written);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByRole('link', { name: 'Taro Yamada' }).waitFor();
  await t.shot('contacts-found');
  await page.getByRole('link', { name: 'Taro Yamada' }).click();
  await page.getByRole('heading', { name: `Contact ${contactId}` }).waitFor();

  const box = page.locator('section.why');
  await box.getByText('Waiting', { exact: true }).waitFor();
  const w1 = await why();
  const boxText = await box.textContent();
  t.ok(boxText.includes('09:00 (Asia/Tokyo)'), `the reason says when the window opens, its time: ${boxText}`);
  const mayGo = await box.locator('dt:has-text("May go again") + dd').textContent();
  t.ok(mayGo.includes(hhmm(w1.until, 'Asia/Tokyo')) && mayGo.includes('its time'), `"may go again" in the contact's time: ${mayGo}`);
  const browserZone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  t.ok(mayGo.includes(hhmm(w1.until, browserZone)) && mayGo.includes('your time'), `"may go again" in the browser's time: ${mayGo}`);
  t.ok((await box.textContent()).includes('None of its numbers is on a do-not-contact list.'), 'no DNC entry yet');
  await t.axe('contact waiting');
  await t.shot('contact-waiting');
  t.step('the contact page says it waits for 09:00 Tokyo time, in both zones');

  // Its number on the global list, through #/dnc.
  await t.go('#/dnc');
  await t.axe('dnc');
  await page.getByLabel('List', { exact: true }).selectOption('');
  await page.getByLabel('Number to add').fill(written);
  await page.getByLabel('Not for').selectOption('all');
  await page.getByLabel('Reason').fill('asked not to be called');
  await page.getByRole('button', { name: 'Add to the list' }).click();
  await page.getByRole('form', { name: 'Add a number' }).getByText(`${e164} is on the global list`).waitFor();
  await page.getByRole('cell', { name: e164 }).first().waitFor();
  await t.shot('dnc-added');
  t.step(`${e164} added to the global list through the page`);

  await t.go(`#/contacts/${contactId}`);
  await box.getByText('Closed: no more attempts').waitFor();
  const w2 = await why();
  t.eq([w2.state, w2.outcome], ['closed', 'DNC'], 'the API says closed DNC');
  const voice = w2.dnc.find((d) => d.channel === 'voice' && d.listed);
  t.ok(voice && voice.scope === 'global', 'the API lists the number on the global list for calls');
  const dncText = await box.locator('.dnc-list').textContent();
  t.ok(dncText.includes(e164) && dncText.includes('the global do-not-contact list since'), `the page names the list: ${dncText}`);
  t.ok(dncText.includes(hhmm(voice.since, browserZone)), `the page says since when (${voice.since}): ${dncText}`);
  t.ok(dncText.includes('asked not to be called'), 'the page gives the reason');
  t.ok((await box.locator('.why-reason').textContent()).includes('DNC'), 'the reason says DNC');
  await t.axe('contact on the DNC list');
  await t.shot('contact-dnc');
  t.step('the contact page says closed DNC, on the global list, since when');

  // An admin removes it, after a confirmation.
  await t.go('#/dnc');
  await page.getByLabel('Number', { exact: true }).fill(e164);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: `Remove ${e164}` }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await t.axe('dnc remove confirmation');
  await dialog.getByRole('button', { name: 'Remove from the list' }).click();
  await page.locator('main').getByText(`${e164} is not on the global list.`).waitFor();
  await t.waitFor(async () => !(await why()).dnc.some((d) => d.listed), 'the number off every list');
  t.step(`${e164} removed through the page`);

  // A file of numbers for the campaign's own list, one row bad: the report.
  const csv = `phone,reason\n+81 3 5555 0101,file test\nnot a number,file test\n+81 3 5555 0102,\n`;
  await page.getByLabel('List', { exact: true }).selectOption(String(camp.id));
  await page.getByLabel('DNC file').setInputFiles({ name: 'dnc.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  const report = page.getByRole('region', { name: 'Upload report' });
  await report.waitFor();
  const counts = Object.fromEntries(await report.locator('dl.counts dt').evaluateAll((dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  t.eq([counts['Rows read'], counts['Numbers added'], counts['Rows not loaded']], ['3', '2', '1'], 'the upload report\'s counts');
  const bad = await report.locator('table.data tbody tr').first().textContent();
  t.ok(bad.startsWith('3'), `the bad row is line 3 of the file: ${bad}`);
  t.eq(await page.locator('progress').getAttribute('value'), '100', 'the progress bar is full');
  const listed = await t.api('GET', `/api/v1/campaigns/${camp.id}/dnc?limit=10`);
  t.eq(listed.items.map((e) => e.phone).sort(), ['+81355550101', '+81355550102'], 'the campaign\'s list holds the file\'s numbers');
  await t.axe('dnc upload report');
  await t.shot('dnc-upload-report');
  t.step(`a DNC file uploaded to campaign ${camp.id}'s list: 2 added, line 3 refused, shown in the report`);

  await t.go(`#/contacts/${contactId}`);
  await box.getByText('None of its numbers is on a do-not-contact list.').waitFor();
  t.ok(!(await box.locator('.dnc-list').count()), 'no DNC entry shown after the removal');
  await t.shot('contact-dnc-removed');
  t.step('the contact page no longer names a list');
  t.shared.dncCampaignId = camp.id;
}

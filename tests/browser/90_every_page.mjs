// Every page of the console, one after the other, as a person clicking
// through the menu would see it: each renders its heading without an error
// box, gets a screenshot and an axe-core scan (serious or critical
// violations fail the run), and the keyboard reaches the skip link first.
export default async function (t) {
  const { page } = t;
  const first = async (path, key = 'items') => {
    const a = await t.api('GET', path);
    const items = Array.isArray(a) ? a : a[key] || [];
    return items.length ? items[0].id : null;
  };
  const campaign = t.shared.campaignId || (await first('/api/v1/campaigns?limit=1'));
  const strategy = await first('/api/v1/strategies?limit=1');
  const upload = await first('/api/v1/uploads?limit=1');
  let contact = null;
  if (campaign) {
    contact = await first(`/api/v1/campaigns/${campaign}/contacts?limit=1`);
  }
  const pages = [
    ['campaigns', '#/campaigns'],
    ['campaign-new', '#/campaigns/new'],
    campaign && ['campaign', `#/campaigns/${campaign}`],
    campaign && ['campaign-edit', `#/campaigns/${campaign}/edit`],
    campaign && ['campaign-upload', `#/campaigns/${campaign}/upload`],
    upload && ['upload-report', `#/uploads/${upload}`],
    ['strategies', '#/strategies'],
    ['strategy-new', '#/strategies/new'],
    strategy && ['strategy', `#/strategies/${strategy}`],
    ['rules', '#/rules'],
    ['dnc', '#/dnc'],
    ['contacts', '#/contacts'],
    contact && ['contact', `#/contacts/${contact}`],
    ['users', '#/users'],
    ['account', '#/account'],
    ['not-found', '#/no/such/page'],
  ].filter(Boolean);
  for (const [name, hash] of pages) {
    await t.go(hash);
    // Give the page's first data a chance to land: wait for no "Loading".
    await t.waitFor(async () => (await page.locator('main').getByText('Loading…').count()) === 0,
      `${name} loaded`, 30000);
    const errors = await page.locator('main .error').allTextContents();
    if (name !== 'not-found') t.ok(errors.length === 0, `${hash} shows no error (${errors.join(' | ')})`);
    await t.shot(`page-${name}`);
    await t.axe(name);
  }
  t.step(`${pages.length} pages rendered, photographed and scanned`);

  await t.go('#/campaigns');
  await page.reload();
  await page.locator('main h1').first().waitFor();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
  t.eq(focused, 'Skip to content', 'the first Tab stop');
}

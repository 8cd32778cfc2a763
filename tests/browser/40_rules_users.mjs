// Rules and users. #/rules lists every shipped rule set with its rules in
// plain words. #/users (admin): a viewer is created through the page; the
// last admin cannot be removed and the page says why; the viewer signs in
// in a browser context of its own, sees no change buttons anywhere, changes
// its own password on #/account and signs out; the admin then resets its
// password, disables it, and removes it after a confirmation.

async function signIn(browser, base, name, password) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'America/New_York', locale: 'en-US' });
  const p = await ctx.newPage();
  await p.goto(`${base}/#/sign-in`);
  await p.getByLabel('User name').fill(name);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
  return { ctx, p };
}

async function goIn(p, base, hash) {
  await p.goto(`${base}/${hash}`);
  await p.locator('main h1').first().waitFor();
}

export default async function (t) {
  const { page } = t;

  // Rules: every shipped set, its rules in words.
  const sets = (await t.api('GET', '/api/v1/rule-sets?limit=200')).items;
  const shipped = sets.filter((s) => s.shipped);
  t.ok(shipped.length > 0, 'the database has shipped rule sets');
  await t.go('#/rules');
  for (const s of shipped) {
    await page.getByRole('heading', { name: s.name, level: 2 }).waitFor();
  }
  const tcpa = page.locator('section.rule-set', { has: page.getByRole('heading', { name: 'US federal (TCPA)' }) });
  t.ok((await tcpa.textContent()).includes('Allowed every day, 08:00 to 21:00 in the person\'s own time.'),
    'the TCPA hours rule in plain words');
  await t.axe('rules');
  await t.shot('rules');
  t.step(`#/rules shows the ${shipped.length} shipped rule sets`);

  // Users: create a viewer through the page.
  const name = `viewer-${Date.now().toString(36)}`;
  const pw1 = 'first viewer password';
  const pw2 = 'second viewer password';
  await t.go('#/users');
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Role', { exact: true }).selectOption('viewer');
  await page.getByLabel('Initial password').fill(pw1);
  await page.getByRole('button', { name: 'Create user' }).click();
  const row = page.locator(`tr[data-user="${name}"]`);
  await row.waitFor();
  const made = (await t.api('GET', '/api/v1/users')).items.find((u) => u.name === name);
  t.eq(made && made.role, 'viewer', 'the user made through the page is a viewer');
  t.step(`viewer ${name} created through the page`);

  // The last enabled admin cannot be removed: the page shows the server's refusal next to it.
  const admins = (await t.api('GET', '/api/v1/users')).items.filter((u) => u.role === 'admin' && !u.disabled);
  if (admins.length === 1) {
    const me = admins[0].name;
    await page.getByRole('button', { name: `Remove ${me}`, exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove user' }).click();
    const adminRow = page.locator(`tr[data-user="${me}"]`);
    await adminRow.getByRole('alert').waitFor();
    t.ok((await adminRow.getByRole('alert').textContent()).includes('There must always be an enabled administrator.'),
      'the refusal to remove the last admin is shown in its row');
    t.ok((await t.api('GET', '/api/v1/users')).items.some((u) => u.name === me), 'the last admin is still there');
    await t.shot('users-last-admin');
    t.step('removing the last admin is refused, and the page says so');
  }
  await t.axe('users');
  await t.shot('users');

  // The viewer, in its own browser context: no change buttons.
  const browser = page.context().browser();
  const v = await signIn(browser, t.base, name, pw1);
  t.ok(await v.p.getByRole('link', { name: 'Users' }).isHidden(), 'a viewer has no Users menu entry');
  await goIn(v.p, t.base, '#/strategies');
  t.eq(await v.p.getByRole('button', { name: 'New strategy' }).count(), 0, 'no New strategy for a viewer');
  const strategies = (await t.api('GET', '/api/v1/strategies?limit=200')).items;
  const sid = t.shared.strategyId || strategies[0].id;
  await goIn(v.p, t.base, `#/strategies/${sid}`);
  // The dry run panel comes last: once it shows, the whole page is there.
  await v.p.getByRole('button', { name: 'Run dry run' }).waitFor();
  for (const b of ['Save changes', 'Delete strategy', 'Add outcome']) {
    t.eq(await v.p.getByRole('button', { name: b, exact: true }).count(), 0, `no "${b}" for a viewer`);
  }
  await t.axe('strategy as a viewer', v.p);
  await t.shot('strategy-viewer', v.p);
  await goIn(v.p, t.base, '#/dnc');
  await v.p.locator('main table.data').first().waitFor();
  for (const b of ['Add to the list', 'Upload']) {
    t.eq(await v.p.getByRole('button', { name: b, exact: true }).count(), 0, `no "${b}" for a viewer`);
  }
  t.eq(await v.p.getByRole('button', { name: /^Remove / }).count(), 0, 'no Remove on the DNC list for a viewer');
  await t.axe('dnc as a viewer', v.p);
  await t.shot('dnc-viewer', v.p);
  if (t.shared.dncCampaignId) {
    const c = await t.api('GET', `/api/v1/campaigns/${t.shared.dncCampaignId}/contacts?limit=1`);
    await goIn(v.p, t.base, `#/contacts/${c.items[0].id}`);
    await v.p.locator('section.why').getByRole('heading').first().waitFor();
    t.eq(await v.p.getByRole('button', { name: 'Schedule the callback' }).count(), 0, 'no callback for a viewer');
  }
  await goIn(v.p, t.base, '#/users');
  await v.p.getByText('Only an administrator manages users.').waitFor();
  t.eq(await v.p.getByRole('button', { name: 'Create user' }).count(), 0, 'no Create user for a viewer');
  t.step('the viewer sees no change buttons');

  // The viewer changes its own password on #/account.
  await goIn(v.p, t.base, '#/account');
  await v.p.getByLabel('Current password').fill('not my password now');
  await v.p.getByLabel('New password', { exact: true }).fill(pw2);
  await v.p.getByLabel('Repeat the new password').fill(pw2);
  await v.p.getByRole('button', { name: 'Change password' }).click();
  await v.p.getByText('This is not your password now.').waitFor();
  await v.p.getByLabel('Current password').fill(pw1);
  await v.p.getByRole('button', { name: 'Change password' }).click();
  await v.p.getByText('Your password is changed.').waitFor();
  await t.axe('account', v.p);
  await t.shot('account', v.p);
  await v.p.getByRole('button', { name: 'Sign out' }).click();
  await v.p.getByRole('heading', { name: 'Sign in' }).waitFor();
  await v.ctx.close();
  const again = await signIn(browser, t.base, name, pw2);
  await again.p.getByRole('button', { name: 'Sign out' }).click();
  await again.p.getByRole('heading', { name: 'Sign in' }).waitFor();
  await again.ctx.close();
  t.step('the viewer changed its password (a wrong current one refused), signed in with the new one, signed out');

  // The admin resets its password, disables it, then removes it.
  await t.go('#/users');
  const before = (await t.api('GET', '/api/v1/users')).items.find((x) => x.name === name);
  await page.getByRole('button', { name: `Reset password of ${name}` }).click();
  await page.getByLabel(`New password for ${name}`).fill('third viewer password');
  await page.getByRole('button', { name: 'Set password', exact: true }).click();
  await t.waitFor(async () => {
    const u = (await t.api('GET', '/api/v1/users')).items.find((x) => x.name === name);
    return u && u.password_changed_at !== before.password_changed_at;
  }, 'the reset password stored');
  await page.getByRole('button', { name: `Disable ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Disable user' }).click();
  await row.getByText('Disabled').waitFor();
  await page.getByRole('button', { name: `Remove ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove user' }).click();
  await row.waitFor({ state: 'detached' });
  t.ok(!(await t.api('GET', '/api/v1/users')).items.some((u) => u.name === name), 'the viewer is removed');
  t.step('the admin reset, disabled and removed the viewer through the page');
}

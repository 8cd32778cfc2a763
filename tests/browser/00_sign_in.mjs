// Signing in and out as a person does: a wrong password is refused with
// one plain message and no session; the right one lands on the campaigns;
// a deep link asked for while signed out is reached after signing in.
export default async function (t) {
  const { page } = t;
  const browser = page.context().browser();
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const p = await ctx.newPage();
  await p.goto(`${t.base}/#/strategies`);
  await p.getByRole('heading', { name: 'Sign in' }).waitFor();
  t.ok(await p.getByRole('navigation', { name: 'Main' }).isHidden(), 'the menu is hidden before signing in');
  await t.axe('sign in', p);
  await t.shot('sign-in', p);
  await p.getByLabel('User name').fill(t.user);
  await p.getByLabel('Password').fill('not the password at all');
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('alert').filter({ hasText: 'user name or password is wrong' }).waitFor();
  t.step('a wrong password is refused with one message');
  const cookies = await ctx.cookies();
  t.ok(!cookies.some((c) => c.name === 'ecm_session'), 'no session cookie after a wrong password');
  await p.getByLabel('Password').fill(t.password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
  await t.waitFor(async () => (await p.evaluate(() => location.hash)) === '#/strategies', 'the deep link after signing in');
  const cookie = (await ctx.cookies()).find((c) => c.name === 'ecm_session');
  t.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict');
  t.ok(await p.evaluate(() => !document.cookie.includes('ecm_session')), 'scripts cannot read the session cookie');
  t.step('signed in; the deep link was reached; the cookie is HttpOnly, SameSite=Strict');
  await p.getByRole('button', { name: 'Sign out' }).click();
  await p.getByRole('heading', { name: 'Sign in' }).waitFor();
  const status = await p.evaluate(async () => (await fetch('/api/v1/session')).status);
  t.eq(status, 401, 'the session after signing out');
  t.step('signed out: the session is gone at the server');
  await ctx.close();

  // The main page's frame (signed in by the runner).
  await t.go('#/campaigns');
  t.ok(await page.getByRole('navigation', { name: 'Main' }).isVisible(), 'the menu shows when signed in');
  t.ok(await page.getByRole('link', { name: 'Users' }).isVisible(), 'an admin sees Users');
}

// Links that cannot be used get a clear message and nothing of the room.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE, heading, launch, linkOf, noProblems, person, sees, shoot } from './helpers.js';

describe('links that cannot be used', () => {
  let browser;
  let visitor;

  before(async () => {
    browser = await launch();
    visitor = await person(browser, 'visitor');
  });

  after(async () => {
    await browser?.close();
  });

  async function roomLeaks(page) {
    const text = await page.locator('main').innerText();
    return ['Demo circle', 'Keeper Kim', 'Alex', 'Sam', 'Jordan'].filter((word) => text.includes(word));
  }

  it('a damaged link says so', async () => {
    const page = visitor.page;
    await page.goto(`${BASE}/join#t=this-is-not-a-token`);
    await heading(page, 'This link can’t be used');
    await sees(page, 'This invitation link is incomplete or damaged.');
    assert.equal(await page.locator('[data-screen="refused"]').getAttribute('data-code'), 'token_malformed');
    assert.deepEqual(await roomLeaks(page), []);
    assert.equal(page.url(), `${BASE}/join`, 'the bad token is not left in the address bar either');
    await shoot(page, '00-refused-damaged-link');
  });

  it('a link with a forged signature says so', async () => {
    const page = visitor.page;
    const link = linkOf('Alex');
    const [head, token] = link.split('#t=');
    const [header, claims, signature] = token.split('.');
    const flipped = signature[4] === 'A' ? 'B' : 'A';
    const forged = `${header}.${claims}.${signature.slice(0, 4)}${flipped}${signature.slice(5)}`;
    await page.goto(`${head}#t=${forged}`);
    await heading(page, 'This link can’t be used');
    assert.equal(await page.locator('[data-screen="refused"]').getAttribute('data-code'), 'token_bad_signature');
    await sees(page, 'This invitation link is not valid.');
    assert.deepEqual(await roomLeaks(page), []);
  });

  it('the join page without a link explains what to open', async () => {
    const page = visitor.page;
    await page.evaluate(() => sessionStorage.clear());
    await page.goto(`${BASE}/join`);
    await heading(page, 'Please use your invitation link');
    await shoot(page, '00-no-link');
    noProblems(visitor);
  });
});

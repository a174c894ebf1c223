// TURN in the browser (issue 13, first step): a room created relay-only
// reaches Chromium through the TURN server the operator runs (run.sh starts
// Debian's coturn, configured as README shows). The client builds its peer
// connection with the credential of `media_ready` and `iceTransportPolicy:
// relay`; getStats() shows the pair in use is a relay one, and video flows
// both ways through it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  acceptAll, accessible, createRoom, grows, heading, idsByName, launch, mediaStats, noProblems, person, press,
  seatLink,
} from './helpers.js';

const PHONE = { width: 390, height: 844 };

/** Waits until the page's peer connection runs over a pair of `type`; returns the path seen. */
async function pathBecomes(page, type) {
  const deadline = Date.now() + 15_000;
  let path = null;
  while (Date.now() < deadline) {
    path = (await mediaStats(page))?.path ?? null;
    if (path === type) return path;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return path;
}

describe('[turn] a relay-only room', () => {
  let browser;

  before(async () => {
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
  });

  it('carries video both ways through the TURN server', async () => {
    const room = await createRoom({
      kind: 'circle',
      title: 'Relay circle',
      options: { relay_only: true },
      seats: [
        { seat: 1, name: 'Keeper Kim', role: 'keeper' },
        { seat: 2, name: 'Ana', role: 'participant', party: 'harmed' },
      ],
    });
    const keeper = await person(browser, 'keeper');
    const ana = await person(browser, 'ana', PHONE);
    await keeper.page.goto(seatLink(room, 1));
    await acceptAll(keeper.page);
    await heading(keeper.page, 'Relay circle');
    await press(keeper.page, 'Open the room');
    await ana.page.goto(seatLink(room, 2));
    await acceptAll(ana.page);
    await heading(ana.page, 'You are in the waiting room');
    await press(keeper.page, 'Admit Ana');
    await heading(ana.page, 'The circle has not started yet');

    const kimSees = await idsByName(keeper.page);
    await grows(keeper.page, kimSees.Ana, 'video', { label: 'Ana\'s video at the keeper, relayed' });
    const anaSees = await idsByName(ana.page);
    await grows(ana.page, anaSees['Keeper Kim'], 'video', { label: 'the keeper\'s video at Ana, relayed' });
    for (const p of [keeper, ana]) {
      assert.equal(await pathBecomes(p.page, 'relay'), 'relay', `${p.label}'s media goes through the relay`);
    }
    await accessible(ana.page, 'a relay-only circle');
    noProblems(keeper, ana);
  });
});

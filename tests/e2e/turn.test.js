// TURN in the browser (issue 13), through the server's embedded TURN relay
// (run.sh turns it on, on loopback, over UDP, TCP and TLS):
// - a room created relay-only: the client builds its peer connection with the
//   credential of `media_ready` and `iceTransportPolicy: relay`; getStats()
//   shows the pair in use is a relay one, and video flows both ways;
// - a participant on a network that lets no UDP through (a network namespace
//   the test creates, with one TCP port of the TURN server bridged out):
//   Chromium joins an ordinary circle through TURN over TCP, and over TLS;
//   media flows both ways, and the talking piece still decides who is heard.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BASE, acceptAll, accessible, createRoom, grows, heading, idsByName, launch, mediaStats, noProblems, person, press,
  seatLink, staysFlatWhile,
} from './helpers.js';
import { tcpOnlyNetwork } from './tcp-only.js';

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

  it('carries video both ways through the embedded relay', async () => {
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

// Over TCP, and over TLS: only that one of the TURN server's ports gets out.
for (const [how, turnPort] of [['TCP', process.env.CK_TURN_PORT], ['TLS', process.env.CK_TURNS_PORT]]) describe(`[turn] a participant whose network lets no UDP through, over ${how}`, () => {
  let network;
  let browser;
  let inside;

  before(async () => {
    network = await tcpOnlyNetwork([Number(new URL(BASE).port), Number(turnPort)]);
    browser = await launch();
    // The relay's certificate is a self-signed one for 127.0.0.1.
    inside = await launch(network.chromium, ['--ignore-certificate-errors']);
  });

  after(async () => {
    await inside?.close();
    await browser?.close();
    network?.close();
  });

  it(`joins through TURN over ${how}, and the talking piece still decides who is heard`, async () => {
    const room = await createRoom({
      kind: 'circle',
      title: `Circle over ${how}`,
      seats: [
        { seat: 1, name: 'Keeper Kim', role: 'keeper' },
        { seat: 2, name: 'Ana', role: 'participant', party: 'harmed' },
        { seat: 3, name: 'Ben', role: 'participant', party: 'community' },
      ],
    });
    const keeper = await person(browser, 'keeper');
    const ben = await person(browser, 'ben');
    const ana = await person(inside, `ana (${how} only)`, PHONE);
    await keeper.page.goto(seatLink(room, 1));
    await acceptAll(keeper.page);
    await heading(keeper.page, `Circle over ${how}`);
    await press(keeper.page, 'Open the room');
    for (const [p, seat] of [[ana, 2], [ben, 3]]) {
      await p.page.goto(seatLink(room, seat));
      await acceptAll(p.page);
      await heading(p.page, 'You are in the waiting room');
    }
    await press(keeper.page, 'Admit Ana');
    await press(keeper.page, 'Admit Ben');
    // Both seated in the keeper's view before their ids are read.
    for (const name of ['Ana', 'Ben']) {
      await keeper.page.locator('.seat[data-person] .seat-name', { hasText: name }).waitFor();
    }
    const ids = await idsByName(keeper.page);
    await grows(keeper.page, ids.Ana, 'video', { label: `Ana's video at the keeper, over ${how}` });
    const anaSees = await idsByName(ana.page);
    await grows(ana.page, anaSees['Keeper Kim'], 'video', { label: `the keeper's video at Ana, over ${how}` });
    assert.equal(await pathBecomes(ana.page, 'relay'), 'relay', 'with no UDP, Ana\'s media goes through the relay');
    assert.notEqual((await mediaStats(keeper.page)).path, 'relay', 'the keeper, with UDP, needs no relay');

    // The piece with Ben: the keeper hears him, not Ana; then with Ana: her
    // voice crosses the relay, and Ben's no longer reaches the keeper.
    await press(keeper.page, 'Start the session');
    await keeper.page.selectOption('#give-to', String(ids.Ben));
    await press(keeper.page, 'Give');
    await heading(ben.page, 'You hold the talking piece');
    await grows(keeper.page, ids.Ben, 'audio', { label: 'Ben holds the piece' });
    await staysFlatWhile(keeper.page, ids.Ana, ids.Ben, 'audio', { label: 'keeper, while Ben holds the piece' });
    await keeper.page.selectOption('#give-to', String(ids.Ana));
    await press(keeper.page, 'Give');
    await heading(ana.page, 'You hold the talking piece');
    await grows(keeper.page, ids.Ana, 'audio', { more: 50, label: 'Ana holds the piece, through the relay' });
    await staysFlatWhile(keeper.page, ids.Ben, ids.Ana, 'audio', { label: 'keeper, while Ana holds the piece' });
    await accessible(ana.page, `a circle reached through TURN over ${how}`);
    noProblems(keeper, ana, ben);
  });
});

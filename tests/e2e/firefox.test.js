// Firefox in a circle with Chromium (SPEC §6.5, §8): Firefox numbers its codecs
// differently (Opus 109, VP8 120 where Chromium says 111 and 96), and every
// browser must receive every stream. Three 3-person circles, each in a room of
// its own: Firefox as the second arrival, as the third, and as the keeper. In
// each, getStats() in every page shows audio and video from every other person
// (open floor), and the talking-piece gate holds for the Firefox person: their
// audio reaches the others only while they hold the piece.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  acceptAll, createRoom, grows, heading, idsByName, launch, mediaStats, noProblems, person, press, seatLink,
  staysFlatWhile,
} from './helpers.js';
import { ffAcceptAll, ffHeading, ffPress, firefoxPerson, launchFirefox } from './firefox.js';

const NAMES = ['Keeper Kim', 'Ana', 'Ben'];

/** The same few actions in either browser. */
function chromiumDriver(p) {
  const { page } = p;
  return {
    ...p,
    browser: 'chromium',
    goto: (url) => page.goto(url),
    acceptAll: () => acceptAll(page),
    heading: (text) => heading(page, text),
    press: (name) => press(page, name),
    select: (selector, value) => page.locator(selector).selectOption(String(value)),
    fill: (selector, value) => page.locator(selector).fill(value),
  };
}

function firefoxDriver(p) {
  const { page } = p;
  return {
    ...p,
    browser: 'firefox',
    goto: (url) => page.goto(url),
    acceptAll: () => ffAcceptAll(page),
    heading: (text) => ffHeading(page, text),
    press: (name) => ffPress(page, name),
    select: (selector, value) => page.select(selector, String(value)),
    // Visible is enough, then typed like a person would: puppeteer's locator also waits
    // for a still box in the viewport, and the keeper's console keeps moving while faces
    // and alerts change around it.
    fill: async (selector, value) => {
      const field = await page.waitForSelector(selector, { visible: true })
        .catch((error) => { throw new Error(`no visible ${selector}: ${error.message}`); });
      await field.focus();
      await field.evaluate((el) => { el.value = ''; });
      await field.type(value);
    },
  };
}

/** Polls a condition from Node, so it works the same for both drivers. */
async function until(what, condition, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function mediaConnected(p) {
  await until(`${p.label}'s media connection`, async () => (await mediaStats(p.page))?.connectionState === 'connected');
}

/**
 * One circle: `order[i]` is the browser of seat i+1 (the keeper first).
 * @param {('chromium'|'firefox')[]} order
 */
function circle(order) {
  const firefoxSeat = order.indexOf('firefox');
  const title = `Firefox at seat ${firefoxSeat + 1}`;
  describe(title, () => {
    let chromium;
    let firefox;
    /** @type {ReturnType<typeof chromiumDriver>[]} seat order */
    let people;
    let room;
    /** @type {Record<string, number>} */
    let ids;

    before(async () => {
      [chromium, firefox] = await Promise.all([launch(), launchFirefox()]);
      people = await Promise.all(order.map(async (kind, i) => (kind === 'firefox'
        ? firefoxDriver(await firefoxPerson(firefox, `${NAMES[i]} (firefox)`))
        : chromiumDriver(await person(chromium, `${NAMES[i]} (chromium)`)))));
      room = await createRoom({
        kind: 'circle',
        title,
        seats: NAMES.map((name, i) => ({ seat: i + 1, name, role: i === 0 ? 'keeper' : 'participant', party: i === 0 ? undefined : 'community' })),
      });
    });

    after(async () => {
      await Promise.all([chromium?.close(), firefox?.close()]);
    });

    it('the keeper opens the room and admits the second and the third arrival', async () => {
      const [keeper, ...participants] = people;
      await keeper.goto(seatLink(room, 1));
      await keeper.acceptAll();
      await keeper.press('Open the room');
      for (const [i, p] of participants.entries()) {
        await p.goto(seatLink(room, i + 2));
        await p.acceptAll();
        await p.heading('You are in the waiting room');
        await keeper.press(`Admit ${NAMES[i + 1]}`);
        await p.heading('The circle has not started yet');
      }
      await keeper.press('Start the session');
      await keeper.select('#mode-select', 'open');
      await keeper.press('Switch mode');
      await Promise.all(people.map(mediaConnected));
      ids = await idsByName(people[0].page);
      assert.deepEqual(Object.keys(ids).sort(), [...NAMES].sort());
    });

    it('every page receives audio and video from every other person', async () => {
      await Promise.all(people.flatMap((to, t) => people.filter((_, f) => f !== t).flatMap((_, f0) => {
        const f = f0 >= t ? f0 + 1 : f0;
        return ['audio', 'video'].map((kind) => grows(to.page, ids[NAMES[f]], kind,
          { more: kind === 'audio' ? 50 : 25, timeout: 20_000, label: `${NAMES[f]} → ${NAMES[t]} (${to.browser})` }));
      })));
    });

    it('the talking-piece gate holds for the Firefox person', async () => {
      const keeper = people[0];
      await keeper.select('#mode-select', 'talking_piece');
      await keeper.press('Switch mode');
      // The piece goes first to a participant who is not in Firefox; the one who does
      // not hold it is the Firefox participant (with a Firefox keeper: Ben).
      const holder = firefoxSeat === 1 ? 'Ben' : 'Ana';
      const quiet = firefoxSeat === 0 ? 'Ben' : NAMES[firefoxSeat];
      await keeper.fill('#round-prompt', 'What brought you here today?');
      await keeper.select('#round-first', ids[holder]);
      await keeper.press('Start round');
      await people[NAMES.indexOf(holder)].heading('You hold the talking piece');
      // The keeper hears the holder (so the gates have switched) and not the other participant.
      await grows(keeper.page, ids[holder], 'audio', { more: 25, label: `${holder} at ${keeper.label}` });
      await staysFlatWhile(keeper.page, ids[quiet], ids[holder], 'audio',
        { label: `${keeper.label}, while ${holder} holds the piece` });
      // The piece goes to the quiet one: now they are heard by everyone.
      await keeper.select('#give-to', ids[quiet]);
      await keeper.press('Give');
      await people[NAMES.indexOf(quiet)].heading('You hold the talking piece');
      await Promise.all(people.filter((_, i) => NAMES[i] !== quiet).map((p) =>
        grows(p.page, ids[quiet], 'audio', { more: 50, label: `${quiet} holds the piece, at ${p.label}` })));
      await staysFlatWhile(keeper.page, ids[holder], ids[quiet], 'audio',
        { label: `${keeper.label}, after the piece went from ${holder} to ${quiet}` });
    });

    it('shows no errors in any browser', () => {
      noProblems(...people);
    });
  });
}

describe('Firefox and Chromium in one circle', () => {
  circle(['chromium', 'firefox', 'chromium']);
  circle(['chromium', 'chromium', 'firefox']);
  circle(['firefox', 'chromium', 'chromium']);
});

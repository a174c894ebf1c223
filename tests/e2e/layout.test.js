// The circle's layout and priorities (issue 14, SPEC §10): on phones of
// 390×844 and 360×740, in English, Spanish and Arabic, the safety controls
// (microphone, camera, "I need a moment", step out, leave) are inside the first screen
// on every circle screen; at 1440×900 the person who may speak now has the
// largest tile; the keeper's console fits one desktop screen with its alerts
// at the top, and a keeper on a phone sees a pause request without
// scrolling. axe-core checks every screen on the way.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  accessible, confirm, createRoom, heading, inFirstViewport, launch, noProblems, person, press, seatLink, sees, shoot,
} from './helpers.js';

const WIDE = { width: 1440, height: 900 };
const PHONES = [{ width: 390, height: 844 }, { width: 360, height: 740 }];
/** The safety controls of the bar. */
const BAR = '.callbar button';

/**
 * Waits until the button is on the screen and clear of the bar fixed at its bottom, where it
 * was scrolled without the person doing anything; fails with where it is.
 */
async function clearOfBar(page, name, what) {
  const place = (label) => {
    const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === label);
    const bar = document.querySelector('.dock');
    if (!button || !bar) return { found: false };
    const r = button.getBoundingClientRect();
    const barTop = bar.getBoundingClientRect().top;
    return { found: true, top: r.top, bottom: r.bottom, barTop, clear: r.top >= 0 && r.bottom <= barTop };
  };
  const expression = `(${place})(${JSON.stringify(name)}).clear`;
  const seen = await page.waitForFunction(expression, null, { timeout: 10_000 }).then(() => true, () => false);
  const at = await page.evaluate(place, name);
  assert.ok(seen && at.clear, `${what}: “${name}” is on the screen above the bar (${JSON.stringify(at)})`);
}

describe('[layout] video first, safety controls in reach, a compact console', () => {
  let browser;
  let keeper;
  /** One participant per language, each on a phone. */
  let ana;
  let ben;
  let carla;
  let room;

  before(async () => {
    browser = await launch();
    keeper = await person(browser, 'keeper', WIDE);
    ana = await person(browser, 'ana', PHONES[0]);
    ben = await person(browser, 'ben', PHONES[1]);
    carla = await person(browser, 'carla', PHONES[0]);
    room = await createRoom({
      kind: 'circle',
      title: 'Neighbourhood circle',
      seats: [
        { seat: 1, name: 'Keeper Kim', role: 'keeper' },
        { seat: 2, name: 'Ana', role: 'participant', party: 'harmed' },
        { seat: 3, name: 'Ben', role: 'participant', party: 'responsible' },
        { seat: 4, name: 'Carla', role: 'participant', party: 'community' },
      ],
      support_contacts: [
        { name: 'Apoyo a víctimas', contact: '0808 168 9111, a cualquier hora' },
        { name: 'Dana, del programa', contact: '01632 960 001 (de lunes a viernes)' },
      ],
    });
  });

  after(async () => {
    await browser?.close();
  });

  /**
   * Every participant's bar is inside the first screen at both phone sizes,
   * and the screen passes axe. `label` names the circle screen.
   */
  async function barsInReach(label) {
    for (const p of [ana, ben, carla]) {
      const own = p.page.viewportSize();
      for (const size of PHONES) {
        await p.page.setViewportSize(size);
        assert.equal(await p.page.locator(BAR).count(), 5, `${p.label}, ${label}: microphone, camera, a moment, step out, leave`);
        await inFirstViewport(p.page, BAR, `${p.label} (${p.lang}) at ${size.width}×${size.height}, ${label}`);
        // And whether others can hear them, always in sight.
        await inFirstViewport(p.page, '[data-section="heard"]', `${p.label} (${p.lang}) at ${size.width}×${size.height}, ${label}: heard or not`);
      }
      await p.page.setViewportSize(own);
      await accessible(p.page, `${p.label} (${p.lang}), ${label}`);
    }
  }

  /** Areas of the video tiles on a page; the one with data-person = `id` must be the largest. */
  async function largestTile(page, id, what) {
    const tiles = await page.evaluate(() => [...document.querySelectorAll('.tile')]
      .filter((el) => el.getClientRects().length > 0)
      .map((el) => {
        const r = el.getBoundingClientRect();
        return { person: Number(el.getAttribute('data-person')), spot: el.classList.contains('spotlight-tile'), area: r.width * r.height };
      }));
    const biggest = tiles.reduce((a, b) => (b.area > a.area ? b : a));
    assert.equal(biggest.person, id, `${what}: the tile of person ${id} is the largest (${JSON.stringify(tiles)})`);
    assert.ok(tiles.filter((t) => t !== biggest).every((t) => t.area < biggest.area / 2), `${what}: clearly larger than every other tile`);
  }

  it('everyone arrives: the keeper sees who waits as an alert, before any session tool', async () => {
    await keeper.page.goto(seatLink(room, 1));
    await heading(keeper.page, 'Before you join');
    for (const radio of await keeper.page.getByRole('radio', { name: 'I agree' }).all()) await radio.check();
    await press(keeper.page, 'Continue');
    await heading(keeper.page, 'Neighbourhood circle');
    await press(keeper.page, 'Open the room');
    await keeper.page.getByRole('button', { name: 'Start the session', exact: true }).first().waitFor();

    const arrivals = [[ana, 2, '', 'I agree', 'Continue'], [ben, 3, 'es', 'Estoy de acuerdo', 'Continuar'], [carla, 4, 'ar', 'أوافق', 'متابعة']];
    for (const [p, seat, lang, agree, next] of arrivals) {
      p.lang = lang || 'en';
      await p.page.goto(lang ? `${seatLink(room, seat)}&lang=${lang}` : seatLink(room, seat));
      // The consent error comes into view, with the focus, on a phone.
      await press(p.page, next);
      await p.page.locator('.consent-problem').waitFor();
      await inFirstViewport(p.page, '.consent-problem', `${p.label}: the consent error`);
      assert.equal(await p.page.evaluate(() => document.activeElement?.classList.contains('consent-problem')), true, 'the error has the focus');
      await accessible(p.page, `${p.label}: consent with its error`);
      for (const radio of await p.page.getByRole('radio', { name: agree, exact: true }).all()) await radio.check();
      await press(p.page, next);
      await p.page.locator('[data-screen="lobby"]').waitFor();
    }
    await sees(keeper.page, 'Waiting to be let in: Ana, Ben, and Carla');
    await inFirstViewport(keeper.page, '[data-alert="waiting"]', 'keeper: who is waiting');
    // Before the session: no rounds, side rooms or agreement; no red "Close the room" up front.
    for (const section of ['floor', 'caucus', 'agreement', 'end']) {
      assert.equal(await keeper.page.locator(`[data-section="${section}"]`).isVisible(), false, `no ${section} tools before the start`);
    }
    assert.equal(await keeper.page.locator('[data-section="session"] [data-key="close"]').count(), 0, 'closing is not among the session buttons');
    await accessible(keeper.page, 'keeper, people waiting');
  });

  it('admitted, not started: the bar is within reach, and nobody but the keeper can be heard', async () => {
    for (const name of ['Ana', 'Ben', 'Carla']) await press(keeper.page, `Admit ${name}`);
    await heading(ana.page, 'The circle has not started yet');
    await heading(ben.page, 'El círculo todavía no ha empezado');
    await heading(carla.page, 'لم تبدأ الدائرة بعد');
    await sees(ana.page, 'You cannot be heard now');
    await sees(ben.page, 'Ahora no se le puede oír');
    await sees(carla.page, 'لا يمكن للآخرين سماعك الآن');
    await sees(keeper.page, 'You can be heard now');
    // In Arabic the room's (Latin) title still sits on the right.
    const gaps = await carla.page.evaluate(() => {
      const title = document.querySelector('.screen-head h1');
      const range = document.createRange();
      range.selectNodeContents(title);
      const words = range.getBoundingClientRect();
      const box = title.getBoundingClientRect();
      return { right: box.right - words.right, left: words.left - box.left };
    });
    assert.ok(gaps.right < gaps.left, `the Arabic page's title hugs the right: ${JSON.stringify(gaps)}`);
    await barsInReach('not started');
    await shoot(carla.page, '61-layout-not-started-ar');
  });

  it('a round: the holder is the largest tile at 1440×900, and only the holder hears "You can be heard now"', async () => {
    const page = keeper.page;
    await press(page, 'Start the session');
    await page.getByLabel('Question for the round').fill('What would help you feel at ease today?');
    await page.getByLabel('Start with').selectOption({ label: 'Ana' });
    await press(page, 'Start round');
    await heading(ana.page, 'You hold the talking piece');
    await sees(ana.page, 'You can be heard now');
    await clearOfBar(ana.page, 'Pass the talking piece', 'Ana, given the piece on a phone');
    await sees(ben.page, 'Ahora no se le puede oír');
    const ids = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.seat[data-person]')]
      .map((seat) => [seat.querySelector('.seat-name').textContent, Number(seat.getAttribute('data-person'))])));
    await largestTile(page, ids.Ana, 'keeper at 1440×900');
    await ben.page.setViewportSize(WIDE);
    await largestTile(ben.page, ids.Ana, 'Ben at 1440×900');
    await shoot(ben.page, '62-layout-holder-largest');
    await ben.page.setViewportSize(PHONES[1]);
    await largestTile(ben.page, ids.Ana, 'Ben on a phone');
    // The keeper's console fits the screen beside the faces.
    await inFirstViewport(page, '[data-section="console"]', 'keeper console at 1440×900');
    await inFirstViewport(page, '[data-section="stage"] .spotlight-tile', 'the holder’s face beside the console');
    await accessible(page, 'keeper in a round');
    await barsInReach('a round');
  });

  it('the one-tap microphone stops sending at once, and says so', async () => {
    const mic = ana.page.getByRole('button', { name: 'Microphone', exact: true });
    assert.equal(await mic.getAttribute('aria-pressed'), 'true');
    await mic.click();
    await ana.page.waitForFunction(() => document.querySelector('[data-key="bar-mic"]')?.getAttribute('aria-pressed') === 'false');
    await sees(ana.page, 'You may speak now, but your microphone is off');
    // Nothing of the voice leaves the page: the microphone's track is off.
    assert.equal(await ana.page.evaluate(() => document.querySelector('.tile.you video').srcObject.getAudioTracks()[0].enabled), false);
    await mic.click();
    await sees(ana.page, 'You can be heard now');
  });

  it('on a phone the keeper’s console is a sheet opened from the bar; a pause request clears it away', async () => {
    const page = keeper.page;
    const sheet = page.locator('[data-section="console"]');
    await page.setViewportSize(PHONES[1]);
    assert.equal(await sheet.isVisible(), false, 'closed, the console is not there at all');
    await inFirstViewport(page, '[data-key="tools"]', 'keeper on a phone: the tools button');
    await press(page, 'Tools');
    await sheet.waitFor();
    assert.equal(await page.locator('[data-key="tools"]').getAttribute('aria-expanded'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'console-title', 'the focus goes to the sheet');
    await inFirstViewport(page, '.sheet-head', 'the sheet’s heading and its close button');
    await inFirstViewport(page, BAR, 'the bar below the open sheet');
    await accessible(page, 'keeper on a phone with the tools open');
    await shoot(page, '68-layout-keeper-sheet');
    // Escape closes it, and the focus returns to the button that opened it.
    await page.keyboard.press('Escape');
    await sheet.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-key')), 'tools');
    await press(page, 'Tools');
    await sheet.waitFor();

    await press(ben.page, 'Necesito un momento');
    await sees(page, 'Ben needs a moment');
    await sheet.waitFor({ state: 'hidden' });
    assert.equal(await page.locator('[data-key="tools"]').getAttribute('aria-expanded'), 'false');
  });

  it('a pause request reaches the keeper as an alert in the first screen, on a desktop and on a phone', async () => {
    await keeper.page.setViewportSize(WIDE);
    await sees(keeper.page, 'Ben needs a moment');
    await inFirstViewport(keeper.page, '[data-alert^="pause-"]', 'keeper at 1440×900: the pause request');
    for (const size of PHONES) {
      await keeper.page.setViewportSize(size);
      await inFirstViewport(keeper.page, '[data-alert^="pause-"] .alert-title', `keeper at ${size.width}×${size.height}: the pause request`);
      await inFirstViewport(keeper.page, '[data-alert^="pause-"] button', `keeper at ${size.width}×${size.height}: pausing is one tap`);
    }
    await accessible(keeper.page, 'keeper on a phone with a pause request');
    await keeper.page.setViewportSize(WIDE);
    await press(keeper.page, 'Pause the circle');
    await heading(ana.page, 'The circle is paused');
    await barsInReach('paused');
    await press(keeper.page, 'Resume');
    await heading(ana.page, /holds the talking piece|You hold/);
  });

  it('outside a side room with the keeper, people are told what is true', async () => {
    const page = keeper.page;
    await page.getByLabel('Keeper Kim (you)').check();
    await page.getByLabel('Ana', { exact: true }).check();
    await press(page, 'Open a side room');
    await heading(ana.page, 'You are in a private side room');
    await heading(ben.page, 'La facilitación está en una sala aparte');
    await sees(ben.page, 'Keeper Kim y Ana hablan en privado');
    await heading(carla.page, 'الميسّر في غرفة جانبية');
    await barsInReach('side room');
    await press(page, 'Bring them back');
    await heading(ana.page, /holds the talking piece|You hold/);
  });

  it('raised hands and a withdrawal reach the keeper as alerts; the keeper’s own status is theirs', async () => {
    const page = keeper.page;
    await page.getByLabel('Floor mode').selectOption({ label: 'Moderated floor' });
    await press(page, 'Switch mode');
    await heading(page, 'You give the floor');
    await press(ana.page, 'Raise my hand');
    await sees(page, 'Hands raised: Ana');
    await inFirstViewport(page, '[data-alert="hands"]', 'keeper: raised hands');
    await press(page, 'Give the floor to Ana');
    await sees(ana.page, 'You can be heard now');
    await barsInReach('moderated floor');

    await press(carla.page, 'سحب موافقتي');
    await carla.page.locator('dialog[open] button.danger').click();
    await sees(page, 'Carla has withdrawn their consent');
    await inFirstViewport(page, '[data-alert^="withdrawn-"]', 'keeper: the withdrawal');
    await accessible(page, 'keeper with alerts');
    await shoot(page, '66-layout-keeper-alerts');
  });

  it('leaving asks first; after leaving, going back comes first and the questionnaire is optional', async () => {
    await press(ben.page, 'Salir');
    await confirm(ben.page, 'Salir ahora');
    await heading(ben.page, 'Ha salido del círculo');
    const back = ben.page.getByRole('button', { name: 'Volver al círculo' });
    await inFirstViewport(ben.page, '[data-screen="ended"] > .actions .button', 'Ben: going back');
    assert.equal(await back.getAttribute('class'), 'button primary');
    const folded = ben.page.locator('details.optional-feedback');
    if (await folded.count()) assert.equal(await folded.evaluate((d) => d.open), false, 'the questionnaire waits, folded');
    // The room's support contacts, in the program's order, before any question.
    await heading(ben.page, 'Si necesita hablar con alguien');
    assert.deepEqual(await ben.page.locator('.support-list li').allInnerTexts(), [
      'Apoyo a víctimas\n0808 168 9111, a cualquier hora',
      'Dana, del programa\n01632 960 001 (de lunes a viernes)',
    ]);
    await accessible(ben.page, 'Ben after leaving');
    await shoot(ben.page, '67-layout-left-es');
    await sees(keeper.page, 'Ben has left the circle');
    noProblems(keeper, ana, ben);
  });
});


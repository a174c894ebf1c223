// The client in Spanish and in Arabic (right to left), chosen by the link's
// `lang` and switched live by the person: consent, waiting room, circle and
// keeper console, with screenshots at desktop and phone widths. Needs no
// server support for languages: the link's `&lang=` is read by the client.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BASE, PHONE, accessible, announced, confirm, createRoom, heading, launch, noProblems, person, press, seatLink, sees, shoot,
} from './helpers.js';

/** The page's language and direction, as the document says them. */
async function pageLanguage(page) {
  return page.evaluate(() => ({ lang: document.documentElement.lang, dir: document.documentElement.dir }));
}

/** Chooses a language with the switch in the top bar, as a keyboard user would. */
async function switchTo(page, label, name) {
  const select = page.getByLabel(label, { exact: true });
  await select.focus();
  await select.selectOption({ label: name });
}

/**
 * At phone width, nothing is wider than the screen and no button's words
 * spill out of it (long translations are the usual cause).
 */
async function fitsPhone(page, what) {
  const before = page.viewportSize();
  await page.setViewportSize(PHONE);
  const problems = await page.evaluate(() => {
    const out = [];
    if (document.documentElement.scrollWidth > window.innerWidth) {
      out.push(`page is ${document.documentElement.scrollWidth}px wide`);
    }
    for (const el of document.querySelectorAll('button, .choice, .chip, select, label')) {
      // Hidden, or only for screen readers (a 1 px box by design).
      if (!(el instanceof HTMLElement) || el.offsetParent === null || el.getBoundingClientRect().width <= 1) continue;
      if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName.toLowerCase()} “${el.textContent.trim().slice(0, 40)}” overflows`);
    }
    return out;
  });
  if (before) await page.setViewportSize(before);
  assert.deepEqual(problems, [], `${what} fits a 360 px phone`);
}

describe('languages', () => {
  let browser;
  let keeper;
  let ana;
  let bashir;
  let room;

  before(async () => {
    browser = await launch();
    keeper = await person(browser, 'keeper');
    ana = await person(browser, 'ana', PHONE);
    bashir = await person(browser, 'bashir');
    room = await createRoom({
      kind: 'circle',
      title: 'Círculo del barrio',
      seats: [
        { seat: 1, name: 'Keeper Kim', role: 'keeper' },
        { seat: 2, name: 'Ana', role: 'participant', party: 'harmed' },
        { seat: 3, name: 'Bashir', role: 'participant', party: 'responsible' },
      ],
    });
  });

  after(async () => {
    await browser?.close();
  });

  it('the keeper opens the room (in English: no lang in the link)', async () => {
    const page = keeper.page;
    await page.goto(seatLink(room, 1));
    await heading(page, 'Before you join');
    assert.deepEqual(await pageLanguage(page), { lang: 'en', dir: 'ltr' });
    for (const radio of await page.getByRole('radio', { name: 'I agree' }).all()) await radio.check();
    await press(page, 'Continue');
    await heading(page, 'Círculo del barrio');
    await press(page, 'Open the room');
    await page.getByRole('button', { name: 'Start the session', exact: true }).first().waitFor();
  });

  it('shows the consent terms in Spanish from the link’s lang, and the switch keeps what was chosen', async () => {
    const page = ana.page;
    await page.goto(`${seatLink(room, 2)}&lang=es`);
    await heading(page, 'Antes de entrar');
    assert.deepEqual(await pageLanguage(page), { lang: 'es', dir: 'ltr' });
    assert.equal(page.url(), `${BASE}/join`, 'the whole fragment leaves the address bar');
    assert.equal(await page.title(), 'Entrar — Circle Keeper');
    await sees(page, 'Está bien decir que no.');
    await press(page, 'Continuar');
    await sees(page, 'Responda a todos los puntos, por favor (faltan 4).');
    await shoot(page, '30-consent-es');
    await accessible(page, '30-consent-es');
    await fitsPhone(page, 'consent in Spanish');

    // A choice made before switching survives the switch; nothing is sent.
    await page.getByRole('radio', { name: 'Estoy de acuerdo', exact: true }).first().check();
    await switchTo(page, 'Idioma', 'English');
    await heading(page, 'Before you join');
    assert.deepEqual(await pageLanguage(page), { lang: 'en', dir: 'ltr' });
    assert.equal(await page.getByRole('radio', { name: 'I agree' }).first().isChecked(), true);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'language-select', 'the focus stays on the switch');
    await announced(page, 'The page is now in English.');
    await switchTo(page, 'Language', 'Español');
    await heading(page, 'Antes de entrar');
    assert.equal(await page.evaluate(() => localStorage.getItem('circlekeeper.lang')), 'es');

    for (const radio of await page.getByRole('radio', { name: 'Estoy de acuerdo', exact: true }).all()) await radio.check();
    await press(page, 'Continuar');
    await heading(page, 'Está en la sala de espera');
    await shoot(page, '32-lobby-es');
    await accessible(page, '32-lobby-es');
    await fitsPhone(page, 'the waiting room in Spanish');
  });

  it('shows Arabic right to left from the link’s lang', async () => {
    const page = bashir.page;
    await page.goto(`${seatLink(room, 3)}&lang=ar`);
    await heading(page, 'قبل الدخول');
    assert.deepEqual(await pageLanguage(page), { lang: 'ar', dir: 'rtl' });
    // Right to left for real: the heading's words start at the right edge of its card.
    const layout = await page.evaluate(() => {
      const range = document.createRange();
      range.selectNodeContents(document.querySelector('.screen-title'));
      const title = range.getBoundingClientRect();
      const card = document.querySelector('.card').getBoundingClientRect();
      return { rightGap: card.right - title.right, leftGap: title.left - card.left };
    });
    assert.ok(layout.rightGap < layout.leftGap, `the title hugs the right edge: ${JSON.stringify(layout)}`);
    await shoot(page, '33-consent-ar');
    await accessible(page, '33-consent-ar');
    await fitsPhone(page, 'consent in Arabic');
    for (const radio of await page.getByRole('radio', { name: 'أوافق', exact: true }).all()) await radio.check();
    await press(page, 'متابعة');
    await heading(page, 'أنت في غرفة الانتظار');
    await shoot(page, '34-lobby-ar');
    await accessible(page, '34-lobby-ar');
  });

  it('runs the circle with each person in their own language', async () => {
    const page = keeper.page;
    await press(page, 'Admit Ana');
    await press(page, 'Admit Bashir');
    await heading(ana.page, 'El círculo todavía no ha empezado');
    await announced(ana.page, 'Ya está en el círculo.');
    await heading(bashir.page, 'لم تبدأ الدائرة بعد');
    await press(page, 'Start the session');
    await page.getByLabel('Question for the round').fill('What would help you feel at ease today?');
    await page.getByLabel('Start with').selectOption({ label: 'Ana' });
    await press(page, 'Start round');

    await heading(ana.page, 'Usted tiene el objeto de la palabra');
    await sees(ana.page, 'Ronda 1 · Pregunta de esta ronda');
    await heading(bashir.page, 'أداة الحديث مع Ana');
    await sees(bashir.page, 'دورك هو التالي.');
    await shoot(ana.page, '35-circle-es');
    await accessible(ana.page, '35-circle-es');
    await shoot(bashir.page, '31-circle-ar');
    await accessible(bashir.page, '31-circle-ar');
    await fitsPhone(ana.page, 'the circle in Spanish');
    await fitsPhone(bashir.page, 'the circle in Arabic');
    // The seats keep seat order in both directions, from the edge where reading starts.
    const seats = (page) => page.evaluate(() => [...document.querySelectorAll('.seat')]
      .map((s) => ({ name: s.querySelector('.seat-name').textContent, x: s.getBoundingClientRect().x })));
    const seatsAr = await seats(bashir.page);
    const seatsEs = await seats(ana.page);
    assert.deepEqual(seatsAr.map((s) => s.name), seatsEs.map((s) => s.name));
    assert.ok(seatsEs[0].x < seatsEs[1].x, `Spanish: the first seat is on the left ${JSON.stringify(seatsEs)}`);
    assert.ok(seatsAr[0].x > seatsAr[1].x, `Arabic: the first seat is on the right ${JSON.stringify(seatsAr)}`);
  });

  it('switches live in the circle, keeps the choice across a reload, and the choice beats the link', async () => {
    const page = bashir.page;
    await switchTo(page, 'اللغة', 'Español');
    await heading(page, 'Ana tiene el objeto de la palabra');
    assert.deepEqual(await pageLanguage(page), { lang: 'es', dir: 'ltr' });
    await sees(page, 'Después le toca a usted.');
    await page.reload();
    await heading(page, 'Ana tiene el objeto de la palabra');
    assert.deepEqual(await pageLanguage(page), { lang: 'es', dir: 'ltr' }, 'own choice over the link’s ar');
    await switchTo(page, 'Idioma', 'العربية');
    await heading(page, 'أداة الحديث مع Ana');
    assert.deepEqual(await pageLanguage(page), { lang: 'ar', dir: 'rtl' });
  });

  it('the keeper console works in Spanish and in Arabic', async () => {
    const page = keeper.page;
    await switchTo(page, 'Language', 'Español');
    await heading(page, 'Círculo del barrio');
    await sees(page, 'Panel de facilitación');
    await page.getByRole('button', { name: 'Terminar la ronda', exact: true }).waitFor();
    await shoot(page, '36-keeper-es');
    await accessible(page, '36-keeper-es');
    await fitsPhone(page, 'the keeper console in Spanish');
    await switchTo(page, 'Idioma', 'العربية');
    await sees(page, 'لوحة الميسّر');
    await shoot(page, '37-keeper-ar');
    await accessible(page, '37-keeper-ar');
    await fitsPhone(page, 'the keeper console in Arabic');
    await switchTo(page, 'اللغة', 'English');
    await sees(page, 'Keeper console');
  });

  it('the leave dialog and the ended screen in Spanish, with the switch still there', async () => {
    const page = ana.page;
    await press(page, 'Pasar el objeto de la palabra');
    await heading(page, 'Bashir tiene el objeto de la palabra');
    await press(page, 'Salir');
    await heading(page, '¿Salir del círculo?');
    await shoot(page, '38-leave-dialog-es');
    await accessible(page, '38-leave-dialog-es');
    await confirm(page, 'Salir ahora');
    await heading(page, 'Ha salido del círculo');
    await page.getByLabel('Idioma', { exact: true }).waitFor();
    await shoot(page, '39-ended-left-es');
    await accessible(page, '39-ended-left-es');
    await fitsPhone(page, 'the ended screen in Spanish');
  });

  it('a refused link explains itself in the link’s language, with the switch', async () => {
    const visitor = await person(browser, 'visitor', PHONE);
    await visitor.page.goto(`${BASE}/join#t=not-a-token&lang=ar`);
    await heading(visitor.page, 'لا يمكن استخدام هذا الرابط');
    assert.deepEqual(await pageLanguage(visitor.page), { lang: 'ar', dir: 'rtl' });
    await shoot(visitor.page, '40-refused-ar');
    await accessible(visitor.page, '40-refused-ar');
    await switchTo(visitor.page, 'اللغة', 'Español');
    await heading(visitor.page, 'Este enlace no se puede usar');
    await shoot(visitor.page, '41-refused-es');
    await accessible(visitor.page, '41-refused-es');
    noProblems(keeper, ana, bashir, visitor);
  });
});

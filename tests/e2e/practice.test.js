// Restorative practice in the browser (issue 15): a youth conference run
// from a script outline, in Spanish, with everyone but the keeper on a phone:
// a minor who waits at the consent gate until her guardian has answered for
// her, an interpreter, and a scripted round that gives the floor to the
// responsible party and then the harmed party, turn by turn; the
// interpreter's voice reaches everyone only in her person's turn. Then a
// preparation meeting of a case, in Spanish on a phone. axe-core checks every
// screen on the way.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BASE, accessible, createRoom, grows, heading, idsByName, launch, noProblems, person, press, seatLink, sees, shoot,
  staysFlatWhile,
} from './helpers.js';

const PHONE = { width: 390, height: 844 };

/** Accepts every point shown inside `scope` (in Spanish unless told), then presses `go`. */
async function agreeAll(page, go, scope = page, agree = 'Estoy de acuerdo') {
  // `all()` does not wait: the points must be on the page first.
  await scope.getByRole('radio', { name: agree, exact: true }).first().waitFor();
  for (const radio of await scope.getByRole('radio', { name: agree, exact: true }).all()) await radio.check();
  await press(page, go);
}

describe('[practice] a youth conference from a script, with a guardian and an interpreter', () => {
  let browser;
  let keeper;
  let ana;
  let mia;
  let gus;
  let ivo;
  let room;

  before(async () => {
    browser = await launch();
    keeper = await person(browser, 'keeper');
    [ana, mia, gus, ivo] = await Promise.all(['ana', 'mia', 'gus', 'ivo'].map((label) => person(browser, label, PHONE)));
    room = await createRoom({
      kind: 'conference',
      title: 'Conferencia del parque',
      language: 'es',
      options: { entry_order: null },
      seats: [
        { seat: 1, name: 'Keeper Kim', role: 'keeper', language: 'en' },
        { seat: 2, name: 'Ana', role: 'participant', party: 'harmed' },
        { seat: 3, name: 'Mia', role: 'participant', party: 'responsible', guardian_seat: 4 },
        { seat: 4, name: 'Gus', role: 'participant', party: 'guardian' },
        { seat: 5, name: 'Ivo', role: 'participant', party: 'interpreter', interprets_for: [2] },
      ],
      outline: {
        name: 'Guion de conferencia',
        steps: [
          { kind: 'opening', prompt: 'Bienvenidos.' },
          { kind: 'round', prompt: '¿Qué pasó?', speakers: [{ party: 'responsible' }, { party: 'harmed' }] },
          { kind: 'closing_round', prompt: 'Una palabra para cerrar.' },
        ],
      },
    });
  });

  after(async () => {
    await browser?.close();
  });

  it('the minor reads the terms but waits until her guardian has answered for her', async () => {
    await keeper.page.goto(seatLink(room, 1));
    await agreeAll(keeper.page, 'Continue', keeper.page, 'I agree');
    await heading(keeper.page, 'Conferencia del parque');
    await press(keeper.page, 'Open the room');

    await mia.page.goto(seatLink(room, 3));
    await heading(mia.page, 'Antes de entrar');
    await sees(mia.page, 'Su madre, padre o tutor tiene que aceptar primero estos puntos por usted.');
    const go = mia.page.getByRole('button', { name: 'Continuar', exact: true });
    assert.equal(await go.isDisabled(), true, 'she cannot answer yet');
    await accessible(mia.page, 'a minor waiting for her guardian');
    await shoot(mia.page, '70-practice-minor-waits-es');

    await gus.page.goto(seatLink(room, 4));
    await agreeAll(gus.page, 'Continuar');
    await heading(gus.page, 'Está en la sala de espera');
    const card = gus.page.locator('[data-section="minors"] .minor-card');
    await heading(gus.page, 'Consentimiento por Mia');
    await accessible(gus.page, 'a guardian asked to answer for the minor');
    await shoot(gus.page, '71-practice-guardian-answers-es');
    await agreeAll(gus.page, 'Enviar mis respuestas por Mia', card);
    await sees(gus.page, 'Ya respondió por Mia. Ahora puede dar sus propias respuestas.');

    // The gate opens in front of her.
    await mia.page.waitForFunction(() => !document.querySelector('.consent-form button[type="submit"]')?.disabled);
    assert.equal(await mia.page.locator('.guardian-needed').isVisible(), false);
    await agreeAll(mia.page, 'Continuar');
    await heading(mia.page, 'Está en la sala de espera');
  });

  it('a scripted round gives the floor to the responsible party, then the harmed party', async () => {
    for (const [p, seat] of [[ana, 2], [ivo, 5]]) {
      await p.page.goto(seatLink(room, seat));
      await agreeAll(p.page, 'Continuar');
      await heading(p.page, 'Está en la sala de espera');
    }
    for (const name of ['Ana', 'Mia', 'Gus', 'Ivo']) await press(keeper.page, `Admit ${name}`);
    await heading(mia.page, 'El círculo todavía no ha empezado');
    await press(keeper.page, 'Start the session');
    // The guided start's last step begins the outline.
    await press(keeper.page, 'Begin the outline');
    await sees(mia.page, 'Bienvenidos.');
    await press(keeper.page, 'Next step');

    await heading(mia.page, 'Usted tiene la palabra');
    await sees(mia.page, 'Ahora se le puede oír');
    await sees(ana.page, 'Ahora no se le puede oír');
    // SPEC §3.2.7 on the media: while Mia has the floor, Ivo interprets for
    // Ana alone; the keeper hears Mia and not Ivo.
    const ids = await idsByName(keeper.page);
    await staysFlatWhile(keeper.page, ids.Ivo, ids.Mia, 'audio', { label: 'keeper, Mia has the floor' });
    await grows(ana.page, ids.Ivo, 'audio', { label: 'Ana hears her interpreter' });
    await accessible(mia.page, 'the minor has the floor in the script');
    await shoot(mia.page, '72-practice-scripted-floor-es');
    await press(mia.page, 'Pasar sin hablar');
    await heading(ana.page, 'Usted tiene la palabra');
    await sees(mia.page, 'Ahora no se le puede oír');
    // Ana's turn: her interpreter reaches everyone, her own voice too.
    await grows(keeper.page, ids.Ivo, 'audio', { label: 'keeper hears the interpreter in Ana\'s turn' });
    await grows(mia.page, ids.Ivo, 'audio', { label: 'Mia hears the interpreter in Ana\'s turn' });
    await press(ana.page, 'He terminado: devolver la palabra');
    await sees(ana.page, 'Ahora no se le puede oír');
    await accessible(ana.page, 'after the script');
    noProblems(keeper, ana, mia, gus, ivo);
  });
});

describe('[practice] a preparation meeting of a case', () => {
  let browser;

  before(async () => {
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
  });

  it('says it is a preparation meeting, to the keeper and to the person on a phone', async () => {
    const made = await fetch(`${BASE}/api/v1/cases`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${process.env.CK_API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Caso 2027-114' }),
    });
    assert.equal(made.status, 201);
    const { case_id: caseId } = await made.json();
    const room = await createRoom({
      kind: 'preparation',
      case_id: caseId,
      title: 'Preparación con Ana',
      language: 'es',
      seats: [
        { seat: 1, name: 'Keeper Kim', role: 'keeper', language: 'en' },
        { seat: 2, name: 'Ana', role: 'participant', party: 'harmed' },
        { seat: 3, name: 'Sue', role: 'participant', party: 'supporter', supports_seat: 2 },
      ],
    });
    const keeper = await person(browser, 'keeper');
    const ana = await person(browser, 'ana', PHONE);
    await keeper.page.goto(seatLink(room, 1));
    await agreeAll(keeper.page, 'Continue', keeper.page, 'I agree');
    await sees(keeper.page, 'Preparation meeting · ');
    await press(keeper.page, 'Open the room');

    await ana.page.goto(seatLink(room, 2));
    await sees(ana.page, 'Reunión de preparación · ');
    await accessible(ana.page, 'a preparation meeting\'s consent');
    await shoot(ana.page, '73-practice-preparation-consent-es');
    await agreeAll(ana.page, 'Continuar');
    await heading(ana.page, 'Está en la sala de espera');
    await press(keeper.page, 'Admit Ana');
    await press(keeper.page, 'Start the session');
    // Open floor: Ana is heard without asking.
    await sees(ana.page, 'Ahora se le puede oír');
    await sees(ana.page, 'Reunión de preparación · ');
    await accessible(ana.page, 'a preparation meeting in session');
    noProblems(keeper, ana);
  });
});

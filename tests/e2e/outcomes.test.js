// Issue 8 end to end against the real server: a room's own language and the
// program's translations of its consent terms, a seat's language in its
// link, the circle's outline (`set_outline`, `next_step`), due dates in the
// agreement, and the feedback questionnaire posted to /feedback.
//
// These need the server parts of issue 8 (branches `rules` and `outcomes`);
// each test says which. Against a server without them they fail.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE, confirm, createRoom, heading, launch, noProblems, person, press, seatLink, sees, shoot } from './helpers.js';

async function acceptAllAs(page, agree, go) {
  for (const radio of await page.getByRole('radio', { name: agree, exact: true }).all()) await radio.check();
  await press(page, go);
}

describe('issue 8 against the server', () => {
  let browser;
  let keeper;
  let ana;
  let ben;
  let room;

  before(async () => {
    browser = await launch();
    keeper = await person(browser, 'keeper');
    ana = await person(browser, 'ana');
    ben = await person(browser, 'ben');
    // rules: `language`, consent `translations`, seat `language`.
    room = await createRoom({
      kind: 'circle',
      title: 'Círculo de prueba',
      language: 'es',
      consent: {
        version: 'e2e-1',
        items: [
          { id: 'voluntary', text: 'I take part freely.', required: true, translations: { es: 'Participo libremente.', ar: 'أشارك بإرادتي.' } },
          { id: 'confidential', text: 'What is said stays here.', required: true },
        ],
      },
      seats: [
        { seat: 1, name: 'Keeper Kim', role: 'keeper', language: 'en' },
        { seat: 2, name: 'Ana', role: 'participant', party: 'harmed' },
        { seat: 3, name: 'Ben', role: 'participant', party: 'responsible', language: 'ar' },
      ],
    });
  });

  after(async () => {
    await browser?.close();
  });

  it('[rules] a seat’s language travels in its link', () => {
    assert.match(seatLink(room, 3), /#t=[^&]+&lang=ar$/);
    assert.match(seatLink(room, 1), /&lang=en$/);
    assert.doesNotMatch(seatLink(room, 2), /lang=/, 'no language for the seat: none in the link');
  });

  it('[rules] the keeper opens the room in English (the link beats the room’s Spanish)', async () => {
    const page = keeper.page;
    await page.goto(seatLink(room, 1));
    await heading(page, 'Before you join');
    // The program gave participants' terms only: the keeper reads the standard keepers' terms.
    await sees(page, 'I will respect every person');
    assert.equal(await page.getByText('I take part freely.').count(), 0, 'not the participants’ terms');
    await acceptAllAs(page, 'I agree', 'Continue');
    await heading(page, 'Círculo de prueba');
    await press(page, 'Open the room');
  });

  it('[rules] the room’s language and the program’s translations reach the consent screen', async () => {
    const page = ana.page;
    await page.goto(seatLink(room, 2));
    await heading(page, 'Antes de entrar');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'es');
    await sees(page, 'Participo libremente.');
    await sees(page, 'What is said stays here.');
    await shoot(page, '50-consent-translated-es');
    await acceptAllAs(page, 'Estoy de acuerdo', 'Continuar');
    await heading(page, 'Está en la sala de espera');

    await ben.page.goto(seatLink(room, 3));
    await heading(ben.page, 'قبل الدخول');
    await sees(ben.page, 'أشارك بإرادتي.');
    await acceptAllAs(ben.page, 'أوافق', 'متابعة');
    await heading(ben.page, 'أنت في غرفة الانتظار');
  });

  it('[rules] the keeper writes an outline and moves through it; participants see the step', async () => {
    const page = keeper.page;
    await press(page, 'Admit Ana');
    await press(page, 'Admit Ben');
    await press(page, 'Start the session');
    const panel = page.locator('[data-section="outline"]');
    await panel.getByRole('button', { name: 'Write an outline' }).click();
    await panel.getByLabel('Name of the outline').fill('E2E circle');
    await page.locator('#outline-step-1-prompt').fill('Welcome to the circle.');
    await page.locator('#outline-step-2-prompt').fill('How are you arriving today?');
    await panel.getByRole('button', { name: 'Save the outline' }).click();
    await sees(page, 'Outline saved.');
    // The guided start's last step offers the outline's first step.
    const guide = page.locator('[data-section="guide"]');
    assert.equal(await guide.locator('.guide-step').innerText(), 'Begin your outline.');
    await guide.getByRole('button', { name: 'Begin the outline' }).click();
    await sees(ana.page, 'Paso 1 de 3 · Apertura');
    await guide.waitFor({ state: 'hidden' });
    await sees(ana.page, 'Welcome to the circle.');
    await panel.getByRole('button', { name: 'Next step' }).click();
    // A check-in starts a round with its prompt, exactly as start_round does.
    await sees(ana.page, 'Paso 2 de 3 · Presentación');
    await sees(ana.page, 'Ronda 1 · Pregunta de esta ronda');
    await sees(ben.page, 'How are you arriving today?');
    await shoot(ana.page, '51-circle-outline-step-es');
    await shoot(page, '52-keeper-outline-live');
    await panel.getByRole('button', { name: 'Next step' }).click();
    await sees(ana.page, 'Paso 3 de 3 · Cierre');
    await sees(page, 'This is the last step.');
  });

  it('[outcomes] the agreement carries a due date, shown to everyone', async () => {
    const page = keeper.page;
    const panel = page.locator('[data-section="agreement"]');
    await panel.getByLabel('What').first().fill('Ben repairs the fence.');
    await panel.getByLabel('Who is responsible').first().fill('Ben');
    await panel.getByLabel('Due date (optional)').first().fill('2027-05-31');
    // The owner, by seat, so the follow-up can tell them.
    await panel.getByLabel('Who owns it (told at follow-up)').first().selectOption({ label: 'Ben (Seat 3)' });
    await press(page, 'Save draft');
    await press(page, 'Make final');
    await confirm(page, 'Make final');
    // The draft shows the date too: wait for the final text, whose items the API then has.
    await ana.page.locator('[data-section="agreement"].final time[datetime="2027-05-31"]').waitFor();
    const followUp = await fetch(`${BASE}/api/v1/rooms/${room.room_id}/agreement`, {
      headers: { Authorization: `Bearer ${process.env.CK_API_KEY}` },
    }).then((r) => r.json());
    assert.equal(followUp.items[0].owner_seat, 3, JSON.stringify(followUp));
    assert.equal(await ana.page.locator('time[datetime="2027-05-31"]').innerText(), '31 de mayo de 2027');
  });

  it('[outcomes] when the room closes, participants are offered the questionnaire; answers are posted and thanked', async () => {
    await press(keeper.page, 'Close the room');
    await confirm(keeper.page, 'Close the room');
    await heading(ana.page, 'La reunión ha terminado');
    await heading(ana.page, '¿Cómo ha sido para usted?');
    // The standard questions, on the 5-point scale.
    assert.equal(await ana.page.locator('fieldset.feedback-question').count(), 5);
    await ana.page.locator('input[name="fb-felt_heard"][value="4"]').check();
    await ana.page.locator('input[name="fb-felt_safe"][value="5"]').check();
    await ana.page.getByLabel('¿Quiere añadir algo más? (opcional)').fill('Gracias.');
    await shoot(ana.page, '53-feedback-real-es');
    await press(ana.page, 'Enviar');
    await sees(ana.page, 'Gracias. Hemos recibido sus respuestas.');

    await heading(ben.page, 'كيف كانت التجربة بالنسبة إليك؟');
    await press(ben.page, 'لا، شكرًا');
    await sees(ben.page, 'لا بأس. شكرًا لمشاركتك.');
    // The keeper is not asked (and is told what they did, with the summary).
    await heading(keeper.page, 'You have closed the meeting');
    assert.equal(await keeper.page.locator('[data-section="feedback"]').count(), 0);
    noProblems(keeper, ana, ben);
  });
});

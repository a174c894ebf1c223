// The outline UI, the due date and the feedback form, driven by a scripted
// server inside the page (a fake WebSocket and a fake fetch for /feedback):
// they test the client against the agreed interfaces of issue 8 on their own,
// before and besides the real server (outcomes.test.js runs them for real).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE, PHONE, accessible, heading, inFirstViewport, launch, noProblems, person, press, sees, shoot } from './helpers.js';

/** Replaces the page's WebSocket and its fetch of /feedback by scripted ones. */
function scriptedServer() {
  window.__sent = [];
  window.__posts = [];
  window.__feedbackAnswer = { status: 204 };
  window.WebSocket = class extends EventTarget {
    constructor(url) {
      super();
      this.url = url;
      this.readyState = 0;
      window.__socket = this;
      setTimeout(() => {
        this.readyState = 1;
        this.dispatchEvent(new Event('open'));
      }, 0);
    }
    send(text) {
      const msg = JSON.parse(text);
      window.__sent.push(msg);
      if (msg.type === 'hello') this.say({ type: 'welcome', session: 1, you: window.__you ?? 2 });
      else if (typeof msg.ref === 'number') this.say({ type: 'ok', ref: msg.ref });
    }
    say(msg) {
      const event = new Event('message');
      event.data = JSON.stringify(msg);
      this.dispatchEvent(event);
    }
    close() {
      this.readyState = 3;
    }
  };
  const realFetch = window.fetch;
  window.fetch = async (url, init) => {
    if (String(url) !== '/feedback') return realFetch(url, init);
    window.__posts.push({ headers: init.headers, body: JSON.parse(init.body) });
    const { status, body } = window.__feedbackAnswer;
    return new Response(body ? JSON.stringify(body) : null, { status, headers: body ? { 'Content-Type': 'application/json' } : {} });
  };
}

const people = [
  { id: 1, name: 'Keeper Kim', seat: 1, role: 'keeper', party: null, presence: 'in_circle', may_speak: true, muted: false, in_caucus: false, hand_raised: false, ready: false },
  { id: 2, name: 'Ana', seat: 2, role: 'participant', party: 'harmed', presence: 'in_circle', may_speak: false, muted: false, in_caucus: false, hand_raised: false, ready: false },
  { id: 3, name: 'Ben', seat: 3, role: 'participant', party: 'responsible', presence: 'in_circle', may_speak: false, muted: false, in_caucus: false, hand_raised: false, ready: false },
];
const outline = {
  name: 'Circle after the break-in',
  steps: [
    { kind: 'opening', prompt: 'Welcome. We sit together in a circle.' },
    { kind: 'check_in', prompt: 'How are you arriving today?' },
    { kind: 'round', prompt: 'What happened, and how has it affected you?' },
    { kind: 'closing', prompt: '' },
  ],
  current: 1,
};

/** A circle view as the server would send it, with `changes` on top. */
function circleView(you, changes = {}) {
  return {
    stage: 'circle', you, role: you === 1 ? 'keeper' : 'participant', title: 'Demo circle', kind: 'circle',
    phase: 'in_session', locked: false, mode: 'talking_piece', keeper_speaks_out_of_turn: true, turn_seconds: null,
    entry_order: null, people, holder: 2, next: 3, round: { number: 1, prompt: 'How are you arriving today?', marks: [] },
    hands: [], granted: [], turn: null, caucus: null, caucuses: [], agreement: null, outline, language: 'en', ...changes,
  };
}

async function open(browser, label, { you, lang, viewport } = {}) {
  const p = await person(browser, label, viewport);
  await p.context.addInitScript(scriptedServer);
  await p.context.addInitScript((id) => { window.__you = id; }, you);
  await p.page.goto(`${BASE}/join#t=scripted-token${lang ? `&lang=${lang}` : ''}`);
  await p.page.waitForFunction(() => window.__sent?.some((m) => m.type === 'hello'));
  return p;
}

const serverSays = (page, msg) => page.evaluate((m) => window.__socket.say(m), msg);
const sent = (page, type) => page.evaluate((t) => window.__sent.filter((m) => m.type === t), type);

describe('outline, due dates and feedback against a scripted server', () => {
  let browser;
  const all = [];

  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  it('participants see the current step quietly, without repeating the round’s question', async () => {
    const ana = await open(browser, 'ana', { you: 2 });
    all.push(ana);
    const page = ana.page;
    await serverSays(page, { type: 'state', view: circleView(2) });
    await heading(page, 'You hold the talking piece');
    await sees(page, 'Step 2 of 4 · Check-in');
    assert.equal(await page.locator('main').getByText('How are you arriving today?').count(), 1, 'the prompt is shown once, in the round card');
    await serverSays(page, { type: 'state', view: circleView(2, { outline: { ...outline, current: 0 }, round: null, holder: null, next: null }) });
    await sees(page, 'Step 1 of 4 · Opening');
    await sees(page, 'Welcome. We sit together in a circle.');
    await shoot(page, '42-circle-step');
    await accessible(page, '42-circle-step');
    // Without an outline (or from a server that sends none) there is no step card.
    await serverSays(page, { type: 'state', view: circleView(2, { outline: null }) });
    await page.locator('[data-section="step"]').waitFor({ state: 'hidden' });
    await serverSays(page, { type: 'state', view: circleView(2, { outline: undefined }) });
    await page.locator('[data-section="step"]').waitFor({ state: 'hidden' });
  });

  it('the keeper sees the outline, the current step, and moves on with “Next step”', async () => {
    const keeper = await open(browser, 'keeper', { you: 1 });
    all.push(keeper);
    const page = keeper.page;
    await serverSays(page, { type: 'state', view: circleView(1, { outline: undefined }) });
    await heading(page, 'Demo circle');
    assert.equal(await page.locator('[data-section="outline"]').isHidden(), true, 'hidden when the server sends no outline');
    await serverSays(page, { type: 'state', view: circleView(1) });
    const panel = page.locator('[data-section="outline"]');
    await panel.waitFor();
    await sees(page, 'Circle after the break-in');
    assert.match(await panel.locator('[aria-current="step"]').innerText(), /Check-in/);
    await panel.getByRole('button', { name: 'Next step', exact: true }).click();
    await page.waitForFunction(() => window.__sent.some((m) => m.type === 'next_step'));
    await shoot(page, '43-keeper-outline');
    await accessible(page, '43-keeper-outline');

    // At the last step there is no next one; outside the session neither.
    await serverSays(page, { type: 'state', view: circleView(1, { outline: { ...outline, current: 3 } }) });
    await sees(page, 'This is the last step.');
    assert.equal(await panel.getByRole('button', { name: 'Next step' }).isDisabled(), true);
    await serverSays(page, { type: 'state', view: circleView(1, { phase: 'open', outline: { ...outline, current: null } }) });
    await sees(page, 'You can move through the steps while the session is running.');
    assert.equal(await panel.getByRole('button', { name: 'Begin with the first step' }).isDisabled(), true);
  });

  it('everyone sees the circle’s values; the keeper writes them one per line', async () => {
    const values = ['Respect', 'Speak from the heart', 'Listen with the heart'];
    const ana = await open(browser, 'ana values', { you: 2, viewport: PHONE });
    all.push(ana);
    await serverSays(ana.page, { type: 'state', view: circleView(2, { values: [] }) });
    await heading(ana.page, 'You hold the talking piece');
    assert.equal(await ana.page.locator('[data-section="values"]').isHidden(), true, 'no card without values');
    await serverSays(ana.page, { type: 'state', view: circleView(2, { values }) });
    const card = ana.page.locator('[data-section="values"]');
    await card.waitFor();
    assert.deepEqual(await card.getByRole('listitem').allInnerTexts(), values);
    assert.equal(await card.getByRole('heading', { name: 'Our values' }).count(), 1);
    await shoot(ana.page, '48-circle-values');
    await accessible(ana.page, '48-circle-values');

    const keeper = await open(browser, 'keeper values', { you: 1 });
    all.push(keeper);
    const page = keeper.page;
    await serverSays(page, { type: 'state', view: circleView(1, { values: [] }) });
    const editor = page.getByLabel('Values and guidelines');
    await editor.fill('  Respect \n\nSpeak from the heart\n');
    await page.getByRole('button', { name: 'Save values', exact: true }).click();
    await page.waitForFunction(() => window.__sent.some((m) => m.type === 'set_values'));
    assert.deepEqual((await sent(page, 'set_values')).map((m) => m.values), [['Respect', 'Speak from the heart']]);
    // The room's list comes back and fills the editor; the keeper sees the card too.
    await serverSays(page, { type: 'state', view: circleView(1, { values }) });
    await page.locator('[data-section="values"]').waitFor();
    assert.equal(await editor.inputValue(), values.join('\n'));
    await shoot(page, '49-keeper-values');
    await accessible(page, '49-keeper-values');
  });

  it('stepping out is one tap on a phone, says what it means, and one tap brings the person back', async () => {
    const ana = await open(browser, 'ana steps out', { you: 2, viewport: PHONE });
    all.push(ana);
    const page = ana.page;
    await serverSays(page, { type: 'state', view: circleView(2) });
    await heading(page, 'You hold the talking piece');
    await page.getByRole('button', { name: 'Step out', exact: true }).click();
    await page.waitForFunction(() => window.__sent.some((m) => m.type === 'step_out'));
    const out = people.map((p) => (p.id === 2 ? { ...p, stepped_out: true, may_speak: false } : p));
    await serverSays(page, { type: 'state', view: circleView(2, { people: out, holder: 3, next: 1 }) });
    await sees(page, 'You have stepped out');
    const back = page.getByRole('button', { name: 'Come back', exact: true });
    assert.equal(await back.getAttribute('aria-pressed'), 'true');
    await inFirstViewport(page, '[data-key="step-out"]', 'Come back, on a phone');
    await shoot(page, '50-stepped-out');
    await accessible(page, '50-stepped-out');
    await back.click();
    await page.waitForFunction(() => window.__sent.some((m) => m.type === 'step_back'));

    // The keeper is told at once, and sees it on the person's seat (never why).
    const keeper = await open(browser, 'keeper sees a step out', { you: 1 });
    all.push(keeper);
    await serverSays(keeper.page, { type: 'state', view: circleView(1) });
    await heading(keeper.page, 'Demo circle');
    await serverSays(keeper.page, { type: 'state', view: circleView(1, { people: out, holder: 3, next: 1 }) });
    await sees(keeper.page, 'Ana has stepped out');
    assert.ok(await keeper.page.locator('[data-person="2"]').getByText('stepped out').count() > 0);
    await shoot(keeper.page, '51-keeper-stepped-out');
    await accessible(keeper.page, '51-keeper-stepped-out');
    // Back: the alert goes by itself.
    await serverSays(keeper.page, { type: 'state', view: circleView(1) });
    await keeper.page.locator('[data-alert="stepped_out-2"]').waitFor({ state: 'detached' });
  });

  it('the keeper edits the outline: add, move, remove, check, save', async () => {
    const page = all[1].page;
    const panel = page.locator('[data-section="outline"]');
    await panel.getByRole('button', { name: 'Edit the outline' }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'outline-name', 'the editor starts at the name');
    await panel.getByLabel('Name of the outline').fill('Shorter circle');
    await panel.getByRole('button', { name: 'Add a step' }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'outline-step-5-kind', 'the new step has the focus');
    await page.locator('#outline-step-5-prompt').fill('What can be done to make things right?');
    await panel.getByRole('button', { name: 'Move step 5 earlier' }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'outline-step-4-up', 'the focus follows the moved step');
    await panel.getByRole('button', { name: 'Remove step 1' }).click();
    // A round step without its question is not sent.
    await page.locator('#outline-step-2-prompt').fill('');
    await panel.getByRole('button', { name: 'Save the outline' }).click();
    await sees(page, 'Please give the outline a name, and a prompt to every check-in, guidelines and round step.');
    assert.deepEqual(await sent(page, 'set_outline'), []);
    await page.locator('#outline-step-2-prompt').fill('What happened?');
    await page.locator('#outline-step-1-kind').selectOption('guidelines');
    await shoot(page, '44-keeper-outline-editor');
    await accessible(page, '44-keeper-outline-editor');
    await panel.getByRole('button', { name: 'Save the outline' }).click();
    await page.waitForFunction(() => window.__sent.some((m) => m.type === 'set_outline'));
    const [command] = await sent(page, 'set_outline');
    assert.deepEqual(command.outline, {
      name: 'Shorter circle',
      steps: [
        { kind: 'guidelines', prompt: 'How are you arriving today?' },
        { kind: 'round', prompt: 'What happened?' },
        { kind: 'round', prompt: 'What can be done to make things right?' },
        { kind: 'closing', prompt: '' },
      ],
    });
    await sees(page, 'Outline saved.');
    await panel.getByRole('button', { name: 'Edit the outline' }).waitFor();
  });

  it('the agreement editor sends a due date only when one is set, and views show it', async () => {
    const page = all[1].page;
    const panel = page.locator('[data-section="agreement"]');
    // The agreement is a tool of the session: not offered before it starts (no agreement yet).
    assert.equal(await panel.isVisible(), false, 'no agreement editor before the session');
    await serverSays(page, { type: 'state', view: circleView(1) });
    await panel.waitFor();
    await panel.getByLabel('What').first().fill('Ben repairs the fence.');
    await panel.getByLabel('Due date (optional)').first().fill('2026-06-30');
    await press(page, 'Add an item');
    await panel.getByLabel('What').nth(1).fill('Ana and Ben meet again.');
    await press(page, 'Save draft');
    await page.waitForFunction(() => window.__sent.some((m) => m.type === 'draft_agreement'));
    const [draft] = await sent(page, 'draft_agreement');
    assert.deepEqual(draft.items, [
      { what: 'Ben repairs the fence.', who: '', by: '', due: '2026-06-30' },
      { what: 'Ana and Ben meet again.', who: '', by: '' },
    ]);
    const agreement = { version: 1, items: draft.items, text: '…', hash: 'h1', is_final: true, acknowledged_by: [] };
    await serverSays(page, { type: 'state', view: circleView(1, { agreement }) });
    await page.locator('[data-section="agreement"] time[datetime="2026-06-30"]').waitFor();
    const ana = all[0].page;
    await serverSays(ana, { type: 'state', view: circleView(2, { agreement }) });
    assert.equal(await ana.locator('[data-section="agreement"] time[datetime="2026-06-30"]').innerText(), 'June 30, 2026');
  });

  it('after the meeting, a participant answers the questionnaire by keyboard and is thanked', async () => {
    const page = all[0].page;
    await serverSays(page, {
      type: 'ended', reason: 'room_closed',
      feedback: {
        questions: [
          { id: 'felt_heard', text: 'I felt heard.', translations: { es: 'Me sentí escuchado o escuchada.' } },
          { id: 'felt_safe', text: 'I felt safe.' },
          { id: 'fair_process', text: 'The process was fair.' },
        ],
        free_text: true, scale: 5,
      },
    });
    await heading(page, 'The meeting has ended');
    await heading(page, 'How was it for you?');
    // Keyboard only: Tab into the first scale, arrows choose.
    await page.getByRole('radio', { name: '1 of 5 — Not at all' }).first().focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.locator('input[name="fb-felt_heard"]:checked').getAttribute('value'), '4');
    await page.getByRole('group', { name: /The process was fair/ }).getByRole('radio', { name: '5 of 5 — Completely' }).check();
    await page.getByLabel('Anything else you would like to say? (optional)').fill('Thank you for the calm.');
    await shoot(page, '45-feedback');
    await accessible(page, '45-feedback');
    await press(page, 'Send');
    await sees(page, 'Thank you. Your answers have been received.');
    const posts = await page.evaluate(() => window.__posts);
    assert.equal(posts.length, 1);
    assert.equal(posts[0].headers.Authorization, 'Bearer scripted-token', 'the invitation token is the credential');
    assert.deepEqual(posts[0].body, { answers: { felt_heard: 4, fair_process: 5 }, comment: 'Thank you for the calm.' });
    await shoot(page, '46-feedback-thanks');
    await accessible(page, '46-feedback-thanks');
  });

  it('declining is one action, in Spanish with the question’s translation, on a phone', async () => {
    const ben = await open(browser, 'ben', { you: 3, lang: 'es', viewport: PHONE });
    all.push(ben);
    const page = ben.page;
    await serverSays(page, { type: 'state', view: circleView(3) });
    await serverSays(page, {
      type: 'ended', reason: 'left',
      feedback: { questions: [{ id: 'felt_heard', text: 'I felt heard.', translations: { es: 'Me sentí escuchado o escuchada.' } }, { id: 'felt_safe', text: 'I felt safe.' }], free_text: true, scale: 5 },
    });
    // After leaving, going back comes first; the questionnaire waits, folded, for whoever wants it.
    const back = page.getByRole('button', { name: 'Volver al círculo' });
    const offer = page.getByText('Contar cómo fue (opcional, unas pocas preguntas)');
    await offer.waitFor();
    assert.equal(await page.getByRole('heading', { name: '¿Cómo ha sido para usted?' }).isVisible(), false, 'folded at first');
    assert.ok((await back.boundingBox()).y < (await offer.boundingBox()).y, 'going back is above the questionnaire');
    await offer.click();
    await heading(page, '¿Cómo ha sido para usted?');
    await sees(page, 'Me sentí escuchado o escuchada.');
    await sees(page, 'I felt safe.');
    await page.getByRole('radio', { name: '1 de 5 — Nada' }).first().waitFor();
    // Sending nothing asks gently; nothing is posted.
    await press(page, 'Enviar');
    await sees(page, 'Elija una respuesta en al menos una pregunta');
    await shoot(page, '47-feedback-es');
    await accessible(page, '47-feedback-es');
    await press(page, 'No, gracias');
    await sees(page, 'Está bien. Gracias por participar.');
    assert.deepEqual(await page.evaluate(() => window.__posts.map((p) => p.body)), [{ declined: true }]);
    // Coming back is still offered after leaving.
    await page.getByRole('button', { name: 'Volver al círculo' }).waitFor();
  });

  it('answers already given are acknowledged kindly', async () => {
    const sam = await open(browser, 'sam', { you: 3 });
    all.push(sam);
    const page = sam.page;
    await page.evaluate(() => { window.__feedbackAnswer = { status: 409, body: { error: { code: 'already_answered', message: 'already answered' } } }; });
    await serverSays(page, { type: 'ended', reason: 'session_ended', feedback: { questions: [{ id: 'felt_heard', text: 'I felt heard.' }], free_text: false, scale: 5 } });
    assert.equal(await page.getByLabel('Anything else you would like to say? (optional)').count(), 0, 'no comment box without free_text');
    await page.getByRole('radio', { name: '3 of 5' }).check();
    await press(page, 'Send');
    await sees(page, 'Your answers were already received. Thank you.');
    noProblems(...all);
  });
});

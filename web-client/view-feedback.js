// The short questionnaire after a meeting: optional, anonymous, easy to
// decline with one action. Each question is a row of radio buttons from 1
// ("not at all") to 5 ("completely"); the questions come from the server,
// the scale's words from the catalogue.

import { h, fill, announce } from './dom.js';
import { t, translated, formatNumber } from './strings.js';

/**
 * @param {import('./protocol.js').FeedbackOffer} offer
 * @param {(body: object) => Promise<void>} send  rejects with a CommandError
 * @param {{state?: string}} [carry]  what a previous build of this form had reached
 * @returns {{element: HTMLElement, carry: () => {state: string}}}
 */
export function feedbackForm(offer, send, carry = undefined) {
  /** 'asking' until answered; then which thank-you to show. */
  let state = carry?.state ?? 'asking';
  const scale = Number.isInteger(offer.scale) && offer.scale >= 2 && offer.scale <= 10 ? offer.scale : 5;
  const element = h('section', { class: 'subcard questionnaire', 'aria-labelledby': 'feedback-title', 'data-section': 'feedback' });

  function done(next) {
    state = next;
    render();
    const note = element.querySelector('.questionnaire-done');
    if (note instanceof HTMLElement) note.focus();
    announce(t(`feedback.${next}`));
  }

  function render() {
    const title = h('h2', { id: 'feedback-title', text: t('feedback.title') });
    if (state !== 'asking') {
      fill(element, title, h('p', { class: 'notice ok questionnaire-done', tabindex: '-1', text: t(`feedback.${state}`) }));
      return;
    }
    const questions = offer.questions.map((question, index) => {
      const name = `fb-${question.id}`;
      const legendId = `${name}-legend`;
      const points = [];
      for (let n = 1; n <= scale; n += 1) {
        const end = n === 1 ? t('feedback.scale_low') : (n === scale ? t('feedback.scale_high') : '');
        const id = `${name}-${n}`;
        points.push(h('label', { class: 'scale-point', for: id },
          h('input', { type: 'radio', name, id, value: String(n), 'data-question': question.id,
            'aria-label': end ? `${t('feedback.point', { n, total: scale })} — ${end}` : t('feedback.point', { n, total: scale }) }),
          h('span', { class: 'scale-number', 'aria-hidden': 'true', text: formatNumber(n) })));
      }
      return h('fieldset', { class: 'feedback-question', 'aria-labelledby': legendId },
        h('legend', { id: legendId, class: 'question-text' },
          h('span', { class: 'visually-hidden', text: `${index + 1}. ` }),
          translated(question.text, question.translations)),
        h('div', { class: 'scale' }, points),
        h('div', { class: 'scale-ends', 'aria-hidden': 'true' },
          h('span', { text: `${formatNumber(1)} · ${t('feedback.scale_low')}` }),
          h('span', { text: `${formatNumber(scale)} · ${t('feedback.scale_high')}` })));
    });
    const comment = offer.free_text
      ? h('div', { class: 'field' },
        h('label', { for: 'fb-comment', text: t('feedback.comment') }),
        h('textarea', { id: 'fb-comment', rows: '3', maxlength: '2000' }))
      : null;
    const problem = h('p', { class: 'notice warn', role: 'alert', hidden: true });
    const sendButton = h('button', { type: 'submit', class: 'button primary', text: t('feedback.send') });
    const declineButton = h('button', { type: 'button', class: 'button secondary', text: t('feedback.decline') });
    const form = h('form', { class: 'questionnaire-form', novalidate: true },
      ...questions, comment, problem,
      h('div', { class: 'actions' }, sendButton, declineButton));

    const busy = (on) => {
      sendButton.disabled = on;
      declineButton.disabled = on;
      sendButton.textContent = on ? t('feedback.sending') : t('feedback.send');
    };
    const fail = (text) => {
      problem.hidden = false;
      problem.textContent = text;
      busy(false);
    };

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const answers = {};
      for (const question of offer.questions) {
        const checked = form.querySelector(`input[data-question="${CSS.escape(question.id)}"]:checked`);
        if (checked) answers[question.id] = Number(/** @type {HTMLInputElement} */ (checked).value);
      }
      const text = /** @type {HTMLTextAreaElement|null} */ (form.querySelector('#fb-comment'))?.value.trim() ?? '';
      if (!Object.keys(answers).length && !text) {
        fail(t('feedback.empty'));
        form.querySelector('input[type="radio"]')?.focus();
        return;
      }
      problem.hidden = true;
      busy(true);
      try {
        await send(text ? { answers, comment: text } : { answers });
        done('thanks');
      } catch (error) {
        const code = error?.code ?? '';
        if (code === 'already_answered') done('already');
        else if (code === 'too_large') fail(t('feedback.too_long'));
        else if (code === 'invalid_answers' && text.length > 2000) fail(t('feedback.too_long'));
        else if (code === 'connection_lost' || /^http_5/.test(code)) fail(t('feedback.failed'));
        else done('not_possible');
      }
    });

    declineButton.addEventListener('click', async () => {
      busy(true);
      // However the server answers, the person said no: nothing more is asked of them.
      await send({ declined: true }).catch(() => {});
      done('declined');
    });

    fill(element, title, h('p', { text: t('feedback.intro') }), form);
  }

  render();
  return { element, carry: () => ({ state }) };
}

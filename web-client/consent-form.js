// The consent terms as a form: every item on its own, each accepted or
// declined, all answered before anything is sent, and a required "no"
// confirmed first. Used for one's own consent and by a guardian for a minor.

import { h, confirmDialog } from './dom.js';
import { t, translated } from './strings.js';

/**
 * @param {object} options
 * @param {import('./protocol.js').ConsentTerms} options.terms
 * @param {string} options.prefix  makes the fields' ids unique on the page
 * @param {string} options.submitText
 * @param {{title: string, body: string, yes: string, no: string}} options.decline  asked before a required "no"
 * @param {(answers: {item: string, accept: boolean}[], version: string) => Promise<unknown>} options.submit
 * @returns {{element: HTMLFormElement, setDisabled: (disabled: boolean) => void}}
 */
export function consentForm({ terms, prefix, submitText, decline, submit }) {
  const total = terms.items.length;
  const problem = h('p', { class: 'notice warn consent-problem', role: 'alert', tabindex: '-1', hidden: true });
  const fieldsets = terms.items.map((item, index) => {
    const name = `${prefix}-${item.id}`;
    const textId = `${name}-text`;
    const choice = (accept) => {
      const id = `${name}-${accept ? 'yes' : 'no'}`;
      return h('label', { class: `choice ${accept ? 'yes' : 'no'}`, for: id },
        h('input', { type: 'radio', name, id, value: accept ? 'accept' : 'decline', 'data-item': item.id }),
        h('span', { text: accept ? t('consent.accept') : t('consent.decline') }));
    };
    return h('fieldset', { class: 'consent-item', 'aria-describedby': textId },
      h('legend', {},
        h('span', { class: 'item-number', text: t('consent.item_label', { n: index + 1, total }) }),
        h('span', { class: 'tag', text: item.required ? t('consent.required') : t('consent.optional') })),
      h('p', { class: 'consent-text', id: textId, text: translated(item.text, item.translations) }),
      h('div', { class: 'choices' }, choice(true), choice(false)),
    );
  });
  const submitButton = h('button', { type: 'submit', class: 'button primary wide', text: submitText });
  const form = /** @type {HTMLFormElement} */ (h('form', { class: 'consent-form', novalidate: true }, ...fieldsets, problem,
    h('div', { class: 'actions' }, submitButton)));
  let blocked = false;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (blocked) return;
    const answers = [];
    for (const item of terms.items) {
      const checked = form.querySelector(`input[data-item="${CSS.escape(item.id)}"]:checked`);
      if (checked) answers.push({ item: item.id, accept: checked.value === 'accept' });
    }
    if (answers.length < total) {
      problem.hidden = false;
      problem.textContent = t('consent.answer_all', { count: total - answers.length });
      // On a phone the message would sit far below the first open point: it
      // comes to the top of the form, in view, with the focus; the points
      // still open are marked.
      form.prepend(problem);
      for (const fieldset of form.querySelectorAll('fieldset.consent-item')) {
        fieldset.classList.toggle('missing', !fieldset.querySelector('input:checked'));
      }
      problem.focus({ preventScroll: true });
      problem.scrollIntoView({ block: 'start' });
      return;
    }
    problem.hidden = true;
    const declinesRequired = terms.items.some((item) => item.required && answers.some((a) => a.item === item.id && !a.accept));
    if (declinesRequired && !(await confirmDialog(decline))) return;
    submitButton.disabled = true;
    try {
      await submit(answers, terms.version);
    } catch (error) {
      problem.hidden = false;
      problem.textContent = t('error.generic', { message: error.message });
    } finally {
      submitButton.disabled = blocked;
    }
  });

  return {
    element: form,
    setDisabled(disabled) {
      blocked = disabled;
      submitButton.disabled = disabled;
    },
  };
}

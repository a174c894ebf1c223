// The screens around the circle: connecting, a link that cannot be used,
// the consent terms and the waiting room. The end of a visit: view-ended.js.

import { h, confirmDialog } from './dom.js';
import { t, has, translated } from './strings.js';
import { deviceCheck } from './view-device.js';

/**
 * A screen: its element, how it takes a new view, how it goes away.
 * @typedef {{element: HTMLElement, update?: (view: any) => void, dispose?: () => void}} Screen
 */

/** A page heading that receives focus when its screen appears. */
export function heading(text, level = 'h1') {
  return h(level, { class: 'screen-title', tabindex: '-1', text });
}

/** @returns {Screen} */
export function connectingScreen() {
  return {
    element: h('section', { class: 'card center' },
      h('div', { class: 'stone-mark', 'aria-hidden': 'true' }),
      heading(t('app.connecting')),
    ),
  };
}

/** @returns {Screen} */
export function noLinkScreen() {
  return {
    element: h('section', { class: 'card' },
      heading(t('app.no_link.title')),
      h('p', { text: t('app.no_link.body') }),
    ),
  };
}

/**
 * The link could not be used: a clear reason and nothing of the room.
 * @param {{code: string}} error
 * @param {() => void} [retry]  offered for errors that may pass
 * @returns {Screen}
 */
export function refusedScreen(error, retry) {
  const key = has(`refused.${error.code}`) ? `refused.${error.code}` : 'refused.default';
  const closed = error.code === 'room_closed';
  const canRetry = retry && ['room_locked', 'room_not_open', 'connection_refused', 'unsupported_version', 'default'].includes(key.replace('refused.', ''));
  return {
    element: h('section', { class: 'card', 'data-screen': 'refused', 'data-code': error.code },
      heading(closed ? t('ended.room_closed.title') : t('refused.title')),
      h('p', { class: 'lead', text: t(key) }),
      !closed && h('p', { text: t('refused.contact') }),
      canRetry && h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button secondary', text: t('refused.try_again'), onclick: retry })),
    ),
  };
}

/**
 * The consent terms, item by item, each accepted or declined.
 * @param {import('./protocol.js').ConsentView} view
 * @param {(answers: {item: string, accept: boolean}[], version: string) => Promise<void>} submit
 * @returns {Screen}
 */
export function consentScreen(view, submit) {
  const { terms } = view;
  const total = terms.items.length;
  const problem = h('p', { class: 'notice warn consent-problem', role: 'alert', tabindex: '-1', hidden: true });
  const fieldsets = terms.items.map((item, index) => {
    const name = `consent-${item.id}`;
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
  const submitButton = h('button', { type: 'submit', class: 'button primary wide', text: t('consent.submit') });
  const form = h('form', { class: 'consent-form', novalidate: true }, ...fieldsets, problem,
    h('div', { class: 'actions' }, submitButton));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const answers = [];
    let firstMissing = null;
    for (const item of terms.items) {
      const checked = form.querySelector(`input[data-item="${CSS.escape(item.id)}"]:checked`);
      if (!checked) {
        firstMissing ??= form.querySelector(`input[data-item="${CSS.escape(item.id)}"]`);
        continue;
      }
      answers.push({ item: item.id, accept: checked.value === 'accept' });
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
      void firstMissing;
      return;
    }
    problem.hidden = true;
    const declinesRequired = terms.items.some((item) => item.required && answers.some((a) => a.item === item.id && !a.accept));
    if (declinesRequired) {
      const sure = await confirmDialog({
        title: t('consent.confirm_decline.title'),
        body: t('consent.confirm_decline.body'),
        yes: t('consent.confirm_decline.yes'),
        no: t('consent.confirm_decline.no'),
      });
      if (!sure) return;
    }
    submitButton.disabled = true;
    try {
      await submit(answers, terms.version);
    } catch (error) {
      problem.hidden = false;
      problem.textContent = t('error.generic', { message: error.message });
      submitButton.disabled = false;
    }
  });

  return {
    element: h('section', { class: 'card consent', 'data-screen': 'consent' },
      h('p', { class: 'eyebrow' }, `${t(`consent.kind.${view.kind}`)} · `, h('bdi', { text: view.title })),
      heading(t('consent.title')),
      h('p', { class: 'lead', text: t('consent.intro') }),
      h('p', { class: 'notice calm', text: t('consent.ok_to_decline') }),
      form,
      h('p', { class: 'small muted-text', text: t('consent.version', { version: terms.version }) }),
    ),
  };
}

/**
 * The waiting room: "a keeper will let you in", and the device check.
 * @param {import('./protocol.js').LobbyView} view
 * @param {() => void} leave
 * @returns {Screen}
 */
export function lobbyScreen(view, leave) {
  const check = deviceCheck();
  return {
    element: h('section', { class: 'card lobby', 'data-screen': 'lobby' },
      h('p', { class: 'eyebrow' }, `${t(`consent.kind.${view.kind}`)} · `, h('bdi', { text: view.title })),
      h('div', { class: 'stone-mark', 'aria-hidden': 'true' }),
      heading(t('lobby.title')),
      h('p', { class: 'lead', text: t('lobby.body') }),
      h('p', { text: t('lobby.meanwhile') }),
      h('section', { class: 'subcard', 'aria-labelledby': 'device-title' },
        h('h2', { id: 'device-title', text: t('device.title') }),
        check.element),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button quiet', text: t('lobby.leave'), onclick: leave })),
    ),
    dispose: check.dispose,
  };
}

// The screens around the circle: connecting, a link that cannot be used,
// the consent terms and the waiting room. The end of a visit: view-ended.js.

import { h } from './dom.js';
import { t, has } from './strings.js';
import { deviceCheck } from './view-device.js';
import { consentForm } from './consent-form.js';
import { MinorsCard } from './guardian.js';

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
  const form = consentForm({
    terms,
    prefix: 'consent',
    submitText: t('consent.submit'),
    decline: { title: t('consent.confirm_decline.title'), body: t('consent.confirm_decline.body'), yes: t('consent.confirm_decline.yes'), no: t('consent.confirm_decline.no') },
    submit,
  });
  // A minor reads the terms while their guardian has not yet answered for them.
  const waiting = h('p', { class: 'notice warn guardian-needed', role: 'status' });
  const update = (next) => {
    const needed = Boolean(next.guardian_needed);
    waiting.hidden = !needed;
    waiting.textContent = needed ? t('consent.guardian_needed') : '';
    form.setDisabled(needed);
  };
  update(view);
  return {
    element: h('section', { class: 'card consent', 'data-screen': 'consent' },
      h('p', { class: 'eyebrow' }, `${t(`consent.kind.${view.kind}`)} · `, h('bdi', { text: view.title })),
      heading(t('consent.title')),
      h('p', { class: 'lead', text: t('consent.intro') }),
      h('p', { class: 'notice calm', text: t('consent.ok_to_decline') }),
      waiting,
      form.element,
      h('p', { class: 'small muted-text', text: t('consent.version', { version: terms.version }) }),
    ),
    update,
  };
}

/**
 * The waiting room: "a keeper will let you in", and the device check.
 * @param {import('./protocol.js').LobbyView} view
 * @param {() => void} leave
 * @param {(type: string, fields?: object) => Promise<boolean>} act
 * @returns {Screen}
 */
export function lobbyScreen(view, leave, act) {
  const check = deviceCheck();
  // A guardian answers for their minors here, while they wait.
  const minors = new MinorsCard(act);
  minors.update(view.minors);
  return {
    element: h('section', { class: 'card lobby', 'data-screen': 'lobby' },
      h('p', { class: 'eyebrow' }, `${t(`consent.kind.${view.kind}`)} · `, h('bdi', { text: view.title })),
      h('div', { class: 'stone-mark', 'aria-hidden': 'true' }),
      heading(t('lobby.title')),
      h('p', { class: 'lead', text: t('lobby.body') }),
      minors.element,
      h('p', { text: t('lobby.meanwhile') }),
      h('section', { class: 'subcard', 'aria-labelledby': 'device-title' },
        h('h2', { id: 'device-title', text: t('device.title') }),
        check.element),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button quiet', text: t('lobby.leave'), onclick: leave })),
    ),
    update: (next) => minors.update(next.minors),
    dispose: check.dispose,
  };
}

// The circle as a participant (or observer) sees it: the faces first, with
// the person who may speak now the largest; whether one can be heard; whose
// turn it is and the round's question; and, always within reach, the bar.

import { h, fill, keepFocus, confirmDialog, panelDialog } from './dom.js';
import { t } from './strings.js';
import { TurnTimer, Messages, turnStatus, agreementPanel, me, pieceIcon } from './circle-parts.js';
import { Stage } from './stage.js';
import { CallBar, HeardLine, QualitySign } from './callbar.js';
import { MinorsCard } from './guardian.js';
import { deviceCheck } from './view-device.js';
import { heading } from './view-join.js';
import { kindName } from './view-outline.js';
import { ValuesCard } from './values.js';

/**
 * Whether this person holds the talking piece or has been given the floor.
 * @param {import('./protocol.js').CircleView | null | undefined} view
 */
function maySpeak(view) {
  if (!view) return false;
  if (view.mode === 'talking_piece') return view.holder === view.you;
  return view.mode === 'moderated' && view.granted.includes(view.you);
}

/**
 * @param {object} deps
 * @param {(type: string, fields?: object) => Promise<boolean>} deps.act  sends a command (true when accepted; a refusal is shown)
 * @returns {import('./view-join.js').Screen & {chat: (msg: any) => void, timeUp: (msg: any) => void}}
 */
export function circleScreen({ act }) {
  const stage = new Stage();
  const heard = new HeardLine();
  const quality = new QualitySign();
  const timer = new TurnTimer();
  const messages = new Messages((to, text) => act('chat', { to, text }));
  const eyebrow = h('p', { class: 'eyebrow' });
  const title = heading('');
  const statusCard = h('section', { class: 'status-card', 'aria-labelledby': 'turn-title' });
  // A guardian still answers for a minor from inside the circle.
  const minors = new MinorsCard(act);
  const timeUpNote = h('p', { class: 'notice warn', hidden: true, text: t('turn.time_up') });
  const roundCard = h('section', { class: 'round-card', 'aria-labelledby': 'round-title', hidden: true });
  const valuesCard = new ValuesCard();
  const stepCard = h('section', { class: 'step-card', 'aria-labelledby': 'step-title', 'data-section': 'step', hidden: true });
  const agreementSlot = h('div', { class: 'agreement-slot' });
  const sentNote = h('p', { class: 'notice ok', role: 'status', hidden: true });
  const mutedCard = h('div', { class: 'notice warn muted-card', hidden: true });
  const readyCard = h('div', { class: 'notice calm', hidden: true });
  const primary = h('div', { class: 'actions primary-actions' });
  let sentTimer = 0;

  const needMoment = async () => {
    if (!(await act('request_pause'))) return;
    sentNote.hidden = false;
    sentNote.textContent = t('action.need_moment_sent');
    clearTimeout(sentTimer);
    sentTimer = setTimeout(() => { sentNote.hidden = true; }, 20_000);
  };
  const openDevices = () => {
    const check = deviceCheck({ inCircle: true });
    panelDialog({ title: t('device.title'), content: check.element, onClose: check.dispose });
  };
  const leave = async () => {
    const sure = await confirmDialog({ title: t('leave.title'), body: t('leave.body'), yes: t('leave.yes'), no: t('leave.no') });
    if (sure) act('leave');
  };
  const withdraw = async () => {
    const sure = await confirmDialog({ title: t('withdraw.title'), body: t('withdraw.body'), yes: t('withdraw.yes'), no: t('withdraw.no'), danger: true });
    if (sure) act('withdraw_consent');
  };

  const bar = new CallBar({ moment: needMoment, leave, stepOut: (back) => act(back ? 'step_back' : 'step_out') });

  const secondary = h('section', { class: 'panel', 'aria-label': t('action.more') },
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', text: t('action.message_keepers'), onclick: () => messages.focus() }),
      h('button', { type: 'button', class: 'button secondary', text: t('device.open'), onclick: openDevices })),
    h('div', { class: 'actions quiet-actions' },
      h('button', { type: 'button', class: 'button quiet danger-text', text: t('action.withdraw'), onclick: withdraw })));

  const element = h('section', { class: 'circle-screen with-bar', 'data-screen': 'circle' },
    h('header', { class: 'screen-head' }, eyebrow, title),
    h('div', { class: 'circle-layout' },
      h('div', { class: 'circle-main' },
        stage.element,
        // Whether one is heard, with the bar: both stay on screen on a phone.
        h('div', { class: 'dock' }, h('div', { class: 'dock-line' }, heard.element, quality.element), bar.element),
        sentNote,
        statusCard,
        minors.element,
        mutedCard,
        stepCard,
        roundCard,
        valuesCard.element,
        readyCard),
      h('div', { class: 'circle-side' },
        agreementSlot,
        secondary,
        messages.element)),
  );

  /** @type {import('./protocol.js').CircleView|null} */
  let current = null;

  /** @param {import('./protocol.js').CircleView} view */
  function update(view) {
    const before = current;
    current = view;
    eyebrow.textContent = `${t(`consent.kind.${view.kind}`)} · ${t(`phase.${view.phase}`)}`;
    title.textContent = view.title;
    if (before?.holder !== view.holder || before?.turn?.person !== view.turn?.person) timeUpNote.hidden = true;

    const status = turnStatus(view);
    keepFocus(statusCard, () => {
      fill(statusCard,
        h('div', { class: `status ${status.tone}` },
          status.tone === 'you' && view.mode === 'talking_piece' ? pieceIcon('status-piece') : null,
          h('div', {},
            h('h2', { id: 'turn-title', class: 'status-title', text: status.title }),
            h('p', { class: 'status-body', text: status.body }))),
        timer.element, timeUpNote, primary);
      fill(primary, primaryActions(view));
    });
    timer.update(view);

    if (view.round && !view.caucus) {
      roundCard.hidden = false;
      fill(roundCard,
        h('h2', { id: 'round-title', class: 'eyebrow', text: `${t('round.title', { n: view.round.number })} · ${t('round.prompt')}` }),
        h('p', { class: 'prompt', text: view.round.prompt }));
    } else {
      roundCard.hidden = true;
    }

    renderStep(view);
    valuesCard.update(view);
    minors.update(view.minors);

    const self = me(view);
    mutedCard.hidden = !self?.muted;
    if (self?.muted) {
      keepFocus(mutedCard, () => fill(mutedCard, h('p', { text: t('action.muted_note') }),
        h('button', { type: 'button', class: 'button secondary', 'data-key': 'unmute', text: t('action.unmute'), onclick: () => act('unmute') })));
    }

    const firstParty = view.entry_order && self?.party === view.entry_order.first;
    readyCard.hidden = !firstParty;
    if (firstParty) {
      keepFocus(readyCard, () => fill(readyCard, self.ready
        ? h('p', { text: t('action.ready_done') })
        : h('button', { type: 'button', class: 'button secondary', 'data-key': 'ready', text: t('action.ready'), onclick: () => act('ready') })));
    }

    stage.update(view);
    heard.update(view);
    bar.update({ observer: view.role === 'observer', steppedOut: Boolean(me(view)?.stepped_out) });
    keepFocus(agreementSlot, () => fill(agreementSlot, agreementPanel(view, (hash) => act('acknowledge', { hash }))));
    messages.update(view);
    // The moment someone may speak, their pass or done buttons come into view (on a phone
    // they may sit under the bar at the bottom of the screen), once the faces above have
    // their new sizes. Focus stays where it was.
    if (maySpeak(view) && !maySpeak(before)) {
      const motion = matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth';
      requestAnimationFrame(() => primary.scrollIntoView({ block: 'nearest', behavior: motion }));
    }
  }

  /**
   * The step of the outline the circle is at, quietly: its kind, and its
   * words unless the round card already shows them.
   * @param {import('./protocol.js').CircleView} view
   */
  function renderStep(view) {
    const outline = view.outline;
    const index = outline?.current ?? null;
    const step = index !== null ? outline.steps[index] : null;
    stepCard.hidden = !step || Boolean(view.caucus);
    if (stepCard.hidden) return;
    const sameAsRound = view.round && view.round.prompt === step.prompt;
    fill(stepCard,
      h('h2', { id: 'step-title', class: 'eyebrow', text: `${t('outline.step_n', { n: index + 1, total: outline.steps.length })} · ${kindName(step.kind)}` }),
      step.prompt && !sameAsRound ? h('p', { class: 'step-text', text: step.prompt }) : null);
  }

  /** @param {import('./protocol.js').CircleView} view */
  function primaryActions(view) {
    const buttons = [];
    if (view.phase !== 'in_session' || view.caucus || view.role === 'observer') return buttons;
    // An interpreter finishing after their person's turn ends it themselves (SPEC §3.2.7).
    if (view.people.find((p) => p.id === view.you)?.interpreting) {
      buttons.push(h('button', { type: 'button', class: 'button primary', 'data-key': 'done-interpreting', text: t('action.done_interpreting'), onclick: () => act('done_interpreting') }));
    }
    if (view.mode === 'talking_piece' && view.holder === view.you) {
      buttons.push(
        h('button', { type: 'button', class: 'button primary', 'data-key': 'pass', text: t('action.pass'), onclick: () => act('pass') }),
        h('button', { type: 'button', class: 'button secondary', 'data-key': 'pass-silent', text: t('action.pass_without_speaking'), onclick: () => act('pass_without_speaking') }));
    }
    if (view.mode === 'moderated') {
      if (view.granted.includes(view.you)) {
        buttons.push(h('button', { type: 'button', class: 'button primary', 'data-key': 'done', text: t('action.done_speaking'), onclick: () => act('pass') }));
        // A script's turn may be passed without speaking, as the piece may.
        if (view.round?.order?.includes(view.you)) {
          buttons.push(h('button', { type: 'button', class: 'button secondary', 'data-key': 'pass-silent', text: t('action.pass_without_speaking'), onclick: () => act('pass_without_speaking') }));
        }
      } else if (view.hands.includes(view.you)) {
        buttons.push(h('button', { type: 'button', class: 'button secondary', 'data-key': 'hand', text: t('action.lower_hand'), onclick: () => act('lower_hand') }));
      } else {
        buttons.push(h('button', { type: 'button', class: 'button primary', 'data-key': 'hand', text: t('action.raise_hand'), onclick: () => act('raise_hand') }));
      }
    }
    return buttons;
  }

  return {
    element,
    update,
    chat(msg) {
      if (current) messages.add(msg, current);
    },
    timeUp(msg) {
      if (!current) return;
      if (msg.person === current.you) {
        timeUpNote.hidden = false;
        timeUpNote.textContent = t('turn.time_up');
      }
    },
    dispose() {
      stage.dispose();
      heard.dispose();
      quality.dispose();
      bar.dispose();
      timer.dispose();
    },
  };
}

// The keeper console: beside the faces of the circle (which never scroll
// away on a desktop), a compact panel with what needs the keeper now at its
// top, then the session, the waiting room, the floor, the people, side
// rooms, the agreement and the end. Tools that only make sense in session
// appear once it has started. Forms keep what the keeper typed while the
// room's state changes around them.

import { h, fill, keepFocus, confirmDialog, panelDialog } from './dom.js';
import { t, listNames } from './strings.js';
import { TurnTimer, Messages, turnStatus, nameOf, pieceIcon, agreementList } from './circle-parts.js';
import { Stage } from './stage.js';
import { CallBar, HeardLine, QualitySign } from './callbar.js';
import { KeeperAlerts } from './keeper-alerts.js';
import { KeeperGuide } from './keeper-guide.js';
import { deviceCheck } from './view-device.js';
import { heading } from './view-join.js';
import { outlinePanel } from './view-outline.js';
import { ValuesCard, valuesEditor } from './values.js';

const PARTIES = ['harmed', 'responsible', 'supporter', 'community', 'professional', 'interpreter', 'guardian'];
const MODES = ['talking_piece', 'moderated', 'open'];

/**
 * @param {object} deps
 * @param {(type: string, fields?: object) => Promise<boolean>} deps.act  true when accepted
 * @param {(text: string) => void} deps.say  a short confirmation for the keeper
 * @param {any} [deps.carry]  what the keeper had typed, from a previous build (another language)
 */
export function keeperScreen({ act, say, carry }) {
  /** @type {import('./protocol.js').CircleView|null} */
  let view = null;
  const stage = new Stage();
  const heard = new HeardLine();
  const quality = new QualitySign();
  const timer = new TurnTimer();
  const messages = new Messages((to, text) => act('chat', { to, text }));

  // --- what needs the keeper now, and the guided start: at the top ---
  const toLobby = () => {
    openSheet();
    lobbyPanel.querySelector('h2')?.focus();
  };
  // A pause request or a withdrawal must be seen at once: the phone sheet makes way for it.
  const alerts = new KeeperAlerts({ act, focusLobby: toLobby, urgent: () => closeSheet(false) });
  const guide = new KeeperGuide({ act, done: carry?.guideDone });

  // --- header and session controls ---
  const eyebrow = h('p', { class: 'eyebrow' });
  const title = heading('');
  const chips = h('p', { class: 'chips' });
  const sessionButtons = h('div', { class: 'actions' });
  const sessionPanel = section('session', t('keeper.session'), sessionButtons);

  // --- own turn status ---
  const statusCard = h('section', { class: 'status-card', 'aria-labelledby': 'turn-title' });
  const ownActions = h('div', { class: 'actions primary-actions' });

  // --- waiting room ---
  const lobbyList = h('div', { class: 'lobby-list' });
  const lobbyPanel = section('lobby', t('keeper.lobby'), lobbyList);

  // --- floor ---
  const modeSelect = h('select', { id: 'mode-select' }, MODES.map((m) => h('option', { value: m, text: t(`mode.${m}`) })));
  const promptInput = h('textarea', { id: 'round-prompt', rows: '2', maxlength: '500' });
  const firstSelect = h('select', { id: 'round-first' });
  const giveSelect = h('select', { id: 'give-to' });
  const timerInput = h('input', { id: 'turn-minutes', type: 'number', min: '1', max: '60', step: '1', inputmode: 'numeric' });
  const keeperSpeaks = h('input', { type: 'checkbox', id: 'keeper-speaks' });
  const roundState = h('div', { class: 'round-state' });
  const pieceControls = h('div', { class: 'piece-controls' },
    roundState,
    h('div', { class: 'field' }, h('label', { for: 'round-prompt', text: t('keeper.round_prompt') }), promptInput),
    h('div', { class: 'field' }, h('label', { for: 'round-first', text: t('keeper.round_first') }), firstSelect),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button primary', text: t('keeper.start_round'),
        onclick: async () => {
          const first = firstSelect.value ? Number(firstSelect.value) : null;
          if (await act('start_round', { prompt: promptInput.value.trim(), first })) promptInput.value = '';
        } }),
      h('button', { type: 'button', class: 'button secondary', 'data-role': 'end-round', text: t('keeper.end_round'), onclick: () => act('end_round') })),
    h('div', { class: 'field inline' },
      h('label', { for: 'give-to', text: t('keeper.give_piece_to') }),
      h('div', { class: 'inline-row' }, giveSelect,
        h('button', { type: 'button', class: 'button secondary', text: t('keeper.give_piece'), onclick: () => giveSelect.value && act('give_piece', { to: Number(giveSelect.value) }) }))),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', 'data-role': 'take-piece', text: t('keeper.take_piece'), onclick: () => act('take_piece') })));
  const handsList = h('div', { class: 'hands' });
  const moderatedControls = h('div', { class: 'moderated-controls' }, handsList);
  const floorPanel = section('floor', t('keeper.floor'),
    h('div', { class: 'field inline' },
      h('label', { for: 'mode-select', text: t('keeper.mode') }),
      h('div', { class: 'inline-row' }, modeSelect,
        h('button', { type: 'button', class: 'button secondary', text: t('keeper.set_mode'), onclick: () => act('set_mode', { mode: modeSelect.value }) }))),
    pieceControls,
    moderatedControls,
    h('div', { class: 'field inline' },
      h('label', { for: 'turn-minutes', text: t('keeper.timer') }),
      h('div', { class: 'inline-row' }, timerInput,
        h('button', { type: 'button', class: 'button secondary', text: t('keeper.set_timer'),
          onclick: () => {
            const minutes = Number(timerInput.value);
            act('set_turn_timer', { seconds: timerInput.value.trim() === '' || minutes <= 0 ? null : Math.round(minutes * 60) });
          } }))),
    h('div', { class: 'check' }, keeperSpeaks, h('label', { for: 'keeper-speaks', text: t('keeper.keeper_speaks') })));
  keeperSpeaks.addEventListener('change', () => act('set_keeper_speaks_out_of_turn', { allowed: keeperSpeaks.checked }));
  let modeShown = null;

  // --- people ---
  const peopleList = h('ul', { class: 'people-list' });
  const peoplePanel = section('people', t('keeper.people'), peopleList);

  // --- side rooms ---
  const caucusChoices = h('fieldset', { class: 'caucus-choices' }, h('legend', { text: t('keeper.caucus_intro') }));
  const caucusList = h('div', { class: 'caucus-list' });
  const caucusPanel = section('caucus', t('keeper.caucus'),
    caucusList, caucusChoices,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button secondary', text: t('keeper.open_caucus'),
      onclick: () => {
        const members = [...caucusChoices.querySelectorAll('input:checked')].map((input) => Number(input.value));
        act('open_caucus', { members });
      } })));
  const caucusPicks = new Set(carry?.caucusPicks ?? []);

  // --- outline ---
  const outline = outlinePanel({ act, say, carry: carry?.outline });

  // --- the circle's values: shown beside the faces, edited in the console ---
  const valuesCard = new ValuesCard();
  const values = valuesEditor({ act, say, carry: carry?.values });
  const valuesPanel = section('values-editor', t('keeper.values'), values.element);

  // --- agreement editor ---
  /** @type {{what: string, who: string, by: string, due?: string}[]} */
  let draft = carry?.draft ?? [{ what: '', who: '', by: '', due: '' }];
  let draftDirty = carry?.draftDirty ?? false;
  let draftVersionSeen = carry?.draftVersionSeen ?? 0;
  const itemsEditor = h('ol', { class: 'item-editor' });
  const agreementState = h('div', { class: 'agreement-state' });
  const finalizeButton = h('button', { type: 'button', class: 'button primary', text: t('keeper.finalize'),
    onclick: async () => {
      const sure = await confirmDialog({ title: t('keeper.finalize_confirm.title'), body: t('keeper.finalize_confirm.body'), yes: t('keeper.finalize_confirm.yes') });
      if (sure) act('finalize_agreement');
    } });
  const agreementPanel = section('agreement', t('keeper.agreement'),
    itemsEditor,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', text: t('keeper.add_item'),
        onclick: () => { draft.push({ what: '', who: '', by: '', due: '' }); draftDirty = true; renderDraft(); itemsEditor.querySelector('li:last-child textarea')?.focus(); } }),
      h('button', { type: 'button', class: 'button secondary', text: t('keeper.save_draft'),
        onclick: async () => {
          // `due` only when set: an item without it is exactly what it was before due dates.
          const items = draft.map((i) => {
            const item = { what: i.what.trim(), who: i.who.trim(), by: i.by.trim() };
            if (i.due) item.due = i.due;
            if (i.owner_seat) item.owner_seat = Number(i.owner_seat);
            return item;
          }).filter((i) => i.what || i.who || i.by || i.due);
          if (await act('draft_agreement', { items })) {
            draftDirty = false;
            updateFinalize();
            say(t('keeper.draft_saved', { n: view?.agreement?.version ?? 1 }));
          }
        } }),
      finalizeButton),
    agreementState);

  function renderDraft() {
    fill(itemsEditor, draft.map((item, index) => {
      const n = index + 1;
      const field = (key, label, multiline, type = 'text') => {
        const id = `item-${n}-${key}`;
        const input = multiline
          ? h('textarea', { id, rows: '2', maxlength: '500', value: item[key] })
          : h('input', { id, type, maxlength: type === 'text' ? '500' : null, value: item[key] ?? '' });
        input.addEventListener('input', () => { item[key] = input.value; draftDirty = true; updateFinalize(); });
        return h('div', { class: 'field' }, h('label', { for: id, text: label }), input);
      };
      return h('li', { class: 'item-row' },
        h('p', { class: 'item-number', text: t('keeper.item', { n }) }),
        field('what', t('agreement.what'), true),
        h('div', { class: 'item-pair' }, field('who', t('agreement.who')), field('by', t('agreement.by'))),
        h('div', { class: 'item-pair' }, field('due', t('keeper.item_due'), false, 'date'), ownerField(item, n)),
        draft.length > 1 && h('button', { type: 'button', class: 'button quiet small', text: t('keeper.remove_item', { n }),
          onclick: () => { draft.splice(index, 1); draftDirty = true; renderDraft(); } }));
    }));
    updateFinalize();
  }

  let ownersShown = '';
  /** The choices of an owner select: nobody, or a participant by seat; the choice is kept. */
  function fillOwners(select, seat) {
    const owners = (view?.people ?? []).filter((p) => p.role === 'participant');
    fill(select,
      h('option', { value: '', text: t('keeper.item_owner_none') }),
      owners.map((p) => h('option', { value: String(p.seat), text: `${p.name} (${t('circle.seat', { seat: p.seat })})` })));
    select.value = seat ? String(seat) : '';
  }

  /** Who owns the item, by seat: the follow-up tells them (optional). */
  function ownerField(item, n) {
    const id = `item-${n}-owner`;
    const select = h('select', { id, class: 'owner-select', 'data-item': String(n - 1) });
    fillOwners(select, item.owner_seat);
    select.addEventListener('change', () => { item.owner_seat = select.value ? Number(select.value) : null; draftDirty = true; updateFinalize(); });
    return h('div', { class: 'field' }, h('label', { for: id, text: t('keeper.item_owner') }), select);
  }

  function updateFinalize() {
    const agreement = view?.agreement;
    finalizeButton.disabled = !agreement || agreement.is_final || draftDirty;
  }

  // --- end the session for one party ---
  const partySelect = h('select', { id: 'end-party' });
  // Supporters may leave with their person (SPEC §3.1.7): offered, on by default.
  const withSupporters = h('input', { type: 'checkbox', id: 'end-with-supporters', checked: true });
  const endPanel = section('end', t('keeper.end_for'),
    h('div', { class: 'check' }, withSupporters, h('label', { for: 'end-with-supporters', text: t('keeper.end_with_supporters') })),
    h('div', { class: 'field inline' },
      h('label', { for: 'end-party', text: t('keeper.party') }),
      h('div', { class: 'inline-row' }, partySelect,
        h('button', { type: 'button', class: 'button secondary', text: t('keeper.end_for_button'),
          onclick: async () => {
            const party = partySelect.value;
            if (!party) return;
            const sure = await confirmDialog({ title: t('keeper.end_for_confirm.title', { party: t(`party.${party}`) }), body: t('keeper.end_for_confirm.body'), yes: t('keeper.end_for_confirm.yes'), danger: true });
            if (sure) act('end_session_for', { party, with_supporters: withSupporters.checked });
          } }))));

  // Closing the room is grave and final: last in the console, quiet, behind a confirmation.
  const ownPanel = section('room', t('keeper.room_end'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', text: t('device.open'),
        onclick: () => { const check = deviceCheck({ inCircle: true }); panelDialog({ title: t('device.title'), content: check.element, onClose: check.dispose }); } }),
      h('button', { type: 'button', class: 'button danger-outline', 'data-key': 'close', text: t('keeper.close_room'),
        onclick: async () => {
          const sure = await confirmDialog({ title: t('keeper.close_confirm.title'), body: t('keeper.close_confirm.body'), yes: t('keeper.close_confirm.yes'), danger: true });
          if (sure) act('close_room');
        } })));

  // On a phone the console is a sheet over the circle, opened from the bar;
  // on a wide screen it sits beside the faces and the bar's button is hidden.
  const consoleTitle = h('h2', { id: 'console-title', class: 'sheet-title', tabindex: '-1', text: t('keeper.console') });
  const sheetHead = h('div', { class: 'sheet-head' }, consoleTitle,
    h('button', { type: 'button', class: 'button secondary small', 'data-key': 'sheet-close', text: t('keeper.tools_close'), onclick: () => closeSheet() }));
  let sheetOpen = false;
  /** Is the console a sheet here (a phone), rather than a column beside the faces? */
  const isSheet = () => getComputedStyle(sheetHead).display !== 'none';
  function openSheet() {
    if (sheetOpen || !isSheet()) return;
    sheetOpen = true;
    element.classList.add('sheet-open');
    bar.setTools(true);
    consoleTitle.focus();
  }
  function closeSheet(refocus = true) {
    if (!sheetOpen) return;
    sheetOpen = false;
    element.classList.remove('sheet-open');
    bar.setTools(false);
    if (refocus) bar.focusTools();
  }

  const bar = new CallBar({
    tools: () => (sheetOpen ? closeSheet() : openSheet()),
    stepOut: (back) => act(back ? 'step_back' : 'step_out'),
    leave: async () => {
      const sure = await confirmDialog({ title: t('leave.title'), body: t('leave.body'), yes: t('leave.yes'), no: t('leave.no') });
      if (sure) act('leave');
    },
  });

  const element = h('section', { class: 'keeper-screen with-bar', 'data-screen': 'keeper' },
    h('header', { class: 'screen-head' }, eyebrow, title, chips),
    h('div', { class: 'keeper-layout' },
      h('div', { class: 'keeper-now' }, guide.element, alerts.element),
      h('div', { class: 'keeper-stage' }, stage.element, h('div', { class: 'dock' }, h('div', { class: 'dock-line' }, heard.element, quality.element), bar.element), statusCard, valuesCard.element),
      h('section', { class: 'keeper-console', id: 'keeper-console', 'aria-labelledby': 'console-title', 'data-section': 'console' },
        sheetHead,
        sessionPanel,
        lobbyPanel,
        outline.element,
        valuesPanel,
        floorPanel,
        peoplePanel,
        caucusPanel,
        agreementPanel,
        messages.element,
        endPanel,
        ownPanel)));

  // Escape closes the sheet, as it closes a dialog.
  const onKey = (event) => {
    if (event.key === 'Escape' && sheetOpen) closeSheet();
  };
  document.addEventListener('keydown', onKey);

  /** Has the session started (rounds, side rooms, the agreement make sense)? */
  function started() {
    return view?.phase === 'in_session' || view?.phase === 'paused';
  }

  /** @param {import('./protocol.js').CircleView} next */
  function update(next) {
    view = next;
    eyebrow.textContent = `${t(`consent.kind.${view.kind}`)} · ${t('keeper.console')}`;
    title.textContent = view.title;
    fill(chips,
      h('span', { class: `chip phase-${view.phase}`, text: t(`phase.${view.phase}`) }),
      h('span', { class: 'chip', text: t(`mode.${view.mode}`) }),
      view.locked && h('span', { class: 'chip warn', text: t('keeper.locked') }));
    renderSession();
    renderStatus();
    renderLobby();
    renderFloor();
    renderPeople();
    renderCaucus();
    renderAgreement();
    // People come and go: the owner choices follow, without rebuilding what is being typed.
    const owners = view.people.filter((p) => p.role === 'participant').map((p) => `${p.seat}:${p.name}`).join('|');
    if (owners !== ownersShown) {
      ownersShown = owners;
      for (const select of itemsEditor.querySelectorAll('select.owner-select')) {
        fillOwners(select, draft[Number(select.getAttribute('data-item'))]?.owner_seat);
      }
    }
    renderParties();
    outline.update(view);
    values.update(view);
    valuesCard.update(view);
    stage.update(view);
    heard.update(view);
    bar.update({ steppedOut: Boolean(view.people.find((p) => p.id === view.you)?.stepped_out) });
    timer.update(view);
    messages.update(view);
    alerts.update(view);
    guide.update(view);
    floorPanel.hidden = !started();
    caucusPanel.hidden = !started();
    endPanel.hidden = !started();
    agreementPanel.hidden = !started() && !view.agreement;
  }

  function renderSession() {
    const buttons = [];
    const b = (key, text, onclick, cls = 'secondary') => h('button', { type: 'button', class: `button ${cls}`, 'data-key': key, text, onclick });
    if (view.phase === 'scheduled') buttons.push(b('open', t('keeper.open_room'), () => act('open_room'), 'primary'));
    // While people wait, letting them in comes first: starting is not the main button then.
    const waiting = view.people.some((p) => p.presence === 'lobby');
    if (view.phase === 'open') buttons.push(b('start', t('keeper.start'), () => act('start_session'), waiting ? 'secondary' : 'primary'));
    if (view.phase === 'in_session') buttons.push(b('pause', t('keeper.pause'), () => act('pause')));
    if (view.phase === 'paused') buttons.push(b('resume', t('keeper.resume'), () => act('resume'), 'primary'));
    buttons.push(view.locked ? b('unlock', t('keeper.unlock'), () => act('unlock')) : b('lock', t('keeper.lock'), () => act('lock')));
    keepFocus(sessionButtons, () => fill(sessionButtons, buttons,
      !started() && h('p', { class: 'muted-text small after-start', text: t('keeper.tools_after_start') })));
  }

  function renderStatus() {
    const status = turnStatus(view);
    const buttons = [];
    if (view.caucus) {
      const id = view.caucus.id;
      buttons.push(h('button', { type: 'button', class: 'button primary', 'data-key': `own-close-caucus-${id}`, text: t('keeper.close_caucus'), onclick: () => act('close_caucus', { caucus: id }) }));
    }
    if (view.phase === 'in_session' && !view.caucus) {
      if (view.mode === 'talking_piece' && view.holder === view.you) {
        buttons.push(
          h('button', { type: 'button', class: 'button primary', 'data-key': 'pass', text: t('action.pass'), onclick: () => act('pass') }),
          h('button', { type: 'button', class: 'button secondary', 'data-key': 'pass-silent', text: t('action.pass_without_speaking'), onclick: () => act('pass_without_speaking') }));
      }
      if (view.mode === 'moderated' && view.granted.includes(view.you)) {
        buttons.push(h('button', { type: 'button', class: 'button primary', 'data-key': 'done', text: t('action.done_speaking'), onclick: () => act('pass') }));
      }
    }
    keepFocus(statusCard, () => {
      fill(statusCard,
        h('div', { class: `status ${status.tone}` },
          status.tone === 'you' && view.mode === 'talking_piece' ? pieceIcon('status-piece') : null,
          h('div', {},
            h('h2', { id: 'turn-title', class: 'status-title', text: status.title }),
            h('p', { class: 'status-body', text: status.body }))),
        view.round && h('p', { class: 'prompt small-prompt' }, h('span', { class: 'eyebrow', text: `${t('round.title', { n: view.round.number })} · ` }), h('bdi', { text: view.round.prompt })),
        timer.element,
        ownActions);
      fill(ownActions, buttons);
    });
  }

  function personLine(p) {
    const bits = [t('circle.seat', { seat: p.seat })];
    if (p.party) bits.push(t(`party.${p.party}`));
    if (p.role !== 'participant') bits.push(t(`circle.${p.role}`));
    return bits.join(' · ');
  }

  function renderLobby() {
    const waiting = view.people.filter((p) => p.presence === 'lobby');
    const reading = view.people.filter((p) => p.presence === 'consent');
    const rows = waiting.map((p) => h('div', { class: 'lobby-row', 'data-person': p.id },
      h('div', { class: 'who' },
        h('p', { class: 'who-name', text: p.name }),
        h('p', { class: 'who-line', text: personLine(p) })),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button primary', 'data-key': `admit-${p.id}`, 'aria-label': `${t('keeper.admit')} ${p.name}`, text: t('keeper.admit'), onclick: () => act('admit', { person: p.id }) }),
        h('button', { type: 'button', class: 'button secondary', 'data-key': `deny-${p.id}`, 'aria-label': `${t('keeper.deny')}: ${p.name}`, text: t('keeper.deny'),
          onclick: async () => {
            const sure = await confirmDialog({ title: t('keeper.deny_confirm.title', { name: p.name }), body: t('keeper.deny_confirm.body'), yes: t('keeper.deny_confirm.yes') });
            if (sure) act('deny', { person: p.id });
          } }))));
    keepFocus(lobbyList, () => fill(lobbyList,
      view.entry_order && h('p', { class: 'muted-text', text: t('keeper.entry_order', { first: t(`party.${view.entry_order.first}`), then: t(`party.${view.entry_order.then}`) }) }),
      rows.length ? rows : h('p', { class: 'muted-text', text: t('keeper.lobby_empty') }),
      reading.map((p) => h('p', { class: 'muted-text', text: t('keeper.reading_consent', { name: p.name }) }))));
    lobbyPanel.classList.toggle('attention', waiting.length > 0);
  }

  function inCircle(p) {
    return p.presence === 'in_circle' && p.role !== 'observer';
  }

  function setOptions(select, options, keepValue = true) {
    const value = select.value;
    fill(select, options.map(([v, text]) => h('option', { value: v, text })));
    if (keepValue && options.some(([v]) => v === value)) select.value = value;
  }

  function renderFloor() {
    if (modeShown !== view.mode) {
      modeSelect.value = view.mode;
      modeShown = view.mode;
    }
    const holders = view.people.filter((p) => inCircle(p) && !p.in_caucus).map((p) => [String(p.id), p.name]);
    setOptions(firstSelect, [['', t('keeper.round_first_default')], ...holders]);
    setOptions(giveSelect, holders);
    pieceControls.hidden = view.mode !== 'talking_piece';
    moderatedControls.hidden = view.mode !== 'moderated';
    pieceControls.querySelector('[data-role="end-round"]').hidden = !view.round;
    // Taking the piece also ends an interpreter's finishing turn (SPEC §3.2.7).
    pieceControls.querySelector('[data-role="take-piece"]').hidden = view.holder === null && !view.people.some((p) => p.interpreting);
    fill(roundState, view.round
      ? h('p', {}, h('strong', { text: `${t('round.title', { n: view.round.number })}: ` }), h('bdi', { text: view.round.prompt }))
      : null);
    if (document.activeElement !== timerInput) timerInput.value = view.turn_seconds ? String(Math.round(view.turn_seconds / 60)) : '';
    keeperSpeaks.checked = view.keeper_speaks_out_of_turn;

    keepFocus(handsList, () => fill(handsList,
      h('h3', { text: t('keeper.hands') }),
      view.hands.length
        ? h('ol', { class: 'hand-queue' }, view.hands.map((id) => h('li', {},
          h('span', { text: nameOf(view, id) }),
          h('button', { type: 'button', class: 'button secondary small', 'data-key': `grant-${id}`, 'aria-label': `${t('keeper.grant')}: ${nameOf(view, id)}`, text: t('keeper.grant'), onclick: () => act('grant_floor', { to: id }) }))))
        : h('p', { class: 'muted-text', text: t('keeper.hands_empty') }),
      view.hands.length > 0 && h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button primary', 'data-key': 'grant-first', text: t('keeper.grant_first'), onclick: () => act('grant_floor', { to: null }) })),
      view.granted.length > 0 && h('h3', { text: t('keeper.granted') }),
      view.granted.length > 0 && h('ul', { class: 'hand-queue' }, view.granted.map((id) => h('li', {},
        h('span', { text: nameOf(view, id) }),
        h('button', { type: 'button', class: 'button secondary small', 'data-key': `revoke-${id}`, 'aria-label': `${t('keeper.revoke')}: ${nameOf(view, id)}`, text: t('keeper.revoke'), onclick: () => act('revoke_floor', { person: id }) }))))));
  }

  function renderPeople() {
    const order = view.people.map((p) => p.id);
    const move = (index, delta) => {
      const next = [...order];
      const [id] = next.splice(index, 1);
      next.splice(index + delta, 0, id);
      act('reorder_seats', { order: next });
    };
    keepFocus(peopleList, () => fill(peopleList, view.people.map((p, index) => {
      const you = p.id === view.you;
      const badges = [t(`presence.${p.presence}`)];
      if (view.holder === p.id) badges.push(t('circle.holds_piece'));
      if (p.hand_raised) badges.push(t('circle.hand_raised'));
      if (view.granted.includes(p.id)) badges.push(t('circle.may_speak'));
      if (p.muted) badges.push(t('circle.muted'));
      if (p.in_caucus) badges.push(t('circle.in_caucus'));
      if (p.interprets_for?.length) {
        const names = p.interprets_for.map((id) => view.people.find((q) => q.id === id)?.name).filter(Boolean);
        badges.push(names.length ? t('circle.interprets_for', { names: names.join(', ') }) : t('circle.interpreter'));
      }
      if (p.interpreting) badges.push(t('circle.interpreting'));
      if (p.ready) badges.push(t('keeper.ready'));
      const here = p.presence === 'in_circle';
      const gone = p.presence === 'removed' || p.presence === 'revoked' || p.presence === 'withdrawn';
      return h('li', { class: `person-row ${here ? '' : 'not-here'}`, 'data-person': p.id },
        h('div', { class: 'who' },
          h('p', { class: 'who-name', text: you ? `${p.name} (${t('circle.you')})` : p.name }),
          h('p', { class: 'who-line', text: `${personLine(p)} — ${badges.join(', ')}` })),
        h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'button icon', 'data-key': `up-${p.id}`, 'aria-label': t('keeper.move_up', { name: p.name }), title: t('keeper.move_up', { name: p.name }), disabled: index === 0, text: '↑', onclick: () => move(index, -1) }),
          h('button', { type: 'button', class: 'button icon', 'data-key': `down-${p.id}`, 'aria-label': t('keeper.move_down', { name: p.name }), title: t('keeper.move_down', { name: p.name }), disabled: index === order.length - 1, text: '↓', onclick: () => move(index, 1) }),
          !you && here && !p.muted && p.role !== 'observer' && h('button', { type: 'button', class: 'button secondary small', 'data-key': `mute-${p.id}`, 'aria-label': `${t('keeper.mute')} ${p.name}`, text: t('keeper.mute'),
            onclick: async () => {
              const sure = await confirmDialog({ title: t('keeper.mute_confirm.title', { name: p.name }), body: t('keeper.mute_confirm.body'), yes: t('keeper.mute_confirm.yes') });
              if (sure) act('mute', { person: p.id });
            } }),
          !you && here && p.role !== 'keeper' && h('button', { type: 'button', class: 'button secondary small', 'data-key': `end-${p.id}`, 'aria-label': `${t('keeper.end_visit')}: ${p.name}`, text: t('keeper.end_visit'),
            onclick: async () => {
              const sure = await confirmDialog({ title: t('keeper.end_visit_confirm.title', { name: p.name }), body: t('keeper.end_visit_confirm.body'), yes: t('keeper.end_visit_confirm.yes') });
              if (sure) act('end_session_of', { person: p.id });
            } }),
          !you && !gone && h('button', { type: 'button', class: 'button danger-outline small', 'data-key': `remove-${p.id}`, 'aria-label': `${t('keeper.remove')} ${p.name}`, text: t('keeper.remove'),
            onclick: async () => {
              const sure = await confirmDialog({ title: t('keeper.remove_confirm.title', { name: p.name }), body: t('keeper.remove_confirm.body'), yes: t('keeper.remove_confirm.yes'), danger: true });
              if (sure) act('remove', { person: p.id });
            } })));
    })));
  }

  function renderCaucus() {
    const choosable = view.people.filter((p) => p.presence === 'in_circle' && !p.in_caucus);
    for (const id of [...caucusPicks]) if (!choosable.some((p) => p.id === id)) caucusPicks.delete(id);
    keepFocus(caucusChoices, () => {
      const legend = caucusChoices.querySelector('legend');
      fill(caucusChoices, legend, choosable.map((p) => {
        const id = `caucus-pick-${p.id}`;
        const input = h('input', { type: 'checkbox', id, value: String(p.id), 'data-key': id, checked: caucusPicks.has(p.id) });
        input.addEventListener('change', () => {
          if (input.checked) caucusPicks.add(p.id);
          else caucusPicks.delete(p.id);
          // Choosing someone offers their supporters too (SPEC §3.1.7); the keeper may untick them.
          if (!input.checked) return;
          for (const s of choosable.filter((q) => q.supports_seat === p.seat)) {
            const box = caucusChoices.querySelector(`#caucus-pick-${s.id}`);
            if (box instanceof HTMLInputElement && !box.checked) {
              box.checked = true;
              caucusPicks.add(s.id);
            }
          }
        });
        return h('div', { class: 'check' }, input, h('label', { for: id, text: p.id === view.you ? `${p.name} (${t('circle.you')})` : p.name }));
      }));
    });
    keepFocus(caucusList, () => fill(caucusList, view.caucuses.length
      ? view.caucuses.map((c, i) => h('div', { class: 'caucus-row' },
        h('p', { text: t('keeper.caucus_n', { n: i + 1, names: listNames(c.members.map((id) => nameOf(view, id))) }) }),
        h('button', { type: 'button', class: 'button primary small', 'data-key': `close-caucus-${c.id}`, text: t('keeper.close_caucus'), onclick: () => act('close_caucus', { caucus: c.id }) })))
      : h('p', { class: 'muted-text', text: t('keeper.no_caucus') })));
  }

  function renderAgreement() {
    const agreement = view.agreement;
    if (agreement && agreement.version !== draftVersionSeen) {
      draftVersionSeen = agreement.version;
      if (!draftDirty) {
        draft = agreement.items.map((i) => ({ ...i, due: i.due ?? '' }));
        renderDraft();
      }
    } else if (!itemsEditor.firstChild) {
      renderDraft();
    }
    updateFinalize();
    if (!agreement) {
      fill(agreementState);
      return;
    }
    const parties = view.people.filter((p) => p.party && p.role !== 'keeper');
    fill(agreementState,
      h('p', { class: agreement.is_final ? 'notice ok' : 'muted-text', text: `${agreement.is_final ? t('agreement.final_note') : t('agreement.draft_note')} ${t('agreement.version', { n: agreement.version })}` }),
      agreement.is_final && agreementList(agreement.items),
      agreement.is_final && h('h3', { text: t('keeper.acks') }),
      agreement.is_final && h('ul', { class: 'acks' }, parties.map((p) => {
        const done = agreement.acknowledged_by.includes(p.id);
        return h('li', { class: done ? 'ack done' : 'ack', 'data-person': p.id }, `${p.name} (${t(`party.${p.party}`)}): ${done ? `✓ ${t('keeper.ack_done')}` : t('keeper.ack_waiting')}`);
      })));
  }

  function renderParties() {
    const present = PARTIES.filter((party) => view.people.some((p) => p.party === party && ['in_circle', 'lobby', 'consent', 'reconnecting'].includes(p.presence)));
    setOptions(partySelect, present.map((party) => [party, t(`party.${party}`)]));
  }

  renderDraft();

  return {
    element,
    update,
    /** @param {{by: number}} msg */
    pauseRequested(msg) {
      alerts.add('pause', msg.by);
    },
    chat(msg) {
      if (view) messages.add(msg, view);
    },
    timeUp(msg) {
      if (view) say(t('turn.time_up_other', { name: nameOf(view, msg.person) }));
      alerts.add('time_up', msg.person);
    },
    /** What the keeper typed and chose, for a rebuild in another language. */
    carry() {
      return { draft, draftDirty, draftVersionSeen, caucusPicks: [...caucusPicks], outline: outline.carry(), values: values.carry(), guideDone: guide.done };
    },
    dispose() {
      document.removeEventListener('keydown', onKey);
      stage.dispose();
      heard.dispose();
      quality.dispose();
      bar.dispose();
      timer.dispose();
    },
  };
}

/** A titled panel of the console. */
function section(key, title, ...children) {
  const id = `panel-${key}`;
  return h('section', { class: `panel panel-${key}`, 'aria-labelledby': id, 'data-section': key },
    h('h2', { id, tabindex: '-1', text: title }), ...children);
}

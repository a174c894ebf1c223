// The circle's outline in the keeper console: the steps, the one the circle
// is at, "Next step", and a small editor (name; steps with their kind and
// prompt; add, remove, move). Participants see the current step quietly in
// their circle view (view-circle.js, `stepCard`).

import { h, fill } from './dom.js';
import { t, has } from './strings.js';

export const STEP_KINDS = ['opening', 'check_in', 'guidelines', 'round', 'closing_round', 'closing'];
/** Kinds that start a round, so they need the round's question. */
const NEEDS_PROMPT = new Set(['check_in', 'guidelines', 'round', 'closing_round']);
const MAX_STEPS = 20;

/** A conference script in words: "In order: person responsible, then seat 2". */
export function speakersText(speakers) {
  const names = speakers.map((s) => (s.party ? t(`party.${s.party}`) : t('circle.seat', { seat: s.seat })));
  return t('outline.speakers', { names: names.join(' → ') });
}

/** The words for a step's kind (a kind this client does not know is shown as it is). */
export function kindName(kind) {
  return has(`outline.kind.${kind}`) ? t(`outline.kind.${kind}`) : String(kind);
}

/**
 * @param {object} deps
 * @param {(type: string, fields?: object) => Promise<boolean>} deps.act
 * @param {(text: string) => void} deps.say
 * @param {{editing: {name: string, steps: {kind: string, prompt: string}[]}|null}} [deps.carry]
 */
export function outlinePanel({ act, say, carry }) {
  /** @type {import('./protocol.js').CircleView|null} */
  let view = null;
  /** The outline being edited, or null when the editor is closed. */
  let editing = carry?.editing ?? null;

  const summary = h('div', { class: 'outline-summary' });
  const controls = h('div', { class: 'outline-controls' });
  const editor = h('div', { class: 'outline-editor' });
  const element = h('section', { class: 'panel panel-outline', 'aria-labelledby': 'panel-outline', 'data-section': 'outline', hidden: true },
    h('h2', { id: 'panel-outline', tabindex: '-1', text: t('outline.title') }),
    summary, controls, editor);

  /** @param {import('./protocol.js').CircleView} next */
  function update(next) {
    view = next;
    // An older server sends no outline at all: nothing to show.
    element.hidden = view.outline === undefined;
    if (element.hidden) return;
    renderSummary();
    renderControls();
    if (editing && !editor.firstChild) renderEditor();
  }

  function renderSummary() {
    const outline = view.outline;
    if (!outline) {
      fill(summary, h('p', { class: 'muted-text', text: t('outline.none') }));
      return;
    }
    fill(summary,
      h('p', { class: 'outline-name', text: outline.name }),
      h('ol', { class: 'outline-steps' }, outline.steps.map((step, index) => {
        const now = outline.current === index;
        return h('li', { class: now ? 'outline-step current' : 'outline-step', 'aria-current': now ? 'step' : null, 'data-step': index },
          h('span', { class: 'step-kind', text: kindName(step.kind) }),
          now && h('span', { class: 'chip step-now', text: t('outline.current') }),
          step.prompt && h('span', { class: 'step-prompt', text: step.prompt }),
          step.speakers?.length > 0 && h('span', { class: 'step-speakers', text: speakersText(step.speakers) }));
      })));
  }

  function renderControls() {
    const outline = view.outline;
    const focused = document.activeElement?.getAttribute('data-key');
    const buttons = [];
    const notes = [];
    if (outline) {
      const last = outline.current !== null && outline.current >= outline.steps.length - 1;
      const inSession = view.phase === 'in_session';
      buttons.push(h('button', { type: 'button', class: 'button primary', 'data-key': 'next-step', disabled: !inSession || last,
        text: outline.current === null ? t('outline.start') : t('outline.next'), onclick: () => act('next_step') }));
      if (!inSession) notes.push(t('outline.only_in_session'));
      else if (last) notes.push(t('outline.last'));
      else notes.push(t('outline.next_note'));
    }
    if (!editing) {
      buttons.push(h('button', { type: 'button', class: 'button secondary', 'data-key': 'edit-outline',
        text: outline ? t('outline.edit') : t('outline.write'), onclick: openEditor }));
    }
    fill(controls,
      h('div', { class: 'actions' }, buttons),
      notes.map((text) => h('p', { class: 'small muted-text', text })));
    if (focused) {
      const again = controls.querySelector(`[data-key="${focused}"]`);
      if (again instanceof HTMLElement && !again.hasAttribute('disabled')) again.focus();
    }
  }

  function openEditor() {
    const outline = view?.outline;
    editing = outline
      ? { name: outline.name, steps: outline.steps.map((s) => ({ kind: s.kind, prompt: s.prompt, speakers: s.speakers ?? [] })) }
      : { name: '', steps: [{ kind: 'opening', prompt: '' }, { kind: 'check_in', prompt: '' }, { kind: 'closing', prompt: '' }] };
    renderControls();
    renderEditor();
    editor.querySelector('input')?.focus();
  }

  function closeEditor() {
    editing = null;
    fill(editor);
    renderControls();
    controls.querySelector('[data-key="edit-outline"]')?.focus();
  }

  /** Re-renders the editor and focuses the element with this id, if given. */
  function renderEditor(focusId = null) {
    if (!editing) {
      fill(editor);
      return;
    }
    const draft = editing;
    const problem = h('p', { class: 'notice warn', role: 'alert', hidden: true });
    const nameInput = h('input', { id: 'outline-name', type: 'text', maxlength: '100', value: draft.name, autocomplete: 'off' });
    nameInput.addEventListener('input', () => { draft.name = nameInput.value; });
    const move = (index, delta, key) => {
      const [step] = draft.steps.splice(index, 1);
      draft.steps.splice(index + delta, 0, step);
      renderEditor(`outline-step-${index + delta + 1}-${key}`);
    };
    const rows = draft.steps.map((step, index) => {
      const n = index + 1;
      const kind = h('select', { id: `outline-step-${n}-kind` },
        STEP_KINDS.map((k) => h('option', { value: k, text: kindName(k) })));
      kind.value = step.kind;
      kind.addEventListener('change', () => { step.kind = kind.value; });
      const prompt = h('textarea', { id: `outline-step-${n}-prompt`, rows: '2', maxlength: '500', value: step.prompt });
      prompt.addEventListener('input', () => { step.prompt = prompt.value; });
      return h('li', { class: 'item-row outline-row' },
        h('p', { class: 'item-number', text: t('outline.step_label', { n }) }),
        h('div', { class: 'field' }, h('label', { for: kind.id, text: t('outline.step_kind') }), kind),
        h('div', { class: 'field' }, h('label', { for: prompt.id, text: t('outline.step_prompt') }), prompt),
        h('div', { class: 'row-actions' },
          h('button', { type: 'button', class: 'button icon', id: `outline-step-${n}-up`, 'aria-label': t('outline.move_up', { n }), title: t('outline.move_up', { n }),
            disabled: index === 0, text: '↑', onclick: () => move(index, -1, 'up') }),
          h('button', { type: 'button', class: 'button icon', id: `outline-step-${n}-down`, 'aria-label': t('outline.move_down', { n }), title: t('outline.move_down', { n }),
            disabled: index === draft.steps.length - 1, text: '↓', onclick: () => move(index, 1, 'down') }),
          draft.steps.length > 1 && h('button', { type: 'button', class: 'button quiet small', text: t('outline.remove_step', { n }),
            onclick: () => {
              draft.steps.splice(index, 1);
              renderEditor(`outline-step-${Math.max(1, index)}-prompt`);
            } })));
    });
    const form = h('form', { class: 'outline-form', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'outline-name', text: t('outline.name') }), nameInput),
      h('ol', { class: 'item-editor' }, rows),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button secondary', id: 'outline-add-step', disabled: draft.steps.length >= MAX_STEPS, text: t('outline.add_step'),
          onclick: () => {
            draft.steps.push({ kind: 'round', prompt: '' });
            renderEditor(`outline-step-${draft.steps.length}-kind`);
          } })),
      problem,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'button primary', text: t('outline.save') }),
        h('button', { type: 'button', class: 'button quiet', text: t('keeper.cancel'), onclick: closeEditor })));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const outline = {
        name: draft.name.trim(),
        // A step's script (written by the program) rides along while its step still starts a round.
        steps: draft.steps.map((s) => (s.speakers?.length && NEEDS_PROMPT.has(s.kind)
          ? { kind: s.kind, prompt: s.prompt.trim(), speakers: s.speakers }
          : { kind: s.kind, prompt: s.prompt.trim() })),
      };
      const incomplete = !outline.name || outline.steps.some((s) => NEEDS_PROMPT.has(s.kind) && !s.prompt);
      if (incomplete) {
        problem.hidden = false;
        problem.textContent = t('outline.check');
        return;
      }
      problem.hidden = true;
      if (await act('set_outline', { outline })) {
        say(t('outline.saved'));
        closeEditor();
      }
    });
    fill(editor, form);
    if (focusId) {
      const target = editor.querySelector(`#${CSS.escape(focusId)}`);
      if (target instanceof HTMLElement && !target.hasAttribute('disabled')) target.focus();
      else editor.querySelector('#outline-add-step')?.focus();
    }
  }

  return {
    element,
    update,
    carry: () => ({ editing }),
  };
}

// Small DOM helpers shared by the views. No inline styles or scripts are
// ever created (the Content-Security-Policy forbids them): classes only.

import { t, formatNumber } from './strings.js';

/**
 * Creates an element. `attrs`: `class`, `text`, `on<event>` handlers,
 * boolean and string attributes; `null`/`false` values are skipped.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node|string|null|undefined|false|Array<Node|string|null|undefined|false>)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  // What people type runs in its own direction (Arabic in an English page, or the reverse).
  if ((tag === 'textarea' || (tag === 'input' && attrs.type === 'text')) && !('dir' in attrs)) el.dir = 'auto';
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child);
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * Re-renders a region without losing the keyboard focus: the focused
 * element's `data-key` is remembered and the new element with the same key
 * is focused again.
 * @param {HTMLElement} region
 * @param {() => void} render
 */
export function keepFocus(region, render) {
  const active = document.activeElement;
  const key = active && region.contains(active) ? active.getAttribute('data-key') : null;
  render();
  if (key) {
    const again = region.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again instanceof HTMLElement) again.focus();
    else region.closest('section')?.querySelector('h2')?.focus();
  }
}

let politeRegion = null;
let assertiveRegion = null;

/** Creates the two live regions once (they must exist before they speak). */
export function setupAnnouncer() {
  politeRegion = h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true', id: 'announcer' });
  assertiveRegion = h('div', { class: 'visually-hidden', role: 'alert', 'aria-live': 'assertive', 'aria-atomic': 'true', id: 'announcer-urgent' });
  document.body.append(politeRegion, assertiveRegion);
}

/**
 * Says something to screen-reader users (and is readable in the DOM for tests).
 * @param {string} text
 * @param {{urgent?: boolean}} [options]
 */
export function announce(text, { urgent = false } = {}) {
  const region = urgent ? assertiveRegion : politeRegion;
  if (!region || !text) return;
  // Clearing first makes the same sentence be spoken again.
  region.textContent = '';
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/**
 * A modal question with native <dialog> (focus is trapped, Escape cancels).
 * Resolves true when confirmed.
 * @param {{title: string, body: string, yes: string, no?: string, danger?: boolean}} options
 * @returns {Promise<boolean>}
 */
export function confirmDialog({ title, body, yes, no = t('keeper.cancel'), danger = false }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId, text: title }),
      h('p', { text: body }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'button secondary', value: 'no', text: no, onclick: () => dialog.close('no') }),
        h('button', { type: 'button', class: danger ? 'button danger' : 'button primary', text: yes, onclick: () => dialog.close('yes') }),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
    // The safe choice gets the focus.
    dialog.querySelector('button')?.focus();
  });
}

/**
 * A modal panel holding arbitrary content (device check, messages).
 * @param {{title: string, content: Node, onClose?: () => void}} options
 * @returns {HTMLDialogElement}
 */
export function panelDialog({ title, content, onClose }) {
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dialog = h('dialog', { class: 'dialog wide', 'aria-labelledby': titleId },
    h('div', { class: 'dialog-head' },
      h('h2', { id: titleId, text: title }),
      h('button', { type: 'button', class: 'button secondary small', text: t('dialog.close'), onclick: () => dialog.close() }),
    ),
    content,
  );
  dialog.addEventListener('close', () => {
    dialog.remove();
    onClose?.();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Formats milliseconds as m:ss. */
export function formatDuration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = formatNumber(Math.floor(total / 60));
  const s = formatNumber(total % 60, { minimumIntegerDigits: 2 });
  return t('time.minutes_seconds', { m, s });
}

/** Initials for an avatar: "Keeper Kim" → "KK". */
export function initials(name) {
  const parts = String(name).trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

export const prefersReducedMotion = () => window.matchMedia('(prefers-reduced-motion: reduce)').matches;

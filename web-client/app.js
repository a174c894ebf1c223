// The join page: reads the invitation token from the link's fragment (it
// never reaches the server in a URL), hides it from the address bar, opens
// the connection and shows the screen that fits the person's view.

import { CircleConnection } from './protocol.js';
import { h, fill, announce, setupAnnouncer } from './dom.js';
import { t, has } from './strings.js';
import { localMedia } from './media.js';
import { followMedia } from './webrtc.js';
import { describeChanges } from './circle-parts.js';
import { connectingScreen, noLinkScreen, refusedScreen, consentScreen, lobbyScreen, endedScreen } from './view-join.js';
import { circleScreen } from './view-circle.js';
import { keeperScreen } from './view-keeper.js';

const TOKEN_KEY = 'ck.token';

/** Takes the token from `#t=…` (and removes it from the address bar), or from this tab's storage. */
function readToken() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromLink = fragment.get('t');
  if (fromLink) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromLink);
    } catch {
      // Without storage a reload needs the link again; nothing else changes.
    }
    history.replaceState(null, '', location.pathname + location.search);
    return fromLink;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

const root = /** @type {HTMLElement} */ (document.getElementById('app'));
const banner = /** @type {HTMLElement} */ (document.getElementById('connection'));
const feedback = /** @type {HTMLElement} */ (document.getElementById('feedback'));

/** @type {{key: string, screen: any}|null} */
let current = null;
/** @type {import('./protocol.js').CircleView|null} */
let lastCircle = null;
let feedbackTimer = 0;

/** Shows a screen; focus moves to its heading so screen readers start there. */
function show(key, screen) {
  current?.screen.dispose?.();
  current = { key, screen };
  fill(root, screen.element);
  const title = root.querySelector('.screen-title');
  if (title instanceof HTMLElement) title.focus({ preventScroll: false });
  window.scrollTo(0, 0);
}

/** A short visible line (also read out) after an action, or its error. */
function tell(text, tone = 'ok') {
  clearTimeout(feedbackTimer);
  feedback.textContent = text;
  feedback.className = `feedback ${tone}`;
  feedback.hidden = false;
  feedbackTimer = setTimeout(() => {
    feedback.hidden = true;
  }, 8000);
}

function errorText(error) {
  const key = `error.${error.code}`;
  return has(key) ? t(key) : t('error.generic', { message: error.message });
}

function start() {
  setupAnnouncer();
  // Another invitation link opened in this tab changes only the fragment:
  // keep the new token and start again with it.
  window.addEventListener('hashchange', () => {
    if (new URLSearchParams(location.hash.replace(/^#/, '')).get('t')) {
      readToken();
      location.reload();
    }
  });
  const token = readToken();
  if (!token) {
    show('no-link', noLinkScreen());
    return;
  }
  show('connecting', connectingScreen());
  const connection = new CircleConnection({ token });

  /** Sends a command; shows its refusal in plain words. */
  const act = (type, fields) => connection.send(type, fields).catch((error) => {
    if (error.code !== 'session_ended') tell(errorText(error), 'error');
    throw error;
  });
  /** The same, for buttons: resolves true when accepted, false when refused (already shown). */
  const quietAct = (type, fields) => act(type, fields).then(() => true, () => false);

  connection.addEventListener('status', (event) => {
    const { status, retryInMs } = event.detail;
    if (status === 'reconnecting' && current && current.key !== 'connecting') {
      banner.hidden = false;
      fill(banner,
        h('span', { text: retryInMs ? t('status.reconnecting_in', { seconds: Math.ceil(retryInMs / 1000) }) : t('status.reconnecting') }),
        h('span', { class: 'muted-text', text: ` ${t('status.reconnect_note')}` }),
        h('button', { type: 'button', class: 'button small secondary', text: t('status.retry_now'), onclick: () => connection.retryNow() }));
    } else if (status === 'open') {
      if (!banner.hidden) announce(t('status.back'));
      banner.hidden = true;
    } else if (status === 'closed') {
      banner.hidden = true;
    }
  });

  connection.addEventListener('state', (event) => {
    const view = event.detail.view;
    switch (view.stage) {
      case 'consent':
        lastCircle = null;
        if (current?.key !== 'consent') {
          show('consent', consentScreen(view, (answers, version) => act('consent', { version, answers }).then(() => {})));
        }
        return;
      case 'lobby':
        lastCircle = null;
        if (current?.key !== 'lobby') show('lobby', lobbyScreen(view, () => quietAct('leave')));
        return;
      case 'circle': {
        const key = view.role === 'keeper' ? 'keeper' : 'circle';
        const first = current?.key !== key;
        if (first) {
          show(key, key === 'keeper' ? keeperScreen({ act: quietAct, say: (text) => tell(text) }) : circleScreen({ act: quietAct }));
        }
        current.screen.update(view);
        // One announcement per change, so no sentence overwrites another.
        announce(describeChanges(first ? null : lastCircle, view).join(' '));
        lastCircle = view;
        return;
      }
      default:
        return;
    }
  });

  connection.addEventListener('pause_requested', (event) => {
    current?.screen.pauseRequested?.(event.detail);
    const name = lastCircle?.people.find((p) => p.id === event.detail.by)?.name ?? t('circle.someone');
    announce(t('announce.pause_request', { name }), { urgent: true });
  });
  connection.addEventListener('chat', (event) => {
    current?.screen.chat?.(event.detail);
    if (event.detail.from !== lastCircle?.you) {
      const name = lastCircle?.people.find((p) => p.id === event.detail.from)?.name ?? t('circle.someone');
      announce(t('announce.message', { name }));
    }
  });
  connection.addEventListener('time_up', (event) => {
    current?.screen.timeUp?.(event.detail);
    if (event.detail.person === lastCircle?.you) announce(t('turn.time_up'));
  });

  connection.addEventListener('ended', (event) => {
    const { reason } = event.detail;
    localMedia.stop();
    lastCircle = null;
    banner.hidden = true;
    // Only someone who left on their own comes back with this link from here.
    if (reason !== 'left') forgetToken();
    show('ended', endedScreen(reason, () => location.reload()));
  });

  connection.addEventListener('refused', (event) => {
    const code = event.detail.code;
    if (!['room_locked', 'room_not_open'].includes(code)) forgetToken();
    localMedia.stop();
    banner.hidden = true;
    show('refused', refusedScreen(event.detail, () => location.reload()));
  });

  connection.addEventListener('error', (event) => {
    tell(errorText(event.detail), 'error');
  });

  // The peer connection with the server: built on `media_ready`, closed with the circle.
  followMedia(connection);
  window.addEventListener('pagehide', () => connection.close());
  connection.connect();
}

start();

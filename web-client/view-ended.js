// The end of a visit: kind words for its reason, then what the person keeps
// (the agreement they acknowledged, the room's support contacts), and for a
// keeper a summary of the session. Feedback comes last, and only when offered.

import { h } from './dom.js';
import { t, has, listNames } from './strings.js';
import { heading } from './view-join.js';

/** A text file to download, as a link styled like a button. */
function saveLink(file, label, text) {
  return h('a', {
    class: 'button secondary',
    download: file,
    href: URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' })),
    text: label,
  });
}

/** The agreement this person acknowledged, to keep: on screen and as a file. */
function agreementCopy(agreement) {
  if (!agreement || typeof agreement.text !== 'string') return null;
  return h('section', { class: 'subcard agreement-copy', 'aria-labelledby': 'copy-title' },
    h('h2', { id: 'copy-title', text: t('ended.agreement_title') }),
    h('p', { text: t('ended.agreement_intro') }),
    h('pre', { class: 'agreement-text', dir: 'auto', text: agreement.text }),
    saveLink(t('ended.agreement_file'), t('ended.agreement_save'),
      `${t('ended.agreement_title')}\n\n${agreement.text}\n\nSHA-256: ${agreement.hash}\n`));
}

/** The room's support contacts, before anything is asked of the person. */
function supportContacts(support) {
  if (!support.length) return null;
  return h('section', { class: 'subcard support', 'aria-labelledby': 'support-title' },
    h('h2', { id: 'support-title', text: t('ended.support_title') }),
    h('p', { text: t('ended.support_intro') }),
    h('ul', { class: 'support-list' }, ...support.map((c) => h('li', {},
      h('strong', { dir: 'auto', text: String(c.name ?? '') }), ' ', h('span', { dir: 'auto', text: String(c.contact ?? '') })))));
}

const OUTCOMES = ['took_part', 'withdrew', 'removed', 'did_not_enter'];

/**
 * For a keeper: who came, the rounds, where the agreement stands (SPEC §10).
 * Shown as a list and offered as a text file for the keeper's notes.
 * @param {import('./protocol.js').KeeperSummary|null} summary
 */
function keeperSummary(summary) {
  if (!summary || !Array.isArray(summary.people)) return null;
  const who = (p) => {
    const what = p.party ? t(`party.${p.party}`) : p.role !== 'participant' ? t(`circle.${p.role}`) : '';
    return what ? `${p.name} (${what})` : p.name;
  };
  /** @type {[string, string][]} */
  const rows = [];
  for (const outcome of OUTCOMES) {
    const names = summary.people.filter((p) => p.outcome === outcome).map(who);
    if (names.length) rows.push([t(`ended.summary_${outcome}`), listNames(names)]);
  }
  rows.push([t('ended.summary_rounds'), String(Number(summary.rounds) || 0)]);
  const a = summary.agreement;
  let agreement = t('ended.summary_no_agreement');
  if (a && !a.is_final) agreement = t('ended.summary_draft', { version: a.version });
  if (a && a.is_final) {
    agreement = a.acknowledged_by.length
      ? t('ended.summary_final', { version: a.version, names: listNames(a.acknowledged_by) })
      : t('ended.summary_final_none', { version: a.version });
  }
  rows.push([t('ended.summary_agreement'), agreement]);
  const text = `${t('ended.summary_title')}\n\n${rows.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`;
  return h('section', { class: 'subcard keeper-summary', 'aria-labelledby': 'summary-title' },
    h('h2', { id: 'summary-title', text: t('ended.summary_title') }),
    h('p', { text: t('ended.summary_intro') }),
    h('dl', { class: 'summary-list' }, ...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { dir: 'auto', text: v })])),
    saveLink(t('ended.summary_file'), t('ended.summary_save'), text));
}

/**
 * The visit is over. A removed person gets nothing more than that sentence
 * (and where to turn).
 * @param {object} end
 * @param {string} end.reason
 * @param {() => void} [end.rejoin]  offered after leaving on one's own
 * @param {{element: HTMLElement, carry: () => any}|null} [end.questionnaire]  the feedback form, when offered
 * @param {{name: string, contact: string}[]} [end.support]
 * @param {{text: string, hash: string}|null} [end.agreement]
 * @param {import('./protocol.js').KeeperSummary|null} [end.summary]
 * @returns {import('./view-join.js').Screen}
 */
export function endedScreen({ reason, rejoin, questionnaire = null, support = [], agreement = null, summary = null }) {
  // A keeper who closed the room is not thanked for taking part: they held it.
  const key = summary && has(`ended.${reason}_keeper.title`) ? `${reason}_keeper` : has(`ended.${reason}.title`) ? reason : 'default';
  const left = reason === 'left';
  return {
    element: h('section', { class: 'card center ended', 'data-screen': 'ended', 'data-reason': reason },
      h('div', { class: 'stone-mark', 'aria-hidden': 'true' }),
      heading(t(`ended.${key}.title`)),
      h('p', { class: 'lead', text: t(`ended.${key}.body`) }),
      // Someone who left may have done so by mistake: going back comes first,
      // and the questionnaire waits, folded, for whoever wants it.
      left && rejoin
        ? h('div', { class: 'actions center' }, h('button', { type: 'button', class: 'button primary', text: t('ended.rejoin'), onclick: rejoin }))
        : null,
      agreementCopy(agreement),
      supportContacts(support),
      keeperSummary(summary),
      left && questionnaire
        ? h('details', { class: 'subcard optional-feedback' }, h('summary', { text: t('ended.feedback_optional') }), questionnaire.element)
        : questionnaire?.element,
      left && rejoin ? null : h('p', { class: 'muted-text', text: t('ended.close_tab') }),
    ),
    carry: () => questionnaire?.carry(),
  };
}

// A whole circle in the browser: a keeper and three participants, each in
// their own browser context, through consent, the waiting room, admission,
// a round with a pass and a pass without speaking, a pause, a side room
// (caucus), the agreement acknowledged by every party, a removal, a leave
// and the closing of the room. Media is checked with getStats() on the way:
// everyone's video reaches everyone, the holder is heard and the others are
// not, and the waiting room receives nothing.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import {
  BASE, acceptAll, accessible, announced, confirm, grows, heading, idsByName, launch, linkOf, mediaStats, noProblems, person, press,
  sees, shoot, staysFlatWhile, videosPlaying,
} from './helpers.js';

/** Waits until the page's peer connection with the server is connected. */
async function mediaConnected(page) {
  await page.waitForFunction(() => window.__circleKeeperStats().then((s) => s?.connectionState === 'connected'),
    null, { timeout: 15_000, polling: 100 });
}

/** Nothing of the circle reaches this page: no peer connection was ever made. */
async function receivesNothing(page, label) {
  assert.equal(await mediaStats(page), null, `${label}: no peer connection`);
  assert.equal(await page.evaluate(() => window.__peerConnectionsMade), 0, `${label}: no RTCPeerConnection was made`);
}

describe('a circle from arrival to closing', () => {
  let browser;
  let keeper;
  let alex;
  let sam;
  let jordan;
  /** @type {Record<string, number>} person ids by name */
  let ids;

  before(async () => {
    browser = await launch();
    keeper = await person(browser, 'keeper');
    alex = await person(browser, 'alex');
    sam = await person(browser, 'sam');
    jordan = await person(browser, 'jordan');
  });

  after(async () => {
    await browser?.close();
  });

  it('shows the consent terms first, and takes the token out of the address bar', async () => {
    const page = alex.page;
    await page.goto(linkOf('Alex'));
    await heading(page, 'Before you join');
    assert.equal(page.url(), `${BASE}/join`, 'the token is no longer in the address bar');
    const stored = await page.evaluate(() => sessionStorage.getItem('ck.token'));
    assert.ok(stored && stored.length > 20, 'the token is kept for a reload in this tab');
    await sees(page, 'It is completely fine to say no.');
    assert.equal(await page.getByRole('radio', { name: 'I agree' }).count(), 4, 'every item has its own choice');
    // Continuing without answering says what is missing.
    await press(page, 'Continue');
    await sees(page, 'Please answer every point (4 left).');
    await shoot(page, '01-consent');
    await accessible(page, '01-consent');
  });

  it('lets the keeper in directly, and participants wait in the waiting room', async () => {
    await keeper.page.goto(linkOf('Keeper Kim'));
    // A keeper consents to what the role owes the others, not to the participants' terms.
    await sees(keeper.page, 'I will keep what is said in this circle confidential');
    assert.equal(await keeper.page.getByText('I am taking part voluntarily').count(), 0, 'not the participants’ terms');
    await acceptAll(keeper.page);
    await heading(keeper.page, 'Demo circle');
    await sees(keeper.page, 'Nobody is waiting.');

    await acceptAll(alex.page);
    await heading(alex.page, 'You are in the waiting room');
    for (const p of [sam, jordan]) {
      await p.page.goto(linkOf(p === sam ? 'Sam' : 'Jordan'));
      await acceptAll(p.page);
      await heading(p.page, 'You are in the waiting room');
    }
    // Nothing of the room leaks into the waiting room.
    const text = await alex.page.locator('main').innerText();
    for (const name of ['Keeper Kim', 'Sam', 'Jordan']) assert.ok(!text.includes(name), `no ${name} in the lobby`);
    // The keeper is in the circle with media; the waiting room has none.
    await mediaConnected(keeper.page);
    for (const p of [alex, sam, jordan]) await receivesNothing(p.page, p.label);
    await shoot(alex.page, '02-lobby');
    await accessible(alex.page, '02-lobby');

    // The device check: a preview from the fake camera, and the audio-only choice.
    await press(alex.page, 'Turn on camera and microphone');
    await alex.page.waitForFunction(() => {
      const video = document.querySelector('.preview-video');
      return video && !video.hidden && video.readyState >= 2 && video.videoWidth > 0;
    });
    // The speaker test: a chime made in the page, and a word on what to do if it is not heard.
    await press(alex.page, 'Play a test sound');
    await alex.page.locator('.speaker-test[data-played="1"]').waitFor();
    await sees(alex.page, 'You should hear a soft chime.');
    await shoot(alex.page, '03-lobby-device-check');
    await accessible(alex.page, '03-lobby-device-check');
  });

  it('shows the keeper who is waiting, and admits them', async () => {
    const page = keeper.page;
    for (const name of ['Alex', 'Sam', 'Jordan']) {
      await page.getByRole('button', { name: `Admit ${name}` }).waitFor();
    }
    await announced(page, 'is waiting to be let in');
    // The guided start: letting people in is the step now; starting is not the main button yet.
    assert.equal(await page.locator('[data-section="guide"] h2').innerText(), 'Getting started · step 2 of 4');
    assert.equal(await page.locator('[data-section="guide"] .guide-step').innerText(), 'Let people in from the waiting room.');
    assert.equal(await page.locator('[data-section="session"] [data-key="start"]').getAttribute('class'), 'button secondary');
    assert.equal(await page.locator('[data-key="guide-start-early"]').getAttribute('class'), 'button secondary small');
    await shoot(page, '04-keeper-lobby');
    await accessible(page, '04-keeper-lobby');
    for (const name of ['Alex', 'Sam', 'Jordan']) await press(page, `Admit ${name}`);
    await sees(page, 'Nobody is waiting.');
    // Everyone is in: starting is the step now, and the main button.
    assert.equal(await page.locator('[data-key="guide-start"]').getAttribute('class'), 'button primary small');
    assert.equal(await page.locator('[data-section="session"] [data-key="start"]').getAttribute('class'), 'button primary');
    for (const p of [alex, sam, jordan]) {
      await heading(p.page, 'The circle has not started yet');
      await announced(p.page, 'You are now in the circle.');
    }
    // Alex's own camera is in Alex's seat.
    await alex.page.locator('.seat.you video').waitFor();
  });

  it('connects everyone’s media, and video flows from everyone in the circle to everyone', async () => {
    ids = await idsByName(keeper.page);
    const everyone = [keeper, alex, sam, jordan];
    const nameOf = { keeper: 'Keeper Kim', alex: 'Alex', sam: 'Sam', jordan: 'Jordan' };
    await Promise.all(everyone.map((p) => mediaConnected(p.page)));
    await Promise.all(everyone.flatMap((to) => everyone.filter((from) => from !== to).map((from) =>
      grows(to.page, ids[nameOf[from.label]], 'video', { label: `${from.label} → ${to.label}` }))));
    // Each seat shows that person's picture: three others and oneself.
    for (const p of everyone) await videosPlaying(p.page, 4);
    // Everyone sees that their connection is good (sampled from the peer connection's stats).
    for (const p of everyone) await p.page.locator('.dock [data-section="quality"][data-quality="good"]').waitFor();
    // The classes a sample falls into: late answers or lost packets are weak, a broken link is lost.
    const classes = await keeper.page.evaluate(async () => {
      const { qualityOf } = await import('/client/webrtc.js');
      return [
        qualityOf({ state: 'connected', rtt: 0.02, loss: 0 }),
        qualityOf({ state: 'connected', rtt: 0.02, loss: null }),
        qualityOf({ state: 'connected', rtt: 0.8, loss: 0 }),
        qualityOf({ state: 'connected', rtt: 0.02, loss: 0.1 }),
        qualityOf({ state: 'disconnected' }),
        qualityOf({ state: 'failed' }),
        qualityOf({ state: 'connecting' }),
        qualityOf({ state: 'closed' }),
      ];
    });
    assert.deepEqual(classes, ['good', 'good', 'weak', 'weak', 'lost', 'lost', 'connecting', 'none']);
  });

  it('runs a round: a pass, a pass without speaking, and the piece comes back', async () => {
    const page = keeper.page;
    await press(page, 'Start the session');
    await heading(alex.page, 'Nobody holds the talking piece');
    // The guide's last step: open with a round, its question already written.
    assert.equal(await page.getByLabel('Question for the opening round').inputValue(), 'Please say your name, and how you are arriving today.');
    await page.getByLabel('Question for the round').fill('What brought you here today?');
    await page.getByLabel('Start with').selectOption({ label: 'Alex' });
    await press(page, 'Start round');

    await heading(alex.page, 'You hold the talking piece');
    await page.locator('[data-section="guide"]').waitFor({ state: 'hidden' });
    await announced(alex.page, 'You hold the talking piece.');
    await sees(alex.page, 'What brought you here today?');
    await heading(sam.page, 'Alex holds the talking piece');
    await sees(sam.page, 'You are next.');
    await announced(sam.page, 'Alex holds the talking piece.');
    await heading(jordan.page, 'Alex holds the talking piece');
    await sees(jordan.page, 'Next: Sam.');
    // Only the holder has the pass buttons.
    assert.equal(await sam.page.getByRole('button', { name: 'Pass the talking piece' }).count(), 0);

    // Alex's voice reaches everyone; Sam, not holding the piece, is not heard.
    await Promise.all([sam, jordan, keeper].map((p) => grows(p.page, ids.Alex, 'audio', { label: `Alex's audio at ${p.label}` })));
    await staysFlatWhile(jordan.page, ids.Sam, ids.Alex, 'audio', { label: 'Jordan, while Alex holds the piece' });
    await videosPlaying(sam.page, 4);
    await shoot(alex.page, '05-circle-you-hold-the-piece');
    await accessible(alex.page, '05-circle-you-hold-the-piece');
    await shoot(sam.page, '06-circle-listening');
    await accessible(sam.page, '06-circle-listening');
    await shoot(page, '07-keeper-round');
    await accessible(page, '07-keeper-round');

    await press(alex.page, 'Pass the talking piece');
    await heading(sam.page, 'You hold the talking piece');
    await heading(alex.page, 'Sam holds the talking piece');
    // The piece moved: Sam is heard now, and Alex's audio stops arriving.
    await Promise.all([alex, jordan, keeper].map((p) => grows(p.page, ids.Sam, 'audio', { label: `Sam's audio at ${p.label}` })));
    await Promise.all([jordan, keeper].map((p) =>
      staysFlatWhile(p.page, ids.Alex, ids.Sam, 'audio', { label: `${p.label}, after Alex passed to Sam` })));
    // Video keeps flowing from everyone, holder or not.
    await Promise.all([ids.Alex, ids.Sam, ids['Keeper Kim']].map((id) => grows(jordan.page, id, 'video', { label: 'video at Jordan' })));

    await press(sam.page, 'Pass without speaking');
    await heading(jordan.page, 'You hold the talking piece');
    await announced(alex.page, 'Jordan holds the talking piece.');
    // Who spoke and who passed is the keeper's to follow, seat by seat; the circle is not told.
    await page.locator('.seat', { hasText: 'Sam' }).filter({ hasText: 'passed' }).waitFor();
    assert.match(await page.locator('.seat', { hasText: 'Alex' }).innerText(), /spoke/);
    assert.doesNotMatch(await jordan.page.locator('.seat', { hasText: 'Sam' }).innerText(), /passed/);
    assert.doesNotMatch(await jordan.page.locator('.seat', { hasText: 'Alex' }).innerText(), /spoke/);

    await press(jordan.page, 'Pass the talking piece');
    await heading(page, 'You hold the talking piece');
    await press(page, 'Pass the talking piece');
    // Back at Alex, who already spoke: the round is over.
    await heading(alex.page, 'Nobody holds the talking piece');
    await announced(alex.page, 'The round has ended.');
  });

  it('a reload in the middle of the circle comes straight back to it, with media', async () => {
    await alex.page.reload();
    await heading(alex.page, 'Nobody holds the talking piece');
    // A fresh page builds a fresh peer connection on the server's new `media_ready`.
    await mediaConnected(alex.page);
    assert.equal(await alex.page.evaluate(() => window.__peerConnectionsMade), 1);
    await grows(alex.page, ids.Sam, 'video', { label: 'Sam → Alex after the reload' });
    await grows(sam.page, ids.Alex, 'video', { label: 'Alex → Sam after the reload' });
  });

  it('tells the keeper at once when someone needs a moment, and pauses', async () => {
    await press(sam.page, 'I need a moment');
    await sees(sam.page, 'The keepers have been told you need a moment.');
    await sees(keeper.page, 'Sam needs a moment');
    await shoot(keeper.page, '08-keeper-pause-request');
    await accessible(keeper.page, '08-keeper-pause-request');
    await press(keeper.page, 'Pause the circle');
    for (const p of [alex, sam, jordan]) await heading(p.page, 'The circle is paused');
    await announced(sam.page, 'The circle is paused.');
    // Nobody is watched in a break (pause_video, on by default): the keeper's
    // video goes on, the others' stops, and Sam is told so.
    await sees(sam.page, 'nobody sees or hears you now');
    await grows(alex.page, ids['Keeper Kim'], 'video', { label: 'the keeper\'s video at Alex, paused' });
    await staysFlatWhile(alex.page, ids.Sam, ids['Keeper Kim'], 'video', { label: 'Sam\'s video at Alex, paused' });
    await shoot(sam.page, '09-circle-paused');
    await accessible(sam.page, '09-circle-paused');
    await press(keeper.page, 'Resume');
    await heading(sam.page, 'Nobody holds the talking piece');
    await announced(sam.page, 'The circle continues.');
    await grows(alex.page, ids.Sam, 'video', { label: 'Sam\'s video at Alex after the pause' });
  });

  it('opens a side room for the keeper and Alex, and brings them back', async () => {
    const page = keeper.page;
    await page.getByLabel('Keeper Kim (you)').check();
    await page.getByLabel('Alex', { exact: true }).check();
    await press(page, 'Open a side room');
    await heading(alex.page, 'You are in a private side room');
    await sees(alex.page, 'Only Keeper Kim can see and hear you now.');
    await announced(alex.page, 'You are now in a private side room.');
    // Outside, with the keeper away: what is true, never "raise your hand".
    await heading(sam.page, 'The keeper is in a side room');
    await sees(sam.page, 'Keeper Kim and Alex are talking privately and will come back.');
    await shoot(alex.page, '10-circle-side-room');
    await accessible(alex.page, '10-circle-side-room');
    await shoot(page, '11-keeper-side-room');
    await accessible(page, '11-keeper-side-room');
    await press(page, 'Bring them back');
    await heading(alex.page, 'Nobody holds the talking piece');
    await announced(alex.page, 'You are back in the whole circle.');
  });

  it('records an agreement that every party acknowledges', async () => {
    const page = keeper.page;
    const panel = page.locator('[data-section="agreement"]');
    await panel.getByLabel('What').first().fill('Sam repairs the garden fence.');
    await panel.getByLabel('Who is responsible').first().fill('Sam');
    await panel.getByLabel('By when').first().fill('End of May');
    await press(page, 'Add an item');
    await panel.getByLabel('What').nth(1).fill('Alex and Sam meet again with the keeper to see how it went.');
    await panel.getByLabel('Who is responsible').nth(1).fill('Alex, Sam and Keeper Kim');
    await panel.getByLabel('By when').nth(1).fill('June');
    await press(page, 'Save draft');
    await sees(alex.page, 'This is a draft.');
    assert.equal(await alex.page.getByRole('button', { name: 'I acknowledge this agreement' }).count(), 0, 'a draft cannot be acknowledged');

    await press(page, 'Make final');
    await confirm(page, 'Make final');
    for (const p of [alex, sam, jordan]) {
      await sees(p.page, 'Sam repairs the garden fence.');
      await p.page.getByRole('button', { name: 'I acknowledge this agreement' }).waitFor();
    }
    await announced(jordan.page, 'The agreement is ready to read.');
    await shoot(sam.page, '12-agreement-to-acknowledge');
    await accessible(sam.page, '12-agreement-to-acknowledge');
    for (const p of [alex, sam, jordan]) {
      await press(p.page, 'I acknowledge this agreement');
      await sees(p.page, 'You acknowledged this agreement.');
    }
    await page.waitForFunction(() => document.querySelectorAll('.ack.done').length === 3);
    await shoot(page, '13-keeper-agreement-acknowledged');
    await accessible(page, '13-keeper-agreement-acknowledged');
    await shoot(alex.page, '14-agreement-acknowledged');
    await accessible(alex.page, '14-agreement-acknowledged');
  });

  it('asks before withdrawing consent, and going back changes nothing', async () => {
    await press(alex.page, 'Withdraw my consent');
    await heading(alex.page, 'Withdraw your consent?');
    await shoot(alex.page, '15-withdraw-confirmation');
    await accessible(alex.page, '15-withdraw-confirmation');
    await confirm(alex.page, 'No, go back');
    await heading(alex.page, 'Nobody holds the talking piece');
  });

  it('a removed participant is told so, and the link no longer works', async () => {
    const page = keeper.page;
    await press(page, 'Remove Jordan');
    await heading(page, 'Remove Jordan?');
    await confirm(page, 'Remove');
    await heading(jordan.page, 'A keeper has removed you from this meeting');
    await sees(jordan.page, 'this link no longer works');
    assert.equal(await jordan.page.getByRole('button').count(), 0, 'nothing more to do on that page');
    await shoot(jordan.page, '16-ended-removed');
    await accessible(jordan.page, '16-ended-removed');
    // Even the original link fails now.
    await jordan.page.goto(linkOf('Jordan'));
    await heading(jordan.page, 'This link can’t be used');
    await sees(jordan.page, 'This invitation has been withdrawn');
    await shoot(jordan.page, '17-refused-revoked');
    await accessible(jordan.page, '17-refused-revoked');
  });

  it('leaving is one action, and the same link brings a person back', async () => {
    await press(sam.page, 'Leave');
    await confirm(sam.page, 'Leave now');
    await heading(sam.page, 'You have left the circle');
    await shoot(sam.page, '18-ended-left');
    await accessible(sam.page, '18-ended-left');
    await press(sam.page, 'Go back to the circle');
    await heading(sam.page, 'You are in the waiting room');
    // Back in the waiting room, Sam receives nothing while the circle's media flows on.
    await grows(keeper.page, ids.Alex, 'video', { label: 'Alex → keeper while Sam waits' });
    await receivesNothing(sam.page, 'sam in the waiting room');
    await press(keeper.page, 'Admit Sam');
    await heading(sam.page, 'Nobody holds the talking piece');

    await grows(sam.page, ids.Alex, 'video', { label: 'Alex → Sam, admitted again' });
  });

  it('closing the room ends everyone’s visit kindly', async () => {
    // Each participant's row offers ending just their visit (the link keeps working).
    await keeper.page.getByRole('button', { name: 'End visit: Alex' }).scrollIntoViewIfNeeded();
    assert.equal(await keeper.page.getByRole('button', { name: /^End visit: Keeper Kim/ }).count(), 0, 'not for a keeper');
    await shoot(keeper.page, '19a-keeper-people');
    await accessible(keeper.page, '19a-keeper-people');
    await press(keeper.page, 'Close the room');
    await confirm(keeper.page, 'Close the room');
    for (const p of [alex, sam]) await heading(p.page, 'The meeting has ended');
    // The keeper leaves with a summary: who came, the rounds, the agreement. Nobody else gets one.
    await heading(keeper.page, 'You have closed the meeting');
    await heading(keeper.page, 'Summary for your notes');
    const summary = await keeper.page.locator('.summary-list').innerText();
    assert.match(summary, /Took part\nKeeper Kim \(keeper\), Alex \(person harmed\), and Sam \(person responsible\)\n/);
    assert.match(summary, /Removed\nJordan \(community member\)\n/);
    assert.match(summary, /Rounds held\n1\n/);
    // Jordan acknowledged before being removed: the summary says what happened.
    assert.match(summary, /Agreement\nFinal \(version 1\)\. Acknowledged by Alex, Sam, and Jordan\.$/);
    assert.equal(await keeper.page.getByRole('link', { name: 'Save the summary' }).getAttribute('download'), 'summary.txt');
    await shoot(keeper.page, '19b-keeper-summary');
    await accessible(keeper.page, '19b-keeper-summary');
    for (const p of [alex, sam]) assert.equal(await p.page.locator('.keeper-summary').count(), 0, `${p.label}: no summary`);
    // Each leaves with the agreement they acknowledged, to keep.
    for (const p of [alex, sam]) {
      await heading(p.page, 'The agreement you acknowledged');
      assert.match(await p.page.locator('.agreement-text').innerText(), /Sam repairs the garden fence\./);
      const save = p.page.getByRole('link', { name: 'Save a copy' });
      assert.equal(await save.getAttribute('download'), 'agreement.txt');
      // What a person gets by tapping it: a real download, the file as saved.
      const [download] = await Promise.all([p.page.waitForEvent('download'), save.click()]);
      assert.equal(download.suggestedFilename(), 'agreement.txt');
      const file = await readFile(await download.path(), 'utf8');
      assert.match(file, /^The agreement you acknowledged\n\n1\. Sam repairs the garden fence\./);
      assert.match(file, /SHA-256: [0-9a-f]{64}\n$/);
    }
    await shoot(alex.page, '19-ended-room-closed');
    await accessible(alex.page, '19-ended-room-closed');
    noProblems(keeper, alex, sam, jordan);
  });
});

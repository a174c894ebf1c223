// web-client/protocol.js on its own, against a scripted fake socket: refs,
// errors, arrival refusals, and reconnection with backoff (no browser needed).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircleConnection, readJoinFragment, redirectUrl, sendFeedback } from '../../web-client/protocol.js';

class FakeSocket extends EventTarget {
  static all = [];
  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.dispatchEvent(new Event('open'));
    });
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code = 1000) { this.serverClose(code); }
  serverSays(msg) {
    const event = new Event('message');
    event.data = JSON.stringify(msg);
    this.dispatchEvent(event);
  }
  serverClose(code) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    const event = new Event('close');
    event.code = code;
    this.dispatchEvent(event);
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function connection() {
  FakeSocket.all = [];
  return new CircleConnection({ token: 'TOKEN', url: 'ws://test/ws', WebSocketImpl: FakeSocket, baseDelayMs: 5, maxDelayMs: 20 });
}

describe('protocol.js', () => {
  it('says hello with the token, and answers commands by ref', async () => {
    const conn = connection();
    conn.connect();
    await tick();
    const socket = FakeSocket.all[0];
    assert.deepEqual(socket.sent[0], { type: 'hello', v: 1, token: 'TOKEN' });
    assert.equal(socket.url, 'ws://test/ws', 'the token is never in the URL');
    socket.serverSays({ type: 'welcome', session: 1, you: 7 });
    assert.equal(conn.you, 7);

    const passed = conn.send('pass');
    const refused = conn.send('give_piece', { to: 3 });
    assert.deepEqual(socket.sent[1], { type: 'pass', ref: 1 });
    assert.deepEqual(socket.sent[2], { to: 3, type: 'give_piece', ref: 2 });
    socket.serverSays({ type: 'error', code: 'wrong_mode', message: 'no', ref: 2 });
    socket.serverSays({ type: 'ok', ref: 1 });
    assert.deepEqual(await passed, { type: 'ok', ref: 1 });
    await assert.rejects(refused, (e) => e.code === 'wrong_mode');
  });

  it('dispatches notices as events', async () => {
    const conn = connection();
    const seen = [];
    for (const type of ['state', 'chat', 'pause_requested', 'time_up']) conn.addEventListener(type, (e) => seen.push(e.detail.type));
    conn.connect();
    await tick();
    const socket = FakeSocket.all[0];
    socket.serverSays({ type: 'welcome', session: 1, you: 1 });
    socket.serverSays({ type: 'state', view: { stage: 'lobby', title: 'x', kind: 'circle' } });
    socket.serverSays({ type: 'pause_requested', by: 2 });
    socket.serverSays({ type: 'chat', from: 2, to: 'keepers', text: 'hi' });
    socket.serverSays({ type: 'time_up', person: 2 });
    assert.deepEqual(seen, ['state', 'pause_requested', 'chat', 'time_up']);
  });

  it('an arrival refusal is final: no reconnection', async () => {
    const conn = connection();
    let refused = null;
    conn.addEventListener('refused', (e) => { refused = e.detail.code; });
    conn.connect();
    await tick();
    FakeSocket.all[0].serverSays({ type: 'error', code: 'token_expired', message: 'expired' });
    FakeSocket.all[0].serverClose(1008);
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(refused, 'token_expired');
    assert.equal(FakeSocket.all.length, 1);
  });

  it('reconnects after an unexpected close, and fails the commands in flight', async () => {
    const conn = connection();
    const statuses = [];
    conn.addEventListener('status', (e) => statuses.push(e.detail.status));
    conn.connect();
    await tick();
    FakeSocket.all[0].serverSays({ type: 'welcome', session: 1, you: 1 });
    const waiting = conn.send('raise_hand');
    FakeSocket.all[0].serverClose(1006);
    await assert.rejects(waiting, (e) => e.code === 'connection_lost');
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(FakeSocket.all.length, 2, 'a second socket was opened');
    assert.deepEqual(FakeSocket.all[1].sent[0], { type: 'hello', v: 1, token: 'TOKEN' });
    FakeSocket.all[1].serverSays({ type: 'welcome', session: 2, you: 1 });
    assert.deepEqual(statuses, ['connecting', 'open', 'reconnecting', 'reconnecting', 'open']);
    assert.equal(conn.status, 'open');
    conn.close();
  });

  it('a retryable refusal (already connected) is tried again', async () => {
    const conn = connection();
    conn.connect();
    await tick();
    FakeSocket.all[0].serverSays({ type: 'error', code: 'already_connected', message: 'busy' });
    FakeSocket.all[0].serverClose(1008);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.ok(FakeSocket.all.length >= 2);
    conn.close();
  });

  it('does not reconnect after ended', async () => {
    const conn = connection();
    let reason = null;
    conn.addEventListener('ended', (e) => { reason = e.detail.reason; });
    conn.connect();
    await tick();
    FakeSocket.all[0].serverSays({ type: 'welcome', session: 1, you: 1 });
    FakeSocket.all[0].serverSays({ type: 'ended', reason: 'removed' });
    FakeSocket.all[0].serverClose(1000);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(reason, 'removed');
    assert.equal(FakeSocket.all.length, 1);
    assert.equal(conn.status, 'closed');
  });

  it('follows a redirect to the node that runs the room, at once, and says hello there', async () => {
    const conn = connection();
    const redirects = [];
    conn.addEventListener('redirect', (e) => redirects.push(e.detail.url));
    conn.connect();
    await tick();
    FakeSocket.all[0].serverSays({ type: 'redirect', url: 'http://node-2.test:8080/' });
    FakeSocket.all[0].serverClose(1012);
    await tick();
    assert.deepEqual(redirects, ['http://node-2.test:8080/']);
    assert.equal(FakeSocket.all.length, 2, 'reconnected without waiting');
    const there = FakeSocket.all[1];
    assert.equal(there.url, 'ws://node-2.test:8080/ws');
    assert.deepEqual(there.sent[0], { type: 'hello', v: 1, token: 'TOKEN' });
    there.serverSays({ type: 'welcome', session: 1, you: 3 });
    assert.equal(conn.status, 'open');
  });

  it('never follows a redirect off TLS, elsewhere than http(s), or round and round', async () => {
    assert.equal(redirectUrl('https://a.test/base/', 'wss://b.test/ws'), 'wss://a.test/base/ws');
    assert.equal(redirectUrl('http://a.test', 'wss://b.test/ws'), null, 'the token would leave TLS');
    assert.equal(redirectUrl('javascript:alert(1)', 'ws://b.test/ws'), null);
    assert.equal(redirectUrl('not a url', 'ws://b.test/ws'), null);

    const conn = connection();
    conn.connect();
    for (let i = 0; i < 4; i += 1) {
      await tick();
      const socket = FakeSocket.all.at(-1);
      socket.serverSays({ type: 'redirect', url: `http://node-${i}.test` });
      socket.serverClose(1012);
    }
    // Three redirects were followed at once; the fourth is not: it retries,
    // after a backoff, from where it started.
    assert.equal(conn.status, 'reconnecting');
    await new Promise((resolve) => setTimeout(resolve, 30));
    const urls = FakeSocket.all.map((s) => s.url);
    assert.deepEqual(urls, ['ws://test/ws', 'ws://node-0.test/ws', 'ws://node-1.test/ws', 'ws://node-2.test/ws', 'ws://test/ws']);
    conn.close();
  });

  it('goes back to where it started when the node it was sent to is gone', async () => {
    const conn = connection();
    conn.connect();
    await tick();
    FakeSocket.all[0].serverSays({ type: 'redirect', url: 'http://node-1.test' });
    FakeSocket.all[0].serverClose(1012);
    await tick();
    const there = FakeSocket.all[1];
    there.serverSays({ type: 'welcome', session: 1, you: 3 });
    there.serverClose(1006);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(FakeSocket.all[2].url, 'ws://test/ws', 'asks the first address again, which knows the room’s node now');
    conn.close();
  });

  it('reads the token and the language from the link’s fragment, dropping an unusable language', () => {
    assert.deepEqual(readJoinFragment('#t=abc.def.ghi&lang=ar'), { token: 'abc.def.ghi', lang: 'ar' });
    assert.deepEqual(readJoinFragment('#t=abc'), { token: 'abc', lang: null });
    assert.deepEqual(readJoinFragment('#lang=es-MX&t=x'), { token: 'x', lang: 'es-MX' });
    assert.deepEqual(readJoinFragment('#t=x&lang=<script>'), { token: 'x', lang: null });
    assert.deepEqual(readJoinFragment(''), { token: null, lang: null });
  });

  it('posts feedback with the token as bearer, and turns refusals into codes', async () => {
    const calls = [];
    const answer = (status, body) => async (url, init) => {
      calls.push({ url, init });
      return new Response(body === undefined ? null : JSON.stringify(body), { status });
    };
    await sendFeedback('TOKEN', { answers: { felt_heard: 4 } }, { fetchImpl: answer(204) });
    assert.equal(calls[0].url, '/feedback');
    assert.equal(calls[0].init.method, 'POST');
    assert.equal(calls[0].init.headers.Authorization, 'Bearer TOKEN');
    assert.deepEqual(JSON.parse(calls[0].init.body), { answers: { felt_heard: 4 } });
    await assert.rejects(sendFeedback('T', { declined: true }, { fetchImpl: answer(409, { error: { code: 'already_answered', message: 'no' } }) }),
      (e) => e.code === 'already_answered');
    await assert.rejects(sendFeedback('T', { declined: true }, { fetchImpl: async () => new Response('too big', { status: 413 }) }),
      (e) => e.code === 'too_large');
    await assert.rejects(sendFeedback('T', { declined: true }, { fetchImpl: async () => new Response('oops', { status: 502 }) }),
      (e) => e.code === 'http_502');
    await assert.rejects(sendFeedback('T', { declined: true }, { fetchImpl: async () => { throw new TypeError('offline'); } }),
      (e) => e.code === 'connection_lost');
  });
});

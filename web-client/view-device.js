// The device check: choose camera and microphone, see yourself, watch the
// microphone level, hear a test sound, choose audio only or to hide your own video.

import { h, fill } from './dom.js';
import { localMedia } from './media.js';
import { t } from './strings.js';

/**
 * @param {{inCircle?: boolean}} [options]  in the circle, others see (and may hear) what is chosen here
 * @returns {{element: HTMLElement, dispose: () => void}}
 */
export function deviceCheck({ inCircle = false } = {}) {
  const video = h('video', { class: 'preview-video', autoplay: true, playsinline: true, 'aria-label': t('device.preview') });
  video.muted = true;
  const placeholder = h('p', { class: 'preview-placeholder' });
  const preview = h('div', { class: 'preview' }, video, placeholder);
  const meterFill = h('span', { class: 'meter-fill' });
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': t('device.level'), 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, meterFill);
  const message = h('p', { class: 'notice', role: 'status', hidden: true });
  const startButton = h('button', { type: 'button', class: 'button primary', 'data-key': 'device-start' });
  const stopButton = h('button', { type: 'button', class: 'button secondary', text: t('device.stop'), 'data-key': 'device-stop' });
  const cameraSelect = h('select', { id: 'camera-select', 'data-key': 'camera' });
  const micSelect = h('select', { id: 'mic-select', 'data-key': 'mic' });
  const audioOnly = h('input', { type: 'checkbox', id: 'audio-only', 'data-key': 'audio-only' });
  const hideSelf = h('input', { type: 'checkbox', id: 'hide-self', 'data-key': 'hide-self' });

  const element = h('div', { class: 'device-check' },
    h('p', { class: 'muted-text', text: t(inCircle ? 'device.intro_circle' : 'device.intro') }),
    preview,
    h('div', { class: 'meter-row' }, h('span', { class: 'label', text: t('device.level') }), meter),
    speakerTest(),
    message,
    h('div', { class: 'actions' }, startButton, stopButton),
    h('div', { class: 'field' }, h('label', { for: 'camera-select', text: t('device.camera') }), cameraSelect),
    h('div', { class: 'field' }, h('label', { for: 'mic-select', text: t('device.microphone') }), micSelect),
    h('div', { class: 'check' }, audioOnly, h('label', { for: 'audio-only', text: t('device.audio_only') })),
    h('div', { class: 'check' }, hideSelf, h('label', { for: 'hide-self', text: t('device.hide_self') })),
  );

  startButton.addEventListener('click', () => localMedia.start());
  stopButton.addEventListener('click', () => localMedia.turnOff());
  cameraSelect.addEventListener('change', () => localMedia.update({ cameraId: cameraSelect.value }));
  micSelect.addEventListener('change', () => localMedia.update({ microphoneId: micSelect.value }));
  audioOnly.addEventListener('change', () => localMedia.update({ audioOnly: audioOnly.checked }));
  hideSelf.addEventListener('change', () => localMedia.update({ hideSelf: hideSelf.checked }));

  let audioContext = null;
  let meterFrame = 0;
  let meterStream = null;

  function stopMeter() {
    cancelAnimationFrame(meterFrame);
    meterFrame = 0;
    if (audioContext) audioContext.close().catch(() => {});
    audioContext = null;
    meterStream = null;
    meterFill.style.width = '0%';
    meter.setAttribute('aria-valuenow', '0');
  }

  function startMeter(stream) {
    if (meterStream === stream) return;
    stopMeter();
    if (!stream.getAudioTracks().length || !window.AudioContext) return;
    meterStream = stream;
    audioContext = new AudioContext();
    const source = audioContext.createMediaStreamSource(stream);
    const analyser = audioContext.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    let lastShown = -1;
    const step = () => {
      analyser.getByteTimeDomainData(samples);
      let peak = 0;
      for (const v of samples) peak = Math.max(peak, Math.abs(v - 128));
      const level = Math.min(100, Math.round((peak / 128) * 160));
      if (Math.abs(level - lastShown) >= 4) {
        lastShown = level;
        meterFill.style.width = `${level}%`;
        meter.setAttribute('aria-valuenow', String(level));
      }
      meterFrame = requestAnimationFrame(step);
    };
    step();
  }

  async function refreshDevices() {
    const { cameras, microphones } = await localMedia.devices();
    const options = (list, kind, chosen) => [
      h('option', { value: '', text: t('device.default') }),
      ...list.filter((d) => d.deviceId && d.deviceId !== 'default').map((d, i) => h('option', {
        value: d.deviceId,
        selected: d.deviceId === chosen,
        text: d.label || t('device.unnamed', { kind, n: i + 1 }),
      })),
    ];
    fill(cameraSelect, options(cameras, t('device.camera'), localMedia.settings.cameraId));
    fill(micSelect, options(microphones, t('device.microphone'), localMedia.settings.microphoneId));
  }

  function render() {
    const { stream, error, settings } = localMedia;
    audioOnly.checked = settings.audioOnly;
    hideSelf.checked = settings.hideSelf;
    cameraSelect.disabled = settings.audioOnly;
    startButton.textContent = settings.audioOnly ? t('device.start_audio') : t('device.start');
    startButton.hidden = Boolean(stream);
    stopButton.hidden = !stream;
    const showVideo = Boolean(stream && stream.getVideoTracks().length && !settings.hideSelf);
    if (showVideo) {
      if (video.srcObject !== stream) video.srcObject = stream;
    } else {
      video.srcObject = null;
    }
    video.hidden = !showVideo;
    placeholder.hidden = showVideo;
    placeholder.textContent = stream ? (settings.hideSelf && !settings.audioOnly ? t('device.self_hidden') : t('device.audio_only')) : t('device.off');
    if (stream) startMeter(stream);
    else stopMeter();
    const errorKey = {
      NotAllowedError: 'device.denied',
      SecurityError: 'device.denied',
      NotFoundError: 'device.not_found',
      OverconstrainedError: 'device.not_found',
      NotReadableError: 'device.in_use',
      unsupported: 'device.unsupported',
    }[error] || (error ? 'device.failed' : null);
    message.hidden = !errorKey;
    message.textContent = errorKey ? t(errorKey) : '';
  }

  const onChange = () => {
    render();
    refreshDevices().catch(() => {});
  };
  localMedia.addEventListener('change', onChange);
  render();
  refreshDevices().catch(() => {});

  return {
    element,
    dispose() {
      localMedia.removeEventListener('change', onChange);
      stopMeter();
      video.srcObject = null;
    },
  };
}

/**
 * The speaker test: a soft two-note chime, made in the page (nothing to
 * download), so a person knows before the circle that they will hear it.
 * `data-played` counts the chimes played (the browser tests read it).
 */
function speakerTest() {
  const note = h('p', { class: 'muted-text small', role: 'status' });
  const button = h('button', { type: 'button', class: 'button secondary', 'data-key': 'speaker-test', text: t('device.test_sound') });
  const element = h('div', { class: 'speaker-test', 'data-played': '0' },
    h('span', { class: 'label', text: t('device.speakers') }), button, note);
  button.addEventListener('click', async () => {
    try {
      const context = new AudioContext();
      await context.resume();
      const start = context.currentTime + 0.05;
      for (const [i, frequency] of [523.25, 659.25].entries()) {
        const tone = context.createOscillator();
        const gain = context.createGain();
        tone.type = 'sine';
        tone.frequency.value = frequency;
        const at = start + i * 0.35;
        // Soft in and out: no click, never loud.
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.2, at + 0.04);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.9);
        tone.connect(gain).connect(context.destination);
        tone.start(at);
        tone.stop(at + 0.95);
      }
      setTimeout(() => context.close().catch(() => {}), 1600);
      element.dataset.played = String(Number(element.dataset.played) + 1);
      note.textContent = t('device.test_sound_note');
    } catch {
      note.textContent = t('device.test_sound_failed');
    }
  });
  return element;
}

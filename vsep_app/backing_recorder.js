// The Load page's recorder that plays the backing while it records (vsep_app/backing_recorder.py).
//
// One AudioContext is the clock for both: the microphone is captured by an AudioWorklet from before the
// backing starts, and the backing (an AudioBufferSourceNode) is scheduled at a known frame of that clock.
// The take is sent back with how many of its frames come before the backing's first sample and the
// latency the browser reports (output + input); the server cuts both off, so sample 0 of the take is what
// was sung over sample 0 of the backing. Plain JavaScript, no network: everything is in this file.

const CAPTURE_WORKLET = `
class VsepCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.on = false; this.chunk = null; this.filled = 0; this.first = -1;
    this.port.onmessage = (e) => {
      if (e.data === "start") { this.on = true; this.first = -1; this.newChunk(); }
      else if (e.data === "stop") { this.flush(); this.on = false; this.port.postMessage({done: true}); }
    };
  }
  newChunk() { this.chunk = new Float32Array(16384); this.filled = 0; }
  flush() {
    if (this.chunk && this.filled) {
      const part = this.chunk.slice(0, this.filled);
      this.port.postMessage({samples: part}, [part.buffer]);
    }
    this.newChunk();
  }
  process(inputs) {
    if (!this.on) return true;
    if (this.first < 0) { this.first = currentFrame; this.port.postMessage({first: currentFrame}); }
    const channels = inputs[0] || [];
    const n = channels.length ? channels[0].length : 128;  // no input yet: silence, so frames stay on the clock
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let c = 0; c < channels.length; c++) v += channels[c][i];
      this.chunk[this.filled++] = channels.length ? v / channels.length : 0;
      if (this.filled === this.chunk.length) this.flush();
    }
    return true;
  }
}
registerProcessor("vsep-capture", VsepCapture);
`;

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function base64ToBytes(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function wav16(chunks, frames, sampleRate) {
  const out = new DataView(new ArrayBuffer(44 + 2 * frames));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) out.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); out.setUint32(4, 36 + 2 * frames, true); text(8, "WAVE");
  text(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, sampleRate, true); out.setUint32(28, 2 * sampleRate, true);
  out.setUint16(32, 2, true); out.setUint16(34, 16, true);
  text(36, "data"); out.setUint32(40, 2 * frames, true);
  let at = 44;
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length && at < 44 + 2 * frames; i++, at += 2) {
      const v = Math.max(-1, Math.min(1, chunk[i]));
      out.setInt16(at, v < 0 ? v * 0x8000 : v * 0x7fff, true);
    }
  }
  return out.buffer;
}

function blobToBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function rms(analyser, buffer) {
  analyser.getFloatTimeDomainData(buffer);
  let sum = 0;
  for (let i = 0; i < buffer.length; i++) sum += buffer[i] * buffer[i];
  return Math.sqrt(sum / buffer.length);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".vsep-rec");
  const $ = (name) => root.querySelector(`[data-part="${name}"]`);
  const startButton = $("start"), stopButton = $("stop"), status = $("status");
  const backingBar = $("backing"), backingTime = $("backing-time"), backingLevel = $("backing-level");
  const micLevel = $("mic-level");
  const sayStatus = (text, kind) => { status.textContent = text; status.dataset.kind = kind || ""; };
  backingBar.max = data.backing_s;
  backingTime.textContent = `0:00 / ${clock(data.backing_s)}`;

  let ctx = null, backing = null, workletReady = false, take = null, frameId = 0, closed = false;

  async function setUp(deviceRate) {
    if (!ctx) {
      ctx = new AudioContext(deviceRate ? { latencyHint: "interactive" }
                                        : { sampleRate: data.sample_rate, latencyHint: "interactive" });
    }
    await ctx.resume();
    if (!backing) {
      backing = await ctx.decodeAudioData(base64ToBytes(data.backing).buffer);
    }
    if (!workletReady) {
      const url = URL.createObjectURL(new Blob([CAPTURE_WORKLET], { type: "text/javascript" }));
      try { await ctx.audioWorklet.addModule(url); } finally { URL.revokeObjectURL(url); }
      workletReady = true;
    }
  }

  // What one hears is late by the output latency; what one sings reaches the capture late by the input's.
  function latencyOf(track) {
    const settings = track && track.getSettings ? track.getSettings() : {};
    return (ctx.baseLatency || 0) + (ctx.outputLatency || 0) + (Number(settings.latency) || 0);
  }

  async function start() {
    startButton.disabled = true;
    sayStatus("Starting…");
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new Error(data.insecure_message);
      }
      await setUp();
      // Music, not a call: no echo cancelling, noise suppression or level riding on the voice.
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      });
      let mic;
      try {
        mic = ctx.createMediaStreamSource(stream);
      } catch (err) {  // Firefox: a microphone can only feed a context at its own rate
        await ctx.close();
        ctx = null; backing = null; workletReady = false;
        await setUp(true);
        mic = ctx.createMediaStreamSource(stream);
      }
      const capture = new AudioWorkletNode(ctx, "vsep-capture", { numberOfOutputs: 1, outputChannelCount: [1] });
      const micAnalyser = ctx.createAnalyser(), backingAnalyser = ctx.createAnalyser();
      mic.connect(capture);
      mic.connect(micAnalyser);
      capture.connect(ctx.destination);  // silent: it only pulls the microphone through the graph
      const chunks = [];
      let frames = 0, first = -1;
      const stopped = new Promise((resolve) => {
        capture.port.onmessage = (e) => {
          if (e.data.first !== undefined) first = e.data.first;
          if (e.data.samples) { chunks.push(e.data.samples); frames += e.data.samples.length; }
          if (e.data.done) resolve();
        };
      });
      const started = new Promise((resolve) => {
        const wait = () => (first >= 0 ? resolve() : setTimeout(wait, 5));
        wait();
      });
      capture.port.postMessage("start");
      await started;
      // The backing starts a little after the capture, at a frame of the same clock.
      const source = ctx.createBufferSource();
      source.buffer = backing;
      source.connect(ctx.destination);
      source.connect(backingAnalyser);
      const t0 = ctx.currentTime + 0.1;
      source.start(t0);
      const track = stream.getAudioTracks()[0];
      take = { capture, source, stream, track, mic, chunks, t0, firstFrame: () => first, frames: () => frames,
               stopped, analysers: [micAnalyser, backingAnalyser] };
      // When the backing ends, what was sung over its last moment is still on its way (the latency): record
      // that much longer, then stop.
      source.onended = () => {
        sayStatus("The backing has ended…", "recording");
        setTimeout(() => stop("The backing has ended: the take is sent."), 1000 * (latencyOf(track) + 0.1));
      };
      stopButton.disabled = false;
      sayStatus("Recording: sing with the backing. Press Stop when you are done.", "recording");
      root.dataset.state = "recording";
      const level = new Float32Array(1024);
      const tick = () => {
        if (!take) return;
        const played = Math.min(data.backing_s, Math.max(0, ctx.currentTime - t0));
        backingBar.value = played;
        backingTime.textContent = `${clock(played)} / ${clock(data.backing_s)}`;
        backingLevel.value = Math.min(1, 4 * rms(backingAnalyser, level));
        micLevel.value = Math.min(1, 4 * rms(micAnalyser, level));
        // The cap is in bytes (the server's message cap): at a device rate above the asked one, fewer seconds.
        if (ctx.currentTime - t0 >= data.max_s * Math.min(1, data.sample_rate / ctx.sampleRate)) { stop(`Takes stop at ${clock(data.max_s)}: the take is sent.`); return; }
        frameId = requestAnimationFrame(tick);
      };
      frameId = requestAnimationFrame(tick);
    } catch (err) {
      startButton.disabled = false;
      const name = err && err.name;
      const why = name === "NotAllowedError"
        ? "the browser may not use the microphone here: allow it for this page (the icon in the address bar), then press Record again."
        : name === "NotFoundError" ? "no microphone was found: connect one, then press Record again."
        : (err && err.message ? err.message : String(err));
      sayStatus(`Recording could not start: ${why}`, "error");
    }
  }

  async function stop(reason) {
    if (!take) return;
    const t = take;
    take = null;
    cancelAnimationFrame(frameId);
    stopButton.disabled = true;
    sayStatus("Sending the take…");
    const played = Math.min(data.backing_s, Math.max(0, ctx.currentTime - t.t0));
    t.capture.port.postMessage("stop");
    // The worklet answers within a render quantum; a context the system has stopped would never answer.
    await Promise.race([t.stopped, new Promise((resolve) => setTimeout(resolve, 2000))]);
    try { t.source.onended = null; t.source.stop(); } catch (e) { /* it had ended */ }
    t.source.disconnect(); t.mic.disconnect(); t.capture.disconnect();
    const latency = latencyOf(t.track);
    backingLevel.value = 0;
    micLevel.value = 0;
    t.stream.getTracks().forEach((k) => k.stop());
    root.dataset.state = "sent";
    if (closed) return;
    const wav = wav16(t.chunks, t.frames(), ctx.sampleRate);
    const payload = {
      wav: await blobToBase64(new Blob([wav], { type: "audio/wav" })),
      sample_rate: ctx.sampleRate,
      lead_frames: Math.round(t.t0 * ctx.sampleRate) - t.firstFrame(),
      latency_s: latency,
      backing_played_s: played,
    };
    setTriggerValue("take", payload);
    sayStatus(reason || "Take sent.", "done");
    startButton.disabled = false;
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", () => stop("Take sent."));
  return () => {
    closed = true;
    if (take) {
      const t = take;
      take = null;
      cancelAnimationFrame(frameId);
      try { t.source.stop(); } catch (e) { /* it had ended */ }
      t.stream.getTracks().forEach((k) => k.stop());
    }
    if (ctx) ctx.close();
  };
}

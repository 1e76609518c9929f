"""Blind mode: predict the target's fingerprint from the mixture alone, then EQ the mixture toward it.

Every other fingerprint method reads the true target. Here a small network,
trained on songs whose stems are known, predicts each window's raw-view
fingerprint (the 400-point dB profile, :func:`vsep_core.fingerprint.target_profiles_db`)
from the mixture; the joint round trip (:func:`vsep_core.joint.run_joint`)
then learns the EQ that moves the mixture toward that predicted fingerprint,
exactly as it does toward a true one. No step reads the target.

The model (numpy only; a few hundred thousand weights):

* **Features** of window *t*: the mixture's own fingerprint relative to the
  window's loudest point (400 values in [−1, 0] after dividing by the 80 dB
  range), the same of the ``context`` windows either side averaged into
  ``context_points`` bands each, and every one of those windows' loudness
  relative to the song's loudest window.
* **Output**: each of the 400 points' mask, the target's amplitude over the
  mixture's (a sigmoid, in (0, 1); a level-free quantity, so the prediction
  works at any level). The predicted fingerprint is the mixture's plus the
  mask in dB (at least ``gain_floor``), floored 80 dB under its window's
  maximum as every fingerprint is.
* **Network**: one hidden layer of ``hidden`` ReLU units, trained with Adam
  on the squared mask error weighted by the mixture's amplitude at each
  point (so loud windows and bands count as they do in the signal), on
  standardised features.

A model file is an ``.npz`` (read with ``allow_pickle=False``) holding the
arrays and a JSON header: format version, the analysis settings it was
trained with (sample rate, FFT size, hop, points, dB range), the target
stem, the feature and network settings, the training list's hash and the
validation curve. :func:`load_model` refuses a file made for other settings
or another target and says which setting differs. Files are written
byte-for-byte deterministically (fixed zip timestamps), so the same training
gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from .errors import VsepError
from .fingerprint import amplitude_to_db, profiles
from .progress import Progress, report
from .settings import Settings

#: The model file format's name and version (a loader refuses other versions).
FORMAT = "vsep-learned-fingerprint"
FORMAT_VERSION = 1
#: The analysis settings a model depends on (a model made with other values is refused).
MODEL_SETTING_NAMES = ("sr", "n_fft", "hop_length", "n_points", "top_db")
#: The bundled model: trained on generated songs (README: the command that rebuilds it).
BUNDLED_MODEL = Path(__file__).resolve().parent / "models" / "learned_fingerprint_vocals.npz"
#: The method's name in evaluate, batch and the dashboard.
METHOD_NAME = "learned_fingerprint"
#: Adam steps of the round trip toward the predicted fingerprint: the joint method's 300 gave the same
#: vocal SI-SDR within 0.02 dB on five held-out segments (RESULTS.md) in 3-6 times the time.
ROUND_TRIP_STEPS = 100


@dataclass(frozen=True)
class ModelConfig:
    """Feature and network settings of a learned-fingerprint model.

    Attributes
    ----------
    context : int
        Windows either side whose profiles are features (4).
    context_points : int
        Bands each context window's profile is averaged into (50; must divide n_points).
    hidden : int
        Hidden ReLU units (256).
    gain_floor : float
        The lowest gain in dB a mask stands for (−60).
    epochs, batch_size, learning_rate, weight_decay : int, int, float, float
        Adam's training schedule (30 epochs of 256-window batches at 1e-3; L2 1e-5).
    validation_share : float
        Share of the songs held out for the validation curve (0.1; at least one song).
    seed : int
        Seeds the weights, the validation split and the batch order.
    """

    context: int = 4
    context_points: int = 50
    hidden: int = 256
    gain_floor: float = -60.0
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    validation_share: float = 0.1
    seed: int = 0

    def __post_init__(self):
        checks = [
            ("context", 0 <= self.context <= 32),
            ("context_points", 1 <= self.context_points <= 400),
            ("hidden", 1 <= self.hidden <= 4096),
            ("epochs", 1 <= self.epochs <= 10_000),
            ("batch_size", 1 <= self.batch_size <= 1_000_000),
            ("learning_rate", 0 < self.learning_rate < 1),
            ("weight_decay", 0 <= self.weight_decay < 1),
            ("validation_share", 0 <= self.validation_share < 1),
            ("gain_floor", -200 <= self.gain_floor < 0),
        ]
        for name, ok in checks:
            if not ok:
                raise VsepError(f"The learned model's {name} is out of range ({self}).")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def model_settings(settings: Settings) -> dict:
    """The analysis settings a model records and checks (:data:`MODEL_SETTING_NAMES`)."""
    return {name: getattr(settings, name) for name in MODEL_SETTING_NAMES}


# --- features ----------------------------------------------------------------------------


def mixture_fingerprint(mixture: np.ndarray, settings: Settings):
    """The mixture's STFT pieces and its raw-view fingerprint.

    Returns
    -------
    magnitude : np.ndarray [shape=(bins, windows), dtype=float32]
    phase : np.ndarray [shape=(bins, windows), dtype=complex64]
    fingerprint : np.ndarray [shape=(n_points, windows), dtype=float64]
        :func:`vsep_core.fingerprint.target_profiles_db` of the mixture.
    hop : int
    """
    from .views import magphase, stft

    hop = settings.hop_for(len(mixture))
    magnitude, phase = magphase(stft(np.asarray(mixture, dtype=np.float32), settings, hop_length=hop))
    magnitude = np.ascontiguousarray(magnitude)
    fingerprint = amplitude_to_db(profiles(magnitude, settings.n_points), top_db=settings.top_db, axis=0)
    return magnitude, phase, fingerprint, hop


def target_fingerprint(target: np.ndarray, settings: Settings, hop: int) -> np.ndarray:
    """The target's raw-view fingerprint (what the model learns to predict)."""
    from .views import stft

    magnitude = np.ascontiguousarray(np.abs(stft(np.asarray(target, dtype=np.float32), settings, hop_length=hop)))
    return amplitude_to_db(profiles(magnitude, settings.n_points), top_db=settings.top_db, axis=0)


def features(fingerprint: np.ndarray, config: ModelConfig, top_db: float) -> np.ndarray:
    """Each window's feature vector from the mixture's fingerprint (see the module docstring).

    Parameters
    ----------
    fingerprint : np.ndarray [shape=(n_points, windows)]
    config : ModelConfig
    top_db : float

    Returns
    -------
    np.ndarray [shape=(windows, n_features), dtype=float32]
    """
    n_points, n_windows = fingerprint.shape
    if n_points % config.context_points:
        raise VsepError(f"context_points ({config.context_points}) must divide the profile's {n_points} points.")
    peak = fingerprint.max(axis=0)
    shape = ((fingerprint - peak) / top_db).T  # (windows, points) in [-1, 0]
    loudness = np.clip((peak - peak.max()) / top_db, -1.0, 0.0)  # (windows,)
    k = config.context
    # Outside the song: silence (the quietest shape, the quietest loudness).
    padded_shape = np.pad(shape, ((k, k), (0, 0)), constant_values=-1.0)
    padded_loud = np.pad(loudness, (k, k), constant_values=-1.0)
    bands = padded_shape.reshape(n_windows + 2 * k, config.context_points, -1).mean(axis=2)
    parts = [shape]
    parts += [bands[k + d : k + d + n_windows] for d in range(-k, k + 1) if d != 0]
    parts.append(np.stack([padded_loud[k + d : k + d + n_windows] for d in range(-k, k + 1)], axis=1))
    return np.concatenate(parts, axis=1).astype(np.float32)


def n_features(n_points: int, config: ModelConfig) -> int:
    return n_points + 2 * config.context * config.context_points + 2 * config.context + 1


def training_targets(mixture_fp: np.ndarray, target_fp: np.ndarray, config: ModelConfig, top_db: float):
    """Masks to learn and their weights, per window: ``(mask, weight)``, each ``(windows, n_points)`` float32.

    The mask is the target's amplitude over the mixture's at each point,
    ``10^((target − mixture)/20)`` clipped to [0, 1]. The weight is the
    mixture's amplitude at that point relative to the song's loudest point,
    so that the error counts as it would in the signal (loud windows and
    loud bands decide what is heard and what SI-SDR measures), and is zero
    where the mixture is more than ``top_db`` under its loudest window.
    """
    mixture_fp = np.asarray(mixture_fp, dtype=np.float64)
    gain = np.clip(np.asarray(target_fp, dtype=np.float64) - mixture_fp, config.gain_floor, 0.0)
    mask = np.power(10.0, gain / 20.0)
    weight = np.power(10.0, (mixture_fp - mixture_fp.max()) / 20.0)
    peak = mixture_fp.max(axis=0)
    weight[:, peak < peak.max() - top_db] = 0.0
    return mask.T.astype(np.float32), weight.T.astype(np.float32)


def song_features(mixture: np.ndarray, target: np.ndarray, settings: Settings, config: ModelConfig) -> dict:
    """One song's features and both fingerprints: ``{"x", "mixture_fp", "target_fp"}`` (float32, a row per window).

    The masks and weights to learn follow from the fingerprints (:func:`training_targets`).
    """
    _, _, mixture_fp, hop = mixture_fingerprint(mixture, settings)
    target_fp = target_fingerprint(target, settings, hop)
    return {
        "x": features(mixture_fp, config, settings.top_db),
        "mixture_fp": mixture_fp.T.astype(np.float32),
        "target_fp": target_fp.T.astype(np.float32),
    }


def _song_features_task(song, target: str, settings: Settings, config: ModelConfig) -> dict:
    """One song's features (runs on a Dask worker, or here): decode or synthesise, then :func:`song_features`."""
    from .learned_songs import song_audio

    mixture, stem = song_audio(song, target, settings)
    return song_features(mixture, stem, settings, config)


# --- the model ------------------------------------------------------------------------------


@dataclass
class LearnedModel:
    """A trained model: its header (settings, target, training record) and its weights.

    Attributes
    ----------
    header : dict
        ``format``, ``version``, ``settings`` (:func:`model_settings`), ``target``,
        ``config`` (:class:`ModelConfig` as a dict), ``training`` (songs, the list's
        hash, the validation curve …).
    arrays : dict of str → np.ndarray
        ``x_mean``, ``x_std`` (feature standardisation), ``w1``, ``b1``, ``w2``, ``b2``.
    """

    header: dict
    arrays: dict

    @property
    def config(self) -> ModelConfig:
        return ModelConfig(**self.header["config"])

    @property
    def target(self) -> str:
        return self.header["target"]

    def check_settings(self, settings: Settings, n_samples: int | None = None) -> None:
        """Refuse settings this model was not trained for, naming every difference."""
        wanted = dict(self.header["settings"])
        given = model_settings(settings)
        if n_samples is not None:
            given["hop_length"] = settings.hop_for(n_samples)
        diffs = [
            f"{name} {given[name]!r} (the model: {wanted[name]!r})"
            for name in MODEL_SETTING_NAMES
            if given[name] != wanted.get(name)
        ]
        if diffs:
            raise VsepError(
                "The learned model was trained with other analysis settings and cannot be used "
                "with these: " + "; ".join(diffs) + ". Use its settings or train a model for yours."
            )

    def predict_mask(self, x: np.ndarray) -> np.ndarray:
        """Each window's predicted mask (target amplitude / mixture amplitude), ``(windows, n_points)``."""
        # In float64: BLAS splits a product differently with other thread counts (a Dask worker has one
        # thread), and float32 rounding of those sums would make batch's figures differ from evaluate's.
        params = {k: a.astype(np.float64) for k, a in self.arrays.items()}
        xn = (np.asarray(x, dtype=np.float64) - params["x_mean"]) / params["x_std"]
        return _forward(params, xn)[2]

    def predict_gain(self, x: np.ndarray) -> np.ndarray:
        """Each window's predicted gain in dB, ``(windows, n_points)``, at least the config's ``gain_floor``."""
        floor = 10.0 ** (self.config.gain_floor / 20.0)
        return 20.0 * np.log10(np.maximum(self.predict_mask(x), floor))

    def predict_fingerprint(self, mixture_fp: np.ndarray, top_db: float) -> np.ndarray:
        """The target's predicted fingerprint from the mixture's, ``(n_points, windows)`` float64."""
        gain = self.predict_gain(features(mixture_fp, self.config, top_db)).T.astype(np.float64)
        predicted = mixture_fp + gain
        return np.maximum(predicted, predicted.max(axis=0, keepdims=True) - top_db)

    def to_bytes(self) -> bytes:
        """The model file's bytes: an ``.npz`` (zip of ``.npy``) with fixed timestamps, so identical models
        give identical files."""
        buffer = io.BytesIO()
        entries = {
            "header": np.frombuffer(json.dumps(self.header, sort_keys=True).encode(), dtype=np.uint8),
            **self.arrays,
        }
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(entries):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                data = io.BytesIO()
                np.lib.format.write_array(data, np.ascontiguousarray(entries[name]), allow_pickle=False)
                zf.writestr(info, data.getvalue())
        return buffer.getvalue()

    def save(self, path) -> Path:
        """Write the model file (atomically: a temporary file moved into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(self.to_bytes())
        os.replace(tmp, path)
        return path


_ARRAY_NAMES = ("x_mean", "x_std", "w1", "b1", "w2", "b2")


def load_model(path=None, *, settings: Settings | None = None, target: str | None = None) -> LearnedModel:
    """Read a model file and check it.

    Parameters
    ----------
    path : path, optional
        Default: the bundled model (:data:`BUNDLED_MODEL`).
    settings : Settings, optional
        When given, refuse a model trained with other analysis settings.
    target : str, optional
        When given, refuse a model trained for another stem.

    Raises
    ------
    VsepError
        For a missing or unreadable file, another format or version, missing
        or misshapen arrays, other settings or another target.
    """
    path = Path(path) if path is not None else BUNDLED_MODEL
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise VsepError(f"No learned model at {str(path)!r}.") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise VsepError(f"{str(path)!r} is not a learned-fingerprint model file ({exc}).") from None
    try:
        header = json.loads(bytes(data.pop("header")).decode())
    except (KeyError, ValueError, UnicodeDecodeError):
        raise VsepError(f"{str(path)!r} has no readable model header; it is not a vsep model file.") from None
    if header.get("format") != FORMAT:
        raise VsepError(f"{str(path)!r} is not a learned-fingerprint model (format {header.get('format')!r}).")
    if header.get("version") != FORMAT_VERSION:
        raise VsepError(
            f"{str(path)!r} is a version {header.get('version')!r} model; this vsep reads version "
            f"{FORMAT_VERSION}. Train it again with this version."
        )
    missing = [name for name in _ARRAY_NAMES if name not in data]
    if missing:
        raise VsepError(f"{str(path)!r} lacks the arrays {', '.join(missing)}.")
    model = LearnedModel(header=header, arrays={name: data[name] for name in _ARRAY_NAMES})
    config = model.config
    n_in = n_features(header["settings"]["n_points"], config)
    expected = {
        "x_mean": (n_in,),
        "x_std": (n_in,),
        "w1": (n_in, config.hidden),
        "b1": (config.hidden,),
        "w2": (config.hidden, header["settings"]["n_points"]),
        "b2": (header["settings"]["n_points"],),
    }
    for name, shape in expected.items():
        if model.arrays[name].shape != shape or not np.all(np.isfinite(model.arrays[name])):
            raise VsepError(
                f"{str(path)!r}: the array {name} has shape {model.arrays[name].shape}, expected "
                f"{shape} of finite values; the file is damaged."
            )
    if settings is not None:
        model.check_settings(settings)
    if target is not None:
        from .stems import target_name

        if target_name(target) != model.target:
            raise VsepError(f"The learned model at {str(path)!r} predicts {model.target}, not {target_name(target)}.")
    return model


_MODEL_CACHE: dict = {}
_MODEL_LOCK = threading.Lock()


def cached_model(path=None) -> LearnedModel:
    """:func:`load_model` once per file (and per change of the file), shared by every call in this process."""
    path = Path(path) if path is not None else BUNDLED_MODEL
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    key = (str(path.resolve()), stamp)
    with _MODEL_LOCK:
        if key not in _MODEL_CACHE:
            _MODEL_CACHE.clear()
            _MODEL_CACHE[key] = load_model(path)
        return _MODEL_CACHE[key]


# --- fitting ---------------------------------------------------------------------------------


def _init_params(n_in: int, config: ModelConfig, mask_mean: np.ndarray) -> dict:
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    mean = np.clip(mask_mean, 1e-3, 1 - 1e-3)
    return {
        "w1": (rng.standard_normal((n_in, config.hidden)) * np.sqrt(2.0 / n_in)).astype(np.float32),
        "b1": np.zeros(config.hidden, np.float32),
        "w2": (rng.standard_normal((config.hidden, mask_mean.size)) * np.sqrt(1.0 / config.hidden)).astype(np.float32)
        * np.float32(0.1),
        "b2": np.log(mean / (1 - mean)).astype(np.float32),
    }


def _forward(params, xn):
    """(pre-activation, hidden, mask) of standardised features ``xn``."""
    pre = xn @ params["w1"] + params["b1"]
    hidden = np.maximum(pre, 0.0)
    logits = np.clip(hidden @ params["w2"] + params["b2"], -30.0, 30.0)
    return pre, hidden, (1.0 / (1.0 + np.exp(-logits))).astype(logits.dtype)


def _batched_loss(params, x, y, w, size: int = 4096) -> float:
    """The weighted mean squared mask error over every window."""
    total, weight = 0.0, 0.0
    for i in range(0, len(x), size):
        s = slice(i, i + size)
        err = _forward(params, x[s])[2] - y[s]
        total += float(np.sum(w[s] * err * err, dtype=np.float64))
        weight += float(np.sum(w[s], dtype=np.float64))
    return total / max(weight, 1e-12)


def fit(
    train: dict,
    validation: dict | None,
    config: ModelConfig,
    *,
    progress: Progress = None,
    checkpoint=None,
    on_epoch=None,
) -> tuple[dict, dict, list]:
    """Train the network with Adam.

    Parameters
    ----------
    train, validation : dict
        ``{"x", "y", "w"}`` (features, masks, weights; rows = windows); validation may be None.
    config : ModelConfig
    progress : callable(fraction, label), optional
    checkpoint : path, optional
        Saved after every epoch (weights, Adam's moments, the curve) and
        resumed from when it exists and matches this training (same data and config).
    on_epoch : callable(epoch, train_loss, validation_loss), optional

    Returns
    -------
    params : dict of the weights
    standardise : dict ``{"x_mean", "x_std"}``
    curve : list of ``{"epoch", "train", "validation"}`` (weighted mean squared mask error)
    """
    x, y, w = train["x"], train["y"], train["w"]
    if len(x) == 0:
        raise VsepError("There is no window to train on.")
    x_mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    x_std = np.maximum(x.std(axis=0, dtype=np.float64), 1e-3).astype(np.float32)
    xn = (x - x_mean) / x_std
    xv = None if not validation or len(validation["x"]) == 0 else (validation["x"] - x_mean) / x_std
    y_mean = np.sum(w * y, axis=0, dtype=np.float64) / np.maximum(np.sum(w, axis=0, dtype=np.float64), 1e-12)
    fingerprint = hashlib.sha256()
    for a in (x, y, w):
        fingerprint.update(np.ascontiguousarray(a).tobytes())
    fingerprint.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    run_key = fingerprint.hexdigest()

    params = _init_params(x.shape[1], config, y_mean)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    curve, start_epoch, step = [], 0, 0
    if checkpoint is not None and Path(checkpoint).is_file():
        try:
            with np.load(checkpoint, allow_pickle=False) as saved:
                if str(saved["run_key"]) == run_key:
                    params = {k: saved[f"p_{k}"] for k in params}
                    m = {k: saved[f"m_{k}"] for k in params}
                    v = {k: saved[f"v_{k}"] for k in params}
                    curve = json.loads(str(saved["curve"]))
                    start_epoch, step = int(saved["epoch"]), int(saved["step"])
                    report(progress, start_epoch / config.epochs, f"Resumed after epoch {start_epoch}")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a damaged checkpoint: start again

    beta1, beta2, eps = 0.9, 0.999, 1e-8
    n = len(xn)
    batches = max(1, (n + config.batch_size - 1) // config.batch_size)
    for epoch in range(start_epoch, config.epochs):
        order = np.random.default_rng(np.random.SeedSequence([config.seed, 2, epoch])).permutation(n)
        for b in range(batches):
            idx = np.sort(order[b * config.batch_size : (b + 1) * config.batch_size])
            xb, yb, wb = xn[idx], y[idx], w[idx]
            pre, hidden, mask = _forward(params, xb)
            d_out = (2.0 / max(float(wb.sum()), 1e-12)) * wb * (mask - yb) * mask * (1.0 - mask)
            grads = {"w2": hidden.T @ d_out, "b2": d_out.sum(axis=0)}
            d_hidden = (d_out @ params["w2"].T) * (pre > 0)
            grads["w1"] = xb.T @ d_hidden
            grads["b1"] = d_hidden.sum(axis=0)
            step += 1
            for k in params:
                g = grads[k] + config.weight_decay * params[k] if k.startswith("w") else grads[k]
                m[k] = beta1 * m[k] + (1 - beta1) * g
                v[k] = beta2 * v[k] + (1 - beta2) * g * g
                m_hat = m[k] / (1 - beta1**step)
                v_hat = v[k] / (1 - beta2**step)
                params[k] = (params[k] - config.learning_rate * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
            if b % 20 == 0:
                report(progress, (epoch + (b + 1) / batches) / config.epochs, f"Epoch {epoch + 1}/{config.epochs}")
        train_loss = _batched_loss(params, xn, y, w)
        val_loss = _batched_loss(params, xv, validation["y"], validation["w"]) if xv is not None else float("nan")
        curve.append({"epoch": epoch + 1, "train": train_loss, "validation": val_loss})
        if checkpoint is not None:
            _save_checkpoint(checkpoint, run_key, params, m, v, curve, epoch + 1, step)
        report(
            progress,
            (epoch + 1) / config.epochs,
            f"Epoch {epoch + 1}/{config.epochs}: train {train_loss:.5f}, validation {val_loss:.5f}",
        )
        if on_epoch is not None:
            on_epoch(epoch + 1, train_loss, val_loss)
    return params, {"x_mean": x_mean, "x_std": x_std}, curve


def _save_checkpoint(path, run_key, params, m, v, curve, epoch, step) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        run_key=np.array(run_key),
        curve=np.array(json.dumps(curve)),
        epoch=np.array(epoch),
        step=np.array(step),
        **{f"p_{k}": a for k, a in params.items()},
        **{f"m_{k}": a for k, a in m.items()},
        **{f"v_{k}": a for k, a in v.items()},
    )
    os.replace(tmp, path)


# --- training from songs ------------------------------------------------------------------------


def training_list_hash(songs, target: str, settings: Settings) -> str:
    """SHA-256 of what was trained on: every song's recipe hash (in order), the target and the settings."""
    text = json.dumps(
        {"songs": [s.key for s in songs], "target": target, "settings": model_settings(settings)}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _feature_cache_path(cache_dir: Path, song, target: str, settings: Settings, config: ModelConfig) -> Path:
    feature_config = {k: getattr(config, k) for k in ("context", "context_points")}
    text = json.dumps(
        {"song": song.key, "target": target, "settings": model_settings(settings), "features": feature_config},
        sort_keys=True,
    )
    return cache_dir / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.npz"


def extract_features(
    songs,
    target: str,
    settings: Settings,
    config: ModelConfig,
    *,
    cache_dir=None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Progress = None,
) -> tuple[list, list]:
    """Every song's features, from the cache or computed on a Dask cluster (one task per song).

    Parameters
    ----------
    songs : list of TrainingSong
    cache_dir : path, optional
        Each song's features are stored here as they arrive and read back on a
        later (or interrupted) run.
    scheduler : str, optional
        An existing Dask scheduler's address; default a local cluster.
    n_workers : int, optional
        Workers of the local cluster (default one per core); ``0`` computes in
        this process without Dask.

    Returns
    -------
    features : list of dict or None
        Per song, :func:`song_features`' dict; None for a song that failed.
    failures : list of (str, str)
        Song name and the reason.
    """
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    out: list = [None] * len(songs)
    todo = []
    for i, song in enumerate(songs):
        path = _feature_cache_path(cache, song, target, settings, config) if cache is not None else None
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as saved:
                    out[i] = {k: saved[k] for k in ("x", "mixture_fp", "target_fp")}
                continue
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                pass  # damaged: compute again
        todo.append(i)
    failures = []
    done = len(songs) - len(todo)
    report(progress, done / max(len(songs), 1), f"Features: {done} of {len(songs)} songs from the cache")

    def store(i, result):
        out[i] = result
        if cache is not None:
            path = _feature_cache_path(cache, songs[i], target, settings, config)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, **result)
            os.replace(tmp, path)

    if todo and n_workers == 0:
        for i in todo:
            try:
                store(i, _song_features_task(songs[i], target, settings, config))
            except VsepError as exc:
                failures.append((songs[i].name, str(exc)))
            done += 1
            report(progress, done / len(songs), f"Features: {done} of {len(songs)} songs")
    elif todo:
        from distributed import as_completed

        from .batch import _dask_client
        from .cluster import run_task
        from .cluster_codec import decode

        with _dask_client(scheduler, n_workers or min(len(todo), os.cpu_count() or 1)) as (client, label):
            report(progress, done / len(songs), f"Features on {label}")
            run_id = hashlib.sha1(f"{time.time()}-{os.getpid()}".encode()).hexdigest()[:8]
            # Each song is vsep_core.cluster's "learned_features" task: its arrays come back as plain data,
            # decoded through the cluster's allow-list (vsep_core.cluster_codec), never unpickled here.
            futures = {
                client.submit(
                    run_task,
                    "learned_features",
                    (songs[i], target, settings, config),
                    {},
                    key=f"vsep-train-{run_id}-{i}",
                    pure=False,
                ): i
                for i in todo
            }
            for future in as_completed(futures):
                i = futures[future]
                try:
                    store(i, decode(future.result(), "learned_features"))
                except Exception as exc:  # noqa: BLE001 - one bad song must not stop the training: report it
                    failures.append((songs[i].name, f"{type(exc).__name__}: {exc}"))
                done += 1
                report(progress, done / len(songs), f"Features: {done} of {len(songs)} songs")
    return out, failures


def split_songs(n_songs: int, config: ModelConfig) -> np.ndarray:
    """Which songs are held out for validation (a boolean mask; whole songs, never single windows)."""
    held = np.zeros(n_songs, dtype=bool)
    if config.validation_share > 0 and n_songs >= 2:
        k = max(1, int(round(config.validation_share * n_songs)))
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 3]))
        held[rng.permutation(n_songs)[:k]] = True
    return held


def _stack(items, config: ModelConfig, top_db: float) -> dict:
    """Songs' features, masks and weights (:func:`training_targets`) one under another."""
    parts = {"x": [], "y": [], "w": []}
    for item in items:
        mask, weight = training_targets(item["mixture_fp"].T, item["target_fp"].T, config, top_db)
        parts["x"].append(item["x"])
        parts["y"].append(mask)
        parts["w"].append(weight)
    if not items:
        return {k: np.zeros((0, 1), np.float32) for k in parts}
    return {k: np.concatenate(v) for k, v in parts.items()}


def train(
    songs,
    *,
    target: str = "vocals",
    settings: Settings | None = None,
    config: ModelConfig | None = None,
    cache_dir=None,
    checkpoint=None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Progress = None,
    on_epoch=None,
    description: dict | None = None,
) -> LearnedModel:
    """Train a learned-fingerprint model on songs (see :mod:`vsep_core.learned_songs`).

    Parameters
    ----------
    songs : list of TrainingSong
    target : str
        The stem to predict (``vocals`` …).
    settings : Settings, optional
        Analysis settings (default: the engine's, 22050 Hz, n_fft 2048, hop 1040, 400 points).
    config : ModelConfig, optional
    cache_dir, scheduler, n_workers
        See :func:`extract_features`.
    checkpoint : path, optional
        See :func:`fit`.
    progress : callable(fraction, label), optional
        Features take the first 40 %, fitting the rest.
    description : dict, optional
        Recorded in the header's ``training`` (e.g. the command's ``--generate``/``--seed``/``--data``).

    Returns
    -------
    LearnedModel
    """
    from .progress import scaled
    from .stems import target_name

    target = target_name(target)
    settings = settings or Settings()
    config = config or ModelConfig()
    if not songs:
        raise VsepError("No song to train on: give --data folders with songs or --generate N.")
    found, failures = extract_features(
        songs,
        target,
        settings,
        config,
        cache_dir=cache_dir,
        scheduler=scheduler,
        n_workers=n_workers,
        progress=scaled(progress, 0.0, 0.4),
    )
    kept = [(song, item) for song, item in zip(songs, found) if item is not None and len(item["x"])]
    if not kept:
        raise VsepError("No song could be read: " + "; ".join(f"{n}: {e}" for n, e in failures[:5]))
    held = split_songs(len(kept), config)
    train_set = _stack([item for (_, item), h in zip(kept, held) if not h], config, settings.top_db)
    validation_set = _stack([item for (_, item), h in zip(kept, held) if h], config, settings.top_db)
    params, standardise, curve = fit(
        train_set, validation_set, config, progress=scaled(progress, 0.4, 1.0), checkpoint=checkpoint, on_epoch=on_epoch
    )
    used = [song for song, _ in kept]
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "target": target,
        "settings": model_settings(settings),
        "config": config.to_dict(),
        "training": {
            **(description or {}),
            "songs": len(used),
            "validation_songs": int(held.sum()),
            "train_windows": len(train_set["x"]),
            "validation_windows": len(validation_set["x"]),
            "list_sha256": training_list_hash(used, target, settings),
            "failed_songs": [{"song": n, "error": e} for n, e in failures],
            "curve": curve,
        },
    }
    return LearnedModel(header=header, arrays={**standardise, **params})


# --- the blind method ---------------------------------------------------------------------------------


def predicted_analysis(mixture: np.ndarray, settings: Settings, model: LearnedModel):
    """An :class:`vsep_core.analysis.Analysis` of the mixture whose raw-view target is the model's prediction.

    What the joint round trip reads: the mixture's dB spectrogram and phase
    (as :func:`vsep_core.analysis.analyse` makes them) and, in place of the
    target's fingerprint, the predicted one.
    """
    from .analysis import Analysis
    from .views import RAW

    model.check_settings(settings, len(mixture))
    magnitude, phase, mixture_fp, hop = mixture_fingerprint(mixture, settings)
    predicted = model.predict_fingerprint(mixture_fp, settings.top_db)
    predicted.setflags(write=False)
    mixture_db = amplitude_to_db(magnitude, top_db=settings.top_db)
    mixture_db.setflags(write=False)
    return Analysis(
        settings=settings,
        hop_length=hop,
        n_samples=len(mixture),
        mixture_db=mixture_db,
        phase=phase,
        targets={RAW: predicted},
        target_windows={RAW: predicted.shape[1]},
    )


def predicted_fingerprints(mixture: np.ndarray, settings: Settings, model: LearnedModel | None = None) -> dict:
    """The mixture's fingerprint and the model's prediction of the target's, for showing them.

    Returns
    -------
    dict
        ``{"mixture": (n_points, windows), "predicted": (n_points, windows), "target": str}``.
    """
    model = model or cached_model()
    model.check_settings(settings, len(mixture))
    _, _, mixture_fp, _ = mixture_fingerprint(mixture, settings)
    return {
        "mixture": mixture_fp,
        "predicted": model.predict_fingerprint(mixture_fp, settings.top_db),
        "target": model.target,
    }


@dataclass(frozen=True)
class LearnedFingerprint:
    """Blind: the fingerprint predicted from the mixture by a trained model, then the joint round trip toward it.

    Parameters
    ----------
    settings : Settings
        Analysis settings; they must be the model's (sample rate, FFT size, hop, points, dB range).
    model_path : str or None
        A model file (default: the bundled model, trained on generated songs).
    joint : JointSettings, optional
        The round trip's optimiser (default: the joint method's, raw view, with
        :data:`ROUND_TRIP_STEPS` steps).
    """

    settings: Settings = field(default_factory=lambda: Settings(level="as_is"))
    model_path: str | None = None
    joint: object = None
    name: ClassVar[str] = METHOD_NAME
    kind: ClassVar[str] = "blind"
    suited_targets: ClassVar[tuple] = ("vocals",)
    unsuited_note: ClassVar[str] = "the bundled learned model predicts the vocal's fingerprint, not this stem's"

    @property
    def description(self) -> str:
        return "Fingerprint predicted from the mixture by a trained model, then the joint EQ toward it (blind)"

    def separate(self, mixture, sr, *, vocal=None):
        from .audio import check_signal
        from .baselines import Separation
        from .joint import JointSettings, run_joint
        from .reconstruct import instrumental_from_vocal, vocal_from_db

        if vocal is not None:
            raise VsepError(f"The {self.name} method is blind: it must not be given the true vocal.")
        if sr != self.settings.sr:
            raise VsepError(f"The mixture is at {sr} Hz but the learned model works at {self.settings.sr} Hz.")
        mixture = check_signal(mixture, "mixture", min_samples=self.settings.n_fft, sr=int(sr))
        model = cached_model(self.model_path)
        analysis = predicted_analysis(mixture, self.settings, model)
        joint = self.joint or JointSettings(steps=ROUND_TRIP_STEPS)
        result = run_joint(analysis, joint)
        vocal_raw = vocal_from_db(result.final_db, analysis)
        return Separation(
            vocal=vocal_raw,
            instrumental=instrumental_from_vocal(mixture, vocal_raw),
            info={
                "model": str(self.model_path or BUNDLED_MODEL.name),
                "model_sha256": model.header["training"]["list_sha256"][:16],
                "round_trip_loss": result.final_loss,
                "steps": joint.steps,
            },
        )


# --- which views help the prediction -------------------------------------------------------------


def predicted_analysis_with_views(mixture: np.ndarray, settings: Settings, model: LearnedModel, views) -> "object":
    """:func:`predicted_analysis` with targets for more views: those of the predicted target spectrogram.

    The predicted spectrogram is the mixture's magnitude times the predicted
    gain (predicted fingerprint − mixture fingerprint, read onto the bins);
    each view's target is that spectrogram's fingerprint in the view (§4),
    the raw view's the prediction itself.
    """
    import dataclasses

    from .joint import interp_matrix
    from .views import RAW, VIEWS_BY_NAME, compute_view

    analysis = predicted_analysis(mixture, settings, model)
    magnitude, _, mixture_fp, _ = mixture_fingerprint(mixture, settings)
    gain = interp_matrix(settings.n_points, magnitude.shape[0]) @ (analysis.targets[RAW] - mixture_fp)
    predicted_magnitude = (magnitude * np.power(10.0, gain / 20.0)).astype(np.float32)
    targets, windows = dict(analysis.targets), dict(analysis.target_windows)
    for name in views:
        if name == RAW or name in targets:
            continue
        t = amplitude_to_db(
            profiles(compute_view(predicted_magnitude, name), settings.n_points), top_db=settings.top_db, axis=0
        )
        if VIEWS_BY_NAME[name].is_pooled and settings.pooled_windows == "expand":
            t = np.ascontiguousarray(np.repeat(t, 2, axis=1)[:, : analysis.n_windows])
        t.setflags(write=False)
        targets[name], windows[name] = t, t.shape[1]
    return dataclasses.replace(analysis, targets=targets, target_windows=windows)


def attribute_learned(
    truth,
    settings: Settings,
    *,
    slices=None,
    weight: float = 1.0,
    steps: int = ROUND_TRIP_STEPS,
    model: LearnedModel | None = None,
    progress: Progress = None,
) -> dict:
    """Which views in the prediction help: each slice of the *predicted* spectrogram added to the round trip.

    The baseline is the method as it runs (the raw view's predicted
    fingerprint); for each slice, the same round trip with that slice's
    fingerprint of the predicted spectrogram added at ``weight``. The method
    never reads the target; only the scores (vocal SI-SDR) do.

    Returns
    -------
    dict
        As :func:`vsep_core.attribute.attribute_joint`'s, with ``"method": "learned_fingerprint"``.
    """
    from .attribute import _scorer
    from .audio import engine_pair
    from .joint import JointSettings, run_joint
    from .stems import pair_target
    from .views import RAW, SLICE_NAMES, resolve_slices

    slices = tuple(resolve_slices(SLICE_NAMES if slices is None else slices))
    model = model or cached_model()
    pair = engine_pair(truth, settings.level)
    report(progress, 0.0, "Predicting the fingerprints")
    analysis = predicted_analysis_with_views(pair.mixture, settings, model, (RAW, *slices))
    score = _scorer(truth, pair, analysis)
    base_joint = JointSettings(steps=steps)
    total = 1 + len(slices)
    base = run_joint(analysis, base_joint)
    base_sdr = score(base.final_db)
    rows = []
    for i, name in enumerate(slices):
        report(progress, (i + 1) / total, f"Adding {name}")
        result = run_joint(analysis, JointSettings(steps=steps, views=((RAW, 1.0), (name, weight))))
        sdr = score(result.final_db)
        rows.append({"name": name, "with_si_sdr": sdr, "delta_si_sdr": sdr - base_sdr, "loss_with": result.final_loss})
    report(progress, 1.0, "Attribution done")
    return {
        "method": "joint",
        "blind_method": METHOD_NAME,
        "level": settings.level,
        "target": pair_target(truth.info),
        "baseline": {"views": [RAW], "si_sdr": base_sdr, "loss": base.final_loss},
        "slices": rows,
    }

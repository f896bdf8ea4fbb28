"""On-the-fly augmentation of training crops, as the VoxCeleb recipes do it.

Kaldi's VoxCeleb v2 recipe, WeSpeaker and SpeechBrain all train the speaker
network on crops that are, with some probability, either reverberated with a
room impulse response (RIR) or mixed with one kind of MUSAN audio:

========  ==========================  ====================================
kind      source                      signal-to-noise ratio
========  ==========================  ====================================
reverb    ``rir_root/**/*.wav``        (convolution, direct path kept in place)
noise     ``musan_root/noise/**``      0-15 dB, one segment
music     ``musan_root/music/**``      5-15 dB, one segment
babble    ``musan_root/speech/**``     13-20 dB, the sum of 3-7 speakers
========  ==========================  ====================================

(:data:`SNR_DB`, :data:`BABBLE_SPEAKERS`). Audio is read with ``soundfile``
(only the frames needed); mixing uses ``torchaudio.functional.add_noise`` and
reverberation ``torchaudio.functional.fftconvolve``. Every random choice
comes from the generator the batch is drawn with, so a batch stays a pure
function of ``(seed, step, rank)``.

A directory that is missing, or holds no audio where it should, is a
:class:`~sslsv.errors.UserError` naming the key (``train.musan_root``,
``train.rir_root``) before any compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from ..errors import UserError

__all__ = ["AugmentError", "Augmenter", "KINDS", "SNR_DB", "BABBLE_SPEAKERS", "AUDIO_SUFFIXES", "list_audio",
           "build_augmenter"]

KINDS = ("reverb", "noise", "music", "babble")
SNR_DB = {"noise": (0.0, 15.0), "music": (5.0, 15.0), "babble": (13.0, 20.0)}  # Kaldi / WeSpeaker ranges
BABBLE_SPEAKERS = (3, 7)  # speakers summed into one babble segment (inclusive)
MUSAN_DIRS = {"noise": "noise", "music": "music", "babble": "speech"}  # kind -> MUSAN sub-directory
AUDIO_SUFFIXES = (".wav", ".flac")


class AugmentError(UserError, ValueError):
    """An augmentation directory that cannot be used; the message names the key."""


def list_audio(directory: Path) -> list[Path]:
    """Every ``.wav`` / ``.flac`` file under ``directory`` (recursively), sorted."""
    return sorted(p for p in Path(directory).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _check_rate(path: Path, info, sample_rate: int) -> None:
    if info.samplerate != sample_rate:
        raise AugmentError(f"{path}: sample rate {info.samplerate} Hz, expected {sample_rate} Hz (resample the "
                           "augmentation audio first)")


def _random_segment(path: Path, n: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """``n`` samples of ``path`` from a random start (a short file is repeated), mono float32 ``(n,)``."""
    info = sf.info(str(path))
    _check_rate(path, info, sample_rate)
    total = info.frames
    start = int(rng.integers(0, total - n + 1)) if total > n else 0
    x, _ = sf.read(str(path), start=start, frames=min(n, total), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if len(x) < n:
        x = np.tile(x, int(np.ceil(n / max(len(x), 1))))[:n]
    return x


@dataclass
class Augmenter:
    """Reverberation and MUSAN noise for crops ``(time,)``.

    ``sources`` maps each available kind of :data:`KINDS` to its files;
    ``probability`` is the chance that a crop is augmented at all (then one
    available kind is chosen uniformly).
    """

    sources: dict[str, list[Path]]
    probability: float = 0.6
    sample_rate: int = 16000

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if self.sources.get(k)]

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """The augmented crop and the kind applied (``"none"`` when the crop is left clean)."""
        kinds = self.kinds
        if not kinds or rng.random() >= self.probability:
            return wave, "none"
        kind = kinds[int(rng.integers(0, len(kinds)))]
        if kind == "reverb":
            return self.reverberate(wave, self._pick(kind, rng)), kind
        n = len(wave)
        if kind == "babble":
            k = int(rng.integers(BABBLE_SPEAKERS[0], BABBLE_SPEAKERS[1] + 1))
            noise = np.sum([_random_segment(self._pick(kind, rng), n, rng, self.sample_rate) for _ in range(k)],
                           axis=0)
        else:
            noise = _random_segment(self._pick(kind, rng), n, rng, self.sample_rate)
        snr = float(rng.uniform(*SNR_DB[kind]))
        return add_noise(wave, noise, snr), kind

    def _pick(self, kind: str, rng: np.random.Generator) -> Path:
        files = self.sources[kind]
        return files[int(rng.integers(0, len(files)))]

    def reverberate(self, wave: np.ndarray, rir_path: Path) -> np.ndarray:
        """``wave`` convolved with the RIR of ``rir_path`` (unit energy), aligned on its direct path."""
        rir, rate = sf.read(str(rir_path), dtype="float32", always_2d=True)
        _check_rate(rir_path, sf.info(str(rir_path)), self.sample_rate)
        return reverberate(wave, rir.mean(axis=1))


def add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``wave + a * noise`` at ``snr_db`` (``torchaudio.functional.add_noise``); silent noise leaves it as it is.

    >>> x = np.sin(np.arange(1600) / 3.0).astype(np.float32)
    >>> n = np.random.default_rng(0).standard_normal(1600).astype(np.float32)
    >>> y = add_noise(x, n, 10.0)
    >>> round(float(10 * np.log10((x ** 2).sum() / ((y - x) ** 2).sum())), 3)
    10.0
    """
    import torch
    import torchaudio.functional as AF

    if not np.any(noise) or not np.any(wave):
        return wave
    out = AF.add_noise(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))[None],
                       torch.from_numpy(np.ascontiguousarray(noise, dtype=np.float32))[None],
                       torch.tensor([snr_db], dtype=torch.float32))
    return out[0].numpy()


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with ``rir`` scaled to unit energy (``torchaudio.functional.fftconvolve``), keeping the samples
    aligned with the dry crop: the output starts at the RIR's direct path (its peak). Shape ``(time,)``.

    >>> x = np.zeros(8, dtype=np.float32); x[2] = 1.0
    >>> [round(float(v), 3) + 0.0 for v in reverberate(x, np.array([0.0, 2.0, 1.0], dtype=np.float32))]
    [0.0, 0.0, 0.894, 0.447, 0.0, 0.0, 0.0, 0.0]
    """
    import torch
    import torchaudio.functional as AF

    rir = np.asarray(rir, dtype=np.float32)
    energy = float(np.sqrt((rir.astype(np.float64) ** 2).sum()))
    if energy == 0.0:
        return wave
    rir = rir / energy
    peak = int(np.argmax(np.abs(rir)))
    wet = AF.fftconvolve(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)), torch.from_numpy(rir))
    return wet[peak:peak + len(wave)].numpy().astype(np.float32)


def build_augmenter(musan_root: str, rir_root: str, probability: float, sample_rate: int = 16000,
                    keys: Sequence[str] = ("train.musan_root", "train.rir_root")) -> Augmenter | None:
    """The :class:`Augmenter` of a MUSAN and a RIR directory (``""``: that source is off); ``None`` when both are.

    Raises :class:`AugmentError`, naming the key, when a directory is missing,
    when a MUSAN root has none of ``noise/``, ``music/``, ``speech/`` with
    audio in it, or when a RIR root holds no audio.

    >>> build_augmenter("", "", 0.6) is None
    True
    >>> build_augmenter("/nonexistent/musan", "", 0.6)
    Traceback (most recent call last):
    ...
    sslsv.data.augment.AugmentError: train.musan_root='/nonexistent/musan': no such directory (expected the MUSAN layout: noise/, music/, speech/ with .wav or .flac files); set train.musan_root="" to train without additive noise
    """
    musan_key, rir_key = keys
    sources: dict[str, list[Path]] = {}
    if musan_root:
        root = Path(musan_root)
        layout = "the MUSAN layout: noise/, music/, speech/ with .wav or .flac files"
        if not root.is_dir():
            raise AugmentError(f"{musan_key}={musan_root!r}: no such directory (expected {layout}); "
                               f"set {musan_key}=\"\" to train without additive noise")
        for kind, sub in MUSAN_DIRS.items():
            files = list_audio(root / sub) if (root / sub).is_dir() else []
            if files:
                sources[kind] = files
        if not sources:
            raise AugmentError(f"{musan_key}={musan_root!r} holds no audio under noise/, music/ or speech/ "
                               f"(expected {layout})")
    if rir_root:
        root = Path(rir_root)
        if not root.is_dir():
            raise AugmentError(f"{rir_key}={rir_root!r}: no such directory (expected room impulse responses as "
                               f".wav or .flac files, e.g. RIRS_NOISES/simulated_rirs); set {rir_key}=\"\" to train "
                               "without reverberation")
        files = list_audio(root)
        if not files:
            raise AugmentError(f"{rir_key}={rir_root!r} holds no .wav or .flac file (expected room impulse responses)")
        sources["reverb"] = files
    if not sources:
        return None
    for files in sources.values():  # the first file of each kind: a corpus at another rate fails here, not later
        try:
            _check_rate(files[0], sf.info(str(files[0])), sample_rate)
        except RuntimeError as e:
            raise AugmentError(f"{files[0]}: unreadable audio ({e})") from e
    return Augmenter(sources, probability, sample_rate)

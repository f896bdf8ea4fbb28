"""Corpus planning and writing: the synthetic corpus on disk.

:func:`generate_corpus` writes the corpus of a
:class:`~sslsv.config.CorpusConfig` in the VoxCeleb1 layout (with a Vox1-O
style trial list, :func:`~sslsv.data.corpus.make_trials`) and an unlabelled
pre-training pool in the LibriSpeech layout.  Every random draw is keyed by
``(seed, domain, split, speaker, session, utterance)``, never by the order of
work (:func:`_rng`), so one seed gives one corpus, bit for bit, with any
number of workers.  The work is planned first (:func:`_plan_corpus`, one
:class:`_Task` per file), then done in a process pool whose workers end with
their parent; a finished corpus is reused (:func:`is_complete`) and an
interrupted one resumes.  :func:`speaker_session_examples` draws the book's
examples from the same generators.

>>> train, test = speaker_ids(CorpusConfig(n_train_speakers=2, n_test_speakers=2))
>>> train[0], test[0]
('id10001', 'id10270')
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...artifacts import (ArtifactError, artifact_root, atomic_write_bytes, atomic_write_json, atomic_write_text,
                          file_lock, read_json)
from ...config import ConfigError, CorpusConfig, _without_neutral_keys, config_hash, to_dict
from ...lifetime import exit_with_parent
from ..corpus import Segment, make_trials, write_alignments
from .channel import ChannelParams, sample_channel
from .source_filter import SAMPLE_RATE, synthesize_utterance
from .language import (LanguageSpec, WordSpan, language_spec, make_language, word_transcript,
                       write_word_alignments)
from .voice import SpeakerParams, _plan, sample_speaker, session_voice, transcript

# Bump when the audio a seed produces changes (2: torch.stft/istft, which round differently).  The version is
# kept per language (corpus.language): a change to one mode bumps its own number, so the corpora of the other
# keep their directory (the version enters the hash of default_root) and their files.  The syllable mode is
# the original generator (version 2, unchanged); the lexicon mode started at 3 (issue 23).
GENERATOR_VERSIONS = {"syllables": 2, "lexicon": 3}
GENERATOR_VERSION = GENERATOR_VERSIONS["syllables"]  # the default mode's, for callers that name one version


def generator_version(cfg: CorpusConfig) -> int:
    """The generator version of ``cfg``'s language (an unknown language raises a ConfigError).

    >>> generator_version(CorpusConfig()), generator_version(CorpusConfig(language="lexicon"))
    (2, 3)
    """
    language_spec(cfg)  # checks the name
    return GENERATOR_VERSIONS[cfg.language]


# RNG domains: every random draw is keyed by (seed, domain, ...), never by order
_D_SPEAKER, _D_SESSION, _D_UTT, _D_DURATION, _D_TRIALS, _D_NAME = range(6)
_SPLITS = {"train": 0, "test": 1, "pretrain": 2, "examples": 3}
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
VOX1_TEST_FIRST_ID = 10270  # Vox1-O test speakers are id10270..id10309


def _entropy(cfg: CorpusConfig, domain: int, *key: int) -> list[int]:
    """The seed words of one draw: ``[seed, domain, *key]``, the key padded to 4 with zeros."""
    return [cfg.seed, domain, *key] + [0] * (4 - len(key))


def _rng(cfg: CorpusConfig, domain: int, *key: int) -> np.random.Generator:
    """The generator of one draw, a pure function of ``(cfg.seed, domain, *key)``."""
    return np.random.default_rng(np.random.SeedSequence(_entropy(cfg, domain, *key)))


def check_sample_rate(cfg: CorpusConfig) -> None:
    """Refuse a ``corpus.sample_rate`` other than the generator's 16 kHz with a :class:`~sslsv.config.ConfigError`.

    >>> check_sample_rate(CorpusConfig(sample_rate=8000))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: corpus.sample_rate=8000: the synthetic generator writes 16 kHz audio only; ...
    """
    if cfg.sample_rate != SAMPLE_RATE:
        raise ConfigError(f"corpus.sample_rate={cfg.sample_rate}: the synthetic generator writes "
                          f"{SAMPLE_RATE // 1000} kHz audio only; leave corpus.sample_rate at {SAMPLE_RATE} "
                          f"for corpus.source='synthetic' (resample downstream if another rate is needed)")


def default_root(cfg: CorpusConfig) -> Path:
    """``<artifact root>/corpora/synthetic-<hash of config and generator version>``.

    The generator version is part of the hash, so a change to the synthesis
    never mixes old and new audio in one directory.
    """
    key = {"corpus": to_dict(cfg), "generator_version": generator_version(cfg)}
    return artifact_root() / "corpora" / f"synthetic-{config_hash(key)}"


def speaker_ids(cfg: CorpusConfig) -> tuple[list[str], list[str]]:
    """VoxCeleb1-style ids of the training and test speakers (disjoint).

    >>> train, test = speaker_ids(CorpusConfig(n_train_speakers=2, n_test_speakers=1))
    >>> train, test
    (['id10001', 'id10002'], ['id10270'])
    """
    test_range = range(VOX1_TEST_FIRST_ID, VOX1_TEST_FIRST_ID + cfg.n_test_speakers)
    train: list[str] = []
    i = 10001
    while len(train) < cfg.n_train_speakers:
        if i not in test_range:
            train.append(f"id{i}")
        i += 1
    return train, [f"id{i}" for i in test_range]


def _session_id(cfg: CorpusConfig, split: int, spk: int, sess: int) -> str:
    rng = _rng(cfg, _D_NAME, split, spk, sess)
    return "".join(_ID_CHARS[i] for i in rng.integers(0, len(_ID_CHARS), 11))


@dataclass(frozen=True)
class _Task:
    path: str  # absolute output path
    key: str  # alignment key
    speaker: SpeakerParams  # the session's voice
    channel: ChannelParams
    seconds: float
    entropy: tuple[int, ...]
    fmt: str  # "WAV" | "FLAC"
    language: LanguageSpec | None = None  # None: independent syllables


@dataclass
class _Plan:
    sv_tasks: list[_Task]
    pool_tasks: list[_Task]
    speakers: list[dict[str, Any]]  # rows of speakers.csv
    sessions: list[dict[str, Any]]  # rows of sessions.csv
    test_keys: dict[str, list[str]]  # test speaker -> keys
    chapters: dict[tuple[str, str], list[_Task]]  # (librispeech spk, chapter) -> tasks


def _plan_corpus(cfg: CorpusConfig, root: Path) -> _Plan:
    train_ids, test_ids = speaker_ids(cfg)
    lang = language_spec(cfg)
    wav_root = root / "voxceleb1" / "wav"
    sv_tasks: list[_Task] = []
    speakers: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    test_keys: dict[str, list[str]] = {}
    for split_name, ids in (("train", train_ids), ("test", test_ids)):
        split = _SPLITS[split_name]
        for i, spk in enumerate(ids):
            voice = sample_speaker(_rng(cfg, _D_SPEAKER, split, i), cfg.speaker_spread)
            speakers.append({"speaker": spk, "split": split_name, **voice.as_row()})
            used: set[str] = set()
            for s in range(cfg.sessions_per_speaker):
                sid = _session_id(cfg, split, i, s)
                while sid in used:  # practically never
                    sid = sid[1:] + "x"
                used.add(sid)
                srng = _rng(cfg, _D_SESSION, split, i, s)
                channel = sample_channel(srng, cfg)
                svoice = session_voice(voice, srng, cfg.prosody_drift)
                sessions.append({"speaker": spk, "session": sid, **channel.as_row()})
                for u in range(cfg.utterances_per_session):
                    key = f"{spk}/{sid}/{u + 1:05d}.wav"
                    seconds = float(_rng(cfg, _D_DURATION, split, i, s, u).uniform(cfg.min_seconds, cfg.max_seconds))
                    sv_tasks.append(_Task(str(wav_root / key), key, svoice, channel, round(seconds, 3),
                                          tuple(_entropy(cfg, _D_UTT, split, i, s, u)), "WAV", lang))
                    if split_name == "test":
                        test_keys.setdefault(spk, []).append(key)

    # the pre-training pool: LibriSpeech layout, two chapters per speaker
    pool_root = root / "librispeech" / "LibriSpeech" / "train-synthetic"
    split = _SPLITS["pretrain"]
    budget = cfg.pretrain_hours * 3600.0 / max(1, cfg.pretrain_speakers)
    lo, hi = cfg.min_seconds, 2 * cfg.max_seconds
    pool_tasks: list[_Task] = []
    chapters: dict[tuple[str, str], list[_Task]] = {}
    for i in range(cfg.pretrain_speakers):
        spk = str(1001 + i)
        voice = sample_speaker(_rng(cfg, _D_SPEAKER, split, i), cfg.speaker_spread)
        speakers.append({"speaker": spk, "split": "pretrain", **voice.as_row()})
        drng = _rng(cfg, _D_DURATION, split, i)
        durations: list[float] = []
        while sum(durations) < budget - 1e-9:
            d = min(float(drng.uniform(lo, hi)), budget - sum(durations))
            if d < min(lo, budget) * 0.5 and durations:
                durations[-1] += d  # fold a tiny remainder into the previous utterance
                break
            durations.append(d)
        n_chapters = 2 if len(durations) > 1 else 1
        for c in range(n_chapters):
            chapter = str(100000 + 100 * i + c)
            srng = _rng(cfg, _D_SESSION, split, i, c)
            channel = sample_channel(srng, cfg)
            svoice = session_voice(voice, srng, cfg.prosody_drift)
            sessions.append({"speaker": spk, "session": chapter, **channel.as_row()})
            for u, d in enumerate(durations[c::n_chapters]):
                uid = f"{spk}-{chapter}-{u:04d}"
                task = _Task(str(pool_root / spk / chapter / f"{uid}.flac"), uid, svoice, channel, round(d, 3),
                             tuple(_entropy(cfg, _D_UTT, split, i, c, u)), "FLAC", lang)
                pool_tasks.append(task)
                chapters.setdefault((spk, chapter), []).append(task)
    return _Plan(sv_tasks, pool_tasks, speakers, sessions, test_keys, chapters)


def _write_audio(path: Path, wave: np.ndarray, fmt: str) -> None:
    """Write ``wave`` as 16-bit PCM ``fmt`` ("WAV" | "FLAC"), atomically (temporary file, then rename)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave, SAMPLE_RATE, format=fmt, subtype="PCM_16")
    atomic_write_bytes(path, buf.getvalue())


def _language(task: _Task):
    return make_language(task.language) if task.language is not None else None


def _run_task(task: _Task) -> tuple[str, list[Segment], float, float]:
    """Synthesise and write one file; returns key, alignment, audio and CPU seconds."""
    cpu = time.process_time()
    rng = np.random.default_rng(np.random.SeedSequence(list(task.entropy)))
    wave, segments = synthesize_utterance(task.speaker, task.channel, task.seconds, rng, language=_language(task))
    _write_audio(Path(task.path), wave, task.fmt)
    return task.key, segments, len(wave) / SAMPLE_RATE, time.process_time() - cpu


def _run_chunk(tasks: list[_Task]) -> list[tuple[str, list[Segment], float, float]]:
    """The work of a pool worker: :func:`_run_task` on one torch thread (there are as many workers as cores)."""
    import torch

    torch.set_num_threads(1)
    return [_run_task(t) for t in tasks]


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Synthesis in this process on one torch thread, restored after: its FFTs are small, more threads contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _plan_of(task: _Task) -> tuple[list[Segment], list[WordSpan]]:
    """The phone and word alignments of a task's file, replayed from its seed without synthesis."""
    rng = np.random.default_rng(np.random.SeedSequence(list(task.entropy)))
    n = int(round(task.seconds * SAMPLE_RATE))
    segments, _, words = _plan(task.speaker, n / SAMPLE_RATE, rng, _language(task))
    return segments, words


def _alignment_only(task: _Task) -> list[Segment]:
    return _plan_of(task)[0]


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def corpus_stats(root: Path) -> dict[str, Any]:
    """The stats recorded in ``<root>/corpus.json`` (seconds of audio, speed, ...)."""
    return read_json(Path(root) / "corpus.json", "corpus record")["stats"]


def _recorded_config(corpus: Any) -> Any:
    """A corpus config dict less the keys added later that hold their neutral value (``config.HASH_NEUTRAL``)."""
    return _without_neutral_keys({"corpus": corpus})["corpus"]


def is_complete(root: Path, cfg: CorpusConfig) -> bool:
    """Whether ``root`` holds a finished corpus generated from exactly ``cfg``."""
    marker = Path(root) / "corpus.json"
    if not marker.exists():
        return False
    try:
        info = read_json(marker, "corpus record")
    except ArtifactError:  # a truncated record: the corpus is resumed (finished files are kept)
        return False
    return (_recorded_config(info.get("config")) == _recorded_config(to_dict(cfg))
            and info.get("generator_version") == generator_version(cfg))


def generate_corpus(cfg: CorpusConfig, root: Path | None = None, workers: int | None = None,
                    progress: bool = True) -> Path:
    """Write the synthetic corpus of ``cfg`` under ``root`` and return ``root``.

    Layout (``root`` defaults to :func:`default_root`)::

        voxceleb1/wav/<id1xxxx>/<11-char session>/<00001>.wav   16-bit PCM
        voxceleb1/<cfg.voxceleb_trials>                           "1|0 enroll test"
        voxceleb1/meta/speakers.csv, sessions.csv, alignments.jsonl
                      word_alignments.jsonl                       (lexicon language only)
        librispeech/LibriSpeech/train-synthetic/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
                               .../<spk>-<chapter>.trans.txt, <spk>-<chapter>.align.jsonl
                               .../<spk>-<chapter>.words.jsonl    (lexicon language only)
        corpus.json                                               config + stats; written last

    The pool's transcripts are phones in the syllable mode and words (their
    spellings, :mod:`.language`) in the lexicon mode.

    Every file is a pure function of ``(cfg.seed, split, speaker, session,
    utterance)``, so the result does not depend on ``workers`` or on the order
    of work.  A finished corpus (``corpus.json`` with the same config) is
    returned at once; an interrupted one resumes, skipping finished files.
    One process at a time generates a corpus (a lock next to ``root``).
    A ``cfg.sample_rate`` other than 16 kHz is refused (:func:`check_sample_rate`).
    """
    if cfg.source != "synthetic":
        raise ValueError(f"generate_corpus needs corpus.source='synthetic', got {cfg.source!r}")
    check_sample_rate(cfg)
    root = Path(root) if root is not None else default_root(cfg)
    if is_complete(root, cfg):
        return root
    with file_lock(root.parent / f"{root.name}.lock", f"corpus {root}"):  # one generator per corpus
        if is_complete(root, cfg):  # another process finished it while this one waited
            return root
        return _generate(cfg, root, workers, progress)


def _generate(cfg: CorpusConfig, root: Path, workers: int | None, progress: bool) -> Path:
    t_start = time.perf_counter()
    plan = _plan_corpus(cfg, root)
    trials = make_trials(plan.test_keys, cfg.n_trials, _rng(cfg, _D_TRIALS))
    tasks = plan.sv_tasks + plan.pool_tasks
    alignments: dict[str, list[Segment]] = {}
    todo: list[_Task] = []
    for t in tasks:
        if os.path.exists(t.path):
            alignments[t.key] = _alignment_only(t)
        else:
            todo.append(t)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    generated_seconds = cpu_seconds = 0.0
    t_synth = time.perf_counter()
    bar = _progress(len(tasks), len(tasks) - len(todo), progress)
    with _one_torch_thread():  # imported here once: the pool's forked workers inherit it
        try:
            if workers <= 1 or len(todo) <= 1:
                for t in todo:
                    key, segs, sec, cpu = _run_task(t)
                    alignments[key] = segs
                    generated_seconds += sec
                    cpu_seconds += cpu
                    bar.update(1)
            else:
                chunks = [todo[i: i + 8] for i in range(0, len(todo), 8)]
                # a worker ends with this process, even after a kill -9 that leaves no time to stop the pool
                with ProcessPoolExecutor(max_workers=workers, initializer=exit_with_parent) as pool:
                    futures = {pool.submit(_run_chunk, ch): len(ch) for ch in chunks}
                    for fut in as_completed(futures):
                        for key, segs, sec, cpu in fut.result():
                            alignments[key] = segs
                            generated_seconds += sec
                            cpu_seconds += cpu
                        bar.update(futures[fut])
        finally:
            bar.close()
    synth_seconds = time.perf_counter() - t_synth

    vox = root / "voxceleb1"
    lexicon = language_spec(cfg) is not None  # word alignments and word transcripts
    atomic_write_text(vox / cfg.voxceleb_trials, "".join(f"{l} {a} {b}\n" for l, a, b in trials))
    atomic_write_text(vox / "meta" / "speakers.csv", _csv_text(plan.speakers))
    atomic_write_text(vox / "meta" / "sessions.csv", _csv_text(plan.sessions))
    write_alignments(vox / "meta" / "alignments.jsonl", {t.key: alignments[t.key] for t in plan.sv_tasks})
    words = {t.key: _plan_of(t)[1] for t in tasks} if lexicon else {}
    if lexicon:
        write_word_alignments(vox / "meta" / "word_alignments.jsonl", {t.key: words[t.key] for t in plan.sv_tasks})
    for (spk, chapter), ch_tasks in plan.chapters.items():
        folder = Path(ch_tasks[0].path).parent
        text = (lambda t: word_transcript(words[t.key])) if lexicon else (lambda t: transcript(alignments[t.key]))
        atomic_write_text(folder / f"{spk}-{chapter}.trans.txt", "".join(f"{t.key} {text(t)}\n" for t in ch_tasks))
        write_alignments(folder / f"{spk}-{chapter}.align.jsonl", {t.key: alignments[t.key] for t in ch_tasks})
        if lexicon:
            write_word_alignments(folder / f"{spk}-{chapter}.words.jsonl", {t.key: words[t.key] for t in ch_tasks})

    total_seconds = sum(t.seconds for t in tasks)
    stats = {
        "n_files": len(tasks),
        "n_sv_files": len(plan.sv_tasks),
        "n_pretrain_files": len(plan.pool_tasks),
        "audio_seconds": round(total_seconds, 3),
        "pretrain_hours": round(sum(t.seconds for t in plan.pool_tasks) / 3600, 5),
        "n_trials": len(trials),
        "generated_files": len(todo),
        "generated_audio_seconds": round(generated_seconds, 3),
        "synthesis_seconds": round(synth_seconds, 3),
        "generation_seconds": round(time.perf_counter() - t_start, 3),
        "audio_seconds_per_second": round(generated_seconds / max(synth_seconds, 1e-9), 2),  # wall clock
        "worker_cpu_seconds": round(cpu_seconds, 3),
        "audio_seconds_per_cpu_second": round(generated_seconds / max(cpu_seconds, 1e-9), 2),  # per core
        "workers": workers,
    }
    # the config as recorded before its later keys existed, when they hold their neutral values
    atomic_write_json(root / "corpus.json", {"config": _recorded_config(to_dict(cfg)),
                                             "generator_version": generator_version(cfg), "stats": stats})
    return root


def _progress(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, disable=not enabled, desc="synthetic corpus", unit="file")


# ---------------------------------------------------------------------------
# Examples for the book
# ---------------------------------------------------------------------------


def speaker_session_examples(n_speakers: int = 2, n_sessions: int = 2, seconds: float = 2.0, seed: int = 0,
                             cfg: CorpusConfig | None = None) -> list[dict[str, Any]]:
    """Utterances of ``n_speakers`` voices in ``n_sessions`` channels each.

    Returns one dict per (speaker, session): ``speaker`` and ``session``
    indices, ``voice`` (:class:`SpeakerParams`), ``channel``
    (:class:`ChannelParams`), ``wave`` ``(n_samples,)`` and ``segments``.

    >>> ex = speaker_session_examples(1, 1, seconds=0.3)
    >>> len(ex), ex[0]["wave"].shape
    (1, (4800,))
    """
    cfg = dataclasses.replace(cfg or CorpusConfig(), seed=seed)
    check_sample_rate(cfg)
    split = _SPLITS["examples"]
    spec = language_spec(cfg)
    language = make_language(spec) if spec is not None else None
    out: list[dict[str, Any]] = []
    for i in range(n_speakers):
        voice = sample_speaker(_rng(cfg, _D_SPEAKER, split, i), cfg.speaker_spread)
        for s in range(n_sessions):
            srng = _rng(cfg, _D_SESSION, split, i, s)
            channel = sample_channel(srng, cfg)
            svoice = session_voice(voice, srng, cfg.prosody_drift)
            wave, segs = synthesize_utterance(svoice, channel, seconds, _rng(cfg, _D_UTT, split, i, s),
                                              language=language)
            out.append(dict(speaker=i, session=s, voice=voice, channel=channel, wave=wave, segments=segs))
    return out

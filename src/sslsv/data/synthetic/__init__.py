"""A procedural multi-speaker speech corpus: speakers, utterances, sessions.

No dataset can be downloaded on our machines, so the project synthesises its
own speech with a classic *source-filter* model, fast enough in numpy to
write a corpus of hours on a laptop CPU.  One module per concern:

:mod:`.voice`
    the voice model: a **speaker** (:class:`SpeakerParams`) is a voice, a
    **session** shifts its prosody (:func:`session_voice`), an **utterance**
    is planned as a sequence of phones from :data:`PHONES` whose alignment is
    kept as :class:`~sslsv.data.corpus.Segment` s (:func:`plan_utterance`);
:mod:`.language`
    what the voices say: independent syllables (``corpus.language =
    "syllables"``) or sentences of a corpus-wide language, a lexicon with a
    Zipfian bigram grammar (``"lexicon"``), with word alignments;
:mod:`.source_filter`
    the DSP: a jittered, shimmered glottal pulse train plus noise, multiplied
    on a short-time spectrum (``n_fft`` 512, hop 160 at 16 kHz) by a spectral
    envelope computed from formant tracks and noise bands, then turned back
    into a waveform (:func:`synthesize_utterance`);
:mod:`.channel`
    the session channel (:class:`ChannelParams`): band-limiting and EQ,
    optional reverberation, additive noise at a random SNR, gain
    (:func:`apply_channel`);
:mod:`.generate`
    the corpus on disk: :func:`generate_corpus` writes it in the VoxCeleb1
    layout (plus a Vox1-O style trial list) with an unlabelled pre-training
    pool in the LibriSpeech layout, deterministically from
    ``CorpusConfig.seed``, in parallel, cached and resumable.

Everything a caller needs is importable from here.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> voice = sample_speaker(rng)
>>> wave, segments = synthesize_utterance(voice, None, 1.0, rng)
>>> wave.shape, wave.dtype
((16000,), dtype('float32'))
>>> segments[0].start, segments[-1].end
(0.0, 1.0)
"""

from __future__ import annotations

from ..corpus import make_trials
from .channel import NOISE_TYPES, ChannelParams, apply_channel, channel_response, sample_channel
from .generate import (
    GENERATOR_VERSION,
    GENERATOR_VERSIONS,
    generator_version,
    VOX1_TEST_FIRST_ID,
    check_sample_rate,
    corpus_stats,
    default_root,
    generate_corpus,
    is_complete,
    speaker_ids,
    speaker_session_examples,
)
from .language import (LANGUAGES, SILENCE_WORD, Language, LanguageSpec, Word, WordSpan, bigram_counts,
                       language_spec, make_language, read_word_alignments, word_transcript)
from .phones import CONSONANTS, PHONES, VOWELS, Phone, draw_syllable
from .source_filter import HOP, N_FFT, SAMPLE_RATE, synthesize_utterance
from .voice import (
    SpeakerParams,
    plan_utterance,
    plan_words,
    sample_speaker,
    session_voice,
    transcript,
)

__all__ = [
    # the voice model
    "CONSONANTS", "PHONES", "VOWELS", "Phone", "draw_syllable", "SpeakerParams", "plan_utterance", "plan_words",
    "sample_speaker",
    "session_voice", "transcript",
    # the language
    "LANGUAGES", "SILENCE_WORD", "Language", "LanguageSpec", "Word", "WordSpan", "bigram_counts", "language_spec",
    "make_language", "read_word_alignments", "word_transcript",
    # source-filter synthesis
    "HOP", "N_FFT", "SAMPLE_RATE", "synthesize_utterance",
    # the session channel
    "NOISE_TYPES", "ChannelParams", "apply_channel", "channel_response", "sample_channel",
    # the corpus on disk
    "GENERATOR_VERSION", "GENERATOR_VERSIONS", "generator_version", "VOX1_TEST_FIRST_ID", "check_sample_rate",
    "corpus_stats", "default_root", "generate_corpus",
    "is_complete", "make_trials", "speaker_ids", "speaker_session_examples",
]

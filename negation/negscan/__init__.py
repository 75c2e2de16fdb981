"""``negscan``: how often do captions say no?

- :mod:`.cli` — the command (thin: options → :mod:`.runner` → :mod:`.view`); :mod:`.options`
  its options, :mod:`.view` the rendering of its report;
- :mod:`.runner` — build the units of a scan, scan them into ``--out``, write the report
  (``from negation import negscan; negscan.run(...)`` reaches it: its names are this package's);
- :mod:`.lexicon` — negation lexicons (data) and text normalisation;
- :mod:`.scan` — the per-caption scan options and the vectorised prefilter;
- :mod:`.analysis` — analysing one frame of captions and adding results up;
- :mod:`.scanning` — reading shards and scanning them (locally); :mod:`.distributed` as Ray tasks;
- :mod:`.store` — per-shard partial results under ``--out``; :mod:`.merging` several runs' partials;
- :mod:`.report` — the report of a scan; :mod:`.uniques` — distinct captions.
"""

from negation import names_of

__getattr__ = names_of(__name__, "negation.negscan.runner")

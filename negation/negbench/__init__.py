"""``promptsim negbench``: negation benchmarks built exactly from multi-label ground truth.

- :mod:`.families` — the caption template families (data);
- :mod:`.questions` — building the MCQ / existence / retrieval questions (pure, seeded);
- :mod:`.question_files` — reading question files (ours and NegBench's released MCQ CSVs);
- :mod:`.metrics` — the metrics and seeded bootstrap CIs (pure);
- :mod:`.inputs` — what is scored: a dataset split (questions built or read from a file) or a
  NegBench CSV, as a :class:`~negation.negbench.runner.Bench`;
- :mod:`.runner` — scoring one model (image features once per image, text once per caption) and
  writing its result directory atomically; a list of models with skip/resume.
"""

"""``negtune``: fine-tune a CLIP to understand negation, from the labels of a multi-label dataset.

- :mod:`.data` — the training captions, built exactly from labels with ``promptsim negbench``'s
  caption families and MCQ builder (pure, seeded); extra captions (``--captions``);
- :mod:`.objective` — CLIP's contrastive loss plus the hard-negative term (pure);
- :mod:`.towers` — what ``--train`` trains; the re-initialisation of random weights;
- :mod:`.embeddings` — a frozen image tower's embeddings, cached by content;
- :mod:`.train` — the training loop (schedule, checkpoints, resume, divergence guard);
- :mod:`.export` — the tuned model as an open_clip ``local-dir:`` export;
- :mod:`.evaluate` — before/after evaluation (``promptsim negbench`` + zero-shot mAP) and its table;
- :mod:`.config`, :mod:`.runner` — the options, and one run in one call;
- :mod:`.cli` — the thin command line.
"""

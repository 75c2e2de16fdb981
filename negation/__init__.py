"""The negation analysis: lexicons, the streaming caption scan and its result store, prompt
templates and prompt-similarity statistics, similarity maps."""

"""Where data comes from: shard lists, caption corpora, class-name sets, the embedded sample shard,
multi-label image datasets — and the small I/O helpers every result directory is written with."""

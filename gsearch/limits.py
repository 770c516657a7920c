"""Bounds on values that pass their type but exceed any machine gsearch runs on.

A batch of 100,000 frames or a 4,096-pixel image passes "a positive integer" and then
ends, minutes later, in an out-of-memory error or a swapping machine; a space listing
200,000 values is valid TOML that takes longer to read than to search. These bounds are
checked where the value is read (argument types, space files, recipes), before any
study exists, and the message names the bound.

Standard library only: the command line's argument types read it at start-up.
"""

from __future__ import annotations

# Input side, pixels: 4.6x the paper's 224 (21x the pixels). A training step of
# MobileNet-V1 at 1024 px and batch 64 already needs ~70 GB of activations.
MAX_RESOLUTION_PX = 1024
# Frames per training or EPF step: 16x the paper's largest EPF batch (256).
MAX_BATCH = 4096
# Values a space file may list under one key: the group settings of a network are a few
# dozen divisors; reading and suggesting from a list scales with its length.
MAX_LIST_VALUES = 1000
# Local worker numbers: sampler seeds are seed * 1000 + worker index, so 1000 workers
# of one study draw different points and never a seed of another --seed's workers.
MAX_WORKER_INDEX = 999
# Seeds (--seed, --seeds): the largest numpy's generators, and so every sampler, take.
MAX_SEED = 2**32 - 1
# Training seeds per architecture: each is one more training of every trial.
MAX_SEEDS = 100
# Classes of a classifier (profile, calibrate): ImageNet-21k has 21,841.
MAX_CLASSES = 100_000
# A space file's size: the shipped ones are under 2 KB; 1,000 policy strings of a
# 16-layer network fit in 100 KB. A larger file is refused before it is parsed.
MAX_SPACE_FILE_BYTES = 1 << 20
# Measurement windows (profile, calibrate): the protocol takes 5 windows of 0.3-1 s per
# row; 1,000 windows or a 60 s window already make one row take minutes, and a typo of
# 100,000,000 would measure for years.
MAX_REPEATS = 1000
MAX_WINDOW_S = 60.0
MAX_WARMUP_S = 600.0

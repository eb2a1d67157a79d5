"""A stand-in for autoresearch's train.py, for the voicedesk demo: no GPU, a few seconds.

It "trains" for a moment and prints the two lines voicedesk reads, `val_bpb:` (lower is
better) and `peak_vram_mb:`. The result depends only on the knobs below, so a patch that
changes one gives a different, repeatable metric: the best warmup is 40 steps, the best
learning rate 0.003.
"""

import math
import os
import time

WARMUP_STEPS = 100
LEARNING_RATE = 0.004
DEPTH = 8

budget_s = float(os.environ.get("VOICEDESK_TIME_BUDGET_S", "300"))
time.sleep(min(2.0, budget_s))
warmup_cost = 0.0004 * abs(WARMUP_STEPS - 40)
lr_cost = 2.0 * abs(math.log10(LEARNING_RATE / 0.003))
val_bpb = 0.95 + warmup_cost + 0.01 * lr_cost - 0.002 * min(DEPTH, 12)
print(f"step 1000 | warmup {WARMUP_STEPS} | lr {LEARNING_RATE} | depth {DEPTH}")
print(f"val_bpb: {val_bpb:.6f}")
print(f"peak_vram_mb: {1024.0 * DEPTH * 5.5:.1f}")

"""pytest plugin for the notebook runs: start each notebook's kernel with up to three tries.

On a busy two-core machine a kernel started beside another one now and then never answers its
first message (seen once in many runs: "Kernel didn't respond in 60 seconds"), and nbval then
fails every cell of that notebook without running any. A second start succeeds. Only start-up
is retried; a cell that fails is never run again.
"""

from __future__ import annotations

import logging

import nbval.kernel

_start_new_kernel = nbval.kernel.start_new_kernel
_TRIES = 3


def _start_with_retries(*args, **kwargs):
    for attempt in range(1, _TRIES + 1):
        try:
            return _start_new_kernel(*args, **kwargs)
        except RuntimeError:
            if attempt == _TRIES:
                raise
            logging.getLogger(__name__).warning("kernel start %d of %d failed; trying again",
                                                attempt, _TRIES)


nbval.kernel.start_new_kernel = _start_with_retries

"""A circuit breaker per engine, after LiteLLM's `allowed_fails` / `cooldown_time`.

`allowed_fails` failures within `cooldown` seconds open the circuit: the engine is skipped for
`cooldown` seconds. Then it is half-open: one request is let through; success closes the
circuit, failure opens it again for another cooldown.
"""

import time
from collections import deque
from enum import IntEnum


class CircuitState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(self, allowed_fails: int, cooldown: float, clock=time.monotonic) -> None:
        self.allowed_fails = max(1, allowed_fails)
        self.cooldown = cooldown
        self._clock = clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allow(self) -> bool:
        """Whether a request may go to the engine now (claims the trial when half-open)."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self._failures.clear()
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        now = self._clock()
        if self._opened_at is not None:
            # The half-open trial failed: another full cooldown.
            self._opened_at = now
            self._trial_running = False
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.cooldown:
            self._failures.popleft()
        if len(self._failures) >= self.allowed_fails:
            self._opened_at = now
            self._failures.clear()

    def release_trial(self) -> None:
        """The trial request ended without a verdict (the client left): let another try."""
        self._trial_running = False

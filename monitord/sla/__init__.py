"""The SLA policy and its clocks: pure functions of (inventory, tickets, observations, now)."""

"""Loopback test servers and the anvil test-chain builder (test-only code)."""

"""The call path: resolve -> pre-checks -> cache -> backend (retry, failover) -> log -> Result."""

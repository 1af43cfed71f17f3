"""How a headless worker says how it is doing: facts and health, Prometheus metrics, the HTTP endpoints."""

"""Local stand-ins for external services (the payment sandbox), used by `sge dev up`, the demo and tests."""

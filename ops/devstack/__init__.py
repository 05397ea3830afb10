"""Libraries shared by the `sge` CLI, the benchmarks and the tests for running the platform locally:
the process supervisor (`processes`), the embedded stack (`stack`, `chain`, `payments`) and the demo
client (`demo`). `cli/` imports these; nothing here imports `cli/`."""

"""OpenTelemetry tracing for the API and the worker: one trace from an HTTP request through the
workflow it starts to the activities it runs (FastAPI instrumentation + Temporal's TracingInterceptor
on every client). Off by default; `SGE_OTEL_EXPORTER=otlp` sends spans to an OTLP/HTTP collector
(standard OTEL_EXPORTER_OTLP_* variables), `console` prints them.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

_configured = False


def configure_tracing(exporter: str, service: str) -> None:
    global _configured
    if exporter == "none" or _configured:
        return
    span_exporter: SpanExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    else:
        span_exporter = ConsoleSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"sge-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _configured = True

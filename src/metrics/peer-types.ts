/**
 * The slices of the optional peers' APIs that waymark calls, typed here rather than imported,
 * so that the package's types compile in a project that has not installed the peers
 * (`skipLibCheck: false`). A real prom-client `Registry` or OpenTelemetry `Tracer` fits them.
 */

/** A prom-client `Registry`, as far as waymark uses one. */
export interface PromRegistryLike {
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
}

/** A value an OpenTelemetry span attribute can take. */
export type SpanAttributeValue = string | number | boolean;

/** An OpenTelemetry `Span`, as far as waymark uses one. */
export interface SpanLike {
  setAttribute(key: string, value: SpanAttributeValue): unknown;
  addEvent(name: string, attributes?: Record<string, SpanAttributeValue>): unknown;
  recordException(exception: Error): void;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/** An OpenTelemetry `Tracer`, as far as waymark uses one. */
export interface TracerLike {
  startSpan(name: string, options?: { attributes?: Record<string, SpanAttributeValue> }): SpanLike;
}

// A prom-client registry per process holding exactly the catalog metrics of one service.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CATALOG, metricsFor, type MetricName, type ServiceName } from './catalog.ts';

type Kind<N extends MetricName> = (typeof CATALOG)[N]['type'];
type Labels<N extends MetricName> = (typeof CATALOG)[N]['labels'][number];
type MetricOf<N extends MetricName> =
  Kind<N> extends 'counter'
    ? Counter<Labels<N>>
    : Kind<N> extends 'gauge'
      ? Gauge<Labels<N>>
      : Histogram<Labels<N>>;

export class Metrics {
  readonly registry: Registry;
  readonly service: ServiceName;
  readonly #metrics = new Map<MetricName, Counter | Gauge | Histogram>();

  constructor(service: ServiceName, options: { defaultMetrics?: boolean } = {}) {
    this.service = service;
    this.registry = new Registry();
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    for (const name of metricsFor(service)) {
      const def = CATALOG[name];
      const config = {
        name,
        help: def.help,
        labelNames: [...def.labels],
        registers: [this.registry],
      };
      const metric =
        def.type === 'counter'
          ? new Counter(config)
          : def.type === 'gauge'
            ? new Gauge(config)
            : new Histogram({ ...config, buckets: [...('buckets' in def ? def.buckets : [])] });
      this.#metrics.set(name, metric);
    }
  }

  /** A catalog metric; asking for one the catalog does not give this service is a wiring bug. */
  get<N extends MetricName>(name: N): MetricOf<N> {
    const metric = this.#metrics.get(name);
    if (!metric) {
      throw new Error(`metric ${name} is not in the catalog for service ${this.service}`);
    }
    return metric as MetricOf<N>;
  }

  has(name: MetricName): boolean {
    return this.#metrics.has(name);
  }

  /** Prometheus text exposition of everything in this registry. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

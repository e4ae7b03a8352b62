// Process figures for /api/health/detailed: CPU since the last look, memory, uptime, event-loop delay.
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ProcessSnapshot {
  cpu: { percent: number };
  memory: { rss: number; heapUsed: number };
  uptime: number;
  eventLoopDelay: { p99Ms: number };
}

export interface ProcessStats {
  snapshot(): ProcessSnapshot;
  stop(): void;
}

export function createProcessStats(): ProcessStats {
  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  let lastCpu = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  return {
    snapshot() {
      const now = process.hrtime.bigint();
      const cpu = process.cpuUsage(lastCpu);
      const elapsedUs = Number(now - lastAt) / 1000;
      lastCpu = process.cpuUsage();
      lastAt = now;
      const percent = elapsedUs > 0 ? ((cpu.user + cpu.system) / elapsedUs) * 100 : 0;
      const p99 = histogram.count > 0 ? histogram.percentile(99) / 1e6 : 0;
      histogram.reset();
      const mem = process.memoryUsage();
      return {
        cpu: { percent: Math.round(percent * 10) / 10 },
        memory: { rss: mem.rss, heapUsed: mem.heapUsed },
        uptime: Math.round(process.uptime()),
        eventLoopDelay: { p99Ms: Math.round(p99 * 100) / 100 },
      };
    },
    stop: () => histogram.disable(),
  };
}

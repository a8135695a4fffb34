// The server's Prometheus metrics (GET /metrics): what each one means is documented in the README.
import { readdirSync, readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, MetricsRegistry } from './core/metrics.ts';
import type { SessionManager } from './core/sessions.ts';
import type { WarmupManager } from './core/warmup.ts';
import type { Backend } from './backends/backend.ts';

export interface ServerMetrics {
  registry: MetricsRegistry;
  requests: Counter;
  toolCalls: Histogram;
  sessionEvents: Counter;
  /** Adds the gauges read at scrape time, once the services they read exist. */
  watch(sessions: SessionManager, warmup: WarmupManager, backends: readonly Backend[]): void;
}

function childProcesses(): number {
  let n = 0;
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57) continue; // not a pid
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) n++;
    } catch {
      // exited while we looked
    }
  }
  return n;
}

export function createMetrics(): ServerMetrics {
  const registry = new MetricsRegistry();
  const requests = registry.add(
    new Counter('agentflow_http_requests_total', 'HTTP requests by route and AgentFlow code'),
  );
  const toolCalls = registry.add(
    new Histogram(
      'agentflow_tool_call_duration_seconds',
      'Tool call latency by tool and AgentFlow code',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    ),
  );
  const sessionEvents = registry.add(
    new Counter(
      'agentflow_session_events_total',
      'Session lifecycle events (created, destroyed, expired, restored, temporary) by resource type',
    ),
  );
  return {
    registry,
    requests,
    toolCalls,
    sessionEvents,
    watch(sessions, warmup, backends) {
      registry.add(
        new Gauge(
          'agentflow_backend_state',
          "Backends' own figures (bash: warm pool shells ready, size, hits, misses)",
          () =>
            backends.flatMap((b) =>
              Object.entries(b.gauges?.() ?? {}).map(
                ([state, n]) => [{ backend: b.name, state }, n] as const,
              ),
            ),
        ),
      );
      registry.add(
        new Gauge('agentflow_sessions_active', 'Stored sessions by resource type', () => {
          const counts = new Map<string, number>();
          for (const s of sessions.list()) {
            counts.set(s.info.resourceType, (counts.get(s.info.resourceType) ?? 0) + 1);
          }
          return [...counts].map(([type, n]) => [{ resource_type: type }, n] as const);
        }),
      );
      registry.add(
        new Gauge(
          'agentflow_backend_warmed_up',
          'Backend warmup state: 1 warm, 0 not yet, -1 failed',
          () =>
            Object.entries(warmup.status()).map(
              ([name, s]) => [{ backend: name }, s.warmed_up ? 1 : s.error ? -1 : 0] as const,
            ),
        ),
      );
      registry.add(
        new Gauge('process_resident_memory_bytes', 'Resident set size of the server', () => [
          [{}, process.memoryUsage().rss],
        ]),
      );
      registry.add(
        new Gauge('process_open_fds', 'Open file descriptors of the server', () => [
          [{}, readdirSync('/proc/self/fd').length],
        ]),
      );
      registry.add(
        new Gauge('agentflow_child_processes', 'Direct child processes (session shells)', () => [
          [{}, childProcesses()],
        ]),
      );
    },
  };
}

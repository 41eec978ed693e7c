import http from 'node:http';

export interface StreamEvent {
  event: string;
  data: Record<string, unknown>;
}

export interface EventStream {
  /** Every event so far, in arrival order. */
  readonly events: StreamEvent[];
  /** The first event that matches; waits for it up to `timeoutMs` (5 s). */
  next(matches: (e: StreamEvent) => boolean, timeoutMs?: number): Promise<StreamEvent>;
  close(): void;
}

/**
 * Reads the server-sent events of a listening app (the device stream) as they arrive; resolves
 * once the server wrote its `: connected` comment, so nothing announced afterwards is missed.
 */
export function openEventStream(url: string): Promise<EventStream> {
  const events: StreamEvent[] = [];
  const waiters = new Set<() => void>();
  return new Promise((connected, failed) => {
    const request = http.get(url, (res) => {
      if (res.statusCode !== 200) return failed(new Error(`stream answered ${res.statusCode}`));
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let i: number;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
          if (block.startsWith(': connected')) connected(stream);
        }
        for (const wake of waiters) wake();
      });
    });
    request.on('error', failed);
    const stream: EventStream = {
      events,
      async next(matches, timeoutMs = 5000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const found = events.find(matches);
          if (found) return found;
          if (Date.now() > deadline) throw new Error(`no such event; got ${JSON.stringify(events)}`);
          await new Promise<void>((resolve) => {
            const wake = () => (waiters.delete(wake), resolve());
            waiters.add(wake);
            setTimeout(wake, 100);
          });
        }
      },
      close: () => request.destroy(),
    };
  });
}

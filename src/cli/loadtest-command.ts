/** `sluice loadtest` (npm run loadtest): flooding producers against a route, with a live progress line and a final report. */
import { formatReport } from '../loadtest/report.js';
import { resolveLoadtestOptions, loadtestDefaults as d } from '../loadtest/options.js';
import { runLoadtest } from '../loadtest/run.js';
import { caOption, parseFlags } from './args.js';
import { checkedCliToken, resolveCliToken, tokenFlags, tokenUsage } from './cli-token.js';

const usage = `usage: sluice loadtest [options]     (npm run loadtest -- [options])

Floods a route through a gateway and reports throughput, latency percentiles,
errors by code and the gateway's memory over the run. Stops by itself after
--count sends or --duration-s seconds, whichever comes first.

  --url URL               gateway                        (default ${d.url})
  --admin-url URL|none    gateway admin, for /metrics    (default ${d.adminUrl})
  --ca FILE               PEM CA to trust for wss://, tls:// and https:// (env SLUICE_CA, default the system's)
  --mode channel|rr       channel: producers push over request-channel as fast as granted
                          rr: request-response            (default ${d.mode})
  --route ROUTE           (default bench.sink for channel, bench.echo for rr)
  --producers N           producer connections, 1-10000  (default ${d.producers})
  --consumers M           channel: concurrent channels, each a consumer taking one item
                          at a time, 1-100000             (default: one per producer)
  --consumer-delay-ms D   channel: ms each consumer spends per item, sent as the
                          opening payload {"delayMs":D}, 0-60000 (default ${d.consumerDelayMs})
  --rate R                offered load per second, 0.1-10000000. rr: open loop at R
                          requests/s. channel: producers would push R items/s if demand
                          allowed (the rest is held back and counted). Default: rr closed
                          loop, channel as fast as granted
  --concurrency C         rr closed loop: requests outstanding, 1-100000 (default ${d.concurrency})
  --max-in-flight N       rr open loop: most requests waiting, 1-1000000 (default ${d.maxInFlight})
  --count N               stop after N requests or items, 1-1000000000 (default ${d.count})
  --duration-s S          stop sending after S seconds, 0.1-3600 (default ${d.durationS})
  --drain-s S             then wait at most S seconds for answers, 0-600 (default ${d.drainS})
  --size BYTES            approximate payload size, 0-524288 (default ${d.size})
  --json                  print the report as JSON
  --allow-remote          allow a target that is not loopback (127.0.0.0/8, ::1, localhost)
${tokenUsage}
examples:
  npm start   # in another terminal: gateway + bench service
  npm run loadtest -- --producers 8 --consumers 32 --consumer-delay-ms 10 --rate 32000 --duration-s 30
  npm run loadtest -- --mode rr --rate 5000 --duration-s 20
`;

export async function loadtestCommand(argv: string[]): Promise<void> {
  const str = { type: 'string' } as const;
  const raw = parseFlags(
    argv,
    {
      url: str,
      ca: str,
      'admin-url': str,
      mode: str,
      route: str,
      producers: str,
      consumers: str,
      'consumer-delay-ms': str,
      rate: str,
      concurrency: str,
      'max-in-flight': str,
      count: str,
      'duration-s': str,
      'drain-s': str,
      size: str,
      json: { type: 'boolean' },
      'allow-remote': { type: 'boolean' },
      ...tokenFlags,
    },
    usage,
  );
  const { token: _t, 'token-file': _tf, ca: _ca, ...flags } = raw;
  const options = resolveLoadtestOptions(flags as Record<string, string | boolean | undefined>);
  const tls = caOption(raw.ca);
  const token = await checkedCliToken({ url: options.url, ...tls }, await resolveCliToken(raw));
  const abort = new AbortController();
  // Ctrl-C stops sending; answers still get --drain-s, then the report prints. A second Ctrl-C exits at once.
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const out = process.stdout;
    const report = await runLoadtest(options, {
      signal: abort.signal,
      ...(token ? { token } : {}),
      ...(tls.tls ? { ca: tls.tls.ca } : {}),
      // With --json, progress goes to stderr so stdout stays one JSON document.
      progress: options.json ? { write: (t) => process.stderr.write(t), tty: process.stderr.isTTY === true } : { write: (t) => out.write(t), tty: out.isTTY === true },
    });
    out.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    const d = report.delivery;
    // Exit 1 when accepted items were lost or duplicated: scripts can rely on it.
    if (d && (d.duplicates > 0 || d.unacked > 0)) process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

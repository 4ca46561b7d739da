/** `sluice build-browser` (`npm run build:browser`): writes the browser client bundle and prints its size. */
import { relative } from 'node:path';
import { BROWSER_CLIENT_BUDGET, BROWSER_CLIENT_OUTFILE, writeBrowserClient } from '../admin/bundles.js';
import { parseFlags } from './args.js';

const usage = `usage: sluice build-browser [--outfile FILE]

  --outfile FILE   where to write the ESM bundle (default clients/browser/dist/sluice.js)
`;

export async function buildBrowserCommand(argv: string[]): Promise<void> {
  const f = parseFlags(argv, { outfile: { type: 'string' } }, usage);
  const outfile = (f.outfile as string | undefined) ?? BROWSER_CLIENT_OUTFILE;
  const bundle = await writeBrowserClient(outfile);
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  process.stdout.write(
    `${relative(process.cwd(), outfile) || outfile}: ${kib(bundle.bytes)} minified, ${kib(bundle.gzipBytes)} gzip ` +
      `(budget ${kib(BROWSER_CLIENT_BUDGET.raw)} / ${kib(BROWSER_CLIENT_BUDGET.gzip)})\n`,
  );
}

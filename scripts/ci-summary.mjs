// Prints "N passed, N failed" summed over vitest's JSON reports (CI reads this line), one line per
// report before it. A report that is missing means that run never reached vitest (typecheck or
// lint failed first, or an install failed): it counts as one failure, so CI can never look green
// without having run its tests.
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of files) {
  if (!existsSync(file)) {
    console.log(`${file}: no report (that run stopped before vitest reported)`);
    failed++;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`${file}: ${r.numPassedTests} passed, ${r.numFailedTests} failed${s ? `, ${s} skipped` : ''}`);
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += s;
}
if (skipped > 0) console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);

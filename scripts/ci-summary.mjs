// Prints "N passed, N failed" summed over vitest's JSON reports (CI reads this line), one line per
// report before it. A report that is missing means that run never reached vitest (typecheck or
// lint failed first, or an install failed): it counts as one failure, so CI can never look green
// without having run its tests. Each failed test is named with the first line of its error, so
// the end of a CI log (often all that is kept of it) says what to look at.
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
  for (const suite of r.testResults ?? []) {
    for (const t of suite.assertionResults ?? []) {
      if (t.status !== 'failed') continue;
      const first = String(t.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 300);
      console.log(`  failed: ${suite.name} > ${t.fullName}${first ? ` :: ${first}` : ''}`);
    }
    if ((suite.assertionResults ?? []).length === 0 && suite.status === 'failed') {
      console.log(`  failed: ${suite.name} :: ${String(suite.message ?? '').split('\n')[0].slice(0, 300)}`);
    }
  }
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += s;
}
if (skipped > 0) console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);

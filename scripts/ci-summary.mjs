// Prints "N passed, N failed" from vitest's JSON report (CI reads this line).
// When the report is missing (typecheck or lint failed first, or install failed), no test ran.
import { existsSync, readFileSync } from 'node:fs';

const [file, status] = process.argv.slice(2);
if (!existsSync(file)) {
  console.log(`no test report: npm test exited with ${status} before vitest reported`);
  console.log('0 passed, 0 failed');
} else {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  if (skipped > 0) console.log(`${skipped} skipped`);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`);
}

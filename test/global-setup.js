// Builds dist/ once before the e2e workers start: some tests run the app as a child
// process (SIGTERM, SIGKILL of a Redis owner), and parallel builds would race.
// Names the file every app of this run logs to (JSON; test/utils/log-capture.ts), which
// global-teardown checks: SSE_RESUME_E2E_LOG= (empty) turns that off.
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { buildIfStale } = require('../scripts/build-if-stale.js');

module.exports = async () => {
  buildIfStale({ quiet: true });
  if (process.env.SSE_RESUME_E2E_LOG === undefined) {
    process.env.SSE_RESUME_E2E_LOG = join(mkdtempSync(join(tmpdir(), 'sse-resume-e2e-')), 'run.log');
  }
};

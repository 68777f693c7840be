// Builds dist/ once before the e2e workers start: some tests run the app as a child
// process (SIGTERM, SIGKILL of a Redis owner), and parallel builds would race.
const { buildIfStale } = require('../scripts/build-if-stale.js');

module.exports = async () => {
  buildIfStale({ quiet: true });
};

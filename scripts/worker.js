#!/usr/bin/env node
// `npm run worker`: builds the example app when its output is missing or older than the
// sources (as `npm start` does), then runs its worker process (dist/src/worker.js): durable
// tasks, no HTTP server, the same environment as `npm start` (REDIS_URL needed).
'use strict';
require('./run-built.js').runBuilt('worker.js');

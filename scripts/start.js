#!/usr/bin/env node
// `npm start`: builds the example app when its output is missing or older than the
// sources, then runs it (PORT, default 3000). Plain Node, so it works on a fresh clone.
'use strict';
require('./run-built.js').runBuilt('main.js');

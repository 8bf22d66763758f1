#!/usr/bin/env node
// The `dopq` executable: run main(), exit with its code.
import { main } from './cli/program.js';

process.exitCode = await main(process.argv);

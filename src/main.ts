#!/usr/bin/env node
/** The bin entry: hands argv to the CLI and sets the exit code. */
import { runCli } from './cli/index.js';

runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`portcullis: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);

/** The portcullis command line: serve | validate | bridge | policy test | policy build | audit verify. Thin: the work is in app.ts and the modules. */
import { Command } from 'commander';
import { buildGateway, startGateway, VERSION } from '../app.js';
import { ConfigError, loadConfig, type GatewayConfig } from '../config/index.js';
import { createLogger } from '../telemetry/logger.js';
import { policyCommand } from './policy.js';
import { auditCommand } from './audit.js';
import { BridgeStartError, runBridge } from '../transport/stdio-bridge.js';

function configPath(opt: string | undefined): string | null {
  return opt ?? process.env.PORTCULLIS_CONFIG ?? null;
}

function load(file: string): GatewayConfig | null {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return null;
    }
    throw err;
  }
}

export async function runCli(argv: string[]): Promise<number> {
  let exitCode = 0;
  const setExit = (c: number) => {
    exitCode = c;
  };
  const program = new Command('portcullis')
    .description('Portcullis: an MCP gateway whose policy is code')
    .version(VERSION)
    .showHelpAfterError();

  program
    .command('serve')
    .description('start the gateway')
    .option('-c, --config <file>', 'YAML config file (default: $PORTCULLIS_CONFIG)')
    .action(async (o: { config?: string }) => {
      const file = configPath(o.config);
      if (!file) {
        process.stderr.write('serve: --config FILE or PORTCULLIS_CONFIG is required\n');
        return setExit(2);
      }
      const cfg = load(file);
      if (!cfg) return setExit(1);
      const log = createLogger(cfg.log.level);
      let gw: Awaited<ReturnType<typeof startGateway>>;
      try {
        gw = await startGateway(cfg, log);
      } catch (err) {
        // A problem found while building (a secret not set, a key file missing): nothing was started.
        if (err instanceof ConfigError) {
          process.stderr.write(`${err.message}\n`);
          return setExit(1);
        }
        const e = err as NodeJS.ErrnoException;
        // The commonest start-up failure deserves a sentence, not a stack trace.
        if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
          process.stderr.write(`portcullis: cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${e.code === 'EADDRINUSE' ? 'address already in use' : 'permission denied'} (change listen.port in ${cfg.source})\n`);
          return setExit(1);
        }
        throw err;
      }
      // The process-level last resort. Request handlers answer every failure themselves (http-app's lastResort);
      // anything that still escapes is a bug, but it must not lose audited work: stop the way SIGTERM does (in-flight
      // calls answered, the audit queue flushed and its closing checkpoint written), bounded in time, then exit.
      process.on('unhandledRejection', (reason) => {
        log.error('unhandled promise rejection (kept running)', { error: (reason as Error)?.stack ?? String(reason) });
      });
      process.once('uncaughtException', (err) => {
        log.error('uncaught exception: stopping', { error: err.stack ?? String(err) });
        // Should the orderly stop hang (the state is suspect after all), the queued records are written
        // synchronously with their closing checkpoint before the process exits.
        const hard = setTimeout(() => {
          try {
            gw.flushAuditSync();
          } finally {
            process.exit(70);
          }
        }, Math.max(5, cfg.shutdown.graceSeconds + 5) * 1000);
        hard.unref();
        void gw.stop('uncaught exception').finally(() => process.exit(70));
      });
      process.stdout.write(`Portcullis is listening on ${gw.url}\n`);
      if (gw.metricsUrl) process.stdout.write(`Portcullis metrics on ${gw.metricsUrl}\n`);
      if (gw.devTokens.length > 0) {
        process.stdout.write('\nDevelopment tokens (signed by a key generated at start; valid for this process only):\n');
        for (const t of gw.devTokens) {
          process.stdout.write(`\n  ${t.sub} (roles: ${t.roles.join(', ') || 'none'})\n  Authorization: Bearer ${t.token}\n`);
        }
        process.stdout.write('\n');
      }
      await new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals) => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          void gw.stop(sig).then(resolve);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
    });

  program
    .command('validate')
    .description('check a config file exactly as serve does, starting nothing; exit 0 when valid, else print each problem and exit 1')
    .option('-c, --config <file>', 'YAML config file (default: $PORTCULLIS_CONFIG)')
    .action(async (o: { config?: string }) => {
      const file = configPath(o.config);
      if (!file) {
        process.stderr.write('validate: --config FILE or PORTCULLIS_CONFIG is required\n');
        return setExit(2);
      }
      const cfg = load(file);
      if (!cfg) return setExit(1);
      // The same checks serve runs (secrets, key and certificate files), then the built gateway is dropped unstarted.
      try {
        await buildGateway(cfg, createLogger('warn'));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`${err.message}\n`);
        return setExit(1);
      }
      process.stdout.write(`${cfg.source}: valid (${cfg.servers.length} servers, auth ${cfg.auth.mode})\n`);
    });

  program
    .command('bridge')
    .description('relay an MCP client on stdin/stdout to a Portcullis gateway over Streamable HTTP')
    .requiredOption('--url <url>', 'gateway endpoint, e.g. http://127.0.0.1:8080/mcp')
    .option('--token-file <file>', 'file holding the bearer token (re-read on every request)')
    .action(async (o: { url: string; tokenFile?: string }) => {
      try {
        await runBridge({ url: o.url, tokenFile: o.tokenFile, log: (m) => process.stderr.write(`portcullis bridge: ${m}\n`) });
      } catch (err) {
        if (!(err instanceof BridgeStartError)) throw err;
        process.stderr.write(`portcullis bridge: ${err.message}\n`);
        return setExit(1);
      }
    });

  program.addCommand(policyCommand(setExit));
  program.addCommand(auditCommand(setExit));
  await program.parseAsync(argv);
  return exitCode;
}

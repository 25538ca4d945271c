/** The operational log: structured JSON lines on standard error (stdout is left to audit and to STDIO protocols). */
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level: string = process.env.PORTCULLIS_LOG_LEVEL ?? 'info'): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream: process.stderr })],
  });
}

// Copies non-TypeScript assets (the config JSON Schema, the approvals console) next to the compiled code, and marks the bin executable.
import { chmodSync, copyFileSync, cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/config', { recursive: true });
copyFileSync('src/config/config.schema.json', 'dist/config/config.schema.json');
cpSync('src/approval/console', 'dist/approval/console', { recursive: true });
chmodSync('dist/main.js', 0o755);
